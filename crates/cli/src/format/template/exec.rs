//! Executes a parsed template against JSON data as Go's text/template
//! executes it against docker's values.

use super::funcs;
use super::parse::{Cmd, Node, Operand, Pipe, Term};
use serde_json::Value;

/// A value during execution: JSON, or Go's "invalid" value that a missing
/// map key gives (printed `<no value>`, false in `if`).
#[derive(Debug, Clone, PartialEq)]
pub(super) enum Val {
    Missing,
    J(Value),
}

impl Val {
    /// The JSON value, `null` for a missing one (as Go hands a missing
    /// value to a function: a nil interface).
    pub fn json(&self) -> &Value {
        const NULL: Value = Value::Null;
        match self {
            Val::Missing => &NULL,
            Val::J(v) => v,
        }
    }

    pub fn into_json(self) -> Value {
        match self {
            Val::Missing => Value::Null,
            Val::J(v) => v,
        }
    }
}

/// An execution error, with the command it happened at.
#[derive(Debug)]
pub(super) struct ExecError {
    pub pos: usize,
    pub at: String,
    pub msg: String,
}

type Result<T> = std::result::Result<T, ExecError>;

/// What a node list asks its enclosing `range` to do.
#[derive(PartialEq)]
enum Flow {
    Next,
    Break,
    Continue,
}

pub(super) struct Exec<'a> {
    /// The data, which is also the first dot and `$`.
    root: &'a Val,
    vars: Vec<(String, Val)>,
    out: String,
    header: bool,
}

/// docker's title of a `.Label KEY` column: the key's last dotted part,
/// `-` and `_` as spaces (`com.example.build-id` → `build id`).
fn label_header(key: &str) -> String {
    key.rsplit('.')
        .next()
        .unwrap_or(key)
        .replace(['-', '_'], " ")
}

/// Go's type name of a value, for messages and `%T`.
pub(super) fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "<nil>",
        Value::Bool(_) => "bool",
        Value::Number(n) if n.is_f64() => "float64",
        Value::Number(_) => "int",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Object(_) => "map[string]interface {}",
    }
}

