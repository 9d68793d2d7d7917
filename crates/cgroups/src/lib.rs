//! cgroup v1 and v2 managers and statistics
#![forbid(unsafe_code)]
