//! `roles`: role name → permissions, shared by the dataplane, and a deployment's own table over it.

use std::collections::HashMap;

use super::reader::{kind, string_list, Obj};
use super::ConfigErrors;

pub(super) fn load_roles(errs: &mut ConfigErrors, top: &Obj<'_>) -> HashMap<String, Vec<String>> {
    let mut roles = HashMap::new();
    let Some(v) = top.get("roles") else {
        return roles;
    };
    let path = top.at("roles");
    let Some(map) = v.as_object() else {
        errs.push(&path, format!("expected an object of role name to permission list; got {}", kind(v)));
        return roles;
    };
    for (name, perms) in map {
        let perms = string_list(errs, &format!("{path}.{name}"), perms);
        roles.insert(name.clone(), perms);
    }
    roles
}
