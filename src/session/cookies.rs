//! Cookie parsing (RFC 6265 §5.4 as browsers send it) and `Set-Cookie` serialization (§4.1).

/// `name=value` pairs of a `Cookie` header, in order. Pairs without `=` are skipped, as browsers do.
pub fn parse(header: &str) -> Vec<(&str, &str)> {
    header
        .split(';')
        .filter_map(|pair| {
            let (n, v) = pair.trim().split_once('=')?;
            // Values are kept exactly as sent, double quotes included (RFC 6265 §4.1.1 allows them around a
            // value). Ours are never quoted, so a quoted copy is not ours: reading `"v"` as `v` would make the
            // session string malleable for every cache and comparison keyed on it.
            Some((n.trim(), v.trim()))
        })
        .collect()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SameSite {
    Strict,
    Lax,
    None,
}

impl SameSite {
    pub fn name(self) -> &'static str {
        match self {
            SameSite::Strict => "Strict",
            SameSite::Lax => "Lax",
            SameSite::None => "None",
        }
    }
}

/// The attributes every cookie of ours carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CookieAttributes {
    pub secure: bool,
    pub http_only: bool,
    pub same_site: SameSite,
    pub path: String,
    pub domain: Option<String>,
}

impl CookieAttributes {
    pub fn set_cookie(&self, name: &str, value: &str, max_age: Option<u64>) -> String {
        let mut out = format!("{name}={value}; Path={}", self.path);
        if let Some(d) = &self.domain {
            out.push_str("; Domain=");
            out.push_str(d);
        }
        if let Some(age) = max_age {
            out.push_str(&format!("; Max-Age={age}"));
        }
        if self.secure {
            out.push_str("; Secure");
        }
        if self.http_only {
            out.push_str("; HttpOnly");
        }
        out.push_str("; SameSite=");
        out.push_str(self.same_site.name());
        out
    }

    /// Deletes a cookie: same name, path and domain, empty value, `Max-Age=0` (RFC 6265 §3.1).
    pub fn clear(&self, name: &str) -> String {
        self.set_cookie(name, "", Some(0))
    }
}

/// The `Cookie` header with the named cookies removed, for the upstream; `None` when nothing is left.
pub fn without(header: &str, drop: impl Fn(&str) -> bool) -> Option<String> {
    let kept: Vec<String> = header
        .split(';')
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .filter(|p| !drop(p.split('=').next().unwrap_or(p).trim()))
        .map(str::to_owned)
        .collect();
    (!kept.is_empty()).then(|| kept.join("; "))
}
