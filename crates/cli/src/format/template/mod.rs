//! Go's `text/template` as docker's `--format` uses it, over JSON data:
//! text and `{{ }}` actions with trim markers (`{{- -}}`) and comments;
//! fields (`.A.B`), variables (`$`, `$x := …`, `$x = …`), literals,
//! pipelines (`|`) and parenthesised sub-pipelines with field access
//! (`(index .Mounts 0).Source`); `if`/`else if`/`else`, `with`/`else
//! with`, `range` (over lists, maps in key order and integers, with
//! `$i, $v :=`, `else`, `break`, `continue`); Go's builtins (`and`, `or`,
//! `not`, `len`, `index`, `slice`, `print`, `printf`, `println`, `html`,
//! `js`, `urlquery`, `eq`, `ne`, `lt`, `le`, `gt`, `ge`) and docker's
//! (`json`, `join`, `split`, `title`, `lower`, `upper`, `pad`,
//! `truncate`), plus the `.Label KEY` method of docker's list rows.
//!
//! Where JSON cannot say what Go's typed values would (docker executes
//! against structs), berth picks the common case: objects print as maps
//! (`map[k:v]`, not `{v …}`), `null` prints `<nil>`, a missing key
//! of the top-level object is an error (docker's "map has no entry for
//! key") while a missing key deeper down is `<no value>` (a label, or a
//! field the daemon left out), and `index` of a missing key is `""` in a
//! map of strings.
//! `define`, `template` and `block` are refused: one template per flag.

mod exec;
mod funcs;
mod parse;
mod printf;
#[cfg(test)]
mod tests;

pub use exec::to_text;
use serde_json::Value;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    /// The template does not parse (docker's exit code 64 territory).
    #[error("template parsing error: template: :{line}: {msg}")]
    Parse { line: usize, msg: String },
    /// Execution failed at a command; `partial` is what was written
    /// before it, as Go leaves it in the output.
    #[error("template: :{line}:{col}: executing \"\" at <{at}>: {msg}")]
    Exec {
        line: usize,
        col: usize,
        at: String,
        msg: String,
        partial: String,
    },
}

impl TemplateError {
    pub fn kind(&self) -> berth_base::ErrorKind {
        berth_base::ErrorKind::Invalid
    }
}

type Result<T> = std::result::Result<T, TemplateError>;

/// A parsed template.
#[derive(Debug, Clone, PartialEq)]
pub struct Template {
    src: String,
    nodes: Vec<parse::Node>,
}

impl Template {
    pub fn parse(src: &str) -> Result<Self> {
        Ok(Self {
            src: src.to_owned(),
            nodes: parse::parse(src)?,
        })
    }

    /// Renders against `data`.
    pub fn render(&self, data: &Value) -> Result<String> {
        self.render_as(data, false)
    }

    /// Renders a table's header row from `titles` (field name to column
    /// title), where `.Label KEY` gives the title docker makes of KEY.
    pub fn render_header(&self, titles: &Value) -> Result<String> {
        self.render_as(titles, true)
    }

    fn render_as(&self, data: &Value, header: bool) -> Result<String> {
        let data = exec::Val::J(data.clone());
        exec::Exec::new(&data, header)
            .run(&self.nodes)
            .map_err(|(partial, e)| {
                let (line, col) = parse::line_col(&self.src, e.pos);
                TemplateError::Exec {
                    line,
                    col,
                    at: e.at,
                    msg: e.msg,
                    partial,
                }
            })
    }
}
