//! Row structs (one file per table): `X` as read, `NewX` to insert, `XChanges` to update.

pub mod refresh_token;
pub mod user;

pub use refresh_token::{NewRefreshToken, RefreshToken};
pub use user::{NewUser, Role, User, UserChanges};
