//! Least-privilege probing: a token that would also be allowed for requests
//! it was not presented for is broader than the request, and a risk if stolen.
//!
//! After a request is allowed, the same token is evaluated against probe
//! requests derived from the real one (at most a configured number). If the
//! policy allows any probe, the request is denied. A probe changes only the
//! `method` or the `path` fact; every other fact stays as it was.

use std::fmt;
use std::str::FromStr;

use crate::event::RequestInfo;

/// The path segment a sibling probe puts in place of the last one.
pub const PROBE_SEGMENT: &str = "__least_privilege_probe__";

/// Default cap on probes, each one extra policy evaluation.
pub const DEFAULT_MAX_PROBES: usize = 3;

/// A request derived from the real one that the token must not also allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// `write-method`: a read (GET, HEAD, OPTIONS) probed as DELETE on the same path.
    WriteMethod,
    /// `sibling-path`: the same method on a sibling path (last segment replaced).
    SiblingPath,
    /// `collection-root`: the same method on the parent path.
    CollectionRoot,
    /// `method:VERB`: the same path with another method.
    Method(String),
}

impl FromStr for Probe {
    type Err = String;

    fn from_str(text: &str) -> Result<Probe, String> {
        match text.trim() {
            "write-method" => Ok(Probe::WriteMethod),
            "sibling-path" => Ok(Probe::SiblingPath),
            "collection-root" => Ok(Probe::CollectionRoot),
            other => match other.strip_prefix("method:") {
                Some(verb) if !verb.is_empty() && verb.bytes().all(|b| b.is_ascii_alphabetic()) => {
                    Ok(Probe::Method(verb.to_ascii_uppercase()))
                }
                _ => Err(format!(
                    "unknown probe {other:?}: use write-method, sibling-path, collection-root or method:VERB"
                )),
            },
        }
    }
}

impl fmt::Display for Probe {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Probe::WriteMethod => f.write_str("write-method"),
            Probe::SiblingPath => f.write_str("sibling-path"),
            Probe::CollectionRoot => f.write_str("collection-root"),
            Probe::Method(verb) => write!(f, "method:{verb}"),
        }
    }
}

impl Probe {
    /// The probe request for `request`, or `None` where the probe does not apply.
    pub fn derive(&self, request: &RequestInfo) -> Option<RequestInfo> {
        let method = request.method.as_deref()?;
        let path = request.path.as_deref();
        let with_method = |verb: &str| RequestInfo {
            method: Some(verb.to_owned()),
            ..request.clone()
        };
        let with_path = |path: String| RequestInfo {
            path: Some(path),
            ..request.clone()
        };
        match self {
            Probe::WriteMethod => ["GET", "HEAD", "OPTIONS"]
                .contains(&method)
                .then(|| with_method("DELETE")),
            Probe::Method(verb) => (verb != method).then(|| with_method(verb)),
            Probe::SiblingPath => {
                let (parent, last) = split_last_segment(path?)?;
                (last != PROBE_SEGMENT).then(|| with_path(format!("{parent}/{PROBE_SEGMENT}")))
            }
            Probe::CollectionRoot => {
                let (parent, _) = split_last_segment(path?)?;
                Some(with_path(if parent.is_empty() {
                    "/".to_owned()
                } else {
                    parent.to_owned()
                }))
            }
        }
    }
}

/// `/a/b/c` → (`/a/b`, `c`); trailing slashes ignored; `None` for the root.
fn split_last_segment(path: &str) -> Option<(&str, &str)> {
    let trimmed = path.trim_end_matches('/');
    let (parent, last) = trimmed.rsplit_once('/')?;
    (!last.is_empty()).then_some((parent, last))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, path: &str) -> RequestInfo {
        RequestInfo {
            method: Some(method.into()),
            path: Some(path.into()),
            ..RequestInfo::default()
        }
    }

    fn derived(probe: &str, method: &str, path: &str) -> Option<(String, String)> {
        let probe: Probe = probe.parse().expect("probe");
        probe
            .derive(&request(method, path))
            .map(|r| (r.method.unwrap_or_default(), r.path.unwrap_or_default()))
    }

    #[test]
    fn probes_derive_from_the_request() {
        let pair = |m: &str, p: &str| Some((m.to_owned(), p.to_owned()));
        assert_eq!(
            derived("write-method", "GET", "/pets/7"),
            pair("DELETE", "/pets/7")
        );
        assert_eq!(derived("write-method", "POST", "/pets"), None);
        assert_eq!(
            derived("method:put", "GET", "/pets/7"),
            pair("PUT", "/pets/7")
        );
        assert_eq!(derived("method:GET", "GET", "/pets/7"), None);
        assert_eq!(
            derived("sibling-path", "GET", "/pets/7"),
            pair("GET", "/pets/__least_privilege_probe__")
        );
        assert_eq!(
            derived("sibling-path", "GET", "/pets/7/"),
            pair("GET", "/pets/__least_privilege_probe__")
        );
        assert_eq!(derived("sibling-path", "GET", "/"), None);
        assert_eq!(
            derived("collection-root", "GET", "/tenants/a/pets/7"),
            pair("GET", "/tenants/a/pets")
        );
        assert_eq!(derived("collection-root", "GET", "/pets"), pair("GET", "/"));
        assert_eq!(derived("collection-root", "GET", "/"), None);
    }

    #[test]
    fn names_round_trip_and_bad_names_are_refused() {
        for name in [
            "write-method",
            "sibling-path",
            "collection-root",
            "method:PATCH",
        ] {
            assert_eq!(name.parse::<Probe>().expect("probe").to_string(), name);
        }
        for bad in ["", "everything", "method:", "method:GE T"] {
            assert!(bad.parse::<Probe>().is_err(), "{bad}");
        }
    }
}
