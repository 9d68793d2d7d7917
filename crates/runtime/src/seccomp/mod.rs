//! Compiling the OCI seccomp section to classic BPF, without libseccomp.
//!
//! The program has three levels:
//! 1. `seccomp_data.arch` is compared with each architecture's audit token;
//!    an architecture the profile does not cover gets `SECCOMP_RET_KILL_PROCESS`
//!    (x86_64 and x32 share a token and are told apart by the x32 bit of the
//!    syscall number, as libseccomp does).
//! 2. Per architecture, a binary search over ranges of syscall numbers: runs
//!    of consecutive numbers with the same plain action share one leaf, so
//!    Docker's ~350-name allow-list costs about 7 comparisons per syscall.
//! 3. A syscall with argument conditions gets a chain of rules: the first
//!    rule whose conditions all hold decides; then the syscall's unconditional
//!    rule, if any; then the default action.
//!
//! Semantics follow runc with libseccomp: names an architecture lacks are
//! skipped, the native architecture is always included, rules with the
//! default action are dropped (libseccomp refuses them), SCMP_ACT_ERRNO and
//! SCMP_ACT_TRACE without errnoRet use EPERM, and when one rule repeats an
//! argument index its conditions are ORed instead of ANDed. Like runc, when
//! the default action denies, syscall numbers above the highest one the
//! profile names (syscalls newer than the profile) get ENOSYS instead, so
//! that libc falls back to older calls rather than failing on EPERM.

mod arch;
mod bpf;
mod notify;
mod tables;

pub use notify::send_to_agent;

use berth_base::ErrorKind;
use berth_sys::seccomp::{
    SockFilter, FILTER_FLAG_LOG, FILTER_FLAG_SPEC_ALLOW, FILTER_FLAG_TSYNC, MAX_INSNS,
};
use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};

use arch::{ArchInfo, X32_SYSCALL_BIT};
use bpf::{Emitter, Label, BPF_JEQ, BPF_JGE, BPF_JGT};

// Return values from linux/seccomp.h.
const RET_KILL_THREAD: u32 = 0x0000_0000;
const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_TRAP: u32 = 0x0003_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_USER_NOTIF: u32 = 0x7fc0_0000;
const RET_TRACE: u32 = 0x7ff0_0000;
const RET_LOG: u32 = 0x7ffc_0000;
const RET_ALLOW: u32 = 0x7fff_0000;
const RET_DATA: u32 = 0x0000_ffff;

/// Offsets in `struct seccomp_data`.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;
const DATA_ARGS: u32 = 16;

const EPERM: u32 = 1;
const ENOSYS: u32 = 38;

/// What an OCI seccomp section can get wrong.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    #[error("seccomp rule for syscall `{syscall}` uses argument index {index}; syscalls have arguments 0 to 5")]
    ArgIndex { syscall: String, index: usize },
    #[error("seccomp rule with an empty syscall name")]
    EmptyName,
    #[error("SCMP_ACT_NOTIFY cannot be the seccomp default action")]
    NotifyDefault,
    #[error("no native seccomp architecture for this build; list the architectures explicitly")]
    NoNativeArch,
    #[error("seccomp program needs {len} instructions; the kernel accepts at most {MAX_INSNS}")]
    TooLong { len: usize },
    #[error("seccomp rules use SCMP_ACT_NOTIFY but seccomp.listenerPath is not set")]
    NoListenerPath,
    #[error("send the seccomp listener to the agent at `{}`", path.display())]
    Agent {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl SeccompError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            SeccompError::NoNativeArch => ErrorKind::Unsupported,
            SeccompError::Agent { .. } => ErrorKind::Internal,
            _ => ErrorKind::Invalid,
        }
    }
}

