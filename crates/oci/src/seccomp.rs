//! Docker's default seccomp profile (moby `profiles/seccomp/default.json`) as
//! data, and its resolution for one architecture and capability set, as
//! dockerd does before handing the profile to the runtime: an allow-list with
//! `SCMP_ACT_ERRNO`/EPERM as the default, the `clone`, `clone3`, `socket` and
//! `personality` argument rules, and groups that only a capability unlocks.

use oci_spec::runtime::{
    Arch, Capability, LinuxSeccomp, LinuxSeccompAction as Action, LinuxSeccompArgBuilder,
    LinuxSeccompOperator as Op, LinuxSyscall,
};

/// A condition on architecture (Go's GOARCH names, as in the JSON) and
/// capabilities; empty lists do not constrain.
struct When {
    caps: &'static [Capability],
    arches: &'static [&'static str],
}

const ANY: When = When {
    caps: &[],
    arches: &[],
};

const fn caps(caps: &'static [Capability]) -> When {
    When { caps, arches: &[] }
}

const fn arches(arches: &'static [&'static str]) -> When {
    When { caps: &[], arches }
}

/// One entry of the profile's `syscalls`.
struct Group {
    names: &'static [&'static str],
    action: Action,
    errno_ret: Option<u32>,
    /// (index, value, op); Docker's rules never use valueTwo.
    args: &'static [(usize, u64, Op)],
    /// Applies only when every listed capability is held and the
    /// architecture is listed.
    includes: When,
    /// Skipped when any listed capability is held or the architecture is listed.
    excludes: When,
}

const fn allow(names: &'static [&'static str], includes: When) -> Group {
    Group {
        names,
        action: Action::ScmpActAllow,
        errno_ret: None,
        args: &[],
        includes,
        excludes: ANY,
    }
}

const fn allow_if(names: &'static [&'static str], args: &'static [(usize, u64, Op)]) -> Group {
    Group {
        names,
        action: Action::ScmpActAllow,
        errno_ret: None,
        args,
        includes: ANY,
        excludes: ANY,
    }
}

/// The namespace flags (CLONE_NEWNS | NEWCGROUP | NEWUTS | NEWIPC | NEWUSER |
/// NEWPID | NEWNET) that clone may not carry without CAP_SYS_ADMIN.
const CLONE_NAMESPACES: u64 = 0x7e02_0000;
/// AF_VSOCK: sockets of this family are refused.
const AF_VSOCK: u64 = 40;
const ENOSYS: u32 = 38;

/// The syscalls every container may make.
const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_time64",
    "futex_waitv",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
];

