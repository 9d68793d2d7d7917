//! Putting a new process (a container's init, or an exec'd process) into
//! the container's cgroup at the lowest cost.
//!
//! Writing a pid into `cgroup.procs` takes the kernel's global
//! `cgroup_threadgroup_rwsem` for writing, which waits for an RCU grace
//! period: 7–15 ms on a small VM, the largest single cost of `run`. A thread
//! that moves *itself* by writing "0" into a v1 hierarchy's `tasks` file
//! skips that lock (Linux ≥ 6.0, "cgroup: Optimize single thread
//! migration"; older kernels just take it). The process is single-threaded
//! when it does so (it was forked from a single-threaded runtime), so
//! moving its one thread moves the whole process. The runtime opens the
//! `tasks` files and the child writes into the inherited descriptors: the
//! kernel checks the opener's credentials, so this works as well in a new
//! user namespace as a write by the runtime would.
//!
//! A v2 hierarchy has no `tasks` file: there the runtime writes the pid into
//! `cgroup.procs` as before, unless the child was born into its cgroup by
//! `clone3(CLONE_INTO_CGROUP)` (see [`Join::v2_dir`]).

use std::fs;
use std::io::Write;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use crate::error::{Context, Result};

/// How a new process gets into the container's cgroup.
pub(crate) struct Join {
    /// The `tasks` file of each v1 hierarchy, written by the child itself.
    tasks: Vec<(PathBuf, OwnedFd)>,
    /// Directories whose `cgroup.procs` the runtime writes the pid into.
    procs: Vec<PathBuf>,
    /// The v2 directory, opened for `CLONE_INTO_CGROUP`.
    v2: Option<OwnedFd>,
}

impl Join {
    /// Opens what the child needs to join `cg` by itself (nothing to join
    /// without one).
    pub fn open(cg: Option<&berth_cgroups::Manager>) -> Join {
        let mut join = Join {
            tasks: Vec::new(),
            procs: Vec::new(),
            v2: None,
        };
        for dir in cg.iter().flat_map(|cg| cg.paths()) {
            let tasks = dir.join("tasks");
            match fs::OpenOptions::new()
                .write(true)
                .custom_flags(libc::O_CLOEXEC)
                .open(&tasks)
            {
                Ok(f) => join.tasks.push((tasks, f.into())),
                // No tasks file: a v2 hierarchy (or one we may not write,
                // which `cgroup.procs` reports properly).
                Err(_) => join.procs.push(dir.to_path_buf()),
            }
        }
        join
    }

    /// The v2 directory for `clone3(CLONE_INTO_CGROUP)`, when there is
    /// exactly one directory left for the runtime to write (should that be
    /// a v1 directory whose `tasks` we could not open, clone3 refuses it
    /// with EBADF and the caller clones without). Once the clone has used
    /// it, [`Join::born_in_v2`] takes it off the list.
    pub fn v2_dir(&mut self) -> Option<BorrowedFd<'_>> {
        if self.v2.is_none() {
            if let [dir] = self.procs.as_slice() {
                self.v2 = fs::OpenOptions::new()
                    .read(true)
                    .custom_flags(libc::O_DIRECTORY | libc::O_CLOEXEC)
                    .open(dir)
                    .ok()
                    .map(OwnedFd::from);
            }
        }
        self.v2.as_ref().map(|fd| fd.as_fd())
    }

    /// The child was cloned straight into the v2 directory.
    pub fn born_in_v2(&mut self) {
        if self.v2.take().is_some() {
            self.procs.clear();
        }
    }

    /// In the child: moves itself into every v1 hierarchy.
    pub fn join_self(&mut self) -> Result<()> {
        for (path, fd) in self.tasks.drain(..) {
            fs::File::from(fd)
                .write_all(b"0")
                .ctx(|| format!("write 0 to {}", path.display()))?;
        }
        Ok(())
    }

    /// In the runtime: moves `pid` into the hierarchies the child could not
    /// join by itself.
    pub fn apply_rest(&self, pid: i32) -> Result<()> {
        for dir in &self.procs {
            let path = dir.join("cgroup.procs");
            fs::OpenOptions::new()
                .write(true)
                .open(&path)
                .and_then(|mut f| f.write_all(pid.to_string().as_bytes()))
                .ctx(|| format!("write {pid} to {}", path.display()))?;
        }
        Ok(())
    }
}
