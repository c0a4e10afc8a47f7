/// The rules one value must meet: a single set, used by the command line before it writes and by
/// receipt validation (`Validation`) for a peer's writes (Protocol/SPEC.md 6.2).
///
/// Each rule looks at the value alone — and a date of birth on receipt also at the day its write
/// was made, which is part of the write — so every node reaches the same verdict on a peer's write
/// whenever it arrives. A refusal says what is wrong and what is expected. `label` names the value
/// as its reader knows it: the option (`--phone`) on the command line, the field (`contact.phone`)
/// on receipt.
public enum ValueRules {
    /// What a text value may hold.
    public enum TextKind: Sendable {
        /// One line: names, phone numbers, codes, ids, enum values. No control characters and no
        /// line or paragraph separators.
        case line
        /// Free text (notes, reasons, descriptions, addresses): new lines (U+000A) allowed, no other
        /// control character.
        case freeText
    }

    /// `bytes` as text, refused unless they are valid UTF-8 (nothing is replaced).
    public static func utf8(_ bytes: some Collection<UInt8>, _ label: String) throws(SyncError) -> String {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw SyncError(
                .invalidValue,
                "\(label) is not valid UTF-8 text: re-type it, or set the terminal or file to UTF-8")
        }
        return text
    }

    /// Refuses control characters (Unicode category Cc: C0, DEL, C1) — except new lines in free
    /// text — and, on one line, the line and paragraph separators.
    public static func text(_ text: some StringProtocol, _ label: String, _ kind: TextKind) throws(SyncError) {
        for scalar in text.unicodeScalars {
            switch scalar.properties.generalCategory {
            case .control:
                if scalar == "\n", kind == .freeText { continue }
            case .lineSeparator, .paragraphSeparator:
                if kind == .freeText { continue }
            default:
                continue
            }
            let expected =
                kind == .line
                ? "give plain text on one line" : "give plain text (new lines are the only control character allowed)"
            throw SyncError(.invalidValue, "\(label) contains \(name(of: scalar)): \(expected)")
        }
    }

    /// A UK phone number by its shape: digits and spaces; 10 or 11 digits starting with 0, or `+44`
    /// and 9 or 10 digits (the number without its leading 0).
    public static func ukPhone(_ text: String, _ label: String) throws(SyncError) {
        let compact = Array(text.utf8.filter { $0 != UInt8(ascii: " ") })
        let isDigit = { (b: UInt8) in b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
        let valid: Bool
        if compact.starts(with: Array("+44".utf8)) {
            let national = compact.dropFirst(3)
            valid =
                (9...10).contains(national.count) && national.allSatisfy(isDigit)
                && national.first != UInt8(ascii: "0")
        } else {
            valid =
                (10...11).contains(compact.count) && compact.allSatisfy(isDigit) && compact.first == UInt8(ascii: "0")
        }
        guard valid else {
            throw SyncError(
                .invalidValue,
                "\(label) \(quoted: text) is not a UK phone number: give 10 or 11 digits starting with 0 "
                    + "(07700 900123), or +44 and the number without its 0 (+44 7700 900123); spaces allowed")
        }
    }

    /// An email address by its shape: `local@domain.tld`, no spaces, one `@`, a domain of dot-separated
    /// labels (letters, digits, hyphens) ending in a top-level domain of at least two letters.
    public static func email(_ text: String, _ label: String) throws(SyncError) {
        guard isEmail(text) else {
            throw SyncError(
                .invalidValue,
                "\(label) \(quoted: text) is not an email address: give it as name@example.org, without spaces")
        }
    }

    static func isEmail(_ text: String) -> Bool {
        guard text.utf8.count <= 254 else { return false }
        let parts = text.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2 else { return false }
        let (local, domain) = (parts[0], parts[1])
        // The local part: what mail systems accept unquoted (RFC 5322 dot-atom), and non-ASCII letters.
        let localSymbols = Set("!#$%&'*+-/=?^_`{|}~".unicodeScalars)
        guard !local.isEmpty, local.utf8.count <= 64, !local.hasPrefix("."), !local.hasSuffix("."),
            !local.contains(".."),
            local.unicodeScalars.allSatisfy({ s in
                s == "." || localSymbols.contains(s) || isLetterOrDigit(s)
            })
        else { return false }
        let labels = domain.split(separator: ".", omittingEmptySubsequences: false)
        guard labels.count >= 2, let tld = labels.last, tld.count >= 2,
            tld.unicodeScalars.allSatisfy({ $0.properties.isAlphabetic })
        else { return false }
        return labels.allSatisfy { l in
            !l.isEmpty && l.utf8.count <= 63 && !l.hasPrefix("-") && !l.hasSuffix("-")
                && l.unicodeScalars.allSatisfy { $0 == "-" || isLetterOrDigit($0) }
        }
    }

    private static func isLetterOrDigit(_ s: Unicode.Scalar) -> Bool {
        if s.isASCII {
            return (s >= "a" && s <= "z") || (s >= "A" && s <= "Z") || (s >= "0" && s <= "9")
        }
        return s.properties.isAlphabetic || s.properties.numericType == .decimal
    }

    /// A date of birth: a real date written `YYYY-MM-DD`, in or after `birthYearMin`, and not after
    /// `latest` — today on the command line; on receipt, the day the write was made plus
    /// `birthDateAheadDaysMax` (Protocol/SPEC.md 6.2: a rule of the write alone, so nodes agree).
    @discardableResult
    public static func dateOfBirth(
        _ text: String, _ label: String, notAfter latest: CalendarDate, limits: Limits = .standard
    ) throws(SyncError) -> CalendarDate {
        guard let fields = CalendarDate.fields(text) else {
            throw SyncError(
                .invalidValue, "\(label) \(quoted: text) is not a date: give the date of birth as YYYY-MM-DD")
        }
        guard let date = CalendarDate(year: fields.year, month: fields.month, day: fields.day) else {
            throw SyncError(.invalidValue, "\(label) \(text) is not a real date; use YYYY-MM-DD")
        }
        guard date.year >= limits.birthYearMin else {
            throw SyncError(
                .invalidValue, "\(label) \(text) is before \(limits.birthYearMin) (birthYearMin): check the year")
        }
        guard date <= latest else {
            throw SyncError(
                .invalidValue, "\(label) \(text) is in the future: give the date the person was born, YYYY-MM-DD")
        }
        return date
    }

    /// A count within its named limit: `n` in `range`, else refused naming the range and the limit.
    public static func count(
        _ n: Int, _ label: String, _ range: ClosedRange<Int>, limit: String? = nil
    ) throws(SyncError) {
        guard range.contains(n) else {
            throw SyncError(
                .invalidValue,
                "\(label) \(n) is out of range: give a whole number from \(range.lowerBound) to \(range.upperBound)"
                    + (limit.map { " (\($0))" } ?? ""))
        }
    }

    /// How a refused character is named: its usual name and its code point.
    static func name(of scalar: Unicode.Scalar) -> String {
        let hex = String(scalar.value, radix: 16, uppercase: true)
        let code = "U+" + String(repeating: "0", count: max(0, 4 - hex.count)) + hex
        switch scalar.value {
        case 0x0A: return "a new line (\(code))"
        case 0x0D: return "a carriage return (\(code))"
        case 0x09: return "a tab (\(code))"
        case 0x07: return "a bell character (\(code))"
        case 0x1B: return "an escape character (\(code))"
        case 0x00: return "a NUL character (\(code))"
        case 0x2028: return "a line separator (\(code))"
        case 0x2029: return "a paragraph separator (\(code))"
        default: return "a control character (\(code))"
        }
    }
}

