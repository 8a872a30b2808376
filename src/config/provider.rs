//! `session.provider`: the OpenID provider people sign in with (its endpoints, client credentials, keys)
//! and how its tokens are refreshed.

use serde_json::Value;

use super::fields;
use super::reader::{kind, Obj};
use super::{ConfigErrors, Env};
use crate::jwt::jwk::verify_key_from_jwk;
use crate::jwt::{Issuer, IssuerKind};
use crate::secret::Secret;

#[derive(Clone, Debug)]
pub struct TokenEndpoint {
    pub cluster: String,
    pub authority: String,
    pub path: String,
    pub timeout_ms: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ClientAuth {
    /// RFC 6749 §2.3.1 HTTP Basic with form-encoded id and secret.
    Basic,
    /// The same credentials in the request body.
    Post,
}

#[derive(Debug)]
pub struct Provider {
    /// The provider as a token issuer: its `iss`, our client id as audience, its pinned keys.
    pub issuer: Issuer,
    pub client_id: String,
    pub client_secret: Secret,
    pub client_auth: ClientAuth,
    /// Empty with `discover_endpoints` (see `Provider::endpoints`).
    pub authorization_endpoint: String,
    /// Its `path` is empty with `discover_endpoints`.
    pub token_endpoint: TokenEndpoint,
    pub end_session_endpoint: Option<String>,
    /// The endpoints come from the provider's discovery document.
    pub discover_endpoints: bool,
    pub scopes: Vec<String>,
    pub audience: Option<String>,
    pub extra_params: Vec<(String, String)>,
    pub roles_claim: Option<String>,
    /// Keep the provider's refresh token in the session and renew shortly before the provider's tokens
    /// expire, so a revoked account ends its sessions (`invalid_grant`).
    pub keep_refresh_token: bool,
    pub refresh_before_seconds: u64,
    /// How long past the provider's expiry a session keeps working while refreshes fail transiently.
    pub refresh_grace_seconds: u64,
    /// After a call to the provider failed transiently, new sign-ins get the outage page for this long
    /// (or until a call succeeds) instead of a redirect to a provider that does not answer.
    pub outage_backoff_seconds: u64,
    /// `end_session_endpoint` speaks OIDC RP-Initiated Logout (`id_token_hint`, `post_logout_redirect_uri`),
    /// or Auth0's `/v2/logout` (`client_id`, `returnTo`).
    pub auth0_logout: bool,
    /// RFC 9207 §2.4: the provider says it sends `iss` with every authorization response, so a callback
    /// without it is refused (with it, it must equal the issuer either way).
    pub iss_parameter_required: bool,
}

/// The endpoints a sign-in uses, configured or discovered.
pub struct ProviderEndpoints<'a> {
    pub authorization: &'a str,
    pub token: TokenEndpoint,
    pub end_session: Option<&'a str>,
}

impl Provider {
    /// The configured endpoints, or with `discover_endpoints` the ones this VM last read from the discovery
    /// document (`None` until the document has been fetched: sign-ins then get the outage answer).
    pub fn endpoints<'a>(&'a self, remote: &'a crate::jwks::RemoteKeys) -> Option<ProviderEndpoints<'a>> {
        if !self.discover_endpoints {
            return Some(ProviderEndpoints {
                authorization: &self.authorization_endpoint,
                token: self.token_endpoint.clone(),
                end_session: self.end_session_endpoint.as_deref(),
            });
        }
        let found = remote.endpoints.get(&self.issuer.name)?;
        Some(ProviderEndpoints {
            authorization: &found.authorization,
            token: TokenEndpoint { path: found.token_path.clone(), ..self.token_endpoint.clone() },
            end_session: found.end_session.as_deref(),
        })
    }

    /// Whether sign-out may send the browser to an end-session endpoint (so sessions keep the ID token
    /// for its `id_token_hint`).
    pub fn may_end_session(&self) -> bool {
        self.end_session_endpoint.is_some() || self.discover_endpoints
    }
}

