//! The functions a docker `--format` template can call: Go's builtins and
//! the ones docker adds (`json`, `join`, `split`, `title`, `lower`,
//! `upper`, `pad`, `truncate`).

use super::exec::{to_text, truthy, type_name, Val};
use super::printf::{sprint, sprintf};
use serde_json::Value;
use std::cmp::Ordering;

const FUNCTIONS: &[&str] = &[
    "and", "or", "not", "len", "index", "slice", "print", "printf", "println", "html", "js",
    "urlquery", "eq", "ne", "lt", "le", "gt", "ge", "call", "json", "split", "join", "title",
    "lower", "upper", "pad", "truncate",
];

pub(super) fn is_function(name: &str) -> bool {
    FUNCTIONS.contains(&name)
}

type Result<T> = std::result::Result<T, String>;

/// An error a function returns (Go prefixes it with the function's name).
fn fail(name: &str, msg: impl std::fmt::Display) -> String {
    format!("error calling {name}: {msg}")
}

fn want(name: &str, args: &[Val], n: usize) -> Result<()> {
    if args.len() == n {
        Ok(())
    } else {
        Err(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        ))
    }
}

fn string_arg(v: &Val) -> Result<String> {
    match v.json() {
        Value::String(s) => Ok(s.clone()),
        other => Err(format!("expected string; found {}", to_text(other))),
    }
}

fn int_arg(v: &Val) -> Result<i64> {
    match v.json() {
        Value::Number(n) if n.is_i64() || n.is_u64() => Ok(n.as_i64().unwrap_or(i64::MAX)),
        other => Err(format!("expected integer; found {}", to_text(other))),
    }
}

fn text(s: String) -> Val {
    Val::J(Value::String(s))
}

pub(super) fn call(name: &str, args: Vec<Val>) -> Result<Val> {
    Ok(match name {
        "not" => {
            want(name, &args, 1)?;
            Val::J(Value::Bool(!truthy(&args[0])))
        }
        "len" => {
            want(name, &args, 1)?;
            Val::J(Value::from(match args[0].json() {
                Value::String(s) => s.len(),
                Value::Array(a) => a.len(),
                Value::Object(m) => m.len(),
                Value::Null => 0,
                other => return Err(fail(name, format!("len of type {}", type_name(other)))),
            }))
        }
        "index" => {
            let (first, keys) = args
                .split_first()
                .ok_or_else(|| format!("wrong number of args for {name}: want at least 1 got 0"))?;
            let mut cur = first.clone().into_json();
            for k in keys {
                cur = index(cur, k.json()).map_err(|e| fail(name, e))?;
            }
            Val::J(cur)
        }
        "slice" => slice(&args).map_err(|e| fail(name, e))?,
        "print" => text(sprint(&args, false)),
        "println" => text(sprint(&args, true)),
        "printf" => {
            let (f, rest) = args
                .split_first()
                .ok_or_else(|| format!("wrong number of args for {name}: want at least 1 got 0"))?;
            text(sprintf(&string_arg(f)?, rest))
        }
        "html" => text(html(&sprint(&args, false))),
        "js" => text(js(&sprint(&args, false))),
        "urlquery" => text(urlquery(&sprint(&args, false))),
        "eq" => {
            if args.len() < 2 {
                return Err(fail(name, "missing argument for comparison"));
            }
            let mut found = false;
            for b in &args[1..] {
                if equal(&args[0], b).map_err(|e| fail(name, e))? {
                    found = true;
                    break;
                }
            }
            Val::J(Value::Bool(found))
        }
        "ne" => {
            want(name, &args, 2)?;
            Val::J(Value::Bool(
                !equal(&args[0], &args[1]).map_err(|e| fail(name, e))?,
            ))
        }
        "lt" | "le" | "gt" | "ge" => {
            want(name, &args, 2)?;
            let o = order(&args[0], &args[1]).map_err(|e| fail(name, e))?;
            Val::J(Value::Bool(match name {
                "lt" => o == Ordering::Less,
                "le" => o != Ordering::Greater,
                "gt" => o == Ordering::Greater,
                _ => o != Ordering::Less,
            }))
        }
        "call" => return Err(fail(name, "template data holds no functions to call")),
        // docker's encoder does not escape HTML here (unlike `--format json`).
        "json" => {
            want(name, &args, 1)?;
            text(args[0].json().to_string())
        }
        "split" => {
            want(name, &args, 2)?;
            let (s, sep) = (string_arg(&args[0])?, string_arg(&args[1])?);
            let parts: Vec<Value> = if sep.is_empty() {
                s.chars().map(|c| Value::String(c.into())).collect()
            } else {
                s.split(sep.as_str())
                    .map(|p| Value::String(p.into()))
                    .collect()
            };
            Val::J(Value::Array(parts))
        }
        "join" => {
            want(name, &args, 2)?;
            let items: Vec<String> = match args[0].json() {
                Value::Array(a) => a
                    .iter()
                    .map(|x| match x {
                        Value::String(s) => Ok(s.clone()),
                        _ => Err(format!(
                            "wrong type for value; expected []string; got {}",
                            type_name(args[0].json())
                        )),
                    })
                    .collect::<Result<_>>()?,
                Value::Null => vec![],
                other => {
                    return Err(format!(
                        "wrong type for value; expected []string; got {}",
                        type_name(other)
                    ))
                }
            };
            text(items.join(&string_arg(&args[1])?))
        }
        "title" | "lower" | "upper" => {
            want(name, &args, 1)?;
            let s = string_arg(&args[0])?;
            text(match name {
                "title" => title(&s),
                "lower" => s.to_lowercase(),
                _ => s.to_uppercase(),
            })
        }
        "pad" => {
            want(name, &args, 3)?;
            let s = string_arg(&args[0])?;
            let (l, r) = (int_arg(&args[1])?, int_arg(&args[2])?);
            let sp = |n: i64| " ".repeat(usize::try_from(n).unwrap_or(0));
            text(format!("{}{s}{}", sp(l), sp(r)))
        }
        "truncate" => {
            want(name, &args, 2)?;
            let s = string_arg(&args[0])?;
            let n = usize::try_from(int_arg(&args[1])?).unwrap_or(0);
            text(s.chars().take(n).collect())
        }
        other => return Err(format!("function {other:?} not defined")),
    })
}

