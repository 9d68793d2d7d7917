//! `cp`: files between a container and the host through the archive
//! routes (`GET`/`HEAD`/`PUT /containers/{id}/archive`), as tar streams,
//! with docker's naming: into an existing directory the source keeps its
//! name, otherwise it takes the destination's.

use crate::{App, CliError};
use berth_client::{read_all, ReqBody};
use clap::Args;
use hyper::{Method, StatusCode};
use std::io::Read;
use std::path::{Path, PathBuf};

#[derive(Debug, Args)]
pub struct CpArgs {
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long = "follow-link")]
    pub follow_link: bool,
    /// Suppress progress output during copy
    #[arg(short, long)]
    pub quiet: bool,
    /// SRC_PATH (CONTAINER:SRC_PATH or a local path, - for a tar on stdin)
    pub src: String,
    /// DEST_PATH (CONTAINER:DEST_PATH or a local path, - for a tar on stdout)
    pub dest: String,
}

/// `CONTAINER:PATH` → (container, path); a local path is `None`. A path
/// with a `/` before the colon is local, as docker decides.
fn split_remote(arg: &str) -> Option<(&str, &str)> {
    if arg.starts_with('/') || arg.starts_with('.') {
        return None;
    }
    let (c, p) = arg.split_once(':')?;
    (!c.is_empty() && !c.contains('/')).then_some((c, p))
}

fn err(what: &str, e: impl std::fmt::Display) -> CliError {
    CliError::new(format!("{what}: {e}"))
}

/// Whether `path` in the container is a directory (`None`: it does not
/// exist), from the stat header of `HEAD .../archive`.
async fn remote_stat(app: &App, container: &str, path: &str) -> Result<Option<bool>, CliError> {
    let resp = app
        .client
        .send_versioned(
            Method::HEAD,
            &format!("/containers/{container}/archive"),
            &[("path", path.to_owned())],
            ReqBody::Empty,
            &[],
        )
        .await?;
    match resp.status() {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND => {
            // A missing container is an error; a missing path is not.
            let b = read_all(resp).await.unwrap_or_default();
            let msg = String::from_utf8_lossy(&b);
            if msg.contains("No such container") {
                return Err(CliError::new(format!(
                    "Error response from daemon: No such container: {container}"
                )));
            }
            return Ok(None);
        }
        s => {
            return Err(CliError::new(format!(
                "Error response from daemon: {}",
                s.canonical_reason().unwrap_or("error")
            )))
        }
    }
    let stat = resp
        .headers()
        .get("x-docker-container-path-stat")
        .and_then(|v| v.to_str().ok())
        .and_then(base64_decode)
        .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok());
    // Go's os.ModeDir is the top bit of the mode.
    Ok(Some(stat.is_some_and(|s| {
        s["mode"].as_u64().is_some_and(|m| m & (1 << 31) != 0)
    })))
}

