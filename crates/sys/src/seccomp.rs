//! Loading seccomp BPF programs into the kernel.