const GROUPS: &[Group] = &[
    allow(ALLOWED, ANY),
    // ptrace is safe from kernel 4.8 on; berth needs a newer kernel anyway.
    allow(&["process_vm_readv", "process_vm_writev", "ptrace"], ANY),
    allow_if(&["socket"], &[(0, AF_VSOCK, Op::ScmpCmpNe)]),
    // PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and the query.
    allow_if(&["personality"], &[(0, 0x0, Op::ScmpCmpEq)]),
    allow_if(&["personality"], &[(0, 0x8, Op::ScmpCmpEq)]),
    allow_if(&["personality"], &[(0, 0x2_0000, Op::ScmpCmpEq)]),
    allow_if(&["personality"], &[(0, 0x2_0008, Op::ScmpCmpEq)]),
    allow_if(&["personality"], &[(0, 0xffff_ffff, Op::ScmpCmpEq)]),
    allow(&["sync_file_range2", "swapcontext"], arches(&["ppc64le"])),
    allow(
        &[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ],
        arches(&["arm", "arm64"]),
    ),
    allow(&["arch_prctl"], arches(&["amd64", "x32"])),
    allow(&["modify_ldt"], arches(&["amd64", "x32", "x86"])),
    allow(
        &[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ],
        arches(&["s390", "s390x"]),
    ),
    allow(&["riscv_flush_icache"], arches(&["riscv64"])),
    allow(&["open_by_handle_at"], caps(&[Capability::DacReadSearch])),
    allow(
        &[
            "bpf",
            "clone",
            "clone3",
            "fanotify_init",
            "fsconfig",
            "fsmount",
            "fsopen",
            "fspick",
            "lookup_dcookie",
            "mount",
            "mount_setattr",
            "move_mount",
            "open_tree",
            "perf_event_open",
            "quotactl",
            "quotactl_fd",
            "setdomainname",
            "sethostname",
            "setns",
            "syslog",
            "umount",
            "umount2",
            "unshare",
        ],
        caps(&[Capability::SysAdmin]),
    ),
    Group {
        names: &["clone"],
        action: Action::ScmpActAllow,
        errno_ret: None,
        args: &[(0, CLONE_NAMESPACES, Op::ScmpCmpMaskedEq)],
        includes: ANY,
        excludes: When {
            caps: &[Capability::SysAdmin],
            arches: &["s390", "s390x"],
        },
    },
    // s390 passes clone's flags second.
    Group {
        names: &["clone"],
        action: Action::ScmpActAllow,
        errno_ret: None,
        args: &[(1, CLONE_NAMESPACES, Op::ScmpCmpMaskedEq)],
        includes: arches(&["s390", "s390x"]),
        excludes: caps(&[Capability::SysAdmin]),
    },
    // clone3's flags sit in memory seccomp cannot read: ENOSYS makes libc
    // fall back to clone, whose flags it can.
    Group {
        names: &["clone3"],
        action: Action::ScmpActErrno,
        errno_ret: Some(ENOSYS),
        args: &[],
        includes: ANY,
        excludes: caps(&[Capability::SysAdmin]),
    },
    allow(&["reboot"], caps(&[Capability::SysBoot])),
    allow(&["chroot"], caps(&[Capability::SysChroot])),
    allow(
        &["delete_module", "init_module", "finit_module"],
        caps(&[Capability::SysModule]),
    ),
    allow(&["acct"], caps(&[Capability::SysPacct])),
    allow(
        &[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ],
        caps(&[Capability::SysPtrace]),
    ),
    allow(&["iopl", "ioperm"], caps(&[Capability::SysRawio])),
    allow(
        &["settimeofday", "stime", "clock_settime", "clock_settime64"],
        caps(&[Capability::SysTime]),
    ),
    allow(&["vhangup"], caps(&[Capability::SysTtyConfig])),
    allow(
        &[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ],
        caps(&[Capability::SysNice]),
    ),
    allow(&["syslog"], caps(&[Capability::Syslog])),
    allow(&["bpf"], caps(&[Capability::Bpf])),
    allow(&["perf_event_open"], caps(&[Capability::Perfmon])),
];

/// Go's name for an architecture, which the profile's conditions use.
fn goarch(arch: Arch) -> &'static str {
    match arch {
        Arch::ScmpArchX86_64 => "amd64",
        Arch::ScmpArchX86 => "386",
        Arch::ScmpArchX32 => "x32",
        Arch::ScmpArchAarch64 => "arm64",
        Arch::ScmpArchArm => "arm",
        Arch::ScmpArchMips => "mips",
        Arch::ScmpArchMipsel => "mipsle",
        Arch::ScmpArchMips64 => "mips64",
        Arch::ScmpArchMipsel64 => "mips64le",
        Arch::ScmpArchMips64n32 => "mips64p32",
        Arch::ScmpArchMipsel64n32 => "mips64p32le",
        Arch::ScmpArchPpc => "ppc",
        Arch::ScmpArchPpc64 => "ppc64",
        Arch::ScmpArchPpc64le => "ppc64le",
        Arch::ScmpArchS390 => "s390",
        Arch::ScmpArchS390x => "s390x",
        Arch::ScmpArchRiscv64 => "riscv64",
        Arch::ScmpArchNative => match native() {
            Arch::ScmpArchNative => "",
            known => goarch(known),
        },
    }
}

