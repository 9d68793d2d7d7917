//! Engine API client over a UNIX socket
#![forbid(unsafe_code)]
