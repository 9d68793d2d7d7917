//! How tests treat missing prerequisites (root, a kernel feature, a peer
//! tool): run by hand they skip with a reason; in CI (`CI=true`) they fail,
//! so that a skip never counts as a pass.

/// Whether we run in CI, where a missing prerequisite is a failure.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

/// Returns `ok`; when it is false, panics in CI and prints a skip line
/// otherwise. Use as `if !require(is_root(), "needs root") { return; }`.
pub fn require(ok: bool, why: &str) -> bool {
    if ok {
        return true;
    }
    assert!(!in_ci(), "prerequisite missing in CI: {why}");
    eprintln!("SKIP: {why}");
    false
}

/// Whether the current process runs as uid 0.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|s| {
        s.lines()
            .find(|l| l.starts_with("Uid:"))
            .and_then(|l| l.split_whitespace().nth(2))
            == Some("0")
    })
}

/// Whether `prog` is found on `PATH`.
pub fn have_program(prog: &str) -> bool {
    std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(prog).is_file()))
}
