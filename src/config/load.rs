//! Top-level loading: the document's shape, the dataplane, defaults, and the derived lists.

use serde_json::Value;

use crate::policy::Route;

use super::fields;
use super::reader::{array, check_header_name, kind, Obj};
use super::{
    issuers, routes, Config, ConfigErrors, CorsPreflight, Dataplane, IdentityHeaders, MethodOverride, TokenSource,
    Unmatched,
};

/// Looks up an environment variable of the VM (Envoy `vm_config.environment_variables`). Passed in so the
/// core stays free of I/O and tests can supply their own.
pub type Env<'a> = &'a dyn Fn(&str) -> Option<String>;

/// Headers the core reads besides the token sources: CORS preflight detection and response negotiation.
const BASE_HEADERS: [&str; 2] = ["origin", "access-control-request-method"];

/// Headers that must never be configured as identity headers: overwriting them would change routing,
/// credentials or the request's framing.
const RESERVED: [&str; 7] =
    ["authorization", "cookie", "host", "content-length", "transfer-encoding", "te", "connection"];

pub fn load_config(json: &[u8], env: Env<'_>) -> Result<Config, ConfigErrors> {
    let mut errs = ConfigErrors::default();
    let doc: Value = match serde_json::from_slice(json) {
        Ok(v) => v,
        Err(e) => {
            errs.push("$", format!("not valid JSON: {e}"));
            return Err(errs);
        }
    };
    let Some(top) = Obj::open(&mut errs, "$", &doc, &fields::TOP) else {
        return Err(errs);
    };

    // Issuers first: routes, the shared ones and each deployment's, name them.
    let roles = super::roles::load_roles(&mut errs, &top);
    let issuers = issuers::load(&mut errs, &top, &roles, env);
    let issuer_names: Vec<&str> = issuers.iter().map(|i| i.name.as_str()).collect();
    let mut deployments = match (top.has("dataplane"), top.has("deployments")) {
        (true, true) => {
            errs.push(top.at("deployments"), "give either \"dataplane\" (one deployment) or \"deployments\", not both");
            super::deployments::load(&mut errs, &top, env, &issuer_names).unwrap_or_default()
        }
        (false, true) => super::deployments::load(&mut errs, &top, env, &issuer_names).unwrap_or_default(),
        _ => super::deployments::Deployments::single(load_dataplane(&mut errs, &top)),
    };
    let realm = top.opt_string(&mut errs, "realm").unwrap_or("gatehouse").to_owned();
    if realm.contains('"') || realm.contains('\\') || realm.chars().any(char::is_control) {
        errs.push(
            top.at("realm"),
            "must not contain quotes, backslashes or control characters (it goes into WWW-Authenticate)",
        );
    }
    let unmatched = top
        .choice(&mut errs, "unmatched", &[("deny", Unmatched::Deny), ("allow", Unmatched::Allow)])
        .unwrap_or(Unmatched::Deny);
    let method_override = top
        .choice(
            &mut errs,
            "method_override_headers",
            &[("strip", MethodOverride::Strip), ("judge", MethodOverride::Judge)],
        )
        .unwrap_or(MethodOverride::Strip);
    let cors_preflight = top
        .choice(&mut errs, "cors_preflight", &[("pass", CorsPreflight::Pass), ("enforce", CorsPreflight::Enforce)])
        .unwrap_or(CorsPreflight::Pass);
    let max_token_bytes = top.int(&mut errs, "max_token_bytes") as usize;
    let token_sources = load_token_sources(&mut errs, &top);
    let identity_headers = load_identity_headers(&mut errs, &top);
    let strip = top.string_list(&mut errs, "strip_request_headers");
    for (i, h) in strip.iter().enumerate() {
        let p = format!("{}[{i}]", top.at("strip_request_headers"));
        check_header_name(&mut errs, &p, h);
        if RESERVED.contains(&h.as_str()) {
            errs.push(p, format!("{h:?} cannot be stripped: requests need it"));
        }
    }
    for (i, s) in token_sources.iter().enumerate() {
        let Some(h) = s.header() else { continue };
        if identity_headers.names().chain(IdentityHeaders::defaults().names()).any(|n| n == h) {
            errs.push(format!("{}[{i}].header", top.at("token_sources")), format!("{h:?} is also an identity header"));
        }
    }
    let faults = load_faults(&mut errs, &top);
    let cache = load_cache(&mut errs, &top);
    let host_matching = load_host_matching(&mut errs, &top);
    let routes = routes::load(&mut errs, &top, &issuer_names);
    let flaggable: Vec<&Route> = routes.iter().chain(deployments.list.iter().flat_map(|d| &d.routes)).collect();
    let rollout = super::rollout::load(&mut errs, &top, &flaggable, env);
    let session = super::session::load_session(&mut errs, &top, env);
    let super::upstream_token::UpstreamToken { minter, exchange } =
        super::upstream_token::load_upstream_token(&mut errs, &top, env);
    if exchange.is_some() && !top.has("session") {
        errs.push(
            top.at("upstream_token").to_owned() + ".mode",
            "token exchange happens at browser sign-in: configure \"session\"",
        );
    }
    if top.has("session") && !top.has("upstream_token") {
        errs.push(
            top.at("upstream_token"),
            "browser sessions need an upstream token to give the upstream (mode \"mint\")",
        );
    }
    if let Some(sc) = &session {
        deployments.name_cookies(&sc.cookie_name);
    }
    for (i, d) in deployments.list.iter().enumerate() {
        if let (Some((_, path)), Some(sc)) = (&d.redirect_uri, &session) {
            if *path != sc.callback_path {
                errs.push(
                    format!("$.deployments[{i}].redirect_uri"),
                    format!("must end in the sign-in callback path {:?} (session.redirect_uri's)", sc.callback_path),
                );
            }
        }
        if d.redirect_uri.is_some() && !top.has("session") {
            errs.push(format!("$.deployments[{i}].redirect_uri"), "only with browser sessions (\"session\")");
        }
    }
    // Headers that carry claims are ours like the identity headers: stripped from every client request.
    let mut claim_headers: Vec<String> = Vec::new();
    for (i, issuer) in issuers.iter().enumerate() {
        let mapped = issuer.forward_claims.iter().filter_map(|c| {
            c.header.as_deref().map(|h| (format!("$.issuers[{i}].forward_claims[{}].header", c.index), h))
        });
        let payload =
            issuer.forward_payload_header.as_deref().map(|h| (format!("$.issuers[{i}].forward_payload_header"), h));
        for (at, h) in mapped.chain(payload) {
            let taken = identity_headers.names().chain(IdentityHeaders::defaults().names()).any(|n| n == h)
                || token_sources.iter().any(|s| s.header() == Some(h));
            if taken {
                errs.push(at, format!("{h:?} is already an identity header or a token source"));
            } else if !claim_headers.iter().any(|c| c == h) {
                claim_headers.push(h.to_owned());
            }
        }
        if issuer.forward
            && (minter.is_some() || session.is_some() || deployments.list.iter().any(|d| d.minter.is_some()))
        {
            errs.push(
                format!("$.issuers[{i}].forward"),
                "the upstream gets its own token here (upstream_token or browser sessions), which replaces the credential",
            );
        }
    }
    if let Some(sc) = &session {
        for h in sc.claim_headers.names() {
            if identity_headers.names().chain(IdentityHeaders::defaults().names()).any(|n| n == h) {
                errs.push(top.at("session") + ".claim_headers", format!("{h:?} is already an identity header"));
            } else if !claim_headers.iter().any(|c| c == h) {
                claim_headers.push(h.to_owned());
            }
        }
    }
    let identity_filter_state = top.flag(&mut errs, "identity_filter_state");
    if issuers.is_empty() {
        for (i, r) in routes.iter().enumerate() {
            if r.require.takes_bearer() {
                errs.push(
                    format!("$.routes[{i}].require"),
                    format!("route {:?} needs bearer tokens but no issuers are configured", r.name),
                );
            }
        }
    }

    if !errs.is_empty() {
        return Err(errs.sorted());
    }

    let mut forged_headers: Vec<String> = Vec::new();
    // Default names stay stripped even when configured away or switched off: an upstream may still read them.
    let defaults = IdentityHeaders::defaults();
    let mut identity_variants = 0;
    let extra = strip.into_iter().chain(claim_headers);
    for (i, name) in identity_headers.names().chain(defaults.names()).map(str::to_owned).chain(extra).enumerate() {
        for variant in separator_variants(&name) {
            if !forged_headers.contains(&variant) {
                forged_headers.push(variant);
            }
        }
        if i < identity_headers.names().count() + defaults.names().count() {
            identity_variants = forged_headers.len();
        }
    }
    let owned_headers = forged_headers.get(..identity_variants).unwrap_or_default().to_vec();
    // Stripped: every spelling; judged: the canonical names are read, so the `_` spellings (which a CGI or
    // WSGI upstream would read as the same header) are stripped.
    {
        for name in super::METHOD_OVERRIDE_HEADERS {
            for variant in separator_variants(name) {
                if method_override == MethodOverride::Judge && variant == name {
                    continue;
                }
                if !forged_headers.contains(&variant) {
                    forged_headers.push(variant);
                }
            }
        }
    }
    let gives_credentials =
        session.is_some() || minter.is_some() || deployments.list.iter().any(|d| d.minter.is_some());
    let mut request_headers: Vec<String> = BASE_HEADERS.iter().map(|s| (*s).to_owned()).collect();
    if method_override == MethodOverride::Judge {
        request_headers.extend(super::METHOD_OVERRIDE_HEADERS.map(str::to_owned));
    }
    if gives_credentials {
        request_headers.push("cookie".to_owned());
    }
    if session.is_some() {
        request_headers.extend(["accept", "x-requested-with", "sec-fetch-mode"].map(str::to_owned));
    }
    for s in &token_sources {
        let h = s.header().unwrap_or("cookie");
        if matches!(s, TokenSource::Query(_)) || request_headers.iter().any(|r| r == h) {
            continue;
        }
        request_headers.push(h.to_owned());
    }
    if let Some(c) = rollout.as_ref().and_then(|r| r.canary.as_ref()) {
        if !request_headers.contains(&c.header) {
            request_headers.push(c.header.clone());
        }
    }
    let token_cookies = token_sources.iter().any(|s| matches!(s, TokenSource::Cookie(_)));
    Ok(Config {
        deployments,
        gives_credentials,
        realm,
        unmatched,
        cors_preflight,
        max_token_bytes,
        token_sources,
        identity_headers,
        forged_headers,
        owned_headers,
        method_override,
        identity_filter_state,
        token_cookies,
        roles,
        issuers,
        routes,
        session,
        minter,
        exchange,
        faults,
        cache,
        rollout,
        host_matching,
        request_headers,
    })
}

