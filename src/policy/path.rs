//! The request path as the upstream will see it (RFC 3986 §6.2.2): unreserved percent-encodings decoded,
//! hex upper-cased, dot segments removed (§5.2.4), duplicate slashes merged. Forms that servers disagree
//! on (encoded `/` or `\`, `%00`, raw backslashes, broken escapes) are refused instead of guessed at, because
//! a guess that differs from the upstream's is a way around the rules.

use std::fmt;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PathError {
    NotAbsolute,
    EncodedSlash,
    EncodedBackslash,
    Backslash,
    Nul,
    BadEncoding,
    ControlCharacter,
    Fragment,
    DotSegmentParameter,
    /// Escapes that decode to bytes that are not UTF-8 (overlong forms like `%c0%ae`, lone continuation
    /// bytes): servers decode them differently (RFC 3629 §10), some into `.` or `/`.
    InvalidUtf8,
}

impl PathError {
    pub fn code(self) -> &'static str {
        match self {
            PathError::NotAbsolute => "path_not_absolute",
            PathError::EncodedSlash => "path_encoded_slash",
            PathError::EncodedBackslash => "path_encoded_backslash",
            PathError::Backslash => "path_backslash",
            PathError::Nul => "path_nul",
            PathError::BadEncoding => "path_bad_encoding",
            PathError::ControlCharacter => "path_control_character",
            PathError::Fragment => "path_fragment",
            PathError::DotSegmentParameter => "path_dot_segment_parameter",
            PathError::InvalidUtf8 => "path_invalid_utf8",
        }
    }
}

impl fmt::Display for PathError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

/// Splits `:path` into the normalized path and the untouched query (which never takes part in matching).
pub fn normalize_path(raw: &str) -> Result<(String, Option<&str>), PathError> {
    let (path, query) = match raw.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (raw, None),
    };
    if !path.starts_with('/') {
        return Err(PathError::NotAbsolute);
    }
    let decoded = decode_unreserved(path)?;
    // `..;x` is a plain segment to RFC 3986 but a parent reference to servlet containers, which drop path
    // parameters first; refuse the disagreement rather than match `/public/..;/admin` as public.
    if decoded.split('/').any(|seg| seg.starts_with("..;") || seg.starts_with(".;")) {
        return Err(PathError::DotSegmentParameter);
    }
    Ok((remove_dot_segments(&decoded), query))
}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

fn decode_unreserved(path: &str) -> Result<String, PathError> {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut non_ascii_escape = false;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let (Some(h), Some(l)) =
                    (bytes.get(i + 1).and_then(|c| hex(*c)), bytes.get(i + 2).and_then(|c| hex(*c)))
                else {
                    return Err(PathError::BadEncoding);
                };
                let v = h * 16 + l;
                match v {
                    b'/' => return Err(PathError::EncodedSlash),
                    b'\\' => return Err(PathError::EncodedBackslash),
                    0 => return Err(PathError::Nul),
                    v if is_unreserved(v) => out.push(char::from(v)),
                    v => {
                        non_ascii_escape |= !v.is_ascii();
                        out.push_str(&format!("%{v:02X}"));
                    }
                }
                i += 3;
            }
            b'\\' => return Err(PathError::Backslash),
            b'#' => return Err(PathError::Fragment),
            0 => return Err(PathError::Nul),
            b if b < 0x20 || b == 0x7f || b == b' ' => return Err(PathError::ControlCharacter),
            _ => {
                // Copy whole UTF-8 sequences at once; `path` is a &str so boundaries are valid.
                let next = bytes
                    .get(i + 1..)
                    .and_then(|rest| rest.iter().position(|c| c.is_ascii()))
                    .map_or(bytes.len(), |p| i + 1 + p);
                out.push_str(path.get(i..next).unwrap_or_default());
                i = next;
            }
        }
    }
    if non_ascii_escape && !escapes_decode_to_utf8(&out) {
        return Err(PathError::InvalidUtf8);
    }
    Ok(out)
}

/// Whether the path, with every escape decoded, is UTF-8 (escapes are well-formed by now).
fn escapes_decode_to_utf8(path: &str) -> bool {
    let bytes = path.as_bytes();
    let mut decoded = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match (b, bytes.get(i + 1).and_then(|c| hex(*c)), bytes.get(i + 2).and_then(|c| hex(*c))) {
            (b'%', Some(h), Some(l)) => {
                decoded.push(h * 16 + l);
                i += 3;
            }
            _ => {
                decoded.push(b);
                i += 1;
            }
        }
    }
    std::str::from_utf8(&decoded).is_ok()
}

fn remove_dot_segments(path: &str) -> String {
    let mut stack: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for seg in path.split('/') {
        trailing_slash = false;
        match seg {
            // Empty segments are merged slashes; like `.` they leave a directory-style trailing slash.
            "" | "." => trailing_slash = true,
            ".." => {
                stack.pop();
                trailing_slash = true;
            }
            s => stack.push(s),
        }
    }
    let mut out = String::with_capacity(path.len());
    for s in &stack {
        out.push('/');
        out.push_str(s);
    }
    if trailing_slash || out.is_empty() {
        out.push('/');
    }
    out
}
