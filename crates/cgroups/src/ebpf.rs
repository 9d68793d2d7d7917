//! cgroup v2 device filtering: the OCI device rules compiled to an eBPF
//! program of type BPF_PROG_TYPE_CGROUP_DEVICE, attached to the cgroup in
//! place of any earlier one.
//!
//! The program follows v1's semantics, where each rule adds (allow) or
//! removes (deny) access bits for the devices it matches, in order. It keeps
//! the allowed bits in r6: start from the last rule that covers every device
//! with every access (earlier rules are overridden by it) or from "allow
//! all" (what a new cgroup inherits), apply each later matching rule, and
//! allow the access if every requested bit is allowed.

use std::ffi::CStr;
use std::os::fd::{AsFd, OwnedFd};
use std::path::Path;

use berth_sys::cgroup_bpf::{self, Insn};

use crate::devices::{Rule, ACC_ALL};
use crate::error::{Error, Result};

// Opcodes (linux/bpf_common.h, linux/bpf.h).
const LDX_MEM_W: u8 = 0x61; // dst = *(u32 *)(src + off)
const ALU64_AND_K: u8 = 0x57;
const ALU64_AND_X: u8 = 0x5f;
const ALU64_OR_K: u8 = 0x47;
const ALU64_XOR_K: u8 = 0xa7;
const ALU64_RSH_K: u8 = 0x77;
const ALU64_MOV_K: u8 = 0xb7;
const JNE_K: u8 = 0x55;
const EXIT: u8 = 0x95;

/// Device programs call no GPL-only helpers, so any licence string loads.
const LICENSE: &CStr = c"Apache-2.0";

// struct bpf_cgroup_dev_ctx: access_type (type | access << 16), major, minor.
const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;

fn ins(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: dst | (src << 4),
        off,
        imm,
    }
}

/// Compile `rules` to the filter program.
pub(crate) fn program(rules: &[Rule]) -> Result<Vec<Insn>> {
    let start = rules.iter().rposition(Rule::is_total);
    let initial = match start {
        Some(i) if !rules[i].allow => 0,
        _ => ACC_ALL,
    };
    let rest = &rules[start.map_or(0, |i| i + 1)..];
    let mut p = vec![
        ins(LDX_MEM_W, 2, 1, 0, 0),        // r2 = access_type
        ins(ALU64_AND_K, 2, 0, 0, 0xffff), // r2 = device type
        ins(LDX_MEM_W, 3, 1, 0, 0),
        ins(ALU64_RSH_K, 3, 0, 0, 16), // r3 = requested access
        ins(LDX_MEM_W, 4, 1, 4, 0),    // r4 = major
        ins(LDX_MEM_W, 5, 1, 8, 0),    // r5 = minor
        ins(ALU64_MOV_K, 6, 0, 0, initial as i32), // r6 = allowed access
    ];
    for r in rest {
        let mut tests = Vec::new();
        match r.kind {
            'b' => tests.push((2, DEV_BLOCK)),
            'c' => tests.push((2, DEV_CHAR)),
            _ => {}
        }
        for (reg, n) in [(4, r.major), (5, r.minor)] {
            if let Some(n) = n {
                let n = i32::try_from(n).map_err(|_| Error::InvalidResource {
                    what: "device rule",
                    reason: format!("{}: device number {n} out of range", r.v1_line()),
                })?;
                tests.push((reg, n));
            }
        }
        // Each test skips the rest of this rule when it does not match.
        let n = tests.len();
        for (i, (reg, imm)) in tests.into_iter().enumerate() {
            let skip = (n - i) as i16; // remaining tests after this one + 1 update
            p.push(ins(JNE_K, reg, 0, skip, imm));
        }
        let acc = r.access as i32;
        p.push(if r.allow {
            ins(ALU64_OR_K, 6, 0, 0, acc)
        } else {
            ins(ALU64_AND_K, 6, 0, 0, ACC_ALL as i32 & !acc)
        });
    }
    p.extend([
        ins(ALU64_XOR_K, 6, 0, 0, ACC_ALL as i32), // r6 = denied access
        ins(ALU64_AND_X, 3, 6, 0, 0),              // r3 = requested & denied
        ins(ALU64_MOV_K, 0, 0, 0, 0),
        ins(JNE_K, 3, 0, 1, 0),
        ins(ALU64_MOV_K, 0, 0, 0, 1),
        ins(EXIT, 0, 0, 0, 0),
    ]);
    Ok(p)
}

