import NIOCore
import SyncProtocol
import SyncTransport

/// Handshakes completed within a time window.
struct HandshakeRun {
    /// Handshakes the dialers completed (what `s_time` counts on its side).
    let completed: Int
    /// Connections the listener authenticated (the server side of the same handshakes).
    let served: Int
    let seconds: Double
    /// The negotiated protocol and cipher suite, as the dialer saw them.
    let negotiated: String

    var perSecond: Double { Double(completed) / seconds }
}

/// A volume of bytes moved one way over one connection.
struct BulkRun {
    let bytes: Int
    let seconds: Double
    let negotiated: String

    /// Decimal megabytes (10^6 bytes) per second.
    var megabytesPerSecond: Double { Double(bytes) / seconds / 1e6 }
}

/// Counts the connections the listener authenticated.
private actor ServedCount {
    private(set) var value = 0

    func add() { value += 1 }
}

/// What the listener's side of a bulk transfer saw: bytes, frames, and when the stream ended.
private typealias BulkReceipt = Result<(bytes: Int, frames: Int, end: ContinuousClock.Instant), any Error>

/// Our `TransportListener` and `TransportDialer` on loopback.
enum OurTransport {
    /// Full mutual-TLS 1.3 handshakes for `seconds`: `inFlight` dialers, each a loop of connect then close.
    ///
    /// `connect` returns when the dialer's handshake is done and the server's certificate passed
    /// pinning; the listener counts the connection once it has verified the client's certificate.
    static func handshakes(seconds: Int, inFlight: Int, environment: BenchEnvironment) async throws -> HandshakeRun {
        let listener = try await TransportListener.bind(
            host: "127.0.0.1", port: 0, configuration: environment.serverConfiguration,
            group: environment.serverGroup, logger: environment.logger)
        guard let port = listener.localAddress?.port else { throw BenchError("the listener has no port") }
        let served = ServedCount()
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await listener.run { connection in
                    await served.add()
                    await connection.close()
                }
            }
            let dialed: Result<(completed: Int, seconds: Double, negotiated: String), any Error>
            do {
                dialed = .success(try await dialLoops(port: port, seconds: seconds, inFlight: inFlight, environment))
            } catch {
                dialed = .failure(error)
            }
            await listener.close()
            try await group.waitForAll()
            let (completed, elapsed, negotiated) = try dialed.get()
            return HandshakeRun(
                completed: completed, served: await served.value, seconds: elapsed, negotiated: negotiated)
        }
    }

    private static func dialLoops(
        port: Int, seconds: Int, inFlight: Int, _ environment: BenchEnvironment
    ) async throws -> (completed: Int, seconds: Double, negotiated: String) {
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + .seconds(seconds)
        let (completed, negotiated) = try await withThrowingTaskGroup(of: (Int, String).self) { group in
            for _ in 0..<inFlight {
                group.addTask {
                    var completed = 0
                    var failed = 0
                    var negotiated = ""
                    while clock.now < deadline {
                        do {
                            let connection = try await TransportDialer.connect(
                                host: "127.0.0.1", port: port, expectedPeerID: BenchEnvironment.serverNodeID,
                                tlsContext: environment.clientTLSContext,
                                configuration: environment.clientConfiguration, group: environment.clientGroup,
                                logger: environment.logger)
                            completed += 1
                            if negotiated.isEmpty {
                                negotiated = "\(connection.peer.tlsVersion) \(connection.peer.cipher)"
                            }
                            await connection.close()
                        } catch {
                            // A refused or failed handshake is not counted; many of them mean the
                            // benchmark is broken (caps, ports), not slow.
                            failed += 1
                            if failed > 20 { throw BenchError("our dialer keeps failing: \(error)") }
                        }
                    }
                    return (completed, negotiated)
                }
            }
            var total = 0
            var negotiated = ""
            for try await (completed, seen) in group {
                total += completed
                if negotiated.isEmpty { negotiated = seen }
            }
            return (total, negotiated)
        }
        return (completed, seconds: (clock.now - start).seconds, negotiated)
    }

    /// Bytes the dialer may send beyond what the listener acknowledged.
    static let windowBytes = 8 * 1024 * 1024
    /// The listener acknowledges every this many bytes received, and at the end.
    static let acknowledgeEveryBytes = 1024 * 1024
    static let dataFrameType: UInt8 = 0x7F
    static let acknowledgementFrameType: UInt8 = 0x7E

    /// Moves `bytes` from dialer to listener as frames of `frameBytes` wire bytes each.
    ///
    /// End-to-end flow control, as a sync session has: the dialer keeps at most `windowBytes`
    /// unacknowledged and the listener acknowledges every `acknowledgeEveryBytes`. Without it a
    /// producer that only awaits `outbound.write` queues frames far faster than the event loop
    /// encrypts them (each write hops to the loop, and the writer learns the channel is unwritable
    /// only once the loop got that far): observed to overrun a 16 MiB and even a 256 MiB
    /// `writeBufferBytesMax`. Timed from the dial to the listener holding the last byte, so the
    /// handshake is included, as for `s_client` → `s_server`.
    static func bulk(bytes: Int, frameBytes: Int, environment: BenchEnvironment) async throws -> BulkRun {
        precondition(bytes % frameBytes == 0 && frameBytes > Frame.lengthFieldBytes + Frame.typeFieldBytes)
        let frames = bytes / frameBytes
        let frame = Frame(type: dataFrameType, payload: [UInt8](repeating: 0, count: frameBytes - 5))
        precondition(frame.wireBytes == frameBytes)
        let listener = try await TransportListener.bind(
            host: "127.0.0.1", port: 0, configuration: environment.serverConfiguration,
            group: environment.serverGroup, logger: environment.logger)
        guard let port = listener.localAddress?.port else { throw BenchError("the listener has no port") }
        let (receipts, receiptSink) = AsyncStream.makeStream(of: BulkReceipt.self)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                try await listener.run { connection in
                    do {
                        let received = try await connection.executeThenClose { inbound, outbound in
                            try await receive(bytes: bytes, inbound, outbound)
                        }
                        receiptSink.yield(.success(received))
                    } catch {
                        receiptSink.yield(.failure(error))
                    }
                }
            }
            let sent: Result<(start: ContinuousClock.Instant, negotiated: String), any Error>
            do {
                let start = ContinuousClock.now
                let connection = try await TransportDialer.connect(
                    host: "127.0.0.1", port: port, expectedPeerID: BenchEnvironment.serverNodeID,
                    tlsContext: environment.clientTLSContext, configuration: environment.clientConfiguration,
                    group: environment.clientGroup, logger: environment.logger)
                try await connection.executeThenClose { inbound, outbound in
                    try await send(frame, count: frames, inbound, outbound)
                }
                sent = .success((start, "\(connection.peer.tlsVersion) \(connection.peer.cipher)"))
            } catch {
                sent = .failure(error)
            }
            // The listener's handler reports once the stream ended (or failed); stop listening after that.
            var receiptIterator = receipts.makeAsyncIterator()
            let receipt: BulkReceipt? = if case .success = sent { await receiptIterator.next() } else { nil }
            await listener.close()
            try await group.waitForAll()
            receiptSink.finish()
            let (start, negotiated) = try sent.get()
            guard let receipt else { throw BenchError("the listener saw no connection") }
            let received = try receipt.get()
            guard received.bytes == bytes, received.frames == frames else {
                throw BenchError(
                    "the listener received \(received.bytes) bytes in \(received.frames) frames, "
                        + "expected \(bytes) in \(frames)")
            }
            return BulkRun(bytes: bytes, seconds: (received.end - start).seconds, negotiated: negotiated)
        }
    }

    /// The dialer's side: writes `count` copies of `frame`, never more than `windowBytes` ahead of
    /// the acknowledgements, then waits for the final one so that nothing is left unread at close.
    private static func send(
        _ frame: Frame, count: Int, _ inbound: NIOAsyncChannelInboundStream<Frame>,
        _ outbound: NIOAsyncChannelOutboundWriter<Frame>
    ) async throws {
        var acknowledgements = inbound.makeAsyncIterator()
        var acknowledged = 0
        func awaitAcknowledgement() async throws {
            guard let ack = try await acknowledgements.next(), ack.type == acknowledgementFrameType,
                ack.payload.count == 8
            else { throw BenchError("the listener's acknowledgements stopped or are malformed") }
            acknowledged = ack.payload.reduce(0) { $0 << 8 | Int($1) }
        }
        var sent = 0
        for _ in 0..<count {
            while sent + frame.wireBytes - acknowledged > windowBytes {
                try await awaitAcknowledgement()
            }
            try await outbound.write(frame)
            sent += frame.wireBytes
        }
        while acknowledged < sent {
            try await awaitAcknowledgement()
        }
    }

    /// The listener's side: counts frames and bytes, acknowledges, and notes when the last byte arrived.
    private static func receive(
        bytes expected: Int, _ inbound: NIOAsyncChannelInboundStream<Frame>,
        _ outbound: NIOAsyncChannelOutboundWriter<Frame>
    ) async throws -> (bytes: Int, frames: Int, end: ContinuousClock.Instant) {
        var bytes = 0
        var frames = 0
        var acknowledged = 0
        var end = ContinuousClock.now
        for try await frame in inbound {
            bytes += frame.wireBytes
            frames += 1
            if bytes == expected { end = .now }
            if bytes - acknowledged >= acknowledgeEveryBytes || bytes == expected {
                acknowledged = bytes
                let payload = (0..<8).reversed().map { UInt8(truncatingIfNeeded: bytes >> ($0 * 8)) }
                try await outbound.write(Frame(type: acknowledgementFrameType, payload: payload))
            }
        }
        return (bytes, frames, end)
    }
}

extension Duration {
    /// The duration in seconds, as a floating-point number.
    var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
