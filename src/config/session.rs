//! `session` (browser login against an OpenID provider) and `upstream_token` (the Airflow JWT mint).

use std::collections::HashMap;

use serde_json::Value;

use super::fields;
use super::reader::{kind, Obj};
use super::{ConfigErrors, Env};
use crate::b64;
use crate::jwt::jwk::verify_key_from_jwk;
use crate::jwt::{Alg, Issuer, IssuerKind, SigningKey};
use crate::mint::{Minter, AIRFLOW_ROLES};
use crate::policy::normalize_path;
use crate::secret::Secret;
use crate::session::cookies::{CookieAttributes, SameSite};
use crate::session::KeyRing;

#[derive(Debug)]
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
    pub authorization_endpoint: String,
    pub token_endpoint: TokenEndpoint,
    pub end_session_endpoint: Option<String>,
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
}

#[derive(Debug)]
pub struct SessionConfig {
    pub cookie_name: String,
    pub attributes: CookieAttributes,
    pub keys: KeyRing,
    pub lifetime_seconds: u64,
    pub idle_timeout_seconds: u64,
    pub flow_lifetime_seconds: u64,
    pub provider: Provider,
    pub redirect_uri: String,
    pub callback_path: String,
    pub logout_path: String,
    pub post_logout_redirect_uri: Option<String>,
    pub login_paths: Vec<String>,
    pub logout_paths: Vec<String>,
}

impl SessionConfig {
    pub fn flow_cookie_name(&self, state: &str) -> String {
        let tag: String = state.chars().take(16).collect();
        format!("{}-flow-{tag}", self.cookie_name)
    }

    pub fn is_flow_cookie(&self, name: &str) -> bool {
        name.starts_with(&format!("{}-flow-", self.cookie_name))
    }
}

