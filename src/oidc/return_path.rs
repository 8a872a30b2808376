//! Where to send the browser after sign-in. Only same-origin relative paths are kept; anything a browser
//! could read as another origin (`//evil`, `/\evil`, schemes, control characters, encoded whitespace or
//! slashes between leading slashes) falls back to `/`: the classic open-redirect payloads (RFC 9700 §4.11).

pub fn sanitize(raw: &str) -> String {
    if is_safe(raw) {
        raw.to_owned()
    } else {
        "/".to_owned()
    }
}

fn is_safe(p: &str) -> bool {
    if p.is_empty() || p.len() > 2048 || !p.starts_with('/') {
        return false;
    }
    if p.chars().any(|c| c.is_control() || c == '\\' || c.is_whitespace()) {
        return false;
    }
    // After decoding, the start of the path must still be a single slash followed by a non-slash: browsers
    // decode and normalize `/%2F`, `/%5C`, `/%09/` into a scheme-relative URL.
    let decoded: String = percent_decode_lossy(p);
    let mut chars = decoded.chars();
    chars.next();
    !matches!(chars.next(), Some('/' | '\\'))
        && !decoded.chars().any(|c| c.is_control() || c == '\\')
        && !decoded.starts_with("/ ")
}

fn percent_decode_lossy(p: &str) -> String {
    // Decode repeatedly: `%252F` is `%2F` after one pass and `/` after two.
    let mut cur = p.to_owned();
    for _ in 0..3 {
        let next: String =
            form_urlencoded::parse(format!("x={}", cur.replace('+', "%2B").replace('&', "%26")).as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default();
        if next == cur {
            break;
        }
        cur = next;
    }
    cur
}
