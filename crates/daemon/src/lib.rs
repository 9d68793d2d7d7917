//! berthd: the Docker Engine API over HTTP, onto the engine
#![forbid(unsafe_code)]
