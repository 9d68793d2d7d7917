//! Usage statistics of a container's cgroup, for `docker stats`, the shim's
//! OOM reports and `docker top`. Reads only the few files needed.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::files::{self, keyed};
use crate::layout::Hierarchy;
use crate::manager::{Manager, Place};

/// v1 reports "no limit" as the largest page-aligned counter value.
const V1_UNLIMITED: u64 = 0x7FFF_FFFF_FFFF_F000;

/// Memory statistics, in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemoryStats {
    /// Current usage (v1 memory.usage_in_bytes, v2 memory.current).
    pub usage: u64,
    /// Peak usage (v1 max_usage_in_bytes, v2 memory.peak), if known.
    pub max_usage: Option<u64>,
    /// The limit; `None` when unlimited.
    pub limit: Option<u64>,
    /// Page cache (v1 total_cache, v2 file).
    pub cache: u64,
    /// Swap in use, if swap accounting is on.
    pub swap_usage: Option<u64>,
    /// How often the limit was hit (v1 failcnt, v2 memory.events max).
    pub failcnt: u64,
    /// Processes killed by the OOM killer in this cgroup.
    pub oom_kills: u64,
    /// Every counter of memory.stat (docker passes them on as they are;
    /// its CLI subtracts inactive_file or total_inactive_file from usage).
    pub stat: BTreeMap<String, u64>,
}

/// CPU statistics, in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CpuStats {
    pub usage_total: u64,
    pub usage_user: u64,
    pub usage_system: u64,
    /// Per-CPU usage (v1 only; empty on v2).
    pub usage_percpu: Vec<u64>,
    /// CFS periods elapsed, throttled, and the time throttled.
    pub periods: u64,
    pub throttled_periods: u64,
    pub throttled_time: u64,
}

/// Process count.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PidsStats {
    pub current: u64,
    /// `None` when unlimited.
    pub limit: Option<u64>,
}

/// Block I/O totals over all devices.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlkioStats {
    pub read_bytes: u64,
    pub write_bytes: u64,
    pub read_ops: u64,
    pub write_ops: u64,
}

/// Statistics of one container. A controller the host lacks leaves its part
/// at zero.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Stats {
    pub memory: MemoryStats,
    pub cpu: CpuStats,
    pub pids: PidsStats,
    pub blkio: BlkioStats,
}

fn limit(v: Option<u64>) -> Option<u64> {
    v.filter(|&l| l < V1_UNLIMITED)
}

fn stat_map(text: &str) -> BTreeMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

pub(crate) fn stats(m: &Manager) -> Result<Stats> {
    let mut s = Stats::default();
    match m.place("memory") {
        Some(Place::V1(d)) => memory_v1(d, &mut s.memory)?,
        Some(Place::V2(d)) => memory_v2(d, &mut s.memory)?,
        None => {}
    }
    if let Some(Place::V1(d)) = m.place("cpuacct") {
        cpuacct_v1(d, &mut s.cpu)?;
    }
    if let Some(Place::V1(d)) = m.place("cpu") {
        if let Some(t) = files::read_optional(d, "cpu.stat")? {
            s.cpu.periods = keyed(&t, "nr_periods").unwrap_or(0);
            s.cpu.throttled_periods = keyed(&t, "nr_throttled").unwrap_or(0);
            s.cpu.throttled_time = keyed(&t, "throttled_time").unwrap_or(0);
        }
    }
    if m.hierarchy() == Hierarchy::Unified {
        // cpu.stat exists in every v2 cgroup, with or without the controller.
        if let Some(d) = m.path("") {
            cpu_v2(d, &mut s.cpu)?;
        }
    }
    if let Some(Place::V1(d) | Place::V2(d)) = m.place("pids") {
        s.pids.current = files::read_u64(d, "pids.current")?.unwrap_or(0);
        s.pids.limit = files::read_u64(d, "pids.max")?.filter(|&l| l != u64::MAX);
    }
    match m.place("blkio") {
        Some(Place::V1(d)) => blkio_v1(d, &mut s.blkio)?,
        _ => {
            if let Some(Place::V2(d)) = m.place("io") {
                io_v2(d, &mut s.blkio)?;
            }
        }
    }
    Ok(s)
}

/// Processes OOM-killed in the container's cgroup so far.
pub(crate) fn oom_kills(m: &Manager) -> Result<u64> {
    match m.place("memory") {
        Some(Place::V1(d)) => Ok(files::read_optional(d, "memory.oom_control")?
            .and_then(|t| keyed(&t, "oom_kill"))
            .unwrap_or(0)),
        Some(Place::V2(d)) => Ok(files::read_optional(d, "memory.events")?
            .and_then(|t| keyed(&t, "oom_kill"))
            .unwrap_or(0)),
        None => Ok(0),
    }
}

