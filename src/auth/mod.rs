//! Authentication: password hashing, access tokens (JWT), refresh tokens, the `Caller` that
//! services take and the extractors that produce it and protect routes by role, and per-IP rate limiting of the public routes.

pub mod extractor;
pub mod jwt;
pub mod password;
pub mod ratelimit;
pub mod refresh;

pub use extractor::{AdminUser, AnyUser, AuthUser, Caller, StaffUser};
