import NIOCore

/// TLS settings plus the limits of the listener and of each connection's framing.
public struct TransportConfiguration: Sendable {
    /// Identity, trust policy, TLS version and per-connection timeouts and buffers.
    public var tls: TLSConfiguration
    /// The largest accepted frame length field (type byte + payload), in bytes; DESIGN.md default 4 MiB.
    public var frameBytesMax: Int
    /// The most authenticated sessions the listener holds at once; a peer that authenticates when
    /// they are all taken is sent `ERROR busy` and closed. Connections not yet authenticated count against
    /// `unauthenticatedMax` instead, so strangers cannot take these places.
    public var sessionsMax: Int
    /// The most connections the listener holds that have not authenticated yet (accepted, TLS
    /// handshake not finished), from all addresses together. When they are all taken, a newcomer
    /// takes the place of the oldest (silent first) of the address holding the most, or is refused
    /// if its own address holds the most; a connection leaves this budget when it authenticates.
    public var unauthenticatedMax: Int
    /// The most connections not yet authenticated from one source address; a newcomer from an
    /// address at this cap takes the place of that address's oldest (silent first).
    public var unauthenticatedPerAddressMax: Int
    /// The most TLS handshakes the listener begins for one source address per second. A handshake
    /// begins when a connection's first bytes arrive; a connection over the limit is closed then,
    /// before any TLS work. Connections that send nothing are not counted (the unauthenticated
    /// budget bounds them), so silent floods cannot use up a peer's handshakes.
    public var handshakesPerSecondMax: Int
    /// The most refusal log lines written per minute; the rest are counted and summarized.
    public var refusalLogLinesPerMinuteMax: Int
    /// How many received frames may wait for the consumer before reading from the socket pauses.
    public var inboundFramesBufferedMax: Int
    /// The clock the listener's per-address handshake windows and refusal log budget read; only
    /// tests replace it (to step through seconds and minutes without waiting for them).
    var clock: @Sendable () -> NIODeadline = { NIODeadline.now() }
    /// The local IP address outgoing connections leave from (node.toml `dial_from`); nil lets the
    /// system choose.
    public var dialFrom: String?

    /// Makes a configuration; defaults follow DESIGN.md.
    public init(
        tls: TLSConfiguration,
        frameBytesMax: Int = 4 * 1024 * 1024,
        sessionsMax: Int = 512,
        unauthenticatedMax: Int = 64,
        unauthenticatedPerAddressMax: Int = 8,
        handshakesPerSecondMax: Int = 20,
        refusalLogLinesPerMinuteMax: Int = 60,
        inboundFramesBufferedMax: Int = 8
    ) {
        precondition(
            frameBytesMax > 0 && sessionsMax > 0 && unauthenticatedPerAddressMax > 0 && handshakesPerSecondMax > 0,
            "limits must be positive")
        precondition(
            unauthenticatedPerAddressMax <= unauthenticatedMax,
            "one address's unauthenticated budget cannot exceed the whole budget")
        precondition(inboundFramesBufferedMax >= 2, "buffer at least two frames")
        self.tls = tls
        self.frameBytesMax = frameBytesMax
        self.sessionsMax = sessionsMax
        self.unauthenticatedMax = unauthenticatedMax
        self.unauthenticatedPerAddressMax = unauthenticatedPerAddressMax
        self.handshakesPerSecondMax = handshakesPerSecondMax
        self.refusalLogLinesPerMinuteMax = refusalLogLinesPerMinuteMax
        self.inboundFramesBufferedMax = inboundFramesBufferedMax
    }
}