/// An absolute URL we send browsers to or compare against. https only, except on loopback where tests and
/// `func-e` demos run.
fn url(errs: &mut ConfigErrors, path: &str, value: &str) -> Option<(String, String)> {
    let (scheme, rest) = value.split_once("://").unwrap_or(("", value));
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = crate::policy::host::normalize_host(authority);
    let loopback = host == "127.0.0.1" || host == "localhost" || host == "::1";
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

fn paths(errs: &mut ConfigErrors, o: &Obj<'_>, key: &str, default: &[&str]) -> Vec<String> {
    let list = if o.has(key) { o.string_list(errs, key) } else { default.iter().map(|s| (*s).to_owned()).collect() };
    for (i, p) in list.iter().enumerate() {
        if normalize_path(p).map(|(n, q)| n != *p || q.is_some()).unwrap_or(true) {
            errs.push(format!("{}[{i}]", o.at(key)), format!("{p:?} is not a normalized path"));
        }
    }
    list
}

pub(super) fn load_session(errs: &mut ConfigErrors, top: &Obj<'_>, env: Env<'_>) -> Option<SessionConfig> {
    let v = top.get("session")?;
    let o = Obj::open(errs, &top.at("session"), v, &fields::SESSION)?;
    let cookie_name = o.opt_string(errs, "cookie_name").unwrap_or("__Host-gatehouse").to_owned();
    if !cookie_name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b)) {
        errs.push(o.at("cookie_name"), "expected letters, digits, '-' and '_' only");
    }
    let secure = o.flag(errs, "secure");
    let same_site = o
        .choice(errs, "same_site", &[("strict", SameSite::Strict), ("lax", SameSite::Lax), ("none", SameSite::None)])
        .unwrap_or(SameSite::Lax);
    let cookie_path = o.opt_string(errs, "path").unwrap_or("/").to_owned();
    let domain = o.opt_string(errs, "domain").map(str::to_owned);
    // RFC 6265bis §4.1.3: `__Host-` cookies are Secure, Path=/ and host-only; `__Secure-` cookies are Secure.
    if cookie_name.starts_with("__Host-") && (!secure || cookie_path != "/" || domain.is_some()) {
        errs.push(o.at("cookie_name"), "a __Host- cookie needs secure: true, path \"/\" and no domain");
    }
    if cookie_name.starts_with("__Secure-") && !secure {
        errs.push(o.at("cookie_name"), "a __Secure- cookie needs secure: true");
    }
    if same_site == SameSite::None && !secure {
        errs.push(o.at("same_site"), "SameSite=None cookies must be secure");
    }
    let keys = match o.string(errs, "keys_env") {
        Some(var) => match env(var) {
            Some(value) => match KeyRing::parse(&value) {
                Ok(r) => Some(r),
                Err(e) => {
                    errs.push(o.at("keys_env"), format!("environment variable {var}: {e}"));
                    None
                }
            },
            None => {
                errs.push(
                    o.at("keys_env"),
                    format!("environment variable {var} is not set in the VM (vm_config.environment_variables)"),
                );
                None
            }
        },
        None => None,
    };
    let lifetime = o.int(errs, "lifetime_seconds");
    let idle = o.int(errs, "idle_timeout_seconds");
    let flow = o.int(errs, "flow_lifetime_seconds");
    let redirect = o.string(errs, "redirect_uri").and_then(|u| url(errs, &o.at("redirect_uri"), u));
    let logout_path = o.opt_string(errs, "logout_path").unwrap_or("/oauth2/sign_out").to_owned();
    let post_logout = o
        .opt_string(errs, "post_logout_redirect_uri")
        .and_then(|u| url(errs, &o.at("post_logout_redirect_uri"), u))
        .map(|(u, _)| u);
    let login_paths = paths(errs, &o, "login_paths", &["/api/v2/auth/login", "/auth/login"]);
    let logout_paths = paths(errs, &o, "logout_paths", &["/api/v2/auth/logout"]);
    let provider = o.required(errs, "provider").and_then(|p| load_provider(errs, &o.at("provider"), p, env));
    let (Some(keys), Some((redirect_uri, callback_path)), Some(provider)) = (keys, redirect, provider) else {
        return None;
    };
    Some(SessionConfig {
        cookie_name,
        attributes: CookieAttributes { secure, http_only: true, same_site, path: cookie_path, domain },
        keys,
        lifetime_seconds: lifetime,
        idle_timeout_seconds: idle,
        flow_lifetime_seconds: flow,
        provider,
        redirect_uri,
        callback_path,
        logout_path,
        post_logout_redirect_uri: post_logout,
        login_paths,
        logout_paths,
    })
}

fn load_provider(errs: &mut ConfigErrors, path: &str, v: &Value, env: Env<'_>) -> Option<Provider> {
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
    let authz = o
        .string(errs, "authorization_endpoint")
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
        let tpath = t.string(errs, "path")?.to_owned();
        if !tpath.starts_with('/') {
            errs.push(t.at("path"), "expected a path starting with \"/\"");
        }
        let timeout_ms = t.int(errs, "timeout_ms") as u32;
        Some(TokenEndpoint { cluster, authority, path: tpath, timeout_ms })
    });
    let mut keys = Vec::new();
    let remote_jwks = o.get("remote_jwks").and_then(|v| super::issuers::load_remote(errs, &o.at("remote_jwks"), v));
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
    let refresh_before_seconds = o.int(errs, "refresh_before_seconds");
    let refresh_grace_seconds = o.int(errs, "refresh_grace_seconds");
    let outage_backoff_seconds = o.int(errs, "outage_backoff_seconds");
    if keep_refresh_token && !scopes.iter().any(|s| s == "offline_access") && !o.has("extra_params") {
        errs.push(o.at("scopes"), "keep_refresh_token needs the \"offline_access\" scope (OIDC Core §11) or a provider parameter that grants refresh tokens");
    }
    let (Some(iss), Some(client_id), Some(client_secret), Some(authorization_endpoint), Some(token_endpoint)) =
        (issuer, client_id, secret, authz, token_endpoint)
    else {
        return None;
    };
    let issuer = Issuer {
        name: "oidc".into(),
        issuer: iss,
        audiences: vec![client_id.clone()],
        kind: IssuerKind::AccessToken,
        keys,
        require_exp: true,
        leeway_seconds: leeway,
        role_claim: None,
        permissions_claim: None,
        revoked_token_ids: Default::default(),
        subject_not_before: Default::default(),
        remote_jwks,
    };
    Some(Provider {
        issuer,
        client_id,
        client_secret,
        client_auth,
        authorization_endpoint,
        token_endpoint,
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
    })
}