/// Go's truth: false, 0, nil, and empty strings, arrays and maps are false.
pub(super) fn truthy(v: &Val) -> bool {
    match v.json() {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64().is_some_and(|f| f != 0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(m) => !m.is_empty(),
    }
}

/// Go's `%v` of a float: the shortest form, with an exponent below 1e-4
/// and from 1e6 up (`1.234567e+06`).
pub(super) fn float_text(f: f64) -> String {
    if f.is_nan() {
        return "NaN".into();
    }
    if f.is_infinite() {
        return if f > 0.0 { "+Inf" } else { "-Inf" }.into();
    }
    let e = format!("{f:e}");
    let (mant, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    if f != 0.0 && !(-4..6).contains(&exp) {
        format!("{mant}e{}{:02}", if exp < 0 { '-' } else { '+' }, exp.abs())
    } else if f == 0.0 && f.is_sign_negative() {
        "-0".into()
    } else {
        format!("{f}")
    }
}

/// Go's `%v` of a JSON value (maps print with sorted keys as Go's do).
pub fn to_text(v: &Value) -> String {
    let mut s = String::new();
    write_text(v, &mut s);
    s
}

fn write_text(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("<nil>"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => match (n.as_i64(), n.as_u64(), n.as_f64()) {
            (Some(i), _, _) => out.push_str(&i.to_string()),
            (_, Some(u), _) => out.push_str(&u.to_string()),
            (_, _, Some(f)) => out.push_str(&float_text(f)),
            _ => out.push_str(&n.to_string()),
        },
        Value::String(s) => out.push_str(s),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                write_text(x, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push_str("map[");
            for (i, (k, x)) in m.iter().enumerate() {
                if i > 0 {
                    out.push(' ');
                }
                out.push_str(k);
                out.push(':');
                write_text(x, out);
            }
            out.push(']');
        }
    }
}

impl<'a> Exec<'a> {
    /// `header`: rendering a table's header row, where `.Label KEY` is
    /// the column title docker derives from KEY.
    pub fn new(root: &'a Val, header: bool) -> Self {
        Self {
            root,
            vars: Vec::new(),
            out: String::new(),
            header,
        }
    }

    pub fn run(mut self, nodes: &[Node]) -> std::result::Result<String, (String, ExecError)> {
        match self.nodes(nodes, self.root) {
            Ok(_) => Ok(self.out),
            Err(e) => Err((self.out, e)),
        }
    }

    fn nodes(&mut self, nodes: &[Node], dot: &Val) -> Result<Flow> {
        for n in nodes {
            let flow = self.node(n, dot)?;
            if flow != Flow::Next {
                return Ok(flow);
            }
        }
        Ok(Flow::Next)
    }

    fn node(&mut self, n: &Node, dot: &Val) -> Result<Flow> {
        match n {
            Node::Text(t) => self.out.push_str(t),
            Node::Action(p) => {
                let v = self.pipe(p, dot)?;
                if p.vars.is_empty() {
                    match &v {
                        Val::Missing => self.out.push_str("<no value>"),
                        Val::J(j) => write_text(j, &mut self.out),
                    }
                }
            }
            Node::If(p, then, els) | Node::With(p, then, els) => {
                let mark = self.vars.len();
                let v = self.pipe(p, dot)?;
                let flow = if !truthy(&v) {
                    self.nodes(els, dot)?
                } else if matches!(n, Node::With(..)) {
                    self.nodes(then, &v)?
                } else {
                    self.nodes(then, dot)?
                };
                self.vars.truncate(mark);
                return Ok(flow);
            }
            Node::Range(p, body, els) => return self.range(p, body, els, dot),
            Node::Break => return Ok(Flow::Break),
            Node::Continue => return Ok(Flow::Continue),
        }
        Ok(Flow::Next)
    }

    fn range(&mut self, p: &Pipe, body: &[Node], els: &[Node], dot: &Val) -> Result<Flow> {
        let mark = self.vars.len();
        // The range's own variables are set per item, not to the pipeline.
        let decl = Pipe {
            vars: vec![],
            assign: false,
            cmds: p.cmds.clone(),
        };
        let v = self.pipe(&decl, dot)?;
        let at = |msg: String| ExecError {
            pos: p.cmds.first().map_or(0, |c| c.pos),
            at: p.cmds.first().map_or(String::new(), |c| c.src.clone()),
            msg,
        };
        let items: Vec<(Value, Value)> = match v.json() {
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, x)| (Value::from(i), x.clone()))
                .collect(),
            Value::Object(m) => m
                .iter()
                .map(|(k, x)| (Value::String(k.clone()), x.clone()))
                .collect(),
            Value::Null => vec![],
            Value::Number(n) if n.is_i64() || n.is_u64() => {
                if p.vars.len() > 1 {
                    return Err(at(format!(
                        "can't use {n} to iterate over more than one variable"
                    )));
                }
                let n = n.as_i64().unwrap_or(i64::MAX);
                (0..n.max(0))
                    .map(|i| (Value::from(i), Value::from(i)))
                    .collect()
            }
            other => return Err(at(format!("range can't iterate over {}", to_text(other)))),
        };
        if items.is_empty() {
            let flow = self.nodes(els, dot)?;
            self.vars.truncate(mark);
            return Ok(flow);
        }
        for (k, x) in items {
            self.vars.truncate(mark);
            match p.vars.as_slice() {
                [v] => self.vars.push((v.clone(), Val::J(x.clone()))),
                [i, v] => {
                    self.vars.push((i.clone(), Val::J(k)));
                    self.vars.push((v.clone(), Val::J(x.clone())));
                }
                _ => {}
            }
            if self.nodes(body, &Val::J(x))? == Flow::Break {
                break;
            }
        }
        self.vars.truncate(mark);
        Ok(Flow::Next)
    }

    pub fn pipe(&mut self, p: &Pipe, dot: &Val) -> Result<Val> {
        let mut last: Option<Val> = None;
        for c in &p.cmds {
            last = Some(self.cmd(c, dot, last)?);
        }
        let v = last.unwrap_or(Val::Missing);
        for name in &p.vars {
            if p.assign {
                if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    slot.1 = v.clone();
                }
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn cmd(&mut self, c: &Cmd, dot: &Val, piped: Option<Val>) -> Result<Val> {
        let err = |msg: String| ExecError {
            pos: c.pos,
            at: c.src.clone(),
            msg,
        };
        let (first, rest) = c
            .args
            .split_first()
            .ok_or_else(|| err("empty command".into()))?;
        let has_args = !rest.is_empty() || piped.is_some();
        if let Operand::Func(name) = &first.op {
            if name == "and" || name == "or" {
                return self.and_or(name == "and", rest, dot, piped).map_err(err);
            }
            let mut args = rest
                .iter()
                .map(|a| self.arg(a, dot))
                .collect::<Result<Vec<_>>>()?;
            args.extend(piped);
            return funcs::call(name, args).map_err(err);
        }
        if !first.fields.is_empty() {
            // docker's row types have a `Label` method: `{{.Label "tier"}}`.
            if has_args {
                let mut args = rest
                    .iter()
                    .map(|a| self.arg(a, dot))
                    .collect::<Result<Vec<_>>>()?;
                args.extend(piped);
                return self.method(first, dot, args);
            }
            return self.term(first, dot);
        }
        if matches!(first.op, Operand::Nil) {
            return Err(err("nil is not a command".into()));
        }
        if has_args {
            // Go shows a literal or `.` alone, a parenthesised pipeline
            // with its arguments.
            return Err(match &first.op {
                Operand::Pipe(_) => {
                    let shown = to_text(self.term(first, dot)?.json());
                    err(format!("can't give argument to non-function {shown}"))
                }
                _ => ExecError {
                    pos: first.pos,
                    at: first.src.clone(),
                    msg: format!("can't give argument to non-function {}", first.src),
                },
            });
        }
        self.term(first, dot)
    }

    /// A field chain given arguments: only `.Label KEY` on a row with a
    /// `Labels` string (`a=1,b=2`), as docker's format contexts have it.
    fn method(&mut self, t: &Term, dot: &Val, args: Vec<Val>) -> Result<Val> {
        let last = t.fields.last().cloned().unwrap_or_default();
        let recv = self.chain(t, dot, &t.fields[..t.fields.len() - 1])?;
        if last == "Label" {
            if let Some(Value::String(labels)) = recv.json().get("Labels") {
                let [key] = args.as_slice() else {
                    return Err(ExecError {
                        pos: t.pos,
                        at: t.src.clone(),
                        msg: format!("wrong number of args for Label: want 1 got {}", args.len()),
                    });
                };
                let key = to_text(key.json());
                if self.header {
                    return Ok(Val::J(Value::String(label_header(&key))));
                }
                // The row's label map when it has one (a value may hold a
                // comma), else the `a=1,b=2` text.
                let found = match recv.json().get("LabelMap").and_then(|m| m.get(&key)) {
                    Some(v) => to_text(v),
                    None => labels
                        .split(',')
                        .filter_map(|kv| kv.split_once('='))
                        .find(|(k, _)| *k == key)
                        .map_or(String::new(), |(_, v)| v.to_owned()),
                };
                return Ok(Val::J(Value::String(found)));
            }
        }
        Err(ExecError {
            pos: t.pos,
            at: t.src.clone(),
            msg: format!("{last} is not a method but has arguments"),
        })
    }

    /// `and`/`or`: evaluates arguments only as far as needed and returns
    /// the first false (`and`) or true (`or`) one, or the last.
    fn and_or(
        &mut self,
        and: bool,
        rest: &[Term],
        dot: &Val,
        piped: Option<Val>,
    ) -> std::result::Result<Val, String> {
        let name = if and { "and" } else { "or" };
        let n = rest.len() + usize::from(piped.is_some());
        if n == 0 {
            return Err(format!(
                "wrong number of args for {name}: want at least 1 got 0"
            ));
        }
        let mut last = Val::Missing;
        for a in rest {
            last = self.arg(a, dot).map_err(|e| e.msg)?;
            if truthy(&last) != and {
                return Ok(last);
            }
        }
        Ok(piped.unwrap_or(last))
    }

    /// A function argument: a term, where a function name is a call with
    /// no arguments.
    fn arg(&mut self, t: &Term, dot: &Val) -> Result<Val> {
        match &t.op {
            Operand::Func(name) => funcs::call(name, vec![]).map_err(|msg| ExecError {
                pos: t.pos,
                at: t.src.clone(),
                msg,
            }),
            Operand::Nil => Ok(Val::J(Value::Null)),
            _ => self.term(t, dot),
        }
    }

    fn term(&mut self, t: &Term, dot: &Val) -> Result<Val> {
        self.chain(t, dot, &t.fields)
    }

    /// The operand of `t` followed by `fields`. Data operands (`.`, `$x`)
    /// are walked by reference and only the value reached is copied.
    fn chain(&mut self, t: &Term, dot: &Val, fields: &[String]) -> Result<Val> {
        let owned = match &t.op {
            Operand::Dot => return self.walk(t, dot, fields, std::ptr::eq(dot, self.root)),
            Operand::Var(name) if name == "$" => return self.walk(t, self.root, fields, true),
            Operand::Var(name) => {
                let v = self
                    .vars
                    .iter()
                    .rev()
                    .find(|(n, _)| n == name)
                    .map(|(_, v)| v);
                return self.walk(t, v.unwrap_or(&Val::Missing), fields, false);
            }
            Operand::Str(s) => Val::J(Value::String(s.clone())),
            Operand::Int(i) => Val::J(Value::from(*i)),
            Operand::Float(f) => Val::J(Value::from(*f)),
            Operand::Bool(b) => Val::J(Value::Bool(*b)),
            Operand::Nil => Val::J(Value::Null),
            Operand::Func(name) => funcs::call(name, vec![]).map_err(|msg| ExecError {
                pos: t.pos,
                at: t.src.clone(),
                msg,
            })?,
            Operand::Pipe(p) => self.pipe(p, dot)?,
        };
        if fields.is_empty() {
            return Ok(owned);
        }
        self.walk(t, &owned, fields, false)
    }

    /// Follows `fields` from `base`; `at_root` when `base` is the data
    /// itself, whose unknown fields are errors.
    fn walk(&self, t: &Term, base: &Val, fields: &[String], at_root: bool) -> Result<Val> {
        let err = |msg: String| ExecError {
            pos: t.pos,
            at: t.src.clone(),
            msg,
        };
        // None: Go's invalid value (a missing key).
        let mut cur: Option<&Value> = match base {
            Val::Missing => None,
            Val::J(v) => Some(v),
        };
        let mut prev: Option<&str> = None;
        for name in fields {
            cur = match cur {
                Some(Value::Object(m)) => match m.get(name) {
                    Some(v) => Some(v),
                    // docker's data are structs: an unknown field of the
                    // top level is a mistake; deeper, a missing key may be
                    // a map's (labels) or a field the daemon left out.
                    None if at_root && prev.is_none() => {
                        return Err(err(format!("map has no entry for key {name:?}")))
                    }
                    None => None,
                },
                None => {
                    return Err(err(match prev {
                        Some(p) => format!("map has no entry for key {p:?}"),
                        None => format!("nil pointer evaluating <no value>.{name}"),
                    }))
                }
                Some(Value::Null) => {
                    return Err(err(format!("nil pointer evaluating interface {{}}.{name}")))
                }
                Some(other) => {
                    return Err(err(format!(
                        "can't evaluate field {name} in type {}",
                        type_name(other)
                    )))
                }
            };
            prev = Some(name);
        }
        Ok(cur.map_or(Val::Missing, |v| Val::J(v.clone())))
    }
}