/// Compiles the whole seccomp section to a BPF program for
/// [`berth_sys::seccomp::load`], together with [`filter_flags`].
pub fn compile(spec: &LinuxSeccomp) -> Result<Vec<SockFilter>, SeccompError> {
    let default = action_value(spec.default_action(), spec.default_errno_ret());
    if spec.default_action() == LinuxSeccompAction::ScmpActNotify {
        return Err(SeccompError::NotifyDefault);
    }
    if uses_notify(spec) && spec.listener_path().is_none() {
        return Err(SeccompError::NoListenerPath);
    }
    let arches = architectures(spec)?;
    let rules = rules(spec, default)?;
    let newer = match spec.default_action() {
        // Tracers and loggers handle new syscalls themselves (as in runc).
        LinuxSeccompAction::ScmpActAllow
        | LinuxSeccompAction::ScmpActLog
        | LinuxSeccompAction::ScmpActTrace => default,
        _ => RET_ERRNO | ENOSYS,
    };
    let tree = Tree {
        rules: &rules,
        default,
        newer,
    };

    let mut e = Emitter::with_capacity(1024);
    let bad_arch = e.ret(RET_KILL_PROCESS);
    // Per audit token, the entry of its dispatch block; emitted back to front.
    let mut blocks: Vec<(u32, Label)> = Vec::with_capacity(arches.len());
    let mut seen_audit: Vec<u32> = Vec::with_capacity(arches.len());
    for a in &arches {
        if seen_audit.contains(&a.audit) {
            continue;
        }
        seen_audit.push(a.audit);
        let entry = if a.audit == arch::X86_64.audit {
            let native = arches.iter().find(|x| **x == arch::X86_64);
            let x32 = arches.iter().find(|x| x.is_x32());
            let x32_entry = match x32 {
                Some(x) => syscall_tree(&mut e, x, &tree),
                None => bad_arch,
            };
            let x86_64_entry = match native {
                Some(x) => syscall_tree(&mut e, x, &tree),
                None => bad_arch,
            };
            e.jump(BPF_JGE, X32_SYSCALL_BIT, x32_entry, x86_64_entry);
            e.load(DATA_NR)
        } else {
            syscall_tree(&mut e, a, &tree);
            e.load(DATA_NR)
        };
        blocks.push((a.audit, entry));
    }
    // The arch checks, last block first so the first listed is tested first.
    let mut next = bad_arch;
    for &(audit, entry) in blocks.iter().rev() {
        next = e.jump(BPF_JEQ, audit, entry, next);
    }
    e.load(DATA_ARCH);
    let prog = e.finish();
    if prog.len() > MAX_INSNS {
        return Err(SeccompError::TooLong { len: prog.len() });
    }
    Ok(prog)
}

/// The `SECCOMP_FILTER_FLAG_*` bits the section asks for.
pub fn filter_flags(spec: &LinuxSeccomp) -> u32 {
    spec.flags().iter().flatten().fold(0, |acc, f| {
        acc | match f {
            LinuxSeccompFilterFlag::SeccompFilterFlagLog => FILTER_FLAG_LOG,
            LinuxSeccompFilterFlag::SeccompFilterFlagTsync => FILTER_FLAG_TSYNC,
            LinuxSeccompFilterFlag::SeccompFilterFlagSpecAllow => FILTER_FLAG_SPEC_ALLOW,
        }
    })
}

/// Whether any rule uses SCMP_ACT_NOTIFY, so that the filter must be loaded
/// with a listener ([`berth_sys::seccomp::load_with_listener`]) and the
/// listener sent to the agent ([`send_to_agent`]).
pub fn uses_notify(spec: &LinuxSeccomp) -> bool {
    spec.syscalls()
        .iter()
        .flatten()
        .any(|s| s.action() == LinuxSeccompAction::ScmpActNotify)
}

/// The kernel return value of an action.
fn action_value(action: LinuxSeccompAction, errno_ret: Option<u32>) -> u32 {
    let data = errno_ret.unwrap_or(EPERM) & RET_DATA;
    match action {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => RET_KILL_THREAD,
        LinuxSeccompAction::ScmpActKillProcess => RET_KILL_PROCESS,
        LinuxSeccompAction::ScmpActTrap => RET_TRAP,
        LinuxSeccompAction::ScmpActErrno => RET_ERRNO | data,
        LinuxSeccompAction::ScmpActTrace => RET_TRACE | data,
        LinuxSeccompAction::ScmpActNotify => RET_USER_NOTIF,
        LinuxSeccompAction::ScmpActLog => RET_LOG,
        LinuxSeccompAction::ScmpActAllow => RET_ALLOW,
    }
}

/// The native architecture first, then the listed ones, without repeats.
fn architectures(spec: &LinuxSeccomp) -> Result<Vec<ArchInfo>, SeccompError> {
    let mut out = Vec::with_capacity(4);
    if let Some(native) = arch::native() {
        out.push(native);
    }
    for &a in spec.architectures().iter().flatten() {
        let info = arch::from_oci(a).ok_or(SeccompError::NoNativeArch)?;
        if !out.contains(&info) {
            out.push(info);
        }
    }
    if out.is_empty() {
        return Err(SeccompError::NoNativeArch);
    }
    Ok(out)
}

/// One rule after validation: its names, action and condition groups. The
/// rule matches when every condition of some group holds (one group of all
/// conditions normally; one group per condition when an index repeats).
struct Rule<'a> {
    names: &'a [String],
    action: u32,
    groups: Vec<&'a [LinuxSeccompArg]>,
}

