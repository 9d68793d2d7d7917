//! A classic-BPF code generator that writes the program backwards.
//!
//! Classic BPF only jumps forward, and a conditional jump reaches at most 255
//! instructions. Emitting from the last instruction to the first means every
//! jump target already has a position when the jump is written, so offsets are
//! known at once; a target out of reach gets a `ja` trampoline (32-bit offset)
//! placed right after the jump. No second pass, no relocation.

use berth_sys::seccomp::SockFilter;

// Opcode parts from linux/filter.h and linux/bpf_common.h.
const BPF_LD: u16 = 0x00;
const BPF_ALU: u16 = 0x04;
const BPF_JMP: u16 = 0x05;
const BPF_RET: u16 = 0x06;
const BPF_W: u16 = 0x00;
const BPF_ABS: u16 = 0x20;
const BPF_AND: u16 = 0x50;
const BPF_K: u16 = 0x00;
const BPF_JA: u16 = 0x00;

/// The conditional jumps a filter needs (all compare A with a constant).
pub(super) const BPF_JEQ: u16 = 0x10;
pub(super) const BPF_JGT: u16 = 0x20;
pub(super) const BPF_JGE: u16 = 0x30;

/// Longest forward jump a conditional instruction encodes. We keep a margin of
/// two so that adding up to two trampolines never pushes a near target out of
/// reach.
const MAX_NEAR: usize = 253;

/// How far back a cached `ret` may be reused before a fresh one is cheaper
/// than the trampoline reaching it.
const RET_REUSE: usize = 200;

/// A position in the program, counted from its end (the first instruction
/// emitted is label 0).
pub(super) type Label = usize;

#[derive(Default)]
pub(super) struct Emitter {
    rev: Vec<SockFilter>,
    rets: Vec<(u32, Label)>,
}

impl Emitter {
    pub fn with_capacity(n: usize) -> Self {
        Emitter {
            rev: Vec::with_capacity(n),
            rets: Vec::with_capacity(8),
        }
    }

    fn push(&mut self, code: u16, jt: u8, jf: u8, k: u32) -> Label {
        self.rev.push(SockFilter { code, jt, jf, k });
        self.rev.len() - 1
    }

    /// Distance from the next instruction to `target`, as a jump offset.
    fn distance(&self, target: Label) -> usize {
        self.rev.len() - target - 1
    }

    /// `ret value`, shared with an earlier identical `ret` when one is near.
    pub fn ret(&mut self, value: u32) -> Label {
        if let Some(&(_, at)) = self
            .rets
            .iter()
            .find(|(v, at)| *v == value && self.distance(*at) <= RET_REUSE)
        {
            return at;
        }
        let at = self.push(BPF_RET | BPF_K, 0, 0, value);
        match self.rets.iter_mut().find(|(v, _)| *v == value) {
            Some(slot) => slot.1 = at,
            None => self.rets.push((value, at)),
        }
        at
    }

    /// `ld [offset]`: load a 32-bit word of `seccomp_data` into A.
    pub fn load(&mut self, offset: u32) -> Label {
        self.push(BPF_LD | BPF_W | BPF_ABS, 0, 0, offset)
    }

    /// `and #k`.
    pub fn and(&mut self, k: u32) -> Label {
        self.push(BPF_ALU | BPF_AND | BPF_K, 0, 0, k)
    }

    fn long_jump(&mut self, target: Label) -> Label {
        let off = self.distance(target);
        // A program is at most a few thousand instructions long.
        let k = u32::try_from(off).unwrap_or(u32::MAX);
        self.push(BPF_JMP | BPF_JA, 0, 0, k)
    }

    /// `j<op> #k, jt, jf`; targets out of reach go through trampolines.
    pub fn jump(&mut self, op: u16, k: u32, jt: Label, jf: Label) -> Label {
        let jt = if self.distance(jt) > MAX_NEAR {
            self.long_jump(jt)
        } else {
            jt
        };
        let jf = if self.distance(jf) > MAX_NEAR {
            self.long_jump(jf)
        } else {
            jf
        };
        let near = |d: usize| u8::try_from(d).unwrap_or(u8::MAX);
        let (t, f) = (near(self.distance(jt)), near(self.distance(jf)));
        self.push(BPF_JMP | op | BPF_K, t, f, k)
    }

    /// The program in execution order.
    pub fn finish(mut self) -> Vec<SockFilter> {
        self.rev.reverse();
        self.rev
    }
}
