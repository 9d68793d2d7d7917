//! Daemon-to-shim messages, framing and a blocking client.
//!
//! Each container has one `berth-shim` that listens on a UNIX socket
//! (`<exec-root>/shims/<id>/shim.sock`). A client connects, writes one
//! request as a JSON line carrying the protocol version, and reads one JSON
//! line back. `attach` and `exec` with stdio then turn the connection into a
//! stream of frames with Docker's 8-byte header (kind, 3 zero bytes, u32
//! big-endian length): kind 0 = stdin (client to shim), 1 = stdout,
//! 2 = stderr (shim to client). Half-closing the client's write side is
//! stdin EOF; the shim closes the connection when the process's output ends.
//! `wait` and `stop` answer only when the container has exited.
#![forbid(unsafe_code)]

pub mod jsonlog;
pub mod time;
pub mod zygote;

mod client;
mod config;

pub use client::{connect, Client, Error, Stream};
pub use config::{LogConfig, RestartPolicy, RootfsMount, RuntimeKind, ShimConfig, SpecSummary};

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// Version of the wire protocol; a shim rejects requests of another version.
pub const PROTO_VERSION: u32 = 1;

/// Name of the control socket inside a shim's state directory.
pub const SOCKET_NAME: &str = "shim.sock";
/// Name of the shim's configuration file inside its state directory.
pub const CONFIG_NAME: &str = "shim.json";
/// Name of the live-state file the shim keeps in its state directory.
pub const STATE_NAME: &str = "state.json";

/// The socket path of the shim whose state directory is `dir`.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join(SOCKET_NAME)
}

/// A request to a shim.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case")]
pub enum Request {
    /// The container's current state.
    State,
    /// Send `signal` to the container's init (`all`: to every process).
    Kill { signal: i32, all: bool },
    /// Send `signal`, and SIGKILL after `timeout_secs` (none: wait
    /// forever); the restart policy no longer applies. Answers on exit.
    Stop {
        signal: i32,
        timeout_secs: Option<u64>,
    },
    /// Answer when the current run of the container exits.
    Wait,
    /// Stream the container's stdio on this connection.
    Attach {
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
    /// Set the terminal size of the container (or of exec `exec_id`).
    Resize {
        exec_id: Option<String>,
        height: u16,
        width: u16,
    },
    /// Start a process in the container. With `attach`, the connection
    /// becomes its stdio stream.
    Exec {
        exec_id: String,
        /// An OCI runtime-spec `process` object.
        process: serde_json::Value,
        attach: bool,
        stdin: bool,
    },
    /// State of a process started with `Exec`.
    ExecState { exec_id: String },
    /// Freeze every process of the container.
    Pause,
    /// Thaw the container.
    Resume,
    /// Change the restart policy of the live container.
    SetRestart { policy: RestartPolicy },
    /// Resource usage of the container as the runtime reports it.
    Stats,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    v: u32,
    #[serde(flatten)]
    req: Request,
}

/// Lifecycle of the container a shim owns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Created, its process not started yet. Only shims of earlier
    /// versions say so (they held the process back for the attaches of
    /// `ShimConfig::await_attach`, which now hold its output); kept so
    /// an engine can read the state of such a shim still running.
    Created,
    Running,
    Paused,
    /// Exited, and the restart policy will start it again.
    Restarting,
    Stopped,
}

/// How a run of the container ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitStatus {
    /// Docker's exit code: the status, or 128 + the signal that killed it.
    pub code: i32,
    pub finished_at: time::UnixNanos,
    #[serde(default)]
    pub oom_killed: bool,
    /// Set when the process never ran (the runtime failed to start it).
    #[serde(default)]
    pub error: Option<String>,
}

/// A shim's view of its container; also what `state.json` holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShimState {
    pub status: Status,
    /// The container's init process, 0 when not running.
    pub pid: i32,
    pub shim_pid: i32,
    pub started_at: time::UnixNanos,
    pub restart_count: u32,
    pub last_exit: Option<ExitStatus>,
    /// Stopped by a user (`stop`/`kill`), so the restart policy is off.
    #[serde(default)]
    pub manually_stopped: bool,
}

/// What the exit file (written atomically at each exit) holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExitFile {
    pub exit: ExitStatus,
    pub started_at: time::UnixNanos,
    pub restart_count: u32,
    pub manually_stopped: bool,
}

/// State of an exec'd process.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ExecState {
    pub pid: i32,
    pub running: bool,
    pub exit_code: Option<i32>,
}

