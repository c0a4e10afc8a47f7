import Foundation
import SyncCore

/// The report as text for a terminal, as CSV files (one per table) and as one self-contained HTML
/// page with SVG charts drawn here (no script, no external file, no network).
extension Report {
    // MARK: Terminal

    public func text() -> String {
        var out: [String] = []
        func line(_ s: String = "") { out.append(s) }
        func pad(_ s: String, _ n: Int) -> String {
            s.count >= n ? String(s.prefix(n - 1)) + " " : s + String(repeating: " ", count: n - s.count)
        }
        func lpad(_ s: String, _ n: Int) -> String { String(repeating: " ", count: max(0, n - s.count)) + s }
        func days(_ t: Timing) -> String {
            t.medianDays.map { m in "\(Self.number(m)) / \(t.p90Days.map(Self.number) ?? "-")" } ?? "-"
        }
        line("Social prescribing report: \(node) (\(role)), referrals made \(from) to \(to)")
        for n in notes { line("  · " + n) }
        line()
        line("Referrals: \(referrals.text)")
        line()
        line("By driver and need")
        for d in byDriver where d.referrals.value > 0 {
            line("  " + pad(d.driver, 62) + lpad(d.referrals.text, 7))
            for n in d.needs { line("      " + pad(n.name, 58) + lpad(n.count.text, 7)) }
        }
        line()
        line("By practice")
        for r in byPractice { line("  " + pad(r.name, 62) + lpad(r.count.text, 7)) }
        line()
        line("By month")
        for r in byMonth { line("  " + pad(r.name, 62) + lpad(r.count.text, 7)) }
        line()
        line("Funnel (referrals that reached each step)")
        for r in funnel { line("  " + pad(r.name, 62) + lpad(r.count.text, 7)) }
        for (title, rows) in [("Services", services), ("Categories", categories)] {
            line()
            line(title + " (days: median / 90th percentile from the referral being made)")
            line(
                "  " + pad("", 28)
                    + ["addr", "acc", "decl", "no ct", "dna", "done", "rate"].map { lpad($0, 6) }.joined()
                    + "  " + pad("to addressed", 14) + pad("to contact", 14) + "to accepted")
            for r in rows {
                let rate = r.acceptanceRate.map { "\(Int(($0 * 100).rounded()))%" } ?? "-"
                line(
                    "  " + pad(r.name, 28)
                        + [
                            r.addressed.text, r.accepted.text, r.declined.text, r.unableToContact.text,
                            r.didNotAttend.text, r.completed.text, rate,
                        ].map { lpad($0, 6) }.joined() + "  " + pad(days(r.toAddressed), 14)
                        + pad(days(r.toFirstContact), 14) + days(r.toAcceptance))
            }
        }
        if !declineReasons.isEmpty {
            line()
            line("Declined, with reasons")
            for r in declineReasons { line("  " + pad("\(r.service): \(r.reason)", 62) + lpad(r.count.text, 7)) }
        }
        line()
        line("Days from referral to first contact")
        for r in firstContact { line("  " + pad(r.name, 62) + lpad(r.count.text, 7)) }
        line()
        line("Outcomes (ONS4), people with scores before and after: \(outcomes.people.text)")
        for i in outcomes.items {
            line(
                "  " + pad("\(i.item) (better \(i.betterIs))", 36) + "before \(i.meanBefore.map(Self.number) ?? "-")"
                    + "  after \(i.meanAfter.map(Self.number) ?? "-")  change \(i.meanChange.map(Self.signed) ?? "-")"
                    + "  improvement \(i.meanImprovement.map(Self.signed) ?? "-")")
        }
        line(
            "  improved: \(outcomes.improved.text)\(outcomes.improvedShare.map { " (\(Int(($0 * 100).rounded()))%)" } ?? "")  — \(outcomes.note)"
        )
        line()
        line("Capacity (days in the period)")
        for c in capacity {
            let latest =
                c.points.last.map { "\($0.available) of \($0.maximum) \(c.unit) free at the end" } ?? "no figures"
            line(
                "  " + pad(c.name, 40)
                    + "at zero \(c.daysAtZero), stale \(c.daysStale), unknown \(c.daysUnknown); \(latest)")
        }
        line()
        line("SNOMED CT (\(snomedSource))")
        for c in snomed { line("  " + pad("\(c.code) \(c.term)", 62) + lpad(c.count.text, 7)) }
        return out.joined(separator: "\n") + "\n"
    }

