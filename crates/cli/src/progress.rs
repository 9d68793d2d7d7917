//! Shows a JSON progress stream (load, import, later pull and push) as
//! the docker CLI does: on a terminal one line per id, redrawn in place
//! with a progress bar; otherwise plain lines, one per status change.

use crate::format::units::human_size;
use berth_api_types::progress::JsonMessage;
use std::collections::HashMap;
use std::io::Write;

pub struct ProgressPrinter {
    tty: bool,
    /// Ids in the order they appeared, with the line each holds.
    lines: HashMap<String, usize>,
    count: usize,
    /// The last status printed per id in plain mode.
    last: HashMap<String, String>,
}

impl ProgressPrinter {
    pub fn new(tty: bool) -> Self {
        Self {
            tty,
            lines: HashMap::new(),
            count: 0,
            last: HashMap::new(),
        }
    }

    /// Prints one message; an in-band error is returned as `Err`.
    pub fn show(&mut self, m: &JsonMessage, out: &mut dyn Write) -> Result<(), String> {
        if let Some(e) = &m.error_detail {
            return Err(e.message.clone());
        }
        if let Some(e) = &m.error {
            return Err(e.clone());
        }
        let w = |out: &mut dyn Write, s: &str| {
            let _ = out.write_all(s.as_bytes());
        };
        if let Some(s) = &m.stream {
            w(out, s);
        }
        let Some(status) = &m.status else {
            let _ = out.flush();
            return Ok(());
        };
        match &m.id {
            None => w(out, &format!("{status}\n")),
            Some(id) => {
                let bar = m
                    .progress_detail
                    .as_ref()
                    .map(|p| bar(p.current.unwrap_or(0), p.total.unwrap_or(0)))
                    .unwrap_or_default();
                let line = format!("{id}: {status} {bar}");
                if self.tty {
                    match self.lines.get(id) {
                        None => {
                            self.lines.insert(id.clone(), self.count);
                            self.count += 1;
                            w(out, &format!("{}\n", line.trim_end()));
                        }
                        Some(&i) => {
                            let up = self.count - i;
                            w(
                                out,
                                &format!("\x1b[{up}A\r\x1b[2K{}\x1b[{up}B\r", line.trim_end()),
                            );
                        }
                    }
                } else if self.last.get(id) != Some(status) {
                    self.last.insert(id.clone(), status.clone());
                    w(out, &format!("{id}: {status}\n"));
                }
            }
        }
        let _ = out.flush();
        Ok(())
    }
}

/// `[=====>      ]  1.2MB/4.5MB`, docker's 50-wide bar.
fn bar(current: i64, total: i64) -> String {
    if total <= 0 {
        return if current > 0 {
            human_size(current as f64)
        } else {
            String::new()
        };
    }
    let width = 50usize;
    let done = ((current.min(total) as f64 / total as f64) * width as f64) as usize;
    let arrow = if done < width { ">" } else { "" };
    let fill = "=".repeat(done.min(width));
    let space = " ".repeat(width.saturating_sub(done + arrow.len()));
    format!(
        "[{fill}{arrow}{space}] {:>8}/{}",
        human_size(current as f64),
        human_size(total as f64)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_mode_prints_status_changes_once() {
        let mut p = ProgressPrinter::new(false);
        let mut out = Vec::new();
        for m in [
            JsonMessage::progress("abc", "Loading layer", 1, Some(10)),
            JsonMessage::progress("abc", "Loading layer", 5, Some(10)),
            JsonMessage::stream("Loaded image: busybox:latest\n"),
        ] {
            p.show(&m, &mut out).unwrap();
        }
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "abc: Loading layer\nLoaded image: busybox:latest\n"
        );
        assert_eq!(
            p.show(&JsonMessage::error("bad"), &mut Vec::new()),
            Err("bad".into())
        );
    }

    #[test]
    fn bar_shape() {
        let b = bar(5, 10);
        assert!(b.starts_with("[=========================>"), "{b}");
        assert!(b.ends_with("5B/10B"), "{b}");
    }
}
