//! Ids the compiler tells apart. Every table's key has its own type, so a function taking a room
//! and a user cannot be handed them the other way round; each is the bare value on the wire
//! (serde transparent) and in PostgreSQL (diesel-derive-newtype), so neither format changes.

use std::fmt;
use std::str::FromStr;

use diesel_derive_newtype::DieselNewType;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, DieselNewType,
            utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new random id (v4).
            pub fn new() -> Self {
                Self(Uuid::new_v4())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl From<$name> for Uuid {
            fn from(id: $name) -> Self {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Uuid::from_str(s).map(Self)
            }
        }
    };
}

uuid_id!(
    /// `users.id`: accounts, guests and bots alike.
    UserId
);
uuid_id!(
    /// `rooms.id`.
    RoomId
);
uuid_id!(
    /// `messages.id`.
    MessageId
);
uuid_id!(
    /// `support_sessions.id`.
    SessionId
);
uuid_id!(
    /// `friend_requests.id`.
    FriendRequestId
);
uuid_id!(
    /// `contacts.id`: entries of the contact form.
    ContactId
);
uuid_id!(
    /// `attachments.id`: an uploaded file.
    AttachmentId
);
uuid_id!(
    /// `audit_log.id`: entries of the audit log.
    AuditEntryId
);
uuid_id!(
    /// `canned_replies.id`: the support inbox's ready-made answers.
    CannedReplyId
);
uuid_id!(
    /// `support_blocks.id`: a support visitor blocked by address or browser for a while.
    SupportBlockId
);

uuid_id!(
    /// `api_tokens.id`: personal API tokens (also the "login session" a token's sockets belong
    /// to, so revoking it closes them the way a logout does).
    ApiTokenId
);

/// A room's sequence number: every history change of a room (a new message, an edit, a delete,
/// a reaction) takes the next one, and a message's `seq` and `rev` are both of this kind.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, DieselNewType, utoipa::ToSchema,
)]
#[serde(transparent)]
#[schema(value_type = i64)]
pub struct Seq(pub i64);

impl Seq {
    pub const ZERO: Seq = Seq(0);
}

/// Seqs are counted: the next one is `seq + 1`, a range is `upto - since` changes long.
impl std::ops::Add<i64> for Seq {
    type Output = Seq;
    fn add(self, n: i64) -> Seq {
        Seq(self.0 + n)
    }
}

impl std::ops::AddAssign<i64> for Seq {
    fn add_assign(&mut self, n: i64) {
        self.0 += n;
    }
}

impl std::ops::Sub<i64> for Seq {
    type Output = Seq;
    fn sub(self, n: i64) -> Seq {
        Seq(self.0 - n)
    }
}

impl std::ops::Sub for Seq {
    type Output = i64;
    fn sub(self, other: Seq) -> i64 {
        self.0 - other.0
    }
}

impl fmt::Display for Seq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// One WebSocket connection, unique in this process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ConnId(pub u64);

impl fmt::Display for ConnId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}
uuid_id!(
    /// `push_subscriptions.id`: one browser's Web Push subscription.
    PushSubscriptionId
);
