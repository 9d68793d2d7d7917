//! `berth-shim`: a thin binary over the library.
//!
//! `berth-shim start <dir>` — spawn the detached shim for the container
//! configured in `<dir>/shim.json` (the engine runs this);
//! `berth-shim run <dir>` — be that shim;
//! `berth-shim zygote` — fork shims on the engine's requests (see
//! `berth_shim_proto::zygote`).
#![forbid(unsafe_code)]

use std::path::Path;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().collect();
    match (args.get(1).map(String::as_str), args.get(2)) {
        (Some("start"), Some(dir)) => match berth_shim::launch(Path::new(dir)) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("berth-shim: start shim in {dir}: {e}");
                ExitCode::FAILURE
            }
        },
        (Some("zygote"), None) => match berth_shim::zygote() {
            0 => ExitCode::SUCCESS,
            _ => ExitCode::FAILURE,
        },
        (Some("run"), Some(dir)) => match berth_shim::run(Path::new(dir)) {
            0 => ExitCode::SUCCESS,
            _ => ExitCode::FAILURE,
        },
        (Some("--version" | "version"), _) => {
            println!(
                "berth-shim {} (protocol {})",
                env!("CARGO_PKG_VERSION"),
                berth_shim_proto::PROTO_VERSION
            );
            ExitCode::SUCCESS
        }
        _ => {
            eprintln!("usage: berth-shim start|run <state-dir> | berth-shim zygote");
            ExitCode::from(2)
        }
    }
}
