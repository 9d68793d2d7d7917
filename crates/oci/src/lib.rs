//! OCI defaults shared by the runtime and the engine.
#![forbid(unsafe_code)]
