import NIOConcurrencyHelpers

/// Tells live sessions that the store has new changes, whoever wrote them (the CLI, another
/// session, a released parked write). Each subscriber gets a stream of wake-ups; bursts coalesce.
public final class ChangeFeed: Sendable {
    private let subscribers = NIOLockedValueBox<[Int: AsyncStream<Void>.Continuation]>([:])
    private let nextID = NIOLockedValueBox(0)

    public init() {}

    /// A stream that yields whenever new changes may be waiting; it ends when the feed is closed.
    public func subscribe() -> AsyncStream<Void> {
        let id = nextID.withLockedValue { n in
            n += 1
            return n
        }
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        continuation.onTermination = { [subscribers] _ in
            _ = subscribers.withLockedValue { $0.removeValue(forKey: id) }
        }
        subscribers.withLockedValue { $0[id] = continuation }
        return stream
    }

    public func publish() {
        for c in subscribers.withLockedValue({ Array($0.values) }) { c.yield() }
    }

    public func close() {
        for c in subscribers.withLockedValue({ Array($0.values) }) { c.finish() }
    }
}
