//! The compiler checked by running its programs: a small classic-BPF
//! interpreter evaluates each program against `seccomp_data` inputs, and a
//! reference evaluation of the OCI rules says what the answer must be.

use super::*;
use oci_spec::runtime::Arch as OciArch;

/// Interprets a seccomp program over one `seccomp_data`, as the kernel does,
/// checking that every jump stays inside the program and every path returns.
pub(super) fn run(prog: &[SockFilter], data: &[u8; 64], little_endian: bool) -> u32 {
    let mut a: u32 = 0;
    let mut pc = 0usize;
    for _ in 0..=prog.len() {
        let i = prog
            .get(pc)
            .unwrap_or_else(|| panic!("fell off the program at {pc}"));
        pc += 1;
        match i.code {
            0x20 => {
                let k = i.k as usize;
                assert!(k % 4 == 0 && k + 4 <= 64, "bad load offset {k}");
                let w = [data[k], data[k + 1], data[k + 2], data[k + 3]];
                a = if little_endian {
                    u32::from_le_bytes(w)
                } else {
                    u32::from_be_bytes(w)
                };
            }
            0x54 => a &= i.k,
            0x05 => pc += i.k as usize,
            0x15 | 0x25 | 0x35 => {
                let holds = match i.code {
                    0x15 => a == i.k,
                    0x25 => a > i.k,
                    _ => a >= i.k,
                };
                pc += usize::from(if holds { i.jt } else { i.jf });
            }
            0x06 => return i.k,
            c => panic!("unexpected opcode {c:#x} at {}", pc - 1),
        }
        assert!(pc < prog.len(), "jump past the end to {pc}");
    }
    panic!("program loops");
}

pub(super) fn data(arch: &ArchInfo, nr: u32, args: [u64; 6]) -> [u8; 64] {
    let mut d = [0u8; 64];
    let le = arch.little_endian();
    let put32 = |d: &mut [u8; 64], at: usize, v: u32| {
        let b = if le { v.to_le_bytes() } else { v.to_be_bytes() };
        d[at..at + 4].copy_from_slice(&b);
    };
    put32(&mut d, 0, nr);
    put32(&mut d, 4, arch.audit);
    for (i, v) in args.iter().enumerate() {
        let b = if le { v.to_le_bytes() } else { v.to_be_bytes() };
        d[16 + 8 * i..24 + 8 * i].copy_from_slice(&b);
    }
    d
}

pub(super) fn spec(json: &str) -> LinuxSeccomp {
    serde_json::from_str(json).expect("test profile parses")
}

fn eval(prog: &[SockFilter], arch: &ArchInfo, name: &str, args: [u64; 6]) -> u32 {
    let nr = arch
        .resolve(name)
        .unwrap_or_else(|| panic!("{name} on {}", arch.name));
    run(prog, &data(arch, nr, args), arch.little_endian())
}

const ERRNO_EPERM: u32 = RET_ERRNO | 1;

#[test]
fn plain_rules_and_default_action() {
    let s = spec(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock","syscalls":[
            {"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO"},
            {"names":["getcwd"],"action":"SCMP_ACT_ERRNO","errnoRet":38},
            {"names":["kill"],"action":"SCMP_ACT_KILL_PROCESS"},
            {"names":["tkill"],"action":"SCMP_ACT_KILL"},
            {"names":["tgkill"],"action":"SCMP_ACT_TRAP"},
            {"names":["uname"],"action":"SCMP_ACT_LOG"},
            {"names":["ptrace"],"action":"SCMP_ACT_TRACE","errnoRet":7},
            {"names":["open"],"action":"SCMP_ACT_NOTIFY"},
            {"names":["no_such_syscall"],"action":"SCMP_ACT_KILL"}]}"#,
    );
    let p = compile(&s).expect("compiles");
    let x = &arch::X86_64;
    assert_eq!(eval(&p, x, "mkdir", [0; 6]), ERRNO_EPERM);
    assert_eq!(eval(&p, x, "mkdirat", [0; 6]), ERRNO_EPERM);
    assert_eq!(eval(&p, x, "getcwd", [0; 6]), RET_ERRNO | 38);
    assert_eq!(eval(&p, x, "kill", [0; 6]), RET_KILL_PROCESS);
    assert_eq!(eval(&p, x, "tkill", [0; 6]), RET_KILL_THREAD);
    assert_eq!(eval(&p, x, "tgkill", [0; 6]), RET_TRAP);
    assert_eq!(eval(&p, x, "uname", [0; 6]), RET_LOG);
    assert_eq!(eval(&p, x, "ptrace", [0; 6]), RET_TRACE | 7);
    assert_eq!(eval(&p, x, "open", [0; 6]), RET_USER_NOTIF);
    for name in ["read", "write", "getpid", "clone3", "futex_requeue"] {
        assert_eq!(eval(&p, x, name, [0; 6]), RET_ALLOW, "{name}");
    }
    // Numbers no table knows fall to the default action too.
    assert_eq!(run(&p, &data(x, 999, [0; 6]), true), RET_ALLOW);
    assert_eq!(run(&p, &data(x, 0x3fff_ffff, [0; 6]), true), RET_ALLOW);
    assert!(uses_notify(&s));
}