/// Kinds of error a shim reports, so the engine can map them to statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    NotFound,
    Conflict,
    Invalid,
    Internal,
}

impl ErrorCode {
    pub fn kind(self) -> berth_base::ErrorKind {
        match self {
            ErrorCode::NotFound => berth_base::ErrorKind::NotFound,
            ErrorCode::Conflict => berth_base::ErrorKind::Conflict,
            ErrorCode::Invalid => berth_base::ErrorKind::Invalid,
            ErrorCode::Internal => berth_base::ErrorKind::Internal,
        }
    }
}

/// A shim's answer. Exactly one of the payloads is set on success.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Response {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<(ErrorCode, String)>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<ShimState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exit: Option<ExitStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exec: Option<ExecState>,
    /// Raw runtime statistics (runc's `events --stats` shape).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stats: Option<serde_json::Value>,
}

impl Response {
    pub fn err(code: ErrorCode, msg: impl Into<String>) -> Self {
        Self {
            error: Some((code, msg.into())),
            ..Self::default()
        }
    }
}

/// Encode a request line (with the version) for the wire.
pub fn encode_request(req: &Request) -> Vec<u8> {
    let mut v = serde_json::to_vec(&Envelope {
        v: PROTO_VERSION,
        req: req.clone(),
    })
    .unwrap_or_default();
    v.push(b'\n');
    v
}

/// Decode a request line; errors name what was wrong, for the reply.
pub fn decode_request(line: &[u8]) -> Result<Request, String> {
    let v: serde_json::Value =
        serde_json::from_slice(line).map_err(|e| format!("bad request: {e}"))?;
    match v.get("v").and_then(serde_json::Value::as_u64) {
        Some(n) if n == u64::from(PROTO_VERSION) => {}
        other => {
            return Err(format!(
                "protocol version {other:?} not supported, want {PROTO_VERSION}"
            ))
        }
    }
    let env: Envelope = serde_json::from_value(v).map_err(|e| format!("bad request: {e}"))?;
    Ok(env.req)
}

/// Encode an answer line.
pub fn encode_response(resp: &Response) -> Vec<u8> {
    let mut v = serde_json::to_vec(resp).unwrap_or_default();
    v.push(b'\n');
    v
}

/// Decode an answer line.
pub fn decode_response_line(line: &[u8]) -> Result<Response, String> {
    serde_json::from_slice(line.trim_ascii_end()).map_err(|e| e.to_string())
}

/// Frame kinds of the stdio stream, as in Docker's multiplexed stream.
pub mod frame {
    pub const STDIN: u8 = 0;
    pub const STDOUT: u8 = 1;
    pub const STDERR: u8 = 2;
    /// Largest payload a shim sends in one frame.
    pub const MAX_PAYLOAD: usize = 32 * 1024;

    /// The 8-byte header of a frame.
    pub fn header(kind: u8, len: usize) -> [u8; 8] {
        let n = u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes();
        [kind, 0, 0, 0, n[0], n[1], n[2], n[3]]
    }

    /// Kind and payload length of a header.
    pub fn parse_header(h: &[u8; 8]) -> (u8, usize) {
        (h[0], u32::from_be_bytes([h[4], h[5], h[6], h[7]]) as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_with_version() {
        let reqs = [
            Request::State,
            Request::Kill {
                signal: 9,
                all: false,
            },
            Request::Attach {
                stdin: true,
                stdout: true,
                stderr: false,
            },
            Request::Exec {
                exec_id: "e1".into(),
                process: serde_json::json!({"args": ["ls"]}),
                attach: true,
                stdin: false,
            },
        ];
        for r in reqs {
            let line = encode_request(&r);
            assert!(line.ends_with(b"\n"));
            assert_eq!(decode_request(line.trim_ascii_end()).unwrap(), r);
        }
    }

    #[test]
    fn other_versions_are_refused() {
        let err = decode_request(br#"{"v":2,"op":"state"}"#).unwrap_err();
        assert!(err.contains("version"), "{err}");
        assert!(decode_request(br#"{"op":"state"}"#).is_err());
    }

    #[test]
    fn frame_header_matches_docker() {
        let h = frame::header(frame::STDERR, 0x0102_0304);
        assert_eq!(h, [2, 0, 0, 0, 1, 2, 3, 4]);
        assert_eq!(frame::parse_header(&h), (2, 0x0102_0304));
    }
}
