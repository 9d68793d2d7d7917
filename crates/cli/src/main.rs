//! `berth`: a thin binary over the library.
#![forbid(unsafe_code)]

fn main() -> std::process::ExitCode {
    berth_cli::main_with_args(std::env::args_os())
}
