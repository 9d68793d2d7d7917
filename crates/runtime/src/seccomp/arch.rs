//! The architectures a filter can cover: their audit tokens (what the kernel
//! puts in `seccomp_data.arch`), argument layout, and syscall tables.

use oci_spec::runtime::Arch as OciArch;

use super::tables;

/// `__X32_SYSCALL_BIT`: x32 shares x86_64's audit token and marks its
/// syscall numbers with this bit instead.
pub(super) const X32_SYSCALL_BIT: u32 = 0x4000_0000;

const AUDIT_ARCH_LE: u32 = 0x4000_0000;

/// One architecture a filter handles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct ArchInfo {
    /// The name used in OCI and libseccomp profiles, for error messages.
    pub name: &'static str,
    /// The kernel's AUDIT_ARCH_* value, compared with `seccomp_data.arch`.
    pub audit: u32,
    /// Whether arguments are 64 bits wide. libseccomp compares only the low
    /// 32 bits on 32-bit ABIs (x32 and mips n32 included); so do we.
    pub wide: bool,
    /// Sorted (name, number) pairs.
    table: &'static [(&'static str, u32)],
    /// More sorted pairs, for architectures that share `table`.
    extra: &'static [(&'static str, u32)],
}

impl ArchInfo {
    /// Whether the ABI stores 64-bit values little-endian in `seccomp_data`.
    pub fn little_endian(&self) -> bool {
        self.audit & AUDIT_ARCH_LE != 0
    }

    /// Whether this is x32, which shares its audit token with x86_64.
    pub fn is_x32(&self) -> bool {
        self.audit == X86_64.audit && !self.wide
    }

    /// Whether the kernel reports syscall numbers it does not know as 0
    /// (s390 and s390x multiplex large numbers through it).
    pub fn unknown_becomes_zero(&self) -> bool {
        self.audit & 0xffff == 0x16
    }

    /// The syscall's number on this architecture; `None` for names this
    /// architecture does not have (skipped, as libseccomp does).
    pub fn resolve(&self, name: &str) -> Option<u32> {
        let find = |t: &[(&str, u32)]| {
            t.binary_search_by(|(n, _)| (*n).cmp(name))
                .ok()
                .map(|i| t[i].1)
        };
        find(self.table).or_else(|| find(self.extra))
    }

    /// Every (name, number) pair of the architecture.
    #[cfg(test)]
    pub fn syscalls(&self) -> impl Iterator<Item = &'static (&'static str, u32)> {
        self.table.iter().chain(self.extra)
    }
}

type Table = &'static [(&'static str, u32)];

const fn arch(name: &'static str, audit: u32, wide: bool, table: Table) -> ArchInfo {
    ArchInfo {
        name,
        audit,
        wide,
        table,
        extra: &[],
    }
}

const fn generic(name: &'static str, audit: u32, extra: Table) -> ArchInfo {
    ArchInfo {
        name,
        audit,
        wide: true,
        table: tables::GENERIC,
        extra,
    }
}

pub(super) const X86_64: ArchInfo = arch("SCMP_ARCH_X86_64", 0xc000_003e, true, tables::X86_64);
pub(super) const X86: ArchInfo = arch("SCMP_ARCH_X86", 0x4000_0003, false, tables::X86);
pub(super) const X32: ArchInfo = arch("SCMP_ARCH_X32", 0xc000_003e, false, tables::X32);
pub(super) const AARCH64: ArchInfo = generic("SCMP_ARCH_AARCH64", 0xc000_00b7, tables::AARCH64);
pub(super) const ARM: ArchInfo = arch("SCMP_ARCH_ARM", 0x4000_0028, false, tables::ARM);
const MIPS: ArchInfo = arch("SCMP_ARCH_MIPS", 0x0000_0008, false, tables::MIPS);
const MIPS64: ArchInfo = arch("SCMP_ARCH_MIPS64", 0x8000_0008, true, tables::MIPS64);
const MIPS64N32: ArchInfo = arch("SCMP_ARCH_MIPS64N32", 0xa000_0008, false, tables::MIPS64N32);
const MIPSEL: ArchInfo = arch("SCMP_ARCH_MIPSEL", 0x4000_0008, false, tables::MIPS);
const MIPSEL64: ArchInfo = arch("SCMP_ARCH_MIPSEL64", 0xc000_0008, true, tables::MIPS64);
const MIPSEL64N32: ArchInfo = arch(
    "SCMP_ARCH_MIPSEL64N32",
    0xe000_0008,
    false,
    tables::MIPS64N32,
);
const PPC: ArchInfo = arch("SCMP_ARCH_PPC", 0x0000_0014, false, tables::PPC);
const PPC64: ArchInfo = arch("SCMP_ARCH_PPC64", 0x8000_0015, true, tables::PPC64);
const PPC64LE: ArchInfo = arch("SCMP_ARCH_PPC64LE", 0xc000_0015, true, tables::PPC64);
const S390: ArchInfo = arch("SCMP_ARCH_S390", 0x0000_0016, false, tables::S390);
const S390X: ArchInfo = arch("SCMP_ARCH_S390X", 0x8000_0016, true, tables::S390X);
const RISCV64: ArchInfo = generic("SCMP_ARCH_RISCV64", 0xc000_00f3, tables::RISCV64);

