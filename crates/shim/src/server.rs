//! The shim's single-threaded poll loop: container output to the log and
//! to attached clients, client stdin to the container, reaping, restart
//! policy, and the control socket.

use crate::logfile::LogFile;
use crate::proc::{resize, write_some, PendingIo, Proc};
use crate::runtime::Runtime;
use crate::Error;
use berth_base::fsutil::{atomic_write, replace_file};
use berth_shim_proto::jsonlog::Stream;
use berth_shim_proto::{
    decode_request, encode_response, frame, time, ErrorCode, ExecState, ExitFile, ExitStatus,
    Request, Response, ShimConfig, ShimState, Status, STATE_NAME,
};
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{kill, Signal};
use nix::sys::signalfd::SignalFd;
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use std::collections::{HashMap, VecDeque};
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// A client that lets this much output pile up is disconnected.
const MAX_CLIENT_BUF: usize = 8 << 20;
/// After the container stopped for good, how long to wait for clients to
/// take their last bytes before the shim exits.
const EXIT_LINGER: Duration = Duration::from_secs(5);
/// Docker's restart back-off: start at 100 ms, double, cap at 1 min, reset
/// after a run of 10 s.
/// Exits of unknown children remembered for a process being registered.
const MAX_UNCLAIMED: usize = 16;
/// Exits of ended execs kept for `ExecState`; the oldest go first past
/// this (healthchecks add one per check for as long as the container runs).
const MAX_EXEC_DONE: usize = 1024;
/// How long the init's output is held for its awaited attaches.
const ATTACH_WAIT: Duration = Duration::from_secs(10);
const BACKOFF_START: Duration = Duration::from_millis(100);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
const BACKOFF_RESET: Duration = Duration::from_secs(10);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Target {
    Init,
    Exec(usize),
}

enum Mode {
    Request,
    Waiting,
    Attached {
        target: Target,
        stdin: bool,
        stdout: bool,
        stderr: bool,
    },
}

struct Conn {
    sock: UnixStream,
    inbuf: Vec<u8>,
    out: Vec<u8>,
    mode: Mode,
    read_eof: bool,
    /// Close once `out` is written.
    closing: bool,
    dead: bool,
}

impl Conn {
    fn send(&mut self, data: &[u8]) {
        if self.out.len() + data.len() > MAX_CLIENT_BUF {
            self.dead = true;
            return;
        }
        self.out.extend_from_slice(data);
    }

    fn reply(&mut self, r: &Response) {
        self.send(&encode_response(r));
        self.closing = true;
    }

    fn frame(&mut self, kind: u8, data: &[u8]) {
        for chunk in data.chunks(frame::MAX_PAYLOAD) {
            self.send(&frame::header(kind, chunk.len()));
            self.send(chunk);
        }
    }

    fn flush(&mut self) {
        if write_some(&mut self.sock, &mut self.out).is_err() {
            self.dead = true;
            return;
        }
        if self.closing && self.out.is_empty() {
            self.dead = true;
        }
    }
}

struct ExecProc {
    id: String,
    proc: Proc,
}

#[derive(Clone, Copy)]
enum Token {
    Signal,
    Listener,
    Out(Target, usize),
    In(Target),
    Conn(usize),
}

pub(crate) struct Shim {
    cfg: ShimConfig,
    /// The spec's `linux.cgroupsPath`.
    cgroups_path: Option<String>,
    dir: PathBuf,
    rt: Runtime,
    listener: UnixListener,
    sigfd: SignalFd,
    log: Option<LogFile>,
    init: Option<Proc>,
    execs: Vec<Option<ExecProc>>,
    exec_done: HashMap<String, (i32, i32)>,
    exec_done_order: VecDeque<String>,
    unclaimed: Vec<(i32, i32, Instant)>,
    conns: Vec<Option<Conn>>,
    status: Status,
    started_at: time::UnixNanos,
    run_started: Instant,
    restart_count: u32,
    last_exit: Option<ExitStatus>,
    manually_stopped: bool,
    stop_deadline: Option<Instant>,
    restart_at: Option<Instant>,
    backoff: Duration,
    exit_at: Option<Instant>,
    buf: Vec<u8>,
    /// (device, inode) of our socket file.
    sock_id: Option<(u64, u64)>,
    /// The runtime's state and cgroups are deleted once the clients
    /// connected by then have their answers (`--rm` containers).
    delete_at_exit: bool,
    /// Attaches still awaited before the first run's output is read.
    attaches_awaited: u32,
    attach_deadline: Option<Instant>,
}

