//! A small Go `text/template` for `--format`: text and `{{ }}` actions
//! with field chains (`.Repository`, `.Config.Env`), pipelines (`|`),
//! parentheses, string and number literals, `if`/`else`/`end`,
//! `range`/`end`, trim markers (`{{-`, `-}}`), and the functions docker
//! adds: `json`, `join`, `index`, `upper`, `lower`, `title`, `split`,
//! `truncate`, `pad`, `println`, `len`, `eq`, `ne`, `not`.
//! Data is JSON; values print as Go's `%v` prints them.

use super::json::go_json;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    #[error("template parsing error: {0}")]
    Parse(String),
    #[error("template: executing: {0}")]
    Exec(String),
}

type Result<T> = std::result::Result<T, TemplateError>;

#[derive(Debug, Clone, PartialEq)]
enum Arg {
    /// `.A.B` (empty: `.`).
    Field(Vec<String>),
    Str(String),
    Num(i64),
    Bool(bool),
    Func(String),
    Sub(Vec<Vec<Arg>>),
}

type Pipeline = Vec<Vec<Arg>>;

#[derive(Debug, Clone, PartialEq)]
enum Node {
    Text(String),
    Action(Pipeline),
    If(Pipeline, Vec<Node>, Vec<Node>),
    Range(Pipeline, Vec<Node>, Vec<Node>),
}

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    nodes: Vec<Node>,
}

enum Piece {
    Text(String),
    Action(String),
}

/// Splits text and actions, applying trim markers.
fn lex(src: &str) -> Result<Vec<Piece>> {
    let mut out = Vec::new();
    let mut rest = src;
    let mut trim_next = false;
    while let Some(i) = rest.find("{{") {
        let mut text = &rest[..i];
        if trim_next {
            text = text.trim_start();
        }
        let after = &rest[i + 2..];
        let (trim_prev, after) = match after.strip_prefix("- ") {
            Some(a) => (true, a),
            None => (false, after),
        };
        if trim_prev {
            text = text.trim_end();
        }
        if !text.is_empty() {
            out.push(Piece::Text(text.to_owned()));
        }
        let end =
            find_close(after).ok_or_else(|| TemplateError::Parse("unclosed action".into()))?;
        let mut body = &after[..end];
        trim_next = false;
        if let Some(b) = body.strip_suffix(" -") {
            body = b;
            trim_next = true;
        }
        out.push(Piece::Action(body.trim().to_owned()));
        rest = &after[end + 2..];
    }
    let text = if trim_next { rest.trim_start() } else { rest };
    if !text.is_empty() {
        out.push(Piece::Text(text.to_owned()));
    }
    Ok(out)
}

/// The index of the `}}` closing an action, skipping string literals.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    let mut quote: Option<u8> = None;
    while i < b.len() {
        match quote {
            Some(q) => {
                if b[i] == b'\\' && q == b'"' {
                    i += 1;
                } else if b[i] == q {
                    quote = None;
                }
            }
            None => {
                if b[i] == b'"' || b[i] == b'`' {
                    quote = Some(b[i]);
                } else if b[i..].starts_with(b"}}") {
                    return Some(i);
                }
            }
        }
        i += 1;
    }
    None
}

/// Tokenizes and parses the inside of an action into a pipeline.
fn parse_pipeline(s: &str) -> Result<Pipeline> {
    let toks = tokenize(s)?;
    let mut pos = 0;
    let p = pipeline(&toks, &mut pos)?;
    if pos != toks.len() {
        return Err(TemplateError::Parse(format!(
            "unexpected {:?} in {s:?}",
            toks[pos]
        )));
    }
    if p.is_empty() || p.iter().any(Vec::is_empty) {
        return Err(TemplateError::Parse(format!("missing value in {s:?}")));
    }
    Ok(p)
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Arg(Arg),
    Pipe,
    Open,
    Close,
}

