//! `issuers[]`: trusted token issuers with keys pinned in the configuration (inline JWKS) or, for HMAC,
//! secrets named by environment variable.

use std::collections::{HashMap, HashSet};

use super::fields;
use super::reader::{array, check_header_name, kind, Obj};
use super::{ConfigErrors, Env};
use crate::b64;
use crate::claim_forward::ForwardClaim;
use crate::jwks::RemoteJwks;
use crate::jwt::jwk::verify_key_from_jwk;
use crate::jwt::{Alg, Issuer, IssuerKind, VerifyKey};
use crate::secret::Secret;

pub(super) fn load(
    errs: &mut ConfigErrors,
    top: &Obj<'_>,
    roles: &HashMap<String, Vec<String>>,
    env: Env<'_>,
) -> Vec<Issuer> {
    let Some(v) = top.get("issuers") else {
        return Vec::new();
    };
    let path = top.at("issuers");
    let mut out = Vec::new();
    let mut names = HashSet::new();
    let mut iss_values = HashSet::new();
    for (i, item) in array(errs, &path, v).iter().enumerate() {
        let p = format!("{path}[{i}]");
        let Some(o) = Obj::open(errs, &p, item, &fields::ISSUER) else {
            continue;
        };
        let name = o.string(errs, "name").unwrap_or_default().to_owned();
        if !name.is_empty() && !names.insert(name.clone()) {
            errs.push(o.at("name"), format!("duplicate issuer name {name:?}"));
        }
        if !name.is_empty() && !crate::metrics::is_label_value(&name) {
            errs.push(o.at("name"), crate::metrics::LABEL_VALUE);
        }
        let issuer = o.string(errs, "issuer").unwrap_or_default().to_owned();
        // Two entries with one `iss` would make the choice of keys depend on order.
        if !issuer.is_empty() && !iss_values.insert(issuer.clone()) {
            errs.push(o.at("issuer"), format!("another issuer already has iss {issuer:?}"));
        }
        let audiences = o.string_list(errs, "audiences");
        if audiences.is_empty() && !o.has("audiences") {
            errs.push(
                o.at("audiences"),
                "required: at least one accepted audience (tokens without a matching aud are refused)",
            );
        } else if audiences.is_empty() {
            errs.push(o.at("audiences"), "expected at least one audience");
        }
        let kind = o
            .choice(
                errs,
                "kind",
                &[("direct_access", IssuerKind::DirectAccess), ("access_token", IssuerKind::AccessToken)],
            )
            .unwrap_or(IssuerKind::AccessToken);
        // No default: a platform issuer left as a plain access-token issuer would skip the scope check.
        if !o.has("kind") {
            errs.push(o.at("kind"), "required field is missing; expected \"direct_access\" or \"access_token\"");
        }
        let before = errs.len();
        let mut keys = load_jwks(errs, &o);
        keys.extend(load_hmac_keys(errs, &o, env));
        check_unique_kids(errs, &p, &keys);
        let remote_jwks = o.get("remote_jwks").and_then(|v| load_remote(errs, &o.at("remote_jwks"), v));
        if keys.is_empty() && remote_jwks.is_none() && errs.len() == before {
            errs.push(&p, "no keys: give \"jwks\" (inline JWKS), \"hmac_keys\" or \"remote_jwks\"");
        }
        // Access tokens map roles through the role table only when the operator names the claim: the
        // shared table was written for Direct Access Tokens.
        let role_claim = o.opt_string(errs, "role_claim").map(str::to_owned);
        let role_claim = match kind {
            IssuerKind::DirectAccess => Some(role_claim.unwrap_or_else(|| "role".to_owned())),
            IssuerKind::AccessToken => role_claim,
        };
        let permissions_claim = o.opt_string(errs, "permissions_claim").map(str::to_owned);
        if kind == IssuerKind::DirectAccess && permissions_claim.is_some() {
            errs.push(o.at("permissions_claim"), "Direct Access Tokens get permissions from their role only");
        }
        if kind == IssuerKind::DirectAccess && roles.is_empty() {
            errs.push(
                top.at("roles"),
                format!("issuer {name:?} issues Direct Access Tokens, whose roles need a role table"),
            );
        }
        if o.has("max_lifetime_seconds") && !o.flag(errs, "require_exp") {
            errs.push(
                o.at("max_lifetime_seconds"),
                "a maximum lifetime needs tokens with exp; remove it or set \"require_exp\": true",
            );
        }
        let revoked_token_ids: HashSet<String> = o.string_list(errs, "revoked_token_ids").into_iter().collect();
        let subject_not_before = load_not_before(errs, &o);
        out.push(Issuer {
            name,
            issuer,
            audiences,
            kind,
            keys,
            require_exp: o.flag(errs, "require_exp"),
            max_lifetime_seconds: o.has("max_lifetime_seconds").then(|| o.int(errs, "max_lifetime_seconds")),
            leeway_seconds: o.int(errs, "leeway_seconds"),
            role_claim,
            permissions_claim,
            revoked_token_ids,
            subject_not_before,
            remote_jwks,
            forward_claims: load_forward_claims(errs, &o),
            forward_payload_header: o.opt_string(errs, "forward_payload_header").map(str::to_owned),
            forward: o.flag(errs, "forward"),
        });
    }
    out
}

