/// Text from outside this node — a peer's certificate, HELLO or ERROR, a record id or field name it
/// sent, a command-line argument — made safe to put in a log line or a message.
///
/// A peer controls these bytes: unescaped, a newline in a certificate's node name writes a whole
/// fake line into the log, and a bidi override or an escape sequence rewrites what the operator
/// reads. `escape` shows every character that is not plainly printable as an escape, escapes the
/// backslash and the double quote (so text put between double quotes cannot close them), and
/// bounds the length.
/// `printable` is the weaker, idempotent pass that output choke points (the log handler, command
/// output) apply to whole lines: it only replaces characters that are not plainly printable.
public enum EscapedText {
    /// How many characters of a value are shown before the rest is cut (and counted).
    public static let charactersMax = 160

    /// `text` with `\`, `"` and every character that is not plainly printable escaped
    /// (`\n`, `\r`, `\t`, `\u{1B}`), cut after `charactersMax` characters with `…(+N)` saying how
    /// many more there were.
    public static func escape(_ text: some StringProtocol, charactersMax: Int = charactersMax) -> String {
        var out = ""
        var shown = 0
        var scalars = text.unicodeScalars.makeIterator()
        while let scalar = scalars.next() {
            guard shown < charactersMax else {
                var more = 1
                while scalars.next() != nil { more += 1 }
                out += "…(+\(more))"
                break
            }
            shown += 1
            switch scalar {
            case "\\": out += "\\\\"
            case "\"": out += "\\\""
            default: appendPrintable(scalar, to: &out)
            }
        }
        return out
    }

    /// `text` escaped as by `escape`, between double quotes: how a claim is shown as a claim.
    public static func quote(_ text: some StringProtocol, charactersMax: Int = charactersMax) -> String {
        "\"" + escape(text, charactersMax: charactersMax) + "\""
    }

    /// `text` with only the characters that are not plainly printable escaped; everything else,
    /// backslashes and quotes included, is left as it is, so applying it twice changes nothing.
    public static func printable(_ text: some StringProtocol) -> String {
        var out = ""
        for scalar in text.unicodeScalars { appendPrintable(scalar, to: &out) }
        return out
    }

    /// Whether `scalar` is shown as an escape: controls (C0, DEL, C1), format characters (bidi
    /// overrides, zero-width joiners), line and paragraph separators, private-use, surrogate and
    /// unassigned code points.
    public static func needsEscape(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator, .privateUse, .surrogate, .unassigned:
            return true
        default:
            return false
        }
    }

    private static func appendPrintable(_ scalar: Unicode.Scalar, to out: inout String) {
        guard needsEscape(scalar) else {
            out.unicodeScalars.append(scalar)
            return
        }
        switch scalar {
        case "\n": out += "\\n"
        case "\r": out += "\\r"
        case "\t": out += "\\t"
        default: out += "\\u{" + String(scalar.value, radix: 16, uppercase: true) + "}"
        }
    }
}

extension DefaultStringInterpolation {
    /// Interpolates text from outside this node escaped (`EscapedText.escape`), for example `"id \(escaped: text)"`.
    public mutating func appendInterpolation(escaped text: some StringProtocol) {
        appendLiteral(EscapedText.escape(text))
    }

    /// Interpolates a claim from outside this node escaped and between double quotes (`EscapedText.quote`).
    public mutating func appendInterpolation(quoted text: some StringProtocol) {
        appendLiteral(EscapedText.quote(text))
    }
}

extension EscapedText {
    /// Text made safe for HTML or XML: an element's content or a quoted attribute value. Control
    /// characters (not allowed in XML) become U+FFFD; a new line is kept.
    public static func html(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for c in text.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default:
                // Control characters are shown, not passed on (a note may hold a new line: kept).
                if c.value < 0x20 && c != "\n" || c.value == 0x7F {
                    out += "\u{FFFD}"
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        }
        return out
    }
}