fn status_code(ws: WaitStatus) -> Option<(i32, i32)> {
    match ws {
        WaitStatus::Exited(pid, code) => Some((pid.as_raw(), code)),
        WaitStatus::Signaled(pid, sig, _) => Some((pid.as_raw(), 128 + sig as i32)),
        _ => None,
    }
}

impl Shim {
    pub(crate) fn new(
        cfg: ShimConfig,
        cgroups_path: Option<String>,
        dir: PathBuf,
        rt: Runtime,
        listener: UnixListener,
        sigfd: SignalFd,
        log: Option<LogFile>,
    ) -> Self {
        let dir_for_id = dir.clone();
        Self {
            attaches_awaited: cfg.await_attach,
            attach_deadline: None,
            delete_at_exit: false,
            restart_count: cfg.restart_count,
            cfg,
            cgroups_path,
            dir,
            rt,
            listener,
            sigfd,
            log,
            init: None,
            execs: Vec::new(),
            exec_done: HashMap::new(),
            exec_done_order: VecDeque::new(),
            unclaimed: Vec::new(),
            conns: Vec::new(),
            status: Status::Stopped,
            started_at: 0,
            run_started: Instant::now(),
            last_exit: None,
            manually_stopped: false,
            stop_deadline: None,
            restart_at: None,
            backoff: BACKOFF_START,
            exit_at: None,
            buf: vec![0u8; frame::MAX_PAYLOAD],
            sock_id: std::fs::metadata(berth_shim_proto::socket_path(&dir_for_id))
                .ok()
                .map(|m| (m.dev(), m.ino())),
        }
    }

    pub(crate) fn state(&self) -> ShimState {
        ShimState {
            status: self.status,
            pid: self.init.as_ref().map_or(0, |p| p.pid),
            shim_pid: i32::try_from(std::process::id()).unwrap_or(0),
            started_at: self.started_at,
            restart_count: self.restart_count,
            last_exit: self.last_exit.clone(),
            manually_stopped: self.manually_stopped,
        }
    }

    fn save_state(&self) {
        let data = serde_json::to_vec(&self.state()).unwrap_or_default();
        // No fsync: the exec root's state describes processes, which do
        // not outlive the host either.
        if let Err(e) = replace_file(&self.dir.join(STATE_NAME), &data, 0o600) {
            eprintln!("berth-shim: write {}: {e}", STATE_NAME);
        }
    }

    /// Create and start the container, with fresh stdio.
    pub(crate) fn start_container(&mut self) -> Result<(), Error> {
        let console = self
            .rt
            .needs_console_socket()
            .then(|| PathBuf::from("console.sock"));
        let (pending, child) =
            PendingIo::new(self.cfg.tty, self.cfg.open_stdin, console).map_err(|source| {
                Error::Io {
                    what: "create the container's stdio",
                    source,
                }
            })?;
        let pid_file = self.dir.join("init.pid");
        let created = self.rt.create(
            &self.cfg.id,
            &self.cfg.bundle,
            &pid_file,
            pending.console.as_ref(),
            child,
        );
        // A child may have exited while SIGCHLD was unblocked.
        self.reap();
        let (pid, master) = created?;
        let mut proc = match pending.finish(pid, master, self.cfg.open_stdin, self.cfg.console_size)
        {
            Ok(proc) => proc,
            Err(e) => {
                let _ = self.rt.delete(&self.cfg.id);
                return Err(e);
            }
        };
        proc.exited = self.claim(proc.pid);
        // The process starts at once, not after the round trip of the
        // attaches `docker run` sends: its output waits for them in the
        // kernel's buffers instead, so they still see all of it.
        proc.held = self.attaches_awaited > 0;
        if proc.held {
            self.attach_deadline = Some(Instant::now() + ATTACH_WAIT);
        }
        // What creating the container allocated (the parsed spec) is
        // garbage now: one shim runs per container, so its
        // private memory counts.
        berth_sys::process::release_free_memory();
        if let Err(e) = self.rt.start(&self.cfg.id) {
            let _ = self.rt.delete(&self.cfg.id);
            return Err(e.into());
        }
        self.init = Some(proc);
        self.status = Status::Running;
        self.started_at = time::now();
        self.run_started = Instant::now();
        self.save_state();
        Ok(())
    }

    /// The awaited attaches came (or did not in time): read the init's
    /// output.
    fn release_output(&mut self) {
        self.attach_deadline = None;
        self.attaches_awaited = 0;
        if let Some(p) = self.init.as_mut() {
            p.release_output(Instant::now());
        }
    }

    fn proc_mut(&mut self, t: Target) -> Option<&mut Proc> {
        match t {
            Target::Init => self.init.as_mut(),
            Target::Exec(i) => self.execs.get_mut(i)?.as_mut().map(|e| &mut e.proc),
        }
    }

