//! Differential tests: the same profile compiled by libseccomp (what runc and
//! crun load) and by us must give the same verdict for every syscall number
//! of every covered architecture and a spread of argument values. libseccomp
//! is driven through a small C program generated from the profile, built with
//! gcc against libseccomp-dev.

use std::fmt::Write as _;
use std::path::Path;
use std::process::Command;

use berth_base::testenv::{have_program, require};
use oci_spec::runtime::Arch as OciArch;

use super::tests::{data, run, spec, OPS, PROBES};
use super::*;

fn have_libseccomp() -> bool {
    have_program("gcc") && Path::new("/usr/include/seccomp.h").exists()
}

fn c_string(s: &str) -> String {
    format!("{s:?}")
}

/// C source that builds `spec` with libseccomp, as runc does (one
/// seccomp_rule_add per name, rules with the default action left out), and
/// writes the BPF to stdout.
fn c_program(spec: &LinuxSeccomp, arches: &[&str]) -> String {
    let default = action_value(spec.default_action(), spec.default_errno_ret());
    let mut c = String::from(
        "#include <errno.h>\n#include <seccomp.h>\n#include <stdio.h>\n\
         static void rule(scmp_filter_ctx ctx, uint32_t act, const char *name,\n\
                          unsigned n, const struct scmp_arg_cmp *a) {\n\
           int nr = seccomp_syscall_resolve_name(name);\n\
           if (nr == __NR_SCMP_ERROR) return;\n\
           int rc = seccomp_rule_add_array(ctx, act, nr, n, a);\n\
           if (rc < 0) fprintf(stderr, \"rule %s: %d\\n\", name, rc);\n\
         }\n\
         int main(void) {\n",
    );
    let _ = writeln!(c, "  scmp_filter_ctx ctx = seccomp_init({default}u);");
    for a in arches {
        let _ = writeln!(
            c,
            "  {{ int rc = seccomp_arch_add(ctx, {a});\n    \
             if (rc < 0 && rc != -EEXIST) fprintf(stderr, \"arch {a}: %d\\n\", rc); }}"
        );
    }
    for s in spec.syscalls().iter().flatten() {
        let act = action_value(s.action(), s.errno_ret());
        if act == default {
            continue;
        }
        let args = s.args().as_deref().unwrap_or(&[]);
        let cmps: Vec<String> = args
            .iter()
            .map(|a| {
                format!(
                    "{{{}, {}, {}ull, {}ull}}",
                    a.index(),
                    a.op() as u32,
                    a.value(),
                    a.value_two().unwrap_or(0)
                )
            })
            .collect();
        for name in s.names() {
            if cmps.is_empty() {
                let _ = writeln!(c, "  rule(ctx, {act}u, {}, 0, NULL);", c_string(name));
            } else {
                let _ = writeln!(
                    c,
                    "  {{ struct scmp_arg_cmp a[] = {{{}}}; rule(ctx, {act}u, {}, {}, a); }}",
                    cmps.join(", "),
                    c_string(name),
                    cmps.len()
                );
            }
        }
    }
    c.push_str("  return seccomp_export_bpf(ctx, 1) < 0;\n}\n");
    c
}

