import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import ServiceLifecycle
import SyncCore
import SyncProtocol
import SyncStore
import SyncTransport

/// `spsync daemon`: the listener, one scheduler per peer, the change watcher and the control
/// socket, each a `Service` in one `ServiceGroup`. SIGTERM or SIGINT stops it gracefully: stop
/// accepting, finish the batch in hand (its checkpoint is in the same transaction), end sessions
/// with `ERROR shutting_down`, exit 0.
public final class Daemon: Sendable {
    public let runtime: NodeRuntime
    public let book: PeerStatusBook
    public let feed = ChangeFeed()
    let startedAt: UInt64
    /// node.toml as last loaded, typed: `reload` (after `spsync peer add|remove|block`) replaces it.
    let current: NIOLockedValueBox<NodeSettings>
    /// Open sessions, so that a peer removed or blocked while the daemon runs is cut off at once.
    let sessions = SessionRegistry()
    /// One dialling task per scheduled peer, restarted when `reload` changes its entry.
    let links = PeerLinks()
    let listenerBound = NIOLockedValueBox(false)

    public init(runtime: NodeRuntime) throws {
        self.runtime = runtime
        let logger = runtime.logger
        let saved = (try? PeerStatusFile.load(runtime.home)) ?? []  // a missing or unreadable file starts afresh
        let initial = PeerStatus.rows(config: runtime.config, saved: saved, connected: [])
        let home = runtime.home
        self.book = PeerStatusBook(initial) { snapshot in
            do { try PeerStatusFile.save(snapshot, home) } catch {
                logger.warning("cannot save peer status", metadata: ["error": "\(error)"])
            }
        }
        self.startedAt = WallClock.now()
        self.current = NIOLockedValueBox(runtime.settings)
    }

    /// The configuration in force now.
    public var settings: NodeSettings { current.withLockedValue { $0 } }
    /// node.toml in force now, as written.
    public var config: NodeConfig { settings.file }

    /// Whether `peer` is configured and its pinned key not blocked, as of the last reload.
    func accepts(_ peer: String) -> Bool {
        settings.accepts(peer)
    }

    /// Re-reads node.toml: the trust table follows it at once (for every new handshake, both
    /// ways), sessions of peers removed or blocked are cut, and status gets a row per peer. A new
    /// peer can dial in and be reached with `spsync sync --now` at once; its own schedule starts
    /// when the daemon next starts. Returns the peers whose sessions were cut.
    public func reload() async throws -> [String] {
        // Parsed and checked whole before anything changes: a bad edit keeps the settings in force.
        let settings = try NodeSettings(try runtime.home.config())
        let config = settings.file
        runtime.trust.update { $0 = NodeRuntime.trust(settings) }
        runtime.announcedNext.withLockedValue { $0 = NodeRuntime.announcedNext(settings) }
        let before = current.withLockedValue { old in
            defer { old = settings }
            return old
        }
        await book.reconcile(with: config)
        // A peer whose key or address changed (`spsync peer set`) starts again on the new entry.
        let changed = Set(
            settings.peers.filter { peer in
                guard let old = before.peer(peer.id.rawValue) else { return false }
                return old.fingerprint != peer.fingerprint || old.address != peer.address
            }.map(\.id.rawValue))
        let cut = await sessions.cut { [self] peer in !accepts(peer) || changed.contains(peer) }
        await links.apply(settings, daemon: self)
        runtime.logger.notice(
            "node.toml reloaded",
            metadata: ["peers": "\(config.peers.count)", "cut": "\(cut.joined(separator: ","))"])
        return cut
    }

    /// Runs one admitted session so that `reload` can cut it, and a newer connection from the same
    /// peer supersede it; `body` gets what its closing `ERROR` says when it is cut.
    func tracked(
        _ ticket: SessionRegistry.Ticket, _ body: @escaping @Sendable (SessionStop) async -> SessionOutcome
    ) async -> SessionOutcome {
        let task = Task { await body(ticket.stop) }
        await sessions.attach(ticket.id) { task.cancel() }
        let outcome = await withTaskCancellationHandler {
            await task.value
        } onCancel: {
            task.cancel()
        }
        await sessions.remove(ticket.id)
        return outcome
    }

