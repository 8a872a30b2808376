//! What the upstream receives about a verified caller. Today: identity headers. This is the seam where the
//! upstream token (an Airflow 3 JWT minted from the identity) plugs in with browser login.

use crate::config::IdentityHeaders;
use crate::dat::Identity;

/// The headers to add for `identity`; the names come from configuration and are stripped from every
/// client request, so only these values reach the upstream.
pub fn identity_headers(names: &IdentityHeaders, identity: &Identity) -> Vec<(String, String)> {
    let values = [
        (&names.deployment, identity.deployment.clone()),
        (&names.subject, Some(identity.subject.clone())),
        (&names.issuer, Some(identity.issuer.clone())),
        (&names.scope, identity.scope.clone()),
        (&names.role, (!identity.roles.is_empty()).then(|| identity.roles.join(","))),
        (&names.permissions, Some(identity.permissions.iter().cloned().collect::<Vec<_>>().join(","))),
        (&names.token_id, identity.token_id.clone()),
    ];
    values.into_iter().filter_map(|(name, value)| Some((name.clone()?, value?))).collect()
}
