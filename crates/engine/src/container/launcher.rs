//! Starting shims. A zygote (`berth-shim zygote`, see
//! [`berth_shim_proto::zygote`]) forks each one; executing `berth-shim
//! start` is the fallback when no zygote can be had.

use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};

pub(crate) struct Launcher {
    shim: PathBuf,
    /// Started on the first start; replaced once when it has died.
    zygote: Mutex<Option<Zygote>>,
}

struct Zygote {
    child: Child,
    sock: OwnedFd,
}

impl Zygote {
    fn stop(mut self) {
        // Its end of the socket closing is what ends it.
        drop(self.sock);
        let _ = self.child.wait();
    }
}

impl Launcher {
    pub(crate) fn new(shim: PathBuf) -> Self {
        Self {
            shim,
            zygote: Mutex::new(None),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Option<Zygote>> {
        self.zygote.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Starts the shim of the state directory `dir`; returns what it
    /// answered (one JSON line, see `berth-shim start`).
    pub(crate) fn start(&self, dir: &Path) -> std::io::Result<Vec<u8>> {
        for _ in 0..2 {
            let mut slot = self.lock();
            if slot.is_none() {
                match self.spawn_zygote() {
                    Ok(z) => *slot = Some(z),
                    Err(e) => {
                        tracing::warn!("shim zygote: {e}; executing berth-shim instead");
                        break;
                    }
                }
            }
            let Some(z) = slot.as_ref() else { break };
            let (answer_r, answer_w) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
            match berth_shim_proto::zygote::send(&z.sock, dir, answer_w.as_fd()) {
                Ok(()) => {
                    drop((answer_w, slot));
                    let mut out = Vec::new();
                    std::fs::File::from(answer_r).read_to_end(&mut out)?;
                    return Ok(out);
                }
                Err(e) => {
                    tracing::warn!("shim zygote gone ({e}); starting another");
                    if let Some(z) = slot.take() {
                        z.stop();
                    }
                }
            }
        }
        let out = Command::new(&self.shim)
            .arg("start")
            .arg(dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .output()?;
        Ok(out.stdout)
    }

    fn spawn_zygote(&self) -> std::io::Result<Zygote> {
        let (ours, theirs) = rustix::net::socketpair(
            rustix::net::AddressFamily::UNIX,
            rustix::net::SocketType::SEQPACKET,
            rustix::net::SocketFlags::CLOEXEC,
            None,
        )?;
        let child = Command::new(&self.shim)
            .arg("zygote")
            .stdin(Stdio::from(theirs))
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()?;
        Ok(Zygote { child, sock: ours })
    }
}

impl Drop for Launcher {
    fn drop(&mut self) {
        if let Some(z) = self.lock().take() {
            z.stop();
        }
    }
}
