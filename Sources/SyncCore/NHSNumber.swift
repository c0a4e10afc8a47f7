/// A ten-digit NHS number whose last digit is its modulus 11 check digit.
public struct NHSNumber: Hashable, Sendable, CustomStringConvertible {
    /// Ten ASCII digits, without spaces.
    public let digits: String

    /// Accepts ten digits, optionally grouped `3 3 4` with spaces.
    public init(_ text: String) throws(SyncError) {
        let compact = text.filter { $0 != " " }
        let values = compact.utf8.map { Int($0) - 48 }
        guard values.count == 10, values.allSatisfy({ (0...9).contains($0) }) else {
            throw SyncError(.invalidValue, "NHS number \(quoted: text) must be ten digits")
        }
        guard NHSNumber.checkDigit(values.prefix(9)) == values[9] else {
            throw SyncError(
                .invalidValue, "NHS number \(quoted: text) fails its check digit: check it was typed correctly")
        }
        self.digits = compact
    }

    /// The check digit for nine digits, or nil when no check digit can make them valid.
    public static func checkDigit(_ nine: ArraySlice<Int>) -> Int? {
        var sum = 0
        for (i, d) in nine.enumerated() { sum += d * (10 - i) }
        let check = 11 - sum % 11
        switch check {
        case 11: return 0
        case 10: return nil
        default: return check
        }
    }

    public var description: String {
        let d = Array(digits)
        return String(d[0..<3]) + " " + String(d[3..<6]) + " " + String(d[6..<10])
    }
}
