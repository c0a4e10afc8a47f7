/// Every bound spsync enforces, in one place, each named with its unit last.
///
/// Defaults are the normative values of `Protocol/SPEC.md`; a test checks that they agree with
/// each other (a full batch fits in a frame).
public struct Limits: Sendable, Equatable {
    /// Largest frame on the wire, header included.
    public var frameBytesMax = 4 * 1024 * 1024
    /// Most changes in one `CHANGES` batch (a batch is also cut before it would outgrow a frame).
    public var batchChangesMax = 512
    /// Most `CHANGES` batches in flight without an `ACK`.
    public var windowBatches = 4
    /// Most field writes in one change.
    public var fieldWritesPerChangeMax = 64
    /// Most live values of one register: the merge keeps the highest ones live (Protocol/SPEC.md 7.5).
    /// Part of the merge rules, so the same at every node: do not change it for one node.
    public var liveValuesPerFieldMax = 16
    /// Most elements of one grow-only set (status events, notes, SNOMED events): the merge keeps the
    /// earliest live and a node refuses to add a local element to a full set. Same at every node.
    public var setElementsMax = 4096
    /// Largest single value or string, in bytes of UTF-8.
    public var stringBytesMax = 16 * 1024
    /// Most entries in one causal context.
    public var contextEntriesMax = 256
    /// Refused writes tolerated in one session before the peer is disconnected.
    public var refusalsPerSessionMax = 100
    /// How far ahead of local time a write's clock may be before it is parked.
    public var clockSkewMaxSeconds = 300
    public var handshakeTimeoutSeconds = 10
    public var idleTimeoutSeconds = 120
    /// Most authenticated sessions a listener holds at once; a peer authenticating beyond it is told `busy`.
    public var sessionsMax = 512
    /// Most connections a listener holds that have not authenticated yet, from all addresses; apart
    /// from `sessionsMax`, so strangers cannot take a configured peer's place (Protocol/SPEC.md 1.2).
    public var unauthenticatedMax = 64
    /// Most connections a listener holds that have not authenticated yet from one source address.
    public var unauthenticatedPerAddressMax = 8
    /// Most TLS handshakes a listener begins for one source address per second, counted when a
    /// connection's first bytes arrive (connections that send nothing are not counted).
    public var handshakesPerSecondMax = 20
    public var fullResyncsPerPeerPerDayMax = 2

    // Value rules (Protocol/SPEC.md 6.2). Receivers refuse values outside them, so like the merge
    // bounds they are the same at every node: do not change them for one node.
    /// Most places, sessions or hours a service's capacity counts (`available` and `maximum`).
    public var capacityMax = 100_000
    /// Longest capacity unit (`places`, `sessions`), in bytes of UTF-8.
    public var capacityUnitBytesMax = 32
    /// Highest age a service's `ageMin` or `ageMax` may name, in years.
    public var ageYearsMax = 150
    /// Longest wait a service may estimate (`service.waitDays`), in days.
    public var waitDaysMax = 3650
    /// Earliest year of a date of birth.
    public var birthYearMin = 1900
    /// How many days after the (UTC) day its write was made a date of birth may be: the time zones
    /// ahead of UTC, where that day has already begun.
    public var birthDateAheadDaysMax = 1

    // Local input only (the command line); not checked on receipt.
    /// Longest a service's capacity figures may be declared valid for (`--valid-days`), in days.
    public var capacityValidDaysMax = 365

    public init() {}

    /// The defaults.
    public static let standard = Limits()

    /// Largest encoding of one field write the limits allow: a value, a full context, framing slack.
    public var fieldWriteBytesMax: Int { stringBytesMax + contextEntriesMax * 64 + 256 }

    /// Largest change the limits allow, on the wire.
    public var changeBytesMax: Int { fieldWritesPerChangeMax * fieldWriteBytesMax + 256 }

    /// Clock skew bound in milliseconds.
    public var clockSkewMaxMillis: UInt64 { UInt64(clockSkewMaxSeconds) * 1000 }
}
