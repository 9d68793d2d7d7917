//! The `filters` query parameter: JSON `{"key":["v1","v2"]}`, or the legacy
//! `{"key":{"v1":true}}` that old clients still send.

use std::collections::{BTreeMap, BTreeSet};

/// Parsed filters: each key with the set of values given for it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters(BTreeMap<String, BTreeSet<String>>);

/// A filters parameter that is not valid JSON of either form, or that names
/// a key the endpoint does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("invalid filter format: {0}")]
    Format(String),
    #[error("invalid filter '{0}'")]
    UnknownKey(String),
    #[error("invalid filter '{key}={value}'")]
    BadValue { key: String, value: String },
}

impl Filters {
    /// Parses the query value; an empty string means no filters.
    pub fn parse(s: &str) -> Result<Self, FilterError> {
        if s.trim().is_empty() {
            return Ok(Self::default());
        }
        let v: serde_json::Value =
            serde_json::from_str(s).map_err(|e| FilterError::Format(e.to_string()))?;
        let obj = v
            .as_object()
            .ok_or_else(|| FilterError::Format("want a JSON object".into()))?;
        let mut out = BTreeMap::new();
        for (k, vals) in obj {
            let set: BTreeSet<String> = match vals {
                serde_json::Value::Array(a) => a
                    .iter()
                    .map(|x| x.as_str().map(str::to_owned))
                    .collect::<Option<_>>()
                    .ok_or_else(|| FilterError::Format(format!("values of {k:?}")))?,
                serde_json::Value::Object(m) => m
                    .iter()
                    .filter(|(_, on)| on.as_bool().unwrap_or(false))
                    .map(|(name, _)| name.clone())
                    .collect(),
                _ => return Err(FilterError::Format(format!("values of {k:?}"))),
            };
            out.insert(k.clone(), set);
        }
        Ok(Self(out))
    }

    /// Parses `key=value` arguments as the CLI's `--filter` gives them.
    pub fn from_args<'a>(args: impl IntoIterator<Item = &'a str>) -> Result<Self, FilterError> {
        let mut f = Self::default();
        for a in args {
            let (k, v) = a.split_once('=').ok_or_else(|| {
                FilterError::Format(format!("bad format of filter (expected name=value): {a}"))
            })?;
            f.add(k.trim().to_lowercase(), v.to_owned());
        }
        Ok(f)
    }

    pub fn add(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.0.entry(key.into()).or_default().insert(value.into());
    }

    /// Takes `key` out, returning its values.
    pub fn remove(&mut self, key: &str) -> Vec<String> {
        self.0
            .remove(key)
            .map(|v| v.into_iter().collect())
            .unwrap_or_default()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The values given for `key` (none if the key is absent).
    pub fn get(&self, key: &str) -> impl Iterator<Item = &str> {
        self.0.get(key).into_iter().flatten().map(String::as_str)
    }

    pub fn contains(&self, key: &str) -> bool {
        self.0.contains_key(key)
    }

    /// Fails on the first key not in `allowed`, as dockerd does.
    pub fn validate(&self, allowed: &[&str]) -> Result<(), FilterError> {
        match self.0.keys().find(|k| !allowed.contains(&k.as_str())) {
            Some(k) => Err(FilterError::UnknownKey(k.clone())),
            None => Ok(()),
        }
    }

    /// Whether `key` is absent or one of its values equals `value`.
    pub fn matches_exact(&self, key: &str, value: &str) -> bool {
        !self.contains(key) || self.get(key).any(|v| v == value)
    }

    /// Whether every `label` filter (`key` or `key=value`, with `!=` for
    /// negation) holds for `labels`, filtered under `filter_key`.
    pub fn matches_labels<'a>(
        &self,
        filter_key: &str,
        labels: impl Fn(&str) -> Option<&'a str>,
    ) -> bool {
        self.get(filter_key).all(|want| {
            if let Some((k, v)) = want.split_once("!=") {
                labels(k) != Some(v)
            } else if let Some((k, v)) = want.split_once('=') {
                labels(k) == Some(v)
            } else {
                labels(want).is_some()
            }
        })
    }

    /// The single boolean value of `key` (`dangling=true`), or an error if
    /// it is not a boolean.
    pub fn get_bool(&self, key: &str) -> Result<Option<bool>, FilterError> {
        let mut out = None;
        for v in self.get(key) {
            let b = match v.to_ascii_lowercase().as_str() {
                "true" | "1" => true,
                "false" | "0" => false,
                _ => {
                    return Err(FilterError::BadValue {
                        key: key.into(),
                        value: v.into(),
                    })
                }
            };
            out = Some(out.unwrap_or(false) || b);
        }
        Ok(out)
    }

    /// Each key with its values, sorted.
    pub fn to_map(&self) -> BTreeMap<String, Vec<String>> {
        self.0
            .iter()
            .map(|(k, v)| (k.clone(), v.iter().cloned().collect()))
            .collect()
    }

    /// The JSON form for a query string (`{"key":["v"]}`).
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).unwrap_or_else(|_| "{}".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_both_forms() {
        let a = Filters::parse(r#"{"label":["a=b"],"dangling":["true"]}"#).unwrap();
        let b = Filters::parse(r#"{"label":{"a=b":true},"dangling":{"true":true}}"#).unwrap();
        assert_eq!(a, b);
        assert_eq!(a.get_bool("dangling").unwrap(), Some(true));
        assert!(Filters::parse("").unwrap().is_empty());
        assert!(Filters::parse("[1]").is_err());
        assert!(Filters::parse(r#"{"a":[1]}"#).is_err());
    }

    #[test]
    fn validate_and_match() {
        let f = Filters::from_args(["label=x=1", "label=y", "reference=busybox"]).unwrap();
        assert!(f.validate(&["label", "reference"]).is_ok());
        assert_eq!(
            f.validate(&["label"]),
            Err(FilterError::UnknownKey("reference".into()))
        );
        let labels = |k: &str| match k {
            "x" => Some("1"),
            "y" => Some(""),
            _ => None,
        };
        assert!(f.matches_labels("label", labels));
        assert!(!f.matches_labels("label", |_| None));
        assert!(f.matches_exact("reference", "busybox"));
        assert!(f.matches_exact("absent", "anything"));
        assert!(Filters::from_args(["nokey"]).is_err());
        let back = Filters::parse(&f.to_json()).unwrap();
        assert_eq!(back, f);
    }
}
