//! Logout: our cookies are cleared, then the provider's end-session endpoint (OIDC RP-Initiated Logout §2,
//! or Auth0's `/v2/logout`) ends the provider's session too.

use super::session::open_session;
use super::{request_cookies, Jar};
use crate::config::SessionConfig;
use crate::decision::Decision;
use crate::oidc::form;
use crate::reason::Reason;
use crate::request::Request;
use crate::respond::redirect;
use crate::session::chunks;

/// Ends the session of the deployment `jar` belongs to (other deployments' sessions in the same browser
/// stay), and any sign-in in progress.
pub fn logout(
    sc: &SessionConfig,
    jar: Option<Jar<'_>>,
    req: &Request<'_>,
    now: u64,
    remote: &crate::jwks::RemoteKeys,
) -> Decision {
    let cookies = request_cookies(req);
    let name = jar.map_or(sc.cookie_name.as_str(), |j| j.name);
    let mut clear: Vec<String> = cookies
        .iter()
        .filter(|(n, _)| chunks::is_family(n, name) || sc.is_flow_cookie(n))
        .map(|(n, _)| sc.attributes.clear(n))
        .collect();
    clear.dedup();
    let id_token = jar.and_then(|j| open_session(sc, j, &cookies, now, None).ok()).and_then(|o| o.session.id_token);
    let after = sc.post_logout_redirect_uri.clone().unwrap_or_else(|| "/".to_owned());
    let end_session = sc.provider.endpoints(remote).and_then(|e| e.end_session.map(str::to_owned));
    let location = match (&end_session, id_token) {
        // Auth0's /v2/logout takes the client and an allow-listed `returnTo`, no hint.
        (Some(end), _) if sc.provider.auth0_logout => {
            let mut params = vec![("client_id", sc.provider.client_id.as_str())];
            if let Some(uri) = &sc.post_logout_redirect_uri {
                params.push(("returnTo", uri));
            }
            let sep = if end.contains('?') { '&' } else { '?' };
            format!("{end}{sep}{}", form(&params))
        }
        // OIDC RP-Initiated Logout §2: the hint names the session; the redirect must be registered.
        (Some(end), Some(hint)) => {
            let mut params = vec![("id_token_hint", hint.as_str()), ("client_id", sc.provider.client_id.as_str())];
            if let Some(uri) = &sc.post_logout_redirect_uri {
                params.push(("post_logout_redirect_uri", uri));
            }
            let sep = if end.contains('?') { '&' } else { '?' };
            format!("{end}{sep}{}", form(&params))
        }
        _ => after,
    };
    redirect(&location, clear, Reason::Logout, None)
}