/// The profile's archMap: the architectures a filter for `arch` covers.
fn arch_family(arch: Arch) -> Vec<Arch> {
    use Arch::*;
    let subs: &[Arch] = match arch {
        ScmpArchX86_64 => &[ScmpArchX86, ScmpArchX32],
        ScmpArchAarch64 => &[ScmpArchArm],
        ScmpArchMips64 => &[ScmpArchMips, ScmpArchMips64n32],
        ScmpArchMips64n32 => &[ScmpArchMips, ScmpArchMips64],
        ScmpArchMipsel64 => &[ScmpArchMipsel, ScmpArchMipsel64n32],
        ScmpArchMipsel64n32 => &[ScmpArchMipsel, ScmpArchMipsel64],
        ScmpArchS390x => &[ScmpArchS390],
        _ => &[],
    };
    std::iter::once(arch).chain(subs.iter().copied()).collect()
}

/// The architecture this binary is built for.
fn native() -> Arch {
    if cfg!(target_arch = "x86_64") {
        Arch::ScmpArchX86_64
    } else if cfg!(target_arch = "aarch64") {
        Arch::ScmpArchAarch64
    } else if cfg!(target_arch = "x86") {
        Arch::ScmpArchX86
    } else if cfg!(target_arch = "arm") {
        Arch::ScmpArchArm
    } else if cfg!(target_arch = "riscv64") {
        Arch::ScmpArchRiscv64
    } else if cfg!(target_arch = "s390x") {
        Arch::ScmpArchS390x
    } else if cfg!(all(target_arch = "powerpc64", target_endian = "little")) {
        Arch::ScmpArchPpc64le
    } else {
        Arch::ScmpArchNative
    }
}

/// Docker's default profile for this machine's architecture and a container
/// holding `caps` (its bounding set), as dockerd resolves it.
pub fn default_seccomp<'a>(caps: impl IntoIterator<Item = &'a Capability>) -> LinuxSeccomp {
    default_seccomp_for(native(), caps)
}

