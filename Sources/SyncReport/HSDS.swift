import Foundation
import SyncCore
import SyncDomain
import SyncStore

/// The service directory as Open Referral HSDS 3.1 JSON: what `spsync service export --hsds`
/// writes and `service import --hsds` reads.
///
/// Shape: the 3.1 API's page of fully nested services (`contents`, with `total_items` … `empty`),
/// each with its `organization`, `capacities` (`unit` embedded), `schedules` and `service_areas`.
/// HSDS ids are UUIDs: a service's is the UUID of its spsync id (`S.<owner>.<uuid>`), and the
/// owner's code is kept among the organisation's identifiers (as `spsync node id`, and under its
/// org-id.guide scheme, e.g. `GB-CHC` / `1234567`), so the spsync id can be rebuilt. The other
/// objects' ids are name-based UUIDs (version 8) of what they belong to, the same at every export.
/// Optional fields without a value are left out: HSDS 3.1 allows no `null`.
public enum HSDS {
    public struct Page: Codable, Sendable {
        public var totalItems: Int
        public var totalPages: Int
        public var pageNumber: Int
        public var size: Int
        public var firstPage: Bool
        public var lastPage: Bool
        public var empty: Bool
        public var contents: [Service]
    }

    public struct Service: Codable, Sendable {
        public var id: String
        public var name: String
        public var status: String
        public var description: String?
        public var eligibilityDescription: String?
        public var minimumAge: Double?
        public var maximumAge: Double?
        public var organization: Organization?
        public var capacities: [Capacity]?
        public var schedules: [Schedule]?
        public var serviceAreas: [ServiceArea]?
    }

    public struct Organization: Codable, Sendable {
        public var id: String
        public var name: String
        public var description: String
        public var organizationIdentifiers: [Identifier]?
    }

    public struct Identifier: Codable, Sendable {
        public var id: String
        public var identifierScheme: String?
        public var identifierType: String
        public var identifier: String
    }

    public struct Capacity: Codable, Sendable {
        public var id: String
        public var unit: Unit
        public var available: Double
        public var maximum: Double?
        public var updated: String
    }

    public struct Unit: Codable, Sendable {
        public var id: String
        public var name: String
    }

    public struct Schedule: Codable, Sendable {
        public var id: String
        public var description: String?
        public var freq: String?
        public var byday: String?
        public var opensAt: String?
        public var closesAt: String?
    }

    public struct ServiceArea: Codable, Sendable {
        public var id: String
        public var name: String?
        public var description: String?
    }

    /// A name-based UUID (version 8, RFC 9562) of `name`: two FNV-1a hashes, so the same object
    /// gets the same id at every export.
    static func uuid(_ name: String) -> String {
        func fnv(_ seed: UInt64) -> UInt64 {
            var h = seed
            for b in name.utf8 {
                h ^= UInt64(b)
                h = h &* 0x0000_0100_0000_01B3
            }
            return h
        }
        var bytes = withUnsafeBytes(of: fnv(0xCBF2_9CE4_8422_2325).bigEndian) { Array($0) }
        bytes += withUnsafeBytes(of: fnv(0x84_2222_5CBF_29CE).bigEndian) { Array($0) }
        bytes[6] = (bytes[6] & 0x0F) | 0x80
        bytes[8] = (bytes[8] & 0x3F) | 0x80
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        let c = Array(hex)
        return [0..<8, 8..<12, 12..<16, 16..<20, 20..<32].map { String(c[$0]) }.joined(separator: "-")
    }

