import NIOConcurrencyHelpers
import NIOCore

/// The listener's connections, shared by the listening channel and its connections' event loops:
/// an `AdmissionLedger` behind a lock, with the channels it may have to close, and the refusals
/// its decisions make.
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
        /// Every connection in the ledger, kept until it has closed, so its identifier is not reused meanwhile.
        var channels: [ObjectIdentifier: Held] = [:]
    }

    private let budget: AdmissionBudget
    private let books: NIOLockedValueBox<Books>
    private let refusals: RefusalLog

    init(budget: AdmissionBudget, refusals: RefusalLog) {
        self.budget = budget
        self.books = NIOLockedValueBox(Books(ledger: AdmissionLedger(budget: budget)))
        self.refusals = refusals
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

    /// Records that `channel` has sent its first bytes: it goes after the silent ones when room is made.
    func spoke(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        books.withLockedValue { $0.ledger.spoke(id) }
    }

    /// Moves `channel`, whose peer has just authenticated as `peer`, from the unauthenticated budget
    /// to the sessions. With `sessionsMax` sessions open (or if it was just closed to make room),
    /// closes it and returns the refusal, already recorded.
    func authenticated(_ channel: any Channel, peer: AuthenticatedPeer) -> TransportError? {
        let id = ObjectIdentifier(channel)
        let admission = books.withLockedValue { $0.ledger.authenticated(id) }
        let error: TransportError
        switch admission {
        case .admitted:
            return nil
        case .refusedSessionsFull:
            error = TransportError(
                .tooManyConnections,
                "refused peer \(peer.peerID) after it authenticated: \(budget.sessionsMax) authenticated sessions "
                    + "are open already (sessionsMax); the peer should retry later",
                offeredFingerprint: peer.fingerprint)
        case .refusedClosing:
            error = TransportError(
                .tooManyUnauthenticated,
                "peer \(peer.peerID) authenticated just as its connection was closed to make room for another "
                    + "(unauthenticatedMax or unauthenticatedPerAddressMax); the peer should retry",
                offeredFingerprint: peer.fingerprint)
        }
        let remoteAddress = channel.remoteAddress
        channel.close(promise: nil)
        refusals.record(ConnectionRefusal(error: error, remoteAddress: remoteAddress))
        return error
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

/// Tells the listener's books when a connection's first bytes arrive: one that has begun to speak
/// is closed to make room only after the silent ones of its address.
final class FirstBytesNotice: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let connections: ListenerConnections
    private var noticed = false

    init(connections: ListenerConnections) {
        self.connections = connections
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if !noticed {
            noticed = true
            connections.spoke(context.channel)
        }
        context.fireChannelRead(data)
    }
}