    /// Waits until this node may dial `peer` (no session with it open) and registers the dial;
    /// nil after `seconds`, or at once for a one-shot sync while a live session with the peer is
    /// in step (that session carries the sync).
    func admitDial(_ peer: String, live: Bool, seconds: Double) async -> SessionRegistry.Ticket? {
        let deadline = ContinuousClock.now + .milliseconds(Int64(seconds * 1000))
        while true {
            if let ticket = await sessions.admitOutbound(peer, live: live) { return ticket }
            if !live, await sessions.inStep(peer) { return nil }
            if ContinuousClock.now >= deadline || Task.isCancelled { return nil }
            do { try await Task.sleep(for: .milliseconds(200)) } catch { return nil }
        }
    }

    /// Whether the peers' listener is bound (`/readyz`); true from the start when none is configured.
    public var listening: Bool { listenerBound.withLockedValue { $0 } || runtime.settings.listen == nil }

    /// How many sessions are open now.
    public func openSessions() async -> Int { await sessions.count }

    /// Runs until SIGTERM or SIGINT, with `extra` services (the HTTP endpoints) beside its own.
    ///
    /// The listening socket is bound first: a daemon that cannot listen says so in one line and
    /// exits before it logs that it started.
    public func run(extra: [any Service] = []) async throws {
        var services: [any Service] = [
            ChangeWatcher(daemon: self), ControlSocketService(daemon: self), PeerLinksService(daemon: self),
        ]
        if let listen = runtime.settings.listen {
            services.append(ListenerService(daemon: self, listener: try await bindListener(listen)))
            listenerBound.withLockedValue { $0 = true }
        }
        services += extra
        // Last: systemd hears READY=1 once the listener is bound and the other services started.
        let notifier = SystemdNotifier()
        if notifier.enabled { services.append(SystemdService(daemon: self, notifier: notifier)) }
        let group = ServiceGroup(
            configuration: .init(
                services: services.map { .init(service: $0) }, gracefulShutdownSignals: [.sigterm, .sigint],
                logger: runtime.logger))
        runtime.logger.info(
            "daemon started",
            metadata: [
                "node": "\(runtime.node)", "peers": "\(runtime.config.peers.count)",
                "listen": "\(runtime.settings.listen.map { "\($0)" } ?? "-")", "pid": "\(getpid())",
            ])
        do { try await group.run() } catch {
            await book.flush()
            throw error
        }
        await book.flush()
        feed.close()
        runtime.logger.info("daemon stopped")
    }

    /// Binds the listening socket for `address` (node.toml `listen`).
    func bindListener(_ address: NodeSettings.Endpoint) async throws -> TransportListener {
        do {
            return try await TransportListener.bind(
                host: address.host, port: address.port, configuration: runtime.transport, group: runtime.group,
                logger: runtime.logger,
                onRefusal: { DaemonMetrics.refused($0.error.code.rawValue) })
        } catch let error as IOError {
            throw SyncError(
                .io,
                "cannot listen on \(address): \(String(cString: strerror(error.errnoCode)).lowercased()); another "
                    + "process (another spsync daemon?) may hold the port: stop it, or change `listen` in node.toml")
        } catch let error as TransportError {
            throw SyncError(.io, "cannot listen on \(address): \(error)")
        } catch {
            throw SyncError(
                .io, "cannot listen on \(address): \(EscapedText.printable("\(error)")); check `listen` in node.toml")
        }
    }

    /// Asks for an immediate sync with one peer or all; returns when each has finished.
    func syncNow(peer: String?) async -> [SessionOutcome] {
        let peers = settings.peers.filter { (peer == nil || $0.id.rawValue == peer) && accepts($0.id.rawValue) }
        var outcomes: [SessionOutcome] = []
        for p in peers {
            outcomes.append(await syncOnce(p, via: "sync --now"))
        }
        return outcomes
    }

    /// One one-shot sync with a peer, with status bookkeeping. While another session with the peer
    /// is open this waits for it (one session per peer); a live session in step carries the sync.
    func syncOnce(_ peer: NodeSettings.Peer, via: String) async -> SessionOutcome {
        let id = peer.id.rawValue
        if runtime.rotation != nil {
            // A rotation is announced at the start of a session: a live session that began before
            // it gives way to a new one.
            await sessions.supersede(id, "restarted to announce a certificate rotation")
        }
        guard let ticket = await admitDial(id, live: false, seconds: 60) else {
            var outcome = SessionOutcome(peer: id, succeeded: false, statistics: .init())
            if await sessions.inStep(id) {
                outcome.succeeded = true
                outcome.note = "in step through the live session with \(id) already open"
            } else {
                outcome.errorCode = .busy
                outcome.error =
                    "a session with \(id) is already open and did not finish within 60 s; it carries the sync "
                    + "(one session per peer): see `spsync status`, or try again later"
            }
            return outcome
        }
        await book.started(id, at: WallClock.now())
        let feed = self.feed, runtime = self.runtime
        if await PeerSync.releaseParked(runtime) > 0 { feed.publish() }
        let outcome = await tracked(ticket) { stop in
            await PeerSync.dial(
                peer, runtime: runtime, mode: .oneShot, onApplied: { feed.publish() }, stop: stop,
                progress: Daemon.progressLog(id, runtime.logger))
        }
        await finish(id, outcome, via: via)
        return outcome
    }