/// RFC 8693 token exchange: the provider's token for the person is exchanged, out of band, for the
/// upstream's token at sign-in, and the result is kept in the session.
#[derive(Debug)]
pub struct Exchange {
    pub endpoint: TokenEndpoint,
    pub audience: String,
    /// Which of the provider's tokens is the subject token: `id_token` or `access_token`.
    pub subject_id_token: bool,
    pub requested_token_type: Option<String>,
}

#[derive(Debug, Default)]
pub struct UpstreamToken {
    pub minter: Option<Minter>,
    pub exchange: Option<Exchange>,
}

pub(super) fn load_upstream_token(errs: &mut ConfigErrors, top: &Obj<'_>, env: Env<'_>) -> UpstreamToken {
    let Some(v) = top.get("upstream_token") else { return UpstreamToken::default() };
    let Some(o) = Obj::open(errs, &top.at("upstream_token"), v, &fields::UPSTREAM_TOKEN) else {
        return UpstreamToken::default();
    };
    let exchange_mode = o.choice(errs, "mode", &[("mint", false), ("exchange", true)]).unwrap_or(false);
    let exchange = match (exchange_mode, o.get("exchange")) {
        (true, Some(e)) => load_exchange(errs, &o.at("exchange"), e),
        (true, None) => {
            errs.push(o.at("exchange"), "mode \"exchange\" needs the token exchange endpoint (RFC 8693)");
            None
        }
        (false, Some(_)) => {
            errs.push(o.at("exchange"), "only used with mode \"exchange\"");
            None
        }
        (false, None) => None,
    };
    let audience = o.opt_string(errs, "audience").unwrap_or("apache-airflow").to_owned();
    let issuer = o.opt_string(errs, "issuer").map(str::to_owned);
    let ttl = o.int(errs, "ttl_seconds");
    let role_table = |errs: &mut ConfigErrors, key: &str| -> HashMap<String, String> {
        let mut out = HashMap::new();
        if let Some(v) = o.get(key) {
            let Some(map) = v.as_object() else {
                errs.push(o.at(key), format!("expected an object of role to Airflow role; got {}", kind(v)));
                return out;
            };
            for (from, to) in map {
                match to.as_str() {
                    Some(r) if AIRFLOW_ROLES.contains(&r) => {
                        out.insert(from.clone(), r.to_owned());
                    }
                    _ => errs.push(
                        format!("{}.{from}", o.at(key)),
                        format!("expected one of {}; got {to}", AIRFLOW_ROLES.join(", ")),
                    ),
                }
            }
        }
        out
    };
    let roles = role_table(errs, "roles");
    let direct_access_roles = role_table(errs, "direct_access_roles");
    let default_role = o.opt_string(errs, "default_role").map(str::to_owned);
    if let Some(r) = &default_role {
        if !AIRFLOW_ROLES.contains(&r.as_str()) {
            errs.push(o.at("default_role"), format!("expected one of {}; got {r:?}", AIRFLOW_ROLES.join(", ")));
        }
    }
    // With exchange, signing is optional: it then serves Direct Access Tokens only.
    let key = if exchange_mode {
        o.get("signing").and_then(|s| load_signing(errs, &o.at("signing"), s, env))
    } else {
        o.required(errs, "signing").and_then(|s| load_signing(errs, &o.at("signing"), s, env))
    };
    let minter =
        key.map(|key| Minter { audience, issuer, ttl_seconds: ttl, key, roles, default_role, direct_access_roles });
    UpstreamToken { minter, exchange }
}

