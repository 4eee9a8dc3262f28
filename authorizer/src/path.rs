//! Canonical request paths.
//!
//! A policy compares the `path` fact as a string (`$p.starts_with("/tenants/" + $d + "/")`);
//! a backend resolves the same path with its own rules. Where the two could
//! disagree, the request is refused instead of guessing how the backend reads
//! it: dot segments (`.`, `..`, also with `;` parameters as servlet containers
//! read them), percent-encoded `.` `/` `\` `%`, backslashes, empty segments
//! (`//`, also `/;v=1/`), control characters (raw or encoded), malformed
//! percent-encoding and encoded bytes that are not UTF-8. A single trailing
//! slash is canonical.

/// Why a request path is not canonical.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path does not start with `/`.
    #[error("path does not start with '/'")]
    NotAbsolute,
    /// A segment is `.` or `..` (before any `;` parameters).
    #[error("path has a dot segment")]
    DotSegment,
    /// An empty segment before the last: two slashes in a row, or a segment
    /// of only `;` parameters.
    #[error("path has an empty segment")]
    EmptySegment,
    /// A backslash, which some servers read as `/`.
    #[error("path has a backslash")]
    Backslash,
    /// `%2e`, `%2f`, `%5c` or `%25`: a delimiter or a second round of encoding.
    #[error("path percent-encodes {0:?}")]
    EncodedDelimiter(char),
    /// A `%` not followed by two hex digits, or encoded bytes that are not UTF-8.
    #[error("path has malformed percent-encoding")]
    BadEncoding,
    /// A control character, raw or percent-encoded.
    #[error("path has a control character")]
    ControlCharacter,
}

/// Checks that `path` is canonical: what the policy sees is what any backend resolves.
pub fn check(path: &str) -> Result<(), PathError> {
    let rest = path.strip_prefix('/').ok_or(PathError::NotAbsolute)?;
    if path.contains('\\') {
        return Err(PathError::Backslash);
    }
    let decoded = String::from_utf8(percent_decode(path)?).map_err(|_| PathError::BadEncoding)?;
    if path.chars().chain(decoded.chars()).any(char::is_control) {
        return Err(PathError::ControlCharacter);
    }
    let mut segments = rest.split('/').peekable();
    while let Some(segment) = segments.next() {
        let name = segment.split(';').next().unwrap_or_default();
        if name == "." || name == ".." {
            return Err(PathError::DotSegment);
        }
        // Only the last segment may be empty: a trailing slash. A segment of only
        // `;` parameters is empty to a servlet container.
        if name.is_empty() && segments.peek().is_some() {
            return Err(PathError::EmptySegment);
        }
    }
    Ok(())
}

/// The bytes of `text` with `%XX` decoded; `+` is kept. An encoded delimiter is refused.
fn percent_decode(text: &str) -> Result<Vec<u8>, PathError> {
    let mut bytes = text.bytes();
    let mut decoded = Vec::with_capacity(text.len());
    while let Some(byte) = bytes.next() {
        if byte != b'%' {
            decoded.push(byte);
            continue;
        }
        let byte = match (bytes.next().and_then(hex), bytes.next().and_then(hex)) {
            (Some(high), Some(low)) => high << 4 | low,
            _ => return Err(PathError::BadEncoding),
        };
        if matches!(byte, b'.' | b'/' | b'\\' | b'%') {
            return Err(PathError::EncodedDelimiter(char::from(byte)));
        }
        decoded.push(byte);
    }
    Ok(decoded)
}

/// The value of one hex digit.
pub(crate) fn hex(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|value| u8::try_from(value).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_paths_pass() {
        for path in [
            "/",
            "/tenants/a.example/pets",
            "/tenants/a.example/pets/",
            "/tenants/a.example/my%20pets/caf%C3%A9",
            "/tenants/a.example/...",
            "/tenants/a.example/.well-known/x",
            "/tenants/a.example/a+b;v=1",
            "/tenants/a.example/;v=1",
            "/tenants/a.example/\u{e9}t\u{e9}",
        ] {
            assert_eq!(check(path), Ok(()), "{path}");
        }
    }

    #[test]
    fn tricks_are_refused_with_their_reason() {
        use PathError::*;
        let cases = [
            ("", NotAbsolute),
            ("tenants/a", NotAbsolute),
            ("/tenants/a/../b/secret", DotSegment),
            ("/tenants/a/./b", DotSegment),
            ("/tenants/a/..", DotSegment),
            ("/tenants/a/..;x=1/b", DotSegment),
            ("/tenants/a/.;/b", DotSegment),
            ("/tenants/a/%2e%2e/b", EncodedDelimiter('.')),
            ("/tenants/a/.%2E/b", EncodedDelimiter('.')),
            ("/tenants/a%2F..%2Fb/x", EncodedDelimiter('/')),
            ("/tenants/a/..%5cb", EncodedDelimiter('\\')),
            ("/tenants/a/%252e%252e/b", EncodedDelimiter('%')),
            ("/tenants/a\\..\\b", Backslash),
            ("//tenants/a", EmptySegment),
            ("/tenants//a", EmptySegment),
            ("/tenants/a//", EmptySegment),
            ("/tenants/;v=1/a", EmptySegment),
            ("/tenants/a/%u002e%u002e/b", BadEncoding),
            ("/tenants/a/%zz", BadEncoding),
            ("/tenants/a/%2", BadEncoding),
            ("/tenants/a/%", BadEncoding),
            ("/tenants/a/%c0%ae%c0%ae/b", BadEncoding),
            ("/tenants/a/%ff", BadEncoding),
            ("/tenants/a/x\u{0}y", ControlCharacter),
            ("/tenants/a/x\u{7f}", ControlCharacter),
            ("/tenants/a/x\ny", ControlCharacter),
            ("/tenants/a/x%00", ControlCharacter),
            ("/tenants/a/x%0d%0a", ControlCharacter),
            ("/tenants/a/x%C2%85", ControlCharacter),
        ];
        for (path, expected) in cases {
            assert_eq!(check(path), Err(expected), "{path:?}");
        }
    }

    #[test]
    fn hex_digits() {
        assert_eq!(hex(b'0'), Some(0));
        assert_eq!(hex(b'f'), Some(15));
        assert_eq!(hex(b'F'), Some(15));
        assert_eq!(hex(b'g'), None);
    }
}
