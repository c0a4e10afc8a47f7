import NIOConcurrencyHelpers
import NIOCore
import SyncProtocol

/// The listener's connections, shared by the listening channel and its connections' event loops:
/// an `AdmissionLedger` and a `HandshakeRateLimit` behind a lock, with the channels the ledger may
/// have to close, and the refusals their decisions make.
///
/// Sendable through the lock: connections live on other event loops than the listening socket, so
/// every entry point takes it. Channels are closed only after it is released, since a close can
/// complete at once and call `closed` back on the same thread.
final class ListenerConnections: Sendable {
    /// A connection in the ledger, with its peer's address (a closed channel no longer knows it).
    private struct Held: Sendable {
        var channel: any Channel
        var remoteAddress: SocketAddress?
    }

    private struct Books: Sendable {
        var ledger: AdmissionLedger<ObjectIdentifier>
        var handshakes: HandshakeRateLimit
        /// Every connection in the ledger, kept until it has closed, so its identifier is not reused meanwhile.
        var channels: [ObjectIdentifier: Held] = [:]
    }

    private let budget: AdmissionBudget
    private let books: NIOLockedValueBox<Books>
    private let refusals: RefusalLog
    private let clock: @Sendable () -> NIODeadline

    init(
        budget: AdmissionBudget, handshakesPerSecondMax: Int, refusals: RefusalLog,
        clock: @escaping @Sendable () -> NIODeadline = { NIODeadline.now() }
    ) {
        self.budget = budget
        self.books = NIOLockedValueBox(
            Books(
                ledger: AdmissionLedger(budget: budget),
                handshakes: HandshakeRateLimit(perSecondMax: handshakesPerSecondMax)))
        self.refusals = refusals
        self.clock = clock
    }

    /// Admits `channel`, just accepted, to the unauthenticated budget, closing another connection to
    /// make room where the policy says so; or closes `channel`. Returns whether it was admitted.
    func admit(_ channel: any Channel) -> Bool {
        let remoteAddress = channel.remoteAddress
        let address = remoteAddress?.ipAddress ?? "unknown"
        let id = ObjectIdentifier(channel)
        let (admission, victim) = books.withLockedValue {
            books -> (AdmissionLedger<ObjectIdentifier>.Admission, Held?) in
            let admission = books.ledger.admit(id, address: address)
            switch admission {
            case .admitted:
                books.channels[id] = Held(channel: channel, remoteAddress: remoteAddress)
                return (admission, nil)
            case .admittedEvicting(let eviction):
                books.channels[id] = Held(channel: channel, remoteAddress: remoteAddress)
                return (admission, books.channels[eviction.victim])
            case .refused:
                return (admission, nil)
            }
        }
        switch admission {
        case .admitted:
            break
        case .admittedEvicting(let eviction):
            victim?.channel.close(promise: nil)
            refusals.record(
                ConnectionRefusal(
                    error: evictionError(eviction, newcomer: address), remoteAddress: victim?.remoteAddress))
        case .refused(let held):
            channel.close(promise: nil)
            refusals.record(
                ConnectionRefusal(
                    error: TransportError(
                        .tooManyUnauthenticated,
                        "refused a connection from \(address): \(budget.unauthenticatedMax) connections had not "
                            + "authenticated (unauthenticatedMax) and \(address) already holds the most of them "
                            + "(\(held)); it may retry later"),
                    remoteAddress: remoteAddress))
            return false
        }
        channel.closeFuture.whenComplete { _ in self.closed(id) }
        return true
    }

