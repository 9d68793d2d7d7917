//! cgroup v2 control files: one directory in the unified hierarchy.

use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory};

use crate::error::{Error, Result};
use crate::files::{self, write, write_requested};
use crate::FreezerState;

/// Make `controllers` available to the children of `dir` by writing them to
/// its cgroup.subtree_control, skipping those already enabled. One write for
/// all, and one per controller if that fails, so that a controller the
/// kernel refuses here (say cpu with realtime tasks) does not block others;
/// using a controller that could not be enabled then fails with the name of
/// its missing file.
pub(crate) fn enable_controllers(dir: &Path, controllers: &[String]) -> Result<()> {
    let enabled = files::read(dir, "cgroup.subtree_control")?;
    let enabled: Vec<&str> = enabled.split_whitespace().collect();
    let missing: Vec<String> = controllers
        .iter()
        .filter(|c| !enabled.contains(&c.as_str()))
        .map(|c| format!("+{c}"))
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    if write(dir, "cgroup.subtree_control", &missing.join(" ")).is_err() {
        for c in &missing {
            // Deliberately ignored, see above.
            let _ = write(dir, "cgroup.subtree_control", c);
        }
    }
    Ok(())
}

/// OCI memory+swap → v2's swap-only memory.swap.max.
fn swap_max(limit: Option<i64>, swap: i64) -> Result<String> {
    if swap == -1 {
        return Ok("max".into());
    }
    match limit {
        None | Some(-1) => Err(Error::InvalidResource {
            what: "memory swap",
            reason: format!("memory+swap limit {swap} needs a memory limit on cgroup v2"),
        }),
        Some(l) if swap < l => Err(Error::InvalidResource {
            what: "memory swap",
            reason: format!("memory+swap limit {swap} is below the memory limit {l}"),
        }),
        Some(l) => Ok((swap - l).to_string()),
    }
}