/// Every spelling of `name` with `-` and `_` swapped at each separator: CGI and WSGI upstreams fold `_` into
/// `-`, so `x-gatehouse_subject` would reach them as `x-gatehouse-subject`. Past six separators only the two
/// uniform spellings are produced (Envoy's `headers_with_underscores_action` covers the rest).
fn separator_variants(name: &str) -> Vec<String> {
    let seps: Vec<usize> = name.char_indices().filter(|(_, c)| *c == '-' || *c == '_').map(|(i, _)| i).collect();
    if seps.len() > 6 {
        return vec![name.to_owned(), name.replace('-', "_"), name.replace('_', "-")];
    }
    (0u32..(1 << seps.len()))
        .map(|mask| {
            let mut bytes = name.as_bytes().to_vec();
            for (bit, at) in seps.iter().enumerate() {
                if let Some(b) = bytes.get_mut(*at) {
                    *b = if mask & (1 << bit) != 0 { b'_' } else { b'-' };
                }
            }
            String::from_utf8_lossy(&bytes).into_owned()
        })
        .collect()
}

fn load_dataplane(errs: &mut ConfigErrors, top: &Obj<'_>) -> Dataplane {
    let empty = Dataplane { organization_id: String::new(), workspace_id: String::new(), deployment_id: String::new() };
    let Some(v) = top.get("dataplane") else {
        errs.push(top.at("dataplane"), "required field is missing (or give \"deployments\")");
        return empty;
    };
    let Some(o) = Obj::open(errs, top.at("dataplane"), v, &fields::DATAPLANE) else {
        return empty;
    };
    Dataplane {
        organization_id: o.string(errs, "organization_id").unwrap_or_default().to_owned(),
        workspace_id: o.string(errs, "workspace_id").unwrap_or_default().to_owned(),
        deployment_id: o.string(errs, "deployment_id").unwrap_or_default().to_owned(),
    }
}

