//! `upstream_token`: what the upstream gets instead of the client's credential: an Airflow 3 JWT minted
//! here, or one exchanged for the provider's token at sign-in (RFC 8693).

use std::collections::HashMap;

use serde_json::Value;

use super::fields;
use super::provider::TokenEndpoint;
use super::reader::{kind, Obj};
use super::{ConfigErrors, Env};
use crate::b64;
use crate::jwt::{Alg, SigningKey};
use crate::mint::{Minter, AIRFLOW_ROLES};
use crate::secret::Secret;

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
    let Some(o) = Obj::open(errs, top.at("upstream_token"), v, &fields::UPSTREAM_TOKEN) else {
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
