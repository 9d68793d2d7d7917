//! cgroup v2 device filters: cgroup v2 has no devices.allow; instead an eBPF
//! program of type BPF_PROG_TYPE_CGROUP_DEVICE attached to the cgroup
//! decides each device access. Owned by the cgroups work (berth-cgroups
//! builds the instructions; this module only talks to bpf(2)).

use std::ffi::CStr;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

/// One eBPF instruction, as struct bpf_insn: `regs` holds the destination
/// register in its low four bits and the source register in its high four.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Insn {
    pub code: u8,
    pub regs: u8,
    pub off: i16,
    pub imm: i32,
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_DETACH: libc::c_long = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_long = 13;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The head of union bpf_attr for BPF_PROG_LOAD; the kernel treats the
/// fields we leave out as zero.
#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
}

/// bpf_attr for BPF_PROG_ATTACH and BPF_PROG_DETACH.
#[repr(C)]
#[derive(Default)]
struct AttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
}

/// bpf_attr for BPF_PROG_QUERY.
#[repr(C)]
#[derive(Default)]
struct QueryAttr {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
    _pad: u32,
}

/// bpf_attr for BPF_PROG_GET_FD_BY_ID.
#[repr(C)]
#[derive(Default)]
struct GetFdAttr {
    prog_id: u32,
    next_id: u32,
    open_flags: u32,
}

/// bpf(2) with `attr`; the error names the command and `object`.
fn bpf<T>(cmd: libc::c_long, attr: &mut T, what: &str, object: &str) -> io::Result<i32> {
    // SAFETY: `attr` is a live, exclusively borrowed #[repr(C)] struct that
    // matches the head of union bpf_attr for `cmd`, and we pass its exact
    // size; every pointer inside it points to memory that outlives the call.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if ret < 0 {
        let e = io::Error::last_os_error();
        return Err(io::Error::new(
            e.kind(),
            format!("bpf {what} {object}: {e}"),
        ));
    }
    i32::try_from(ret).map_err(|_| io::Error::other(format!("bpf {what}: bad return {ret}")))
}

/// Load a device filter program. On failure the call is repeated with the
/// verifier log on, and the log's end is part of the error.
pub fn load_device_filter(insns: &[Insn], license: &CStr) -> io::Result<OwnedFd> {
    let mut name = [0u8; 16];
    name[..12].copy_from_slice(b"berth_device");
    let mut attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: u32::try_from(insns.len())
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "program too long"))?,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        prog_name: name,
        ..Default::default()
    };
    let object = format!("({} instructions)", insns.len());
    let fd = match bpf(BPF_PROG_LOAD, &mut attr, "prog_load", &object) {
        Ok(fd) => fd,
        Err(e) => {
            let mut log = vec![0u8; 1 << 16];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            // Only for the message; the first error is the one we report.
            let _ = bpf(BPF_PROG_LOAD, &mut attr, "prog_load", &object);
            let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[end.saturating_sub(512)..end]);
            return Err(io::Error::new(e.kind(), format!("{e}; verifier: {text}")));
        }
    };
    // SAFETY: a successful BPF_PROG_LOAD returns a new fd that we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Attach `prog` to the cgroup directory `cgroup`, next to the programs
/// already there (BPF_F_ALLOW_MULTI), so that the old ones can be detached
/// after: the cgroup is never without a filter.
pub fn attach_device_filter(cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    bpf(BPF_PROG_ATTACH, &mut attr, "prog_attach", "cgroup_device").map(drop)
}

/// Detach `prog` from the cgroup directory `cgroup`.
pub fn detach_device_filter(cgroup: BorrowedFd<'_>, prog: BorrowedFd<'_>) -> io::Result<()> {
    let mut attr = AttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    bpf(BPF_PROG_DETACH, &mut attr, "prog_detach", "cgroup_device").map(drop)
}

/// The ids of the device filters attached directly to `cgroup`.
pub fn device_filters(cgroup: BorrowedFd<'_>) -> io::Result<Vec<u32>> {
    let mut ids = vec![0u32; 64];
    let mut attr = QueryAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        prog_ids: ids.as_mut_ptr() as u64,
        prog_cnt: ids.len() as u32,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr, "prog_query", "cgroup_device")?;
    ids.truncate(attr.prog_cnt as usize);
    Ok(ids)
}

/// A new fd for the loaded program with id `id`.
pub fn prog_by_id(id: u32) -> io::Result<OwnedFd> {
    let mut attr = GetFdAttr {
        prog_id: id,
        ..Default::default()
    };
    let fd = bpf(
        BPF_PROG_GET_FD_BY_ID,
        &mut attr,
        "prog_get_fd_by_id",
        &id.to_string(),
    )?;
    // SAFETY: a successful BPF_PROG_GET_FD_BY_ID returns a new fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
