//! Splitting a sealed value over several cookies. Browsers keep at least 4096 bytes per cookie (RFC 6265
//! §6.1) including name and attributes, so values are cut at 3800 bytes: `name` when it fits, otherwise
//! `name.0`, `name.1`, … Reading takes `name` or the numbered run from 0; writing clears whatever chunks the
//! browser still holds beyond the new ones, so no stale tail can be glued to a fresh head.

pub const CHUNK_LEN: usize = 3800;
pub const MAX_CHUNKS: usize = 8;

pub fn chunk_name(base: &str, i: usize) -> String {
    format!("{base}.{i}")
}

/// The cookies to set for `value`, or `None` when it needs more than `MAX_CHUNKS` cookies.
pub fn split(base: &str, value: &str) -> Option<Vec<(String, String)>> {
    if value.len() <= CHUNK_LEN {
        return Some(vec![(base.to_owned(), value.to_owned())]);
    }
    // Sealed values are ASCII (base64url and dots), so byte offsets are character boundaries.
    let parts: Vec<&str> = value.as_bytes().chunks(CHUNK_LEN).filter_map(|c| std::str::from_utf8(c).ok()).collect();
    if parts.len() > MAX_CHUNKS || parts.iter().map(|p| p.len()).sum::<usize>() != value.len() {
        return None;
    }
    Some(parts.into_iter().enumerate().map(|(i, p)| (chunk_name(base, i), p.to_owned())).collect())
}

/// Reassembles the value from the request's cookies.
pub fn join(cookies: &[(&str, &str)], base: &str) -> Option<String> {
    let find = |name: &str| cookies.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
    if let Some(v) = find(base) {
        return Some(v.to_owned());
    }
    let mut out = String::new();
    for i in 0..MAX_CHUNKS {
        match find(&chunk_name(base, i)) {
            Some(v) => out.push_str(v),
            None if i == 0 => return None,
            None => break,
        }
    }
    Some(out)
}

/// Names of cookies of this family present in the request that a write of `written` does not replace.
pub fn stale(cookies: &[(&str, &str)], base: &str, written: &[(String, String)]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for (n, _) in cookies {
        if is_family(n, base) && !written.iter().any(|(w, _)| w == n) && !out.iter().any(|o| o == n) {
            out.push((*n).to_owned());
        }
    }
    out
}

pub fn is_family(name: &str, base: &str) -> bool {
    name == base
        || name.strip_prefix(base).and_then(|r| r.strip_prefix('.')).is_some_and(|i| i.parse::<usize>().is_ok())
}
