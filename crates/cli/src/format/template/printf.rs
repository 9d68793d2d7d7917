//! Go's `fmt.Sprint`, `Sprintln` and `Sprintf` over JSON values: the
//! verbs, flags, width and precision that templates use, and Go's
//! `%!verb(type=value)` marks for wrong, missing and extra arguments.

use super::exec::{float_text, to_text, type_name, Val};
use serde_json::Value;

/// `print` (spaces only between two non-strings) or `println` (spaces
/// between all, and a newline).
pub(super) fn sprint(args: &[Val], ln: bool) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        let v = a.json();
        if i > 0 && (ln || (!v.is_string() && !args[i - 1].json().is_string())) {
            out.push(' ');
        }
        out.push_str(&to_text(v));
    }
    if ln {
        out.push('\n');
    }
    out
}

#[derive(Default, Clone)]
struct Spec {
    minus: bool,
    plus: bool,
    sharp: bool,
    space: bool,
    zero: bool,
    width: Option<usize>,
    prec: Option<usize>,
}

pub(super) fn sprintf(format: &str, args: &[Val]) -> String {
    let mut out = String::new();
    let mut next = 0;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut spec = Spec::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => spec.minus = true,
                '+' => spec.plus = true,
                '#' => spec.sharp = true,
                ' ' => spec.space = true,
                '0' => spec.zero = true,
                _ => break,
            }
            chars.next();
        }
        let num = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>, next: &mut usize| {
            if chars.peek() == Some(&'*') {
                chars.next();
                let n = args.get(*next).and_then(|a| a.json().as_i64());
                *next += 1;
                return Some(n.and_then(|n| usize::try_from(n).ok()).unwrap_or(0));
            }
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(n.unwrap_or(0) * 10 + d as usize);
                chars.next();
            }
            n
        };
        spec.width = num(&mut chars, &mut next);
        if chars.peek() == Some(&'.') {
            chars.next();
            spec.prec = Some(num(&mut chars, &mut next).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.get(next) {
            None => out.push_str(&format!("%!{verb}(MISSING)")),
            Some(a) => {
                next += 1;
                format_value(&mut out, a.json(), &spec, verb);
            }
        }
    }
    if next < args.len() {
        out.push_str("%!(EXTRA ");
        let extra: Vec<String> = args[next..]
            .iter()
            .map(|a| match a.json() {
                Value::Null => "<nil>".to_owned(),
                v => format!("{}={}", type_name(v), to_text(v)),
            })
            .collect();
        out.push_str(&extra.join(", "));
        out.push(')');
    }
    out
}

fn bad(v: &Value, verb: char) -> String {
    match v {
        Value::Null => format!("%!{verb}(<nil>)"),
        v => format!("%!{verb}({}={})", type_name(v), to_text(v)),
    }
}

/// Pads `s` to the width, with zeros after any sign when asked.
fn pad(out: &mut String, s: &str, spec: &Spec, numeric: bool) {
    let len = s.chars().count();
    let w = spec.width.unwrap_or(0);
    if len >= w {
        out.push_str(s);
    } else if spec.minus {
        out.push_str(s);
        out.push_str(&" ".repeat(w - len));
    } else if spec.zero && numeric {
        let (sign, digits) = match s.strip_prefix(['-', '+']) {
            Some(d) => (&s[..1], d),
            None => ("", s),
        };
        out.push_str(sign);
        out.push_str(&"0".repeat(w - len));
        out.push_str(digits);
    } else {
        out.push_str(&" ".repeat(w - len));
        out.push_str(s);
    }
}

fn format_value(out: &mut String, v: &Value, spec: &Spec, verb: char) {
    match v {
        Value::Array(a) if verb != 'T' => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                format_value(out, x, spec, verb);
            }
            out.push(']');
        }
        Value::Object(m) if verb != 'T' => {
            out.push_str("map[");
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                format_value(out, &Value::String(k.clone()), spec, verb);
                out.push(':');
                format_value(out, x, spec, verb);
            }
            out.push(']');
        }
        _ => {
            let (s, numeric) = match scalar(v, spec, verb) {
                Some(r) => r,
                None => (bad(v, verb), false),
            };
            pad(out, &s, spec, numeric);
        }
    }
}

