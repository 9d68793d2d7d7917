//! Sends each part of an OCI `LinuxResources` to the hierarchy that holds
//! its controller: v1 or v2, which differ even on one host (hybrid).

use oci_spec::runtime::{LinuxBlockIo, LinuxMemory, LinuxResources};

use crate::error::{Error, Result};
use crate::files::{write, write_requested};
use crate::layout::Hierarchy;
use crate::manager::{Manager, Place};
use crate::{devices, ebpf};
use crate::{v1, v2};

/// The controller's directory, or an error saying the host lacks it.
fn need<'a>(m: &'a Manager, controller: &str, what: &str) -> Result<Place<'a>> {
    m.place_for_write(controller)?
        .ok_or_else(|| Error::Unsupported {
            what: what.to_string(),
            reason: format!("this host has no {controller} cgroup controller"),
        })
}

fn memory_requested(m: &LinuxMemory) -> bool {
    m.limit().is_some_and(|v| v != 0)
        || m.swap().is_some_and(|v| v != 0)
        || m.reservation().is_some_and(|v| v != 0)
        || m.swappiness().is_some()
        || m.disable_oom_killer() == Some(true)
        || m.kernel().is_some_and(|v| v != 0)
        || m.kernel_tcp().is_some_and(|v| v != 0)
}

fn blkio_requested(b: &LinuxBlockIo) -> bool {
    b.weight().is_some_and(|w| w != 0)
        || b.leaf_weight().is_some_and(|w| w != 0)
        || [
            b.throttle_read_bps_device(),
            b.throttle_write_bps_device(),
            b.throttle_read_iops_device(),
            b.throttle_write_iops_device(),
        ]
        .iter()
        .any(|l| l.as_ref().is_some_and(|l| !l.is_empty()))
        || b.weight_device().as_ref().is_some_and(|l| !l.is_empty())
}

/// A hugetlb page size as the kernel names it in file names: "2MB", "1GB".
fn page_size(s: &str) -> Result<&str> {
    let digits = s.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let unit = &s[digits.len()..];
    if digits.is_empty()
        || !digits.bytes().all(|b| b.is_ascii_digit())
        || !["KB", "MB", "GB"].contains(&unit)
    {
        return Err(Error::InvalidResource {
            what: "hugepage size",
            reason: format!("{s:?} is not like 2MB or 1GB"),
        });
    }
    Ok(s)
}

