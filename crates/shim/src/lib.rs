//! berth-shim: one per container, holds stdio, logs and exit status
#![forbid(unsafe_code)]
