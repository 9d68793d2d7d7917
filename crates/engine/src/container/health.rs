//! Healthchecks as docker runs them: the container's `Healthcheck` runs as
//! an exec in the container, once per interval, and its results make the
//! status `starting`, `healthy` or `unhealthy` (with the last five results
//! kept for inspect).
//!
//! One scheduler thread per engine holds a timer heap of the next check of
//! every container; a check in flight runs on a short-lived thread of its
//! own, so a slow check delays nobody else and an idle container costs one
//! heap entry, not a thread. A check belongs to one run of the container
//! (its `started_at`): a result or timer of an earlier run is dropped.

use super::exec::ExecConfig;
use super::types::{Config, Record};
use super::{now, Containers, Inner, Result};
use berth_shim_proto::{frame, Request};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::io::Read;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

/// Docker keeps this many results.
const MAX_LOG: usize = 5;
/// Output kept per result; more is cut and marked with "...".
const MAX_OUTPUT: usize = 4096;
const DEFAULT_INTERVAL: i64 = 30_000_000_000;
const DEFAULT_TIMEOUT: i64 = 30_000_000_000;
const DEFAULT_START_INTERVAL: i64 = 5_000_000_000;
const DEFAULT_RETRIES: u32 = 3;
/// How long the scheduler sleeps at most, to notice the engine is gone.
const IDLE_WAKE: Duration = Duration::from_secs(10);

pub const STARTING: &str = "starting";
pub const HEALTHY: &str = "healthy";
pub const UNHEALTHY: &str = "unhealthy";

/// `State.Health` of inspect.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct Health {
    pub status: String,
    pub failing_streak: u32,
    pub log: Vec<CheckResult>,
}

/// One check. Times in Unix nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    pub start: i64,
    pub end: i64,
    pub exit_code: i32,
    pub output: String,
}

impl Health {
    /// What the ps Status column adds: "(healthy)", "(health: starting)".
    pub fn ps_suffix(&self) -> String {
        if self.status == STARTING {
            " (health: starting)".into()
        } else {
            format!(" ({})", self.status)
        }
    }

    /// Docker's `handleProbeResult`: a success makes the container healthy;
    /// a failure counts towards `retries`, except while the container is
    /// still starting within its start period.
    fn record(&mut self, r: CheckResult, check: &Check, started_at: i64) {
        let success = r.exit_code == 0;
        let in_start_period = r.start - started_at < check.start_period;
        if self.log.len() >= MAX_LOG {
            self.log.drain(..=self.log.len() - MAX_LOG);
        }
        self.log.push(r);
        if success {
            self.failing_streak = 0;
            self.status = HEALTHY.into();
        } else if !(self.status == STARTING && in_start_period) {
            self.failing_streak += 1;
            if self.failing_streak >= check.retries {
                self.status = UNHEALTHY.into();
            }
        }
    }
}

/// The check a container runs, with docker's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Check {
    argv: Vec<String>,
    interval: i64,
    timeout: i64,
    start_period: i64,
    start_interval: i64,
    retries: u32,
}

