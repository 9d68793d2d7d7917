//! The only crate with `unsafe`: thin, documented wrappers over system calls
//! that neither libc-free `rustix` nor `nix` cover safely. Every block carries
//! a `SAFETY:` comment; every failing call becomes an `io::Error` naming the
//! call and the object.
#![allow(unsafe_code)]

// Owned by the seccomp work: loading compiled BPF filters.
pub mod seccomp;
pub mod cgroup_bpf;
