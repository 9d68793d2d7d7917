//! Output formats as docker's `--format` takes them: `table` (the default,
//! with headers, aligned), a Go template (`{{.Repository}}:{{.Tag}}`),
//! or `json` (one object per line).

pub mod json;
pub mod tabwriter;
pub mod template;
pub mod units;

use serde_json::{Map, Value};
use tabwriter::TabWriter;
use template::{Template, TemplateError};

/// How rows are printed.
pub struct RowFormat {
    /// `--format json`: each row as JSON with Go's HTML escaping, as
    /// docker prints it (its template `json` function does not escape).
    json: bool,
    table: bool,
    tmpl: Template,
    header: Option<String>,
}

impl RowFormat {
    /// Parses `--format` (or the command's default), with `headers`
    /// mapping field names to column titles (`ID` → `IMAGE ID`).
    pub fn new(format: &str, headers: &[(&str, &str)]) -> Result<Self, TemplateError> {
        // `{{json .}}` of a row is `--format json`: docker marshals its
        // row types whole, with the HTML escaping.
        let json = format == "json" || format.trim_matches(' ') == "{{json .}}";
        let (table, body) = if json {
            (false, String::new())
        } else if let Some(rest) = format.strip_prefix("table") {
            (true, rest.to_owned())
        } else {
            (false, format.to_owned())
        };
        let body = body
            .trim_matches(' ')
            .replace("\\t", "\t")
            .replace("\\n", "\n");
        let tmpl = Template::parse(&body)?;
        let header = if table {
            let mut m = Map::new();
            for (k, v) in headers {
                m.insert((*k).to_owned(), Value::String((*v).to_owned()));
            }
            Some(tmpl.render_header(&Value::Object(m))?)
        } else {
            None
        };
        Ok(Self {
            json,
            table,
            tmpl,
            header,
        })
    }

    /// Renders every row, each followed by a newline; tables get their
    /// header and alignment.
    pub fn render(&self, rows: &[Value]) -> Result<String, TemplateError> {
        let mut text = String::new();
        if let Some(h) = &self.header {
            text.push_str(h);
            text.push('\n');
        }
        for r in rows {
            if self.json {
                text.push_str(&json::go_json(r));
            } else {
                text.push_str(&self.tmpl.render(r)?);
            }
            text.push('\n');
        }
        Ok(if self.table {
            TabWriter::TABLE.format(&text)
        } else {
            text
        })
    }
}

/// A row object from string fields.
pub fn row(fields: &[(&str, String)]) -> Value {
    let mut m = Map::new();
    for (k, v) in fields {
        m.insert((*k).to_owned(), Value::String(v.clone()));
    }
    Value::Object(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_template_and_json() {
        let rows = vec![row(&[
            ("Repository", "busybox".into()),
            ("Tag", "<none>".into()),
        ])];
        let h = [("Repository", "REPOSITORY"), ("Tag", "TAG")];
        let t = RowFormat::new("table {{.Repository}}\\t{{.Tag}}", &h).unwrap();
        assert_eq!(
            t.render(&rows).unwrap(),
            "REPOSITORY   TAG\nbusybox      <none>\n"
        );
        let t = RowFormat::new("{{.Repository}}:{{.Tag}}", &h).unwrap();
        assert_eq!(t.render(&rows).unwrap(), "busybox:<none>\n");
        // docker escapes HTML in `--format json`, not in `{{json}}`.
        let t = RowFormat::new("{{json .Tag}}", &h).unwrap();
        assert_eq!(t.render(&rows).unwrap(), "\"<none>\"\n");
        let t = RowFormat::new("{{json .}}", &h).unwrap();
        assert_eq!(
            t.render(&rows).unwrap(),
            "{\"Repository\":\"busybox\",\"Tag\":\"\\u003cnone\\u003e\"}\n"
        );
        let t = RowFormat::new("json", &h).unwrap();
        assert_eq!(
            t.render(&rows).unwrap(),
            "{\"Repository\":\"busybox\",\"Tag\":\"\\u003cnone\\u003e\"}\n"
        );
    }

    #[test]
    fn label_columns_as_docker_titles_them() {
        // docker ps --format 'table {{.Names}}\t{{.Label "a.b"}}\t{{.Label "com.x.build-id_z"}}|'
        let rows = vec![row(&[
            ("Names", "web".into()),
            ("Labels", "a.b=c,tier=front".into()),
        ])];
        let h = [("Names", "NAMES"), ("Labels", "LABELS")];
        let t = RowFormat::new(
            "table {{.Names}}\\t{{.Label \"a.b\"}}\\t{{.Label \"com.x.build-id_z\"}}|",
            &h,
        )
        .unwrap();
        assert_eq!(
            t.render(&rows).unwrap(),
            "NAMES     b         build id z|\nweb       c         |\n"
        );
    }
}