/// The program libseccomp makes of `spec`.
fn libseccomp_program(spec: &LinuxSeccomp, arches: &[&str]) -> Vec<SockFilter> {
    let dir = tempfile::tempdir().expect("temp dir");
    let src = dir.path().join("gen.c");
    let bin = dir.path().join("gen");
    std::fs::write(&src, c_program(spec, arches)).expect("write the C program");
    let out = Command::new("gcc")
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .arg("-lseccomp")
        .output()
        .expect("run gcc");
    assert!(
        out.status.success(),
        "gcc: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = Command::new(&bin).output().expect("run the generator");
    assert!(
        out.status.success(),
        "libseccomp: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.stderr.is_empty(),
        "libseccomp: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
        .chunks_exact(8)
        .map(|b| SockFilter {
            code: u16::from_ne_bytes([b[0], b[1]]),
            jt: b[2],
            jf: b[3],
            k: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
        })
        .collect()
}

/// The numbers worth comparing on `a`: every number of the dense table, and
/// every number `spec` names (ARM's private ones sit near 0xf0000), but
/// none above the highest named: there we answer ENOSYS as runc's patch to
/// libseccomp's program does. s390's 0 is such a patch too.
fn numbers(spec: &LinuxSeccomp, a: &ArchInfo) -> Vec<u32> {
    let named: Vec<u32> = spec
        .syscalls()
        .iter()
        .flatten()
        .flat_map(|s| s.names())
        .filter_map(|n| a.resolve(n))
        .collect();
    let highest = named.iter().copied().max().unwrap_or(0);
    let base = if a.is_x32() { X32_SYSCALL_BIT } else { 0 };
    let mut all: Vec<u32> = (base..base + 1100).chain(named).collect();
    all.retain(|&n| n <= highest && !(n == 0 && a.unknown_becomes_zero()));
    all.sort_unstable();
    all.dedup();
    all
}

/// Compares both programs on every number up to the highest named, with
/// each probe value in each of the first `arg_slots` arguments.
fn compare(spec: &LinuxSeccomp, arches: &[(&ArchInfo, &str)], arg_slots: usize) -> usize {
    let theirs = libseccomp_program(spec, &arches.iter().map(|a| a.1).collect::<Vec<_>>());
    let ours = compile(spec).expect("compiles");
    let mut checked = 0;
    for (a, _) in arches {
        for nr in numbers(spec, a) {
            let mut inputs = vec![[0u64; 6]];
            for slot in 0..arg_slots {
                for &p in &PROBES {
                    let mut args = [0u64; 6];
                    // 32-bit ABIs only ever pass 32-bit values.
                    args[slot] = if a.wide { p } else { p & 0xffff_ffff };
                    inputs.push(args);
                }
            }
            for args in inputs {
                let d = data(a, nr, args);
                let le = a.little_endian();
                let (want, got) = (run(&theirs, &d, le), run(&ours, &d, le));
                assert_eq!(
                    got, want,
                    "{} nr {nr:#x} args {args:x?}: ours {got:#x}, libseccomp {want:#x}",
                    a.name
                );
                checked += 1;
            }
        }
    }
    checked
}

const X86_FAMILY: [(&ArchInfo, &str); 3] = [
    (&arch::X86_64, "SCMP_ARCH_X86_64"),
    (&arch::X86, "SCMP_ARCH_X86"),
    (&arch::X32, "SCMP_ARCH_X32"),
];

#[test]
fn docker_profile_matches_libseccomp() {
    if !require(have_libseccomp(), "needs gcc and libseccomp-dev") {
        return;
    }
    let caps = berth_oci::default_capabilities();
    for extra in [None, Some(oci_spec::runtime::Capability::SysAdmin)] {
        let mut caps = caps.clone();
        caps.extend(extra);
        let profile = berth_oci::default_seccomp_for(OciArch::ScmpArchX86_64, &caps);
        let checked = compare(&profile, &X86_FAMILY, 2);
        assert!(checked > 10_000, "{checked}");
        // aarch64 and arm next to the native x86_64 that both add. libseccomp
        // cannot mix byte orders in one filter, so s390x is ours alone.
        let families = [(
            OciArch::ScmpArchAarch64,
            [
                (&arch::AARCH64, "SCMP_ARCH_AARCH64"),
                (&arch::ARM, "SCMP_ARCH_ARM"),
            ],
        )];
        for (family, arches) in families {
            let profile = berth_oci::default_seccomp_for(family, &caps);
            compare(&profile, &arches, 2);
        }
    }
}

#[test]
fn operators_match_libseccomp() {
    if !require(have_libseccomp(), "needs gcc and libseccomp-dev") {
        return;
    }
    // Each operator on its own syscall, one value per argument. The rules of
    // a syscall share their action, so they are simply ORed (where
    // overlapping rules differ in action, libseccomp and we may pick
    // differently: we take the first listed).
    let mut rules = Vec::new();
    let names = [
        "read", "write", "close", "fstat", "lseek", "mmap", "mprotect",
    ];
    for (n, (op, name)) in OPS.iter().zip(names).enumerate() {
        for (i, value) in [0x8u64, 0x1_0000_0008, 0xffff_ffff].iter().enumerate() {
            rules.push(format!(
                r#"{{"names":["{name}"],"action":"SCMP_ACT_ERRNO","errnoRet":{},
                "args":[{{"index":{i},"value":{value},"valueTwo":8,"op":"{op}"}}]}}"#,
                10 + n
            ));
        }
    }
    // Two conditions ANDed, and two rules ORed.
    rules.push(
        r#"{"names":["ioctl"],"action":"SCMP_ACT_KILL_PROCESS","args":[
        {"index":0,"value":7,"op":"SCMP_CMP_GT"},{"index":1,"value":4294967296,"op":"SCMP_CMP_LT"}]}"#
            .into(),
    );
    rules.push(
        r#"{"names":["pread64"],"action":"SCMP_ACT_TRAP","args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"}]}"#
            .into(),
    );
    rules.push(
        r#"{"names":["pread64"],"action":"SCMP_ACT_TRAP","args":[{"index":1,"value":9,"op":"SCMP_CMP_GE"}]}"#
            .into(),
    );
    let profile = spec(&format!(
        r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{}]}}"#,
        rules.join(",")
    ));
    compare(&profile, &X86_FAMILY[..1], 3);
}
