//! Helpers shared by the process-level tests.
#![forbid(unsafe_code)]

pub mod daemon;

use std::path::{Path, PathBuf};

pub use berth_base::testenv::{have_program, in_ci, is_root, require};

/// The workspace root (the directory holding the top Cargo.toml).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Where the release binaries are: `BERTH_BIN_DIR`, else target/release.
pub fn bin_dir() -> PathBuf {
    std::env::var_os("BERTH_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target/release"))
}
