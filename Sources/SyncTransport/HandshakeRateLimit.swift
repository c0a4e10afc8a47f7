import NIOCore

/// The listener's cap on TLS handshakes begun per source address per second
/// (`handshakesPerSecondMax`): it bounds the handshake work one address can make the listener do.
///
/// A handshake begins when a connection's first bytes (a peer's ClientHello) arrive, not when TCP
/// accepts it: a connection that sends nothing costs no TLS work and is bounded by the
/// unauthenticated budget (`AdmissionLedger`), so a flood of silent connections from a peer's own
/// address, at any rate, takes nothing from the peer's share of handshakes.
///
/// No I/O and no clock of its own: the caller says when each handshake begins. Each address has a
/// one-second window that opens with the first handshake after the previous window ended.
struct HandshakeRateLimit: Sendable {
    private struct Window: Sendable {
        var start: NIODeadline
        var count: Int
    }

    /// The most handshakes begun from one address in one window.
    let perSecondMax: Int
    /// Above this many addresses, windows that have ended are forgotten, so the table stays bounded.
    let addressesKeptMax: Int
    private var windows: [String: Window] = [:]

    init(perSecondMax: Int, addressesKeptMax: Int = 4096) {
        precondition(perSecondMax > 0 && addressesKeptMax > 0, "limits must be positive")
        self.perSecondMax = perSecondMax
        self.addressesKeptMax = addressesKeptMax
    }

    /// Counts a handshake beginning from `address` at `now`; returns whether it may go on (false:
    /// `perSecondMax` handshakes from `address` began already in this window). A refused one
    /// counts too, so an address retrying in a tight loop stays refused until its window ends.
    mutating func begin(from address: String, at now: NIODeadline) -> Bool {
        var window = windows[address] ?? Window(start: now, count: 0)
        if now - window.start >= .seconds(1) {
            window = Window(start: now, count: 0)
        }
        window.count += 1
        windows[address] = window
        if windows.count > addressesKeptMax {
            windows = windows.filter { now - $0.value.start < .seconds(1) }
        }
        return window.count <= perSecondMax
    }

    /// How many addresses have a window kept (for tests of the bound).
    var addressesKept: Int { windows.count }
}
