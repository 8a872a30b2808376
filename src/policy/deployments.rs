//! Which deployment of the dataplane a request is for, by host (exact or `*.` suffix) and path prefix, in
//! time that does not grow with the number of deployments: a hash lookup per host candidate (the host, then
//! each parent domain for wildcards, then "any host"), and within one a hash lookup per path segment boundary.
//! The tables hold only keys from the configuration, so a fast unkeyed hash (FxHash) is safe: requests only
//! look up, they never add keys that could be made to collide.

use rustc_hash::FxHashMap as HashMap;

/// Where one deployment is reached. `host`: `None` for any host; `Some(".example.com")` for `*.example.com`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub host: HostKey,
    /// `/dep-a` (normalized, no trailing slash); `None` for the whole host.
    pub prefix: Option<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum HostKey {
    Any,
    Exact(String),
    /// `.example.com`: any subdomain, not the apex.
    Suffix(String),
}

#[derive(Debug, Default)]
struct PerHost {
    by_prefix: HashMap<String, usize>,
    /// Every proper ancestor of a prefix above (`/a` for `/a/b`), with the deployment below it: nesting is
    /// then found with one lookup per segment, not by comparing with every prefix of the host.
    ancestors: HashMap<String, usize>,
    whole: Option<usize>,
}

/// `/a` and `/a/b` for `/a/b/c`: the prefix's proper ancestors that end at a segment boundary.
fn ancestors(prefix: &str) -> impl Iterator<Item = &str> {
    prefix.match_indices('/').filter(|(i, _)| *i > 0).filter_map(|(i, _)| prefix.get(..i))
}

impl PerHost {
    /// The deployment for `path` on this host: the longest prefix that ends at a segment boundary, else
    /// the one that takes the whole host.
    fn find(&self, path: &str) -> Option<(usize, usize)> {
        if !self.by_prefix.is_empty() {
            // Longest first: the whole path, then up to each `/` from the right.
            let ends = std::iter::once(path.len()).chain(path.rmatch_indices('/').map(|(i, _)| i).filter(|i| *i > 0));
            for end in ends {
                if let Some(i) = path.get(..end).and_then(|p| self.by_prefix.get(p)) {
                    return Some((*i, end));
                }
            }
        }
        self.whole.map(|i| (i, 0))
    }
}

/// The lookup structure, built once per configuration.
#[derive(Debug, Default)]
pub struct Index {
    exact: HashMap<String, PerHost>,
    suffix: HashMap<String, PerHost>,
    any: PerHost,
}

/// Two deployments that claim the same place, or prefixes that nest on one host (`/a` and `/a/b`): which
/// deployment a request is for would depend on order.
#[derive(Debug, PartialEq, Eq)]
pub enum Conflict {
    Same { earlier: usize },
    Nested { other: usize },
}

impl Index {
    /// Adds deployment `index` at `place`; `Err` names the deployment it collides with.
    pub fn add(&mut self, index: usize, place: &Place) -> Result<(), Conflict> {
        let per = match &place.host {
            HostKey::Any => &mut self.any,
            HostKey::Exact(h) => self.exact.entry(h.clone()).or_default(),
            HostKey::Suffix(s) => self.suffix.entry(s.clone()).or_default(),
        };
        match &place.prefix {
            None => match per.whole {
                Some(earlier) => Err(Conflict::Same { earlier }),
                None => {
                    per.whole = Some(index);
                    Ok(())
                }
            },
            Some(prefix) => {
                if let Some(earlier) = per.by_prefix.get(prefix) {
                    return Err(Conflict::Same { earlier: *earlier });
                }
                // Nesting either way: a prefix above this one, or one below it.
                if let Some(other) = ancestors(prefix).find_map(|a| per.by_prefix.get(a)) {
                    return Err(Conflict::Nested { other: *other });
                }
                if let Some(other) = per.ancestors.get(prefix.as_str()) {
                    return Err(Conflict::Nested { other: *other });
                }
                for a in ancestors(prefix) {
                    per.ancestors.entry(a.to_owned()).or_insert(index);
                }
                per.by_prefix.insert(prefix.clone(), index);
                Ok(())
            }
        }
    }

    /// The deployment for a normalized `host` (lower case, as routes see it) and normalized `path`, with the
    /// length of the matched prefix (0 for none): exact host first, then the longest matching wildcard,
    /// then deployments that take any host.
    pub fn find(&self, host: &str, path: &str) -> Option<(usize, usize)> {
        if let Some(found) = self.exact.get(host).and_then(|p| p.find(path)) {
            return Some(found);
        }
        if !self.suffix.is_empty() {
            let mut rest = host;
            while let Some(dot) = rest.find('.') {
                let suffix = rest.get(dot..).unwrap_or("");
                if let Some(found) = self.suffix.get(suffix).and_then(|p| p.find(path)) {
                    return Some(found);
                }
                rest = rest.get(dot + 1..).unwrap_or("");
            }
        }
        self.any.find(path)
    }
}
