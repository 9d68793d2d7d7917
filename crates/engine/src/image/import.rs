//! `docker import`: a one-layer image from a root filesystem tarball, with
//! Dockerfile-style `--change` instructions and a `--message`.

use super::config::{ContainerConfig, Empty, History, ImageConfig, RootFs};
use super::ingest::{ingest_layer, NewImage};
use super::Images;
use crate::error::{Error, Result};
use berth_base::reference::Reference;
use std::collections::HashMap;
use std::io::Read;

/// Options of [`Images::import`].
#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// `repo[:tag]` to name the image, if any.
    pub reference: Option<String>,
    /// `--change` instructions: ENV, CMD, ENTRYPOINT, WORKDIR, USER,
    /// EXPOSE, LABEL, VOLUME, STOPSIGNAL, ONBUILD.
    pub changes: Vec<String>,
    /// `--message`: the commit message (config and history comment).
    pub message: String,
    /// Where the tarball came from (`-` for stdin, a path or URL), for the
    /// default message `Imported from SRC`.
    pub source: String,
}

impl Images {
    /// Imports the (plain, gzip or zstd) tarball read from `r`; returns the
    /// new image id.
    pub fn import(&self, r: &mut dyn Read, opts: &ImportOptions) -> Result<String> {
        let tags = match &opts.reference {
            Some(name) if !name.is_empty() => {
                let rf = Reference::parse(name)?.with_default_tag();
                if rf.digest.is_some() {
                    return Err(Error::InvalidReference(format!(
                        "cannot import to a digest: {name:?}"
                    )));
                }
                vec![rf]
            }
            _ => Vec::new(),
        };
        let mut cc = ContainerConfig::default();
        for c in &opts.changes {
            apply_change(&mut cc, c)?;
        }
        let layer = ingest_layer(&self.store, r, None)?;
        let blob = layer.blob.to_string();
        let created = berth_base::time::format_rfc3339_nano(berth_base::time::now_nanos());
        let src = if opts.source.is_empty() {
            "-"
        } else {
            opts.source.as_str()
        };
        let comment = if opts.message.is_empty() {
            format!("Imported from {src}")
        } else {
            opts.message.clone()
        };
        let cfg = ImageConfig {
            architecture: super::load::host_arch().to_owned(),
            os: "linux".into(),
            created: Some(created.clone()),
            comment: Some(comment.clone()),
            config: Some(cc),
            rootfs: RootFs {
                typ: "layers".into(),
                diff_ids: vec![layer.stats.diff_id.to_string()],
            },
            history: vec![History {
                created: Some(created),
                comment: Some(comment),
                ..Default::default()
            }],
            ..Default::default()
        };
        let config =
            serde_json::to_vec(&cfg).map_err(|e| Error::Invalid(format!("image config: {e}")))?;
        let mut layers = HashMap::new();
        layers.insert("layer".to_owned(), layer);
        let img = NewImage {
            config,
            layers: vec!["layer".into()],
            tags: tags.clone(),
            parent: String::new(),
        };
        let result = self.commit_images(std::slice::from_ref(&img), &mut layers);
        drop(layers);
        if result.is_err() {
            let _ = self.store.gc_blobs_among(&[blob]);
        }
        let id = result?
            .into_iter()
            .next()
            .ok_or_else(|| Error::Invalid("import made no image".into()))?;
        let name = tags.first().map(|t| t.familiar());
        self.event("import", &id, Some(name.as_deref().unwrap_or(&id)));
        Ok(id)
    }
}

/// Splits arguments the way Dockerfile instructions take them: a JSON array,
/// or words (with double quotes grouping).
fn words(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            '\\' if quoted => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
            }
            c if c.is_whitespace() && !quoted => {
                if any || !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => cur.push(c),
        }
    }
    if any || !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// `["a","b"]` as a list, anything else as `/bin/sh -c <text>`.
fn command(args: &str) -> Vec<String> {
    if args.trim_start().starts_with('[') {
        if let Ok(v) = serde_json::from_str::<Vec<String>>(args) {
            return v;
        }
    }
    vec!["/bin/sh".into(), "-c".into(), args.to_owned()]
}