/// Docker's default profile resolved for `arch` and the capabilities `caps`.
pub fn default_seccomp_for<'a>(
    arch: Arch,
    caps: impl IntoIterator<Item = &'a Capability>,
) -> LinuxSeccomp {
    let arch = match arch {
        Arch::ScmpArchNative => native(),
        a => a,
    };
    let held: Vec<Capability> = caps.into_iter().copied().collect();
    let goarch = goarch(arch);
    let excluded = |w: &When| w.arches.contains(&goarch) || w.caps.iter().any(|c| held.contains(c));
    let included = |w: &When| {
        (w.arches.is_empty() || w.arches.contains(&goarch))
            && w.caps.iter().all(|c| held.contains(c))
    };
    let syscalls = GROUPS
        .iter()
        .filter(|g| !excluded(&g.excludes) && included(&g.includes))
        .map(|g| {
            let mut s = LinuxSyscall::default();
            s.set_names(g.names.iter().map(|n| n.to_string()).collect());
            s.set_action(g.action);
            s.set_errno_ret(g.errno_ret);
            if !g.args.is_empty() {
                let args = g
                    .args
                    .iter()
                    .map(|&(index, value, op)| {
                        LinuxSeccompArgBuilder::default()
                            .index(index)
                            .value(value)
                            .op(op)
                            .build()
                            .expect("every field of a seccomp arg has a default")
                    })
                    .collect();
                s.set_args(Some(args));
            }
            s
        })
        .collect();
    let mut profile = LinuxSeccomp::default();
    profile.set_default_action(Action::ScmpActErrno);
    profile.set_default_errno_ret(Some(1));
    // An unknown native architecture leaves the list empty: the runtime then
    // covers just the one it runs on.
    if arch != Arch::ScmpArchNative {
        profile.set_architectures(Some(arch_family(arch)));
    }
    profile.set_syscalls(Some(syscalls));
    profile
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::default_capabilities;

    fn rules_for<'p>(p: &'p LinuxSeccomp, name: &str) -> Vec<&'p LinuxSyscall> {
        p.syscalls()
            .iter()
            .flatten()
            .filter(|s| s.names().iter().any(|n| n == name))
            .collect()
    }

    #[test]
    fn default_profile_denies_by_default_with_eperm() {
        let p = default_seccomp_for(Arch::ScmpArchX86_64, &default_capabilities());
        assert_eq!(p.default_action(), Action::ScmpActErrno);
        assert_eq!(p.default_errno_ret(), Some(1));
        assert_eq!(
            p.architectures().as_deref(),
            Some(&[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32][..])
        );
        assert!(ALLOWED.len() > 340, "{}", ALLOWED.len());
        for name in ["read", "execve", "openat", "getpid", "exit_group", "chroot"] {
            assert!(!rules_for(&p, name).is_empty(), "{name} allowed");
        }
        // Left to the default action (EPERM) without the capability.
        for name in [
            "mount",
            "umount2",
            "unshare",
            "setns",
            "keyctl",
            "add_key",
            "bpf",
            "reboot",
            "init_module",
            "kcmp",
        ] {
            assert!(rules_for(&p, name).is_empty(), "{name} must not be allowed");
        }
        assert!(rules_for(&p, "arch_prctl").len() == 1);
        assert!(rules_for(&p, "set_tls").is_empty());
    }

    #[test]
    fn clone_rules_follow_cap_sys_admin() {
        let p = default_seccomp_for(Arch::ScmpArchX86_64, &default_capabilities());
        let clone = rules_for(&p, "clone");
        assert_eq!(clone.len(), 1);
        let args = clone[0].args().as_deref().unwrap_or(&[]);
        assert_eq!(args.len(), 1);
        assert_eq!(
            (args[0].index(), args[0].value(), args[0].op()),
            (0, CLONE_NAMESPACES, Op::ScmpCmpMaskedEq)
        );
        let clone3 = rules_for(&p, "clone3");
        assert_eq!(clone3.len(), 1);
        assert_eq!(
            (clone3[0].action(), clone3[0].errno_ret()),
            (Action::ScmpActErrno, Some(ENOSYS))
        );

        let mut caps = default_capabilities();
        caps.push(Capability::SysAdmin);
        let p = default_seccomp_for(Arch::ScmpArchX86_64, &caps);
        let clone = rules_for(&p, "clone");
        assert_eq!(clone.len(), 1);
        assert!(clone[0].args().is_none());
        assert!(rules_for(&p, "clone3")
            .iter()
            .all(|s| s.action() == Action::ScmpActAllow));
        assert!(!rules_for(&p, "mount").is_empty());
        assert!(!rules_for(&p, "unshare").is_empty());
    }

    #[test]
    fn arch_and_capability_groups() {
        let p = default_seccomp_for(Arch::ScmpArchAarch64, &[]);
        assert_eq!(
            p.architectures().as_deref(),
            Some(&[Arch::ScmpArchAarch64, Arch::ScmpArchArm][..])
        );
        assert!(!rules_for(&p, "set_tls").is_empty());
        assert!(rules_for(&p, "arch_prctl").is_empty());
        let s390 = default_seccomp_for(Arch::ScmpArchS390x, &[]);
        let clone = rules_for(&s390, "clone");
        assert_eq!(clone.len(), 1);
        assert_eq!(clone[0].args().as_deref().map(|a| a[0].index()), Some(1));

        let p = default_seccomp_for(
            Arch::ScmpArchX86_64,
            &[Capability::SysPtrace, Capability::SysTime],
        );
        assert!(!rules_for(&p, "kcmp").is_empty());
        assert!(!rules_for(&p, "clock_settime").is_empty());
        assert!(rules_for(&p, "reboot").is_empty());
        assert_eq!(
            default_seccomp(&[]),
            default_seccomp_for(Arch::ScmpArchNative, &[])
        );
    }

    #[test]
    fn profile_round_trips_through_oci_json() {
        let p = default_seccomp(&default_capabilities());
        let json = serde_json::to_string(&p).expect("serialize");
        assert!(
            json.contains("\"defaultAction\":\"SCMP_ACT_ERRNO\""),
            "{json}"
        );
        assert!(json.contains("SCMP_CMP_MASKED_EQ"));
        let back: LinuxSeccomp = serde_json::from_str(&json).expect("parse");
        assert_eq!(back, p);
    }
}
