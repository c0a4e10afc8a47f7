import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import Testing

@testable import SyncTransport

/// A fresh directory under the system temporary directory, removed by `remove()`.
struct TemporaryDirectory {
    let path: String

    init() throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("spsync-tls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: base, withIntermediateDirectories: true)
        path = base.path
    }

    func remove() {
        do {
            try FileManager.default.removeItem(atPath: path)
        } catch {
            Issue.record("cannot remove temporary directory \(path): \(error)")
        }
    }
}

/// Identities shared by the tests (key generation is cheap, but one set keeps fingerprints stable per run).
enum TestIdentities {
    static let practice = make("A81001")
    static let hub = make("U12345")
    static let charity = make("GB-CHC-1234567")
    static let stranger = make("A99999")

    private static func make(_ nodeID: String) -> NodeIdentity {
        do {
            return try NodeIdentity.makeInMemory(nodeID: nodeID)
        } catch {
            preconditionFailure("test identity \(nodeID): \(error)")
        }
    }
}

/// Pins exactly the given identities, each as its own node id.
func pinning(_ identities: NodeIdentity...) -> PinnedPeerTrust {
    PinnedPeerTrust(pinned: Dictionary(uniqueKeysWithValues: identities.map { ($0.fingerprint, $0.nodeID) }))
}

/// A TLS context for `identity` trusting `trust`, with short timeouts for tests.
func makeContext(
    _ identity: NodeIdentity, trust: any TrustPolicy, handshakeTimeoutSeconds: Int64 = 10,
    idleTimeoutSeconds: Int64 = 30, testing: TestingOverrides = TestingOverrides(),
    minimumVersion: TLSConfiguration.MinimumVersion = .tls13
) throws -> TLSContext {
    var configuration = TLSConfiguration(
        identity: identity, trust: trust, minimumVersion: minimumVersion,
        handshakeTimeoutSeconds: handshakeTimeoutSeconds, idleTimeoutSeconds: idleTimeoutSeconds)
    configuration.testing = testing
    return try TLSContext(configuration: configuration)
}

extension Error {
    /// The transport error code, if this is a `TransportError`.
    var transportCode: TransportError.Code? { (self as? TransportError)?.code }
}

/// A clock that stands still until the test moves it (for the listener's per-second and per-minute windows).
final class ManualClock: Sendable {
    private let current: NIOLockedValueBox<NIODeadline>

    init(_ start: NIODeadline = .now()) {
        current = NIOLockedValueBox(start)
    }

    /// What the listener reads instead of `NIODeadline.now()`.
    var read: @Sendable () -> NIODeadline {
        { [current] in current.withLockedValue { $0 } }
    }

    func advance(by amount: TimeAmount) {
        current.withLockedValue { $0 = $0 + amount }
    }
}

/// Keeps every line logged through `logger`, for tests of what the transport logs.
final class LogCapture: Sendable {
    struct Line: Sendable {
        let level: Logger.Level
        let message: String
        let metadata: [String: String]
    }

    private let kept = NIOLockedValueBox<[Line]>([])

    /// A logger at level trace whose lines land here.
    var logger: Logger {
        Logger(label: "spsync.test.captured") { _ in CapturingLogHandler(capture: self) }
    }

    /// Every line so far, in order.
    var lines: [Line] { kept.withLockedValue { $0 } }

    /// The lines so far whose message starts with `prefix`.
    func lines(startingWith prefix: String) -> [Line] {
        lines.filter { $0.message.hasPrefix(prefix) }
    }

    fileprivate func keep(_ line: Line) {
        kept.withLockedValue { $0.append(line) }
    }
}

private struct CapturingLogHandler: LogHandler {
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = metadata.merging(event.metadata ?? [:]) { _, new in new }
        capture.keep(
            LogCapture.Line(
                level: event.level, message: "\(event.message)", metadata: merged.mapValues { "\($0)" }))
    }
}
