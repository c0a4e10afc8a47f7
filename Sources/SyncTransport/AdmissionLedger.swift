/// The listener's books on the connections it holds, and the admission policy that keeps them:
/// connections that have not authenticated yet have a budget of their own, per source address and
/// in all, apart from authenticated sessions.
///
/// No I/O: it takes what happened to a connection and says what to do; `ListenerConnections`
/// carries the decisions out on real channels. `ID` names a connection.
///
/// A newcomer is never turned away from the unauthenticated budget while someone else holds more
/// of it. At its address's cap, that address's oldest connection goes (so a flood from a peer's
/// own address cannot lock the peer out); with the whole budget taken, the oldest connection of
/// the address holding the most goes, unless the newcomer's address already holds the most, in
/// which case the newcomer is refused. Within an address, connections that have sent nothing yet
/// go before those that have: a configured peer sends its ClientHello at once, a silent flood never.
struct AdmissionLedger<ID: Hashable & Sendable>: Sendable {
    /// Which budget made room for a newcomer.
    enum Rule: Equatable {
        /// The newcomer's address was at `unauthenticatedPerAddressMax`.
        case perAddress
        /// The whole unauthenticated budget (`unauthenticatedMax`) was taken.
        case total
    }

    /// A connection closed to make room for a newcomer.
    struct Eviction: Equatable {
        /// The connection to close.
        var victim: ID
        /// Its source address.
        var victimAddress: String
        /// Whether it had sent any byte.
        var victimSpoke: Bool
        /// The rule that chose it.
        var rule: Rule
        /// How many unauthenticated connections its address held (it included).
        var heldByVictimAddress: Int
    }

    /// What to do with a newly accepted connection.
    enum Admission: Equatable {
        /// Admit it.
        case admitted
        /// Admit it and close `Eviction.victim`, which no longer counts.
        case admittedEvicting(Eviction)
        /// Close it: the budget is taken and its address holds the most (`held`, it not included).
        case refused(held: Int)
    }

    /// What to do with a connection that has just authenticated.
    enum SessionAdmission: Equatable {
        /// It is a session now.
        case admitted
        /// Close it: `sessionsMax` sessions are open.
        case refusedSessionsFull
        /// Close it: it was closed (evicted) just before it authenticated.
        case refusedClosing
    }

    private enum Standing: Sendable {
        /// Accepted, not authenticated; `sequence` orders connections by age (lower is older).
        case unauthenticated(address: String, sequence: UInt64, spoke: Bool)
        /// Authenticated and counted against `sessionsMax`.
        case session
        /// Evicted or refused at authentication, not counted anywhere, until it is closed.
        case closing
    }

    let budget: AdmissionBudget
    private var standings: [ID: Standing] = [:]
    /// Unauthenticated connections per address, oldest first.
    private var waiting: [String: [ID]] = [:]
    private var nextSequence: UInt64 = 0
    /// Unauthenticated connections, in all.
    private(set) var unauthenticatedCount = 0
    /// Authenticated sessions.
    private(set) var sessionCount = 0

    init(budget: AdmissionBudget) {
        precondition(budget.sessionsMax > 0 && budget.unauthenticatedPerAddressMax > 0, "budgets must be positive")
        precondition(
            budget.unauthenticatedPerAddressMax <= budget.unauthenticatedMax,
            "one address's budget cannot exceed the whole budget")
        self.budget = budget
    }

    /// Unauthenticated connections from `address`.
    func unauthenticated(from address: String) -> Int {
        waiting[address]?.count ?? 0
    }

