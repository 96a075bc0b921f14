//! Authentication: password hashing, access tokens (JWT), refresh tokens, the `AuthUser`
//! extractor that every protected route takes, and per-IP rate limiting of the auth routes.

pub mod extractor;
pub mod jwt;
pub mod password;
pub mod ratelimit;
pub mod refresh;

pub use extractor::AuthUser;
