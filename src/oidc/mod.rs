//! OpenID Connect authorization code flow with PKCE (OIDC Core §3.1, RFC 7636, RFC 9700), as data: URLs,
//! form bodies and checks. The filter performs the one network call (the token request) out of band.

pub mod id_token;
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
