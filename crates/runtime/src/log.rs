//! The runtime's log, as runc writes it: with `--log FILE --log-format json`
//! one `{"level":…,"msg":…,"time":…}` object per line (containerd reads the
//! last error from it), or `time="…" level=… msg="…"` lines in text format.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::sync::Arc;

/// Where log lines go.
#[derive(Debug, Clone)]
pub struct Logger {
    file: Option<Arc<File>>,
    json: bool,
    debug: bool,
}

impl Logger {
    /// Logs to `path` (appending), or to stderr when `None`.
    pub fn open(path: Option<&Path>, json: bool, debug: bool) -> std::io::Result<Logger> {
        let file = match path {
            Some(p) if p != Path::new("") && p != Path::new("/dev/stderr") => Some(Arc::new(
                OpenOptions::new().create(true).append(true).open(p)?,
            )),
            _ => None,
        };
        Ok(Logger { file, json, debug })
    }

    /// Whether a log file was given (errors then go there too).
    pub fn has_file(&self) -> bool {
        self.file.is_some()
    }

    fn line(&self, level: &str, msg: &str) -> String {
        let time = crate::state::now_rfc3339();
        if self.json {
            let v = serde_json::json!({ "level": level, "msg": msg, "time": time });
            format!("{v}\n")
        } else {
            format!("time={time:?} level={level} msg={msg:?}\n")
        }
    }

    fn write(&self, level: &str, msg: &str) {
        let line = self.line(level, msg);
        match &self.file {
            Some(f) => {
                let _ = (&**f).write_all(line.as_bytes());
            }
            None => {
                let _ = std::io::stderr().write_all(line.as_bytes());
            }
        }
    }

    /// An error line.
    pub fn error(&self, msg: &str) {
        self.write("error", msg);
    }

    /// A warning line.
    pub fn warn(&self, msg: &str) {
        self.write("warning", msg);
    }

    /// A debug line (only with `--debug`).
    pub fn debug(&self, msg: &str) {
        if self.debug {
            self.write("debug", msg);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_carry_level_msg_and_time() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("log.json");
        let l = Logger::open(Some(&p), true, false).unwrap();
        l.error("container x does not exist");
        l.debug("hidden");
        let s = std::fs::read_to_string(&p).unwrap();
        let v: serde_json::Value = serde_json::from_str(s.trim()).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "container x does not exist");
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
        assert_eq!(s.lines().count(), 1);
    }
}
