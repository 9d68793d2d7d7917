//! berth: docker's commands and flags, over HTTP to berthd
#![forbid(unsafe_code)]
