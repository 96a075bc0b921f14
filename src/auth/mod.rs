//! Authentication: password hashing, access tokens (JWT), refresh tokens, the `AuthUser`
//! extractors that protect routes by role, and per-IP rate limiting of the public routes.

pub mod extractor;
pub mod jwt;
pub mod password;
pub mod ratelimit;
pub mod refresh;

pub use extractor::{AdminUser, AnyUser, AuthUser, StaffUser};
