//! The request as the core sees it: captured once by the filter in `on_http_request_headers` (request
//! headers cannot be read after the filter continues), holding only the headers the config asks for.

use crate::reason::Reason;

#[derive(Clone, Copy)]
pub struct Request<'a> {
    pub method: &'a str,
    /// `:path` as received, query included.
    pub path: &'a str,
    pub authority: &'a str,
    /// Lower-case names; a name may repeat.
    pub headers: &'a [(String, String)],
}

impl<'a> Request<'a> {
    pub fn header(&self, name: &str) -> Option<&'a str> {
        self.headers.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    pub fn headers_named<'s>(&'s self, name: &'s str) -> impl Iterator<Item = &'a str> + 's {
        self.headers.iter().filter(move |(n, _)| n == name).map(|(_, v)| v.as_str())
    }
}

/// The request's header map as the host hands it over (values as bytes), reduced to what the core reads.
pub struct Captured {
    pub method: String,
    pub path: String,
    pub authority: String,
    /// The headers named in `Config::request_headers`, lower-case, in order.
    pub headers: Vec<(String, String)>,
    /// Every header name present (lower case): a header to remove that is not there costs no host call.
    pub present: Vec<String>,
}

impl Captured {
    /// HTTP allows obs-text bytes in values, but nothing the core reads (paths, hosts, tokens, cookies) may
    /// contain them: such a request is refused rather than guessed at.
    pub fn from_pairs(pairs: Vec<(String, Vec<u8>)>, wanted: &[String]) -> Result<Captured, Reason> {
        let mut c = Captured {
            method: String::new(),
            path: String::new(),
            authority: String::new(),
            headers: Vec::with_capacity(wanted.len()),
            present: Vec::with_capacity(pairs.len()),
        };
        for (mut name, value) in pairs {
            name.make_ascii_lowercase();
            let slot = match name.as_str() {
                ":method" => Some(&mut c.method),
                ":path" => Some(&mut c.path),
                ":authority" => Some(&mut c.authority),
                _ => None,
            };
            let is_pseudo = slot.is_some();
            if is_pseudo || wanted.iter().any(|h| h.eq_ignore_ascii_case(&name)) {
                let value = String::from_utf8(value).map_err(|_| Reason::BadHeaderEncoding)?;
                match slot {
                    Some(slot) => *slot = value,
                    None => c.headers.push((name.clone(), value)),
                }
            }
            c.present.push(name);
        }
        Ok(c)
    }

    pub fn request(&self) -> Request<'_> {
        Request { method: &self.method, path: &self.path, authority: &self.authority, headers: &self.headers }
    }
}
