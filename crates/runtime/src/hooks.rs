//! Lifecycle hooks: each runs with the container's state JSON on stdin, the
//! hook's own args and env, and its timeout.

use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use oci_spec::runtime::Hook;

use crate::error::{Error, Result};

/// Runs `hooks` of kind `kind` in order, stopping at the first failure.
pub fn run_all(kind: &'static str, hooks: &[Hook], state: &str) -> Result<()> {
    for h in hooks {
        run(kind, h, state)?;
    }
    Ok(())
}

/// Runs one hook and waits for it (at most its timeout).
pub fn run(kind: &'static str, hook: &Hook, state: &str) -> Result<()> {
    let fail = |msg: String| Error::Hook {
        kind,
        path: hook.path().clone(),
        msg,
    };
    let mut cmd = Command::new(hook.path());
    if let Some(args) = hook.args() {
        if let Some((first, rest)) = args.split_first() {
            cmd.arg0(first).args(rest);
        }
    }
    cmd.env_clear();
    for e in hook.env().as_deref().unwrap_or_default() {
        if let Some((k, v)) = e.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| fail(format!("cannot run: {e}")))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine (EPIPE is ignored).
        let _ = stdin.write_all(state.as_bytes());
    }
    let timeout = hook.timeout().filter(|t| *t > 0);
    if let Some(secs) = timeout {
        let pidfd = berth_sys::process::pidfd_open(child.id() as i32)
            .map_err(|e| fail(format!("pidfd_open: {e}")))?;
        let ms = secs.saturating_mul(1000).min(i64::from(i32::MAX)) as i32;
        let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
        let ready = loop {
            match poll(
                &mut fds,
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
            ) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => break r.unwrap_or(0),
            }
        };
        if ready == 0 {
            let _ = child.kill();
            let _ = child.wait();
            return Err(fail(format!("timed out after {secs}s")));
        }
    }
    let status = child.wait().map_err(|e| fail(format!("wait: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(fail(format!("exited with {status}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(json: &str) -> Hook {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn hook_gets_state_on_stdin() {
        let d = tempfile::tempdir().unwrap();
        let out = d.path().join("out");
        let h = hook(&format!(
            r#"{{"path":"/bin/sh","args":["sh","-c","cat > {}"]}}"#,
            out.display()
        ));
        run("test", &h, "{\"id\":\"x\"}").unwrap();
        assert_eq!(std::fs::read_to_string(out).unwrap(), "{\"id\":\"x\"}");
    }

    #[test]
    fn failing_and_slow_hooks_fail() {
        let h = hook(r#"{"path":"/bin/false"}"#);
        assert!(run("test", &h, "{}").is_err());
        let h = hook(r#"{"path":"/bin/sleep","args":["sleep","5"],"timeout":1}"#);
        let e = run("test", &h, "{}").unwrap_err().to_string();
        assert!(e.contains("timed out"), "{e}");
    }
}