/// `k=v k2="v 2"` pairs, or the legacy `k v` form.
fn pairs(args: &str, what: &str) -> Result<Vec<(String, String)>> {
    let w = words(args);
    if !w.is_empty() && !w[0].contains('=') {
        let (k, v) = args
            .trim()
            .split_once(char::is_whitespace)
            .unwrap_or((args.trim(), ""));
        return Ok(vec![(k.to_owned(), v.trim().to_owned())]);
    }
    w.into_iter()
        .map(|p| {
            p.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .ok_or_else(|| Error::Invalid(format!("{what} needs key=value, got {p:?}")))
        })
        .collect()
}

/// Applies one `--change` instruction to `cc`.
pub fn apply_change(cc: &mut ContainerConfig, change: &str) -> Result<()> {
    let change = change.trim();
    let (instr, args) = change
        .split_once(char::is_whitespace)
        .unwrap_or((change, ""));
    let args = args.trim();
    match instr.to_ascii_uppercase().as_str() {
        "ENV" => {
            let env = cc.env.get_or_insert_with(Vec::new);
            for (k, v) in pairs(args, "ENV")? {
                env.retain(|e| e.split_once('=').map_or(e.as_str(), |(n, _)| n) != k);
                env.push(format!("{k}={v}"));
            }
        }
        "LABEL" => {
            let labels = cc.labels.get_or_insert_with(Default::default);
            for (k, v) in pairs(args, "LABEL")? {
                labels.insert(k, v);
            }
        }
        "CMD" => cc.cmd = Some(command(args)),
        "ENTRYPOINT" => cc.entrypoint = Some(command(args)),
        "WORKDIR" => cc.working_dir = args.to_owned(),
        "USER" => cc.user = args.to_owned(),
        "STOPSIGNAL" => cc.stop_signal = Some(args.to_owned()),
        "ONBUILD" => cc.on_build.get_or_insert_with(Vec::new).push(args.to_owned()),
        "EXPOSE" => {
            let ports = cc.exposed_ports.get_or_insert_with(Default::default);
            for p in words(args) {
                let p = if p.contains('/') { p } else { format!("{p}/tcp") };
                ports.insert(p, Empty {});
            }
        }
        "VOLUME" => {
            let list = if args.starts_with('[') {
                serde_json::from_str::<Vec<String>>(args)
                    .map_err(|e| Error::Invalid(format!("VOLUME {args}: {e}")))?
            } else {
                words(args)
            };
            let vols = cc.volumes.get_or_insert_with(Default::default);
            for v in list {
                vols.insert(v, Empty {});
            }
        }
        other => {
            return Err(Error::Invalid(format!(
                "{other} is not a valid change command (want ENV, CMD, ENTRYPOINT, WORKDIR, USER, EXPOSE, LABEL, VOLUME, STOPSIGNAL or ONBUILD)"
            )))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_apply_like_docker() {
        let mut cc = ContainerConfig::default();
        for c in [
            "ENV A=1 B=\"two words\"",
            "ENV C 3 and more",
            "CMD [\"sh\", \"-c\", \"echo hi\"]",
            "ENTRYPOINT /bin/run --flag",
            "WORKDIR /srv",
            "USER nobody:nogroup",
            "EXPOSE 80 53/udp",
            "LABEL org.x=y",
            "VOLUME [\"/data\"]",
            "STOPSIGNAL SIGINT",
        ] {
            apply_change(&mut cc, c).unwrap();
        }
        assert_eq!(cc.env.unwrap(), vec!["A=1", "B=two words", "C=3 and more"]);
        assert_eq!(cc.cmd.unwrap(), vec!["sh", "-c", "echo hi"]);
        assert_eq!(
            cc.entrypoint.unwrap(),
            vec!["/bin/sh", "-c", "/bin/run --flag"]
        );
        assert_eq!(cc.working_dir, "/srv");
        assert_eq!(cc.user, "nobody:nogroup");
        let ports: Vec<_> = cc.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(ports, vec!["53/udp", "80/tcp"]);
        assert_eq!(cc.labels.unwrap()["org.x"], "y");
        assert!(cc.volumes.unwrap().contains_key("/data"));
        assert_eq!(cc.stop_signal.unwrap(), "SIGINT");
        assert!(apply_change(&mut ContainerConfig::default(), "RUN rm -rf /").is_err());
    }
}
