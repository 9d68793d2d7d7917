//! `berth-runtime`: a thin binary over the library.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    eprintln!("berth-runtime: not built yet");
    std::process::ExitCode::FAILURE
}
