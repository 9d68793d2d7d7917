//! The channel between the runtime and the container's init while it sets
//! itself up: a `SOCK_SEQPACKET` socket pair, so that each message keeps its
//! boundaries and can carry a descriptor (the pty master).
//!
//! Messages are one tag byte and a payload:
//!
//! | tag | direction | meaning |
//! | --- | --- | --- |
//! | `G` | runtime → init | go: id maps written; payload = init's pid (decimal) |
//! | `A` | runtime → init | the init is in its cgroup (sent right after `G`) |
//! | `H` | init → runtime | namespaces and mounts ready: run prestart/createRuntime hooks |
//! | `C` | runtime → init | hooks done, carry on |
//! | `T` | init → runtime | here is the pty master (attached) |
//! | `S` | init → runtime | here is the seccomp listener (attached), for the agent |
//! | `R` | init → runtime | ready: waiting for `start` |
//! | `E` | either | failed; payload = message |

use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};

use crate::error::{Context, Error, Result};

/// A received message: tag, payload and the attached descriptor.
pub type Message = (u8, Vec<u8>, Option<OwnedFd>);

/// One end of the channel.
#[derive(Debug)]
pub struct Channel(pub OwnedFd);

/// A new connected pair (runtime end, init end), both close-on-exec.
pub fn pair() -> Result<(Channel, Channel)> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .ctx(|| "socketpair for the init channel".into())?;
    Ok((Channel(a), Channel(b)))
}

impl Channel {
    /// Sends a message, optionally with a descriptor attached.
    pub fn send(&self, tag: u8, payload: &[u8], fd: Option<RawFd>) -> Result<()> {
        let tag_buf = [tag];
        let iov = [IoSlice::new(&tag_buf), IoSlice::new(payload)];
        let fds;
        let cmsg: &[ControlMessage] = match fd {
            Some(f) => {
                fds = [f];
                &[ControlMessage::ScmRights(&fds)]
            }
            None => &[],
        };
        sendmsg::<()>(self.0.as_raw_fd(), &iov, cmsg, MsgFlags::empty(), None)
            .ctx(|| format!("send {:?} on the init channel", tag as char))
            .map(drop)
    }

    /// Receives a message; `None` when the other end closed without a word.
    pub fn recv(&self) -> Result<Option<Message>> {
        let mut buf = vec![0u8; 8192];
        let mut space = nix::cmsg_space!([RawFd; 1]);
        let (n, fd) = loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match recvmsg::<()>(
                self.0.as_fd().as_raw_fd(),
                &mut iov,
                Some(&mut space),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(msg) => {
                    let mut fd = None;
                    for c in msg
                        .cmsgs()
                        .ctx(|| "control data on the init channel".into())?
                    {
                        if let ControlMessageOwned::ScmRights(fds) = c {
                            for f in fds {
                                fd = Some(berth_sys::process::own_received_fd(f));
                            }
                        }
                    }
                    break (msg.bytes, fd);
                }
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(e).ctx(|| "receive on the init channel".into()),
            }
        };
        if n == 0 {
            return Ok(None);
        }
        buf.truncate(n);
        let tag = buf.remove(0);
        Ok(Some((tag, buf, fd)))
    }

    /// Waits for message `want`; an `E` message becomes an error, as does
    /// the other side closing the channel.
    pub fn expect(&self, want: u8, what: &str) -> Result<(Vec<u8>, Option<OwnedFd>)> {
        match self.recv()? {
            Some((tag, payload, fd)) if tag == want => Ok((payload, fd)),
            Some((b'E', msg, _)) => Err(Error::Init(String::from_utf8_lossy(&msg).into_owned())),
            Some((tag, _, _)) => Err(Error::Init(format!(
                "unexpected message {:?} while waiting for {what}",
                tag as char
            ))),
            None => Err(Error::Init(format!("exited while waiting for {what}"))),
        }
    }
}