/// The validated rules, without those whose action is the default one:
/// libseccomp refuses them, so runc drops them, conditions and all.
fn rules(spec: &LinuxSeccomp, default: u32) -> Result<Vec<Rule<'_>>, SeccompError> {
    let mut out = Vec::new();
    for s in spec.syscalls().iter().flatten() {
        let args: &[LinuxSeccompArg] = s.args().as_deref().unwrap_or(&[]);
        let mut seen = 0u8;
        let mut repeated = false;
        for a in args {
            if a.index() > 5 {
                return Err(SeccompError::ArgIndex {
                    syscall: s.names().join(","),
                    index: a.index(),
                });
            }
            let bit = 1u8 << a.index();
            repeated |= seen & bit != 0;
            seen |= bit;
        }
        if s.names().iter().any(|n| n.is_empty()) {
            return Err(SeccompError::EmptyName);
        }
        let groups = if repeated {
            args.chunks(1).collect()
        } else if args.is_empty() {
            Vec::new()
        } else {
            vec![args]
        };
        let action = action_value(s.action(), s.errno_ret());
        if action != default {
            out.push(Rule {
                names: s.names(),
                action,
                groups,
            });
        }
    }
    Ok(out)
}

/// What happens to one syscall number: a plain return, or a chain of
/// conditional rules (indices into `rules`) with a fallback.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Leaf {
    Ret(u32),
    Chain(u32),
}

/// What every architecture's dispatch shares.
struct Tree<'r, 's> {
    rules: &'r [Rule<'s>],
    /// The default action's return value.
    default: u32,
    /// The return value for numbers above the highest the profile names.
    newer: u32,
}

/// Emits the dispatch for one architecture (A holds the syscall number at
/// its entry) and returns the entry label.
fn syscall_tree(e: &mut Emitter, a: &ArchInfo, tree: &Tree<'_, '_>) -> Label {
    let Tree {
        rules,
        default,
        newer,
    } = *tree;
    // (number, rule index) for every resolvable name.
    let mut hits: Vec<(u32, usize)> = Vec::with_capacity(512);
    for (i, r) in rules.iter().enumerate() {
        for n in r.names {
            if let Some(nr) = a.resolve(n) {
                hits.push((nr, i));
            }
        }
    }
    hits.sort_unstable();
    hits.dedup();

    // One leaf per listed number, in number order.
    let mut leaves: Vec<(u32, Leaf)> = Vec::with_capacity(hits.len());
    for group in hits.chunk_by(|x, y| x.0 == y.0) {
        let nr = group[0].0;
        let conditional = group.iter().any(|&(_, i)| !rules[i].groups.is_empty());
        let leaf = if conditional {
            Leaf::Chain(nr)
        } else {
            Leaf::Ret(rules[group[0].1].action)
        };
        leaves.push((nr, leaf));
    }

    // s390 turns syscall numbers it does not know into 0 (the long-gone
    // setup(2)), so on s390 an unnamed 0 means "newer syscall" too.
    if a.unknown_becomes_zero() && leaves.first().is_none_or(|l| l.0 != 0) && !leaves.is_empty() {
        leaves.insert(0, (0, Leaf::Ret(newer)));
    }

    // Ranges [start, next start) over the whole number space; runs of
    // numbers with the same plain action merge into one range.
    let mut ranges: Vec<(u32, Leaf)> = Vec::with_capacity(leaves.len() * 2 + 1);
    let add = |ranges: &mut Vec<(u32, Leaf)>, start: u32, leaf: Leaf| {
        let extends = matches!(leaf, Leaf::Ret(_)) && ranges.last().map(|r| r.1) == Some(leaf);
        if !extends {
            ranges.push((start, leaf));
        }
    };
    let mut cursor: u64 = 0;
    for &(nr, leaf) in &leaves {
        if u64::from(nr) > cursor {
            // cursor < nr, so it fits in u32.
            add(&mut ranges, cursor as u32, Leaf::Ret(default));
        }
        add(&mut ranges, nr, leaf);
        cursor = u64::from(nr) + 1;
    }
    if cursor <= u64::from(u32::MAX) {
        // No names resolved: nothing tells which syscalls are newer.
        let tail = if leaves.is_empty() { default } else { newer };
        add(&mut ranges, cursor as u32, Leaf::Ret(tail));
    }
    emit_ranges(e, a, rules, default, &hits, &ranges)
}

