import Testing

@testable import SyncCore

@Suite("escaping text from outside the node")
struct EscapedTextTests {
    @Test(
        "escape: line breaks, controls, bidi and zero-width characters become visible escapes; backslash and quote are escaped",
        arguments: [
            ("A81001\nfake line", "A81001\\nfake line"),
            ("a\r\nb\tc", "a\\r\\nb\\tc"),
            ("\u{1B}[31mred\u{07}", "\\u{1B}[31mred\\u{7}"),
            ("nul\u{0}", "nul\\u{0}"),
            ("del\u{7F} c1\u{85}", "del\\u{7F} c1\\u{85}"),
            ("rtl\u{202E}txt.exe", "rtl\\u{202E}txt.exe"),
            ("zero\u{200B}width", "zero\\u{200B}width"),
            ("line\u{2028}sep\u{2029}", "line\\u{2028}sep\\u{2029}"),
            ("say \"hi\" \\n", "say \\\"hi\\\" \\\\n"),
            ("private\u{E000}", "private\\u{E000}"),
        ])
    func escape(raw: String, shown: String) {
        #expect(EscapedText.escape(raw) == shown)
    }

    @Test("escape leaves plain printable text, accents and apostrophes as they are")
    func plain() {
        for text in ["U12345", "GB-CHC-1234567", "Leeds Walking Friends", "Zoë's café — 3 places", "日本語", "🙂"] {
            #expect(EscapedText.escape(text) == text)
            #expect(EscapedText.printable(text) == text)
        }
    }

    @Test("escape cuts long text and says how many characters were left out")
    func bounded() {
        let long = String(repeating: "a", count: 1000)
        #expect(EscapedText.escape(long) == String(repeating: "a", count: 160) + "…(+840)")
        #expect(EscapedText.escape(long, charactersMax: 10) == "aaaaaaaaaa…(+990)")
        #expect(EscapedText.escape(String(repeating: "b", count: 160)) == String(repeating: "b", count: 160))
        // The bound counts characters shown, not bytes written: escapes may make a line longer, never unbounded.
        let newlines = String(repeating: "\n", count: 1000)
        #expect(EscapedText.escape(newlines) == String(repeating: "\\n", count: 160) + "…(+840)")
    }

    @Test("escaped text never holds a line break, a control character or an unescaped double quote")
    func property() {
        var generator = SeededRandom(seed: 9)
        let pool: [Unicode.Scalar] = [
            "a", "\n", "\r", "\"", "\\", "\u{0}", "\u{1B}", "\u{85}", "\u{2028}", "\u{202E}", " ",
        ]
        for _ in 0..<500 {
            var text = ""
            for _ in 0..<Int.random(in: 0...40, using: &generator) {
                text.unicodeScalars.append(pool.randomElement(using: &generator) ?? "a")
            }
            let quoted = EscapedText.quote(text)
            #expect(!quoted.unicodeScalars.contains { EscapedText.needsEscape($0) }, "\(quoted.debugDescription)")
            // Between the outer quotes, every quote is preceded by an odd run of backslashes.
            let inner = Array(quoted.dropFirst().dropLast())
            for (index, character) in inner.enumerated() where character == "\"" {
                let run = inner[..<index].reversed().prefix { $0 == "\\" }.count
                #expect(run % 2 == 1, "an unescaped quote in \(quoted.debugDescription)")
            }
        }
    }

    @Test("printable is idempotent and keeps backslashes and quotes; interpolation escapes and quotes")
    func printableAndInterpolation() {
        let once = EscapedText.printable("a\nb \"c\" \\d\u{1B}")
        #expect(once == "a\\nb \"c\" \\d\\u{1B}")
        #expect(EscapedText.printable(once) == once)
        let name = "x\ny"
        #expect("node \(quoted: name)" == "node \"x\\ny\"")
        #expect("node \(escaped: name)" == "node x\\ny")
    }

    @Test("identifier errors quote the refused text escaped")
    func identifierErrors() {
        do {
            _ = try NodeID("A81001\ninjected")
            Issue.record("accepted a node id with a newline")
        } catch {
            #expect(error.message.hasPrefix("\"A81001\\ninjected\" is not an organisation code"), "\(error.message)")
        }
        do {
            _ = try RecordID("R.\u{1B}[2J")
            Issue.record("accepted a record id with an escape sequence")
        } catch {
            #expect(!error.message.contains("\u{1B}"))
            #expect(error.message.contains("\\u{1B}[2J"))
        }
        do {
            _ = try FieldKey("contact.name\nx")
            Issue.record("accepted a field name with a newline")
        } catch {
            #expect(!error.message.contains("\n"))
        }
    }
}
