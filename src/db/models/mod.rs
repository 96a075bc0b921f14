//! Row structs (one file per table or close group): `X` as read, `NewX` to insert, `XChanges` to
//! update. Text columns with a fixed set of values (roles, kinds, statuses) are enums declared
//! with `text_enum!`.

/// Declares an enum stored as text (a column with a CHECK constraint): its lowercase names on
/// the wire (serde), in the OpenAPI document, as text (strum's `IntoStaticStr` and `EnumString`)
/// and in PostgreSQL. A stored value the enum does not know is an error, never a silent fallback.
macro_rules! text_enum {
    ($(#[$meta:meta])* pub enum $name:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
            strum::EnumString, strum::IntoStaticStr, diesel::expression::AsExpression,
            diesel::deserialize::FromSqlRow,
        )]
        #[diesel(sql_type = diesel::sql_types::Text)]
        #[serde(rename_all = "lowercase")]
        #[strum(serialize_all = "lowercase")]
        pub enum $name {
            $($variant),+
        }

        impl diesel::serialize::ToSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn to_sql<'b>(
                &'b self,
                out: &mut diesel::serialize::Output<'b, '_, diesel::pg::Pg>,
            ) -> diesel::serialize::Result {
                use std::io::Write;
                out.write_all(self.as_str().as_bytes())?;
                Ok(diesel::serialize::IsNull::No)
            }
        }

        impl diesel::deserialize::FromSql<diesel::sql_types::Text, diesel::pg::Pg> for $name {
            fn from_sql(value: diesel::pg::PgValue<'_>) -> diesel::deserialize::Result<Self> {
                let text = std::str::from_utf8(value.as_bytes())?;
                text.parse().map_err(|_| format!("unknown {} '{}' in the database", stringify!($name), text).into())
            }
        }

        impl $name {
            pub fn as_str(self) -> &'static str {
                self.into()
            }
        }
    };
}

pub mod account;
pub mod api_token;
pub mod attachment;
pub mod message;
pub mod push;
pub mod refresh_token;
pub mod room;
pub mod social;
pub mod support;
pub mod user;
pub mod webhook;

pub use account::{
    Language, NewMail, NewMfaChallenge, NewPasswordResetToken, NewRecoveryCode, PasswordResetToken, QueuedMail,
    UserTotp,
};
pub use api_token::{ApiToken, NewApiToken};
pub use attachment::{Attachment, NewAttachment};
pub use message::{Message, Reaction};
pub use push::{ClaimedPush, NewPushSubscription, NotifyLevel, PushSubscription, RoomNotificationSetting};
pub use refresh_token::{NewRefreshToken, RefreshToken};
pub use room::{MemberRole, NewRoom, NewRoomMember, Room, RoomChanges, RoomKind, RoomMember};
pub use social::{Block, FriendRequest};
pub use support::{
    AuditEntry, CannedReply, CannedReplyChanges, Contact, NewAuditEntry, NewCannedReply, NewContact, NewSupportBlock,
    NewSupportSession, SupportBlock, SupportSession, SupportStatus,
};
pub use user::{ChosenStatus, NewUser, PresenceVisibility, Role, User, UserChanges};
pub use webhook::{Attempt, IncomingHook, NewIncomingHook, NewWebhookEndpoint, OutboxRow, WebhookEndpoint};