fn tokenize(s: &str) -> Result<Vec<Tok>> {
    let cs: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < cs.len() {
        let c = cs[i];
        match c {
            c if c.is_whitespace() => i += 1,
            '|' => {
                out.push(Tok::Pipe);
                i += 1;
            }
            '(' => {
                out.push(Tok::Open);
                i += 1;
            }
            ')' => {
                out.push(Tok::Close);
                i += 1;
            }
            '"' => {
                let mut v = String::new();
                i += 1;
                loop {
                    let Some(&c) = cs.get(i) else {
                        return Err(TemplateError::Parse("unterminated string".into()));
                    };
                    i += 1;
                    match c {
                        '"' => break,
                        '\\' => {
                            let e = cs.get(i).copied().unwrap_or('\\');
                            i += 1;
                            v.push(match e {
                                'n' => '\n',
                                't' => '\t',
                                other => other,
                            });
                        }
                        c => v.push(c),
                    }
                }
                out.push(Tok::Arg(Arg::Str(v)));
            }
            '`' => {
                let start = i + 1;
                let end = cs[start..]
                    .iter()
                    .position(|&c| c == '`')
                    .ok_or_else(|| TemplateError::Parse("unterminated raw string".into()))?;
                out.push(Tok::Arg(Arg::Str(cs[start..start + end].iter().collect())));
                i = start + end + 1;
            }
            _ => {
                let start = i;
                while i < cs.len() && !cs[i].is_whitespace() && !matches!(cs[i], '|' | '(' | ')') {
                    i += 1;
                }
                let w: String = cs[start..i].iter().collect();
                let arg = if w == "." {
                    Arg::Field(vec![])
                } else if let Some(f) = w.strip_prefix('.') {
                    Arg::Field(f.split('.').map(str::to_owned).collect())
                } else if let Ok(n) = w.parse::<i64>() {
                    Arg::Num(n)
                } else if w == "true" || w == "false" {
                    Arg::Bool(w == "true")
                } else if w.chars().all(|c| c.is_alphanumeric() || c == '_') {
                    Arg::Func(w)
                } else {
                    return Err(TemplateError::Parse(format!("unexpected {w:?}")));
                };
                out.push(Tok::Arg(arg));
            }
        }
    }
    Ok(out)
}

fn pipeline(toks: &[Tok], pos: &mut usize) -> Result<Pipeline> {
    let mut cmds = vec![Vec::new()];
    while *pos < toks.len() {
        match &toks[*pos] {
            Tok::Pipe => cmds.push(Vec::new()),
            Tok::Close => break,
            Tok::Open => {
                *pos += 1;
                let sub = pipeline(toks, pos)?;
                if toks.get(*pos) != Some(&Tok::Close) {
                    return Err(TemplateError::Parse("unclosed left paren".into()));
                }
                if let Some(last) = cmds.last_mut() {
                    last.push(Arg::Sub(sub));
                }
            }
            Tok::Arg(a) => {
                if let Some(last) = cmds.last_mut() {
                    last.push(a.clone());
                }
            }
        }
        *pos += 1;
    }
    Ok(cmds)
}

impl Template {
    pub fn parse(src: &str) -> Result<Self> {
        let pieces = lex(src)?;
        let mut pos = 0;
        let (nodes, end) = Self::block(&pieces, &mut pos)?;
        if let Some(e) = end {
            return Err(TemplateError::Parse(format!("unexpected {{{{{e}}}}}")));
        }
        Ok(Self { nodes })
    }

    /// Parses nodes until `end`/`else` (returned) or the input's end.
    fn block(pieces: &[Piece], pos: &mut usize) -> Result<(Vec<Node>, Option<String>)> {
        let mut nodes = Vec::new();
        while *pos < pieces.len() {
            let p = &pieces[*pos];
            *pos += 1;
            match p {
                Piece::Text(t) => nodes.push(Node::Text(t.clone())),
                Piece::Action(a) if a == "end" || a == "else" => {
                    return Ok((nodes, Some(a.clone())))
                }
                Piece::Action(a) if a.starts_with("/*") => {}
                Piece::Action(a) => {
                    let (kw, rest) = a.split_once(char::is_whitespace).unwrap_or((a, ""));
                    if kw == "if" || kw == "range" {
                        let pl = parse_pipeline(rest)?;
                        let (then, end) = Self::block(pieces, pos)?;
                        let els = match end.as_deref() {
                            Some("else") => {
                                let (els, end) = Self::block(pieces, pos)?;
                                if end.as_deref() != Some("end") {
                                    return Err(TemplateError::Parse(format!(
                                        "missing end of {kw}"
                                    )));
                                }
                                els
                            }
                            Some("end") => vec![],
                            _ => return Err(TemplateError::Parse(format!("missing end of {kw}"))),
                        };
                        nodes.push(if kw == "if" {
                            Node::If(pl, then, els)
                        } else {
                            Node::Range(pl, then, els)
                        });
                    } else {
                        nodes.push(Node::Action(parse_pipeline(a)?));
                    }
                }
            }
        }
        Ok((nodes, None))
    }

    /// Renders against `data`.
    pub fn render(&self, data: &Value) -> Result<String> {
        let mut out = String::new();
        render_nodes(&self.nodes, data, &mut out)?;
        Ok(out)
    }
}

