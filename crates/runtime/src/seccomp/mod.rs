//! Compiling the OCI seccomp section to classic BPF.