fn ns(v: &Value, k: &str, default: i64) -> i64 {
    v.get(k)
        .and_then(Value::as_i64)
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

impl Check {
    /// The container's check; `None` without one, or with `["NONE"]`.
    pub(crate) fn of(cfg: &Config) -> Option<Check> {
        let h = cfg.healthcheck.as_ref()?;
        let test: Vec<String> = serde_json::from_value(h.get("Test")?.clone()).ok()?;
        let argv = match test.split_first() {
            Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => rest.to_vec(),
            Some((kind, rest)) if kind == "CMD-SHELL" && !rest.is_empty() => {
                // The image's SHELL, as docker runs it; /bin/sh -c otherwise.
                let mut argv = match &cfg.shell {
                    Some(sh) if !sh.is_empty() => sh.clone(),
                    _ => vec!["/bin/sh".into(), "-c".into()],
                };
                argv.push(rest.join(" "));
                argv
            }
            _ => return None,
        };
        Some(Check {
            argv,
            interval: ns(h, "Interval", DEFAULT_INTERVAL),
            timeout: ns(h, "Timeout", DEFAULT_TIMEOUT),
            start_period: ns(h, "StartPeriod", 0),
            start_interval: ns(h, "StartInterval", DEFAULT_START_INTERVAL),
            retries: h
                .get("Retries")
                .and_then(Value::as_u64)
                .and_then(|r| u32::try_from(r).ok())
                .filter(|r| *r > 0)
                .unwrap_or(DEFAULT_RETRIES),
        })
    }

    /// Time to the next check: the start interval while the container is
    /// starting within its start period, the interval otherwise.
    fn next_in(&self, status: &str, started_at: i64) -> Duration {
        let starting = status == STARTING && now() - started_at < self.start_period;
        let n = if starting {
            self.start_interval
        } else {
            self.interval
        };
        Duration::from_nanos(u64::try_from(n).unwrap_or(0))
    }
}

/// Output of a check, cut at docker's limit.
#[derive(Default)]
struct Output {
    buf: Vec<u8>,
    cut: bool,
}

impl Output {
    fn push(&mut self, data: &[u8]) {
        let keep = data.len().min(MAX_OUTPUT - self.buf.len());
        self.buf.extend_from_slice(&data[..keep]);
        self.cut |= keep < data.len();
    }

    fn text(&self) -> String {
        let mut s = String::from_utf8_lossy(&self.buf).into_owned();
        if self.cut {
            s.push_str("...");
        }
        s
    }
}

/// Take the complete frames off the front of `raw` into `out`.
fn take_frames(raw: &mut Vec<u8>, out: &mut Output) {
    let mut off = 0;
    while raw.len() >= off + 8 {
        let mut h = [0u8; 8];
        h.copy_from_slice(&raw[off..off + 8]);
        let (_, len) = frame::parse_header(&h);
        if raw.len() < off + 8 + len {
            break;
        }
        out.push(&raw[off + 8..off + 8 + len]);
        off += 8 + len;
    }
    raw.drain(..off);
}

type Due = Reverse<(Instant, String, i64)>;

/// The timer heap: (when, container id, run) of every next check.
#[derive(Default)]
pub(crate) struct Scheduler {
    heap: Mutex<(BinaryHeap<Due>, bool)>,
    wake: Condvar,
}

impl Scheduler {
    fn lock(&self) -> std::sync::MutexGuard<'_, (BinaryHeap<Due>, bool)> {
        self.heap.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The scheduler's thread: runs each check when due, until the engine is
/// dropped. It holds the engine only weakly, so a dropped engine ends it at
/// the next wake.
fn scheduler_loop(s: Arc<Scheduler>, inner: Weak<Inner>) {
    loop {
        let due = {
            let mut q = s.lock();
            let now = Instant::now();
            match q.0.peek() {
                Some(Reverse((at, _, _))) if *at <= now => q.0.pop().map(|Reverse(d)| d),
                next => {
                    let wait = next.map_or(IDLE_WAKE, |Reverse((at, _, _))| {
                        at.saturating_duration_since(now).min(IDLE_WAKE)
                    });
                    drop(s.wake.wait_timeout(q, wait));
                    None
                }
            }
        };
        let Some(inner) = inner.upgrade() else {
            s.lock().1 = false;
            return;
        };
        let Some((_, id, run)) = due else { continue };
        let c = Containers { inner };
        let spawned = std::thread::Builder::new()
            .name("berth-health".into())
            .stack_size(256 * 1024)
            .spawn({
                let c = c.clone();
                let id = id.clone();
                move || c.health_check(&id, run)
            });
        if let Err(e) = spawned {
            tracing::warn!("health check thread for {id}: {e}");
            c.health_schedule(&id, run, Duration::from_secs(1));
        }
    }
}

impl Containers {
    /// Queue the next check of run `run` of container `id` after `delay`.
    fn health_schedule(&self, id: &str, run: i64, delay: Duration) {
        let s = &self.inner.health;
        let mut q = s.lock();
        q.0.push(Reverse((Instant::now() + delay, id.to_owned(), run)));
        if !q.1 {
            let weak = Arc::downgrade(&self.inner);
            let sched = Arc::clone(s);
            match std::thread::Builder::new()
                .name("berth-health-timer".into())
                .stack_size(128 * 1024)
                .spawn(move || scheduler_loop(sched, weak))
            {
                Ok(_) => q.1 = true,
                Err(e) => tracing::warn!("health scheduler thread: {e}"),
            }
        }
        drop(q);
        s.wake.notify_one();
    }

    /// A run of the container started (or was found running at daemon
    /// start, `fresh` false): set the health state and queue the first
    /// check. A new run starts over as `starting`, keeping the log.
    pub(super) fn health_start(&self, id: &str, fresh: bool) {
        let Ok(rec) = self.inner.record(id) else {
            return;
        };
        let Some(check) = Check::of(&rec.cfg()) else {
            return;
        };
        let run = rec.state.started_at;
        let needs_reset = fresh || rec.state.health.is_none();
        let rec = if needs_reset {
            match self.inner.update(id, |e| {
                // The run may have ended already (its exit was recorded).
                if e.rec.state.is_running() && e.rec.state.started_at == run {
                    let h = e.rec.state.health.get_or_insert_with(Health::default);
                    h.status = STARTING.into();
                    h.failing_streak = 0;
                }
            }) {
                Some(r) => r,
                None => return,
            }
        } else {
            rec
        };
        if !rec.state.is_running() {
            return;
        }
        let status = rec.state.health.as_ref().map_or(STARTING, |h| &h.status);
        self.health_schedule(id, run, check.next_in(status, run));
    }

    /// Run one check of run `run` and queue the next.
    fn health_check(&self, id: &str, run: i64) {
        let same_run = |r: &Record| r.state.status == "running" && r.state.started_at == run;
        let Some(rec) = self.inner.record(id).ok().filter(same_run) else {
            // Stopped or started again (a new run has its own timer);
            // a paused container is checked, and fails, as in docker.
            if let Ok(r) = self.inner.record(id) {
                if r.state.status == "paused" && r.state.started_at == run {
                    self.health_failed(id, run, "container is paused".into());
                }
            }
            return;
        };
        let Some(check) = Check::of(&rec.cfg()) else {
            return;
        };
        let start = now();
        let (exit_code, output) = match self.probe(&rec, &check) {
            Ok(x) => x,
            Err(e) => (-1, e.to_string()),
        };
        let result = CheckResult {
            start,
            end: now(),
            exit_code,
            output,
        };
        self.health_record(id, run, &check, result);
    }

    fn health_failed(&self, id: &str, run: i64, output: String) {
        let Some(check) = self.inner.record(id).ok().and_then(|r| Check::of(&r.cfg())) else {
            return;
        };
        let t = now();
        let result = CheckResult {
            start: t,
            end: t,
            exit_code: -1,
            output,
        };
        self.health_record(id, run, &check, result);
    }

    /// Keep a result (if the run is still the current one), announce a
    /// change of status, and queue the next check.
    fn health_record(&self, id: &str, run: i64, check: &Check, result: CheckResult) {
        let mut before = None;
        let mut kept = false;
        let Some(rec) = self.inner.update(id, |e| {
            let s = &mut e.rec.state;
            if !(s.is_running() && s.started_at == run) {
                return;
            }
            let h = s.health.get_or_insert_with(Health::default);
            before = Some(h.status.clone());
            h.record(result, check, run);
            kept = true;
        }) else {
            return;
        };
        if !kept {
            return;
        }
        let status = rec
            .state
            .health
            .as_ref()
            .map_or_else(String::new, |h| h.status.clone());
        if before.as_deref() != Some(status.as_str()) {
            self.inner
                .publish(&rec, &format!("health_status: {status}"), &[]);
        }
        self.health_schedule(id, run, check.next_in(&status, run));
    }

    /// Run the check as an exec in the container: its exit code and
    /// output, or -1 and docker's message when it outlives its timeout
    /// (it is then killed).
    fn probe(&self, rec: &Record, check: &Check) -> Result<(i32, String)> {
        let cfg = ExecConfig::probe(check.argv.clone());
        let process = self.exec_process(rec, &cfg)?;
        let exec_id = format!(
            "health-{}",
            berth_base::id::random_id().map_err(|e| super::Error::io("random id", e))?
        );
        let client = self.inner.client(&rec.id);
        let (resp, stream) = client.stream(&Request::Exec {
            exec_id: exec_id.clone(),
            process,
            attach: true,
            stdin: false,
        })?;
        let pid = resp.exec.map_or(0, |e| e.pid);
        let (mut sock, mut raw) = stream.into_parts();
        let timeout = Duration::from_nanos(u64::try_from(check.timeout).unwrap_or(0));
        let deadline = Instant::now() + timeout;
        let mut out = Output::default();
        let mut chunk = vec![0u8; 8192];
        let timed_out = loop {
            take_frames(&mut raw, &mut out);
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() || sock.set_read_timeout(Some(left)).is_err() {
                break true;
            }
            match sock.read(&mut chunk) {
                Ok(0) => break false,
                Ok(n) => raw.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) =>
                {
                    break true
                }
                Err(e) => return Err(super::Error::io("read the health check's output", e)),
            }
        };
        let state = |client: &berth_shim_proto::Client| {
            client
                .call(&Request::ExecState {
                    exec_id: exec_id.clone(),
                })
                .ok()
                .and_then(|r| r.exec)
        };
        if timed_out {
            // The shim has not reaped it while it reports it running, so
            // the pid is still this process.
            if let Some(p) = rustix::process::Pid::from_raw(pid) {
                if state(&client).is_some_and(|s| s.running) {
                    let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
                }
            }
            let msg = format!(
                "Health check exceeded timeout ({})",
                go_duration(check.timeout)
            );
            let text = out.text();
            return Ok((
                -1,
                if text.is_empty() {
                    msg
                } else {
                    format!("{msg}: {text}")
                },
            ));
        }
        // The shim ends the stream once the process exited and its output
        // is drained, so its exit code is known now.
        let code = state(&client).and_then(|s| s.exit_code).unwrap_or(-1);
        Ok((code, out.text()))
    }
}

/// Go's `time.Duration` string for whole and fractional seconds ("30s",
/// "1.5s", "500ms"), as docker prints the timeout.
fn go_duration(n: i64) -> String {
    if n % 1_000_000_000 == 0 {
        format!("{}s", n / 1_000_000_000)
    } else if n < 1_000_000_000 && n % 1_000_000 == 0 {
        format!("{}ms", n / 1_000_000)
    } else {
        let s = format!("{:.9}", n as f64 / 1e9);
        format!("{}s", s.trim_end_matches('0').trim_end_matches('.'))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cfg(h: Value) -> Config {
        serde_json::from_value(json!({ "Healthcheck": h })).unwrap()
    }

    #[test]
    fn checks_parse_with_docker_defaults() {
        let c = Check::of(&cfg(json!({"Test": ["CMD-SHELL", "curl -f x"]}))).unwrap();
        assert_eq!(c.argv, ["/bin/sh", "-c", "curl -f x"]);
        assert_eq!(c.interval, DEFAULT_INTERVAL);
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        assert_eq!(c.retries, 3);
        let c = Check::of(&cfg(
            json!({"Test": ["CMD", "true", "x"], "Interval": 1_000_000_000, "Retries": 2}),
        ))
        .unwrap();
        assert_eq!(c.argv, ["true", "x"]);
        assert_eq!((c.interval, c.retries), (1_000_000_000, 2));
        let mut with_shell = cfg(json!({"Test": ["CMD-SHELL", "exit 1"]}));
        with_shell.shell = Some(vec![
            "/bin/ash".into(),
            "-eo".into(),
            "pipefail".into(),
            "-c".into(),
        ]);
        let c = Check::of(&with_shell).unwrap();
        assert_eq!(c.argv, ["/bin/ash", "-eo", "pipefail", "-c", "exit 1"]);
        assert!(Check::of(&cfg(json!({"Test": ["NONE"]}))).is_none());
        assert!(Check::of(&cfg(json!({"Test": []}))).is_none());
        assert!(Check::of(&Config::default()).is_none());
    }

    fn result(code: i32, start: i64) -> CheckResult {
        CheckResult {
            start,
            end: start,
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn results_move_the_status_as_docker() {
        let mut c = Check::of(&cfg(json!({"Test": ["CMD", "x"], "Retries": 2}))).unwrap();
        let mut h = Health {
            status: STARTING.into(),
            ..Health::default()
        };
        h.record(result(1, 10), &c, 0);
        assert_eq!((h.status.as_str(), h.failing_streak), (STARTING, 1));
        h.record(result(0, 20), &c, 0);
        assert_eq!((h.status.as_str(), h.failing_streak), (HEALTHY, 0));
        h.record(result(1, 30), &c, 0);
        assert_eq!(h.status, HEALTHY);
        h.record(result(1, 40), &c, 0);
        assert_eq!((h.status.as_str(), h.failing_streak), (UNHEALTHY, 2));
        for i in 0..5 {
            h.record(result(i, 50 + i64::from(i)), &c, 0);
        }
        assert_eq!(h.log.len(), MAX_LOG);
        assert_eq!(h.log[0].start, 50);
        // Failures within the start period do not count while starting.
        c.start_period = 100;
        let mut h = Health {
            status: STARTING.into(),
            ..Health::default()
        };
        for t in [10, 20, 30] {
            h.record(result(1, t), &c, 0);
        }
        assert_eq!((h.status.as_str(), h.failing_streak), (STARTING, 0));
        h.record(result(1, 150), &c, 0);
        h.record(result(1, 160), &c, 0);
        assert_eq!(h.status, UNHEALTHY);
    }

    #[test]
    fn output_is_cut_at_docker_limit() {
        let mut raw = Vec::new();
        let big = vec![b'a'; 3000];
        for _ in 0..2 {
            raw.extend_from_slice(&frame::header(frame::STDOUT, big.len()));
            raw.extend_from_slice(&big);
        }
        raw.extend_from_slice(&frame::header(frame::STDERR, 10)[..4]);
        let mut out = Output::default();
        take_frames(&mut raw, &mut out);
        assert_eq!(raw.len(), 4, "a partial header waits");
        let t = out.text();
        assert_eq!(t.len(), MAX_OUTPUT + 3);
        assert!(t.ends_with("a..."));
    }

    #[test]
    fn timeouts_print_as_go() {
        assert_eq!(go_duration(30_000_000_000), "30s");
        assert_eq!(go_duration(500_000_000), "500ms");
        assert_eq!(go_duration(1_500_000_000), "1.5s");
    }
}
