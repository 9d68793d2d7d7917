//! Enforces the dependency layers of STYLE.md: every internal edge must be in
//! the table, and only `berth-sys` may contain `unsafe`.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

/// Internal crates each crate may depend on (normal and build dependencies).
fn allowed() -> BTreeMap<&'static str, Vec<&'static str>> {
    let l0 = ["berth-base"];
    let mut m: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    m.insert("berth-base", vec![]);
    for c in ["berth-api-types", "berth-sys", "berth-oci"] {
        m.insert(c, l0.to_vec());
    }
    m.insert("berth-cgroups", vec!["berth-base", "berth-sys"]);
    m.insert(
        "berth-runtime",
        vec!["berth-base", "berth-sys", "berth-oci", "berth-cgroups"],
    );
    m.insert("berth-store", vec!["berth-base", "berth-sys"]);
    m.insert("berth-network", vec!["berth-base", "berth-sys"]);
    m.insert("berth-volume", vec!["berth-base", "berth-sys"]);
    m.insert("berth-shim-proto", vec!["berth-base"]);
    m.insert(
        "berth-shim",
        vec![
            "berth-base",
            "berth-sys",
            "berth-oci",
            "berth-shim-proto",
            "berth-runtime",
            "berth-cgroups",
        ],
    );
    m.insert(
        "berth-engine",
        vec![
            "berth-base",
            "berth-sys",
            "berth-store",
            "berth-network",
            "berth-volume",
            "berth-shim-proto",
            "berth-cgroups",
            "berth-oci",
        ],
    );
    m.insert(
        "berth-daemon",
        vec!["berth-base", "berth-engine", "berth-api-types"],
    );
    m.insert("berth-client", vec!["berth-base", "berth-api-types"]);
    m.insert(
        "berth-cli",
        vec!["berth-base", "berth-api-types", "berth-client"],
    );
    m
}

#[test]
fn internal_dependencies_follow_the_layers() {
    let out = Command::new(env!("CARGO"))
        .args([
            "metadata",
            "--format-version",
            "1",
            "--no-deps",
            "--offline",
        ])
        .current_dir(berth_e2e::workspace_root())
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: serde_json::Value = serde_json::from_slice(&out.stdout).expect("metadata json");
    let allowed = allowed();
    let mut bad = BTreeSet::new();
    for pkg in meta["packages"].as_array().expect("packages") {
        let name = pkg["name"].as_str().unwrap_or_default();
        if name == "berth-e2e" {
            continue;
        }
        let ok = allowed
            .get(name)
            .unwrap_or_else(|| panic!("crate {name} is not in the layering table"));
        for dep in pkg["dependencies"].as_array().expect("dependencies") {
            let dn = dep["name"].as_str().unwrap_or_default();
            let is_dev = dep["kind"].as_str() == Some("dev");
            if dn.starts_with("berth-") && !is_dev && !ok.contains(&dn) {
                bad.insert(format!("{name} -> {dn}"));
            }
        }
    }
    assert!(bad.is_empty(), "forbidden dependency edges: {bad:?}");
}

#[test]
fn unsafe_lives_only_in_sys() {
    let root = berth_e2e::workspace_root();
    let mut offenders = Vec::new();
    let mut stack = vec![root.join("crates")];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).expect("read_dir").flatten() {
            let p = entry.path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n != "target") && !p.ends_with("crates/sys") {
                    stack.push(p);
                }
            } else if p.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&p).expect("read source");
                for (i, line) in text.lines().enumerate() {
                    let code = line.split("//").next().unwrap_or_default();
                    if code.contains("unsafe {")
                        || code.contains("unsafe fn")
                        || code.contains("unsafe impl")
                        || code.contains("allow(unsafe_code)")
                    {
                        offenders.push(format!("{}:{}", p.display(), i + 1));
                    }
                }
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "unsafe outside berth-sys: {offenders:?}"
    );
}
