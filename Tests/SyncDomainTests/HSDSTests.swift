import Foundation
import SpsyncTestSupport
import SyncCore
import SyncDomain
import SyncReport
import SyncStore
import Testing

/// The directory as Open Referral HSDS 3.1: the export checked against the 3.1 schema's required
/// fields, types, enums and formats, and read back by the import.
@Suite("the directory as Open Referral HSDS 3.1")
struct HSDSTests {
    /// The part of the HSDS 3.1 JSON schema the export uses: the `required` lists, property types,
    /// `status` enum and formats, as in openreferral/specification `schema/compiled/service_with_definitions.json`
    /// (3.1.0, commit 0397823b) and the 3.1.1 API's page (`schema/openapi.json`, commit 0adc618f:
    /// `Page.required = ["empty"]`). No property of 3.1 allows null.
    static let schema = """
        {"type": "object", "required": ["empty"], "properties": {
          "total_items": {"type": "number"}, "total_pages": {"type": "number"}, "page_number": {"type": "number"},
          "size": {"type": "number"}, "first_page": {"type": "boolean"}, "last_page": {"type": "boolean"},
          "empty": {"type": "boolean"},
          "contents": {"type": "array", "items": {"$ref": "service"}}},
         "definitions": {
          "service": {"type": "object", "required": ["id", "name", "status"], "properties": {
            "id": {"type": "string", "format": "uuid"}, "name": {"type": "string"},
            "status": {"type": "string", "enum": ["active", "inactive", "defunct", "temporarily closed"]},
            "description": {"type": "string"}, "eligibility_description": {"type": "string"},
            "minimum_age": {"type": "number"}, "maximum_age": {"type": "number"},
            "organization": {"$ref": "organization"},
            "capacities": {"type": "array", "items": {"$ref": "service_capacity"}},
            "schedules": {"type": "array", "items": {"$ref": "schedule"}},
            "service_areas": {"type": "array", "items": {"$ref": "service_area"}}}},
          "organization": {"type": "object", "required": ["id", "name", "description"], "properties": {
            "id": {"type": "string", "format": "uuid"}, "name": {"type": "string"}, "description": {"type": "string"},
            "organization_identifiers": {"type": "array", "items": {"$ref": "organization_identifier"}}}},
          "organization_identifier": {"type": "object", "required": ["id", "identifier_type", "identifier"],
            "properties": {"id": {"type": "string", "format": "uuid"}, "identifier_scheme": {"type": "string"},
              "identifier_type": {"type": "string"}, "identifier": {"type": "string"}}},
          "service_capacity": {"type": "object", "required": ["id", "unit", "available", "updated"], "properties": {
            "id": {"type": "string", "format": "uuid"}, "unit": {"$ref": "unit"}, "available": {"type": "number"},
            "maximum": {"type": "number"}, "description": {"type": "string"},
            "updated": {"type": "string", "format": "date-time"}}},
          "unit": {"type": "object", "required": ["id", "name"], "properties": {
            "id": {"type": "string", "format": "uuid"}, "name": {"type": "string"}, "scheme": {"type": "string"},
            "identifier": {"type": "string"}, "uri": {"type": "string"}}},
          "schedule": {"type": "object", "required": ["id"], "properties": {
            "id": {"type": "string", "format": "uuid"}, "description": {"type": "string"},
            "freq": {"type": "string", "enum": ["WEEKLY", "MONTHLY"]}, "byday": {"type": "string"},
            "opens_at": {"type": "string"}, "closes_at": {"type": "string"}}},
          "service_area": {"type": "object", "required": ["id"], "properties": {
            "id": {"type": "string", "format": "uuid"}, "name": {"type": "string"}, "description": {"type": "string"},
            "extent": {"type": "string"}, "extent_type": {"type": "string"}, "uri": {"type": "string"}}}}}
        """

