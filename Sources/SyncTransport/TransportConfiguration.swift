import NIOCore

/// TLS settings plus the limits of the listener and of each connection's framing.
public struct TransportConfiguration: Sendable {
    /// Identity, trust policy, TLS version and per-connection timeouts and buffers.
    public var tls: TLSConfiguration
    /// The largest accepted frame length field (type byte + payload), in bytes; DESIGN.md default 4 MiB.
    public var frameBytesMax: Int
    /// The most connections (handshaking or established) the listener holds at once.
    public var sessionsMax: Int
    /// The most new connections accepted from one source address per second.
    public var handshakesPerSecondMax: Int
    /// The most refusal log lines written per minute; the rest are counted and summarized.
    public var refusalLogLinesPerMinuteMax: Int
    /// How many received frames may wait for the consumer before reading from the socket pauses.
    public var inboundFramesBufferedMax: Int
    /// The clock the listener's per-address admission windows and refusal log budget read; only
    /// tests replace it (to step through seconds and minutes without waiting for them).
    var clock: @Sendable () -> NIODeadline = { NIODeadline.now() }

    /// Makes a configuration; defaults follow DESIGN.md.
    public init(
        tls: TLSConfiguration,
        frameBytesMax: Int = 4 * 1024 * 1024,
        sessionsMax: Int = 512,
        handshakesPerSecondMax: Int = 20,
        refusalLogLinesPerMinuteMax: Int = 60,
        inboundFramesBufferedMax: Int = 8
    ) {
        precondition(frameBytesMax > 0 && sessionsMax > 0 && handshakesPerSecondMax > 0, "limits must be positive")
        precondition(inboundFramesBufferedMax >= 2, "buffer at least two frames")
        self.tls = tls
        self.frameBytesMax = frameBytesMax
        self.sessionsMax = sessionsMax
        self.handshakesPerSecondMax = handshakesPerSecondMax
        self.refusalLogLinesPerMinuteMax = refusalLogLinesPerMinuteMax
        self.inboundFramesBufferedMax = inboundFramesBufferedMax
    }
}