fn load_token_sources(errs: &mut ConfigErrors, top: &Obj<'_>) -> Vec<TokenSource> {
    let Some(v) = top.get("token_sources") else {
        return vec![TokenSource::Header { header: "authorization".into(), scheme: Some("Bearer".into()) }];
    };
    let path = top.at("token_sources");
    let items = array(errs, &path, v);
    let mut seen: Vec<String> = Vec::new();
    if items.is_empty() && v.is_array() {
        errs.push(&path, "expected at least one token source");
    }
    items
        .iter()
        .enumerate()
        .filter_map(|(i, item)| {
            let p = format!("{path}[{i}]");
            let o = Obj::open(errs, &p, item, &fields::TOKEN_SOURCE)?;
            let given: Vec<&str> = ["header", "cookie", "query"].into_iter().filter(|k| o.has(k)).collect();
            match given.as_slice() {
                ["cookie"] => {
                    let name = o.string(errs, "cookie")?.to_owned();
                    let token = !name.is_empty()
                        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
                    if !token {
                        errs.push(o.at("cookie"), format!("{name:?} is not a cookie name (RFC 6265 §4.1.1)"));
                    }
                    let key = format!("cookie {name}");
                    if seen.contains(&key) {
                        errs.push(o.at("cookie"), format!("cookie {name:?} is already a token source"));
                    }
                    seen.push(key);
                    return Some(TokenSource::Cookie(name));
                }
                ["query"] => {
                    let name = o.string(errs, "query")?.to_owned();
                    let key = format!("query {name}");
                    if seen.contains(&key) {
                        errs.push(o.at("query"), format!("query parameter {name:?} is already a token source"));
                    }
                    seen.push(key);
                    return Some(TokenSource::Query(name));
                }
                ["header"] => {}
                _ => {
                    errs.push(&p, "give exactly one of \"header\", \"cookie\" and \"query\"");
                    return None;
                }
            }
            let header = o.string(errs, "header")?.to_owned();
            check_header_name(errs, &o.at("header"), &header);
            if RESERVED.contains(&header.as_str()) && header != "authorization" {
                errs.push(o.at("header"), format!("{header:?} cannot carry a token"));
            }
            if seen.contains(&header) {
                errs.push(o.at("header"), format!("header {header:?} is already a token source"));
            }
            seen.push(header.clone());
            let scheme = o.opt_string(errs, "scheme").map(str::to_owned);
            Some(TokenSource::Header { header, scheme })
        })
        .collect()
}

