//! Helpers shared by the process-level tests.
#![forbid(unsafe_code)]

use std::path::{Path, PathBuf};

/// The workspace root (the directory holding the top Cargo.toml).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// Whether a missing prerequisite must fail the test rather than skip it:
/// in CI (`CI=true`) a skip never counts as a pass.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Skip (return `false`) when `ok` is false and we are not in CI; panic with
/// `why` in CI. Use as `if !require(is_root(), "needs root") { return; }`.
pub fn require(ok: bool, why: &str) -> bool {
    if ok {
        return true;
    }
    assert!(!in_ci(), "prerequisite missing in CI: {why}");
    eprintln!("SKIP: {why}");
    false
}
