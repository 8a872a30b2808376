//! URI-aware policy: the request's host, method and normalized path choose a route; the route says what
//! the request needs.

pub mod deployments;
pub mod host;
pub mod path;
pub mod route;

pub use path::{normalize_path, PathError};
pub use route::{
    find_route, BearerRule, HostMatch, OnUnavailable, Optional, PathMatch, Requirement, ResponseFormat, Route,
};
