//! `docker exec`: processes started in a running container by its shim.

use super::{spec, AttachStream, Containers, Error, Result};
use berth_shim_proto::Request;
use serde::Deserialize;
use serde_json::{json, Value};

/// Docker's exec create body.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
pub(crate) struct ExecConfig {
    attach_stdin: bool,
    attach_stdout: bool,
    attach_stderr: bool,
    tty: bool,
    env: Option<Vec<String>>,
    cmd: Option<Vec<String>>,
    user: Option<String>,
    working_dir: Option<String>,
    privileged: bool,
    console_size: Option<[u16; 2]>,
}

impl ExecConfig {
    /// A healthcheck: the container's user, directory and environment,
    /// output collected, no terminal.
    pub(super) fn probe(cmd: Vec<String>) -> Self {
        Self {
            attach_stdout: true,
            attach_stderr: true,
            cmd: Some(cmd),
            ..Self::default()
        }
    }
}

pub(crate) struct ExecEntry {
    pub container_id: String,
    cfg: ExecConfig,
    started: bool,
    running: bool,
    exit_code: Option<i32>,
    pid: i32,
}

/// `GET /exec/{id}/json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecInspect {
    pub id: String,
    pub container_id: String,
    pub running: bool,
    pub exit_code: Option<i32>,
    pub pid: i32,
    pub tty: bool,
    pub open_stdin: bool,
    pub entrypoint: String,
    pub arguments: Vec<String>,
    pub privileged: bool,
    pub user: String,
}

impl ExecInspect {
    /// The Engine API's shape.
    pub fn to_json(&self) -> Value {
        json!({
            "ID": self.id,
            "Running": self.running,
            "ExitCode": self.exit_code,
            "ProcessConfig": {
                "tty": self.tty, "entrypoint": self.entrypoint, "arguments": self.arguments,
                "privileged": self.privileged, "user": self.user,
            },
            "OpenStdin": self.open_stdin,
            "OpenStderr": true,
            "OpenStdout": true,
            "CanRemove": false,
            "ContainerID": self.container_id,
            "DetachKeys": "",
            "Pid": self.pid,
        })
    }
}

impl Containers {
    /// `POST /containers/{id}/exec`: returns the exec id.
    pub fn exec_create(&self, name: &str, body: &Value) -> Result<String> {
        let rec = self.running(name)?;
        if rec.state.status == "paused" {
            return Err(Error::Conflict(format!(
                "Container {} is paused, unpause the container before exec",
                rec.id
            )));
        }
        let cfg: ExecConfig = serde_json::from_value(body.clone())
            .map_err(|e| Error::Invalid(format!("invalid exec config: {e}")))?;
        if cfg.cmd.as_ref().is_none_or(Vec::is_empty) {
            return Err(Error::Invalid("No exec command specified".into()));
        }
        let id = berth_base::id::random_id().map_err(|e| Error::io("random id", e))?;
        let cmd = cfg.cmd.clone().unwrap_or_default().join(" ");
        self.inner.lock().execs.insert(
            id.clone(),
            ExecEntry {
                container_id: rec.id.clone(),
                cfg,
                started: false,
                running: false,
                exit_code: None,
                pid: 0,
            },
        );
        self.inner.publish(
            &rec,
            &format!("exec_create: {cmd}"),
            &[("execID", id.clone())],
        );
        Ok(id)
    }

    /// `POST /exec/{id}/start`: with `detach`, returns `None` once started;
    /// otherwise the process's stdio stream.
    pub fn exec_start(&self, exec_id: &str, detach: bool) -> Result<Option<AttachStream>> {
        let (cid, cfg) = {
            let mut t = self.inner.lock();
            let x = t
                .execs
                .get_mut(exec_id)
                .ok_or_else(|| Error::NoSuchExec(exec_id.to_owned()))?;
            if x.started {
                return Err(Error::Conflict(format!(
                    "Error: Exec command {exec_id} has already run"
                )));
            }
            x.started = true;
            (x.container_id.clone(), x.cfg.clone())
        };
        let rec = self.running(&cid)?;
        let process = self.exec_process(&rec, &cfg)?;
        let req = Request::Exec {
            exec_id: exec_id.to_owned(),
            process,
            attach: !detach,
            stdin: cfg.attach_stdin && !detach,
        };
        let client = self.inner.client(&rec.id);
        let cmd = cfg.cmd.clone().unwrap_or_default().join(" ");
        let result = if detach {
            client.call(&req).map(|r| (r, None))
        } else {
            client.stream(&req).map(|(r, s)| (r, Some(s)))
        };
        let (resp, stream) = match result {
            Ok(x) => x,
            Err(e) => {
                let mut t = self.inner.lock();
                if let Some(x) = t.execs.get_mut(exec_id) {
                    x.exit_code = Some(126);
                }
                return Err(match e.kind() {
                    berth_base::ErrorKind::Invalid | berth_base::ErrorKind::NotFound => {
                        Error::Invalid(format!("OCI runtime exec failed: {e}"))
                    }
                    _ => e.into(),
                });
            }
        };
        {
            let mut t = self.inner.lock();
            if let Some(x) = t.execs.get_mut(exec_id) {
                x.running = true;
                x.pid = resp.exec.map_or(0, |e| e.pid);
            }
        }
        self.inner.publish(
            &rec,
            &format!("exec_start: {cmd}"),
            &[("execID", exec_id.to_owned())],
        );
        Ok(stream.map(|s| {
            let (sock, pending) = s.into_parts();
            AttachStream {
                tty: cfg.tty,
                sock,
                pending,
            }
        }))
    }