    /// The problems of `value` against `schema` (required, type, enum, uuid and date-time formats).
    static func problems(_ value: Any, _ schema: [String: Any], _ defs: [String: Any], _ path: String) -> [String] {
        if let ref = schema["$ref"] as? String {
            return problems(value, defs[ref] as? [String: Any] ?? [:], defs, path)
        }
        var out: [String] = []
        switch schema["type"] as? String {
        case "object":
            guard let object = value as? [String: Any] else { return ["\(path): not an object"] }
            for key in schema["required"] as? [String] ?? [] where object[key] == nil {
                out.append("\(path).\(key): required, missing")
            }
            let properties = schema["properties"] as? [String: Any] ?? [:]
            for (key, v) in object {
                if v is NSNull { out.append("\(path).\(key): null is not allowed in HSDS 3.1") }
                if let p = properties[key] as? [String: Any] { out += problems(v, p, defs, "\(path).\(key)") }
            }
        case "array":
            guard let array = value as? [Any] else { return ["\(path): not an array"] }
            for (i, v) in array.enumerated() {
                out += problems(v, schema["items"] as? [String: Any] ?? [:], defs, "\(path)[\(i)]")
            }
        case "string":
            guard let s = value as? String else { return ["\(path): not a string"] }
            if let allowed = schema["enum"] as? [String], !allowed.contains(s) {
                out.append("\(path): \(s) not in \(allowed)")
            }
            if schema["format"] as? String == "uuid", UUID(uuidString: s) == nil {
                out.append("\(path): \(s) is not a uuid")
            }
            if schema["format"] as? String == "date-time" {
                let f = ISO8601DateFormatter()
                f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
                if f.date(from: s) == nil { out.append("\(path): \(s) is not an RFC 3339 date-time") }
            }
        case "number":
            if !(value is NSNumber || value is Int || value is Double) { out.append("\(path): not a number") }
        case "boolean":
            if !(value is Bool) { out.append("\(path): not a boolean") }
        default:
            break
        }
        return out
    }

    func charity(_ dir: TempDir, _ name: String, _ node: NodeID) throws -> Domain {
        try Domain(store: try Store.signed(at: dir.file(name), node: node))
    }