/// Binary search over `ranges` (sorted by start); returns the entry label.
fn emit_ranges(
    e: &mut Emitter,
    a: &ArchInfo,
    rules: &[Rule<'_>],
    default: u32,
    hits: &[(u32, usize)],
    ranges: &[(u32, Leaf)],
) -> Label {
    if ranges.len() == 1 {
        return match ranges[0].1 {
            Leaf::Ret(v) => e.ret(v),
            Leaf::Chain(nr) => emit_chain(e, a, rules, default, hits, nr),
        };
    }
    let mid = ranges.len() / 2;
    let high = emit_ranges(e, a, rules, default, hits, &ranges[mid..]);
    let low = emit_ranges(e, a, rules, default, hits, &ranges[..mid]);
    e.jump(BPF_JGE, ranges[mid].0, high, low)
}

/// The rule chain of syscall `nr`: conditional rules in profile order, then
/// its first unconditional rule, then the default action.
fn emit_chain(
    e: &mut Emitter,
    a: &ArchInfo,
    rules: &[Rule<'_>],
    default: u32,
    hits: &[(u32, usize)],
    nr: u32,
) -> Label {
    let start = hits.partition_point(|h| h.0 < nr);
    let mine = &hits[start..start + hits[start..].partition_point(|h| h.0 == nr)];
    let fallback = mine
        .iter()
        .map(|&(_, i)| &rules[i])
        .find(|r| r.groups.is_empty())
        .map_or(default, |r| r.action);
    let mut next = e.ret(fallback);
    for &(_, i) in mine.iter().rev() {
        let rule = &rules[i];
        if rule.groups.is_empty() {
            continue;
        }
        // Groups are ORed: a failing group falls through to the next group,
        // the last one to the next rule.
        let pass = e.ret(rule.action);
        let mut fail = next;
        for group in rule.groups.iter().rev() {
            let mut ok = pass;
            for cond in group.iter().rev() {
                ok = emit_condition(e, a, cond, ok, fail);
            }
            fail = ok;
        }
        next = fail;
    }
    next
}

/// Emits one argument test; jumps to `pass` or `fail`, returns its entry.
fn emit_condition(
    e: &mut Emitter,
    a: &ArchInfo,
    cond: &LinuxSeccompArg,
    pass: Label,
    fail: Label,
) -> Label {
    // `index` was validated to be at most 5.
    let base = DATA_ARGS + 8 * cond.index() as u32;
    let (lo_off, hi_off) = if a.little_endian() {
        (base, base + 4)
    } else {
        (base + 4, base)
    };
    let (vhi, vlo) = split(cond.value());
    // For the ordering tests, `swap` means "true when below": the low-half
    // test and the verdict on unequal high halves are mirrored.
    let (low_op, swap) = match cond.op() {
        LinuxSeccompOperator::ScmpCmpEq | LinuxSeccompOperator::ScmpCmpNe => (BPF_JEQ, false),
        LinuxSeccompOperator::ScmpCmpGt => (BPF_JGT, false),
        LinuxSeccompOperator::ScmpCmpGe => (BPF_JGE, false),
        LinuxSeccompOperator::ScmpCmpLt => (BPF_JGE, true),
        LinuxSeccompOperator::ScmpCmpLe => (BPF_JGT, true),
        LinuxSeccompOperator::ScmpCmpMaskedEq => {
            return emit_masked(e, a, cond, (lo_off, hi_off), pass, fail)
        }
    };
    let ne = cond.op() == LinuxSeccompOperator::ScmpCmpNe;
    // The low-half test decides once the high halves are equal.
    let lo_entry = {
        if swap || ne {
            e.jump(low_op, vlo, fail, pass);
        } else {
            e.jump(low_op, vlo, pass, fail);
        }
        e.load(lo_off)
    };
    if !a.wide {
        return lo_entry;
    }
    match cond.op() {
        LinuxSeccompOperator::ScmpCmpEq => e.jump(BPF_JEQ, vhi, lo_entry, fail),
        LinuxSeccompOperator::ScmpCmpNe => e.jump(BPF_JEQ, vhi, lo_entry, pass),
        _ => {
            let (above, below) = if swap { (fail, pass) } else { (pass, fail) };
            let eq = e.jump(BPF_JEQ, vhi, lo_entry, below);
            e.jump(BPF_JGT, vhi, above, eq)
        }
    };
    e.load(hi_off)
}

/// SCMP_CMP_MASKED_EQ: `(arg & value) == valueTwo`.
fn emit_masked(
    e: &mut Emitter,
    a: &ArchInfo,
    cond: &LinuxSeccompArg,
    (lo_off, hi_off): (u32, u32),
    pass: Label,
    fail: Label,
) -> Label {
    let (mhi, mlo) = split(cond.value());
    let (dhi, dlo) = split(cond.value_two().unwrap_or(0));
    let lo_entry = {
        e.jump(BPF_JEQ, dlo, pass, fail);
        e.and(mlo);
        e.load(lo_off)
    };
    if !a.wide {
        return lo_entry;
    }
    if mhi == 0 {
        // (arg_hi & 0) == datum_hi holds exactly when datum_hi is 0.
        return if dhi == 0 { lo_entry } else { fail };
    }
    e.jump(BPF_JEQ, dhi, lo_entry, fail);
    e.and(mhi);
    e.load(hi_off)
}

/// (high, low) 32-bit halves.
fn split(v: u64) -> (u32, u32) {
    ((v >> 32) as u32, v as u32)
}

#[cfg(test)]
mod libseccomp_tests;
#[cfg(test)]
mod tests;
