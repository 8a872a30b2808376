//! JSON Web Tokens: strict parsing (RFC 7515/7519), verification with configured keys only (RFC 8725), and
//! signing for the CLI and for upstream tokens.

pub mod alg;
pub mod claims;
pub mod error;
pub mod issuer;
pub mod jwk;
pub mod key;
#[cfg(feature = "keygen")]
pub mod keygen;
pub mod roca;
pub mod sign;
pub mod token;
pub mod verify;

pub use alg::Alg;
pub use claims::Claims;
pub use error::JwtError;
pub use issuer::{Issuer, IssuerKind};
pub use key::VerifyKey;
pub use sign::SigningKey;
pub use verify::{verify_token, verify_token_with, Verified};