    /// Logs a long session's progress every 10 s while field writes arrive.
    static func progressLog(_ peer: String, _ logger: Logger) -> SyncProgress {
        SyncProgress(peer: peer, every: .seconds(10)) { line in
            logger.info(
                "sync progress",
                metadata: [
                    "peer": "\(line.peer)", "received": "\(line.received)",
                    "of": line.expected > 0 ? "\(line.expected)" : "unknown",
                    "perSecond": "\(Int(line.perSecond.rounded()))",
                    "secondsLeft": line.secondsLeft.map { "\(Int($0.rounded()))" } ?? "unknown",
                ])
        }
    }

    /// A callback for a live session with `peer` that has just caught up.
    func markInStep(_ peer: String) -> @Sendable () async -> Void {
        let book = self.book, runtime = self.runtime, sessions = self.sessions
        return {
            // Status bookkeeping only: an unreadable store counts as seq 0.
            let seq = (try? await runtime.storeWork { try runtime.store.lastLocalSeq() }) ?? 0
            await book.inStep(peer, at: WallClock.now(), localSeq: seq)
            await sessions.markInStep(peer)
        }
    }

    func finish(_ peer: String, _ outcome: SessionOutcome, via: String) async {
        if outcome.errorCode == .busy, outcome.error?.contains("sessionsMax") != true {
            // Another session with the peer carries the sync (one per peer): not a failure. A peer
            // at its `sessionsMax` is one, and is recorded as such.
            runtime.logger.info(
                "session given way", metadata: ["peer": "\(peer)", "error": "\(outcome.error ?? "")"])
            return
        }
        let runtime = self.runtime
        // Status only: an unreadable store shows 0.
        let seq = (try? await runtime.storeWork { try runtime.store.lastLocalSeq() }) ?? 0
        let now = WallClock.now()
        let began = await book.startedAt(peer)
        await book.finished(peer, outcome, at: now, via: via, localSeq: seq)
        DaemonMetrics.sessionFinished(peer: peer, outcome, millis: began.map { now > $0 ? now - $0 : 0 })
        runtime.logger.log(
            level: outcome.succeeded ? .info : .warning, outcome.succeeded ? "session done" : "session failed",
            metadata: [
                "peer": "\(peer)", "received": "\(outcome.statistics.applied)",
                "sent": "\(outcome.statistics.writesOut)",
                "code": "\(outcome.errorCode?.rawValue ?? "")", "error": "\(outcome.error ?? "")",
            ])
    }
}

/// Saves the daemon's view of its peers beside the store, so `spsync status` works with the daemon down.
public enum PeerStatusFile {
    static func path(_ home: NodeHome) -> String { home.path + "/peers.status.json" }

    public static func load(_ home: NodeHome) throws -> [PeerStatus] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path(home)))
        return try JSONDecoder().decode([PeerStatus].self, from: data)
    }

    /// Records syncs run without the daemon (`spsync sync` from cron, say) where the daemon and
    /// `spsync status` read them.
    public static func record(
        _ outcomes: [(outcome: SessionOutcome, startedAt: UInt64, endedAt: UInt64)], via: String, config: NodeConfig,
        home: NodeHome, localSeq: UInt64
    ) throws {
        var rows = PeerStatus.rows(config: config, saved: (try? load(home)) ?? [], connected: [])
        for (outcome, startedAt, endedAt) in outcomes {
            guard let i = rows.firstIndex(where: { $0.id == outcome.peer }) else { continue }
            rows[i].record(outcome, startedAt: startedAt, at: endedAt, via: via, localSeq: localSeq)
        }
        try save(rows, home)
    }

    static func save(_ peers: [PeerStatus], _ home: NodeHome) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let tmp = path(home) + ".tmp"
        try encoder.encode(peers).write(to: URL(fileURLWithPath: tmp))
        guard rename(tmp, path(home)) == 0 else { throw SyncError(.io, "cannot replace \(path(home))") }
    }
}

