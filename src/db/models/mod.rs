//! Row structs (one file per table or close group): `X` as read, `NewX` to insert, `XChanges` to
//! update. Text columns with a fixed set of values (roles, kinds) get an enum with `parse`.

pub mod message;
pub mod refresh_token;
pub mod room;
pub mod social;
pub mod support;
pub mod user;

pub use message::{Message, Reaction};
pub use refresh_token::{NewRefreshToken, RefreshToken};
pub use room::{MemberRole, NewRoom, NewRoomMember, Room, RoomChanges, RoomKind, RoomMember};
pub use social::{Block, FriendRequest};
pub use support::{AuditEntry, Contact, NewAuditEntry, NewContact, NewSupportSession, SupportSession, SupportStatus};
pub use user::{NewUser, Role, User, UserChanges};
