//! The only crate with `unsafe`: thin, documented wrappers over system calls
//! that neither libc-free `rustix` nor `nix` cover safely. Every block carries
//! a `SAFETY:` comment; every failing call becomes an `io::Error` naming the
//! call and the object.
#![allow(unsafe_code)]

pub mod caps;
pub mod process;
// Owned by the seccomp work: loading compiled BPF filters.
pub mod seccomp;
pub mod term;

use std::io;

/// Turns the `-1` convention of a raw call into an `io::Error` that names the
/// call and the object it was made on (`"capset pid 0: Operation not
/// permitted"`); any other value is returned unchanged.
pub fn check(ret: libc::c_long, call: &str, object: &dyn std::fmt::Display) -> io::Result<i64> {
    if ret == -1 {
        let e = io::Error::last_os_error();
        Err(io::Error::new(e.kind(), format!("{call} {object}: {e}")))
    } else {
        Ok(ret)
    }
}
pub mod cgroup_bpf;