pub(crate) fn set(m: &Manager, r: &LinuxResources) -> Result<()> {
    if let Some(mem) = r.memory().as_ref().filter(|mem| memory_requested(mem)) {
        match need(m, "memory", "memory limits")? {
            Place::V1(d) => v1::memory(d, mem)?,
            Place::V2(d) => v2::memory(d, mem)?,
        }
    }
    if let Some(cpu) = r.cpu() {
        if v1::cpu_requested(cpu) {
            match need(m, "cpu", "cpu limits")? {
                Place::V1(d) => v1::cpu(d, cpu)?,
                Place::V2(d) => v2::cpu(d, cpu)?,
            }
        }
        let cpus = cpu.cpus().as_deref().filter(|s| !s.is_empty());
        let mems = cpu.mems().as_deref().filter(|s| !s.is_empty());
        if cpus.is_some() || mems.is_some() {
            let (Place::V1(d) | Place::V2(d)) = need(m, "cpuset", "cpuset")?;
            if let Some(c) = cpus {
                write(d, "cpuset.cpus", c)?;
            }
            if let Some(mm) = mems {
                write(d, "cpuset.mems", mm)?;
            }
        }
    }
    if let Some(p) = r.pids() {
        let (Place::V1(d) | Place::V2(d)) = need(m, "pids", "pids limit")?;
        let v = if p.limit() > 0 {
            p.limit().to_string()
        } else {
            "max".into()
        };
        write(d, "pids.max", &v)?;
    }
    if let Some(b) = r.block_io().as_ref().filter(|b| blkio_requested(b)) {
        match m
            .place("blkio")
            .map_or_else(|| need(m, "io", "block io limits"), Ok)?
        {
            Place::V1(d) => v1::blkio(d, b)?,
            Place::V2(d) => v2::io(d, b)?,
        }
    }
    if let Some(rules) = r.devices().as_ref().filter(|r| !r.is_empty()) {
        let rules = devices::parse_rules(rules)?;
        match m.place("devices").or_else(|| m.place("")) {
            Some(Place::V1(d)) => v1::devices(d, &rules)?,
            Some(Place::V2(d)) => ebpf::set_device_filter(d, &rules)?,
            None => {
                return Err(Error::Unsupported {
                    what: "device rules".into(),
                    reason: "this host has no devices cgroup controller".into(),
                })
            }
        }
    }
    for h in r.hugepage_limits().iter().flatten() {
        let size = page_size(h.page_size())?;
        let what = format!("hugetlb limit for {size} pages");
        let limit = h.limit().to_string();
        let (d, file, rsvd) = match need(m, "hugetlb", &what)? {
            Place::V1(d) => (
                d,
                format!("hugetlb.{size}.limit_in_bytes"),
                format!("hugetlb.{size}.rsvd.limit_in_bytes"),
            ),
            Place::V2(d) => (
                d,
                format!("hugetlb.{size}.max"),
                format!("hugetlb.{size}.rsvd.max"),
            ),
        };
        write_requested(d, &file, &limit, &what)?;
        // Reservation limits exist since 5.7; they make the limit apply at
        // mmap time instead of as a SIGBUS at fault time.
        if d.join(&rsvd).exists() {
            write(d, &rsvd, &limit)?;
        }
    }
    if let Some(net) = r.network() {
        if let Some(id) = net.class_id() {
            match need(m, "net_cls", "network class id")? {
                Place::V1(d) => write(d, "net_cls.classid", &id.to_string())?,
                Place::V2(_) => return Err(v1_only("network class id")),
            }
        }
        for p in net.priorities().iter().flatten() {
            match need(m, "net_prio", "network priorities")? {
                Place::V1(d) => write(
                    d,
                    "net_prio.ifpriomap",
                    &format!("{} {}", p.name(), p.priority()),
                )?,
                Place::V2(_) => return Err(v1_only("network priorities")),
            }
        }
    }
    for (dev, limit) in r.rdma().iter().flatten() {
        let (Place::V1(d) | Place::V2(d)) = need(m, "rdma", "rdma limits")?;
        let mut line = dev.clone();
        if let Some(h) = limit.hca_handles() {
            line.push_str(&format!(" hca_handle={h}"));
        }
        if let Some(o) = limit.hca_objects() {
            line.push_str(&format!(" hca_object={o}"));
        }
        write(d, "rdma.max", &line)?;
    }
    if let Some(unified) = r.unified().as_ref().filter(|u| !u.is_empty()) {
        if m.hierarchy() == Hierarchy::Legacy {
            return Err(Error::Unsupported {
                what: "unified resources".into(),
                reason: "this host has no cgroup v2 hierarchy".into(),
            });
        }
        for (key, value) in unified {
            let controller = key.split('.').next().unwrap_or_default();
            let controller = if controller == "cgroup" {
                ""
            } else {
                controller
            };
            match m.place_for_write(controller)? {
                Some(Place::V2(d)) => v2::unified(d, key, value)?,
                _ => {
                    return Err(Error::Unsupported {
                        what: format!("unified key {key}"),
                        reason: format!(
                            "the {controller} controller is not in this host's cgroup v2 hierarchy"
                        ),
                    })
                }
            }
        }
    }
    Ok(())
}

fn v1_only(what: &str) -> Error {
    Error::Unsupported {
        what: what.to_string(),
        reason: "cgroup v2 has no such controller".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_sizes() {
        assert_eq!(page_size("2MB").unwrap(), "2MB");
        assert!(page_size("1GB").is_ok());
        assert!(page_size("2M").is_err());
        assert!(page_size("../x").is_err());
        assert!(page_size("MB").is_err());
    }
}
