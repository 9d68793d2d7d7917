//! `berthd`: a thin binary over the library: parse flags, set up logging,
//! open the engine, serve, and return an exit code.
#![forbid(unsafe_code)]

use berth_daemon::backend::EngineBackend;
use berth_daemon::{error::chain, Config, Flags};
use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    let (config, warnings) = match Config::load(Flags::parse()) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("berthd: {}", chain(&e));
            return ExitCode::FAILURE;
        }
    };
    let filter = tracing_subscriber::EnvFilter::try_new(&config.log_level)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    for w in warnings {
        tracing::warn!("{w}");
    }
    if let Err(e) = berth_daemon::server::ensure_not_running(&config.pidfile) {
        tracing::error!("{}", chain(&e));
        return ExitCode::FAILURE;
    }
    let backend = match EngineBackend::open(&config.data_root, &config.exec_root) {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(
                "open engine at {}: {}",
                config.data_root.display(),
                chain(&e)
            );
            return ExitCode::FAILURE;
        }
    };
    match berth_daemon::run(&config, backend) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{}", chain(&e));
            ExitCode::FAILURE
        }
    }
}