#[test]
fn default_errno_ret_and_deny_list() {
    let s = spec(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":38,"syscalls":[
            {"names":["read","write","exit_group"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    let p = compile(&s).expect("compiles");
    let x = &arch::X86_64;
    assert_eq!(eval(&p, x, "read", [0; 6]), RET_ALLOW);
    assert_eq!(eval(&p, x, "exit_group", [0; 6]), RET_ALLOW);
    assert_eq!(eval(&p, x, "mkdir", [0; 6]), RET_ERRNO | 38);
    assert!(!uses_notify(&s));
    let s = spec(r#"{"defaultAction":"SCMP_ACT_ERRNO"}"#);
    let p = compile(&s).expect("compiles");
    assert_eq!(eval(&p, x, "read", [0; 6]), ERRNO_EPERM);
}

#[test]
fn architectures_and_x32() {
    let rules = r#""syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO"}]"#;
    let only_native = spec(&format!(r#"{{"defaultAction":"SCMP_ACT_ALLOW",{rules}}}"#));
    let p = compile(&only_native).expect("compiles");
    let (x, x86, x32) = (&arch::X86_64, &arch::X86, &arch::X32);
    assert_eq!(eval(&p, x, "mkdir", [0; 6]), ERRNO_EPERM);
    // Unlisted architectures, and x32 numbers on x86_64's token, are killed.
    assert_eq!(eval(&p, x86, "mkdir", [0; 6]), RET_KILL_PROCESS);
    assert_eq!(eval(&p, x86, "getpid", [0; 6]), RET_KILL_PROCESS);
    assert_eq!(eval(&p, x32, "getpid", [0; 6]), RET_KILL_PROCESS);
    assert_eq!(eval(&p, &arch::AARCH64, "getpid", [0; 6]), RET_KILL_PROCESS);

    let all = spec(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW",
            "architectures":["SCMP_ARCH_X86","SCMP_ARCH_X32","SCMP_ARCH_AARCH64","SCMP_ARCH_S390X"],
            {rules}}}"#
    ));
    let p = compile(&all).expect("compiles");
    let s390x = arch::from_oci(OciArch::ScmpArchS390x).expect("s390x");
    for a in [x, x86, x32, &arch::AARCH64, &s390x] {
        assert_eq!(eval(&p, a, "getpid", [0; 6]), RET_ALLOW, "{}", a.name);
        if a.resolve("mkdir").is_some() {
            assert_eq!(eval(&p, a, "mkdir", [0; 6]), ERRNO_EPERM, "{}", a.name);
        }
    }
    // aarch64 has no mkdir: the name is skipped there, mkdirat is untouched.
    assert_eq!(eval(&p, &arch::AARCH64, "mkdirat", [0; 6]), RET_ALLOW);
    assert_eq!(eval(&p, &arch::ARM, "getpid", [0; 6]), RET_KILL_PROCESS);
}

/// Values around every boundary a 64-bit comparison split in halves has.
pub(super) const PROBES: [u64; 12] = [
    0,
    1,
    7,
    8,
    9,
    0x7fff_ffff,
    0xffff_ffff,
    0x1_0000_0000,
    0x1_0000_0007,
    0x1_0000_0008,
    0x1_ffff_ffff,
    u64::MAX,
];

fn holds(op: &str, arg: u64, value: u64, two: u64) -> bool {
    match op {
        "SCMP_CMP_EQ" => arg == value,
        "SCMP_CMP_NE" => arg != value,
        "SCMP_CMP_LT" => arg < value,
        "SCMP_CMP_LE" => arg <= value,
        "SCMP_CMP_GT" => arg > value,
        "SCMP_CMP_GE" => arg >= value,
        "SCMP_CMP_MASKED_EQ" => arg & value == two,
        _ => unreachable!("{op}"),
    }
}

pub(super) const OPS: [&str; 7] = [
    "SCMP_CMP_EQ",
    "SCMP_CMP_NE",
    "SCMP_CMP_LT",
    "SCMP_CMP_LE",
    "SCMP_CMP_GT",
    "SCMP_CMP_GE",
    "SCMP_CMP_MASKED_EQ",
];

#[test]
fn every_operator_on_both_halves() {
    let x86 = &arch::X86;
    for op in OPS {
        for &value in &PROBES {
            for two in [0u64, 8, 0x1_0000_0000] {
                for index in [0usize, 3, 5] {
                    let s = spec(&format!(
                        r#"{{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86"],
                        "syscalls":[{{"names":["personality"],"action":"SCMP_ACT_ERRNO",
                        "args":[{{"index":{index},"value":{value},"valueTwo":{two},"op":"{op}"}}]}}]}}"#
                    ));
                    let p = compile(&s).expect("compiles");
                    for &arg in &PROBES {
                        let mut args = [0x5555_5555_5555_5555u64; 6];
                        args[index] = arg;
                        let want = if holds(op, arg, value, two) {
                            ERRNO_EPERM
                        } else {
                            RET_ALLOW
                        };
                        let got = eval(&p, &arch::X86_64, "personality", args);
                        assert_eq!(
                            got, want,
                            "{op} arg{index}={arg:#x} value={value:#x} two={two:#x}"
                        );
                        // 32-bit ABIs compare the low halves only, as libseccomp does.
                        let want32 = if holds(
                            op,
                            arg & 0xffff_ffff,
                            value & 0xffff_ffff,
                            two & 0xffff_ffff,
                        ) {
                            ERRNO_EPERM
                        } else {
                            RET_ALLOW
                        };
                        let mut args32 = args;
                        args32[index] = arg & 0xffff_ffff;
                        let got = eval(&p, x86, "personality", args32);
                        assert_eq!(got, want32, "x86 {op} arg{index}={arg:#x} value={value:#x}");
                    }
                }
            }
        }
    }
}

#[test]
fn big_endian_argument_layout() {
    let s = spec(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_S390X"],
        "syscalls":[{"names":["personality"],"action":"SCMP_ACT_ERRNO",
        "args":[{"index":1,"value":4294967296,"op":"SCMP_CMP_GE"}]}]}"#,
    );
    let p = compile(&s).expect("compiles");
    let s390x = arch::from_oci(OciArch::ScmpArchS390x).expect("s390x");
    assert_eq!(
        eval(&p, &s390x, "personality", [0, 0xffff_ffff, 0, 0, 0, 0]),
        RET_ALLOW
    );
    assert_eq!(
        eval(&p, &s390x, "personality", [0, 0x1_0000_0000, 0, 0, 0, 0]),
        ERRNO_EPERM
    );
}

