//! `deployments[]`: the deployments one Gatehouse serves on a dataplane, how a request is matched to one
//! (host, path prefix, or both), and what differs per deployment (the upstream token it gets, where its
//! sign-in returns). A configuration with `dataplane` instead is a table of one that takes every request.

use rustc_hash::FxHashMap as HashMap;

use super::fields;
use super::provider::url;
use super::reader::{array, Obj};
use super::routes::{host, host_pattern};
use super::upstream_token::load_upstream_token;
use super::{ConfigErrors, Dataplane, Env};
use crate::mint::Minter;
use crate::policy::deployments::{Conflict, HostKey, Index, Place};
use crate::policy::{normalize_path, HostMatch, Route};

#[derive(Debug)]
pub struct Deployment {
    pub ids: Dataplane,
    pub places: Vec<Place>,
    /// This deployment's own upstream token, instead of the shared one.
    pub minter: Option<Minter>,
    /// Where the provider sends browsers back after signing in to this deployment (the shared
    /// `session.redirect_uri` otherwise), and that URL's path (it must be the shared callback path).
    pub redirect_uri: Option<(String, String)>,
    /// The session cookie's name for this deployment: the configured one, or, for a deployment that shares
    /// its host with others by path prefix, that name and `-<deployment_id>` (browsers send every cookie of
    /// a host to every path, so each deployment's session needs a name of its own).
    pub cookie_name: Option<String>,
    /// Routes of this deployment alone, matched before the shared ones.
    pub routes: Vec<Route>,
    /// Roles of this deployment alone: a role named here takes these permissions instead of the shared table's.
    pub roles: HashMap<String, Vec<String>>,
}

impl Deployment {
    pub fn id(&self) -> &str {
        &self.ids.deployment_id
    }

    /// The permissions a role grants in this deployment: its own table first, then the shared one.
    pub fn permissions<'a>(
        &'a self,
        shared: &'a std::collections::HashMap<String, Vec<String>>,
        role: &str,
    ) -> Option<&'a Vec<String>> {
        self.roles.get(role).or_else(|| shared.get(role))
    }
}

/// Eight bytes naming a deployment in the sign-in `state`, so the callback knows which deployment a flow is for
/// before it opens the flow cookie. Not a secret and not a proof: the flow cookie is sealed for its deployment,
/// so a state naming another one only fails to open. Ids whose tags collide are refused at load.
pub fn tag(id: &str) -> [u8; 8] {
    use std::hash::Hasher;
    let mut h = rustc_hash::FxHasher::default();
    h.write(id.as_bytes());
    h.finish().to_be_bytes()
}

#[derive(Debug, Default)]
pub struct Deployments {
    pub list: Vec<Deployment>,
    index: Index,
    by_tag: HashMap<[u8; 8], usize>,
}

impl Deployments {
    /// The table of one a `dataplane` configuration is: every request is for it.
    pub fn single(ids: Dataplane) -> Self {
        let place = Place { host: HostKey::Any, prefix: None };
        let mut index = Index::default();
        let _ = index.add(0, &place);
        let mut by_tag = HashMap::default();
        by_tag.insert(tag(&ids.deployment_id), 0);
        let d = Deployment {
            ids,
            places: vec![place],
            minter: None,
            redirect_uri: None,
            cookie_name: None,
            routes: Vec::new(),
            roles: HashMap::default(),
        };
        Deployments { list: vec![d], index, by_tag }
    }

    /// The deployment a request is for, and how much of its path is the deployment's prefix.
    pub fn find(&self, host: &str, path: &str) -> Option<(usize, usize)> {
        self.index.find(host, path)
    }

    pub fn get(&self, i: usize) -> Option<&Deployment> {
        self.list.get(i)
    }

    /// The deployment whose `tag` this is.
    pub fn by_tag(&self, t: &[u8; 8]) -> Option<(usize, &Deployment)> {
        let i = *self.by_tag.get(t)?;
        self.list.get(i).map(|d| (i, d))
    }

    /// Names each path-prefixed deployment's session cookie after it (see `Deployment::cookie_name`).
    pub(super) fn name_cookies(&mut self, base: &str) {
        for d in &mut self.list {
            if d.places.iter().any(|p| p.prefix.is_some()) {
                d.cookie_name = Some(format!("{base}-{}", d.ids.deployment_id));
            }
        }
    }
}

