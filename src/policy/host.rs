//! Host normalization for matching: `:authority` without port, lower-case, no trailing dot.

pub fn normalize_host(authority: &str) -> String {
    let host = if let Some(rest) = authority.strip_prefix('[') {
        // IPv6 literal (RFC 3986 §3.2.2): keep the brackets' content, drop the port after `]`.
        rest.split(']').next().unwrap_or(rest)
    } else {
        authority.rsplit_once(':').map_or(authority, |(h, port)| {
            if port.bytes().all(|b| b.is_ascii_digit()) {
                h
            } else {
                authority
            }
        })
    };
    host.trim_end_matches('.').to_ascii_lowercase()
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
        ] {
            assert_eq!(normalize_host(raw), want, "{raw}");
        }
    }
}