#[test]
fn conditions_and_rules_combine() {
    let s = spec(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[
        {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":0,"op":"SCMP_CMP_EQ"}]},
        {"names":["personality"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":8,"op":"SCMP_CMP_EQ"}]},
        {"names":["socket"],"action":"SCMP_ACT_ALLOW","args":[
            {"index":0,"value":2,"op":"SCMP_CMP_GE"},{"index":1,"value":3,"op":"SCMP_CMP_LT"}]},
        {"names":["ioctl"],"action":"SCMP_ACT_ALLOW","args":[
            {"index":1,"value":21505,"op":"SCMP_CMP_EQ"},{"index":1,"value":21506,"op":"SCMP_CMP_EQ"}]},
        {"names":["clone"],"action":"SCMP_ACT_KILL_PROCESS","args":[
            {"index":0,"value":268435456,"valueTwo":268435456,"op":"SCMP_CMP_MASKED_EQ"}]},
        {"names":["clone"],"action":"SCMP_ACT_ALLOW"},
        {"names":["getpid"],"action":"SCMP_ACT_ALLOW"},
        {"names":["getpid"],"action":"SCMP_ACT_KILL","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]}
        ]}"#,
    );
    let p = compile(&s).expect("compiles");
    let x = &arch::X86_64;
    let a0 = |v: u64| [v, 0, 0, 0, 0, 0];
    // Rules on one syscall are ORed.
    assert_eq!(eval(&p, x, "personality", a0(0)), RET_ALLOW);
    assert_eq!(eval(&p, x, "personality", a0(8)), RET_ALLOW);
    assert_eq!(eval(&p, x, "personality", a0(0xffff_ffff)), ERRNO_EPERM);
    assert_eq!(eval(&p, x, "personality", a0(0x1_0000_0000)), ERRNO_EPERM);
    // Conditions of one rule are ANDed.
    assert_eq!(eval(&p, x, "socket", [2, 2, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(eval(&p, x, "socket", [1, 2, 0, 0, 0, 0]), ERRNO_EPERM);
    assert_eq!(eval(&p, x, "socket", [2, 3, 0, 0, 0, 0]), ERRNO_EPERM);
    // A repeated index ORs the conditions, as runc does.
    assert_eq!(eval(&p, x, "ioctl", [0, 21505, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(eval(&p, x, "ioctl", [0, 21506, 0, 0, 0, 0]), RET_ALLOW);
    assert_eq!(eval(&p, x, "ioctl", [0, 21507, 0, 0, 0, 0]), ERRNO_EPERM);
    // Conditional rules come before the syscall's unconditional rule.
    assert_eq!(eval(&p, x, "clone", a0(0x1000_0011)), RET_KILL_PROCESS);
    assert_eq!(eval(&p, x, "clone", a0(0x11)), RET_ALLOW);
    assert_eq!(eval(&p, x, "getpid", a0(1)), RET_KILL_THREAD);
    assert_eq!(eval(&p, x, "getpid", a0(2)), RET_ALLOW);
}

#[test]
fn long_programs_use_trampolines() {
    // Every x86_64 syscall gets its own conditional chain: the tree's jumps
    // then span far more than 255 instructions.
    let names: Vec<String> = arch::X86_64
        .syscalls()
        .map(|(n, _)| format!("\"{n}\""))
        .collect();
    let s = spec(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{{"names":[{}],
        "action":"SCMP_ACT_ALLOW","args":[{{"index":2,"value":42,"op":"SCMP_CMP_NE"}}]}}]}}"#,
        names.join(",")
    ));
    let p = compile(&s).expect("compiles");
    assert!(
        p.len() > 1000 && p.len() <= MAX_INSNS,
        "{} instructions",
        p.len()
    );
    assert!(
        p.iter().any(|i| i.code == 0x05),
        "no trampoline in a long program"
    );
    let x = &arch::X86_64;
    for (name, _) in x.syscalls() {
        assert_eq!(eval(&p, x, name, [0, 0, 1, 0, 0, 0]), RET_ALLOW, "{name}");
        assert_eq!(
            eval(&p, x, name, [0, 0, 42, 0, 0, 0]),
            ERRNO_EPERM,
            "{name}"
        );
    }
}

#[test]
fn too_long_programs_are_refused() {
    // 17 architectures × ~400 syscalls with conditions cannot fit.
    let names: Vec<String> = arch::X86
        .syscalls()
        .map(|(n, _)| format!("\"{n}\""))
        .collect();
    let s = spec(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86","SCMP_ARCH_ARM",
        "SCMP_ARCH_PPC64LE","SCMP_ARCH_S390X"],"syscalls":[{{"names":[{}],
        "action":"SCMP_ACT_ALLOW","args":[{{"index":2,"value":42,"op":"SCMP_CMP_NE"}}]}}]}}"#,
        names.join(",")
    ));
    let err = compile(&s).expect_err("too long");
    assert!(matches!(err, SeccompError::TooLong { .. }), "{err}");
    assert!(err.to_string().contains("4096"), "{err}");
}

#[test]
fn bad_input_is_named() {
    let s = spec(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["personality"],
        "action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    let err = compile(&s).expect_err("index 6");
    assert_eq!(
        err.to_string(),
        "seccomp rule for syscall `personality` uses argument index 6; syscalls have arguments 0 to 5"
    );
    assert_eq!(err.kind(), ErrorKind::Invalid);
    let err = compile(&spec(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#)).expect_err("notify");
    assert!(err.to_string().contains("SCMP_ACT_NOTIFY"), "{err}");
    let err = compile(&spec(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":[""],"action":"SCMP_ACT_KILL"}]}"#,
    ))
    .expect_err("empty name");
    assert!(matches!(err, SeccompError::EmptyName));
    let err = compile(&spec(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["open"],"action":"SCMP_ACT_NOTIFY"}]}"#,
    ))
    .expect_err("notify without listener");
    assert!(matches!(err, SeccompError::NoListenerPath), "{err}");
    // Unknown actions, architectures and operators fail at parse time.
    for bad in [
        r#"{"defaultAction":"SCMP_ACT_BOGUS"}"#,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_VAX"]}"#,
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":1,"op":"SCMP_CMP_ABOUT"}]}]}"#,
    ] {
        assert!(serde_json::from_str::<LinuxSeccomp>(bad).is_err(), "{bad}");
    }
}

#[test]
fn flags_map_to_kernel_bits() {
    let s = spec(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG",
        "SECCOMP_FILTER_FLAG_SPEC_ALLOW","SECCOMP_FILTER_FLAG_TSYNC"]}"#,
    );
    assert_eq!(filter_flags(&s), 0b111);
    assert_eq!(
        filter_flags(&spec(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#)),
        0
    );
}

#[test]
fn docker_default_profile() {
    use oci_spec::runtime::Capability;
    let caps = berth_oci::default_capabilities();
    let profile = berth_oci::default_seccomp_for(OciArch::ScmpArchX86_64, &caps);
    let start = std::time::Instant::now();
    let p = compile(&profile).expect("Docker's profile compiles");
    let took = start.elapsed();
    // Not an assertion on time: a figure for the report.
    eprintln!(
        "docker profile: {} instructions, compiled in {took:?}",
        p.len()
    );
    assert!(p.len() <= MAX_INSNS, "{} instructions", p.len());

    const CLONE_NEWUSER: u64 = 0x1000_0000;
    const SIGCHLD: u64 = 17;
    for a in [&arch::X86_64, &arch::X86, &arch::X32] {
        let run = |name: &str, args: [u64; 6]| eval(&p, a, name, args);
        for name in [
            "read",
            "write",
            "openat",
            "execve",
            "getpid",
            "exit_group",
            "chroot",
        ] {
            assert_eq!(run(name, [0; 6]), RET_ALLOW, "{} {name}", a.name);
        }
        for name in [
            "mount", "umount2", "unshare", "setns", "keyctl", "add_key", "bpf", "reboot",
        ] {
            assert_eq!(run(name, [0; 6]), ERRNO_EPERM, "{} {name}", a.name);
        }
        let calls: [(&str, u64, u32); 8] = [
            ("clone", SIGCHLD, RET_ALLOW),
            ("clone", SIGCHLD | CLONE_NEWUSER, ERRNO_EPERM),
            ("clone3", 0, RET_ERRNO | 38),
            ("socket", 40, ERRNO_EPERM), // AF_VSOCK
            ("socket", 2, RET_ALLOW),    // AF_INET
            ("personality", 8, RET_ALLOW),
            ("personality", 0xffff_ffff, RET_ALLOW),
            ("personality", 0x40000, ERRNO_EPERM),
        ];
        for (name, arg0, want) in calls {
            let got = run(name, [arg0, 0, 0, 0, 0, 0]);
            assert_eq!(got, want, "{} {name}({arg0:#x})", a.name);
        }
    }
    // Newer than the profile (cachestat came after futex_waitv): ENOSYS.
    assert_eq!(
        eval(&p, &arch::X86_64, "cachestat", [0; 6]),
        RET_ERRNO | ENOSYS
    );
    // x86_64 alone has arch_prctl; aarch64 is not covered at all.
    assert_eq!(eval(&p, &arch::X86_64, "arch_prctl", [0; 6]), RET_ALLOW);
    assert_eq!(eval(&p, &arch::AARCH64, "read", [0; 6]), RET_KILL_PROCESS);

    // With CAP_SYS_ADMIN, namespaces and mounts open up.
    let mut admin = caps.clone();
    admin.push(Capability::SysAdmin);
    let p = compile(&berth_oci::default_seccomp_for(
        OciArch::ScmpArchX86_64,
        &admin,
    ))
    .expect("compiles");
    let x = &arch::X86_64;
    assert_eq!(eval(&p, x, "mount", [0; 6]), RET_ALLOW);
    assert_eq!(
        eval(&p, x, "clone", [CLONE_NEWUSER, 0, 0, 0, 0, 0]),
        RET_ALLOW
    );
    assert_eq!(eval(&p, x, "clone3", [0; 6]), RET_ALLOW);

    // Every architecture family Docker maps compiles within the limit.
    for family in [
        OciArch::ScmpArchAarch64,
        OciArch::ScmpArchS390x,
        OciArch::ScmpArchMips64,
    ] {
        let p = compile(&berth_oci::default_seccomp_for(family, &admin)).expect("compiles");
        assert!(p.len() <= MAX_INSNS, "{family:?}: {}", p.len());
    }
}

#[test]
fn syscalls_newer_than_the_profile_get_enosys() {
    let deny = spec(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86","SCMP_ARCH_X32","SCMP_ARCH_S390X"],
        "syscalls":[{"names":["read","write","clone3","pwritev2"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    let p = compile(&deny).expect("compiles");
    let x = &arch::X86_64;
    let enosys = RET_ERRNO | ENOSYS;
    // clone3 (435) is the highest named: older unnamed calls get the default,
    // newer ones ENOSYS.
    assert_eq!(eval(&p, x, "mkdir", [0; 6]), ERRNO_EPERM);
    assert_eq!(eval(&p, x, "cachestat", [0; 6]), enosys);
    assert_eq!(run(&p, &data(x, 436, [0; 6]), true), enosys);
    assert_eq!(run(&p, &data(x, 0x3fff_ffff, [0; 6]), true), enosys);
    assert_eq!(eval(&p, &arch::X86, "cachestat", [0; 6]), enosys);
    // x32's highest named is pwritev2 (x32 547).
    assert_eq!(eval(&p, &arch::X32, "cachestat", [0; 6]), ERRNO_EPERM);
    assert_eq!(
        run(&p, &data(&arch::X32, X32_SYSCALL_BIT + 548, [0; 6]), true),
        enosys
    );
    let s390x = arch::from_oci(OciArch::ScmpArchS390x).expect("s390x");
    assert_eq!(run(&p, &data(&s390x, 0, [0; 6]), false), enosys);
    assert_eq!(eval(&p, &s390x, "mkdir", [0; 6]), ERRNO_EPERM);

    // Allowing, logging and tracing defaults keep their action.
    for default in ["SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"] {
        let s = spec(&format!(
            r#"{{"defaultAction":"{default}","syscalls":[{{"names":["mkdir"],"action":"SCMP_ACT_KILL"}}]}}"#
        ));
        let p = compile(&s).expect("compiles");
        let want = action_value(s.default_action(), None);
        assert_eq!(run(&p, &data(x, 999, [0; 6]), true), want, "{default}");
    }
    // Without any name resolved there is no "newer".
    let none = spec(
        r#"{"defaultAction":"SCMP_ACT_KILL_PROCESS","syscalls":[{"names":["nope"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    let p = compile(&none).expect("compiles");
    assert_eq!(run(&p, &data(x, 999, [0; 6]), true), RET_KILL_PROCESS);
}