fn index(cur: Value, k: &Value) -> Result<Value> {
    Ok(match (cur, k) {
        (Value::Object(mut m), Value::String(k)) => match m.remove(k) {
            Some(v) => v,
            // A missing key gives the map's zero value: "" for string
            // maps (labels), nil otherwise.
            None if m.values().all(Value::is_string) => Value::String(String::new()),
            None => Value::Null,
        },
        (Value::Object(_), other) => {
            return Err(format!(
                "value has type {}; should be string",
                type_name(other)
            ))
        }
        (Value::Null, _) => Value::Null,
        (Value::Array(a), Value::Number(n)) => {
            let i = n
                .as_i64()
                .ok_or_else(|| format!("cannot index slice/array with type {}", type_name(k)))?;
            usize::try_from(i)
                .ok()
                .and_then(|i| a.get(i).cloned())
                .ok_or_else(|| format!("index out of range: {i}"))?
        }
        (Value::String(s), Value::Number(n)) => {
            let i = n
                .as_i64()
                .ok_or_else(|| format!("cannot index string with type {}", type_name(k)))?;
            usize::try_from(i)
                .ok()
                .and_then(|i| s.as_bytes().get(i).copied())
                .map(Value::from)
                .ok_or_else(|| format!("index out of range: {i}"))?
        }
        (Value::Array(_) | Value::String(_), other) => {
            return Err(format!(
                "cannot index slice/array with type {}",
                type_name(other)
            ))
        }
        (other, _) => return Err(format!("can't index item of type {}", type_name(&other))),
    })
}