    @Test(
        "the export passes the HSDS 3.1 schema's required fields, types, enums and formats, with the spsync id recoverable"
    )
    func exportMatchesTheSchema() throws {
        let dir = TempDir(prefix: "spsync-hsds-")
        let c = try charity(dir, "c", Fixture.charity)
        var walk = Domain.NewService(name: "Walk and Talk", category: .physicalActivity)
        walk.capacity = (3, 12)
        walk.area = "LS1,LS2"
        walk.schedule = "Tuesdays 10:00–12:00"
        walk.description = "A gentle walk in the park, then tea."
        walk.eligibility = "Adults who can walk a mile"
        walk.ageMin = 18
        walk.accepting = .paused
        let id = try c.addService(walk, at: Fixture.wall)
        try c.addService(Domain.NewService(name: "Phone Friends", category: .befriending), at: Fixture.wall + 1)
        let data = try HSDS.encode(try HSDS.export(c, nowMillis: Fixture.wall + 10))
        let json = try JSONSerialization.jsonObject(with: data)
        let schema = try #require(try JSONSerialization.jsonObject(with: Data(Self.schema.utf8)) as? [String: Any])
        let defs = schema["definitions"] as? [String: Any] ?? [:]
        #expect(Self.problems(json, schema, defs, "$") == [])
        let page = try #require(json as? [String: Any])
        let contents = try #require(page["contents"] as? [[String: Any]])
        #expect(page["total_items"] as? Int == 2 && page["empty"] as? Bool == false)
        let first = try #require(contents.first { $0["name"] as? String == "Walk and Talk" })
        #expect(first["status"] as? String == "temporarily closed", "paused to referrals")
        #expect(first["id"] as? String == String(id.rawValue.split(separator: ".").last!))
        let identifiers = (first["organization"] as? [String: Any])?["organization_identifiers"] as? [[String: Any]]
        #expect(identifiers?.contains { $0["identifier"] as? String == Fixture.charity.rawValue } == true)
        #expect(
            identifiers?.contains {
                $0["identifier_scheme"] as? String == "GB-CHC" && $0["identifier"] as? String == "1234567"
            } == true)
        let capacity = (first["capacities"] as? [[String: Any]])?.first
        #expect(capacity?["available"] as? Int == 3 && capacity?["maximum"] as? Int == 12)
        #expect((capacity?["unit"] as? [String: Any])?["name"] as? String == "places")
        #expect((first["service_areas"] as? [[String: Any]])?.compactMap { $0["name"] as? String } == ["LS1", "LS2"])
        // The minimal one leaves out what it lacks rather than writing null.
        let second = try #require(contents.first { $0["name"] as? String == "Phone Friends" })
        #expect(second["capacities"] == nil && second["description"] == nil)
        // A broken document fails the same check: the checker can fail.
        var broken = first
        broken["status"] = "open"
        broken.removeValue(forKey: "name")
        #expect(Self.problems(broken, defs["service"] as! [String: Any], defs, "$").count == 2)
    }

    @Test("import reads the export back at another charity, skips what it already has, and refuses a bad file whole")
    func importRoundTrip() throws {
        let dir = TempDir(prefix: "spsync-hsds-")
        let c = try charity(dir, "c", Fixture.charity)
        var walk = Domain.NewService(name: "Walk and Talk", category: .physicalActivity)
        walk.capacity = (3, 12)
        walk.area = "LS1,LS2"
        walk.schedule = "Tuesdays"
        walk.ageMin = 18
        try c.addService(walk, at: Fixture.wall)
        let data = try HSDS.encode(try HSDS.export(c, nowMillis: Fixture.wall + 10))
        let other = try charity(dir, "c2", Fixture.charity2)
        let done = try HSDS.importServices(data, into: other, category: .physicalActivity, nowMillis: Fixture.wall + 20)
        #expect(done.map(\.result) == ["added"])
        let id = try RecordID(try #require(done.first?.id))
        let detail = try other.serviceDetail(id, wallMillis: Fixture.wall + 30)
        #expect(detail.name == "Walk and Talk" && detail.area == ["LS1", "LS2"] && detail.schedule == "Tuesdays")
        #expect(detail.capacity?.available == 3 && detail.capacity?.maximum == 12 && detail.ageMin == 18)
        #expect(detail.category == "physical_activity" && detail.accepting == "open")
        // Again: nothing new.
        let again = try HSDS.importServices(data, into: other, category: .other, nowMillis: Fixture.wall + 40)
        #expect(again.map(\.result) == ["skipped: this charity already has it"])
        // A file whose second service is wrong adds nothing, and says which and why.
        let bad = Data(
            """
            {"contents": [{"id": "0b7f8a6e-4a4b-4c8e-9a2e-3f7d1c2b5a60", "name": "Allotment", "status": "active"},
                          {"id": "1b7f8a6e-4a4b-4c8e-9a2e-3f7d1c2b5a61", "name": "Choir", "status": "active",
                           "capacities": [{"id": "2b7f8a6e-4a4b-4c8e-9a2e-3f7d1c2b5a62", "unit": {"id": "3b7f8a6e-4a4b-4c8e-9a2e-3f7d1c2b5a63", "name": "places"},
                                           "available": 9, "maximum": 4, "updated": "2026-01-01T00:00:00Z"}]}],
             "empty": false}
            """.utf8)
        let before = try other.store.services(owner: Fixture.charity2, wallMillis: Fixture.wall + 50).count
        do {
            _ = try HSDS.importServices(bad, into: other, category: .other, nowMillis: Fixture.wall + 50)
            Issue.record("a bad file was imported")
        } catch let e as SyncError {
            #expect(e.message.contains("service 2 (Choir)") && e.message.contains("available 9"), "\(e.message)")
        }
        #expect(try other.store.services(owner: Fixture.charity2, wallMillis: Fixture.wall + 50).count == before)
        #expect(throws: SyncError.self) {
            _ = try HSDS.importServices(Data("{\"name\": \"x\"}".utf8), into: other, category: .other, nowMillis: 1)
        }
        // A hub publishes no services.
        let hub = try Domain(store: try Store.signed(at: dir.file("h"), node: Fixture.hub))
        #expect(throws: SyncError.self) { _ = try HSDS.importServices(data, into: hub, category: .other, nowMillis: 1) }
    }
}