    static func isoTime(_ millis: UInt64) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date(timeIntervalSince1970: Double(millis) / 1000))
    }

    /// An organisation code's org-id.guide scheme and number, and what the number is.
    static func scheme(_ code: String) -> (scheme: String, type: String, identifier: String)? {
        for (prefix, type) in [
            ("GB-CHC-", "Charity number (England and Wales)"), ("GB-SC-", "Scottish charity number"),
            ("GB-NIC-", "Northern Ireland charity number"), ("GB-COH-", "Company number"),
        ] where code.hasPrefix(prefix) {
            return (String(prefix.dropLast()), type, String(code.dropFirst(prefix.count)))
        }
        return nil
    }

    // MARK: Export

    /// Every service this node holds (a charity: its own), as an HSDS 3.1 page.
    public static func export(_ domain: Domain, nowMillis: UInt64) throws -> Page {
        let own = domain.node.role == .vcse ? domain.node : nil
        let services = try domain.store.services(owner: own, wallMillis: nowMillis)
        let contents = try services.compactMap { summary -> Service? in
            guard let id = try? RecordID(summary.id), let owner = id.serviceOwner else { return nil }
            let d = try domain.serviceDetail(id, wallMillis: nowMillis)
            let serviceUUID = String(summary.id.split(separator: ".").last ?? "")
            var identifiers = [
                Identifier(
                    id: uuid("identifier:spsync:\(owner)"), identifierScheme: nil, identifierType: "spsync node id",
                    identifier: owner.rawValue)
            ]
            if let s = scheme(owner.rawValue) {
                identifiers.append(
                    Identifier(
                        id: uuid("identifier:\(owner)"), identifierScheme: s.scheme, identifierType: s.type,
                        identifier: s.identifier))
            }
            let organization = Organization(
                id: uuid("organization:\(owner)"), name: domain.organisationName(owner.rawValue) ?? owner.rawValue,
                description:
                    "Voluntary, community or social enterprise organisation \(owner) (its services as spsync holds them)",
                organizationIdentifiers: identifiers)
            let status: String
            switch Accepting(rawValue: d.accepting ?? "open") {
            case .paused: status = "temporarily closed"
            case .closed: status = "inactive"
            default: status = "active"
            }
            let capacities = d.capacity.map { c in
                [
                    Capacity(
                        id: uuid("capacity:\(summary.id)"), unit: Unit(id: uuid("unit:\(c.unit)"), name: c.unit),
                        available: Double(c.available), maximum: Double(c.maximum), updated: isoTime(c.updated))
                ]
            }
            let schedules = d.schedule.map { [Schedule(id: uuid("schedule:\(summary.id)"), description: $0)] }
            let areas = d.area.map {
                ServiceArea(id: uuid("area:\(summary.id):\($0)"), name: $0, description: "Postcode district \($0)")
            }
            return Service(
                id: serviceUUID, name: d.name ?? summary.id, status: status, description: d.description,
                eligibilityDescription: d.eligibility, minimumAge: d.ageMin.map(Double.init),
                maximumAge: d.ageMax.map(Double.init), organization: organization, capacities: capacities,
                schedules: schedules, serviceAreas: areas.isEmpty ? nil : areas)
        }
        return Page(
            totalItems: contents.count, totalPages: 1, pageNumber: 1, size: contents.count, firstPage: true,
            lastPage: true, empty: contents.isEmpty, contents: contents)
    }

    public static func encode(_ page: Page) throws -> Data {
        let encoder = JSONEncoder()
        encoder.keyEncodingStrategy = .convertToSnakeCase
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(page)
    }

    // MARK: Import

    /// What an import did with each service of the file.
    public struct Imported: Sendable, Codable {
        public var name: String
        public var id: String?
        /// "added", or why it was skipped.
        public var result: String
    }

    /// The services of an HSDS file: a page (`contents`), a list, or one service.
    public static func services(in data: Data) throws -> [Service] {
        struct Contents: Decodable { var contents: [Service] }
        let decoder = JSONDecoder()
        decoder.keyDecodingStrategy = .convertFromSnakeCase
        let top = try? JSONSerialization.jsonObject(with: data)
        do {
            if let object = top as? [String: Any], object["contents"] != nil {
                return try decoder.decode(Contents.self, from: data).contents
            }
            if top is [Any] { return try decoder.decode([Service].self, from: data) }
            if top is [String: Any] { return [try decoder.decode(Service.self, from: data)] }
        } catch let DecodingError.keyNotFound(key, context) {
            let path = (context.codingPath.map(\.stringValue) + [key.stringValue]).joined(separator: ".")
            throw SyncError(
                .invalidValue, "not an HSDS 3.1 service: \(path) is missing (a service needs id, name and status)")
        } catch let DecodingError.typeMismatch(_, context) {
            throw SyncError(
                .invalidValue,
                "not an HSDS 3.1 service: \(context.codingPath.map(\.stringValue).joined(separator: ".")) has the wrong type"
            )
        } catch {
            throw SyncError(.invalidValue, "not HSDS 3.1 JSON: \(error)")
        }
        throw SyncError(
            .invalidValue, "not HSDS 3.1 JSON: give a page with contents, a list of services, or one service")
    }

    /// Publishes a charity's services from an HSDS file, as `service add` would, all checked
    /// before any is written. A service whose id or name this charity already has is skipped.
    public static func importServices(
        _ data: Data, into domain: Domain, category: ServiceCategory, nowMillis: UInt64
    ) throws -> [Imported] {
        guard domain.node.role == .vcse else {
            throw SyncError(.unauthorised, "\(domain.node) is not a charity: only a charity publishes services")
        }
        let services = try services(in: data)
        guard !services.isEmpty else { throw SyncError(.invalidValue, "the file holds no services") }
        let own = try domain.store.services(owner: domain.node, wallMillis: nowMillis)
        let ownNames = Set(own.compactMap { $0.name?.lowercased() })
        let ownUUIDs = Set(own.compactMap { $0.id.split(separator: ".").last.map(String.init) })
        var plan: [(Domain.NewService?, Imported)] = []
        var seen = Set<String>()
        for (n, s) in services.enumerated() {
            let label = "service \(n + 1) (\(s.name))"
            if ownUUIDs.contains(s.id.lowercased()) || ownNames.contains(s.name.lowercased())
                || seen.contains(s.name.lowercased())
            {
                plan.append((nil, Imported(name: s.name, id: nil, result: "skipped: this charity already has it")))
                continue
            }
            seen.insert(s.name.lowercased())
            guard ["active", "inactive", "defunct", "temporarily closed"].contains(s.status) else {
                throw SyncError(
                    .invalidValue,
                    "\(label): status \(quoted: s.status) is not active, inactive, defunct or temporarily closed")
            }
            if s.status == "defunct" {
                plan.append((nil, Imported(name: s.name, id: nil, result: "skipped: defunct")))
                continue
            }
            var new = Domain.NewService(name: s.name, category: category)
            new.uuid = try? UUIDv7(s.id)
            if new.uuid?.version != 7 { new.uuid = nil }
            new.accepting = s.status == "active" ? .open : s.status == "temporarily closed" ? .paused : .closed
            new.description = s.description
            new.eligibility = s.eligibilityDescription
            func age(_ v: Double?, _ what: String) throws -> Int? {
                guard let v else { return nil }
                guard v >= 0, v <= 130, v == v.rounded() else {
                    throw SyncError(.invalidValue, "\(label): \(what) \(v) is not a whole age from 0 to 130")
                }
                return Int(v)
            }
            new.ageMin = try age(s.minimumAge, "minimum_age")
            new.ageMax = try age(s.maximumAge, "maximum_age")
            if let c = s.capacities?.first {
                let maximum = c.maximum ?? c.available
                guard c.available >= 0, maximum >= c.available, c.available == c.available.rounded(),
                    maximum == maximum.rounded(), maximum <= Double(Limits.standard.capacityMax)
                else {
                    throw SyncError(
                        .invalidValue,
                        "\(label): capacity available \(c.available) of maximum \(maximum) is not whole numbers with available at most the maximum"
                    )
                }
                new.capacity = (Int(c.available), Int(maximum))
                new.unit = c.unit.name
            }
            let schedule = (s.schedules ?? []).compactMap { sc -> String? in
                if let d = sc.description, !d.isEmpty { return d }
                let parts = [
                    sc.freq?.lowercased(), sc.byday, sc.opensAt.map { "from \($0)" }, sc.closesAt.map { "to \($0)" },
                ]
                .compactMap { $0 }
                return parts.isEmpty ? nil : parts.joined(separator: " ")
            }
            if !schedule.isEmpty { new.schedule = schedule.joined(separator: "; ") }
            let areas = (s.serviceAreas ?? []).compactMap(\.name).filter { !$0.isEmpty }
            if !areas.isEmpty { new.area = areas.joined(separator: ",") }
            do {
                try domain.checkService(new, at: nowMillis)
            } catch let e as SyncError {
                throw SyncError(e.code, "\(label): \(e.message)")
            }
            plan.append((new, Imported(name: s.name, id: nil, result: "added")))
        }
        var done: [Imported] = []
        for (new, imported) in plan {
            guard let new else {
                done.append(imported)
                continue
            }
            var result = imported
            result.id = try domain.addService(new, at: nowMillis).rawValue
            done.append(result)
        }
        return done
    }
}