/// A scalar under a verb, and whether it is a number (zero-padded); None
/// when the verb does not apply to the value.
fn scalar(v: &Value, spec: &Spec, verb: char) -> Option<(String, bool)> {
    if verb == 'T' {
        return Some((type_name(v).to_owned(), false));
    }
    Some(match v {
        Value::Null if verb == 'v' => ("<nil>".to_owned(), false),
        Value::Bool(b) if matches!(verb, 'v' | 't') => (b.to_string(), false),
        Value::String(s) => match verb {
            'v' if spec.sharp => (quote(s), false),
            'v' | 's' => (truncate(s, spec.prec), false),
            'q' => (quote(&truncate(s, spec.prec)), false),
            'x' => (hex(s.as_bytes(), false), false),
            'X' => (hex(s.as_bytes(), true), false),
            _ => return None,
        },
        Value::Number(n) if !n.is_f64() => {
            let i = n.as_i64().map(i128::from).or(n.as_u64().map(i128::from))?;
            let sign = if i < 0 {
                "-"
            } else if spec.plus {
                "+"
            } else if spec.space {
                " "
            } else {
                ""
            };
            let a = i.unsigned_abs();
            let digits = match verb {
                'v' | 'd' => a.to_string(),
                'b' => format!("{a:b}"),
                'o' => format!("{}{a:o}", if spec.sharp { "0" } else { "" }),
                'O' => format!("0o{a:o}"),
                'x' => format!("{}{a:x}", if spec.sharp { "0x" } else { "" }),
                'X' => format!("{}{a:X}", if spec.sharp { "0X" } else { "" }),
                'c' => return Some((char::from_u32(u32::try_from(i).ok()?)?.to_string(), false)),
                'q' => {
                    return Some((
                        format!("'{}'", char::from_u32(u32::try_from(i).ok()?)?),
                        false,
                    ))
                }
                'U' => return Some((format!("U+{a:04X}"), false)),
                _ => return None,
            };
            (format!("{sign}{digits}"), true)
        }
        Value::Number(n) => {
            let f = n.as_f64()?;
            let sign = if spec.plus && f >= 0.0 { "+" } else { "" };
            let s = match (verb, spec.prec) {
                ('v' | 'g' | 'G', None) => float_text(f),
                ('v' | 'g' | 'G', Some(p)) => general(f, p),
                ('f' | 'F', p) => format!("{:.*}", p.unwrap_or(6), f),
                ('e' | 'E', p) => exp(f, p.unwrap_or(6)),
                _ => return None,
            };
            let s = if verb.is_ascii_uppercase() && verb != 'F' {
                s.to_uppercase()
            } else {
                s
            };
            (format!("{sign}{s}"), true)
        }
        _ => return None,
    })
}

fn truncate(s: &str, prec: Option<usize>) -> String {
    match prec {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_owned(),
    }
}

fn hex(b: &[u8], upper: bool) -> String {
    b.iter()
        .map(|b| {
            if upper {
                format!("{b:02X}")
            } else {
                format!("{b:02x}")
            }
        })
        .collect()
}

/// `%e` with `p` decimals: `1.234500e+03`.
fn exp(f: f64, p: usize) -> String {
    let s = format!("{f:.p$e}");
    match s.split_once('e') {
        Some((m, e)) => {
            let e: i32 = e.parse().unwrap_or(0);
            format!("{m}e{}{:02}", if e < 0 { '-' } else { '+' }, e.abs())
        }
        None => s,
    }
}

/// `%.pg`: `p` significant digits, exponent form for small and large
/// exponents, no trailing zeros.
fn general(f: f64, p: usize) -> String {
    let p = p.max(1);
    let e = format!("{f:.*e}", p - 1);
    let x: i32 = e
        .split_once('e')
        .and_then(|(_, x)| x.parse().ok())
        .unwrap_or(0);
    let trim = |s: String| {
        if s.contains('.') {
            s.trim_end_matches('0').trim_end_matches('.').to_owned()
        } else {
            s
        }
    };
    if x < -4 || x >= i32::try_from(p).unwrap_or(i32::MAX) {
        let (m, _) = e.split_once('e').unwrap_or((&e, ""));
        format!(
            "{}e{}{:02}",
            trim(m.to_owned()),
            if x < 0 { '-' } else { '+' },
            x.abs()
        )
    } else {
        let decimals = usize::try_from(i32::try_from(p).unwrap_or(0) - 1 - x).unwrap_or(0);
        trim(format!("{f:.decimals$}"))
    }
}

/// Go's strconv.Quote.
pub(super) fn quote(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\x0b' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            c if c.is_control() => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}