/// Standard base64 (with or without padding), as Go encodes the stat.
fn base64_decode(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in s.bytes() {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            b'=' => break,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

/// A tar of `src` whose top entry is named `name`.
fn tar_of(src: &Path, name: &str, follow: bool) -> Result<Vec<u8>, CliError> {
    let meta = if follow {
        std::fs::metadata(src)
    } else {
        std::fs::symlink_metadata(src)
    }
    .map_err(|e| err(&format!("stat {}", src.display()), e))?;
    let mut b = tar::Builder::new(Vec::new());
    b.follow_symlinks(follow);
    if meta.is_dir() {
        b.append_dir_all(name, src)
    } else {
        b.append_path_with_name(src, name)
    }
    .map_err(|e| err(&format!("archive {}", src.display()), e))?;
    b.into_inner()
        .map_err(|e| err(&format!("archive {}", src.display()), e))
}

async fn copy_to_container(
    app: &App,
    a: &CpArgs,
    container: &str,
    dest: &str,
) -> Result<(), CliError> {
    let dest = if dest.is_empty() { "/" } else { dest };
    let (tar, target) = if a.src == "-" {
        let mut buf = Vec::new();
        std::io::stdin()
            .read_to_end(&mut buf)
            .map_err(|e| err("read stdin", e))?;
        (buf, dest.to_owned())
    } else {
        let src = PathBuf::from(&a.src);
        let contents_only = a.src.ends_with("/.");
        match remote_stat(app, container, dest).await? {
            Some(true) if contents_only => (tar_of(&src, ".", a.follow_link)?, dest.to_owned()),
            Some(true) => {
                let name = src
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .ok_or_else(|| CliError::new(format!("invalid source path: {}", a.src)))?;
                (tar_of(&src, &name, a.follow_link)?, dest.to_owned())
            }
            _ if dest.ends_with('/') => {
                return Err(CliError::new(format!(
                    "Error response from daemon: Could not find the file {dest} in container {container}"
                )))
            }
            _ => {
                let d = Path::new(dest);
                let name = d
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .ok_or_else(|| CliError::new(format!("invalid destination: {dest}")))?;
                let parent = d
                    .parent()
                    .map_or("/".to_owned(), |p| p.display().to_string());
                let parent = if parent.is_empty() { "/".into() } else { parent };
                (tar_of(&src, &name, a.follow_link)?, parent)
            }
        }
    };
    let mut q = vec![
        ("path", target),
        ("noOverwriteDirNonDir", "true".to_owned()),
    ];
    if a.archive {
        q.push(("copyUIDGID", "true".to_owned()));
    }
    app.client
        .request(
            Method::PUT,
            &format!("/containers/{container}/archive"),
            &q,
            ReqBody::Full(tar.into()),
            &[("content-type", "application/x-tar")],
        )
        .await?;
    Ok(())
}

async fn copy_from_container(
    app: &App,
    container: &str,
    src: &str,
    dest: &str,
) -> Result<(), CliError> {
    let resp = app
        .client
        .request(
            Method::GET,
            &format!("/containers/{container}/archive"),
            &[("path", src.to_owned())],
            ReqBody::Empty,
            &[],
        )
        .await?;
    if dest == "-" {
        return super::container::save_body(resp, None).await;
    }
    let tar = read_all(resp).await?;
    let dest = PathBuf::from(dest);
    if dest.is_dir() {
        let mut ar = tar::Archive::new(&tar[..]);
        ar.set_preserve_permissions(true);
        return ar
            .unpack(&dest)
            .map_err(|e| err(&format!("extract into {}", dest.display()), e));
    }
    // A new name: the top entry becomes the destination.
    let parent = dest
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !parent.is_dir() {
        return Err(CliError::new(format!(
            "destination directory \"{}\" does not exist",
            parent.display()
        )));
    }
    let new_name = dest
        .file_name()
        .ok_or_else(|| CliError::new(format!("invalid destination: {}", dest.display())))?;
    extract_renamed(&tar, &parent.join(new_name))
}

/// Unpacks `tar` with its top entry renamed to `to` (the rest keep their
/// place under it).
fn extract_renamed(tar: &[u8], to: &Path) -> Result<(), CliError> {
    let mut ar = tar::Archive::new(tar);
    let entries = ar.entries().map_err(|e| err("read archive", e))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| err("read archive", e))?;
        let path = entry
            .path()
            .map_err(|e| err("read archive", e))?
            .into_owned();
        let mut comps = path.components();
        comps.next();
        let rest = comps.as_path();
        if rest
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(CliError::new(format!(
                "archive entry {} leaves the destination",
                path.display()
            )));
        }
        let out = if rest.as_os_str().is_empty() {
            to.to_path_buf()
        } else {
            to.join(rest)
        };
        entry.set_preserve_permissions(true);
        entry
            .unpack(&out)
            .map_err(|e| err(&format!("extract {}", out.display()), e))?;
    }
    Ok(())
}

pub async fn run_cp(app: &App, a: CpArgs) -> Result<(), CliError> {
    match (split_remote(&a.src), split_remote(&a.dest)) {
        (Some((c, p)), None) => copy_from_container(app, c, p, &a.dest).await,
        (None, Some((c, p))) => copy_to_container(app, &a, c, p).await,
        (Some(_), Some(_)) => Err(CliError::new("copying between containers is not supported")),
        (None, None) => Err(CliError::new("must specify at least one container source")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_paths_and_stat_decoding() {
        assert_eq!(split_remote("c1:/etc"), Some(("c1", "/etc")));
        assert_eq!(split_remote("/tmp/a:b"), None);
        assert_eq!(split_remote("./x:y"), None);
        assert_eq!(split_remote("local"), None);
        assert_eq!(
            base64_decode("eyJtb2RlIjoxfQ==").unwrap(),
            br#"{"mode":1}"#.to_vec()
        );
    }

    #[test]
    fn tars_name_their_top_entry() {
        let d = tempdir("name");
        std::fs::write(d.join("f"), b"x").unwrap();
        let t = tar_of(&d.join("f"), "g", false).unwrap();
        let mut ar = tar::Archive::new(&t[..]);
        let names: Vec<String> = ar
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert_eq!(names, ["g"]);
        std::fs::remove_dir_all(&d).unwrap();
    }

    #[test]
    fn a_new_name_replaces_the_top_entry() {
        let d = tempdir("rename");
        std::fs::create_dir_all(d.join("src/sub")).unwrap();
        std::fs::write(d.join("src/sub/f"), b"x").unwrap();
        let t = tar_of(&d.join("src"), "src", false).unwrap();
        extract_renamed(&t, &d.join("copy")).unwrap();
        assert_eq!(std::fs::read(d.join("copy/sub/f")).unwrap(), b"x");
        let t = tar_of(&d.join("src/sub/f"), "f", false).unwrap();
        extract_renamed(&t, &d.join("g")).unwrap();
        assert_eq!(std::fs::read(d.join("g")).unwrap(), b"x");
        std::fs::remove_dir_all(&d).unwrap();
    }

    fn tempdir(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("berth-cli-cp-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