pub(super) fn load(errs: &mut ConfigErrors, top: &Obj<'_>, env: Env<'_>, issuer_names: &[&str]) -> Option<Deployments> {
    let v = top.get("deployments")?;
    let path = top.at("deployments");
    let items = array(errs, &path, v);
    let mut out = Deployments::default();
    out.list.reserve(items.len());
    out.by_tag.reserve(items.len());
    let mut ids: HashMap<String, usize> = HashMap::default();
    ids.reserve(items.len());
    if items.is_empty() {
        errs.push(&path, "expected at least one deployment");
    }
    for (i, item) in items.iter().enumerate() {
        let p = format!("{path}[{i}]");
        let Some(o) = Obj::open(errs, p, item, &fields::DEPLOYMENT) else { continue };
        let p = o.path.as_str();
        let text = |errs: &mut ConfigErrors, key| o.string(errs, key).unwrap_or_default().to_owned();
        let deployment_id = text(errs, "deployment_id");
        let ids_of = Dataplane {
            organization_id: text(errs, "organization_id"),
            workspace_id: text(errs, "workspace_id"),
            deployment_id: deployment_id.clone(),
        };
        if !deployment_id.is_empty() {
            if out.by_tag.insert(tag(&deployment_id), i).is_some() && !ids.contains_key(&deployment_id) {
                errs.push(o.at("deployment_id"), "collides with another deployment's tag: choose another id");
            }
            if let Some(earlier) = ids.insert(deployment_id.clone(), i) {
                errs.push(
                    o.at("deployment_id"),
                    format!("duplicate deployment_id {deployment_id:?} (also $.deployments[{earlier}])"),
                );
            }
            // Cookie names and metrics carry the id: keep it to what both allow.
            if !deployment_id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
                errs.push(o.at("deployment_id"), "expected letters, digits, '-' and '_' only");
            }
        }
        let hosts: Vec<HostKey> = o
            .string_list(errs, "hosts")
            .iter()
            .enumerate()
            .filter_map(|(j, h)| host_pattern(h).or_else(|| host(errs, &format!("{}[{j}]", o.at("hosts")), h)))
            .map(|h| match h {
                HostMatch::Exact(h) => HostKey::Exact(h),
                HostMatch::Suffix(s) => HostKey::Suffix(s),
            })
            .collect();
        let prefix = o.opt_string(errs, "path_prefix").and_then(|raw| {
            let normal = |p: &str| plainly_normal(p) || normalize_path(p).is_ok_and(|(n, q)| n == p && q.is_none());
            let ok = raw.len() > 1 && !raw.ends_with('/') && normal(raw);
            if !ok {
                errs.push(
                    o.at("path_prefix"),
                    format!("expected a normalized path like \"/dep-1\" (no trailing slash, no query); got {raw:?}"),
                );
            }
            ok.then(|| raw.to_owned())
        });
        if hosts.is_empty() && prefix.is_none() && items.len() > 1 {
            errs.push(p, "with several deployments, each needs \"hosts\", \"path_prefix\" or both");
        }
        let host_keys = if hosts.is_empty() { vec![HostKey::Any] } else { hosts };
        let places: Vec<Place> = host_keys.into_iter().map(|host| Place { host, prefix: prefix.clone() }).collect();
        for place in &places {
            match out.index.add(i, place) {
                Ok(()) => {}
                Err(Conflict::Same { earlier }) => {
                    errs.push(p, format!("claims the same host and path as $.deployments[{earlier}]"))
                }
                Err(Conflict::Nested { other }) => errs.push(
                    o.at("path_prefix"),
                    format!("overlaps the path prefix of $.deployments[{other}] on the same host"),
                ),
            }
        }
        let minter = o.get("upstream_token").is_some().then(|| load_upstream_token(errs, &o, env)).and_then(|u| {
            if u.exchange.is_some() {
                errs.push(
                    o.at("upstream_token.mode"),
                    "a deployment's own upstream token is minted (\"mode\": \"mint\")",
                );
            }
            u.minter
        });
        let redirect_uri = o.opt_string(errs, "redirect_uri").and_then(|u| url(errs, &o.at("redirect_uri"), u));
        let routes = if o.has("routes") { super::routes::load(errs, &o, issuer_names) } else { Vec::new() };
        let roles =
            if o.has("roles") { super::roles::load_roles(errs, &o).into_iter().collect() } else { HashMap::default() };
        out.list.push(Deployment { ids: ids_of, places, minter, redirect_uri, cookie_name: None, routes, roles });
    }
    Some(out)
}

/// `/seg/seg` of unreserved characters (RFC 3986 §2.3), no empty, `.` or `..` segment: already normal, without
/// running the normalizer (the common case, ten thousand times for a large dataplane).
fn plainly_normal(p: &str) -> bool {
    p.strip_prefix('/').is_some_and(|rest| {
        rest.split('/').all(|seg| {
            !seg.is_empty()
                && seg != "."
                && seg != ".."
                && seg.bytes().all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
        })
    })
}
