//! Daemon-to-shim messages, framing and a blocking client
#![forbid(unsafe_code)]
