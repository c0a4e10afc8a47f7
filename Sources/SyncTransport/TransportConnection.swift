import Logging
import NIOCore
import SyncProtocol

/// An authenticated TLS connection to a configured peer, carrying frames both ways.
///
/// Nothing is read from the peer until `executeThenClose` starts (the socket is paused after the
/// handshake), so no frame is lost between authentication and the session taking over. Call
/// `executeThenClose` or `close()` exactly once; a connection left alone stays open.
public struct TransportConnection: Sendable {
    /// Who the peer is, as authenticated by the trust policy.
    public let peer: AuthenticatedPeer
    /// The peer's address, if known.
    public let remoteAddress: SocketAddress?

    let channel: any Channel
    let inboundFramesBufferedMax: Int
    let failure: ConnectionFailure

    /// Runs `body` with the inbound frames and an outbound writer, then closes the connection with close_notify.
    ///
    /// The inbound sequence ends when the peer closes cleanly, and throws `TransportError`
    /// (`truncated`, `idleTimeout`, `refusedByPeer`, …) or `FrameError` (oversized, truncated frame)
    /// otherwise. Writing a frame over `frameBytesMax` throws `FrameError.oversized`.
    public func executeThenClose<Result: Sendable>(
        _ body: (_ inbound: NIOAsyncChannelInboundStream<Frame>, _ outbound: NIOAsyncChannelOutboundWriter<Frame>)
            async throws -> Result
    ) async throws -> Result {
        let channel = self.channel
        let configuration = NIOAsyncChannel<Frame, Frame>.Configuration(
            backPressureStrategy: .init(lowWatermark: 1, highWatermark: inboundFramesBufferedMax))
        do {
            let failure = self.failure
            let asyncChannel = try await channel.eventLoop.submit {
                // A failure that came before anyone was listening (a TLS 1.3 server's refusal of our
                // certificate arrives just after our handshake completes) would otherwise look like
                // a clean end of the stream: report it now. Later ones reach the inbound stream.
                if let error = failure.error { throw error }
                let wrapped = try NIOAsyncChannel<Frame, Frame>(
                    wrappingChannelSynchronously: channel, configuration: configuration)
                // Resume reading now that something consumes the frames (see TransportPipeline).
                try channel.pipeline.syncOperations.handler(type: ReadHold.self).release()
                return wrapped
            }.get()
            return try await asyncChannel.executeThenClose { inbound, outbound in
                try await body(inbound, outbound)
            }
        } catch let error as ChannelError {
            // I/O on a channel that already failed or closed: report why, as far as known.
            throw failure.error ?? closedEarly(error)
        } catch let error as NIOAsyncWriterError {
            throw failure.error ?? closedEarly(error)
        }
    }

    private func closedEarly(_ error: any Error) -> TransportError {
        TransportError(
            .truncated,
            "the connection closed under us (\(error)); if this happens right after connecting, the peer "
                + "may not trust our certificate: ask its operator to check our fingerprint",
            offeredFingerprint: peer.fingerprint)
    }

    /// Refuses the session: sends `ERROR` with `error`, then closes (close_notify) once the peer has
    /// closed its side or after two seconds. Reading what the peer sends meanwhile (and dropping
    /// it) lets the `ERROR` arrive: closing a socket with unread data would reset the connection,
    /// and a reset can destroy the `ERROR` before the peer reads it.
    public func refuse(_ error: ProtocolError) async {
        do {
            try await executeThenClose { inbound, outbound in
                try await outbound.write(Message.error(error).frame)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { for try await _ in inbound {} }
                    group.addTask { try await Task.sleep(for: .seconds(2)) }
                    _ = try await group.next()
                    group.cancelAll()
                }
            }
        } catch {
            // The peer closed or reset first: the refusal is done either way.
        }
    }

    /// Closes the connection without using it (sends close_notify first).
    public func close() async {
        do {
            try await channel.close()
        } catch {
            // Already closed: nothing left to do.
        }
    }
}

/// What the listener refused, and why: for status counters and tests (log lines are rate-limited, this is not).
public struct ConnectionRefusal: Sendable, CustomStringConvertible {
    /// The reason, as a transport error (code, message, offered fingerprint).
    public let error: TransportError
    /// The address the connection came from.
    public let remoteAddress: SocketAddress?

    public var description: String {
        "refused \(remoteAddress.map { "\($0)" } ?? "unknown address"): \(error)"
    }
}