fn load_identity_headers(errs: &mut ConfigErrors, top: &Obj<'_>) -> IdentityHeaders {
    let mut h = IdentityHeaders::defaults();
    let Some(v) = top.get("identity_headers") else {
        return h;
    };
    let path = top.at("identity_headers");
    let Some(o) = Obj::open(errs, &path, v, &fields::IDENTITY_HEADERS) else {
        return h;
    };
    for field in fields::IDENTITY_HEADERS.keys() {
        let Some(slot) = h.field_mut(field) else {
            errs.push(o.at(field), "internal: an identity header the loader does not know");
            continue;
        };
        match o.get(field) {
            None => {}
            // `null` turns a header off; it is still stripped from clients under its default name.
            Some(Value::Null) => *slot = None,
            Some(Value::String(name)) => {
                check_header_name(errs, &o.at(field), name);
                if RESERVED.contains(&name.as_str()) || name.starts_with(':') {
                    errs.push(o.at(field), format!("{name:?} is reserved and cannot carry identity"));
                }
                *slot = Some(name.clone());
            }
            Some(other) => errs.push(o.at(field), format!("expected a header name or null; got {}", kind(other))),
        }
    }
    let mut seen: Vec<&str> = Vec::new();
    for field in fields::IDENTITY_HEADERS.keys() {
        if let Some(name) = h.field(field) {
            if seen.contains(&name) {
                errs.push(o.at(field), format!("{name:?} is already used by another identity header"));
            }
            seen.push(name);
        }
    }
    h
}

fn load_host_matching(errs: &mut ConfigErrors, top: &Obj<'_>) -> crate::policy::host::HostMatching {
    let mut m = crate::policy::host::HostMatching::default();
    let Some(v) = top.get("host_matching") else { return m };
    let Some(o) = Obj::open(errs, top.at("host_matching"), v, &fields::HOST_MATCHING) else { return m };
    m.strip_port = o.flag(errs, "strip_port");
    m.strip_trailing_dot = o.flag(errs, "strip_trailing_dot");
    m
}

fn load_cache(errs: &mut ConfigErrors, top: &Obj<'_>) -> super::CacheSettings {
    let mut c = super::CacheSettings::default();
    let Some(v) = top.get("cache") else { return c };
    let Some(o) = Obj::open(errs, top.at("cache"), v, &fields::CACHE) else {
        return c;
    };
    c.verified_tokens = o.int(errs, "verified_tokens") as usize;
    c.sessions = o.int(errs, "sessions") as usize;
    c
}

fn load_faults(errs: &mut ConfigErrors, top: &Obj<'_>) -> super::Faults {
    let mut f = super::Faults::default();
    let Some(v) = top.get("faults") else { return f };
    let Some(o) = Obj::open(errs, top.at("faults"), v, &fields::FAULTS) else {
        return f;
    };
    let allow = o.flag(errs, "allow");
    f.provider_unavailable = o.flag(errs, "provider_unavailable");
    f.keys_stale = o.flag(errs, "keys_stale");
    f.clock_offset_seconds = match o.get("clock_offset_seconds") {
        None => 0,
        Some(v) => match v.as_i64() {
            Some(n) if (-86400..=86400).contains(&n) => n,
            _ => {
                errs.push(
                    o.at("clock_offset_seconds"),
                    format!("expected whole seconds from -86400 to 86400; got {v}"),
                );
                0
            }
        },
    };
    if !allow {
        for (on, key) in [
            (f.provider_unavailable, "provider_unavailable"),
            (f.keys_stale, "keys_stale"),
            (f.clock_offset_seconds != 0, "clock_offset_seconds"),
        ] {
            if on {
                errs.push(o.at(key), "fault switches are for staging drills: set faults.allow to true to use them");
            }
        }
    }
    f
}