/// Tells systemd (`Type=notify`) the daemon is ready, keeps its watchdog fed, and says when it is
/// stopping. Runs only under systemd (`NOTIFY_SOCKET` set).
struct SystemdService: Service {
    let daemon: Daemon
    let notifier: SystemdNotifier

    func run() async throws {
        // Give the other services (started at the same time) a moment to bind their sockets.
        try? await Task.sleep(for: .milliseconds(100))
        notifier.send(
            "READY=1\nSTATUS=syncing as \(daemon.runtime.node), \(daemon.config.peers.count) peers\nMAINPID=\(getpid())"
        )
        await cancelWhenGracefulShutdown {
            guard let interval = notifier.watchdogInterval else {
                while !Task.isCancelled { try? await Task.sleep(for: .seconds(3600)) }
                return
            }
            while !Task.isCancelled {
                notifier.send("WATCHDOG=1")
                try? await Task.sleep(for: interval)
            }
        }
        notifier.send("STOPPING=1")
    }
}

/// Releases parked writes whose time has come and, every `checkEvery`, checks that no write
/// slipped past the notifications.
///
/// Writers wake live sessions themselves, through `Daemon.feed`: the CLI by the control socket's
/// `changed`, the console in process, sessions when a batch brought writes, this service when it
/// released parked ones. Nothing polls the store for them (it did, every 100 ms). The check every
/// 10 s only catches a writer whose notice was lost (the control socket did not answer within its
/// 2 s): the write goes on at the next check instead of at the next session.
struct ChangeWatcher: Service {
    let daemon: Daemon
    static let checkEvery: Duration = .seconds(10)

    func run() async throws {
        let runtime = daemon.runtime
        let first = try await runtime.storeWork { try runtime.store.lastLocalSeq() }
        await cancelWhenGracefulShutdown {
            var last = first
            while !Task.isCancelled {
                do { try await Task.sleep(for: Self.checkEvery) } catch { return }
                if await PeerSync.releaseParked(runtime) > 0 { daemon.feed.publish() }
                let seq: UInt64
                do { seq = try await runtime.storeWork { try runtime.store.lastLocalSeq() } } catch {
                    daemon.runtime.logger.error("cannot read the store", metadata: ["error": "\(error)"])
                    continue
                }
                if seq != last {
                    last = seq
                    daemon.feed.publish()
                }
            }
        }
    }
}

/// Accepts peers' connections on a bound listener and runs a live-capable session with each.
struct ListenerService: Service {
    let daemon: Daemon
    let listener: TransportListener

    func run() async throws {
        let runtime = daemon.runtime
        let listener = self.listener
        let daemon = self.daemon
        // Graceful shutdown cancels the accept loop and every session (each ends with
        // ERROR shutting_down after the batch in hand); that is a clean stop, not an error.
        do {
            try await cancelWhenGracefulShutdown {
                try await listener.run { connection in
                    let peer = connection.peer.peerID
                    let me = runtime.node.rawValue
                    guard let ticket = await daemon.sessions.admitInbound(peer, me: me) else {
                        // Both sides dialled at once: this node's connection wins (SPEC section 1).
                        runtime.logger.info(
                            "second connection refused: one session per peer", metadata: ["peer": "\(peer)"])
                        await SessionRunner.refuse(
                            connection, .busy,
                            "\(me) has a session with \(peer) open already, dialled by \(me); it carries the sync")
                        return
                    }
                    await daemon.book.started(peer, at: WallClock.now())
                    let feed = daemon.feed
                    let outcome = await daemon.tracked(ticket) { stop in
                        await SessionRunner.run(
                            connection, store: runtime.store, storeThreads: runtime.storeThreads, mode: .live,
                            localChanges: feed.subscribe(),
                            rotation: runtime.rotation, keyPolicy: runtime.keyPolicy, logger: runtime.logger,
                            clock: { WallClock.now() },
                            onApplied: { feed.publish() }, onCaughtUp: daemon.markInStep(peer), stop: stop,
                            progress: Daemon.progressLog(peer, runtime.logger))
                    }
                    runtime.afterSession(outcome)
                    await daemon.finish(peer, outcome, via: "inbound")
                }
            }
        } catch is CancellationError {}
        await listener.close()
    }
}

