//! Capabilities: the five sets of the calling thread (`capget`/`capset`,
//! which `nix` does not wrap), the bounding set and the ambient set.

use std::io;

use crate::check;

/// The highest capability number this code knows (CAP_CHECKPOINT_RESTORE).
pub const CAP_LAST: u32 = 40;

/// A set of capabilities as a bit mask (bit n = capability n).
pub type CapSet = u64;

#[repr(C)]
struct Header {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct Data {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const VERSION_3: u32 = 0x2008_0522;

/// The calling thread's effective, permitted and inheritable sets.
pub fn get() -> io::Result<(CapSet, CapSet, CapSet)> {
    let mut hdr = Header {
        version: VERSION_3,
        pid: 0,
    };
    let mut data = [Data::default(); 2];
    // SAFETY: version 3 takes a header and an array of two data structs;
    // both are valid, properly aligned and live for the call.
    let ret = unsafe { libc::syscall(libc::SYS_capget, &mut hdr, data.as_mut_ptr()) };
    check(ret, "capget", &"self")?;
    let join = |lo: u32, hi: u32| u64::from(lo) | (u64::from(hi) << 32);
    Ok((
        join(data[0].effective, data[1].effective),
        join(data[0].permitted, data[1].permitted),
        join(data[0].inheritable, data[1].inheritable),
    ))
}

/// Sets the calling thread's effective, permitted and inheritable sets.
pub fn set(effective: CapSet, permitted: CapSet, inheritable: CapSet) -> io::Result<()> {
    let mut hdr = Header {
        version: VERSION_3,
        pid: 0,
    };
    let split = |v: u64| (v as u32, (v >> 32) as u32);
    let (e0, e1) = split(effective);
    let (p0, p1) = split(permitted);
    let (i0, i1) = split(inheritable);
    let data = [
        Data {
            effective: e0,
            permitted: p0,
            inheritable: i0,
        },
        Data {
            effective: e1,
            permitted: p1,
            inheritable: i1,
        },
    ];
    // SAFETY: version 3 takes a header and an array of two data structs,
    // both valid for the duration of the call; the kernel only reads data.
    let ret = unsafe { libc::syscall(libc::SYS_capset, &mut hdr, data.as_ptr()) };
    check(
        ret,
        "capset",
        &format_args!("effective {effective:#x} permitted {permitted:#x}"),
    )
    .map(drop)
}

fn prctl(op: libc::c_int, a: libc::c_ulong, b: libc::c_ulong, what: &str) -> io::Result<i64> {
    // SAFETY: the prctl operations used here take integer arguments only.
    let ret = unsafe { libc::prctl(op, a, b, 0 as libc::c_ulong, 0 as libc::c_ulong) };
    check(ret as libc::c_long, "prctl", &what)
}

/// Whether capability `cap` is known to the running kernel.
pub fn kernel_knows(cap: u32) -> bool {
    prctl(libc::PR_CAPBSET_READ, cap.into(), 0, "PR_CAPBSET_READ").is_ok()
}

/// Drops every capability not in `keep` from the bounding set.
pub fn limit_bounding(keep: CapSet) -> io::Result<()> {
    for cap in 0..=CAP_LAST {
        if keep & (1 << cap) != 0 || !kernel_knows(cap) {
            continue;
        }
        prctl(
            libc::PR_CAPBSET_DROP,
            cap.into(),
            0,
            &format!("PR_CAPBSET_DROP {cap}"),
        )?;
    }
    Ok(())
}

/// Clears the ambient set, then raises each capability in `set`.
pub fn set_ambient(set: CapSet) -> io::Result<()> {
    prctl(
        libc::PR_CAP_AMBIENT,
        libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
        0,
        "PR_CAP_AMBIENT_CLEAR_ALL",
    )?;
    for cap in 0..=CAP_LAST {
        if set & (1 << cap) != 0 {
            prctl(
                libc::PR_CAP_AMBIENT,
                libc::PR_CAP_AMBIENT_RAISE as libc::c_ulong,
                cap.into(),
                &format!("PR_CAP_AMBIENT_RAISE {cap}"),
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn get_then_set_same_sets_round_trips() {
        let (e, p, i) = get().unwrap();
        set(e, p, i).unwrap();
        assert_eq!(get().unwrap(), (e, p, i));
    }
}