/// Replace the device filter of the v2 cgroup `dir` with one for `rules`:
/// attach the new program first, then detach the old ones, so that no
/// access slips through in between.
pub(crate) fn set_device_filter(dir: &Path, rules: &[Rule]) -> Result<()> {
    let bpf_err = |op, source| Error::Bpf {
        op,
        path: dir.to_path_buf(),
        source,
    };
    let insns = program(rules)?;
    let prog = cgroup_bpf::load_device_filter(&insns, LICENSE).map_err(|e| bpf_err("load", e))?;
    let cgroup: OwnedFd = std::fs::File::open(dir)
        .map_err(|source| Error::Read {
            path: dir.to_path_buf(),
            source,
        })?
        .into();
    let old = cgroup_bpf::device_filters(cgroup.as_fd()).map_err(|e| bpf_err("query", e))?;
    cgroup_bpf::attach_device_filter(cgroup.as_fd(), prog.as_fd())
        .map_err(|e| bpf_err("attach", e))?;
    for id in old {
        let old_prog = cgroup_bpf::prog_by_id(id).map_err(|e| bpf_err("find old", e))?;
        cgroup_bpf::detach_device_filter(cgroup.as_fd(), old_prog.as_fd())
            .map_err(|e| bpf_err("detach old", e))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::devices::{parse_rules, tests::rule};
    use oci_spec::runtime::LinuxDeviceType as T;

    /// Run the program on one access, as the kernel would: a tiny
    /// interpreter for exactly the instructions `program` emits.
    fn run(p: &[Insn], kind: u32, access: u32, major: u32, minor: u32) -> bool {
        let ctx = [kind | (access << 16), major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (d, s) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
            let imm = i.imm as i64 as u64;
            pc += 1;
            match i.code {
                LDX_MEM_W => r[d] = u64::from(ctx[(i.off / 4) as usize]),
                ALU64_AND_K => r[d] &= imm,
                ALU64_AND_X => r[d] &= r[s],
                ALU64_OR_K => r[d] |= imm,
                ALU64_XOR_K => r[d] ^= imm,
                ALU64_RSH_K => r[d] >>= imm,
                ALU64_MOV_K => r[d] = imm,
                JNE_K => {
                    if r[d] != imm {
                        pc += i.off as usize;
                    }
                }
                EXIT => return r[0] == 1,
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    const R: u32 = 2;
    const W: u32 = 4;
    const M: u32 = 1;
    const C: u32 = DEV_CHAR as u32;
    const B: u32 = DEV_BLOCK as u32;

    #[test]
    fn default_deny_with_exceptions() {
        let rules = parse_rules(&[
            rule(true, T::A, -1, -1, "rwm"), // overridden by the next one
            rule(false, T::A, -1, -1, "rwm"),
            rule(true, T::C, 1, 3, "rwm"),
            rule(true, T::C, 136, -1, "rw"),
            rule(true, T::B, 8, 0, "r"),
        ])
        .unwrap();
        let p = program(&rules).unwrap();
        assert!(run(&p, C, R | W, 1, 3));
        assert!(run(&p, C, M, 1, 3));
        assert!(!run(&p, C, R, 1, 5));
        assert!(run(&p, C, R | W, 136, 7));
        assert!(!run(&p, C, M, 136, 7));
        assert!(run(&p, B, R, 8, 0));
        assert!(!run(&p, B, R | W, 8, 0));
        assert!(!run(&p, C, R, 8, 0));
    }

    #[test]
    fn default_allow_with_denials() {
        let rules = parse_rules(&[
            rule(false, T::C, 1, 3, "w"),
            rule(false, T::B, -1, -1, "rwm"),
            rule(true, T::B, 8, 0, "r"),
        ])
        .unwrap();
        let p = program(&rules).unwrap();
        assert!(run(&p, C, R, 1, 3));
        assert!(!run(&p, C, R | W, 1, 3));
        assert!(run(&p, C, R | W, 1, 5));
        assert!(!run(&p, B, R, 8, 1));
        assert!(run(&p, B, R, 8, 0));
        assert!(!run(&p, B, W, 8, 0));
    }
}
