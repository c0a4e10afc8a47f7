import Foundation
import SyncCore

/// Server-rendered HTML for the web console: escaped text, one page layout, forms that work without
/// JavaScript, readable on a phone (one column, large targets, visible focus, high contrast).
enum HTML {
    /// Text made safe for an element's content or a quoted attribute value.
    static func escape(_ text: String) -> String { EscapedText.html(text) }

    static let style = """
        body{font-family:system-ui,sans-serif;margin:0;color:#0b0c0c;background:#fff;line-height:1.5;font-size:1.1rem}
        header{background:#005eb8;color:#fff;padding:.75rem 1rem}
        header a{color:#fff;margin-right:1rem;font-weight:bold}
        main{max-width:48rem;margin:0 auto;padding:1rem}
        a{color:#003087}
        a:focus,button:focus,input:focus,select:focus,textarea:focus{outline:3px solid #ffb81c;outline-offset:2px}
        table{border-collapse:collapse;width:100%}
        th,td{text-align:left;padding:.4rem;border-bottom:1px solid #b1b4b6;vertical-align:top}
        button{font-size:1rem;padding:.5rem .9rem;margin:.2rem .2rem .2rem 0;border:2px solid #005eb8;background:#005eb8;color:#fff;border-radius:4px;cursor:pointer}
        button.secondary{background:#fff;color:#005eb8}
        input,select,textarea{font-size:1rem;padding:.4rem;border:2px solid #4c6272;border-radius:4px;max-width:100%}
        label{display:block;font-weight:bold;margin-top:.6rem}
        .card{border:1px solid #b1b4b6;border-radius:6px;padding:.8rem;margin:.8rem 0}
        .muted{color:#4c6272}
        .notice{border-left:6px solid #005eb8;padding:.5rem .8rem;background:#eef7ff}
        .problem{border-left:6px solid #d5281b;padding:.5rem .8rem;background:#fff4f4}
        @media (max-width:600px){th.optional,td.optional{display:none}}
        """

    /// A whole page.
    static func page(
        title: String, node: String, nav: Bool = true, notice: String? = nil, csrf: String? = nil, _ body: String
    ) -> String {
        let signOut =
            csrf.map {
                form(
                    "/logout", csrf: $0, "<button type=\"submit\" class=\"secondary\">Sign out</button>",
                    label: "Sign out")
            } ?? ""
        let links =
            nav
            ? """
            <nav aria-label="Main"><a href="/referrals">Referrals</a><a href="/services">Services</a>\
            <a href="/conflicts">Conflicts</a><a href="/report">Report</a><a href="/status">Sync status</a></nav>\(signOut)
            """ : ""
        let shown = notice.map { "<p class=\"notice\" role=\"status\">\(escape($0))</p>" } ?? ""
        return """
            <!doctype html>
            <html lang="en-GB"><head><meta charset="utf-8">
            <meta name="viewport" content="width=device-width, initial-scale=1">
            <title>\(escape(title)) — spsync \(escape(node))</title>
            <style>\(style)</style></head>
            <body><header><div>spsync · \(escape(node))</div>\(links)</header>
            <main><h1>\(escape(title))</h1>\(shown)\(body)</main></body></html>
            """
    }

    /// A form posting to `action` with the session's CSRF token.
    static func form(_ action: String, csrf: String, _ inner: String, label: String? = nil) -> String {
        let aria = label.map { " aria-label=\"\(escape($0))\"" } ?? ""
        return """
            <form method="post" action="\(escape(action))"\(aria)>\
            <input type="hidden" name="csrf" value="\(escape(csrf))">\(inner)</form>
            """
    }

    static func select(_ name: String, label: String, options: [(value: String, text: String)], selected: String?)
        -> String
    {
        let items = options.map { o in
            "<option value=\"\(escape(o.value))\"\(o.value == selected ? " selected" : "")>\(escape(o.text))</option>"
        }.joined()
        return
            "<label for=\"\(name)\">\(escape(label))</label><select id=\"\(name)\" name=\"\(name)\">\(items)</select>"
    }

    /// `application/x-www-form-urlencoded` into a dictionary (last value wins).
    static func formFields(_ body: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in body.split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func decode(_ s: Substring) -> String {
                String(s).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? ""
            }
            guard let key = parts.first else { continue }
            out[decode(key)] = parts.count > 1 ? decode(parts[1]) : ""
        }
        return out
    }
}
