import SyncCore
import SyncStore

extension Domain {
    /// A service a charity publishes.
    public struct NewService: Sendable {
        public var name: String
        public var category: ServiceCategory
        /// What capacity counts: places, sessions, hours.
        public var unit = "places"
        /// Free places now and places in all; both or neither.
        public var capacity: (available: Int, maximum: Int)?
        public var description: String?
        public var eligibility: String?
        public var ageMin: Int?
        public var ageMax: Int?
        /// Postcode districts served, e.g. "LS1,LS2".
        public var area: String?
        /// When it runs, as text.
        public var schedule: String?
        public var route: ReferralRoute = .direct
        public var accepting: Accepting = .open
        public var waitDays: Int?
        /// Days the capacity figures stay valid; after that readers show them as stale.
        public var validDays: Int?
        /// The UUID of the service's id; nil makes a new one (simulations give theirs).
        public var uuid: UUIDv7?

        public init(name: String, category: ServiceCategory, uuid: UUIDv7? = nil) {
            self.name = name
            self.category = category
            self.uuid = uuid
        }
    }

    /// Publishes this organisation's own directory record: its name, role and, for a practice, its
    /// PCN (`spsync init` does, once; peers show the name instead of the code).
    @discardableResult
    public func publishOrganisation(name: String, pcn: NodeID?, at wallMillis: UInt64, actor: String = "operator")
        throws -> ChangeRef
    {
        var fields: [(FieldKey, [UInt8])] = [
            (.orgName, FieldValue.text(name)), (.orgRole, FieldValue.text(node.role.rawValue)),
        ]
        if let pcn { fields.append((.orgPCN, FieldValue.text(pcn.rawValue))) }
        return try store.write(.organisation(node), fields, wallMillis: wallMillis, actor: actor)
    }

    /// Publishes a service (charities). Returns its id.
    @discardableResult
    public func addService(_ new: NewService, at wallMillis: UInt64) throws -> RecordID {
        try requireCharity("publish a service")
        let id = try RecordID.service(owner: node, uuid: new.uuid ?? Store.newUUID(wallMillis: wallMillis))
        try store.write(id, Self.serviceFields(new, at: wallMillis), wallMillis: wallMillis)
        return id
    }

    /// The field writes of a new service, as `addService` makes them.
    static func serviceFields(_ new: NewService, at wallMillis: UInt64) -> [(FieldKey, [UInt8])] {
        var fields: [(FieldKey, [UInt8])] = [
            (.serviceName, FieldValue.text(new.name)), (.serviceCategory, FieldValue.text(new.category.rawValue)),
            (.serviceRoute, FieldValue.text(new.route.rawValue)),
            (.serviceAccepting, FieldValue.text(new.accepting.rawValue)),
        ]
        if let capacity = new.capacity {
            fields.append(
                (
                    .serviceCapacity,
                    FieldValue.json(
                        ServiceCapacity(
                            unit: new.unit, available: capacity.available, maximum: capacity.maximum,
                            updated: wallMillis))
                ))
        }
        if let v = new.description { fields.append((.serviceDescription, FieldValue.text(v))) }
        if let v = new.eligibility { fields.append((.serviceEligibility, FieldValue.text(v))) }
        if let v = new.ageMin { fields.append((.serviceAgeMin, FieldValue.integer(v))) }
        if let v = new.ageMax { fields.append((.serviceAgeMax, FieldValue.integer(v))) }
        if let v = new.area { fields.append((.serviceArea, FieldValue.text(v))) }
        if let v = new.schedule { fields.append((.serviceSchedule, FieldValue.text(v))) }
        if let v = new.waitDays { fields.append((.serviceWaitDays, FieldValue.integer(v))) }
        if let days = new.validDays { fields.append(Self.validUntil(days, from: wallMillis)) }
        return fields
    }

    /// Checks a new service as the store would check its writes, writing nothing: for imports
    /// that check every service before adding any.
    public func checkService(_ new: NewService, at wallMillis: UInt64) throws {
        try requireCharity("publish a service")
        let id = try RecordID.service(owner: node, uuid: new.uuid ?? UUIDv7(millis: wallMillis, random: (0, 0)))
        let origin = Origin(node: node, incarnation: UUIDv7(millis: wallMillis, random: (0, 0)))
        for (field, value) in Self.serviceFields(new, at: wallMillis) {
            try Validation.check(
                FieldWrite(
                    origin: origin, seq: 1, hlc: HLC(millis: wallMillis, counter: 0), record: id, field: field,
                    kind: field.knownKind ?? .register, value: value))
        }
    }

    /// Sets how many places a service of this charity has free now (and, optionally, in all, what
    /// they count, whether it takes referrals, and for how many days the figures hold).
    /// Returns the capacity written.
    @discardableResult
    public func setCapacity(
        _ service: RecordID, available: Int, maximum: Int? = nil, unit: String? = nil, accepting: Accepting? = nil,
        validDays: Int? = nil, at wallMillis: UInt64
    ) throws -> ServiceCapacity {
        try requireOwner(service, "sets its capacity")
        let current = try store.service(service, wallMillis: wallMillis).capacity
        guard let max = maximum ?? current?.maximum else {
            throw SyncError(.usage, "\(service) has no maximum yet: give the number of places in all as well")
        }
        let capacity = ServiceCapacity(
            unit: unit ?? current?.unit ?? "places", available: available, maximum: max, updated: wallMillis)
        var fields: [(FieldKey, [UInt8])] = [(.serviceCapacity, FieldValue.json(capacity))]
        if let accepting { fields.append((.serviceAccepting, FieldValue.text(accepting.rawValue))) }
        if let validDays { fields.append(Self.validUntil(validDays, from: wallMillis)) }
        try store.write(service, fields, wallMillis: wallMillis)
        return capacity
    }

    /// Whether a service of this charity takes referrals now.
    @discardableResult
    public func setAccepting(_ service: RecordID, _ accepting: Accepting, at wallMillis: UInt64) throws -> ChangeRef {
        try requireOwner(service, "sets whether it takes referrals")
        return try store.write(
            service, [(.serviceAccepting, FieldValue.text(accepting.rawValue))], wallMillis: wallMillis)
    }

    // MARK: Rules

    func requireCharity(_ action: String) throws {
        guard node.role == .vcse else {
            throw SyncError(
                .unauthorised,
                "\(node) is a \(node.role.rawValue): only a charity (vcse) node can \(action); services belong to the charity that runs them"
            )
        }
    }

    func requireOwner(_ service: RecordID, _ action: String) throws {
        let owner = try serviceOwner(service)
        guard owner == node else {
            throw SyncError(.unauthorised, "\(service) belongs to \(owner), not to \(node): only its owner \(action)")
        }
    }

    static func validUntil(_ days: Int, from wallMillis: UInt64) -> (FieldKey, [UInt8]) {
        (.serviceCapacityValidUntil, FieldValue.integer(Int(wallMillis) + days * 86_400_000))
    }
}
