//! Host normalization for matching: `:authority` without port, lower-case, no trailing dot.

/// The host a route's `hosts` are matched against. An authority that is not `host[:port]` as RFC 3986
/// §3.2.2 spells it (control characters, a second colon, `@`, `/`, …) normalizes to the empty string, which
/// no configured host matches: a malformed authority can only reach routes that apply to every host.
pub fn normalize_host(authority: &str) -> String {
    let v6 = |h: &str| h.contains(':') && h.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
    if let Some(rest) = authority.strip_prefix('[') {
        // IPv6 literal (RFC 3986 §3.2.2): the brackets' content, with an optional port after `]`.
        let Some((inner, after)) = rest.split_once(']') else { return String::new() };
        let port_ok =
            after.is_empty() || after.strip_prefix(':').is_some_and(|p| p.bytes().all(|b| b.is_ascii_digit()));
        return if port_ok && v6(inner) { inner.to_ascii_lowercase() } else { String::new() };
    }
    // An IPv6 literal already without brackets (what this function returns for one).
    if authority.matches(':').count() >= 2 {
        return if v6(authority) { authority.to_ascii_lowercase() } else { String::new() };
    }
    let host = match authority.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) => h,
        Some(_) => return String::new(),
        None => authority,
    };
    let host = host.trim_end_matches('.');
    let reg_name = |c: char| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                '-' | '.' | '_' | '~' | '!' | '$' | '&' | '\'' | '(' | ')' | '*' | '+' | ',' | ';' | '=' | '%'
            )
    };
    if host.chars().all(reg_name) {
        host.to_ascii_lowercase()
    } else {
        String::new()
    }
}

#[cfg(test)]
mod tests {
    use super::normalize_host;

    #[test]
    fn hosts_lose_their_port_case_and_trailing_dot() {
        for (raw, want) in [
            ("Airflow.Example.COM:8443", "airflow.example.com"),
            ("airflow.example.com.", "airflow.example.com"),
            ("[::1]:10000", "::1"),
            ("127.0.0.1", "127.0.0.1"),
            ("", ""),
            // Found by fuzzing: `a.cdn.test::` lost one colon per pass and matched `*.cdn.test` only on the
            // second. Malformed authorities now match no configured host, and normalizing is idempotent.
            ("a.cdn.test::", ""),
            ("a.cdn.test:", "a.cdn.test"),
            ("\0a.cdn.test", ""),
            ("evil.test/x.cdn.test", ""),
            ("user@a.cdn.test", ""),
        ] {
            assert_eq!(normalize_host(raw), want, "{raw}");
            assert_eq!(normalize_host(&normalize_host(raw)), normalize_host(raw), "{raw} twice");
        }
    }
}
