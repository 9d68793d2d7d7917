//! cgroup v1 control files: one directory per controller hierarchy.

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory};

use crate::devices::Rule;
use crate::error::{Error, Result};
use crate::files::{self, write, write_requested};
use crate::FreezerState;

/// memory.* files. OCI's `swap` is memory+swap, which is exactly v1's memsw.
pub(crate) fn memory(dir: &Path, m: &LinuxMemory) -> Result<()> {
    // 0 means "not set", as in docker and runc.
    let limit = m.limit().filter(|&l| l != 0);
    let swap = m.swap().filter(|&s| s != 0);
    match (limit, swap) {
        (Some(l), Some(s)) => {
            if s != -1 && (l == -1 || s < l) {
                return Err(Error::InvalidResource {
                    what: "memory swap",
                    reason: format!("memory+swap limit {s} is below the memory limit {l}"),
                });
            }
            // The kernel keeps limit <= memsw at every instant: raise memsw
            // first when it grows past the current limit, else lower the
            // limit first.
            let cur = files::read_u64(dir, "memory.limit_in_bytes")?.unwrap_or(u64::MAX);
            if s == -1 || u64::try_from(s).is_ok_and(|s| s >= cur) {
                write_memsw(dir, s)?;
                write(dir, "memory.limit_in_bytes", &l.to_string())?;
            } else {
                write(dir, "memory.limit_in_bytes", &l.to_string())?;
                write_memsw(dir, s)?;
            }
        }
        (Some(l), None) => write(dir, "memory.limit_in_bytes", &l.to_string())?,
        (None, Some(s)) => write_memsw(dir, s)?,
        (None, None) => {}
    }
    if let Some(r) = m.reservation().filter(|&r| r != 0) {
        write(dir, "memory.soft_limit_in_bytes", &r.to_string())?;
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(Error::InvalidResource {
                what: "memory swappiness",
                reason: format!("{s} is not within 0..=100"),
            });
        }
        write(dir, "memory.swappiness", &s.to_string())?;
    }
    if m.disable_oom_killer() == Some(true) {
        write(dir, "memory.oom_control", "1")?;
    }
    if let Some(k) = m.kernel().filter(|&k| k != 0) {
        // Deprecated: kernels since 6.1 accept the write and ignore it, and
        // later ones may drop the file; only older kernels enforce it.
        match write(dir, "memory.kmem.limit_in_bytes", &k.to_string()) {
            Err(Error::Write { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
            other => other?,
        }
    }
    if let Some(k) = m.kernel_tcp().filter(|&k| k != 0) {
        write_requested(
            dir,
            "memory.kmem.tcp.limit_in_bytes",
            &k.to_string(),
            "kernel TCP memory limit",
        )?;
    }
    Ok(())
}

fn write_memsw(dir: &Path, s: i64) -> Result<()> {
    write_requested(
        dir,
        "memory.memsw.limit_in_bytes",
        &s.to_string(),
        "memory swap limit (swap accounting is off)",
    )
}

/// cpu.* files of the cpu controller (cpuset is separate on v1).
pub(crate) fn cpu(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if let Some(s) = c.shares().filter(|&s| s != 0) {
        write(dir, "cpu.shares", &s.to_string())?;
    }
    let period = c.period().filter(|&p| p != 0);
    let mut quota = c.quota().filter(|&q| q != 0);
    if let Some(p) = period {
        match write(dir, "cpu.cfs_period_us", &p.to_string()) {
            // A shorter period can make the current quota invalid: write the
            // new quota first, then the period again.
            Err(Error::Write { source, .. })
                if source.kind() == io::ErrorKind::InvalidInput && quota.is_some() =>
            {
                if let Some(q) = quota.take() {
                    write(dir, "cpu.cfs_quota_us", &q.to_string())?;
                }
                write(dir, "cpu.cfs_period_us", &p.to_string())?;
            }
            other => other?,
        }
    }
    if let Some(q) = quota {
        write(dir, "cpu.cfs_quota_us", &q.to_string())?;
    }
    if let Some(b) = c.burst() {
        write_requested(dir, "cpu.cfs_burst_us", &b.to_string(), "cpu burst")?;
    }
    if let Some(i) = c.idle() {
        write_requested(dir, "cpu.idle", &i.to_string(), "cpu idle")?;
    }
    if let Some(p) = c.realtime_period().filter(|&p| p != 0) {
        write_requested(
            dir,
            "cpu.rt_period_us",
            &p.to_string(),
            "cpu realtime period",
        )?;
    }
    if let Some(r) = c.realtime_runtime().filter(|&r| r != 0) {
        write_requested(
            dir,
            "cpu.rt_runtime_us",
            &r.to_string(),
            "cpu realtime runtime",
        )?;
    }
    Ok(())
}

/// Whether the cpu controller has anything to do.
pub(crate) fn cpu_requested(c: &LinuxCpu) -> bool {
    c.shares().is_some_and(|s| s != 0)
        || c.period().is_some_and(|p| p != 0)
        || c.quota().is_some_and(|q| q != 0)
        || c.burst().is_some()
        || c.idle().is_some()
        || c.realtime_period().is_some_and(|p| p != 0)
        || c.realtime_runtime().is_some_and(|r| r != 0)
}

/// A new v1 cpuset cgroup starts with empty cpus and mems, and no process
/// can join it until they are set: copy them from the parent.
pub(crate) fn init_cpuset(dir: &Path) -> Result<()> {
    let Some(parent) = dir.parent() else {
        return Ok(());
    };
    for file in ["cpuset.cpus", "cpuset.mems"] {
        if files::read(dir, file)?.trim().is_empty() {
            let value = files::read(parent, file)?;
            write(dir, file, value.trim())?;
        }
    }
    Ok(())
}

/// blkio.* files. Without CFQ only the BFQ scheduler offers weights, under
/// blkio.bfq.*; a missing file is an error only because the user asked.
pub(crate) fn blkio(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    // A weight of 0 means "not set" (dockerd sends it for every container),
    // as runc reads it.
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        write_either(
            dir,
            "blkio.weight",
            "blkio.bfq.weight",
            &w.to_string(),
            "blkio weight",
        )?;
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        write_requested(
            dir,
            "blkio.leaf_weight",
            &w.to_string(),
            "blkio leaf weight",
        )?;
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight() {
            let v = format!("{}:{} {}", d.major(), d.minor(), w);
            write_either(
                dir,
                "blkio.weight_device",
                "blkio.bfq.weight_device",
                &v,
                "blkio weight device",
            )?;
        }
        if let Some(w) = d.leaf_weight() {
            let v = format!("{}:{} {}", d.major(), d.minor(), w);
            write_requested(
                dir,
                "blkio.leaf_weight_device",
                &v,
                "blkio leaf weight device",
            )?;
        }
    }
    let throttles = [
        (
            b.throttle_read_bps_device(),
            "blkio.throttle.read_bps_device",
        ),
        (
            b.throttle_write_bps_device(),
            "blkio.throttle.write_bps_device",
        ),
        (
            b.throttle_read_iops_device(),
            "blkio.throttle.read_iops_device",
        ),
        (
            b.throttle_write_iops_device(),
            "blkio.throttle.write_iops_device",
        ),
    ];
    for (list, file) in throttles {
        for d in list.iter().flatten() {
            let v = format!("{}:{} {}", d.major(), d.minor(), d.rate());
            write_requested(dir, file, &v, "blkio throttling")?;
        }
    }
    Ok(())
}

