//! Syscall name → number tables, one per architecture, generated from
//! libseccomp's tables by generate.sh.

mod aarch64;
mod arm;
mod generic;
mod mips;
mod mips64;
mod mips64n32;
mod ppc;
mod ppc64;
mod riscv64;
mod s390;
mod s390x;
mod x32;
mod x86;
mod x86_64;

pub(crate) use aarch64::AARCH64;
pub(crate) use arm::ARM;
pub(crate) use generic::GENERIC;
pub(crate) use mips::MIPS;
pub(crate) use mips64::MIPS64;
pub(crate) use mips64n32::MIPS64N32;
pub(crate) use ppc::PPC;
pub(crate) use ppc64::PPC64;
pub(crate) use riscv64::RISCV64;
pub(crate) use s390::S390;
pub(crate) use s390x::S390X;
pub(crate) use x32::X32;
pub(crate) use x86::X86;
pub(crate) use x86_64::X86_64;
