//! `berth-shim`: a thin binary over the library.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    eprintln!("berth-shim: not built yet");
    std::process::ExitCode::FAILURE
}
