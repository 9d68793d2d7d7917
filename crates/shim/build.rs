//! Link berth-shim as a position-dependent executable. One shim runs per
//! container, so its private memory is multiplied by the number of
//! containers: a PIE's relocated data (vtables, string tables: about 380
//! KiB here) is written at load time in every shim, while a non-PIE has
//! those addresses fixed at link time and shares the pages with the page
//! cache. Only this binary is linked so; the rest of the workspace keeps
//! its usual flags. The cost is no address randomisation for the shim's
//! own image (its libraries, stack and heap are still randomised).
fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.contains("linux") {
        println!("cargo:rustc-link-arg-bins=-no-pie");
    }
    println!("cargo:rerun-if-changed=build.rs");
}
