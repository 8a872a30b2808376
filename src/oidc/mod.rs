//! OpenID Connect authorization code flow with PKCE (OIDC Core §3.1, RFC 7636, RFC 9700), as data: URLs,
//! form bodies and checks. The filter performs the one network call (the token request) out of band.

pub mod id_token;
pub mod logout_token;
pub mod pkce;
pub mod return_path;
pub mod token_response;

/// `application/x-www-form-urlencoded` (RFC 6749 Appendix B) for token requests and query strings.
pub fn form(pairs: &[(&str, &str)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in pairs {
        s.append_pair(k, v);
    }
    s.finish()
}

/// The first value of `name` in a query string, percent-decoded.
pub fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes()).find(|(k, _)| k == name).map(|(_, v)| v.into_owned())
}

/// Whether a parameter occurs more than once: RFC 6749 §3.1 says request and response parameters "MUST NOT be
/// included more than once", and a server reading the first copy and a client the last would disagree.
pub fn repeated_param(query: &str, names: &[&str]) -> bool {
    let mut seen = [0u8; 8];
    for (k, _) in form_urlencoded::parse(query.as_bytes()) {
        if let Some(i) = names.iter().position(|n| *n == k) {
            if let Some(count) = seen.get_mut(i) {
                *count += 1;
                if *count > 1 {
                    return true;
                }
            }
        }
    }
    false
}