fn load_forward_claims(errs: &mut ConfigErrors, o: &Obj<'_>) -> Vec<ForwardClaim> {
    let Some(v) = o.get("forward_claims") else {
        return Vec::new();
    };
    let path = o.at("forward_claims");
    let mut out = Vec::new();
    for (i, item) in array(errs, &path, v).iter().enumerate() {
        let p = format!("{path}[{i}]");
        let Some(c) = Obj::open(errs, &p, item, &fields::FORWARD_CLAIM) else {
            continue;
        };
        let claim_path: Vec<String> = match (c.opt_string(errs, "claim"), c.has("claim_path")) {
            (Some(name), false) => name.split('.').map(str::to_owned).collect(),
            (None, true) => c.string_list(errs, "claim_path"),
            _ => {
                errs.push(&p, "give exactly one of \"claim\" (dots step into objects) and \"claim_path\"");
                continue;
            }
        };
        if claim_path.iter().any(String::is_empty) {
            errs.push(&p, "a claim name has an empty member (two dots, or a dot at an end): use \"claim_path\"");
        }
        let header = c.opt_string(errs, "header").map(str::to_owned);
        if let Some(h) = &header {
            check_header_name(errs, &c.at("header"), h);
        }
        let filter_state = c.opt_string(errs, "filter_state").map(str::to_owned);
        if filter_state
            .as_deref()
            .is_some_and(|k| !k.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"_.-".contains(&b)))
        {
            errs.push(c.at("filter_state"), "expected lower-case letters, digits, '_', '.' and '-'");
        }
        if header.is_none() && filter_state.is_none() {
            errs.push(&p, "give \"header\", \"filter_state\" or both: where the claim goes");
        }
        let separator = c.opt_string(errs, "separator").unwrap_or(",").to_owned();
        if separator.is_empty() || separator.chars().any(char::is_control) {
            errs.push(c.at("separator"), "expected at least one character and no control characters");
        }
        let property = filter_state.map(|k| format!("{}{k}", crate::claim_forward::CLAIM_PROPERTY_PREFIX));
        out.push(ForwardClaim { path: claim_path, header, property, separator, index: i });
    }
    out
}

fn load_jwks(errs: &mut ConfigErrors, o: &Obj<'_>) -> Vec<VerifyKey> {
    let Some(v) = o.get("jwks") else {
        return Vec::new();
    };
    let path = o.at("jwks");
    let Some(jwks) = Obj::open(errs, &path, v, &fields::JWKS) else {
        return Vec::new();
    };
    let Some(keys) = jwks.required(errs, "keys") else {
        return Vec::new();
    };
    let kpath = jwks.at("keys");
    let mut out = Vec::new();
    for (i, jwk) in array(errs, &kpath, keys).iter().enumerate() {
        match verify_key_from_jwk(jwk) {
            Ok(k) => out.push(k),
            Err(problems) => {
                for (member, msg) in problems {
                    errs.push(format!("{kpath}[{i}]{member}"), msg);
                }
            }
        }
    }
    out
}

/// Across inline and HMAC keys together: the token's `kid` must pick exactly one key per algorithm.
fn check_unique_kids(errs: &mut ConfigErrors, path: &str, keys: &[VerifyKey]) {
    let mut seen = HashSet::new();
    for k in keys {
        if let Some(kid) = &k.kid {
            if !seen.insert((kid.clone(), k.alg)) {
                errs.push(path, format!("two keys share kid {kid:?} and alg {}", k.alg));
            }
        }
    }
    if keys.len() > 1 && keys.iter().any(|k| k.kid.is_none()) {
        errs.push(path, "with more than one key every key needs a \"kid\" (the token's kid picks the key)");
    }
}

