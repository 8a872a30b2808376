//! The request as the core sees it: captured once by the filter in `on_http_request_headers` (request
//! headers cannot be read after the filter continues), holding only the headers the config asks for.

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