fn load_exchange(errs: &mut ConfigErrors, path: &str, v: &Value) -> Option<Exchange> {
    let o = Obj::open(errs, path, v, &fields::EXCHANGE)?;
    let cluster = o.string(errs, "cluster").map(str::to_owned);
    let authority = o.string(errs, "authority").map(str::to_owned);
    let epath = o.string(errs, "path").map(str::to_owned);
    if epath.as_deref().is_some_and(|p| !p.starts_with('/')) {
        errs.push(o.at("path"), "expected a path starting with \"/\"");
    }
    let timeout_ms = o.int(errs, "timeout_ms") as u32;
    let audience = o.opt_string(errs, "audience").unwrap_or("apache-airflow").to_owned();
    let subject_id_token =
        o.choice(errs, "subject_token", &[("id_token", true), ("access_token", false)]).unwrap_or(true);
    let requested_token_type = o.opt_string(errs, "requested_token_type").map(str::to_owned);
    Some(Exchange {
        endpoint: TokenEndpoint { cluster: cluster?, authority: authority?, path: epath?, timeout_ms },
        audience,
        subject_id_token,
        requested_token_type,
    })
}

fn load_signing(errs: &mut ConfigErrors, path: &str, v: &Value, env: Env<'_>) -> Option<SigningKey> {
    let o = Obj::open(errs, path, v, &fields::SIGNING)?;
    let alg = o.string(errs, "alg").and_then(|a| match Alg::parse(a) {
        Some(alg @ (Alg::HS512 | Alg::HS256 | Alg::HS384 | Alg::EdDSA | Alg::ES256 | Alg::RS256)) => Some(alg),
        _ => {
            errs.push(o.at("alg"), format!("expected HS512, EdDSA, ES256 or RS256; got {a:?}"));
            None
        }
    })?;
    let kid = o.opt_string(errs, "kid").map(str::to_owned);
    if alg.is_hmac() {
        let var = o.string(errs, "secret_env")?;
        let Some(raw) = env(var) else {
            errs.push(
                o.at("secret_env"),
                format!("environment variable {var} is not set in the VM (vm_config.environment_variables)"),
            );
            return None;
        };
        let bytes = match o.opt_string(errs, "encoding").unwrap_or("raw") {
            "base64url" => b64::decode_strict(raw.trim()),
            _ => Some(raw.into_bytes()),
        };
        let Some(bytes) = bytes else {
            errs.push(o.at("secret_env"), format!("environment variable {var} is not base64url"));
            return None;
        };
        return SigningKey::hmac(kid, alg, Secret::new(bytes))
            .map_err(|e| errs.push(o.at("secret_env"), format!("{var}: {e}")))
            .ok();
    }
    let var = o.string(errs, "private_jwk_env")?;
    let Some(raw) = env(var) else {
        errs.push(
            o.at("private_jwk_env"),
            format!("environment variable {var} is not set in the VM (vm_config.environment_variables)"),
        );
        return None;
    };
    let jwk: Value = match serde_json::from_str(&raw) {
        Ok(j) => j,
        Err(_) => {
            errs.push(o.at("private_jwk_env"), format!("environment variable {var} is not a JSON private JWK"));
            return None;
        }
    };
    let mut key = SigningKey::from_private_jwk(&jwk, Some(alg))
        .map_err(|e| errs.push(o.at("private_jwk_env"), format!("{var}: {e}")))
        .ok()?;
    if kid.is_some() {
        key.kid = kid;
    }
    if key.kid.is_none() {
        errs.push(o.at("kid"), "asymmetric upstream tokens need a kid (Airflow picks the JWKS key by kid)");
    }
    Some(key)
}