/// The daemon's dialling: one `PeerLink` task per peer with a schedule (manual peers sync only when
/// asked). `apply` follows node.toml: a peer added gets a task, a removed one loses it, and one
/// whose schedule, address or key changed (`spsync peer set`) is restarted on the new entry at
/// once, its status history kept.
public actor PeerLinks {
    private var running: [String: (peer: NodeSettings.Peer, task: Task<Void, Never>)] = [:]
    private var stopped = false

    public init() {}

    func apply(_ settings: NodeSettings, daemon: Daemon) {
        guard !stopped else { return }
        var wanted: [String: NodeSettings.Peer] = [:]
        // Manual peers sync only when asked (`spsync sync --now`, through the control socket).
        for peer in settings.peers where peer.schedule != .manual { wanted[peer.id.rawValue] = peer }
        for (id, link) in running where wanted[id].map({ $0 != link.peer }) ?? true {
            link.task.cancel()
            running[id] = nil
        }
        for (id, peer) in wanted where running[id] == nil {
            let link = PeerLink(daemon: daemon, peer: peer)
            running[id] = (peer, Task { await link.run() })
        }
    }

    /// Stops every link and waits for each to end (graceful shutdown).
    func stopAll() async {
        stopped = true
        let tasks = running.values.map(\.task)
        running.removeAll()
        for task in tasks { task.cancel() }
        for task in tasks { await task.value }
    }
}

/// Runs the daemon's `PeerLinks` until graceful shutdown.
struct PeerLinksService: Service {
    let daemon: Daemon

    func run() async throws {
        await daemon.links.apply(daemon.settings, daemon: daemon)
        try? await gracefulShutdown()
        await daemon.links.stopAll()
    }
}

/// Dials one peer on its schedule, carrying out the steps of its `LinkPlan` (the rules live there,
/// tested without sleeping): sleeps, dials a live session or one sync, reports a missed nightly
/// window once, and records when the next sync is due.
struct PeerLink {
    let daemon: Daemon
    let peer: NodeSettings.Peer
    var schedule: Schedule { peer.schedule }

    func run() async {
        let runtime = daemon.runtime
        let id = peer.id.rawValue
        var plan = LinkPlan(schedule: schedule)
        var random = SystemRandomNumberGenerator()
        while !Task.isCancelled {
            let status = await daemon.book.snapshot().first { $0.id == id }
            let facts = LinkPlan.Facts(
                nowMillis: WallClock.now(), accepted: daemon.accepts(id),
                sessionOpen: schedule == .live ? await daemon.sessions.hasSession(id) : false,
                lastSuccessAt: status?.lastSuccessAt, lastAttemptAt: status?.lastAttemptAt, lastError: status?.lastError
            )
            let (step, missed) = plan.next(facts, calendar: .current)
            if let missed {
                runtime.logger.warning(
                    "missed the nightly window",
                    metadata: [
                        "peer": "\(id)", "schedule": "\(schedule)", "closed": "\(missed.closed)",
                        "lastSuccess": "\(facts.lastSuccessAt.map { "\($0)" } ?? "never")",
                        "error": "\(facts.lastError ?? "")",
                    ])
            }
            switch step {
            case .stop:
                return
            case .sleep(let until, let nextSyncAt):
                if let nextSyncAt { await daemon.book.update(id) { $0.nextSyncAt = nextSyncAt } }
                let now = WallClock.now()
                guard until > now else { continue }
                do { try await Task.sleep(for: .milliseconds(Int64(until - now))) } catch { return }
            case .dial(let live):
                await daemon.book.update(id) { $0.nextSyncAt = facts.nowMillis }
                let succeeded: Bool
                if live {
                    // One session per pair: while the peer's own connection is open, it is the link.
                    guard let ticket = await daemon.admitDial(id, live: true, seconds: 1) else { continue }
                    await daemon.book.started(id, at: WallClock.now())
                    let feed = daemon.feed, daemon = self.daemon, peer = self.peer
                    let outcome = await daemon.tracked(ticket) { stop in
                        await PeerSync.dial(
                            peer, runtime: runtime, mode: .live, localChanges: feed.subscribe(),
                            onApplied: { feed.publish() }, onCaughtUp: daemon.markInStep(id), stop: stop,
                            progress: Daemon.progressLog(id, runtime.logger))
                    }
                    await daemon.finish(id, outcome, via: "live")
                    succeeded = outcome.succeeded
                } else {
                    succeeded = await daemon.syncOnce(peer, via: "scheduled").succeeded
                }
                if Task.isCancelled { return }
                plan.finished(succeeded: succeeded, atMillis: WallClock.now(), calendar: .current, random: &random)
            }
        }
    }
}
