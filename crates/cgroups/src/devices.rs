//! Device access rules: validation shared by both versions, and the v1
//! devices.allow / devices.deny lines.

use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};

use crate::error::{Error, Result};

/// Access bits, as the kernel's v2 device hook encodes them.
pub(crate) const ACC_MKNOD: u32 = 1;
pub(crate) const ACC_READ: u32 = 2;
pub(crate) const ACC_WRITE: u32 = 4;
pub(crate) const ACC_ALL: u32 = ACC_MKNOD | ACC_READ | ACC_WRITE;

/// One validated rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rule {
    pub allow: bool,
    /// 'a', 'b' or 'c'.
    pub kind: char,
    pub major: Option<u32>,
    pub minor: Option<u32>,
    pub access: u32,
}

impl Rule {
    /// Whether the rule covers every device with every access.
    pub fn is_total(&self) -> bool {
        self.kind == 'a' && self.access == ACC_ALL
    }

    /// The rule in the v1 devices.allow/deny syntax: "c 1:3 rwm".
    pub fn v1_line(&self) -> String {
        let num = |n: Option<u32>| n.map_or_else(|| "*".to_string(), |n| n.to_string());
        let mut acc = String::new();
        for (bit, c) in [(ACC_READ, 'r'), (ACC_WRITE, 'w'), (ACC_MKNOD, 'm')] {
            if self.access & bit != 0 {
                acc.push(c);
            }
        }
        format!(
            "{} {}:{} {}",
            self.kind,
            num(self.major),
            num(self.minor),
            acc
        )
    }
}

/// Validate the OCI rules. A missing access means "rwm", as in the spec's
/// examples; 'u' (unbuffered char) is a char device to the kernel.
pub(crate) fn parse_rules(rules: &[LinuxDeviceCgroup]) -> Result<Vec<Rule>> {
    rules.iter().map(parse_rule).collect()
}

fn parse_rule(r: &LinuxDeviceCgroup) -> Result<Rule> {
    let invalid = |reason: String| Error::InvalidResource {
        what: "device rule",
        reason,
    };
    let kind = match r.typ().unwrap_or_default() {
        LinuxDeviceType::A => 'a',
        LinuxDeviceType::B => 'b',
        LinuxDeviceType::C | LinuxDeviceType::U => 'c',
        LinuxDeviceType::P => {
            return Err(invalid(format!(
                "{r}: fifos are not governed by the device controller"
            )))
        }
    };
    let num = |n: Option<i64>| -> Result<Option<u32>> {
        match n {
            None | Some(-1) => Ok(None),
            Some(n) => u32::try_from(n)
                .map(Some)
                .map_err(|_| invalid(format!("{r}: device number {n} out of range"))),
        }
    };
    let mut access = 0;
    for c in r.access().as_deref().unwrap_or("rwm").chars() {
        access |= match c {
            'r' => ACC_READ,
            'w' => ACC_WRITE,
            'm' => ACC_MKNOD,
            _ => return Err(invalid(format!("{r}: unknown access {c:?}"))),
        };
    }
    if access == 0 {
        access = ACC_ALL;
    }
    Ok(Rule {
        allow: r.allow(),
        kind,
        major: num(r.major())?,
        minor: num(r.minor())?,
        access,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use oci_spec::runtime::LinuxDeviceCgroupBuilder;

    pub(crate) fn rule(
        allow: bool,
        t: LinuxDeviceType,
        maj: i64,
        min: i64,
        acc: &str,
    ) -> LinuxDeviceCgroup {
        let mut b = LinuxDeviceCgroupBuilder::default()
            .allow(allow)
            .typ(t)
            .access(acc);
        if maj >= 0 {
            b = b.major(maj);
        }
        if min >= 0 {
            b = b.minor(min);
        }
        b.build().unwrap()
    }

    #[test]
    fn v1_lines() {
        let rules = parse_rules(&[
            rule(false, LinuxDeviceType::A, -1, -1, "rwm"),
            rule(true, LinuxDeviceType::C, 1, 3, "rw"),
            rule(true, LinuxDeviceType::U, 136, -1, "mrw"),
        ])
        .unwrap();
        assert!(rules[0].is_total());
        assert_eq!(rules[0].v1_line(), "a *:* rwm");
        assert_eq!(rules[1].v1_line(), "c 1:3 rw");
        assert_eq!(rules[2].v1_line(), "c 136:* rwm");
    }

    #[test]
    fn rejects_bad_rules() {
        assert!(parse_rules(&[rule(true, LinuxDeviceType::C, 1, 3, "rx")]).is_err());
        assert!(parse_rules(&[rule(true, LinuxDeviceType::P, 1, 3, "r")]).is_err());
    }
}
