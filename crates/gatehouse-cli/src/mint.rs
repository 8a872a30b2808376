//! `gatehouse token mint`: signs a token, a Direct Access Token when a scope is given.

use std::time::{SystemTime, UNIX_EPOCH};

use gatehouse::b64;
use gatehouse::dat::{DEPLOYMENT_ID, ORGANIZATION_ID, SCOPE_TYPE, WORKSPACE_ID};
use gatehouse::jwt::{Alg, SigningKey};
use gatehouse::secret::Secret;
use rand_core::{OsRng, RngCore};
use serde_json::{json, Map, Value};

use crate::cli::{Encoding, MintArgs, Scope};
use crate::Failure;

/// An id a scope carries: its option, the value given, and its claim.
type ScopeId<'a> = (&'static str, &'a Option<String>, &'static str);

pub fn run(a: &MintArgs) -> Result<(), Failure> {
    let alg = a.alg.as_deref().and_then(Alg::parse);
    let key = if let Some(file) = &a.key {
        let text = std::fs::read_to_string(file).map_err(|e| format!("cannot read {file}: {e}"))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("{file}: not JSON: {e}"))?;
        // Accept a bare private JWK or the whole `gatehouse keygen` output.
        let jwk = v.get("private_jwk").unwrap_or(&v);
        let mut key = SigningKey::from_private_jwk(jwk, alg)?;
        if a.kid.is_some() {
            key.kid = a.kid.clone();
        }
        key
    } else if let Some(var) = &a.hmac_env {
        let raw = std::env::var(var).map_err(|_| format!("environment variable {var} is not set"))?;
        let bytes = match a.encoding {
            Encoding::Base64url => b64::decode_strict(raw.trim()).ok_or(format!("{var} is not base64url"))?,
            Encoding::Raw => raw.into_bytes(),
        };
        let alg = alg.ok_or(Failure::Usage("--hmac-env needs --alg HS256|HS384|HS512".into()))?;
        SigningKey::hmac(a.kid.clone(), alg, Secret::new(bytes)).map_err(Failure::Usage)?
    } else {
        // The parser's argument group requires one of the two.
        return Err(Failure::Usage("token mint needs --key FILE or --hmac-env VAR".into()));
    };

    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs();
    let mut claims = Map::new();
    claims.insert("iss".into(), json!(a.iss));
    claims.insert("aud".into(), json!(a.aud));
    claims.insert("sub".into(), json!(a.sub));
    claims.insert("iat".into(), json!(now));
    claims.insert("nbf".into(), json!(now));
    claims.insert("exp".into(), json!(now.saturating_add(a.ttl)));
    let mut jti = [0u8; 12];
    OsRng.fill_bytes(&mut jti);
    claims.insert("jti".into(), json!(a.jti.clone().unwrap_or_else(|| b64::encode(&jti))));
    if let Some(role) = &a.role {
        claims.insert("role".into(), json!(role));
    }
    if let Some(scope) = a.scope {
        let (name, ids): (&str, &[ScopeId<'_>]) = match scope {
            Scope::Organization => ("organization", &[("--org", &a.org, ORGANIZATION_ID)]),
            Scope::Workspace => {
                ("workspace", &[("--org", &a.org, ORGANIZATION_ID), ("--workspace", &a.workspace, WORKSPACE_ID)])
            }
            Scope::Deployment => (
                "deployment",
                &[
                    ("--org", &a.org, ORGANIZATION_ID),
                    ("--workspace", &a.workspace, WORKSPACE_ID),
                    ("--deployment", &a.deployment, DEPLOYMENT_ID),
                ],
            ),
        };
        // An id the scope does not carry would be dropped silently, and the token would reach more than
        // whoever minted it meant.
        let extra = [("--workspace", &a.workspace), ("--deployment", &a.deployment)]
            .into_iter()
            .find(|(flag, value)| value.is_some() && !ids.iter().any(|(f, _, _)| f == flag));
        if let Some((flag, _)) = extra {
            return Err(Failure::Usage(format!("{flag} does not belong in a {name}-scoped token")));
        }
        claims.insert(SCOPE_TYPE.to_string(), json!(name));
        for (flag, value, claim) in ids {
            let value = value.as_ref().ok_or_else(|| Failure::Usage(format!("--scope {name} needs {flag}")))?;
            claims.insert((*claim).to_string(), json!(value));
        }
    }
    for pair in &a.claim {
        let (name, value) =
            pair.split_once('=').ok_or_else(|| Failure::Usage(format!("--claim takes NAME=VALUE, not {pair:?}")))?;
        let value: Value = serde_json::from_str(value).unwrap_or_else(|_| json!(value));
        claims.insert(name.to_string(), value);
    }
    println!("{}", key.sign(&Value::Object(claims), &mut OsRng)?);
    Ok(())
}