fn render_nodes(nodes: &[Node], dot: &Value, out: &mut String) -> Result<()> {
    for n in nodes {
        match n {
            Node::Text(t) => out.push_str(t),
            Node::Action(p) => out.push_str(&to_text(&eval_pipeline(p, dot)?)),
            Node::If(p, then, els) => {
                if truthy(&eval_pipeline(p, dot)?) {
                    render_nodes(then, dot, out)?;
                } else {
                    render_nodes(els, dot, out)?;
                }
            }
            Node::Range(p, body, els) => {
                let v = eval_pipeline(p, dot)?;
                let items: Vec<Value> = match v {
                    Value::Array(a) => a,
                    Value::Object(m) => m.into_iter().map(|(_, v)| v).collect(),
                    Value::Null => vec![],
                    other => {
                        return Err(TemplateError::Exec(format!(
                            "range can't iterate over {}",
                            to_text(&other)
                        )))
                    }
                };
                if items.is_empty() {
                    render_nodes(els, dot, out)?;
                }
                for it in &items {
                    render_nodes(body, it, out)?;
                }
            }
        }
    }
    Ok(())
}

fn eval_pipeline(p: &Pipeline, dot: &Value) -> Result<Value> {
    let mut prev: Option<Value> = None;
    for cmd in p {
        prev = Some(eval_command(cmd, dot, prev)?);
    }
    prev.ok_or_else(|| TemplateError::Exec("empty pipeline".into()))
}

fn eval_arg(a: &Arg, dot: &Value) -> Result<Value> {
    Ok(match a {
        Arg::Field(path) => field(dot, path)?,
        Arg::Str(s) => Value::String(s.clone()),
        Arg::Num(n) => Value::from(*n),
        Arg::Bool(b) => Value::Bool(*b),
        Arg::Sub(p) => eval_pipeline(p, dot)?,
        Arg::Func(f) => call(f, vec![])?,
    })
}

fn eval_command(cmd: &[Arg], dot: &Value, piped: Option<Value>) -> Result<Value> {
    match cmd {
        [Arg::Func(f), rest @ ..] => {
            let mut args = rest
                .iter()
                .map(|a| eval_arg(a, dot))
                .collect::<Result<Vec<_>>>()?;
            args.extend(piped);
            call(f, args)
        }
        [single] if piped.is_none() => eval_arg(single, dot),
        _ => Err(TemplateError::Exec(
            "can't give arguments to a non-function".into(),
        )),
    }
}

fn field(dot: &Value, path: &[String]) -> Result<Value> {
    let mut cur = dot;
    for (depth, name) in path.iter().enumerate() {
        match cur {
            Value::Object(m) => match m.get(name) {
                Some(v) => cur = v,
                None if depth == 0 => {
                    return Err(TemplateError::Exec(format!("can't evaluate field {name}")))
                }
                None => return Ok(Value::String("<no value>".into())),
            },
            Value::Null => return Ok(Value::Null),
            _ => {
                return Err(TemplateError::Exec(format!(
                    "can't evaluate field {name} in {}",
                    to_text(cur)
                )))
            }
        }
    }
    Ok(cur.clone())
}

fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// Go's `%v` of a JSON value.
pub fn to_text(v: &Value) -> String {
    match v {
        Value::Null => "<nil>".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.clone(),
        Value::Array(a) => format!("[{}]", a.iter().map(to_text).collect::<Vec<_>>().join(" ")),
        Value::Object(m) => format!(
            "map[{}]",
            m.iter()
                .map(|(k, v)| format!("{k}:{}", to_text(v)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
    }
}

fn want_args(name: &str, args: &[Value], n: usize) -> Result<()> {
    if args.len() == n {
        Ok(())
    } else {
        Err(TemplateError::Exec(format!(
            "wrong number of args for {name}: want {n} got {}",
            args.len()
        )))
    }
}

fn call(name: &str, args: Vec<Value>) -> Result<Value> {
    let s = |v: &Value| to_text(v);
    Ok(match name {
        "json" => {
            want_args(name, &args, 1)?;
            Value::String(go_json(&args[0]))
        }
        "join" => {
            want_args(name, &args, 2)?;
            let items = match &args[0] {
                Value::Array(a) => a.iter().map(to_text).collect::<Vec<_>>(),
                Value::Null => vec![],
                other => vec![to_text(other)],
            };
            Value::String(items.join(&s(&args[1])))
        }
        "index" => {
            let (first, keys) = args
                .split_first()
                .ok_or_else(|| TemplateError::Exec("index of nothing".into()))?;
            let mut cur = first.clone();
            for k in keys {
                cur = match (&cur, k) {
                    (Value::Object(m), k) => m
                        .get(&s(k))
                        .cloned()
                        .unwrap_or(Value::String("<no value>".into())),
                    (Value::Array(a), Value::Number(n)) => n
                        .as_u64()
                        .and_then(|i| a.get(i as usize))
                        .cloned()
                        .ok_or_else(|| TemplateError::Exec("index out of range".into()))?,
                    _ => {
                        return Err(TemplateError::Exec(format!(
                            "can't index {}",
                            to_text(&cur)
                        )))
                    }
                };
            }
            cur
        }
        "upper" | "lower" | "title" => {
            want_args(name, &args, 1)?;
            let t = s(&args[0]);
            Value::String(match name {
                "upper" => t.to_uppercase(),
                "lower" => t.to_lowercase(),
                _ => title(&t),
            })
        }
        "split" => {
            want_args(name, &args, 2)?;
            Value::Array(
                s(&args[0])
                    .split(&s(&args[1]))
                    .map(|p| Value::String(p.into()))
                    .collect(),
            )
        }
        "truncate" => {
            want_args(name, &args, 2)?;
            let n = args[1].as_u64().unwrap_or(0) as usize;
            Value::String(s(&args[0]).chars().take(n).collect())
        }
        "pad" => {
            want_args(name, &args, 3)?;
            let l = args[1].as_u64().unwrap_or(0) as usize;
            let r = args[2].as_u64().unwrap_or(0) as usize;
            Value::String(format!("{}{}{}", " ".repeat(l), s(&args[0]), " ".repeat(r)))
        }
        "println" => Value::String(format!(
            "{}\n",
            args.iter().map(to_text).collect::<Vec<_>>().join(" ")
        )),
        "len" => {
            want_args(name, &args, 1)?;
            Value::from(match &args[0] {
                Value::Array(a) => a.len(),
                Value::Object(m) => m.len(),
                Value::String(t) => t.len(),
                _ => 0,
            })
        }
        "eq" | "ne" => {
            if args.len() < 2 {
                return Err(TemplateError::Exec(format!("{name} needs two arguments")));
            }
            let eq = args[1..].iter().any(|v| s(v) == s(&args[0]));
            Value::Bool(if name == "eq" { eq } else { !eq })
        }
        "not" => {
            want_args(name, &args, 1)?;
            Value::Bool(!truthy(&args[0]))
        }
        other => {
            return Err(TemplateError::Exec(format!(
                "function {other:?} not defined"
            )))
        }
    })
}

fn title(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut start = true;
    for c in s.chars() {
        if start && c.is_alphabetic() {
            out.extend(c.to_uppercase());
        } else {
            out.push(c);
        }
        start = !c.is_alphanumeric();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(t: &str, v: &Value) -> String {
        Template::parse(t).unwrap().render(v).unwrap()
    }

    #[test]
    fn fields_functions_and_blocks() {
        let v = json!({"Repository":"busybox","Tag":"latest","Labels":{"a":"1"},"Env":["A=1","B=2"],"N":0});
        assert_eq!(r("{{.Repository}}:{{.Tag}}", &v), "busybox:latest");
        assert_eq!(r("{{json .Labels}}", &v), r#"{"a":"1"}"#);
        assert_eq!(r(r#"{{index .Labels "a"}}"#, &v), "1");
        assert_eq!(r(r#"{{join .Env ","}}"#, &v), "A=1,B=2");
        assert_eq!(r("{{.Repository | upper}}", &v), "BUSYBOX");
        assert_eq!(r("{{range .Env}}[{{.}}]{{end}}", &v), "[A=1][B=2]");
        assert_eq!(r("{{if .N}}yes{{else}}no{{end}}", &v), "no");
        assert_eq!(r("a {{- .Tag -}} b", &v), "alatestb");
        assert_eq!(r(r#"{{if eq .Tag "latest"}}L{{end}}"#, &v), "L");
        assert_eq!(r("{{.Env}}", &v), "[A=1 B=2]");
        assert_eq!(r("{{json (index .Labels \"a\")}}", &v), "\"1\"");
        assert_eq!(r("{{.Labels.missing}}", &v), "<no value>");
    }

    #[test]
    fn errors() {
        assert!(Template::parse("{{.A").is_err());
        assert!(Template::parse("{{if .A}}x").is_err());
        assert!(Template::parse("{{end}}").is_err());
        let t = Template::parse("{{.Nope}}").unwrap();
        assert!(t.render(&json!({"A":1})).is_err());
        let t = Template::parse("{{nofunc .A}}").unwrap();
        assert!(t.render(&json!({"A":1})).is_err());
    }
}