/// Write to `first`, or to `second` if the kernel lacks `first`.
fn write_either(dir: &Path, first: &str, second: &str, value: &str, what: &str) -> Result<()> {
    match write(dir, first, value) {
        Err(Error::Write { source, .. }) if source.kind() == io::ErrorKind::NotFound => {
            write_requested(dir, second, value, what)
        }
        other => other,
    }
}

/// devices.allow / devices.deny, in order: the kernel applies each line to
/// the current state exactly as the OCI spec orders the rules.
pub(crate) fn devices(dir: &Path, rules: &[Rule]) -> Result<()> {
    for r in rules {
        let file = if r.allow {
            "devices.allow"
        } else {
            "devices.deny"
        };
        write(dir, file, &r.v1_line())?;
    }
    Ok(())
}

/// The freezer state of a v1 freezer cgroup.
pub(crate) fn freezer_state(dir: &Path) -> Result<FreezerState> {
    let s = files::read(dir, "freezer.state")?;
    match s.trim() {
        "THAWED" => Ok(FreezerState::Thawed),
        "FREEZING" => Ok(FreezerState::Freezing),
        "FROZEN" => Ok(FreezerState::Frozen),
        other => Err(Error::Parse {
            path: dir.join("freezer.state"),
            content: other.to_string(),
        }),
    }
}

/// Freeze and wait until every task is frozen. A task in an uninterruptible
/// sleep can keep the cgroup FREEZING; writing FROZEN again retries it. If
/// it never settles, thaw so that the container is not left half frozen.
pub(crate) fn freeze(dir: &Path, timeout: Duration) -> Result<()> {
    let start = Instant::now();
    let mut pause = Duration::from_micros(100);
    let mut tries = 0u32;
    loop {
        if tries % 10 == 0 {
            write(dir, "freezer.state", "FROZEN")?;
        }
        tries += 1;
        match freezer_state(dir)? {
            FreezerState::Frozen => return Ok(()),
            state if start.elapsed() >= timeout => {
                write(dir, "freezer.state", "THAWED")?;
                return Err(Error::FreezeTimeout {
                    path: dir.join("freezer.state"),
                    state: format!("{state:?}").to_lowercase(),
                    waited_ms: u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX),
                });
            }
            _ => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(10));
            }
        }
    }
}

/// Thaw; the kernel thaws synchronously.
pub(crate) fn thaw(dir: &Path) -> Result<()> {
    write(dir, "freezer.state", "THAWED")
}
