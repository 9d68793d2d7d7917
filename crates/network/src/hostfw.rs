//! Coexistence with an iptables FORWARD policy of DROP.
//!
//! A packet crossing the forward hook must be accepted by every base chain
//! registered there, in every table: berth's own `inet berth` table cannot
//! override the drop policy that dockerd puts on iptables' FORWARD chain. So
//! when that chain drops by default (or docker's DOCKER-USER chain exists),
//! berth adds accept rules for its own bridges there, tagged with a comment
//! `berth:<tag>:<bridge>`, and removes them with the network. It never
//! changes a policy and never touches rules without its tag. DOCKER-USER is
//! preferred because dockerd guarantees it is evaluated first and never
//! flushes it.

use std::process::{Command, Stdio};

use crate::error::{Error, Result};

/// One bridge that needs forwarding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ForwardBridge {
    pub name: String,
    /// Internal bridges only forward among their own ports.
    pub internal: bool,
}

const CHAINS: [&str; 2] = ["DOCKER-USER", "FORWARD"];

/// Brings the tagged accept rules in line with `bridges`: adds the missing
/// ones where forwarding would otherwise be dropped, removes stale ones
/// (also in the chain not used now). Without an `iptables` binary there is
/// no iptables policy to work around, and nothing is done.
pub fn sync(tag: &str, bridges: &[ForwardBridge]) -> Result<()> {
    if !have_iptables() {
        return Ok(());
    }
    let marker = format!("berth:{tag}:");
    let target = target_chain();
    for chain in CHAINS {
        let Some(listing) = list(chain) else { continue };
        let want: Vec<Vec<String>> = if Some(chain) == target {
            bridges
                .iter()
                .flat_map(|b| rules(chain, &marker, b))
                .collect()
        } else {
            Vec::new()
        };
        let have = tagged_rules(&listing, &marker);
        for rule in have.iter().filter(|r| !want.iter().any(|w| same(w, r))) {
            let mut args = rule.clone();
            args[0] = "-D".into();
            iptables(&args)?;
        }
        for rule in want.iter().filter(|w| !have.iter().any(|r| same(w, r))) {
            let mut args = rule.clone();
            args[0] = "-I".into();
            iptables(&args)?;
        }
    }
    Ok(())
}

/// The chain that needs accept rules: DOCKER-USER when it exists, FORWARD
/// when its policy drops, none otherwise.
fn target_chain() -> Option<&'static str> {
    if list("DOCKER-USER").is_some() {
        return Some("DOCKER-USER");
    }
    let fwd = list("FORWARD")?;
    fwd.lines()
        .any(|l| l.trim() == "-P FORWARD DROP")
        .then_some("FORWARD")
}

fn rules(chain: &str, marker: &str, b: &ForwardBridge) -> Vec<Vec<String>> {
    let comment = format!("{marker}{}", b.name);
    let mk = |ifs: &[&str]| -> Vec<String> {
        let mut v = vec!["-A".to_string(), chain.to_string()];
        v.extend(ifs.iter().map(|s| s.to_string()));
        v.extend(["-m", "comment", "--comment", &comment, "-j", "ACCEPT"].map(String::from));
        v
    };
    if b.internal {
        vec![mk(&["-i", &b.name, "-o", &b.name])]
    } else {
        vec![mk(&["-i", &b.name]), mk(&["-o", &b.name])]
    }
}

/// The rules of an `iptables -S` listing that carry `marker`, as words.
fn tagged_rules(listing: &str, marker: &str) -> Vec<Vec<String>> {
    listing
        .lines()
        .filter(|l| l.starts_with("-A ") && l.contains(marker))
        .map(|l| {
            l.split_whitespace()
                .map(|w| w.trim_matches('"').to_string())
                .collect()
        })
        .collect()
}

/// Rules are equal when they have the same words (iptables may print the
/// matches in another order than they were given). Words of a listing are
/// unquoted first: `-S` prints comments in double quotes, and berth's
/// comments contain no spaces.
fn same(a: &[String], b: &[String]) -> bool {
    let mut a = a.to_vec();
    let mut b = b.to_vec();
    a.sort();
    b.sort();
    a == b
}

fn have_iptables() -> bool {
    Command::new("iptables")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

fn list(chain: &str) -> Option<String> {
    let out = Command::new("iptables")
        .args(["-w", "-S", chain])
        .stderr(Stdio::null())
        .output()
        .ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn iptables(args: &[String]) -> Result<()> {
    let out = Command::new("iptables")
        .arg("-w")
        .args(args)
        .output()
        .map_err(|source| Error::Spawn {
            program: "iptables",
            source,
        })?;
    if !out.status.success() {
        return Err(Error::Command {
            program: "iptables",
            what: args.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_per_bridge() {
        let r = rules(
            "DOCKER-USER",
            "berth:x:",
            &ForwardBridge {
                name: "berth0".into(),
                internal: false,
            },
        );
        assert_eq!(r.len(), 2);
        assert_eq!(
            r[0].join(" "),
            "-A DOCKER-USER -i berth0 -m comment --comment berth:x:berth0 -j ACCEPT"
        );
        let listing = "-N DOCKER-USER\n-A DOCKER-USER -i berth0 -m comment --comment \"berth:x:berth0\" -j ACCEPT\n\
                       -A DOCKER-USER -i other -m comment --comment \"berth:y:other\" -j ACCEPT\n-A DOCKER-USER -j RETURN\n";
        let printed = tagged_rules(listing, "berth:x:");
        assert_eq!(printed.len(), 1);
        assert!(same(&r[0], &printed[0]));
        let i = rules(
            "FORWARD",
            "berth:x:",
            &ForwardBridge {
                name: "b1".into(),
                internal: true,
            },
        );
        assert_eq!(i.len(), 1);
        assert!(i[0].join(" ").contains("-i b1 -o b1"));
    }
}