    /// Run until the container stopped for good and clients are served.
    pub(crate) fn run(mut self) {
        loop {
            let now = Instant::now();
            if let Some(at) = self.exit_at {
                // Every client that connected gets its answer (the
                // engine's Wait may have come just at the exit), then the
                // last bytes of all are sent.
                self.accept();
                let unanswered = self
                    .conns
                    .iter()
                    .flatten()
                    .any(|c| matches!(c.mode, Mode::Request) && !c.closing);
                if self.delete_at_exit && (!unanswered || now >= at) {
                    self.delete_container();
                    // Clients may have come during the delete.
                    continue;
                }
                let flushed = self.conns.iter().flatten().all(|c| c.out.is_empty());
                if (flushed && !unanswered) || now >= at {
                    break;
                }
            }
            let timeout = self.next_timeout(now);
            let mut tokens = Vec::new();
            let ready: Vec<(Token, PollFlags)> = {
                let mut fds = Vec::new();
                fds.push(PollFd::new(self.sigfd.as_fd(), PollFlags::POLLIN));
                tokens.push(Token::Signal);
                // Clients are served until the shim exits: the engine's
                // Wait may come just as the container exits.
                fds.push(PollFd::new(self.listener.as_fd(), PollFlags::POLLIN));
                tokens.push(Token::Listener);
                let procs = self.init.iter().map(|p| (Target::Init, p)).chain(
                    self.execs
                        .iter()
                        .enumerate()
                        .filter_map(|(i, e)| e.as_ref().map(|e| (Target::Exec(i), &e.proc))),
                );
                for (t, p) in procs {
                    // Held output is not polled: it stays in the kernel.
                    for (s, out) in p.outs.iter().enumerate().filter(|_| !p.held) {
                        if let Some(f) = out {
                            fds.push(PollFd::new(f.as_fd(), PollFlags::POLLIN));
                            tokens.push(Token::Out(t, s));
                        }
                    }
                    if let (Some(f), false) = (&p.stdin, p.stdin_buf.is_empty()) {
                        fds.push(PollFd::new(f.as_fd(), PollFlags::POLLOUT));
                        tokens.push(Token::In(t));
                    }
                }
                for (i, c) in self.conns.iter().enumerate() {
                    let Some(c) = c else { continue };
                    let mut fl = PollFlags::empty();
                    if !c.read_eof {
                        fl |= PollFlags::POLLIN;
                    }
                    if !c.out.is_empty() {
                        fl |= PollFlags::POLLOUT;
                    }
                    fds.push(PollFd::new(c.sock.as_fd(), fl));
                    tokens.push(Token::Conn(i));
                }
                match poll(&mut fds, timeout) {
                    Ok(_) => {}
                    Err(nix::errno::Errno::EINTR) => continue,
                    Err(e) => {
                        eprintln!("berth-shim: poll: {e}");
                        std::thread::sleep(Duration::from_millis(100));
                        continue;
                    }
                }
                fds.iter()
                    .zip(&tokens)
                    .filter_map(|(f, t)| f.revents().filter(|r| !r.is_empty()).map(|r| (*t, r)))
                    .collect()
            };
            for (tok, rev) in ready {
                match tok {
                    Token::Signal => self.on_signal(),
                    Token::Listener => self.accept(),
                    Token::Out(t, s) => self.on_output(t, s),
                    Token::In(t) => {
                        if let Some(p) = self.proc_mut(t) {
                            p.flush_stdin();
                        }
                    }
                    Token::Conn(i) => self.on_conn(i, rev),
                }
            }
            self.on_timers(Instant::now());
            self.conns.iter_mut().for_each(|slot| {
                if slot.as_ref().is_some_and(|c| c.dead) {
                    *slot = None;
                }
            });
            while self.conns.last().is_some_and(Option::is_none) {
                self.conns.pop();
            }
        }
        // Only our own socket: a new shim for the same container may
        // already listen under the name.
        let sock = berth_shim_proto::socket_path(&self.dir);
        let ours = std::fs::metadata(&sock).ok().map(|m| (m.dev(), m.ino()));
        if ours.is_some() && ours == self.sock_id {
            let _ = std::fs::remove_file(&sock);
        }
    }

    fn next_timeout(&self, now: Instant) -> PollTimeout {
        let mut next: Option<Instant> = None;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        consider(self.stop_deadline);
        consider(self.attach_deadline);
        consider(self.restart_at);
        consider(self.exit_at);
        let procs = self
            .init
            .iter()
            .chain(self.execs.iter().flatten().map(|e| &e.proc));
        for p in procs {
            consider(p.drain_deadline());
        }
        match next {
            None => PollTimeout::NONE,
            Some(t) => {
                let ms = t.saturating_duration_since(now).as_millis() + 1;
                PollTimeout::try_from(ms.min(60_000)).unwrap_or(PollTimeout::MAX)
            }
        }
    }