    /// The exec's OCI process: the container's, with the exec's command,
    /// environment, user, directory and terminal.
    pub(super) fn exec_process(
        &self,
        rec: &super::types::Record,
        cfg: &ExecConfig,
    ) -> Result<Value> {
        let p = self.inner.shim_dir(&rec.id).join("bundle/config.json");
        let spec: Value = std::fs::read(&p)
            .ok()
            .and_then(|d| serde_json::from_slice(&d).ok())
            .ok_or_else(|| Error::Conflict(format!("Container {} is not running", rec.id)))?;
        let mut process = spec["process"].clone();
        process["args"] = json!(cfg.cmd.clone().unwrap_or_default());
        process["terminal"] = json!(cfg.tty);
        let mut env: Vec<String> =
            serde_json::from_value(process["env"].clone()).unwrap_or_default();
        for e in cfg.env.iter().flatten() {
            let k = e.split('=').next().unwrap_or_default();
            env.retain(|x| x.split('=').next() != Some(k));
            env.push(e.clone());
        }
        process["env"] = json!(env);
        if let Some(w) = cfg.working_dir.as_ref().filter(|w| !w.is_empty()) {
            process["cwd"] = json!(w);
        }
        if let Some(u) = cfg.user.as_ref().filter(|u| !u.is_empty()) {
            let images = &self.inner.images;
            let image_id = rec.image_id.clone();
            let read = move |p: &str| images.read_image_file(&image_id, p).ok().flatten();
            let user = spec::resolve_user(u, &read)?;
            process["user"] = json!({"uid": user.uid, "gid": user.gid});
            if !user.additional_gids.is_empty() {
                process["user"]["additionalGids"] = json!(user.additional_gids);
            }
        }
        if cfg.privileged {
            let caps = spec::capabilities(true, &[], &[])?;
            process["capabilities"] =
                json!({"bounding": caps, "effective": caps, "permitted": caps});
        }
        match cfg.console_size {
            Some([h, w]) if h > 0 && w > 0 && cfg.tty => {
                process["consoleSize"] = json!({"height": h, "width": w})
            }
            _ => {
                if let Some(o) = process.as_object_mut() {
                    o.remove("consoleSize");
                }
            }
        }
        Ok(process)
    }

    /// `GET /exec/{id}/json`.
    pub fn exec_inspect(&self, exec_id: &str) -> Result<ExecInspect> {
        let (cid, running) = {
            let t = self.inner.lock();
            let x = t
                .execs
                .get(exec_id)
                .ok_or_else(|| Error::NoSuchExec(exec_id.to_owned()))?;
            (x.container_id.clone(), x.running && x.exit_code.is_none())
        };
        if running {
            let st = self.inner.client(&cid).call(&Request::ExecState {
                exec_id: exec_id.to_owned(),
            });
            let (still, code) = match st.ok().and_then(|r| r.exec) {
                Some(e) => (e.running, e.exit_code),
                // The shim is gone: the container (and the exec) ended.
                None => (false, Some(137)),
            };
            let mut t = self.inner.lock();
            if let Some(x) = t.execs.get_mut(exec_id) {
                x.running = still;
                x.exit_code = code;
            }
            if !still {
                drop(t);
                if let Ok(rec) = self.inner.record(&cid) {
                    self.inner.publish(
                        &rec,
                        "exec_die",
                        &[
                            ("execID", exec_id.to_owned()),
                            ("exitCode", code.unwrap_or(0).to_string()),
                        ],
                    );
                }
            }
        }
        let t = self.inner.lock();
        let x = t
            .execs
            .get(exec_id)
            .ok_or_else(|| Error::NoSuchExec(exec_id.to_owned()))?;
        let cmd = x.cfg.cmd.clone().unwrap_or_default();
        Ok(ExecInspect {
            id: exec_id.to_owned(),
            container_id: x.container_id.clone(),
            running: x.running,
            exit_code: x.exit_code,
            pid: x.pid,
            tty: x.cfg.tty,
            open_stdin: x.cfg.attach_stdin,
            entrypoint: cmd.first().cloned().unwrap_or_default(),
            arguments: cmd.get(1..).map(<[String]>::to_vec).unwrap_or_default(),
            privileged: x.cfg.privileged,
            user: x.cfg.user.clone().unwrap_or_default(),
        })
    }

    /// `POST /exec/{id}/resize`.
    pub fn exec_resize(&self, exec_id: &str, height: u16, width: u16) -> Result<()> {
        let cid = {
            let t = self.inner.lock();
            t.execs
                .get(exec_id)
                .ok_or_else(|| Error::NoSuchExec(exec_id.to_owned()))?
                .container_id
                .clone()
        };
        self.inner.client(&cid).call(&Request::Resize {
            exec_id: Some(exec_id.to_owned()),
            height,
            width,
        })?;
        Ok(())
    }

    /// Whether the exec wants stdout/stderr (docker's `AttachStdout`).
    pub fn exec_attach_streams(&self, exec_id: &str) -> Result<(bool, bool, bool)> {
        let t = self.inner.lock();
        let x = t
            .execs
            .get(exec_id)
            .ok_or_else(|| Error::NoSuchExec(exec_id.to_owned()))?;
        Ok((x.cfg.attach_stdin, x.cfg.attach_stdout, x.cfg.attach_stderr))
    }
}
