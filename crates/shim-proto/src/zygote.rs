//! The shim factory: one `berth-shim zygote` per engine, started once, forks
//! the shim of each container. Executing the shim binary for every start
//! costs a program load and initialisation (about a millisecond here); a
//! fork of a small single-threaded process costs a tenth of that.
//!
//! The engine and the zygote share a `SOCK_SEQPACKET` pair; the zygote's end
//! is its stdin. A request is one message: the shim directory's path, with
//! one descriptor attached, the write end of the pipe the new shim answers
//! on (as `berth-shim start` answers on its stdout). The engine closing its
//! end ends the zygote.

use std::io::{self, IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use rustix::net::{
    recvmsg, sendmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

/// The longest shim directory path a request carries.
const MAX_PATH: usize = 4096;

/// Asks the zygote on `sock` for the shim of `dir`, answering on `answer`.
pub fn send(sock: impl AsFd, dir: &Path, answer: BorrowedFd<'_>) -> io::Result<()> {
    let path = dir.as_os_str().as_bytes();
    if path.is_empty() || path.len() > MAX_PATH {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("shim directory path of {} bytes", path.len()),
        ));
    }
    let fds = [answer];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    control.push(SendAncillaryMessage::ScmRights(&fds));
    sendmsg(
        sock,
        &[IoSlice::new(path)],
        &mut control,
        SendFlags::NOSIGNAL,
    )?;
    Ok(())
}

/// The next request on `sock`: `None` once the engine has closed its end.
/// A message without its descriptor is an error.
pub fn recv(sock: impl AsFd) -> io::Result<Option<(PathBuf, OwnedFd)>> {
    let mut buf = vec![0u8; MAX_PATH + 1];
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut control = RecvAncillaryBuffer::new(&mut space);
    let got = loop {
        match recvmsg(
            sock.as_fd(),
            &mut [IoSliceMut::new(&mut buf)],
            &mut control,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Err(rustix::io::Errno::INTR) => continue,
            r => break r?,
        }
    };
    let mut answer = None;
    for msg in control.drain() {
        if let RecvAncillaryMessage::ScmRights(fds) = msg {
            for fd in fds {
                answer.get_or_insert(fd);
            }
        }
    }
    if got.bytes == 0 && answer.is_none() {
        return Ok(None);
    }
    let answer = answer.ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidData,
            "zygote request without its pipe",
        )
    })?;
    if got.bytes == 0 || got.bytes > MAX_PATH {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("zygote request of {} bytes", got.bytes),
        ));
    }
    buf.truncate(got.bytes);
    Ok(Some((
        PathBuf::from(std::ffi::OsString::from_vec(buf)),
        answer,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    fn pair() -> (OwnedFd, OwnedFd) {
        rustix::net::socketpair(
            rustix::net::AddressFamily::UNIX,
            rustix::net::SocketType::SEQPACKET,
            rustix::net::SocketFlags::CLOEXEC,
            None,
        )
        .unwrap()
    }

    #[test]
    fn a_request_carries_the_directory_and_the_answer_pipe() {
        let (engine, zygote) = pair();
        let (r, w) = rustix::pipe::pipe().unwrap();
        send(&engine, Path::new("/run/berth/shims/abc"), w.as_fd()).unwrap();
        drop(w);
        let (dir, answer) = recv(&zygote).unwrap().unwrap();
        assert_eq!(dir, Path::new("/run/berth/shims/abc"));
        std::fs::File::from(answer).write_all(b"ok\n").unwrap();
        let mut got = String::new();
        std::fs::File::from(r).read_to_string(&mut got).unwrap();
        assert_eq!(got, "ok\n");
        drop(engine);
        assert!(recv(&zygote).unwrap().is_none(), "closed end is the end");
    }

    #[test]
    fn bad_requests_are_errors() {
        let (engine, zygote) = pair();
        let (_r, w) = rustix::pipe::pipe().unwrap();
        assert!(send(&engine, Path::new(""), w.as_fd()).is_err());
        // A message without a descriptor.
        rustix::net::send(&engine, b"/x", SendFlags::empty()).unwrap();
        assert!(recv(&zygote).is_err());
    }
}