    fn on_signal(&mut self) {
        while let Ok(Some(_)) = self.sigfd.read_signal() {}
        self.reap();
    }

    fn reap(&mut self) {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::StillAlive) | Err(_) => break,
                Ok(ws) => {
                    let Some((pid, code)) = status_code(ws) else {
                        continue;
                    };
                    let now = Instant::now();
                    let mut claimed = false;
                    if let Some(p) = self.init.as_mut().filter(|p| p.pid == pid) {
                        p.exited = Some((code, now));
                        claimed = true;
                    }
                    for e in self.execs.iter_mut().flatten() {
                        if e.proc.pid == pid {
                            e.proc.exited = Some((code, now));
                            claimed = true;
                        }
                    }
                    if !claimed {
                        // Maybe a process we are about to register (it can
                        // exit before the runtime call that made it returns).
                        if self.unclaimed.len() >= MAX_UNCLAIMED {
                            self.unclaimed.remove(0);
                        }
                        self.unclaimed.push((pid, code, now));
                    }
                }
            }
        }
    }

    /// An exit reaped before its process was registered.
    fn claim(&mut self, pid: i32) -> Option<(i32, Instant)> {
        let i = self.unclaimed.iter().position(|&(p, _, _)| p == pid)?;
        let (_, code, at) = self.unclaimed.remove(i);
        Some((code, at))
    }

    fn accept(&mut self) {
        loop {
            match self.listener.accept() {
                Ok((sock, _)) => {
                    if sock.set_nonblocking(true).is_err() {
                        continue;
                    }
                    let c = Conn {
                        sock,
                        inbuf: Vec::new(),
                        out: Vec::new(),
                        mode: Mode::Request,
                        read_eof: false,
                        closing: false,
                        dead: false,
                    };
                    match self.conns.iter().position(Option::is_none) {
                        Some(i) => self.conns[i] = Some(c),
                        None => self.conns.push(Some(c)),
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => return,
            }
        }
    }

    fn on_output(&mut self, t: Target, s: usize) {
        let mut buf = std::mem::take(&mut self.buf);
        let mut ended = false;
        // Read a bounded amount per wakeup so one chatty stream cannot
        // starve the others.
        for _ in 0..4 {
            let Some(f) = self.proc_mut(t).and_then(|p| p.outs[s].as_mut()) else {
                break;
            };
            match f.read(&mut buf) {
                Ok(0) => {
                    ended = true;
                    break;
                }
                Ok(n) => self.deliver(t, s, &buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                // A pty master reads EIO once every slave fd is closed.
                Err(_) => {
                    ended = true;
                    break;
                }
            }
        }
        self.buf = buf;
        if ended {
            if let Some(p) = self.proc_mut(t) {
                p.outs[s] = None;
            }
            if t == Target::Init {
                if let Some(log) = self.log.as_mut() {
                    if let Err(e) = log.flush_stream(stream_of(s)) {
                        eprintln!("berth-shim: write log: {e}");
                    }
                }
            }
        }
    }

    /// Output of a process: to the log (init only) and attached clients.
    fn deliver(&mut self, t: Target, s: usize, data: &[u8]) {
        if t == Target::Init {
            if let Some(log) = self.log.as_mut() {
                if let Err(e) = log.feed(stream_of(s), data) {
                    eprintln!("berth-shim: write log: {e}");
                }
            }
        }
        for c in self.conns.iter_mut().flatten() {
            if let Mode::Attached {
                target,
                stdout,
                stderr,
                ..
            } = c.mode
            {
                if target == t && ((s == 0 && stdout) || (s == 1 && stderr)) {
                    c.frame(if s == 0 { frame::STDOUT } else { frame::STDERR }, data);
                    c.flush();
                }
            }
        }
    }

    fn on_conn(&mut self, i: usize, rev: PollFlags) {
        let Some(c) = self.conns.get_mut(i).and_then(Option::as_mut) else {
            return;
        };
        if rev.contains(PollFlags::POLLOUT) {
            c.flush();
        }
        if c.read_eof {
            // POLLHUP: the peer closed both ways, nobody will read our
            // output; without this the hang-up would wake us forever.
            if rev.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
                c.dead = true;
            }
            return;
        }
        if !rev.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            return;
        }
        let mut buf = [0u8; 4096];
        loop {
            match c.sock.read(&mut buf) {
                Ok(0) => {
                    c.read_eof = true;
                    break;
                }
                Ok(n) => {
                    c.inbuf.extend_from_slice(&buf[..n]);
                    if c.inbuf.len() > 4 * frame::MAX_PAYLOAD + 8 {
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    c.dead = true;
                    return;
                }
            }
        }
        match c.mode {
            Mode::Request => {
                if let Some(nl) = c.inbuf.iter().position(|&b| b == b'\n') {
                    let line: Vec<u8> = c.inbuf.drain(..=nl).collect();
                    match decode_request(&line) {
                        Ok(req) => self.handle(i, req),
                        Err(msg) => c.reply(&Response::err(ErrorCode::Invalid, msg)),
                    }
                    // Stdin frames may have come with the request.
                    self.on_stdin_frames(i);
                } else if c.read_eof || c.inbuf.len() > 1 << 20 {
                    c.dead = true;
                }
            }
            Mode::Waiting => {
                if c.read_eof {
                    c.dead = true;
                }
            }
            Mode::Attached { .. } => self.on_stdin_frames(i),
        }
        if let Some(c) = self.conns.get_mut(i).and_then(Option::as_mut) {
            c.flush();
        }
    }

    /// Pass complete stdin frames of an attached client to its process.
    fn on_stdin_frames(&mut self, i: usize) {
        let Some(c) = self.conns.get_mut(i).and_then(Option::as_mut) else {
            return;
        };
        let Mode::Attached { target, stdin, .. } = c.mode else {
            return;
        };
        let mut data = Vec::new();
        let mut off = 0;
        while c.inbuf.len() >= off + 8 {
            let mut h = [0u8; 8];
            h.copy_from_slice(&c.inbuf[off..off + 8]);
            let (kind, len) = frame::parse_header(&h);
            if c.inbuf.len() < off + 8 + len {
                break;
            }
            if kind == frame::STDIN {
                data.extend_from_slice(&c.inbuf[off + 8..off + 8 + len]);
            }
            off += 8 + len;
        }
        c.inbuf.drain(..off);
        let eof = c.read_eof;
        if eof && !stdin {
            // A client that sends nothing may half-close at once; it stays
            // for the output, which ends when the process does.
            c.read_eof = true;
        }
        let close = eof && stdin && (target != Target::Init || self.cfg.stdin_once);
        if let Some(p) = self.proc_mut(target) {
            if stdin && !data.is_empty() {
                p.queue_stdin(&data);
                p.flush_stdin();
            }
            if close {
                p.close_stdin();
            }
        }
    }

    fn conn(&mut self, i: usize) -> Option<&mut Conn> {
        self.conns.get_mut(i).and_then(Option::as_mut)
    }

    fn reply(&mut self, i: usize, r: Response) {
        if let Some(c) = self.conn(i) {
            c.reply(&r);
        }
    }

    fn running_pid(&self) -> Option<i32> {
        match self.status {
            Status::Running | Status::Paused => self
                .init
                .as_ref()
                .filter(|p| p.exited.is_none())
                .map(|p| p.pid),
            _ => None,
        }
    }

    fn not_running(&self) -> Response {
        Response::err(
            ErrorCode::Conflict,
            format!("container {} is not running", self.cfg.id),
        )
    }

    fn handle(&mut self, i: usize, req: Request) {
        let ok = Response::default;
        match req {
            Request::State => {
                let state = Some(self.state());
                self.reply(i, Response { state, ..ok() });
            }
            Request::Kill { signal, all } => {
                let r = self.kill(signal, all);
                self.reply(i, r);
            }
            Request::Stop {
                signal,
                timeout_secs,
            } => {
                self.manually_stopped = true;
                match self.running_pid() {
                    Some(_) => {
                        if self.status == Status::Paused {
                            let _ = self.rt.resume(&self.cfg.id);
                            self.status = Status::Running;
                        }
                        let _ = self.kill(signal, false);
                        self.stop_deadline =
                            timeout_secs.map(|s| Instant::now() + Duration::from_secs(s));
                        if let Some(c) = self.conn(i) {
                            c.mode = Mode::Waiting;
                        }
                    }
                    None => {
                        if self.status == Status::Restarting {
                            self.restart_at = None;
                            self.stop_for_good();
                        }
                        let exit = self.last_exit.clone();
                        self.reply(i, Response { exit, ..ok() });
                    }
                }
            }
            Request::Wait => {
                if self.status == Status::Stopped {
                    let exit = self.last_exit.clone();
                    let state = Some(self.state());
                    self.reply(
                        i,
                        Response {
                            exit,
                            state,
                            ..ok()
                        },
                    );
                } else if let Some(c) = self.conn(i) {
                    c.mode = Mode::Waiting;
                }
            }
            Request::Attach {
                stdin,
                stdout,
                stderr,
            } => {
                // An awaited attach is served even after the process
                // exited: its output is held for it.
                let awaited = self.attaches_awaited > 0;
                if self.running_pid().is_none() && !awaited {
                    let r = self.not_running();
                    return self.reply(i, r);
                }
                let stdin = stdin && self.cfg.open_stdin;
                if let Some(c) = self.conn(i) {
                    c.send(&encode_response(&ok()));
                    c.mode = Mode::Attached {
                        target: Target::Init,
                        stdin,
                        stdout,
                        stderr,
                    };
                }
                if awaited {
                    self.attaches_awaited -= 1;
                    if self.attaches_awaited == 0 {
                        self.release_output();
                    }
                }
            }
            Request::Resize {
                exec_id,
                height,
                width,
            } => {
                let target = match exec_id {
                    None => Some(Target::Init),
                    Some(id) => self.exec_index(&id).map(Target::Exec),
                };
                let r = match target.and_then(|t| self.proc_mut(t)) {
                    None => Response::err(ErrorCode::NotFound, "no such process"),
                    Some(p) => match p.master.as_ref() {
                        None => Response::err(ErrorCode::Invalid, "process has no terminal"),
                        Some(m) => match resize(m, height, width) {
                            Ok(()) => ok(),
                            Err(e) => Response::err(ErrorCode::Internal, format!("resize: {e}")),
                        },
                    },
                };
                self.reply(i, r);
            }
            Request::Exec {
                exec_id,
                process,
                attach,
                stdin,
            } => self.exec(i, exec_id, process, attach, stdin),
            Request::ExecState { exec_id } => {
                let exec = match self.exec_index(&exec_id) {
                    Some(x) => self.execs[x].as_ref().map(|e| ExecState {
                        pid: e.proc.pid,
                        running: true,
                        exit_code: None,
                    }),
                    None => self.exec_done.get(&exec_id).map(|&(pid, code)| ExecState {
                        pid,
                        running: false,
                        exit_code: Some(code),
                    }),
                };
                let r = match exec {
                    Some(e) => Response {
                        exec: Some(e),
                        ..ok()
                    },
                    None => Response::err(ErrorCode::NotFound, format!("no such exec: {exec_id}")),
                };
                self.reply(i, r);
            }
            Request::Pause | Request::Resume => {
                let pause = matches!(req, Request::Pause);
                let r = if self.running_pid().is_none() {
                    self.not_running()
                } else {
                    let res = if pause {
                        self.rt.pause(&self.cfg.id)
                    } else {
                        self.rt.resume(&self.cfg.id)
                    };
                    match res {
                        Ok(()) => {
                            self.status = if pause {
                                Status::Paused
                            } else {
                                Status::Running
                            };
                            self.save_state();
                            ok()
                        }
                        Err(e) => Response::err(ErrorCode::Internal, e.to_string()),
                    }
                };
                self.reply(i, r);
            }
            Request::SetRestart { policy } => {
                self.cfg.restart = policy;
                self.reply(i, ok());
            }
            Request::Stats => {
                let r = if self.running_pid().is_none() {
                    self.not_running()
                } else {
                    match self.rt.stats(&self.cfg.id) {
                        Ok(v) => Response {
                            stats: Some(v),
                            ..ok()
                        },
                        Err(e) => Response::err(ErrorCode::Internal, e.to_string()),
                    }
                };
                self.reply(i, r);
            }
        }
    }

    fn kill(&mut self, signal: i32, all: bool) -> Response {
        let Some(pid) = self.running_pid() else {
            return self.not_running();
        };
        if signal == Signal::SIGKILL as i32 {
            // A killed container does not come back by itself (docker's
            // "manually stopped"), whatever its restart policy.
            self.manually_stopped = true;
        }
        let res = if all {
            self.rt
                .kill_all(&self.cfg.id, signal)
                .map_err(|e| e.to_string())
        } else {
            match Signal::try_from(signal) {
                Ok(sig) => kill(Pid::from_raw(pid), sig).map_err(|e| format!("kill {pid}: {e}")),
                Err(_) => Err(format!("invalid signal {signal}")),
            }
        };
        match res {
            Ok(()) => Response::default(),
            Err(msg) => Response::err(ErrorCode::Internal, msg),
        }
    }

    fn exec_index(&self, id: &str) -> Option<usize> {
        self.execs
            .iter()
            .position(|e| e.as_ref().is_some_and(|e| e.id == id))
    }

    fn exec(
        &mut self,
        i: usize,
        exec_id: String,
        process: serde_json::Value,
        attach: bool,
        stdin: bool,
    ) {
        if self.running_pid().is_none() {
            let r = self.not_running();
            return self.reply(i, r);
        }
        if self.exec_index(&exec_id).is_some() || self.exec_done.contains_key(&exec_id) {
            return self.reply(
                i,
                Response::err(
                    ErrorCode::Conflict,
                    format!("exec {exec_id} already started"),
                ),
            );
        }
        let tty = process.get("terminal").and_then(serde_json::Value::as_bool) == Some(true);
        let size = process
            .get("consoleSize")
            .and_then(|s| Some((s.get("height")?.as_u64()?, s.get("width")?.as_u64()?)))
            .and_then(|(h, w)| Some((u16::try_from(h).ok()?, u16::try_from(w).ok()?)));
        let n = self
            .execs
            .iter()
            .position(Option::is_none)
            .unwrap_or(self.execs.len());
        let spec = self.dir.join(format!("exec-{n}.json"));
        let pid_file = self.dir.join(format!("exec-{n}.pid"));
        let console = self
            .rt
            .needs_console_socket()
            .then(|| PathBuf::from(format!("exec-{n}.sock")));
        let result = (|| {
            let (pending, child) =
                PendingIo::new(tty, stdin, console).map_err(|source| Error::Io {
                    what: "create the exec's stdio",
                    source,
                })?;
            let created = self.rt.exec(
                &self.cfg.id,
                &process,
                &spec,
                &pid_file,
                pending.console.as_ref(),
                child,
            );
            // A child may have exited while SIGCHLD was unblocked.
            self.reap();
            let (pid, master) = created?;
            pending.finish(pid, master, stdin, size)
        })();
        let proc = match result {
            Ok(p) => p,
            Err(e) => {
                let code = e.code();
                return self.reply(i, Response::err(code, e.to_string()));
            }
        };
        let pid = proc.pid;
        let mut proc = proc;
        proc.exited = self.claim(pid);
        let e = ExecProc { id: exec_id, proc };
        if n == self.execs.len() {
            self.execs.push(Some(e));
        } else {
            self.execs[n] = Some(e);
        }
        let r = Response {
            exec: Some(ExecState {
                pid,
                running: true,
                exit_code: None,
            }),
            ..Response::default()
        };
        match (attach, self.conn(i)) {
            (true, Some(c)) => {
                c.send(&encode_response(&r));
                c.mode = Mode::Attached {
                    target: Target::Exec(n),
                    stdin,
                    stdout: true,
                    stderr: true,
                };
            }
            _ => self.reply(i, r),
        }
    }

    fn on_timers(&mut self, now: Instant) {
        if self.attach_deadline.is_some_and(|d| now >= d) {
            self.release_output();
        }
        if self.stop_deadline.is_some_and(|d| now >= d) {
            self.stop_deadline = None;
            if let Some(pid) = self.running_pid() {
                let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            }
        }
        if self.restart_at.is_some_and(|d| now >= d) {
            self.restart_at = None;
            self.restart();
        }
        for n in 0..self.execs.len() {
            if self.execs[n].as_ref().is_some_and(|e| e.proc.done(now)) {
                if let Some(e) = self.execs[n].take() {
                    let code = e.proc.exited.map_or(-1, |(c, _)| c);
                    self.exec_ended(e.id, e.proc.pid, code);
                    self.close_attached(Target::Exec(n));
                }
            }
        }
        if self.init.as_ref().is_some_and(|p| p.done(now)) {
            self.finish_run(now);
        }
    }

    fn exec_ended(&mut self, id: String, pid: i32, code: i32) {
        if self.exec_done.len() >= MAX_EXEC_DONE {
            if let Some(old) = self.exec_done_order.pop_front() {
                self.exec_done.remove(&old);
            }
        }
        self.exec_done_order.push_back(id.clone());
        self.exec_done.insert(id, (pid, code));
    }

    fn close_attached(&mut self, t: Target) {
        for c in self.conns.iter_mut().flatten() {
            if matches!(c.mode, Mode::Attached { target, .. } if target == t) {
                c.closing = true;
                c.flush();
            }
        }
    }

    /// The container's init has exited and its output is drained.
    fn finish_run(&mut self, now: Instant) {
        let Some(init) = self.init.take() else { return };
        let code = init.exited.map_or(-1, |(c, _)| c);
        drop(init);
        if let Some(log) = self.log.as_mut() {
            let _ = log.flush_stream(Stream::Stdout);
            let _ = log.flush_stream(Stream::Stderr);
        }
        // Processes exec'd into the container died with it.
        for n in 0..self.execs.len() {
            if let Some(e) = self.execs[n].take() {
                let code = e.proc.exited.map_or(137, |(c, _)| c);
                self.exec_ended(e.id, e.proc.pid, code);
                self.close_attached(Target::Exec(n));
            }
        }
        self.stop_deadline = None;
        let exit = ExitStatus {
            code,
            finished_at: time::now(),
            oom_killed: crate::oom::killed(self.cgroups_path.as_deref(), &self.cfg.id),
            error: None,
        };
        // The clients hear of the exit first (EOF ends `docker run`'s
        // output), its record and the runtime's state and cgroups go after.
        self.close_attached(Target::Init);
        if self
            .cfg
            .restart
            .should_restart(code, self.restart_count, self.manually_stopped)
        {
            self.record_exit(exit);
            self.delete_container();
            let ran = now.saturating_duration_since(self.run_started);
            if ran >= BACKOFF_RESET {
                self.backoff = BACKOFF_START;
            }
            self.status = Status::Restarting;
            self.restart_at = Some(now + self.backoff);
            self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
            self.save_state();
            self.answer_waiters();
        } else if self.cfg.auto_remove {
            // An `--rm` container that stopped for good is not started
            // again, so the engine may remove it while the runtime's state
            // and cgroups go (it touches neither): the waiters hear first,
            // and so do the clients connected by then (the engine's Wait
            // may be among them, unread), see `run`. The exit file, for a
            // berthd that dies before it removes the container, is written
            // after they have heard.
            self.last_exit = Some(exit.clone());
            self.stop_for_good();
            self.record_exit(exit);
            self.delete_at_exit = true;
        } else {
            // Any other container could be started at once by a new shim
            // for the same id, whose state and cgroups this one must not
            // take: they go before the waiters hear.
            self.record_exit(exit);
            self.delete_container();
            self.stop_for_good();
        }
    }

    /// Delete the container's runtime state and cgroups.
    fn delete_container(&mut self) {
        self.delete_at_exit = false;
        if let Err(e) = self.rt.delete(&self.cfg.id) {
            eprintln!("berth-shim: {e}");
        }
    }

    fn record_exit(&mut self, exit: ExitStatus) {
        let file = ExitFile {
            exit: exit.clone(),
            started_at: self.started_at,
            restart_count: self.restart_count,
            manually_stopped: self.manually_stopped,
        };
        let data = serde_json::to_vec(&file).unwrap_or_default();
        let write = if self.cfg.auto_remove {
            replace_file
        } else {
            atomic_write
        };
        match write(&self.cfg.exit_file, &data, 0o600) {
            // An `--rm` container's directory may be gone already: the
            // engine heard of the exit and removed the container.
            Err(e) if self.cfg.auto_remove && e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => eprintln!("berth-shim: write {}: {e}", self.cfg.exit_file.display()),
            Ok(()) => {}
        }
        self.last_exit = Some(exit);
    }

    /// Answer the waits with the exit and the state after it (stopped, or
    /// restarting): the engine needs no second call, which a shim about to
    /// exit might never answer.
    fn answer_waiters(&mut self) {
        let exit = self.last_exit.clone();
        let state = Some(self.state());
        for c in self.conns.iter_mut().flatten() {
            if matches!(c.mode, Mode::Waiting) {
                c.reply(&Response {
                    exit: exit.clone(),
                    state: state.clone(),
                    ..Response::default()
                });
                c.flush();
            }
        }
    }

    fn stop_for_good(&mut self) {
        self.status = Status::Stopped;
        self.save_state();
        self.answer_waiters();
        self.exit_at = Some(Instant::now() + EXIT_LINGER);
    }

    fn restart(&mut self) {
        self.restart_count += 1;
        if let Err(e) = self.start_container() {
            // Docker counts a failed start as a run that exited with 127
            // and keeps applying the policy.
            eprintln!("berth-shim: restart: {e}");
            self.record_exit(ExitStatus {
                code: 127,
                finished_at: time::now(),
                oom_killed: false,
                error: Some(e.to_string()),
            });
            let now = Instant::now();
            if self
                .cfg
                .restart
                .should_restart(127, self.restart_count, self.manually_stopped)
            {
                self.restart_at = Some(now + self.backoff);
                self.backoff = (self.backoff * 2).min(BACKOFF_MAX);
            } else {
                self.stop_for_good();
            }
        }
    }
}

fn stream_of(s: usize) -> Stream {
    if s == 0 {
        Stream::Stdout
    } else {
        Stream::Stderr
    }
}