    static func number(_ d: Double) -> String {
        d == d.rounded() ? String(Int(d)) : String(format: "%.1f", d)
    }

    static func signed(_ d: Double) -> String {
        (d > 0 ? "+" : "") + String(format: "%.2f", d)
    }

    // MARK: CSV

    /// One CSV per table, by file name.
    public func csvFiles() -> [(name: String, text: String)] {
        func t(_ x: Tally) -> String { x.text }
        func d(_ x: Double?) -> String { x.map { String($0) } ?? "" }
        var files: [(String, [[String]])] = []
        files.append(
            ("referrals_by_driver.csv", [["driver", "referrals"]] + byDriver.map { [$0.driver, t($0.referrals)] }))
        files.append(
            (
                "referrals_by_need.csv",
                [["driver", "need", "referrals"]]
                    + byDriver.flatMap { d in d.needs.map { [d.driver, $0.name, t($0.count)] } }
            ))
        files.append(
            ("referrals_by_practice.csv", [["practice", "referrals"]] + byPractice.map { [$0.name, t($0.count)] }))
        files.append(("referrals_by_month.csv", [["month", "referrals"]] + byMonth.map { [$0.name, t($0.count)] }))
        files.append(("funnel.csv", [["step", "referrals"]] + funnel.map { [$0.name, t($0.count)] }))
        let serviceHeader = [
            "id", "name", "category", "addressed", "received", "contacted", "accepted", "declined", "unable_to_contact",
            "attending", "did_not_attend", "completed", "acceptance_rate", "to_addressed_median_days",
            "to_addressed_p90_days", "to_first_contact_median_days", "to_first_contact_p90_days",
            "to_acceptance_median_days", "to_acceptance_p90_days",
        ]
        func serviceLine(_ r: ServiceRow) -> [String] {
            [
                r.id, r.name, r.category, t(r.addressed), t(r.received), t(r.contacted), t(r.accepted), t(r.declined),
                t(r.unableToContact), t(r.attending), t(r.didNotAttend), t(r.completed), d(r.acceptanceRate),
                d(r.toAddressed.medianDays), d(r.toAddressed.p90Days), d(r.toFirstContact.medianDays),
                d(r.toFirstContact.p90Days), d(r.toAcceptance.medianDays), d(r.toAcceptance.p90Days),
            ]
        }
        files.append(("services.csv", [serviceHeader] + services.map(serviceLine)))
        files.append(("categories.csv", [serviceHeader] + categories.map(serviceLine)))
        files.append(
            (
                "decline_reasons.csv",
                [["service", "reason", "referrals"]] + declineReasons.map { [$0.service, $0.reason, t($0.count)] }
            ))
        files.append(
            (
                "first_contact.csv",
                [["days_to_first_contact", "referrals"]] + firstContact.map { [$0.name, t($0.count)] }
            ))
        files.append(
            (
                "outcomes_ons4.csv",
                [["item", "better_is", "people", "mean_before", "mean_after", "mean_change", "mean_improvement"]]
                    + outcomes.items.map {
                        [
                            $0.item, $0.betterIs, t(outcomes.people), d($0.meanBefore), d($0.meanAfter),
                            d($0.meanChange),
                            d($0.meanImprovement),
                        ]
                    }
            ))
        files.append(
            (
                "outcomes_improved.csv",
                [
                    ["people", "improved", "improved_share"],
                    [t(outcomes.people), t(outcomes.improved), d(outcomes.improvedShare)],
                ]
            ))
        files.append(
            (
                "capacity_by_day.csv",
                [["service_id", "service", "day", "available", "maximum"]]
                    + capacity.flatMap { c in
                        c.points.map { [c.service, c.name, $0.day, String($0.available), String($0.maximum)] }
                    }
            ))
        files.append(
            (
                "capacity_summary.csv",
                [["service_id", "service", "unit", "days_at_zero", "days_stale", "days_unknown"]]
                    + capacity.map {
                        [
                            $0.service, $0.name, $0.unit, String($0.daysAtZero), String($0.daysStale),
                            String($0.daysUnknown),
                        ]
                    }
            ))
        files.append(
            ("snomed_ct.csv", [["code", "term", "referrals"]] + snomed.map { [$0.code, $0.term, t($0.count)] }))
        return files.map { name, rows in
            (name, rows.map { $0.map(Self.csvField).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n")
        }
    }

    /// A CSV field: quoted when it holds a comma, quote or line break; a leading = + - @ is
    /// escaped with a quote mark so a spreadsheet does not run it as a formula.
    static func csvField(_ s: String) -> String {
        var v = s
        if let first = v.first, "=+-@".contains(first), Double(v) == nil { v = "'" + v }
        guard v.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" }) else { return v }
        return "\"" + v.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    // MARK: HTML

    static func escape(_ s: String) -> String { EscapedText.html(s) }

    /// The report's body (charts and tables), for `html()` and the console's report page.
    public func htmlBody() -> String {
        var h = ""
        let e = Self.escape
        h +=
            "<p class=\"lede\">Referrals made from \(e(from)) to \(e(to)): <strong>\(e(referrals.text))</strong>.</p>\n"
        h += "<ul class=\"notes\">" + notes.map { "<li>\(e($0))</li>" }.joined() + "</ul>\n"

        h += "<h2>Referrals by need</h2>\n"
        var needBars: [(String, Tally, String?)] = []
        for d in byDriver where d.referrals.value > 0 {
            for n in d.needs { needBars.append((n.name, n.count, d.driver)) }
        }
        h += Self.barChart(id: "chart-needs", title: "Referrals by need, under the driver each answers", bars: needBars)
        h += Self.table(["driver", "referrals"], byDriver.map { [$0.driver, $0.referrals.text] })

        h += "<h2>From referral to completion</h2>\n"
        h += Self.barChart(
            id: "chart-funnel", title: "Referrals that reached each step", bars: funnel.map { ($0.name, $0.count, nil) }
        )
        h += "<h2>Time to first contact</h2>\n"
        h += Self.columnChart(
            id: "chart-first-contact", title: "Days from the referral being made to the first contact",
            bars: firstContact.map { ($0.name, $0.count) })

        h += "<h2>Services</h2>\n"
        func timing(_ t: Timing) -> String {
            t.medianDays.map { "\(Self.number($0)) / \(t.p90Days.map(Self.number) ?? "-")" } ?? "–"
        }
        let serviceRows = services.map { r in
            [
                r.name, r.category.replacingOccurrences(of: "_", with: " "), r.addressed.text, r.accepted.text,
                r.declined.text, r.unableToContact.text, r.didNotAttend.text, r.completed.text,
                r.acceptanceRate.map { "\(Int(($0 * 100).rounded()))%" } ?? "–", timing(r.toAddressed),
                timing(r.toFirstContact), timing(r.toAcceptance),
            ]
        }
        let header = [
            "service", "category", "addressed", "accepted", "declined", "unable to contact", "did not attend",
            "completed", "accepted of addressed", "days to addressed (median / 90th)", "days to first contact",
            "days to acceptance",
        ]
        h += Self.table(header, serviceRows)
        h += "<h3>By category</h3>\n"
        h += Self.table(
            ["category"] + header.dropFirst(2),
            categories.map { r in
                [
                    r.name, r.addressed.text, r.accepted.text, r.declined.text, r.unableToContact.text,
                    r.didNotAttend.text, r.completed.text,
                    r.acceptanceRate.map { "\(Int(($0 * 100).rounded()))%" } ?? "–", timing(r.toAddressed),
                    timing(r.toFirstContact), timing(r.toAcceptance),
                ]
            })
        if !declineReasons.isEmpty {
            h += "<h3>Declined, with reasons</h3>\n"
            h += Self.table(
                ["service", "reason", "referrals"], declineReasons.map { [$0.service, $0.reason, $0.count.text] })
        }

        h += "<h2>Wellbeing (ONS4)</h2>\n"
        h += Self.ons4Chart(id: "chart-ons4", outcomes)
        h += Self.table(
            ["item", "better", "mean before", "mean after", "change", "improvement"],
            outcomes.items.map {
                [
                    $0.item, $0.betterIs, $0.meanBefore.map(Self.number2) ?? "–", $0.meanAfter.map(Self.number2) ?? "–",
                    $0.meanChange.map(Self.signed) ?? "–", $0.meanImprovement.map(Self.signed) ?? "–",
                ]
            })
        h +=
            "<p>People with scores before and after: \(e(outcomes.people.text)); improved: \(e(outcomes.improved.text))"
            + (outcomes.improvedShare.map { " (\(Int(($0 * 100).rounded()))%)" } ?? "") + ". \(e(outcomes.note))</p>\n"

        h += "<h2>Capacity over time</h2>\n"
        h += Self.capacityChart(id: "chart-capacity", capacity)
        h += Self.table(
            ["service", "days at zero", "days stale", "days without figures"],
            capacity.map { [$0.name, String($0.daysAtZero), String($0.daysStale), String($0.daysUnknown)] })

        h += "<h2>By practice and month</h2>\n"
        h += Self.table(["practice", "referrals"], byPractice.map { [$0.name, $0.count.text] })
        h += Self.table(["month", "referrals"], byMonth.map { [$0.name, $0.count.text] })
        h += "<h2>SNOMED CT</h2>\n<p>\(e(snomedSource)).</p>\n"
        h += Self.table(["code", "term", "referrals"], snomed.map { [$0.code, $0.term, $0.count.text] })
        return h
    }

    /// A self-contained page: the body with its own styles; no script, no external resource.
    public func html() -> String {
        """
        <!DOCTYPE html>
        <html lang="en-GB">
        <head>
        <meta charset="utf-8"/>
        <meta name="viewport" content="width=device-width, initial-scale=1"/>
        <title>Social prescribing report: \(Self.escape(node)), \(Self.escape(from)) to \(Self.escape(to))</title>
        <style>\(Self.style)</style>
        </head>
        <body>
        <main>
        <h1>Social prescribing report: \(Self.escape(node)) (\(Self.escape(role)))</h1>
        \(htmlBody())
        <p class="small">Made by spsync at \(Self.escape(generated)).</p>
        </main>
        </body>
        </html>

        """
    }

    public static let style = """
        body{font-family:system-ui,-apple-system,"Segoe UI",Arial,sans-serif;color:#212b32;margin:0;background:#f0f4f5}
        main{max-width:60rem;margin:0 auto;padding:1rem;background:#fff}
        h1{font-size:1.6rem}h2{font-size:1.3rem;margin-top:2rem;border-bottom:2px solid #005eb8}
        table{border-collapse:collapse;margin:.8rem 0;font-size:.9rem}th,td{border:1px solid #d8dde0;padding:.25rem .5rem;text-align:left}
        .wide{overflow-x:auto}td.n{text-align:right}.notes li{margin:.2rem 0}.small{font-size:.8rem;color:#4c6272}
        svg{max-width:100%;height:auto;display:block;margin:.5rem 0}svg text{font-size:12px;fill:#212b32}
        """

    static func number2(_ d: Double) -> String { String(format: "%.2f", d) }

    static func table(_ header: [String], _ rows: [[String]]) -> String {
        var h =
            "<div class=\"wide\"><table><thead><tr>" + header.map { "<th scope=\"col\">\(escape($0))</th>" }.joined()
            + "</tr></thead><tbody>"
        for r in rows {
            h += "<tr>" + r.map { "<td>\(escape($0))</td>" }.joined() + "</tr>"
        }
        return h + "</tbody></table></div>\n"
    }

    static let palette = ["#005eb8", "#007f3b", "#ae2573", "#ffb81c", "#330072", "#da291c", "#00a499", "#425563"]

    /// Horizontal bars, one per row, labelled with the count ("<5" for a suppressed one, drawn
    /// as a dashed outline, since its size is not shown).
    static func barChart(id: String, title: String, bars: [(String, Tally, String?)]) -> String {
        let rowHeight = 22, labelWidth = 210, width = 720, chart = width - labelWidth - 60
        var groups: [String] = []
        for bar in bars { if let g = bar.2, !groups.contains(g) { groups.append(g) } }
        let height = max(1, bars.count) * rowHeight + 40 + (groups.isEmpty ? 0 : 20 * ((groups.count + 2) / 3))
        let top = bars.map(\.1.value).max() ?? 0
        var s =
            "<svg id=\"\(id)\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" aria-labelledby=\"\(id)-title\">"
        s += "<title id=\"\(id)-title\">\(escape(title))</title>"
        for (i, bar) in bars.enumerated() {
            let y = 10 + i * rowHeight
            let colour =
                bar.2.flatMap { g in groups.firstIndex(of: g) }.map { palette[$0 % palette.count] } ?? palette[0]
            s += "<text x=\"\(labelWidth - 6)\" y=\"\(y + 15)\" text-anchor=\"end\">\(escape(bar.0))</text>"
            if bar.1.suppressed {
                s +=
                    "<rect x=\"\(labelWidth)\" y=\"\(y + 3)\" width=\"12\" height=\"\(rowHeight - 6)\" fill=\"none\" stroke=\"\(colour)\" stroke-dasharray=\"2,2\"/>"
                s += "<text x=\"\(labelWidth + 18)\" y=\"\(y + 15)\">&lt;5</text>"
            } else {
                let w = top > 0 ? max(bar.1.value > 0 ? 1 : 0, bar.1.value * chart / top) : 0
                s +=
                    "<rect x=\"\(labelWidth)\" y=\"\(y + 3)\" width=\"\(w)\" height=\"\(rowHeight - 6)\" fill=\"\(colour)\"/>"
                s += "<text x=\"\(labelWidth + w + 6)\" y=\"\(y + 15)\">\(bar.1.value)</text>"
            }
        }
        // The legend: which driver each colour is.
        for (i, g) in groups.enumerated() {
            let x = 10 + (i % 3) * 240, y = 10 + bars.count * rowHeight + 14 + (i / 3) * 20
            s += "<rect x=\"\(x)\" y=\"\(y - 10)\" width=\"12\" height=\"12\" fill=\"\(palette[i % palette.count])\"/>"
            let short = g.components(separatedBy: " (").first ?? g
            s += "<text x=\"\(x + 18)\" y=\"\(y)\">\(escape(short))</text>"
        }
        return s + "</svg>\n"
    }

    /// Vertical columns, one per band.
    static func columnChart(id: String, title: String, bars: [(String, Tally)]) -> String {
        let width = 720, height = 260, base = 220, columnWidth = 90, gap = 20
        let top = bars.map(\.1.value).max() ?? 0
        var s =
            "<svg id=\"\(id)\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" aria-labelledby=\"\(id)-title\">"
        s += "<title id=\"\(id)-title\">\(escape(title))</title>"
        s += "<line x1=\"20\" y1=\"\(base)\" x2=\"\(width - 10)\" y2=\"\(base)\" stroke=\"#425563\"/>"
        for (i, bar) in bars.enumerated() {
            let x = 30 + i * (columnWidth + gap)
            let h = bar.1.suppressed || top == 0 ? 0 : bar.1.value * 180 / top
            s += "<rect x=\"\(x)\" y=\"\(base - h)\" width=\"\(columnWidth)\" height=\"\(h)\" fill=\"\(palette[0])\"/>"
            s +=
                "<text x=\"\(x + columnWidth / 2)\" y=\"\(base - h - 6)\" text-anchor=\"middle\">\(escape(bar.1.text))</text>"
            s += "<text x=\"\(x + columnWidth / 2)\" y=\"\(base + 18)\" text-anchor=\"middle\">\(escape(bar.0))</text>"
        }
        return s + "</svg>\n"
    }

    /// Mean ONS4 scores before and after, per item, 0–10.
    static func ons4Chart(id: String, _ o: Outcomes) -> String {
        let width = 720, height = 280, base = 230, scale = 18
        var s =
            "<svg id=\"\(id)\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" aria-labelledby=\"\(id)-title\">"
        s += "<title id=\"\(id)-title\">ONS4 mean scores before and after (0–10); anxiety is better lower</title>"
        s += "<line x1=\"40\" y1=\"\(base)\" x2=\"\(width - 10)\" y2=\"\(base)\" stroke=\"#425563\"/>"
        for tick in stride(from: 0, through: 10, by: 2) {
            s += "<text x=\"32\" y=\"\(base - tick * scale + 4)\" text-anchor=\"end\">\(tick)</text>"
        }
        for (i, item) in o.items.enumerated() {
            let x = 60 + i * 165
            for (j, value) in [item.meanBefore, item.meanAfter].enumerated() {
                let h = Int(((value ?? 0) * Double(scale)).rounded())
                let colour = j == 0 ? "#768692" : palette[0]
                s += "<rect x=\"\(x + j * 55)\" y=\"\(base - h)\" width=\"50\" height=\"\(h)\" fill=\"\(colour)\"/>"
                s +=
                    "<text x=\"\(x + j * 55 + 25)\" y=\"\(base - h - 5)\" text-anchor=\"middle\">\(value.map(number2) ?? "–")</text>"
            }
            let label = item.item + (item.betterIs == "lower" ? " (lower is better)" : "")
            s += "<text x=\"\(x + 52)\" y=\"\(base + 18)\" text-anchor=\"middle\">\(escape(label))</text>"
        }
        s +=
            "<rect x=\"60\" y=\"\(height - 22)\" width=\"12\" height=\"12\" fill=\"#768692\"/><text x=\"78\" y=\"\(height - 12)\">before</text>"
        s +=
            "<rect x=\"150\" y=\"\(height - 22)\" width=\"12\" height=\"12\" fill=\"\(palette[0])\"/><text x=\"168\" y=\"\(height - 12)\">after</text>"
        return s + "</svg>\n"
    }

    /// Free places per service over the period, one line each, as a share of its places so
    /// services of different sizes share the axis; the legend gives each its maximum.
    static func capacityChart(id: String, _ series: [CapacitySeries]) -> String {
        let width = 720, plotHeight = 200, top = 20, left = 50, right = 20
        let legendRows = (series.count + 1) / 2
        let height = top + plotHeight + 40 + legendRows * 18
        let days = series.map(\.points.count).max() ?? 0
        var s =
            "<svg id=\"\(id)\" xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 \(width) \(height)\" role=\"img\" aria-labelledby=\"\(id)-title\">"
        s += "<title id=\"\(id)-title\">Free places over time, per service, as a share of its places</title>"
        let base = top + plotHeight
        s += "<line x1=\"\(left)\" y1=\"\(base)\" x2=\"\(width - right)\" y2=\"\(base)\" stroke=\"#425563\"/>"
        s += "<line x1=\"\(left)\" y1=\"\(top)\" x2=\"\(left)\" y2=\"\(base)\" stroke=\"#425563\"/>"
        for pct in [0, 50, 100] {
            s += "<text x=\"\(left - 6)\" y=\"\(base - pct * plotHeight / 100 + 4)\" text-anchor=\"end\">\(pct)%</text>"
        }
        if let first = series.first(where: { !$0.points.isEmpty }) {
            s += "<text x=\"\(left)\" y=\"\(base + 16)\">\(escape(first.points.first!.day))</text>"
            s +=
                "<text x=\"\(width - right)\" y=\"\(base + 16)\" text-anchor=\"end\">\(escape(first.points.last!.day))</text>"
        }
        let plotWidth = Double(width - left - right)
        for (i, c) in series.enumerated() {
            let colour = palette[i % palette.count]
            let offset = days - c.points.count
            let points = c.points.enumerated().map { k, p -> String in
                let x = Double(left) + plotWidth * Double(offset + k) / Double(max(1, days - 1))
                let share = p.maximum > 0 ? Double(p.available) / Double(p.maximum) : 0
                let y = Double(base) - share * Double(plotHeight)
                return String(format: "%.1f,%.1f", x, y)
            }
            if !points.isEmpty {
                s +=
                    "<polyline fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\" points=\"\(points.joined(separator: " "))\"/>"
            }
            let lx = left + (i % 2) * 330, ly = base + 34 + (i / 2) * 18
            s += "<rect x=\"\(lx)\" y=\"\(ly - 10)\" width=\"12\" height=\"12\" fill=\"\(colour)\"/>"
            let maximum = c.points.last?.maximum ?? 0
            s +=
                "<text x=\"\(lx + 18)\" y=\"\(ly)\">\(escape(String(c.name.prefix(32)))) (\(maximum) \(escape(c.unit)))</text>"
        }
        return s + "</svg>\n"
    }
}
