/// The national SNOMED CT concepts for social prescribing that a practice codes back into its GP
/// system, in one table. Source: the SNOMED CT UK clinical extension, as NHS England's social
/// prescribing guidance lists them (terms as in the NHS SNOMED CT browser). spsync carries a code
/// only where the concept means what happened; where no national concept exists for a step (a
/// service accepting, a person attending, completing), it says so and invents none.
public enum SocialPrescribingCode: String, CaseIterable, Sendable, Codable {
    /// The person was referred to a social prescribing service (a practice's or hub's referral).
    case referral = "871731000000106"
    /// Social prescribing was offered to the person.
    case offered = "871691000000100"
    /// The person declined social prescribing.
    case declined = "871711000000103"
    /// The person was signposted to a social prescribing service.
    case signposting = "1084281000000109"

    /// Where the table comes from, for reports and `referral show`.
    public static let source =
        "SNOMED CT UK clinical extension, social prescribing concepts as listed by NHS England"

    /// The concept's preferred term.
    public var term: String {
        switch self {
        case .referral: return "Referral to social prescribing service"
        case .offered: return "Social prescribing offered"
        case .declined: return "Social prescribing declined"
        case .signposting: return "Signposting to social prescribing service"
        }
    }

    /// The word a practice gives `referral update --snomed` for it.
    public var word: String {
        switch self {
        case .referral: return "referral"
        case .offered: return "offered"
        case .declined: return "declined"
        case .signposting: return "signposting"
        }
    }

    public init?(word: String) {
        guard let c = Self.allCases.first(where: { $0.word == word || $0.rawValue == word }) else { return nil }
        self = c
    }

    /// The concept a lifecycle event carries, where one means the same: only `referred`. A service
    /// declining is not the person declining social prescribing, so `declined` carries none.
    public static func forEvent(_ kind: ProgressEvent.Kind) -> SocialPrescribingCode? {
        kind == .referred ? .referral : nil
    }

    /// "SNOMED CT 871731000000106 Referral to social prescribing service".
    public var label: String { "SNOMED CT \(rawValue) \(term)" }
}