/// An absolute URL we send browsers to or compare against. https only, except on loopback where tests and
/// `func-e` demos run.
pub(super) fn url(errs: &mut ConfigErrors, path: &str, value: &str) -> Option<(String, String)> {
    let (scheme, rest) = value.split_once("://").unwrap_or(("", value));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = crate::policy::host::normalize_host(authority);
    // RFC 6761 §6.3: `localhost` and every name under it are the loopback host.
    let name = host.split(':').next().unwrap_or("");
    let loopback = host == "127.0.0.1" || name == "localhost" || name.ends_with(".localhost") || host == "::1";
    let ok = !authority.is_empty()
        && (scheme == "https" || (scheme == "http" && loopback))
        && !value.chars().any(|c| c.is_whitespace() || c.is_control());
    if !ok {
        errs.push(path, format!("expected an absolute https URL (http only on loopback); got {value:?}"));
        return None;
    }
    let path_part = rest.get(authority.len()..).unwrap_or("");
    let path_only = path_part.split(['?', '#']).next().unwrap_or("");
    Some((value.to_owned(), if path_only.is_empty() { "/".to_owned() } else { path_only.to_owned() }))
}

pub(super) fn load_provider(errs: &mut ConfigErrors, path: &str, v: &Value, env: Env<'_>) -> Option<Provider> {
    let o = Obj::open(errs, path, v, &fields::PROVIDER)?;
    let issuer = o.string(errs, "issuer").map(str::to_owned);
    let client_id = o.string(errs, "client_id").map(str::to_owned);
    let secret = o.string(errs, "client_secret_env").and_then(|var| match env(var) {
        Some(s) if !s.is_empty() => Some(Secret::new(s.into_bytes())),
        _ => {
            errs.push(
                o.at("client_secret_env"),
                format!("environment variable {var} is not set in the VM (vm_config.environment_variables)"),
            );
            None
        }
    });
    let client_auth = o
        .choice(
            errs,
            "client_auth",
            &[("client_secret_basic", ClientAuth::Basic), ("client_secret_post", ClientAuth::Post)],
        )
        .unwrap_or(ClientAuth::Basic);
    // With discovery the endpoints come from the provider's document; without, they are configured.
    let discover = o.flag(errs, "discover_endpoints");
    if discover {
        for key in ["authorization_endpoint", "end_session_endpoint"] {
            if o.has(key) {
                errs.push(o.at(key), "comes from the discovery document with discover_endpoints; remove it");
            }
        }
        let discovery = o.get("remote_jwks").and_then(|r| r.get("discovery_path"));
        if discovery.is_none() {
            errs.push(o.at("discover_endpoints"), "needs remote_jwks.discovery_path: the document to read them from");
        }
    } else if !o.has("authorization_endpoint") {
        errs.push(o.at("authorization_endpoint"), "required (or \"discover_endpoints\": true)");
    }
    let authz = o
        .opt_string(errs, "authorization_endpoint")
        .and_then(|u| url(errs, &o.at("authorization_endpoint"), u))
        .map(|(u, _)| u);
    let end_session = o
        .opt_string(errs, "end_session_endpoint")
        .and_then(|u| url(errs, &o.at("end_session_endpoint"), u))
        .map(|(u, _)| u);
    let token_endpoint = o.required(errs, "token_endpoint").and_then(|t| {
        let p = o.at("token_endpoint");
        let t = Obj::open(errs, &p, t, &fields::TOKEN_ENDPOINT)?;
        let cluster = t.string(errs, "cluster")?.to_owned();
        let authority = t.string(errs, "authority")?.to_owned();
        let tpath = t.opt_string(errs, "path").unwrap_or_default().to_owned();
        match (discover, t.has("path")) {
            (true, true) => {
                errs.push(t.at("path"), "comes from the discovery document with discover_endpoints; remove it")
            }
            (false, false) => errs.push(t.at("path"), "required (or \"discover_endpoints\": true)"),
            (false, true) if !tpath.starts_with('/') => errs.push(t.at("path"), "expected a path starting with \"/\""),
            _ => {}
        }
        let timeout_ms = t.int(errs, "timeout_ms") as u32;
        Some(TokenEndpoint { cluster, authority, path: tpath, timeout_ms })
    });
    let mut keys = Vec::new();
    let remote_jwks = o
        .get("remote_jwks")
        .and_then(|v| super::issuers::load_remote(errs, &o.at("remote_jwks"), v))
        .map(|r| crate::jwks::RemoteJwks { endpoints: discover, ..r });
    if !o.has("jwks") && remote_jwks.is_none() && !o.has("remote_jwks") {
        errs.push(
            o.at("jwks"),
            "required: the provider's signing keys, pinned (\"jwks\") or fetched (\"remote_jwks\")",
        );
    }
    if let Some(jwks) = o.get("jwks") {
        let kp = format!("{}.keys", o.at("jwks"));
        match jwks.get("keys").and_then(Value::as_array) {
            Some(list) if !list.is_empty() => {
                for (i, jwk) in list.iter().enumerate() {
                    match verify_key_from_jwk(jwk) {
                        Ok(k) => keys.push(k),
                        Err(problems) => {
                            for (member, msg) in problems {
                                errs.push(format!("{kp}[{i}]{member}"), msg);
                            }
                        }
                    }
                }
            }
            _ => errs.push(
                &kp,
                format!("expected a non-empty array of JWKs; got {}", jwks.get("keys").map_or("nothing", kind)),
            ),
        }
    }
    let scopes = if o.has("scopes") {
        o.string_list(errs, "scopes")
    } else {
        vec!["openid".into(), "profile".into(), "email".into()]
    };
    if !scopes.iter().any(|s| s == "openid") {
        errs.push(o.at("scopes"), "must include \"openid\" (OIDC Core §3.1.2.1)");
    }
    let audience = o.opt_string(errs, "audience").map(str::to_owned);
    let mut extra_params = Vec::new();
    if let Some(v) = o.get("extra_params") {
        match v.as_object() {
            Some(map) => {
                for (k, val) in map {
                    const OURS: [&str; 8] = [
                        "response_type",
                        "client_id",
                        "redirect_uri",
                        "scope",
                        "state",
                        "nonce",
                        "code_challenge",
                        "code_challenge_method",
                    ];
                    match val.as_str() {
                        Some(_) if OURS.contains(&k.as_str()) => {
                            errs.push(format!("{}.{k}", o.at("extra_params")), "set by Gatehouse; cannot be overridden")
                        }
                        Some(s) => extra_params.push((k.clone(), s.to_owned())),
                        None => errs.push(
                            format!("{}.{k}", o.at("extra_params")),
                            format!("expected a string; got {}", kind(val)),
                        ),
                    }
                }
            }
            None => errs.push(o.at("extra_params"), format!("expected an object of strings; got {}", kind(v))),
        }
    }
    let roles_claim = o.opt_string(errs, "roles_claim").map(str::to_owned);
    let leeway = o.int(errs, "leeway_seconds");
    let keep_refresh_token = o.flag(errs, "keep_refresh_token");
    let auth0_logout = o.choice(errs, "logout_style", &[("oidc", false), ("auth0", true)]).unwrap_or(false);
    let iss_parameter_required = o.flag(errs, "authorization_response_iss_parameter_supported");
    let refresh_before_seconds = o.int(errs, "refresh_before_seconds");
    let refresh_grace_seconds = o.int(errs, "refresh_grace_seconds");
    let outage_backoff_seconds = o.int(errs, "outage_backoff_seconds");
    if keep_refresh_token && !scopes.iter().any(|s| s == "offline_access") && !o.has("extra_params") {
        errs.push(o.at("scopes"), "keep_refresh_token needs the \"offline_access\" scope (OIDC Core §11) or a provider parameter that grants refresh tokens");
    }
    let (Some(iss), Some(client_id), Some(client_secret), Some(token_endpoint)) =
        (issuer, client_id, secret, token_endpoint)
    else {
        return None;
    };
    let authorization_endpoint = authz.unwrap_or_default();
    let issuer = Issuer {
        name: "oidc".into(),
        issuer: iss,
        audiences: vec![client_id.clone()],
        kind: IssuerKind::AccessToken,
        keys,
        require_exp: true,
        max_lifetime_seconds: None,
        leeway_seconds: leeway,
        role_claim: None,
        permissions_claim: None,
        revoked_token_ids: Default::default(),
        subject_not_before: Default::default(),
        remote_jwks,
        forward_claims: Vec::new(),
        forward_payload_header: None,
        forward: false,
    };
    Some(Provider {
        issuer,
        client_id,
        client_secret,
        client_auth,
        authorization_endpoint,
        token_endpoint,
        discover_endpoints: discover,
        end_session_endpoint: end_session,
        scopes,
        audience,
        extra_params,
        roles_claim,
        keep_refresh_token,
        refresh_before_seconds,
        refresh_grace_seconds,
        outage_backoff_seconds,
        auth0_logout,
        iss_parameter_required,
    })
}
