import Foundation
import GRDB
import SpsyncTestSupport
import SyncCore
import Testing

@testable import SyncStore

@Suite("store on a real SQLite file")
struct StoreTests {
    @Test("a new store has WAL, application_id, user_version and an incarnation; reopening keeps them")
    func createAndReopen() throws {
        let dir = TempDir()
        let store = try Store.create(at: dir.file("s.sqlite"), node: Fixture.practice, wallMillis: Fixture.wall)
        let state = try store.nodeState()
        #expect(state.node == Fixture.practice)
        #expect(state.lastSeq == 0)
        let (mode, appID, version) = try store.pool.read { db in
            (
                try String.fetchOne(db, sql: "PRAGMA journal_mode"),
                try Int32.fetchOne(db, sql: "PRAGMA application_id"), try Int.fetchOne(db, sql: "PRAGMA user_version")
            )
        }
        #expect(mode == "wal")
        #expect(appID == Store.applicationID)
        #expect(version == Store.schemaVersion)
        let again = try Store.open(at: dir.file("s.sqlite"))
        #expect(try again.nodeState() == state)
        #expect(throws: SyncError.self) {
            try Store.create(at: dir.file("s.sqlite"), node: Fixture.practice, wallMillis: 0)
        }
    }

    @Test("a store written by a newer spsync is refused with a clear error")
    func newerRefused() throws {
        let dir = TempDir()
        let store = try Store.create(at: dir.file("s.sqlite"), node: Fixture.practice, wallMillis: Fixture.wall)
        try store.pool.writeWithoutTransaction { db in try db.execute(sql: "PRAGMA user_version = 99") }
        try store.pool.close()
        do {
            _ = try Store.open(at: dir.file("s.sqlite"))
            Issue.record("opened a newer store")
        } catch let error as SyncError {
            #expect(error.code == .storeNewer)
            #expect(error.message.contains("upgrade spsync"))
        }
    }

    @Test("a file that is not an spsync store is refused")
    func foreignRefused() throws {
        let dir = TempDir()
        let q = try DatabaseQueue(path: dir.file("other.sqlite"))
        try q.write { db in try db.execute(sql: "PRAGMA application_id = 42; CREATE TABLE t (x)") }
        try q.close()
        #expect(throws: SyncError.self) { try Store.open(at: dir.file("other.sqlite")) }
    }

    @Test(
        "an empty file and another program's database (application_id 0, its own tables) are refused and left byte for byte, with no WAL beside them"
    )
    func refusedFilesUntouched() throws {
        let dir = TempDir()
        let empty = dir.file("empty.sqlite")
        #expect(FileManager.default.createFile(atPath: empty, contents: Data()))
        let other = dir.file("other.sqlite")
        let q = try DatabaseQueue(path: other)
        try q.write { db in
            try db.execute(sql: "CREATE TABLE patients (name TEXT); INSERT INTO patients VALUES ('Pat')")
        }
        try q.close()
        for (path, hint) in [(empty, "empty file"), (other, "another program's SQLite database")] {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
            do {
                _ = try Store.open(at: path)
                Issue.record("opened \(path)")
            } catch let error as SyncError {
                #expect(error.code == .storeInvalid)
                #expect(error.message.contains(hint), "\(error.message)")
            }
            #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == bytes, "\(path) changed")
            #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
            #expect(!FileManager.default.fileExists(atPath: path + "-shm"))
        }
    }

    @Test("peekNode reads the node id of a store without changing a byte of it")
    func peekNode() throws {
        let dir = TempDir()
        let path = dir.file("s.sqlite")
        let store = try Store.create(at: path, node: Fixture.practice, wallMillis: Fixture.wall)
        try store.pool.close()
        let bytes = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(try Store.peekNode(at: path) == Fixture.practice.rawValue)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == bytes)
        #expect(!FileManager.default.fileExists(atPath: path + "-wal"))
        #expect(!FileManager.default.fileExists(atPath: path + "-shm"))
    }

    @Test("the generated migrations match the .sql files")
    func migrationsEmbedded() throws {
        let dir = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
            "../../Sources/SyncStore/Migrations")
        let files = try FileManager.default.contentsOfDirectory(atPath: dir.path).filter { $0.hasSuffix(".sql") }
            .sorted()
        #expect(files == embeddedMigrations.map(\.name), "run scripts/embed-migrations.sh")
        for (name, sql) in embeddedMigrations {
            let text = try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8)
            #expect(text == sql + "\n" || text == sql, "\(name) changed: run scripts/embed-migrations.sh")
        }
    }

    @Test("opening a store whose statuses an earlier fold derived (schema 4) derives them again, once")
    func refoldOnOpen() throws {
        let dir = TempDir()
        let path = dir.file("p.sqlite")
        let r = Fixture.referral(1)
        do {
            let p = try Store.signed(at: path, node: Fixture.practice)
            try p.write(
                r, [(.progressEvents, FieldValue.json(ProgressEvent(event: "referred")))], wallMillis: Fixture.wall)
            // As the earlier fold left it: its own status, schema 4, no queue.
            try p.pool.writeWithoutTransaction { db in
                try db.execute(sql: "UPDATE referral SET status = 'completed'")
                try db.execute(sql: "DROP TABLE view_refresh")
                try db.execute(sql: "ALTER TABLE node DROP COLUMN rollback_seq")  // migration 6
                try db.execute(sql: "ALTER TABLE node DROP COLUMN rollback_hlc")
                try db.execute(sql: "DROP TABLE resync_deferred")  // migration 7
                try db.execute(sql: "PRAGMA user_version = 4")
            }
        }
        let reopened = try Store.open(at: path)
        #expect(try reopened.referral(r).status == "referred")
        let queued = try reopened.pool.read { db in try Int.fetchOne(db, sql: "SELECT count(*) FROM view_refresh") }
        #expect(queued == 0)
    }

    @Test("local writes get consecutive seqs and rising HLCs; the typed views follow")
    func localWrites() throws {
        let dir = TempDir()
        let charity = try Store.signed(at: dir.file("c.sqlite"), node: Fixture.charity)
        let a = try charity.write(
            Fixture.service,
            [(.serviceName, Fixture.text("Walk and Talk")), (.serviceCapacity, Fixture.capacity(3, 10))],
            wallMillis: Fixture.wall)
        let b = try charity.write(
            Fixture.service, [(.serviceCapacity, Fixture.capacity(2, 10))], wallMillis: Fixture.wall)
        #expect(a.seq == 1 && b.seq == 2)
        let s = try charity.service(Fixture.service, wallMillis: Fixture.wall)
        #expect(s.name == "Walk and Talk")
        #expect(s.capacity?.available == 2)
        #expect(try charity.live(Fixture.service, .serviceCapacity).count == 1)
        #expect(try charity.counts().conflicts == 0)
    }

    @Test("an invalid local write is refused and changes nothing")
    func invalidLocalWrite() throws {
        let dir = TempDir()
        let practice = try Store.signed(at: dir.file("p.sqlite"), node: Fixture.practice)
        let r = Fixture.referral(1)
        try practice.write(r, [(.routingUrgency, Fixture.text("routine"))], wallMillis: Fixture.wall)
        let before = try (practice.counts(), practice.nodeState(), practice.audit().count)
        // A bad NHS number in a change with a good field: the whole change is refused.
        #expect(throws: SyncError.self) {
            try practice.write(
                r, [(.contactPhone, Fixture.text("07700900123")), (.clinicalNHSNumber, Fixture.text("9990000019"))],
                wallMillis: Fixture.wall)
        }
        // A practice may not write a charity's capacity.
        #expect(throws: SyncError.self) {
            try practice.write(Fixture.service, [(.serviceCapacity, Fixture.capacity(1, 2))], wallMillis: Fixture.wall)
        }
        let after = try (practice.counts(), practice.nodeState(), practice.audit().count)
        #expect(before.0 == after.0)
        #expect(before.1 == after.1)
        #expect(before.2 == after.2)
    }

    @Test("concurrent writers on one file (CLI and daemon) never reuse a seq")
    func concurrentWriters() async throws {
        let dir = TempDir()
        let path = dir.file("p.sqlite")
        _ = try Store.signed(at: path, node: Fixture.practice)
        let seqs = try await withThrowingTaskGroup(of: [UInt64].self) { group in
            for w in 0..<2 {
                group.addTask {
                    let store = try Store.openSigned(at: path, node: Fixture.practice)
                    return try (0..<25).map { i in
                        try store.write(
                            Fixture.referral(UInt64(w * 100 + i)), [(.routingUrgency, Fixture.text("soon"))],
                            wallMillis: Fixture.wall
                        ).seq
                    }
                }
            }
            return try await group.reduce(into: []) { $0 += $1 }
        }
        #expect(Set(seqs).count == 50)
        #expect(seqs.max() == 50)
    }
}
