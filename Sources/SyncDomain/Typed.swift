import Foundation
import SyncCore

/// A value of a list that a newer node may extend: one this version knows, or the text as received.
///
/// Readers show an unknown value as written and never fail on it; writers here only ever write
/// known ones.
public enum Known<Value: RawRepresentable & Sendable & Hashable>: Sendable, Hashable, CustomStringConvertible
where Value.RawValue == String {
    case known(Value)
    case other(String)

    public init(raw: String) {
        if let value = Value(rawValue: raw) { self = .known(value) } else { self = .other(raw) }
    }

    /// What is stored and sent.
    public var raw: String {
        switch self {
        case .known(let value): return value.rawValue
        case .other(let text): return text
        }
    }

    public var value: Value? {
        if case .known(let value) = self { return value }
        return nil
    }

    public var description: String { raw }
}

/// How soon a referral should be picked up.
public enum Urgency: String, CaseIterable, Sendable, Hashable {
    case routine, soon, urgent
}

/// The basis on which a person's contact details may be shared with the service they are referred to.
public enum ConsentBasis: String, CaseIterable, Sendable, Hashable {
    /// The person agreed: the target service's owner receives contact details.
    case explicit
    /// Recorded, but not enough to share contact details with a charity.
    case implied
}

/// How a person prefers to be contacted.
public enum ContactMethod: String, CaseIterable, Sendable, Hashable {
    case phone, email, text, letter
}

/// A consent change on an existing referral.
public enum ConsentChange: Sendable, Hashable {
    case given(ConsentBasis)
    /// The person withdrew consent: contact details leave every charity that held them.
    case withdrawn
}

/// The four ONS personal wellbeing scores, each 0–10: life satisfaction, worthwhile, happiness,
/// anxiety (for anxiety, lower is better).
public struct ONS4: Sendable, Hashable {
    public let scores: [Int]

    public init(_ scores: [Int]) throws(SyncError) {
        guard scores.count == 4, scores.allSatisfy({ (0...10).contains($0) }) else {
            throw SyncError(
                .invalidValue, "ONS4 needs four scores 0-10 (life satisfaction, worthwhile, happiness, anxiety)")
        }
        self.scores = scores
    }

    /// "6,7,5,4": four scores separated by commas.
    public init(parsing text: String) throws(SyncError) {
        let parts = text.split(separator: ",", omittingEmptySubsequences: false).map {
            Int($0.trimmingCharacters(in: .whitespaces))
        }
        guard parts.allSatisfy({ $0 != nil }) else {
            throw SyncError(.invalidValue, "\(quoted: text) is not four scores 0-10, comma-separated, e.g. 6,7,5,4")
        }
        try self.init(parts.compactMap { $0 })
    }
}