fn slice(args: &[Val]) -> Result<Val> {
    let (first, idx) = args
        .split_first()
        .ok_or_else(|| "wrong number of args for slice: want at least 1 got 0".to_owned())?;
    let len = match first.json() {
        Value::String(s) => {
            if idx.len() > 2 {
                return Err("cannot 3-index slice a string".into());
            }
            s.len()
        }
        Value::Array(a) => a.len(),
        other => return Err(format!("can't slice item of type {}", type_name(other))),
    };
    if idx.len() > 3 {
        return Err(format!("too many slice indexes: {}", idx.len()));
    }
    let mut bounds = Vec::new();
    for v in idx {
        let i = int_arg(v)?;
        let u = usize::try_from(i)
            .ok()
            .filter(|&u| u <= len)
            .ok_or_else(|| format!("index out of range: {i}"))?;
        bounds.push(u);
    }
    let lo = bounds.first().copied().unwrap_or(0);
    let hi = bounds.get(1).copied().unwrap_or(len);
    if lo > hi {
        return Err(format!("invalid slice index: {lo} > {hi}"));
    }
    Ok(Val::J(match first.json() {
        Value::String(s) => {
            Value::String(String::from_utf8_lossy(&s.as_bytes()[lo..hi]).into_owned())
        }
        Value::Array(a) => Value::Array(a[lo..hi].to_vec()),
        _ => Value::Null,
    }))
}

/// Go's basic kinds, for comparisons.
#[derive(PartialEq, Debug)]
enum Kind {
    Bool,
    Int,
    Float,
    Str,
    Other,
}

fn kind(v: &Value) -> Kind {
    match v {
        Value::Bool(_) => Kind::Bool,
        Value::Number(n) if n.is_f64() => Kind::Float,
        Value::Number(_) => Kind::Int,
        Value::String(_) => Kind::Str,
        _ => Kind::Other,
    }
}

fn equal(a: &Val, b: &Val) -> Result<bool> {
    let (a, b) = (a.json(), b.json());
    if a.is_null() || b.is_null() {
        return Ok(a.is_null() && b.is_null());
    }
    let (ka, kb) = (kind(a), kind(b));
    if ka != kb {
        return Err("incompatible types for comparison".into());
    }
    if ka == Kind::Other {
        return Err(format!(
            "non-comparable type {}: {}",
            to_text(b),
            type_name(b)
        ));
    }
    Ok(match (a, b) {
        (Value::Number(x), Value::Number(y)) if ka == Kind::Int => {
            x.as_i64().zip(y.as_i64()).map_or(x == y, |(x, y)| x == y)
        }
        (Value::Number(x), Value::Number(y)) => x.as_f64() == y.as_f64(),
        _ => a == b,
    })
}

fn order(a: &Val, b: &Val) -> Result<Ordering> {
    let (a, b) = (a.json(), b.json());
    let (ka, kb) = (kind(a), kind(b));
    if matches!(ka, Kind::Bool | Kind::Other) || matches!(kb, Kind::Bool | Kind::Other) {
        return Err("invalid type for comparison".into());
    }
    if ka != kb {
        return Err("incompatible types for comparison".into());
    }
    Ok(match (a, b) {
        (Value::String(x), Value::String(y)) => x.cmp(y),
        (Value::Number(x), Value::Number(y)) => match (x.as_i64(), y.as_i64()) {
            (Some(x), Some(y)) => x.cmp(&y),
            _ => x
                .as_f64()
                .zip(y.as_f64())
                .and_then(|(x, y)| x.partial_cmp(&y))
                .unwrap_or(Ordering::Equal),
        },
        _ => Ordering::Equal,
    })
}

/// Go's strings.Title: upper-cases the first letter of each word, a word
/// being separated by anything but letters, digits and `_`.
fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut prev_sep = true;
    for c in s.chars() {
        if prev_sep {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        prev_sep = !(c.is_alphanumeric() || c == '_');
    }
    out
}

fn html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '\'' => out.push_str("&#39;"),
            '"' => out.push_str("&#34;"),
            '\0' => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

fn js(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("\\'"),
            '"' => out.push_str("\\\""),
            '<' | '>' | '&' | '=' | '`' => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c if c < ' ' => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out
}

fn urlquery(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(char::from(b))
            }
            b' ' => out.push('+'),
            b => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