/// A day of the proleptic Gregorian calendar, as written `YYYY-MM-DD`.
///
/// Made from a text or from a time without Foundation's calendars, so that SyncCore reads no
/// clock and no time zone: a caller that wants "today where the operator is" makes it itself.
public struct CalendarDate: Hashable, Comparable, Sendable, CustomStringConvertible {
    public let year: Int
    public let month: Int
    public let day: Int

    /// A real date, or nil (February 30th, month 13…). Years 1–9999.
    public init?(year: Int, month: Int, day: Int) {
        guard (1...9999).contains(year), (1...12).contains(month), day >= 1,
            day <= CalendarDate.days(inMonth: month, of: year)
        else { return nil }
        self.year = year
        self.month = month
        self.day = day
    }

    /// The date written strictly as `YYYY-MM-DD` (ASCII digits), if it is a real date.
    public init?(_ text: String) {
        guard let f = CalendarDate.fields(text) else { return nil }
        self.init(year: f.year, month: f.month, day: f.day)
    }

    /// The UTC day of a time in ms since the Unix epoch.
    public init(utcMillis: UInt64) {
        self.init(daysSinceEpoch: Int(utcMillis / 86_400_000))
    }

    /// The day `days` after 1970-01-01 (Howard Hinnant's `civil_from_days`).
    public init(daysSinceEpoch days: Int) {
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        self.year = yoe + era * 400 + (m <= 2 ? 1 : 0)
        self.month = m
        self.day = d
    }

    /// Days since 1970-01-01 (Howard Hinnant's `days_from_civil`).
    public var daysSinceEpoch: Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (month > 2 ? month - 3 : month + 9) + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    public func adding(days: Int) -> CalendarDate { CalendarDate(daysSinceEpoch: daysSinceEpoch + days) }

    public static func < (a: CalendarDate, b: CalendarDate) -> Bool {
        (a.year, a.month, a.day) < (b.year, b.month, b.day)
    }

    public var description: String {
        func pad(_ n: Int, _ width: Int) -> String {
            let s = String(n)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))"
    }

    static func days(inMonth month: Int, of year: Int) -> Int {
        switch month {
        case 2: return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 ? 29 : 28
        case 4, 6, 9, 11: return 30
        default: return 31
        }
    }

    /// Year, month and day of a text shaped `DDDD-DD-DD` (ASCII digits), real date or not.
    static func fields(_ text: String) -> (year: Int, month: Int, day: Int)? {
        let b = Array(text.utf8)
        guard b.count == 10, b[4] == UInt8(ascii: "-"), b[7] == UInt8(ascii: "-") else { return nil }
        func number(_ r: Range<Int>) -> Int? {
            var n = 0
            for i in r {
                guard b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") else { return nil }
                n = n * 10 + Int(b[i] - UInt8(ascii: "0"))
            }
            return n
        }
        guard let y = number(0..<4), let m = number(5..<7), let d = number(8..<10) else { return nil }
        return (y, m, d)
    }
}
