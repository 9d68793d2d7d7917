//! Lexing and parsing of Go `text/template` source into a tree, with the
//! checks Go makes at parse time (unknown functions, undefined variables,
//! `{{break}}` outside `{{range}}`, literals in later pipeline stages).

use super::funcs::is_function;
use super::TemplateError;

type Result<T> = std::result::Result<T, TemplateError>;

/// A parse error at the line of byte offset `pos` in `src`.
fn err(src: &str, pos: usize, msg: impl Into<String>) -> TemplateError {
    TemplateError::Parse {
        line: line_of(src, pos),
        msg: msg.into(),
    }
}

/// The 1-based line of byte offset `pos`.
pub(super) fn line_of(src: &str, pos: usize) -> usize {
    1 + src.as_bytes()[..pos.min(src.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
}

/// Go's `line:col` of byte offset `pos` (col counts bytes from the
/// previous newline, as text/template's ErrorContext does).
pub(super) fn line_col(src: &str, pos: usize) -> (usize, usize) {
    let pos = pos.min(src.len());
    let col = match src[..pos].rfind('\n') {
        Some(nl) => pos - nl - 1,
        None => pos,
    };
    (line_of(src, pos), col)
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Operand {
    Dot,
    /// `$name` (`$` itself is the name "$").
    Var(String),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    /// A function name.
    Func(String),
    Pipe(Box<Pipe>),
}

/// An operand and the field chain after it: `.A.B`, `$x.A`, `(p).A`.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Term {
    pub op: Operand,
    pub fields: Vec<String>,
    /// Byte offset and source text, for error messages.
    pub pos: usize,
    pub src: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Cmd {
    pub args: Vec<Term>,
    pub pos: usize,
    pub src: String,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Pipe {
    /// Declared or assigned variables (`$i, $v :=`, `$x =`).
    pub vars: Vec<String>,
    pub assign: bool,
    pub cmds: Vec<Cmd>,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Node {
    Text(String),
    Action(Pipe),
    If(Pipe, Vec<Node>, Vec<Node>),
    With(Pipe, Vec<Node>, Vec<Node>),
    Range(Pipe, Vec<Node>, Vec<Node>),
    Break,
    Continue,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Field(String),
    Var(String),
    Ident(String),
    Str(String),
    Num(String),
    Char(char),
    Pipe,
    Open,
    Close,
    Comma,
    Declare,
    Assign,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: usize,
    end: usize,
    /// Whether whitespace (or nothing: the start) comes before it; a field
    /// right after a term continues that term's chain.
    spaced: bool,
}

/// One `{{ }}` action: its body (trim markers removed) and where it starts.
struct Action {
    body_start: usize,
    body_end: usize,
}

enum Piece {
    Text(String),
    Action(Action),
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Splits text from actions, applying `{{- ` and ` -}}` trimming.
fn split(src: &str) -> Result<Vec<Piece>> {
    let mut out = Vec::new();
    let mut at = 0;
    let mut trim_next = false;
    while let Some(i) = src[at..].find("{{") {
        let open = at + i;
        let mut text = &src[at..open];
        if trim_next {
            text = text.trim_start_matches(is_space);
        }
        let mut body_start = open + 2;
        let rest = &src[body_start..];
        if rest.starts_with('-') && rest[1..].starts_with(is_space) {
            text = text.trim_end_matches(is_space);
            body_start += 1;
        }
        if !text.is_empty() {
            out.push(Piece::Text(text.to_owned()));
        }
        let close = body_start
            + find_close(&src[body_start..]).ok_or_else(|| err(src, open, "unclosed action"))?;
        let mut body_end = close;
        trim_next = false;
        let body = &src[body_start..close];
        if body.ends_with('-') && body[..body.len() - 1].ends_with(is_space) {
            body_end -= 1;
            trim_next = true;
        }
        out.push(Piece::Action(Action {
            body_start,
            body_end,
        }));
        at = close + 2;
    }
    let mut text = &src[at..];
    if trim_next {
        text = text.trim_start_matches(is_space);
    }
    if !text.is_empty() {
        out.push(Piece::Text(text.to_owned()));
    }
    Ok(out)
}

/// The offset of the `}}` that closes an action, skipping quoted text and
/// comments.
fn find_close(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' => {
                let q = b[i];
                i += 1;
                while i < b.len() && b[i] != q {
                    if b[i] == b'\\' {
                        i += 1;
                    }
                    i += 1;
                }
            }
            b'`' => {
                i += 1;
                while i < b.len() && b[i] != b'`' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = s[i + 2..].find("*/")?;
                i += 2 + end + 1;
            }
            b'}' if b.get(i + 1) == Some(&b'}') => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Tokenizes an action body that starts at byte `start` of `src`.
fn lex(src: &str, start: usize, end: usize) -> Result<Vec<Token>> {
    let s = &src[start..end];
    let mut out = Vec::new();
    let mut i = 0;
    let mut spaced = true;
    let bytes = s.as_bytes();
    while i < s.len() {
        let c = s[i..].chars().next().unwrap_or(' ');
        if is_space(c) {
            i += 1;
            spaced = true;
            continue;
        }
        let from = i;
        let next = s[i + c.len_utf8()..].chars().next();
        let tok = match c {
            '|' => {
                i += 1;
                Tok::Pipe
            }
            '(' => {
                i += 1;
                Tok::Open
            }
            ')' => {
                i += 1;
                Tok::Close
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            '=' => {
                i += 1;
                Tok::Assign
            }
            ':' if next == Some('=') => {
                i += 2;
                Tok::Declare
            }
            '"' => {
                let (v, n) = quoted(&s[i..])
                    .ok_or_else(|| err(src, start + i, "unterminated quoted string"))?;
                i += n;
                Tok::Str(v)
            }
            '`' => {
                let n = s[i + 1..]
                    .find('`')
                    .ok_or_else(|| err(src, start + i, "unterminated raw quoted string"))?;
                let v = s[i + 1..i + 1 + n].to_owned();
                i += n + 2;
                Tok::Str(v)
            }
            '\'' => {
                let (v, n) = quoted(&s[i..])
                    .ok_or_else(|| err(src, start + i, "unterminated character constant"))?;
                let mut cs = v.chars();
                let (Some(ch), None) = (cs.next(), cs.next()) else {
                    return Err(err(
                        src,
                        start + i,
                        format!("malformed character constant: {}", &s[i..i + n]),
                    ));
                };
                i += n;
                Tok::Char(ch)
            }
            '$' => {
                i += 1;
                while i < s.len() && s[i..].starts_with(is_ident_char) {
                    i += s[i..].chars().next().map_or(1, char::len_utf8);
                }
                Tok::Var(s[from..i].to_owned())
            }
            '.' if !next.is_some_and(|n| n.is_ascii_digit()) => {
                i += 1;
                while i < s.len() && s[i..].starts_with(is_ident_char) {
                    i += s[i..].chars().next().map_or(1, char::len_utf8);
                }
                Tok::Field(s[from + 1..i].to_owned())
            }
            c if c.is_ascii_digit() || matches!(c, '+' | '-' | '.') => {
                i += 1;
                while i < s.len()
                    && (bytes[i].is_ascii_alphanumeric()
                        || matches!(bytes[i], b'.' | b'_')
                        || (matches!(bytes[i], b'+' | b'-')
                            && matches!(bytes[i - 1], b'e' | b'E' | b'p' | b'P')))
                {
                    i += 1;
                }
                Tok::Num(s[from..i].to_owned())
            }
            c if is_ident_char(c) => {
                while i < s.len() && s[i..].starts_with(is_ident_char) {
                    i += s[i..].chars().next().map_or(1, char::len_utf8);
                }
                Tok::Ident(s[from..i].to_owned())
            }
            other => {
                return Err(err(
                    src,
                    start + i,
                    format!("unexpected {other:?} in command"),
                ))
            }
        };
        out.push(Token {
            tok,
            pos: start + from,
            end: start + i,
            spaced,
        });
        spaced = false;
    }
    Ok(out)
}

/// A Go double- or single-quoted literal at the start of `s`: its value
/// and its length in bytes.
fn quoted(s: &str) -> Option<(String, usize)> {
    let q = s.chars().next()?;
    let mut v = String::new();
    let mut it = s.char_indices().skip(1);
    while let Some((i, c)) = it.next() {
        match c {
            '\n' => return None,
            c if c == q => return Some((v, i + 1)),
            '\\' => {
                let (_, e) = it.next()?;
                match e {
                    'n' => v.push('\n'),
                    't' => v.push('\t'),
                    'r' => v.push('\r'),
                    'a' => v.push('\x07'),
                    'b' => v.push('\x08'),
                    'f' => v.push('\x0c'),
                    'v' => v.push('\x0b'),
                    '0'..='7' => {
                        let mut n = e.to_digit(8)?;
                        for _ in 0..2 {
                            n = n * 8 + it.next()?.1.to_digit(8)?;
                        }
                        v.push(char::from_u32(n)?);
                    }
                    'x' | 'u' | 'U' => {
                        let len = match e {
                            'x' => 2,
                            'u' => 4,
                            _ => 8,
                        };
                        let mut n = 0u32;
                        for _ in 0..len {
                            n = n.checked_mul(16)? + it.next()?.1.to_digit(16)?;
                        }
                        v.push(char::from_u32(n)?);
                    }
                    other => v.push(other),
                }
            }
            c => v.push(c),
        }
    }
    None
}

/// Go's number literal: an int unless it has a fraction or exponent.
fn number(text: &str) -> Option<Operand> {
    let clean = text.replace('_', "");
    let (neg, body) = match clean.as_bytes().first() {
        Some(b'-') => (true, &clean[1..]),
        Some(b'+') => (false, &clean[1..]),
        _ => (false, &clean[..]),
    };
    let lower = body.to_ascii_lowercase();
    let int = if let Some(h) = lower.strip_prefix("0x") {
        i64::from_str_radix(h, 16).ok()
    } else if let Some(b) = lower.strip_prefix("0b") {
        i64::from_str_radix(b, 2).ok()
    } else if let Some(o) = lower.strip_prefix("0o") {
        i64::from_str_radix(o, 8).ok()
    } else if lower.len() > 1 && lower.starts_with('0') && lower.bytes().all(|b| b.is_ascii_digit())
    {
        i64::from_str_radix(&lower[1..], 8).ok()
    } else {
        lower.parse::<i64>().ok()
    };
    if let Some(n) = int {
        return Some(Operand::Int(if neg { -n } else { n }));
    }
    if lower.starts_with("0x") || !lower.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    let f: f64 = lower.parse().ok()?;
    Some(Operand::Float(if neg { -f } else { f }))
}

/// The parser's state: the source, the variables in scope, the depth of
/// enclosing `range`s.
struct Parser<'a> {
    src: &'a str,
    pieces: Vec<Piece>,
    at: usize,
    vars: Vec<String>,
    ranges: usize,
}

/// How a block ended.
enum Stop {
    Eof,
    End,
    /// `{{else}}` or `{{else if …}}`/`{{else with …}}` (the keyword and the
    /// rest of the action).
    Else(Option<(String, usize, usize)>),
}

pub(super) fn parse(src: &str) -> Result<Vec<Node>> {
    let mut p = Parser {
        src,
        pieces: split(src)?,
        at: 0,
        vars: vec!["$".to_owned()],
        ranges: 0,
    };
    let (nodes, end) = p.block()?;
    match end {
        Stop::Eof => Ok(nodes),
        Stop::End => Err(err(src, src.len(), "unexpected {{end}}")),
        Stop::Else(_) => Err(err(src, src.len(), "unexpected {{else}}")),
    }
}

impl Parser<'_> {
    fn block(&mut self) -> Result<(Vec<Node>, Stop)> {
        let mut nodes = Vec::new();
        while self.at < self.pieces.len() {
            let i = self.at;
            self.at += 1;
            let (start, end) = match &self.pieces[i] {
                Piece::Text(t) => {
                    nodes.push(Node::Text(t.clone()));
                    continue;
                }
                Piece::Action(a) => (a.body_start, a.body_end),
            };
            let body = self.src[start..end].trim_matches(is_space);
            let lead = self.src[start..end].len()
                - self.src[start..end].trim_start_matches(is_space).len();
            let start = start + lead;
            let end = start + body.len();
            if body.starts_with("/*") {
                if !body.ends_with("*/") {
                    return Err(err(
                        self.src,
                        start,
                        "comment ends before closing delimiter",
                    ));
                }
                continue;
            }
            let (kw, rest_at) = match body.find(|c: char| !is_ident_char(c)) {
                Some(n) => (&body[..n], start + n),
                None => (body, end),
            };
            match kw {
                "end" if rest_at == end => return Ok((nodes, Stop::End)),
                "else" => {
                    let rest = self.src[rest_at..end].trim_start_matches(is_space);
                    if rest.is_empty() {
                        return Ok((nodes, Stop::Else(None)));
                    }
                    let at = end - rest.len();
                    let kw2 = rest.split(|c: char| !is_ident_char(c)).next().unwrap_or("");
                    if kw2 != "if" && kw2 != "with" {
                        return Err(err(self.src, at, format!("unexpected {rest:?} in else")));
                    }
                    return Ok((
                        nodes,
                        Stop::Else(Some((kw2.to_owned(), at + kw2.len(), end))),
                    ));
                }
                "if" | "with" | "range" => nodes.push(self.control(kw, rest_at, end)?),
                "break" | "continue" => {
                    if self.ranges == 0 {
                        return Err(err(
                            self.src,
                            start,
                            format!("{{{{{kw}}}}} outside {{{{range}}}}"),
                        ));
                    }
                    if rest_at != end {
                        return Err(err(
                            self.src,
                            rest_at,
                            format!("unexpected {:?} in {kw}", &self.src[rest_at..end]),
                        ));
                    }
                    nodes.push(if kw == "break" {
                        Node::Break
                    } else {
                        Node::Continue
                    });
                }
                "define" | "template" | "block" => {
                    return Err(err(
                        self.src,
                        start,
                        format!("{{{{{kw}}}}} is not supported in --format"),
                    ))
                }
                _ => {
                    let pipe = self.pipeline(start, end, "command", false)?;
                    nodes.push(Node::Action(pipe));
                }
            }
        }
        Ok((nodes, Stop::Eof))
    }

    /// `if`, `with` or `range` whose pipeline is `src[start..end]`, up to
    /// its `{{end}}`.
    fn control(&mut self, kw: &str, start: usize, end: usize) -> Result<Node> {
        let mark = self.vars.len();
        let pipe = self.pipeline(start, end, kw, kw == "range")?;
        if kw == "range" {
            self.ranges += 1;
        }
        let body = self.block();
        if kw == "range" {
            self.ranges -= 1;
        }
        let (then, fin) = body?;
        let els = match fin {
            Stop::End => vec![],
            Stop::Eof => return Err(err(self.src, self.src.len(), "unexpected EOF")),
            Stop::Else(None) => {
                let (els, fin) = self.block()?;
                match fin {
                    Stop::End => els,
                    Stop::Eof => return Err(err(self.src, self.src.len(), "unexpected EOF")),
                    Stop::Else(_) => {
                        return Err(err(
                            self.src,
                            self.src.len(),
                            "expected end; found {{else}}",
                        ))
                    }
                }
            }
            Stop::Else(Some((kw2, s, e))) => {
                if kw == "range" || (kw == "if" && kw2 != "if") || (kw == "with" && kw2 != "with") {
                    return Err(err(
                        self.src,
                        s,
                        format!("unexpected {{{{else {kw2}}}}} in {kw}"),
                    ));
                }
                // `{{else if x}}…{{end}}` is `{{else}}{{if x}}…{{end}}{{end}}`
                // sharing one `{{end}}`.
                vec![self.control(&kw2, s, e)?]
            }
        };
        self.vars.truncate(mark);
        Ok(match kw {
            "if" => Node::If(pipe, then, els),
            "with" => Node::With(pipe, then, els),
            _ => Node::Range(pipe, then, els),
        })
    }

    fn pipeline(&mut self, start: usize, end: usize, ctx: &str, range: bool) -> Result<Pipe> {
        let toks = lex(self.src, start, end)?;
        let mut pos = 0;
        let mut vars = Vec::new();
        let mut assign = false;
        // Declarations: `$x :=`, `$x =`, `$i, $v :=` (range only).
        let decl_end = toks
            .iter()
            .position(|t| matches!(t.tok, Tok::Declare | Tok::Assign));
        if let Some(d) = decl_end {
            let names: Vec<&Token> = toks[..d].iter().collect();
            let ok = match names.as_slice() {
                [Token {
                    tok: Tok::Var(_), ..
                }] => true,
                [Token {
                    tok: Tok::Var(_), ..
                }, Token {
                    tok: Tok::Comma, ..
                }, Token {
                    tok: Tok::Var(_), ..
                }] => range,
                _ => false,
            };
            if ok {
                for t in names {
                    if let Tok::Var(v) = &t.tok {
                        vars.push(v.clone());
                    }
                }
                assign = toks[d].tok == Tok::Assign;
                if assign && vars.len() > 1 {
                    return Err(err(self.src, start, "too many declarations"));
                }
                pos = d + 1;
            }
        }
        if assign {
            if let Some(v) = vars.iter().find(|v| !self.vars.contains(v)) {
                return Err(err(self.src, start, format!("undefined variable {v:?}")));
            }
        }
        let cmds = self.cmds(&toks, &mut pos, ctx)?;
        if let Some(t) = toks.get(pos) {
            return Err(err(
                self.src,
                t.pos,
                format!("unexpected {:?} in {ctx}", &self.src[t.pos..t.end]),
            ));
        }
        if !assign {
            self.vars.extend(vars.iter().cloned());
        }
        Ok(Pipe { vars, assign, cmds })
    }

    /// Commands separated by `|`, up to a `)` or the end.
    fn cmds(&mut self, toks: &[Token], pos: &mut usize, ctx: &str) -> Result<Vec<Cmd>> {
        let mut cmds = Vec::new();
        let at = toks.get(*pos).map_or(self.src.len(), |t| t.pos);
        loop {
            let cmd_pos = toks.get(*pos).map_or(at, |t| t.pos);
            let mut args = Vec::new();
            while let Some(t) = toks.get(*pos) {
                if matches!(t.tok, Tok::Pipe | Tok::Close) {
                    break;
                }
                if !t.spaced && !args.is_empty() {
                    return Err(err(
                        self.src,
                        t.pos,
                        format!("missing space before {:?}", &self.src[t.pos..t.end]),
                    ));
                }
                args.push(self.term(toks, pos)?);
            }
            if args.is_empty() {
                return Err(err(self.src, cmd_pos, format!("missing value for {ctx}")));
            }
            if !cmds.is_empty()
                && matches!(
                    args[0],
                    Term { op: Operand::Dot | Operand::Str(_) | Operand::Int(_) | Operand::Float(_) | Operand::Bool(_) | Operand::Nil | Operand::Pipe(_), ref fields, .. } if fields.is_empty()
                )
            {
                return Err(err(
                    self.src,
                    cmd_pos,
                    format!(
                        "non executable command in pipeline stage {}",
                        cmds.len() + 1
                    ),
                ));
            }
            let cmd_end = toks[*pos - 1].end;
            cmds.push(Cmd {
                args,
                pos: cmd_pos,
                src: self.src[cmd_pos..cmd_end].to_owned(),
            });
            match toks.get(*pos) {
                Some(Token { tok: Tok::Pipe, .. }) => *pos += 1,
                _ => return Ok(cmds),
            }
        }
    }

    fn term(&mut self, toks: &[Token], pos: &mut usize) -> Result<Term> {
        let t = &toks[*pos];
        *pos += 1;
        let src = self.src;
        let op = match &t.tok {
            Tok::Field(f) => {
                let mut fields = if f.is_empty() {
                    vec![]
                } else {
                    vec![f.clone()]
                };
                if f.is_empty()
                    && matches!(
                        toks.get(*pos),
                        Some(Token {
                            tok: Tok::Field(_),
                            spaced: false,
                            ..
                        })
                    )
                {
                    return Err(err(src, t.pos, "unexpected . after term \".\""));
                }
                // Go places a chain's errors at its second field.
                let at = self.chain(toks, pos, &mut fields)?.unwrap_or(t.pos);
                let end = toks[*pos - 1].end;
                return Ok(Term {
                    op: Operand::Dot,
                    fields,
                    pos: at,
                    src: src[t.pos..end].to_owned(),
                });
            }
            Tok::Var(v) => {
                if !self.vars.contains(v) {
                    return Err(err(src, t.pos, format!("undefined variable {v:?}")));
                }
                Operand::Var(v.clone())
            }
            Tok::Ident(id) => match id.as_str() {
                "true" | "false" => Operand::Bool(id == "true"),
                "nil" => Operand::Nil,
                f if is_function(f) => Operand::Func(f.to_owned()),
                f => return Err(err(src, t.pos, format!("function {f:?} not defined"))),
            },
            Tok::Str(s) => Operand::Str(s.clone()),
            Tok::Char(c) => Operand::Int(i64::from(u32::from(*c))),
            Tok::Num(n) => {
                number(n).ok_or_else(|| err(src, t.pos, format!("bad number syntax: {n:?}")))?
            }
            Tok::Open => {
                let cmds = self.cmds(toks, pos, "parenthesized pipeline")?;
                if !matches!(
                    toks.get(*pos),
                    Some(Token {
                        tok: Tok::Close,
                        ..
                    })
                ) {
                    return Err(err(src, t.pos, "unclosed left paren"));
                }
                *pos += 1;
                Operand::Pipe(Box::new(Pipe {
                    vars: vec![],
                    assign: false,
                    cmds,
                }))
            }
            Tok::Close => return Err(err(src, t.pos, "unexpected right paren")),
            Tok::Pipe | Tok::Comma | Tok::Declare | Tok::Assign => {
                return Err(err(
                    src,
                    t.pos,
                    format!("unexpected {:?} in operand", &src[t.pos..t.end]),
                ))
            }
        };
        let mut fields = Vec::new();
        let at = self.chain(toks, pos, &mut fields)?.unwrap_or(t.pos);
        if !fields.is_empty() && !matches!(op, Operand::Var(_) | Operand::Pipe(_)) {
            return Err(err(
                src,
                toks[*pos - 1].pos,
                format!("unexpected . after term {:?}", &src[t.pos..t.end]),
            ));
        }
        let end = toks[*pos - 1].end;
        Ok(Term {
            op,
            fields,
            pos: at,
            src: src[t.pos..end].to_owned(),
        })
    }

    /// Fields directly after a term (`.A.B` with no space before), and
    /// where the first of them starts.
    fn chain(
        &self,
        toks: &[Token],
        pos: &mut usize,
        fields: &mut Vec<String>,
    ) -> Result<Option<usize>> {
        let start = toks.get(*pos).map(|t| t.pos);
        let before = fields.len();
        while let Some(Token {
            tok: Tok::Field(f),
            spaced: false,
            pos: p,
            ..
        }) = toks.get(*pos)
        {
            if f.is_empty() {
                return Err(err(self.src, *p, "unexpected . in operand"));
            }
            fields.push(f.clone());
            *pos += 1;
        }
        Ok(start.filter(|_| fields.len() > before))
    }
}