    /// Records that `channel`, admitted, has sent its first bytes (a peer's ClientHello): it goes
    /// after the silent ones when room is made, and its TLS handshake counts against its address's
    /// `handshakesPerSecondMax`. Over that limit, closes it (before any TLS work), records the
    /// refusal and returns false.
    func beginHandshake(_ channel: any Channel) -> Bool {
        let remoteAddress = channel.remoteAddress
        let address = remoteAddress?.ipAddress ?? "unknown"
        let id = ObjectIdentifier(channel)
        let now = clock()
        let (allowed, perSecondMax) = books.withLockedValue { books in
            books.ledger.spoke(id)
            return (books.handshakes.begin(from: address, at: now), books.handshakes.perSecondMax)
        }
        guard !allowed else { return true }
        // From the tail, so the TLS handler sees a local close, not a peer that went away.
        channel.close(promise: nil)
        refusals.record(
            ConnectionRefusal(
                error: TransportError(
                    .rateLimited,
                    "closed a connection from \(address) at its first bytes, before any TLS work: more than "
                        + "\(perSecondMax) TLS handshakes began from \(address) in one second "
                        + "(handshakesPerSecondMax); connections that send nothing are not counted"),
                remoteAddress: remoteAddress))
        return false
    }

    /// Moves `connection`, whose peer has just authenticated, from the unauthenticated budget to
    /// the sessions. With `sessionsMax` sessions open, the peer is to be told `ERROR busy`; a
    /// connection just closed to make room is closed. Refusals are recorded here.
    func authenticated(_ connection: TransportConnection) -> PeerAdmission {
        let channel = connection.channel
        let peer = connection.peer
        let id = ObjectIdentifier(channel)
        let admission = books.withLockedValue { $0.ledger.authenticated(id) }
        switch admission {
        case .admitted:
            return .session(connection)
        case .refusedSessionsFull:
            refusals.record(
                ConnectionRefusal(
                    error: TransportError(
                        .tooManyConnections,
                        "refused peer \(peer.peerID) after it authenticated: \(budget.sessionsMax) authenticated "
                            + "sessions are open already (sessionsMax); told it busy, it should retry later",
                        offeredFingerprint: peer.fingerprint),
                    remoteAddress: connection.remoteAddress))
            return .busy(
                connection,
                ProtocolError(
                    .busy,
                    "this node holds \(budget.sessionsMax) sessions, its most at once (sessionsMax); "
                        + "retry later"))
        case .refusedClosing:
            channel.close(promise: nil)
            refusals.record(
                ConnectionRefusal(
                    error: TransportError(
                        .tooManyUnauthenticated,
                        "peer \(peer.peerID) authenticated just as its connection was closed to make room for "
                            + "another (unauthenticatedMax or unauthenticatedPerAddressMax); the peer should retry",
                        offeredFingerprint: peer.fingerprint),
                    remoteAddress: connection.remoteAddress))
            return .closed
        }
    }

    /// Forgets `channel`, which has closed.
    private func closed(_ id: ObjectIdentifier) {
        books.withLockedValue { books in
            books.ledger.closed(id)
            books.channels[id] = nil
        }
    }

    private func evictionError(_ eviction: AdmissionLedger<ObjectIdentifier>.Eviction, newcomer: String)
        -> TransportError
    {
        let which = eviction.victimSpoke ? "oldest" : "oldest silent"
        let address = eviction.victimAddress
        switch eviction.rule {
        case .perAddress:
            return TransportError(
                .tooManyUnauthenticated,
                "closed the \(which) unauthenticated connection from \(address) to make room for a new one from "
                    + "the same address: \(eviction.heldByVictimAddress) connections from it had not authenticated "
                    + "(unauthenticatedPerAddressMax)")
        case .total:
            return TransportError(
                .tooManyUnauthenticated,
                "closed the \(which) unauthenticated connection from \(address) to make room for one from "
                    + "\(newcomer): \(budget.unauthenticatedMax) connections had not authenticated "
                    + "(unauthenticatedMax), \(eviction.heldByVictimAddress) of them from \(address), the most of "
                    + "any address")
        }
    }
}

/// What the listener does with a connection whose peer has just authenticated.
enum PeerAdmission: Sendable {
    /// Serve it: it holds one of the `sessionsMax` places.
    case session(TransportConnection)
    /// Send the peer this `ERROR busy` and close: `sessionsMax` sessions are open.
    case busy(TransportConnection, ProtocolError)
    /// Nothing: it was closed to make room just before it authenticated.
    case closed
}
