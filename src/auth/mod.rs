//! Authentication: password hashing, access tokens (JWT), refresh tokens, the `Caller` that
//! services take and the extractors that produce it and protect routes by role, per-IP rate limiting of the public routes (keyed on the client address
//! `client_ip` works out behind trusted proxies) and per-account login back-off.

pub mod api_token;
pub mod client_ip;
pub mod extractor;
pub mod jwt;
pub mod password;
pub mod ratelimit;
pub mod refresh;
pub mod signed_url;

pub use extractor::{AdminUser, AnyUser, AuthUser, Caller, StaffUser};
