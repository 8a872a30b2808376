//! What the core decided, as data the filter applies with one function.

/// Why, for one log line and the metrics. `reason` is a stable code; nothing here is secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verdict {
    pub reason: &'static str,
    pub route: Option<String>,
    pub class: String,
    pub issuer: Option<String>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Allow<'c> {
    /// Removed first (credentials, forged identity headers), then `set_headers` are added.
    pub remove_headers: Vec<&'c str>,
    pub set_headers: Vec<(String, String)>,
    pub verdict: Verdict,
}

#[derive(Debug, PartialEq, Eq)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub verdict: Verdict,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Decision<'c> {
    Allow(Allow<'c>),
    Reply(Reply),
}

impl Decision<'_> {
    pub fn verdict(&self) -> &Verdict {
        match self {
            Decision::Allow(a) => &a.verdict,
            Decision::Reply(r) => &r.verdict,
        }
    }

    pub fn status(&self) -> Option<u16> {
        match self {
            Decision::Allow(_) => None,
            Decision::Reply(r) => Some(r.status),
        }
    }
}
