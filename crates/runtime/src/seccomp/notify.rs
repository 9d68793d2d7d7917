//! SCMP_ACT_NOTIFY: handing the filter's listener fd to the seccomp agent.
//!
//! The container process loads its filter with
//! [`berth_sys::seccomp::load_with_listener`] and passes the listener fd up to
//! the runtime, which connects to `linux.seccomp.listenerPath` (a unix stream
//! socket in the runtime's mount namespace) and sends one message: the
//! container process state as JSON, with the fds it names (`["seccompFd"]`)
//! attached as SCM_RIGHTS. This is the runtime spec's protocol, as runc
//! implements it.

use std::io::{IoSlice, Write};
use std::os::fd::{AsRawFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use oci_spec::runtime::{ContainerProcessState, LinuxSeccomp, State, SECCOMP_FD_NAME};

use super::SeccompError;

/// The version of the container process state message.
const PROCESS_STATE_VERSION: &str = "1.0.2";

/// Sends the listener of a container process (`pid`, as the runtime sees it)
/// to the agent that `spec.listenerPath` names, with `state` and the
/// profile's `listenerMetadata`.
pub fn send_to_agent(
    spec: &LinuxSeccomp,
    listener: BorrowedFd<'_>,
    pid: i32,
    state: &State,
) -> Result<(), SeccompError> {
    let path = spec
        .listener_path()
        .as_deref()
        .ok_or(SeccompError::NoListenerPath)?;
    let mut message = ContainerProcessState::default();
    message.set_version(PROCESS_STATE_VERSION.to_string());
    message.set_fds(vec![SECCOMP_FD_NAME.to_string()]);
    message.set_pid(pid);
    message.set_metadata(spec.listener_metadata().clone());
    message.set_state(state.clone());
    let json = serde_json::to_vec(&message).map_err(|e| agent_error(path, e.into()))?;

    let mut stream = UnixStream::connect(path).map_err(|e| agent_error(path, e))?;
    let fds = [listener.as_raw_fd()];
    let sent = sendmsg::<()>(
        stream.as_raw_fd(),
        &[IoSlice::new(&json)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::MSG_NOSIGNAL,
        None,
    )
    .map_err(|e| agent_error(path, e.into()))?;
    // A stream socket may take part of the message; the fd went with it.
    stream
        .write_all(&json[sent..])
        .map_err(|e| agent_error(path, e))
}

fn agent_error(path: &Path, source: std::io::Error) -> SeccompError {
    SeccompError::Agent {
        path: PathBuf::from(path),
        source,
    }
}
