//! `gatehouse token mint`: signs a token, a Direct Access Token when a scope is given.

use std::time::{SystemTime, UNIX_EPOCH};

use gatehouse::b64;
use gatehouse::dat::{DEPLOYMENT_ID, ORGANIZATION_ID, SCOPE_TYPE, WORKSPACE_ID};
use gatehouse::jwt::{Alg, SigningKey};
use gatehouse::secret::Secret;
use rand_core::{OsRng, RngCore};
use serde_json::{json, Map, Value};

use crate::{flag, flags};

pub fn run(args: &[String]) -> Result<(), String> {
    let alg = flag(args, "--alg")
        .map(|a| Alg::parse(&a).ok_or(format!("unknown --alg {a:?}; expected one of {}", Alg::names())))
        .transpose()?;
    let kid = flag(args, "--kid");
    let key = if let Some(file) = flag(args, "--key") {
        let text = std::fs::read_to_string(&file).map_err(|e| format!("cannot read {file}: {e}"))?;
        let v: Value = serde_json::from_str(&text).map_err(|e| format!("{file}: not JSON: {e}"))?;
        // Accept a bare private JWK or the whole `gatehouse keygen` output.
        let jwk = v.get("private_jwk").unwrap_or(&v);
        let mut key = SigningKey::from_private_jwk(jwk, alg)?;
        if kid.is_some() {
            key.kid = kid;
        }
        key
    } else if let Some(var) = flag(args, "--hmac-env") {
        let raw = std::env::var(&var).map_err(|_| format!("environment variable {var} is not set"))?;
        let bytes = match flag(args, "--encoding").as_deref() {
            Some("base64url") => b64::decode_strict(raw.trim()).ok_or(format!("{var} is not base64url"))?,
            _ => raw.into_bytes(),
        };
        SigningKey::hmac(kid, alg.ok_or("--hmac-env needs --alg HS256|HS384|HS512")?, Secret::new(bytes))?
    } else {
        return Err("token mint needs --key FILE or --hmac-env VAR".into());
    };

    let now = SystemTime::now().duration_since(UNIX_EPOCH).map_err(|e| e.to_string())?.as_secs();
    let ttl: u64 = flag(args, "--ttl").map_or(Ok(3600), |t| t.parse()).map_err(|_| "--ttl must be seconds")?;
    let claims = json!({
        "iss": flag(args, "--iss").ok_or("--iss is required")?,
        "aud": flag(args, "--aud").ok_or("--aud is required")?,
        "sub": flag(args, "--sub").ok_or("--sub is required")?,
        "iat": now,
        "nbf": now,
        "exp": now + ttl,
    });
    let mut claims = match claims {
        Value::Object(map) => map,
        _ => Map::new(),
    };
    let mut jti = [0u8; 12];
    OsRng.fill_bytes(&mut jti);
    claims.insert("jti".to_string(), json!(flag(args, "--jti").unwrap_or_else(|| b64::encode(&jti))));
    if let Some(role) = flag(args, "--role") {
        claims.insert("role".to_string(), json!(role));
    }
    if let Some(scope) = flag(args, "--scope") {
        let needed: &[(&str, &str)] = match scope.as_str() {
            "organization" => &[("--org", ORGANIZATION_ID)],
            "workspace" => &[("--org", ORGANIZATION_ID), ("--workspace", WORKSPACE_ID)],
            "deployment" => {
                &[("--org", ORGANIZATION_ID), ("--workspace", WORKSPACE_ID), ("--deployment", DEPLOYMENT_ID)]
            }
            other => return Err(format!("unknown --scope {other:?}; expected organization, workspace or deployment")),
        };
        claims.insert(SCOPE_TYPE.to_string(), json!(scope));
        for (flag_name, claim) in needed {
            claims.insert(
                (*claim).to_string(),
                json!(flag(args, flag_name).ok_or(format!("--scope {scope} needs {flag_name}"))?),
            );
        }
    }
    for pair in flags(args, "--claim") {
        let (name, value) = pair.split_once('=').ok_or("--claim takes NAME=JSON")?;
        let value: Value = serde_json::from_str(value).unwrap_or_else(|_| json!(value));
        claims.insert(name.to_string(), value);
    }
    println!("{}", key.sign(&Value::Object(claims), &mut OsRng)?);
    Ok(())
}