fn memory_v1(d: &Path, m: &mut MemoryStats) -> Result<()> {
    m.usage = files::read_u64(d, "memory.usage_in_bytes")?.unwrap_or(0);
    m.max_usage = files::read_u64(d, "memory.max_usage_in_bytes")?;
    m.limit = limit(files::read_u64(d, "memory.limit_in_bytes")?);
    m.failcnt = files::read_u64(d, "memory.failcnt")?.unwrap_or(0);
    m.swap_usage =
        files::read_u64(d, "memory.memsw.usage_in_bytes")?.map(|sw| sw.saturating_sub(m.usage));
    if let Some(t) = files::read_optional(d, "memory.stat")? {
        m.stat = stat_map(&t);
    }
    m.cache = m
        .stat
        .get("total_cache")
        .or(m.stat.get("cache"))
        .copied()
        .unwrap_or(0);
    m.oom_kills = files::read_optional(d, "memory.oom_control")?
        .and_then(|t| keyed(&t, "oom_kill"))
        .unwrap_or(0);
    Ok(())
}

fn memory_v2(d: &Path, m: &mut MemoryStats) -> Result<()> {
    m.usage = files::read_u64(d, "memory.current")?.unwrap_or(0);
    m.max_usage = files::read_u64(d, "memory.peak")?;
    m.limit = files::read_u64(d, "memory.max")?.filter(|&l| l != u64::MAX);
    m.swap_usage = files::read_u64(d, "memory.swap.current")?;
    if let Some(t) = files::read_optional(d, "memory.stat")? {
        m.stat = stat_map(&t);
    }
    m.cache = m.stat.get("file").copied().unwrap_or(0);
    if let Some(t) = files::read_optional(d, "memory.events")? {
        m.failcnt = keyed(&t, "max").unwrap_or(0);
        m.oom_kills = keyed(&t, "oom_kill").unwrap_or(0);
    }
    Ok(())
}

fn cpuacct_v1(d: &Path, c: &mut CpuStats) -> Result<()> {
    c.usage_total = files::read_u64(d, "cpuacct.usage")?.unwrap_or(0);
    c.usage_user = files::read_u64(d, "cpuacct.usage_user")?.unwrap_or(0);
    c.usage_system = files::read_u64(d, "cpuacct.usage_sys")?.unwrap_or(0);
    if let Some(t) = files::read_optional(d, "cpuacct.usage_percpu")? {
        c.usage_percpu = t
            .split_whitespace()
            .filter_map(|v| v.parse().ok())
            .collect();
    }
    Ok(())
}

fn cpu_v2(d: &Path, c: &mut CpuStats) -> Result<()> {
    let Some(t) = files::read_optional(d, "cpu.stat")? else {
        return Ok(());
    };
    let us = |k| keyed(&t, k).unwrap_or(0).saturating_mul(1000);
    c.usage_total = us("usage_usec");
    c.usage_user = us("user_usec");
    c.usage_system = us("system_usec");
    c.periods = keyed(&t, "nr_periods").unwrap_or(0);
    c.throttled_periods = keyed(&t, "nr_throttled").unwrap_or(0);
    c.throttled_time = us("throttled_usec");
    Ok(())
}

fn blkio_v1(d: &Path, b: &mut BlkioStats) -> Result<()> {
    // "8:0 Read 4096" lines; the per-device "Total" and the final "Total N"
    // line are skipped so nothing counts twice.
    let sum = |file: &str, read: &mut u64, write: &mut u64| -> Result<()> {
        for l in files::read_optional(d, file)?.unwrap_or_default().lines() {
            let f: Vec<&str> = l.split_whitespace().collect();
            if let [_, op, v] = f[..] {
                let v: u64 = v.parse().unwrap_or(0);
                match op {
                    "Read" => *read += v,
                    "Write" => *write += v,
                    _ => {}
                }
            }
        }
        Ok(())
    };
    let (mut rb, mut wb, mut ro, mut wo) = (0, 0, 0, 0);
    sum(
        "blkio.throttle.io_service_bytes_recursive",
        &mut rb,
        &mut wb,
    )?;
    sum("blkio.throttle.io_serviced_recursive", &mut ro, &mut wo)?;
    *b = BlkioStats {
        read_bytes: rb,
        write_bytes: wb,
        read_ops: ro,
        write_ops: wo,
    };
    Ok(())
}

fn io_v2(d: &Path, b: &mut BlkioStats) -> Result<()> {
    // "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0" per device.
    for l in files::read_optional(d, "io.stat")?
        .unwrap_or_default()
        .lines()
    {
        for kv in l.split_whitespace().skip(1) {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let v: u64 = v.parse().unwrap_or(0);
            match k {
                "rbytes" => b.read_bytes += v,
                "wbytes" => b.write_bytes += v,
                "rios" => b.read_ops += v,
                "wios" => b.write_ops += v,
                _ => {}
            }
        }
    }
    Ok(())
}