fn max_or(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

/// memory.* files.
pub(crate) fn memory(dir: &Path, m: &LinuxMemory) -> Result<()> {
    if m.swappiness().is_some() {
        return Err(Error::Unsupported {
            what: "memory swappiness".into(),
            reason: "cgroup v2 has no per-cgroup swappiness".into(),
        });
    }
    if m.disable_oom_killer() == Some(true) {
        return Err(Error::Unsupported {
            what: "disabling the OOM killer".into(),
            reason: "cgroup v2 cannot disable the OOM killer".into(),
        });
    }
    if m.kernel_tcp().is_some_and(|k| k != 0) {
        return Err(Error::Unsupported {
            what: "kernel TCP memory limit".into(),
            reason: "cgroup v2 has no separate TCP memory limit".into(),
        });
    }
    // Kernel memory (`kernel`) is counted in memory.max on v2: nothing to set.
    let limit = m.limit().filter(|&l| l != 0);
    // Unlimited memory with swap left unset means unlimited swap too.
    let swap = m
        .swap()
        .filter(|&s| s != 0)
        .or((limit == Some(-1)).then_some(-1));
    if let Some(s) = swap {
        // Swap first: memory.swap.max does not depend on memory.max, and a
        // failure (no swap accounting) leaves the memory limit unchanged.
        let what = "memory swap limit (swap accounting is off)";
        match write_requested(dir, "memory.swap.max", &swap_max(limit, s)?, what) {
            // Implied by an unlimited memory limit, not asked for.
            Err(Error::Unsupported { .. }) if m.swap().is_none() => {}
            other => other?,
        }
    }
    if let Some(l) = limit {
        write(dir, "memory.max", &max_or(l))?;
    }
    if let Some(r) = m.reservation().filter(|&r| r != 0) {
        write(dir, "memory.low", &max_or(r))?;
    }
    Ok(())
}

/// cpu shares (2..262144, default 1024) → cpu.weight (1..10000, default
/// 100), the linear mapping runc and crun have used.
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// cpu.* and cpuset.* files.
pub(crate) fn cpu(dir: &Path, c: &LinuxCpu) -> Result<()> {
    if c.realtime_period().is_some_and(|p| p != 0) || c.realtime_runtime().is_some_and(|r| r != 0) {
        return Err(Error::Unsupported {
            what: "cpu realtime period/runtime".into(),
            reason: "cgroup v2 has no realtime group scheduling".into(),
        });
    }
    if let Some(s) = c.shares().filter(|&s| s != 0) {
        write(dir, "cpu.weight", &shares_to_weight(s).to_string())?;
    }
    let quota = c.quota().filter(|&q| q != 0);
    let period = c.period().filter(|&p| p != 0);
    if quota.is_some() || period.is_some() {
        let mut v = quota.map_or_else(|| "max".to_string(), max_or);
        if let Some(p) = period {
            v = format!("{v} {p}");
        }
        write(dir, "cpu.max", &v)?;
    }
    if let Some(b) = c.burst() {
        write_requested(dir, "cpu.max.burst", &b.to_string(), "cpu burst")?;
    }
    if let Some(i) = c.idle() {
        write_requested(dir, "cpu.idle", &i.to_string(), "cpu idle")?;
    }
    Ok(())
}

/// blkio weight (10..1000) → io.weight (1..10000).
pub(crate) fn blkio_to_io_weight(w: u16) -> u64 {
    let w = u64::from(w.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

/// io.* files. BFQ's io.bfq.weight takes blkio's range unchanged; the
/// generic io.weight needs the conversion.
pub(crate) fn io(dir: &Path, b: &LinuxBlockIo) -> Result<()> {
    if b.leaf_weight().is_some_and(|w| w != 0)
        || b.weight_device()
            .iter()
            .flatten()
            .any(|d| d.leaf_weight().is_some())
    {
        return Err(Error::Unsupported {
            what: "blkio leaf weight".into(),
            reason: "cgroup v2 has no leaf weights".into(),
        });
    }
    let bfq = dir.join("io.bfq.weight").exists();
    let weight = |w: u16| {
        if bfq {
            ("io.bfq.weight", w.to_string())
        } else {
            ("io.weight", blkio_to_io_weight(w).to_string())
        }
    };
    // 0 means "not set", as for v1.
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        let (file, v) = weight(w);
        write_requested(dir, file, &format!("default {v}"), "io weight")?;
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight() {
            let (file, v) = weight(w);
            let line = format!("{}:{} {v}", d.major(), d.minor());
            write_requested(dir, file, &line, "io weight device")?;
        }
    }
    let throttles = [
        (b.throttle_read_bps_device(), "rbps"),
        (b.throttle_write_bps_device(), "wbps"),
        (b.throttle_read_iops_device(), "riops"),
        (b.throttle_write_iops_device(), "wiops"),
    ];
    for (list, key) in throttles {
        for d in list.iter().flatten() {
            let line = format!("{}:{} {key}={}", d.major(), d.minor(), d.rate());
            write_requested(dir, "io.max", &line, "io throttling")?;
        }
    }
    Ok(())
}

/// Raw "unified" key/values: each key is a file of the cgroup directory.
pub(crate) fn unified(dir: &Path, key: &str, value: &str) -> Result<()> {
    if key.contains('/') || key.starts_with('.') || !key.contains('.') {
        return Err(Error::InvalidResource {
            what: "unified key",
            reason: format!("{key:?} is not a cgroup v2 control file name"),
        });
    }
    write_requested(dir, key, value, &format!("unified key {key}"))
}

/// The freezer state from cgroup.freeze (what was asked) and cgroup.events
/// (what the kernel reached).
pub(crate) fn freezer_state(dir: &Path) -> Result<FreezerState> {
    let asked = files::read(dir, "cgroup.freeze")?;
    let frozen = files::keyed(&files::read(dir, "cgroup.events")?, "frozen") == Some(1);
    Ok(match (asked.trim() == "1", frozen) {
        (_, true) => FreezerState::Frozen,
        (true, false) => FreezerState::Freezing,
        (false, false) => FreezerState::Thawed,
    })
}

/// Write cgroup.freeze and wait until cgroup.events says `frozen 1` (or 0).
pub(crate) fn set_frozen(dir: &Path, frozen: bool, timeout: Duration) -> Result<()> {
    write(dir, "cgroup.freeze", if frozen { "1" } else { "0" })?;
    let start = Instant::now();
    let mut pause = Duration::from_micros(100);
    loop {
        let events = files::read(dir, "cgroup.events")?;
        if files::keyed(&events, "frozen") == Some(u64::from(frozen)) {
            return Ok(());
        }
        if start.elapsed() >= timeout {
            let waited_ms = u64::try_from(start.elapsed().as_millis()).unwrap_or(u64::MAX);
            if frozen {
                write(dir, "cgroup.freeze", "0")?;
            }
            return Err(Error::FreezeTimeout {
                path: dir.join("cgroup.events"),
                state: if frozen { "freezing" } else { "frozen" }.into(),
                waited_ms,
            });
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(10));
    }
}

/// Whether an error is "the file does not exist".
pub(crate) fn is_not_found(e: &Error) -> bool {
    matches!(e, Error::Write { source, .. } | Error::Read { source, .. }
        if source.kind() == io::ErrorKind::NotFound)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(500), 4950);
        assert_eq!(blkio_to_io_weight(1000), 10_000);
    }

    #[test]
    fn swap_conversion() {
        assert_eq!(swap_max(Some(100), 300).unwrap(), "200");
        assert_eq!(swap_max(Some(100), -1).unwrap(), "max");
        assert!(swap_max(None, 300).is_err());
        assert!(swap_max(Some(300), 100).is_err());
    }
}