/// The architecture this binary runs on, which libseccomp (and so runc)
/// always includes in a filter.
pub(super) fn native() -> Option<ArchInfo> {
    if cfg!(target_arch = "x86_64") {
        Some(X86_64)
    } else if cfg!(target_arch = "x86") {
        Some(X86)
    } else if cfg!(target_arch = "aarch64") {
        Some(AARCH64)
    } else if cfg!(target_arch = "arm") {
        Some(ARM)
    } else if cfg!(target_arch = "riscv64") {
        Some(RISCV64)
    } else if cfg!(target_arch = "s390x") {
        Some(S390X)
    } else if cfg!(all(target_arch = "powerpc64", target_endian = "little")) {
        Some(PPC64LE)
    } else if cfg!(target_arch = "powerpc64") {
        Some(PPC64)
    } else {
        None
    }
}

/// The architecture an OCI name stands for; `None` for SCMP_ARCH_NATIVE
/// when this build has no native architecture table.
pub(super) fn from_oci(arch: OciArch) -> Option<ArchInfo> {
    Some(match arch {
        OciArch::ScmpArchNative => return native(),
        OciArch::ScmpArchX86 => X86,
        OciArch::ScmpArchX86_64 => X86_64,
        OciArch::ScmpArchX32 => X32,
        OciArch::ScmpArchArm => ARM,
        OciArch::ScmpArchAarch64 => AARCH64,
        OciArch::ScmpArchMips => MIPS,
        OciArch::ScmpArchMips64 => MIPS64,
        OciArch::ScmpArchMips64n32 => MIPS64N32,
        OciArch::ScmpArchMipsel => MIPSEL,
        OciArch::ScmpArchMipsel64 => MIPSEL64,
        OciArch::ScmpArchMipsel64n32 => MIPSEL64N32,
        OciArch::ScmpArchPpc => PPC,
        OciArch::ScmpArchPpc64 => PPC64,
        OciArch::ScmpArchPpc64le => PPC64LE,
        OciArch::ScmpArchS390 => S390,
        OciArch::ScmpArchS390x => S390X,
        OciArch::ScmpArchRiscv64 => RISCV64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: [OciArch; 17] = [
        OciArch::ScmpArchX86,
        OciArch::ScmpArchX86_64,
        OciArch::ScmpArchX32,
        OciArch::ScmpArchArm,
        OciArch::ScmpArchAarch64,
        OciArch::ScmpArchMips,
        OciArch::ScmpArchMips64,
        OciArch::ScmpArchMips64n32,
        OciArch::ScmpArchMipsel,
        OciArch::ScmpArchMipsel64,
        OciArch::ScmpArchMipsel64n32,
        OciArch::ScmpArchPpc,
        OciArch::ScmpArchPpc64,
        OciArch::ScmpArchPpc64le,
        OciArch::ScmpArchS390,
        OciArch::ScmpArchS390x,
        OciArch::ScmpArchRiscv64,
    ];

    #[test]
    fn every_table_is_sorted_and_unique() {
        for a in ALL {
            let info = from_oci(a).expect("every OCI arch has a table");
            assert!(info.syscalls().count() > 250, "{} is too short", info.name);
            for t in [info.table, info.extra] {
                for w in t.windows(2) {
                    assert!(w[0].0 < w[1].0, "{}: {} !< {}", info.name, w[0].0, w[1].0);
                }
            }
            for (name, nr) in info.syscalls() {
                assert_eq!(info.resolve(name), Some(*nr), "{} {name}", info.name);
            }
        }
    }

    #[test]
    fn known_numbers_resolve() {
        assert_eq!(X86_64.resolve("read"), Some(0));
        assert_eq!(X86_64.resolve("personality"), Some(135));
        assert_eq!(X86_64.resolve("clone3"), Some(435));
        assert_eq!(X86.resolve("socket"), Some(359));
        assert_eq!(X86.resolve("socketcall"), Some(102));
        assert_eq!(X32.resolve("read"), Some(X32_SYSCALL_BIT));
        assert_eq!(X32.resolve("rt_sigaction"), Some(X32_SYSCALL_BIT + 512));
        assert_eq!(AARCH64.resolve("openat"), Some(56));
        assert_eq!(AARCH64.resolve("open"), None);
        assert_eq!(AARCH64.resolve("renameat"), Some(38));
        assert_eq!(RISCV64.resolve("renameat"), None);
        assert_eq!(RISCV64.resolve("riscv_flush_icache"), Some(259));
        assert_eq!(MIPSEL64.resolve("read"), Some(5000));
        assert_eq!(ARM.resolve("set_tls"), Some(0xf0005));
        assert_eq!(
            from_oci(OciArch::ScmpArchMips).and_then(|a| a.resolve("exit")),
            Some(4001)
        );
        assert_eq!(X86_64.resolve("no_such_syscall"), None);
    }

    #[test]
    fn argument_layout_flags() {
        assert!(X86_64.wide && X86_64.little_endian() && !X86_64.is_x32());
        assert!(X32.is_x32() && X32.little_endian());
        assert!(!X86.wide && !X86.is_x32());
        assert!(!from_oci(OciArch::ScmpArchS390x)
            .expect("s390x")
            .little_endian());
        assert_eq!(from_oci(OciArch::ScmpArchNative), native());
    }
}