fn load_hmac_keys(errs: &mut ConfigErrors, o: &Obj<'_>, env: Env<'_>) -> Vec<VerifyKey> {
    let Some(v) = o.get("hmac_keys") else {
        return Vec::new();
    };
    let path = o.at("hmac_keys");
    let mut out = Vec::new();
    for (i, item) in array(errs, &path, v).iter().enumerate() {
        let p = format!("{path}[{i}]");
        let Some(k) = Obj::open(errs, &p, item, &fields::HMAC_KEY) else {
            continue;
        };
        let kid = k.opt_string(errs, "kid").map(str::to_owned);
        let alg = match k.string(errs, "alg").map(|s| (s, Alg::parse(s))) {
            Some((_, Some(a))) if a.is_hmac() => Some(a),
            Some((s, _)) => {
                errs.push(k.at("alg"), format!("expected one of HS256, HS384, HS512; got {s:?}"));
                None
            }
            None => None,
        };
        let encoding = k.choice(errs, "encoding", &[("raw", 0u8), ("base64url", 1), ("base64", 2)]).unwrap_or(0);
        let Some(var) = k.string(errs, "secret_env") else {
            continue;
        };
        let Some(raw) = env(var) else {
            errs.push(
                k.at("secret_env"),
                format!("environment variable {var} is not set in the VM (vm_config.environment_variables)"),
            );
            continue;
        };
        let bytes = match encoding {
            1 => b64::decode_strict(raw.trim()),
            2 => b64::decode_standard(raw.trim()),
            _ => Some(raw.into_bytes()),
        };
        let Some(bytes) = bytes else {
            errs.push(
                k.at("secret_env"),
                format!(
                    "environment variable {var} is not valid for encoding {:?}",
                    ["raw", "base64url", "base64"].get(usize::from(encoding)).unwrap_or(&"raw")
                ),
            );
            continue;
        };
        let Some(alg) = alg else { continue };
        // RFC 7518 §3.2: shorter keys make the MAC guessable. The message names the length, never the value.
        if bytes.len() < alg.min_hmac_key_len() {
            errs.push(
                k.at("secret_env"),
                format!("{alg} needs a secret of at least {} bytes; {var} has {}", alg.min_hmac_key_len(), bytes.len()),
            );
            continue;
        }
        out.push(VerifyKey::hmac(kid, alg, Secret::new(bytes)));
    }
    out
}

/// `subject_not_before`: subject → unix time (issuers' tokens and browser sessions alike).
pub(super) fn load_not_before(errs: &mut ConfigErrors, o: &Obj<'_>) -> HashMap<String, u64> {
    let mut out = HashMap::new();
    let Some(v) = o.get("subject_not_before") else {
        return out;
    };
    let path = o.at("subject_not_before");
    let Some(map) = v.as_object() else {
        errs.push(&path, format!("expected an object of subject to unix time; got {}", kind(v)));
        return out;
    };
    for (sub, t) in map {
        match t.as_u64() {
            Some(n) => {
                out.insert(sub.clone(), n);
            }
            None => errs.push(format!("{path}[{sub:?}]"), format!("expected a unix time in seconds; got {}", kind(t))),
        }
    }
    out
}

pub(super) fn load_remote(errs: &mut ConfigErrors, path: &str, v: &serde_json::Value) -> Option<RemoteJwks> {
    let o = Obj::open(errs, path, v, &fields::REMOTE_JWKS)?;
    let cluster = o.string(errs, "cluster").map(str::to_owned);
    let authority = o.string(errs, "authority").map(str::to_owned);
    let discovery_path = o.opt_string(errs, "discovery_path").map(str::to_owned);
    let jpath = match (o.has("path"), &discovery_path) {
        (true, None) => o.string(errs, "path").map(str::to_owned),
        (false, Some(_)) => Some(String::new()),
        _ => {
            errs.push(path, "expected exactly one of \"path\" (the JWKS) and \"discovery_path\" (OIDC discovery)");
            None
        }
    };
    for (key, p) in [("path", jpath.as_deref()), ("discovery_path", discovery_path.as_deref())] {
        if p.is_some_and(|p| !p.is_empty() && !p.starts_with('/')) {
            errs.push(o.at(key), "expected a path starting with \"/\"");
        }
    }
    let timeout_ms = o.int(errs, "timeout_ms") as u32;
    let refresh_seconds = o.int(errs, "refresh_seconds");
    let retry_seconds = o.int(errs, "retry_seconds");
    let max_stale_seconds = o.int(errs, "max_stale_seconds");
    let unknown_kid_refetch_seconds = o.int(errs, "unknown_kid_refetch_seconds");
    if retry_seconds > refresh_seconds {
        errs.push(o.at("retry_seconds"), "the retry after a failure must not be longer than the refresh interval");
    }
    if max_stale_seconds <= refresh_seconds {
        errs.push(o.at("max_stale_seconds"), "must be longer than refresh_seconds, or keys go stale between fetches");
    }
    let default_alg = o.opt_string(errs, "default_alg").and_then(|a| match Alg::parse(a) {
        Some(alg) if !alg.is_hmac() => Some(alg),
        _ => {
            errs.push(o.at("default_alg"), format!("expected an asymmetric algorithm; got {a:?}"));
            None
        }
    });
    Some(RemoteJwks {
        cluster: cluster?,
        authority: authority?,
        path: jpath?,
        discovery_path,
        timeout_ms,
        refresh_seconds,
        retry_seconds,
        max_stale_seconds,
        unknown_kid_refetch_seconds,
        default_alg,
        endpoints: false,
    })
}
