//! JSON as the docker CLI prints it: Go's encoder escapes `<`, `>` and
//! `&` (so `<none>` is `\u003cnone\u003e`), and `inspect` re-indents the
//! daemon's JSON with four spaces, keeping its field order.

/// Compact JSON of `v` with Go's HTML escaping.
pub fn go_json(v: &serde_json::Value) -> String {
    go_escape(&v.to_string())
}

/// Applies Go's HTML-safe escapes to JSON text (the characters only occur
/// inside strings, so a plain replacement is exact).
pub fn go_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Go's `json.Indent(dst, src, "", indent)`: re-indents compact or
/// indented JSON without reordering; empty arrays and objects stay `[]`
/// and `{}`.
pub fn indent(src: &str, indent: &str) -> String {
    let mut out = String::with_capacity(src.len() * 2);
    let mut depth = 0usize;
    let mut in_str = false;
    let mut escaped = false;
    // An opening bracket whose newline is held back until we know it is
    // not empty.
    let mut pending_open = false;
    let newline = |out: &mut String, depth: usize| {
        out.push('\n');
        for _ in 0..depth {
            out.push_str(indent);
        }
    };
    for c in src.chars() {
        if in_str {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_str = false;
            }
            continue;
        }
        if c.is_whitespace() {
            continue;
        }
        if pending_open {
            pending_open = false;
            if c == ']' || c == '}' {
                depth -= 1;
                out.push(c);
                continue;
            }
            newline(&mut out, depth);
        }
        match c {
            '"' => {
                in_str = true;
                out.push(c);
            }
            '[' | '{' => {
                out.push(c);
                depth += 1;
                pending_open = true;
            }
            ']' | '}' => {
                depth = depth.saturating_sub(1);
                newline(&mut out, depth);
                out.push(c);
            }
            ',' => {
                out.push(c);
                newline(&mut out, depth);
            }
            ':' => out.push_str(": "),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn indents_like_go() {
        let src = r#"{"Id":"x","Tags":[],"M":{},"L":["a","b"],"S":"q\"[,]"}"#;
        assert_eq!(
            indent(src, "    "),
            "{\n    \"Id\": \"x\",\n    \"Tags\": [],\n    \"M\": {},\n    \"L\": [\n        \"a\",\n        \"b\"\n    ],\n    \"S\": \"q\\\"[,]\"\n}"
        );
        assert_eq!(indent("[ ]", "  "), "[]");
    }

    #[test]
    fn escapes_like_go() {
        let v = serde_json::json!({"Tag": "<none>", "A": "a&b"});
        assert_eq!(go_json(&v), r#"{"A":"a\u0026b","Tag":"\u003cnone\u003e"}"#);
    }
}
