import Foundation
import Testing

/// Erasure with real daemons: values a node must no longer hold are gone from every file of its
/// home — main file, WAL, free pages — soon after the change that removes them arrives.
@Suite("end to end: erasure that erases", .serialized)
struct ErasureTests {
    /// Whether any file of the node's home holds `value`.
    func homeHolds(_ node: TestNode, _ value: String) throws -> Bool {
        let needle = Data(value.utf8)
        let files = try FileManager.default.contentsOfDirectory(atPath: node.home)
        return try files.contains { name in
            let path = node.home + "/" + name
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue,
                !name.hasSuffix(".sock")
            else { return false }
            return try Data(contentsOf: URL(fileURLWithPath: path)).range(of: needle) != nil
        }
    }

    @Test(
        "consent withdrawn: the charity's copies of the name and phone leave every file of its home within 15 s; redacted: the hub's and the practice's do"
    )
    func erasure() throws {
        let net = try TestNetwork()
        defer { net.stopAll() }
        let (name, phone) = ("Marigold", "07700900555")
        let service = try net.charity.ok([
            "service", "add", "--name", "Walk and Talk", "--category", "physical_activity", "--maximum", "12",
            "--available", "5",
        ])
        try net.charity.start()
        try net.hub.start()  // a live link to the charity
        try waitUntil("the hub holds the charity's service", seconds: 30) {
            try net.hub.storeCount("services") == 1
        }
        _ = try net.practice.ok(["sync"])
        let referral = try net.practice.ok([
            "referral", "create", "--to", "U12345", "--need", "loneliness", "--name", name, "--phone", phone,
            "--consent", "explicit",
        ])
        _ = try net.practice.ok(["referral", "update", referral, "--service", service])
        _ = try net.practice.ok(["sync"])
        try waitUntil("the charity holds the contact details", seconds: 30) {
            try net.charity.ok(["referral", "show", referral]).contains(phone)
        }
        #expect(try homeHolds(net.charity, phone))

        _ = try net.practice.ok(["referral", "update", referral, "--consent", "withdrawn"])
        _ = try net.practice.ok(["sync"])
        try waitUntil("no file of the charity's home holds the name or the phone", seconds: 15) {
            try !homeHolds(net.charity, phone) && !homeHolds(net.charity, name)
        }

        #expect(try homeHolds(net.hub, phone), "the hub may still see them: consent concerns the charity")
        _ = try net.practice.ok(["referral", "redact", referral, "--class", "contact", "--reason", "wrong person"])
        try waitUntil("no file of the practice's home holds the name or the phone", seconds: 15) {
            try !homeHolds(net.practice, phone) && !homeHolds(net.practice, name)
        }
        _ = try net.practice.ok(["sync"])
        try waitUntil("no file of the hub's home holds the name or the phone", seconds: 15) {
            try !homeHolds(net.hub, phone) && !homeHolds(net.hub, name)
        }
    }
}
