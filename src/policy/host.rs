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

/// How request authorities are compared with routes' `hosts`. It must agree with the HTTP connection
/// manager in front of the upstream (`strip_any_host_port`, `strip_trailing_host_dot`, both off by default):
/// if Gatehouse matched `static.example.com:443` to a `static.example.com` route while Envoy's virtual hosts
/// sent it elsewhere, a public host-specific route would open another host's paths (found by the
/// hostile-request suite).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HostMatching {
    pub strip_port: bool,
    pub strip_trailing_dot: bool,
}

/// The authority as routes see it: lower case, with the port and trailing dot removed only when the proxy
/// does the same. Anything that is not `host[:port]` (RFC 3986 §3.2.2) becomes the empty string, which no
/// configured host matches.
pub fn route_host(authority: &str, m: HostMatching) -> String {
    let lower = authority.to_ascii_lowercase();
    let (host, port) = split_port(&lower);
    let Some(host) = host else { return String::new() };
    let host = if m.strip_trailing_dot { host.strip_suffix('.').unwrap_or(host) } else { host };
    match port {
        Some(p) if !m.strip_port => format!("{host}:{p}"),
        _ => host.to_owned(),
    }
}

/// (host, port): `None` for the host when the authority is malformed. IPv6 literals keep their brackets.
fn split_port(a: &str) -> (Option<&str>, Option<&str>) {
    let digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    if a.starts_with('[') {
        let Some(end) = a.find(']') else { return (None, None) };
        let (host, after) = a.split_at(end + 1);
        let inner = host.get(1..host.len() - 1).unwrap_or("");
        let v6 = !inner.is_empty() && inner.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.');
        return match (v6, after.strip_prefix(':')) {
            (true, None) if after.is_empty() => (Some(host), None),
            (true, Some(p)) if digits(p) => (Some(host), Some(p)),
            _ => (None, None),
        };
    }
    let (host, port) = match a.split_once(':') {
        Some((h, p)) if digits(p) => (h, Some(p)),
        Some(_) => return (None, None),
        None => (a, None),
    };
    let reg_name = |c: char| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                '-' | '.' | '_' | '~' | '!' | '$' | '&' | '\'' | '(' | ')' | '*' | '+' | ',' | ';' | '=' | '%'
            )
    };
    if host.chars().all(reg_name) {
        (Some(host), port)
    } else {
        (None, None)
    }
}

#[cfg(test)]
mod tests {
    use super::{normalize_host, route_host, HostMatching};

    #[test]
    fn route_hosts_keep_port_and_trailing_dot_unless_the_proxy_strips_them_too() {
        let exact = HostMatching::default();
        let strip = HostMatching { strip_port: true, strip_trailing_dot: true };
        for (raw, want_exact, want_strip) in [
            ("Static.Test", "static.test", "static.test"),
            ("static.test:443", "static.test:443", "static.test"),
            ("static.test.", "static.test.", "static.test"),
            ("static.test.:80", "static.test.:80", "static.test"),
            ("[::1]:10000", "[::1]:10000", "[::1]"),
            ("a.test::", "", ""),
            ("a.test:x", "", ""),
            ("user@a.test", "", ""),
            ("\0a.test", "", ""),
            ("[::1", "", ""),
        ] {
            assert_eq!(route_host(raw, exact), want_exact, "{raw}");
            assert_eq!(route_host(raw, strip), want_strip, "{raw} stripped");
            assert_eq!(route_host(&route_host(raw, exact), exact), want_exact, "{raw} twice");
        }
    }

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