    /// Decides on connection `id`, just accepted from `address`, and records it if admitted.
    mutating func admit(_ id: ID, address: String) -> Admission {
        precondition(standings[id] == nil, "a connection is admitted once")
        let held = unauthenticated(from: address)
        var eviction: Eviction?
        if held >= budget.unauthenticatedPerAddressMax {
            eviction = evict(from: address, rule: .perAddress)
        } else if unauthenticatedCount >= budget.unauthenticatedMax {
            guard let richest = addressHoldingMost(), unauthenticated(from: richest) > held else {
                return .refused(held: held)
            }
            eviction = evict(from: richest, rule: .total)
        }
        standings[id] = .unauthenticated(address: address, sequence: nextSequence, spoke: false)
        nextSequence += 1
        waiting[address, default: []].append(id)
        unauthenticatedCount += 1
        return eviction.map { .admittedEvicting($0) } ?? .admitted
    }

    /// Records that connection `id` has sent its first bytes.
    mutating func spoke(_ id: ID) {
        guard case .unauthenticated(let address, let sequence, false)? = standings[id] else { return }
        standings[id] = .unauthenticated(address: address, sequence: sequence, spoke: true)
    }

    /// Moves connection `id` from the unauthenticated budget to the sessions, if there is room.
    mutating func authenticated(_ id: ID) -> SessionAdmission {
        switch standings[id] {
        case .unauthenticated(let address, _, _)?:
            leaveWaiting(id, address: address)
            guard sessionCount < budget.sessionsMax else {
                standings[id] = .closing
                return .refusedSessionsFull
            }
            standings[id] = .session
            sessionCount += 1
            return .admitted
        case .session?:
            preconditionFailure("a connection authenticates once")
        case .closing?, nil:
            return .refusedClosing
        }
    }

    /// Forgets connection `id`, which has closed, giving back whatever it held.
    mutating func closed(_ id: ID) {
        switch standings.removeValue(forKey: id) {
        case .unauthenticated(let address, _, _)?:
            leaveWaiting(id, address: address)
        case .session?:
            sessionCount -= 1
        case .closing?, nil:
            break
        }
    }

    /// The address holding the most unauthenticated connections; of several, the one whose oldest is oldest.
    private func addressHoldingMost() -> String? {
        var best: (address: String, count: Int, oldest: UInt64)?
        for (address, ids) in waiting {
            guard let first = ids.first, case .unauthenticated(_, let oldest, _)? = standings[first] else { continue }
            let holdsMore = best.map { ids.count > $0.count || (ids.count == $0.count && oldest < $0.oldest) }
            if holdsMore ?? true { best = (address, ids.count, oldest) }
        }
        return best?.address
    }

    /// Takes `address`'s oldest silent connection (its oldest one if all have spoken) out of the budget.
    private mutating func evict(from address: String, rule: Rule) -> Eviction {
        guard let ids = waiting[address], let oldest = ids.first else {
            preconditionFailure("evicting from an address that holds nothing")
        }
        let victim =
            ids.first { id in
                if case .unauthenticated(_, _, false)? = standings[id] { return true }
                return false
            } ?? oldest
        var victimSpoke = true
        if case .unauthenticated(_, _, let spoke)? = standings[victim] { victimSpoke = spoke }
        leaveWaiting(victim, address: address)
        standings[victim] = .closing
        return Eviction(
            victim: victim, victimAddress: address, victimSpoke: victimSpoke, rule: rule,
            heldByVictimAddress: ids.count)
    }

    private mutating func leaveWaiting(_ id: ID, address: String) {
        guard var ids = waiting[address], let index = ids.firstIndex(of: id) else {
            preconditionFailure("an unauthenticated connection is on its address's list")
        }
        ids.remove(at: index)
        waiting[address] = ids.isEmpty ? nil : ids
        unauthenticatedCount -= 1
    }
}

/// The budgets a listener's `AdmissionLedger` enforces (from `TransportConfiguration`).
struct AdmissionBudget: Sendable, Equatable {
    /// The most authenticated sessions at once.
    var sessionsMax: Int
    /// The most connections that have not authenticated yet, in all.
    var unauthenticatedMax: Int
    /// The most connections that have not authenticated yet from one source address.
    var unauthenticatedPerAddressMax: Int
}
