//! OCI defaults shared by the runtime and the engine: what a Docker container
//! gets when the user loosens nothing. Docker's capability set, seccomp
//! profile, masked and read-only paths and mounts, written as data.
#![forbid(unsafe_code)]

mod defaults;
mod seccomp;

pub use defaults::{
    default_capabilities, default_masked_paths, default_mounts, default_readonly_paths,
    CAPABILITY_NAMES,
};
pub use seccomp::{default_seccomp, default_seccomp_for};
