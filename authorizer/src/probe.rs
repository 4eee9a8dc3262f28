//! Least-privilege probing: a token that would also be allowed for requests
//! it was not presented for is broader than the request, and a risk if stolen.
//!
//! After a request is allowed, the same token is evaluated against probe
//! requests derived from the real one (at most a configured number). If the
//! policy allows any probe, the request is denied. A probe changes only the
//! `method` or the `path` fact; every other fact stays as it was.

use std::fmt;
use std::str::FromStr;

use rand::Rng;

use crate::event::RequestInfo;

/// Default cap on probes, each one extra policy evaluation.
pub const DEFAULT_MAX_PROBES: usize = 3;

/// A request derived from the real one that the token must not also allow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    /// `write-method`: a read (GET, HEAD, OPTIONS) probed as each write method on the same path.
    WriteMethod,
    /// `sibling-path`: the same method on a sibling path (last segment replaced by a random look-alike).
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

/// The write methods a `write-method` probe tries, each one evaluation: a
/// token that excludes one of them is still caught by the others.
pub const WRITE_METHODS: [&str; 4] = ["POST", "PUT", "PATCH", "DELETE"];

/// The read methods a `write-method` probe applies to.
const READ_METHODS: [&str; 3] = ["GET", "HEAD", "OPTIONS"];

impl Probe {
    /// Most policy evaluations this probe adds to one request.
    pub fn evaluations(&self) -> usize {
        match self {
            Probe::WriteMethod => WRITE_METHODS.len(),
            _ => 1,
        }
    }

    /// The probe requests for `request` (none where the probe does not apply).
    /// A sibling path's last segment is drawn at random per request with the
    /// shape of the real one, so a token cannot recognise the probe.
    pub fn derive(&self, request: &RequestInfo, rng: &mut impl Rng) -> Vec<RequestInfo> {
        let Some(method) = request.method.as_deref() else {
            return Vec::new();
        };
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
            Probe::WriteMethod if READ_METHODS.contains(&method) => {
                WRITE_METHODS.iter().map(|verb| with_method(verb)).collect()
            }
            Probe::WriteMethod => Vec::new(),
            Probe::Method(verb) if verb != method => vec![with_method(verb)],
            Probe::Method(_) => Vec::new(),
            Probe::SiblingPath => path
                .and_then(split_last_segment)
                .map(|(parent, last)| with_path(format!("{parent}/{}", look_alike(last, rng))))
                .into_iter()
                .collect(),
            Probe::CollectionRoot => path
                .and_then(split_last_segment)
                .map(|(parent, _)| {
                    with_path(if parent.is_empty() {
                        "/".to_owned()
                    } else {
                        parent.to_owned()
                    })
                })
                .into_iter()
                .collect(),
        }
    }
}

/// A random segment of the same shape as `segment`: each ASCII letter
/// replaced by a random letter of the same case, each digit by a random digit,
/// every other character kept; never equal to `segment`.
fn look_alike(segment: &str, rng: &mut impl Rng) -> String {
    let mut draw = |c: char| match c {
        'a'..='z' => char::from(rng.gen_range(b'a'..=b'z')),
        'A'..='Z' => char::from(rng.gen_range(b'A'..=b'Z')),
        '0'..='9' => char::from(rng.gen_range(b'0'..=b'9')),
        other => other,
    };
    for _ in 0..8 {
        let candidate: String = segment.chars().map(&mut draw).collect();
        if candidate != segment {
            return candidate;
        }
    }
    // Nothing to vary (no letter or digit), or eight unlucky draws: append one.
    format!("{segment}{}", draw('a'))
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

    fn derived(probe: &str, method: &str, path: &str) -> Vec<(String, String)> {
        let probe: Probe = probe.parse().expect("probe");
        let mut rng = rand::thread_rng();
        probe
            .derive(&request(method, path), &mut rng)
            .into_iter()
            .map(|r| (r.method.unwrap_or_default(), r.path.unwrap_or_default()))
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(m, p)| (m.to_string(), p.to_string()))
            .collect()
    }

    #[test]
    fn probes_derive_from_the_request() {
        assert_eq!(
            derived("write-method", "GET", "/pets/7"),
            pairs(&[
                ("POST", "/pets/7"),
                ("PUT", "/pets/7"),
                ("PATCH", "/pets/7"),
                ("DELETE", "/pets/7")
            ])
        );
        assert_eq!(derived("write-method", "POST", "/pets"), pairs(&[]));
        assert_eq!(
            derived("method:put", "GET", "/pets/7"),
            pairs(&[("PUT", "/pets/7")])
        );
        assert_eq!(derived("method:GET", "GET", "/pets/7"), pairs(&[]));
        assert_eq!(derived("sibling-path", "GET", "/"), pairs(&[]));
        assert_eq!(
            derived("collection-root", "GET", "/tenants/a/pets/7"),
            pairs(&[("GET", "/tenants/a/pets")])
        );
        assert_eq!(
            derived("collection-root", "GET", "/pets"),
            pairs(&[("GET", "/")])
        );
        assert_eq!(derived("collection-root", "GET", "/"), pairs(&[]));
    }

    #[test]
    fn sibling_segments_are_random_look_alikes() {
        let mut seen = std::collections::HashSet::new();
        for _ in 0..20 {
            let probes = derived("sibling-path", "GET", "/pets/Doc-42.pdf/");
            let [(method, path)] = probes.as_slice() else {
                panic!("one probe expected, got {probes:?}");
            };
            assert_eq!(method, "GET");
            let segment = path.strip_prefix("/pets/").expect("same parent");
            assert_ne!(segment, "Doc-42.pdf");
            let shape = |s: &str| {
                s.chars()
                    .map(|c| match c {
                        'a'..='z' => 'a',
                        'A'..='Z' => 'A',
                        '0'..='9' => '0',
                        other => other,
                    })
                    .collect::<String>()
            };
            assert_eq!(shape(segment), shape("Doc-42.pdf"));
            seen.insert(segment.to_owned());
        }
        assert!(seen.len() > 15, "segments repeat: {seen:?}");
        // A segment with nothing to vary still changes.
        let probes = derived("sibling-path", "GET", "/pets/--");
        assert!(probes[0].1.starts_with("/pets/--") && probes[0].1 != "/pets/--");
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
