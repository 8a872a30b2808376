//! Every page a person may see during sign-in, in one place: what each says and with which status. The
//! reason code travels separately, into logs and metrics; the page itself never says more than this.

use crate::decision::Decision;
use crate::reason::Reason;
use crate::respond::page;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Page {
    /// The breaker is open: no redirect to a provider that will not answer.
    ProviderDown,
    /// The provider did not answer the code exchange.
    ProviderNotAnswering,
    /// The token service (RFC 8693 exchange) did not answer.
    TokenServiceDown,
    ProviderAnswerIncomplete,
    NotConfigured,
    /// RFC 6749 §4.1.2.1: the provider refused (the person cancelled, or policy). Not an outage.
    ProviderDidNotSignIn,
    ProviderRefused,
    AnswerNotVerified,
    ResponseInvalid,
    ResponseIncomplete,
    ResponseMismatch,
    LinkInvalid,
    TookTooLong,
    NoAccess,
    CannotStore,
}

impl Page {
    fn text(self) -> (u16, &'static str, &'static str) {
        const UNAVAILABLE: &str = "Sign-in unavailable";
        const FAILED: &str = "Sign-in failed";
        const EXPIRED: &str = "Sign-in expired";
        match self {
            Page::ProviderDown => (
                503,
                UNAVAILABLE,
                "The identity provider is not answering. If you were signed in, you still are; please try signing in again in a moment.",
            ),
            Page::ProviderNotAnswering => {
                (503, UNAVAILABLE, "The identity provider is not answering. Please try again in a moment.")
            }
            Page::TokenServiceDown => (503, UNAVAILABLE, "The token service is not answering. Please try again in a moment."),
            Page::ProviderAnswerIncomplete => (503, UNAVAILABLE, "The identity provider's answer was incomplete."),
            Page::NotConfigured => (503, UNAVAILABLE, "Sign-in is not configured."),
            Page::ProviderDidNotSignIn => (401, FAILED, "The identity provider did not sign you in."),
            Page::ProviderRefused => (401, FAILED, "The identity provider refused the sign-in."),
            Page::AnswerNotVerified => (401, FAILED, "The identity provider's answer could not be verified."),
            Page::ResponseInvalid => (400, FAILED, "The sign-in response was not valid."),
            Page::ResponseIncomplete => (400, FAILED, "The sign-in response was incomplete."),
            Page::ResponseMismatch => (400, FAILED, "The sign-in response did not match."),
            Page::LinkInvalid => (400, EXPIRED, "This sign-in link is no longer valid."),
            Page::TookTooLong => (400, EXPIRED, "This sign-in took too long."),
            Page::NoAccess => {
                (403, "Sign-in refused", "You are signed in, but no access to this deployment was granted.")
            }
            Page::CannotStore => (500, FAILED, "The session could not be stored."),
        }
    }
}

/// The page as a reply, clearing or setting `cookies` on the way.
pub fn show(p: Page, reason: Reason, cookies: Vec<String>) -> Decision {
    let (status, title, message) = p.text();
    page(status, title, message, reason, cookies)
}
