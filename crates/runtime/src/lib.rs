//! The OCI runtime: a library, and runc's command line in main.rs
#![forbid(unsafe_code)]

pub mod seccomp;
