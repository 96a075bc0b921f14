//! Why the server closes a socket: each reason carries its close code (PROTOCOL.md) and the text
//! sent with it. The same value travels between instances (the broker's wire format names the
//! variant), so a socket closed on behalf of another instance gets the same code and text as one
//! closed where the change happened.

use serde::{Deserialize, Serialize};

/// Close codes (PROTOCOL.md): named so no code appears as a bare number elsewhere.
pub mod code {
    pub const GOING_AWAY: u16 = 1001;
    pub const PROTOCOL_ERROR: u16 = 1002;
    pub const INVALID_DATA: u16 = 1007;
    pub const POLICY: u16 = 1008;
    pub const TOO_BIG: u16 = 1009;
    pub const TOKEN_REVOKED: u16 = 4001;
    pub const BANNED: u16 = 4003;
    pub const TOO_SLOW: u16 = 4009;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CloseReason {
    /// The server is shutting down (after the connection's running commands replied).
    ShuttingDown,
    /// Nothing heard for three heartbeat intervals.
    NoHeartbeat,
    /// A new connection's rooms could not be loaded.
    Unavailable,
    /// Too many rate-limited commands in a row.
    RateLimitAbuse,
    /// A text frame over `realtime.max_frame_bytes`.
    FrameTooLarge,
    /// A text frame whose payload is not UTF-8.
    InvalidText,
    /// A frame that breaks the WebSocket protocol (unmasked, a bad opcode or length).
    ProtocolViolation,
    /// Logout everywhere (or an admin action that revokes the user's sessions).
    TokensRevoked,
    /// The login session whose access token opened (or last refreshed) the socket was logged out
    /// (`POST /auth/logout`).
    LoggedOut,
    PasswordChanged,
    /// The access token the socket was opened (or last refreshed) with expired, and no
    /// `auth.refresh` extended it within `realtime.token_grace_ms`: a socket lives no longer than
    /// the credentials it was opened with.
    TokenExpired,
    /// The global role changed: the connection was set up for the old one (staff topic, support
    /// rooms), so it reconnects as the new one.
    RoleChanged,
    /// The account was deleted (by its user, an admin, or the retention job for guests).
    AccountDeleted,
    Banned,
    /// The outgoing queue passed its limit: the client reconnects and syncs.
    TooSlow,
}

impl CloseReason {
    pub const fn code(self) -> u16 {
        match self {
            CloseReason::ShuttingDown | CloseReason::NoHeartbeat | CloseReason::Unavailable => code::GOING_AWAY,
            CloseReason::RateLimitAbuse => code::POLICY,
            CloseReason::FrameTooLarge => code::TOO_BIG,
            CloseReason::InvalidText => code::INVALID_DATA,
            CloseReason::ProtocolViolation => code::PROTOCOL_ERROR,
            CloseReason::TokensRevoked
            | CloseReason::LoggedOut
            | CloseReason::PasswordChanged
            | CloseReason::RoleChanged
            | CloseReason::AccountDeleted
            | CloseReason::TokenExpired => code::TOKEN_REVOKED,
            CloseReason::Banned => code::BANNED,
            CloseReason::TooSlow => code::TOO_SLOW,
        }
    }

    /// The close frame's reason text, as documented in docs/protocol.md.
    pub const fn text(self) -> &'static str {
        match self {
            CloseReason::ShuttingDown => "server shutting down",
            CloseReason::NoHeartbeat => "no heartbeat",
            CloseReason::Unavailable => "service unavailable",
            CloseReason::RateLimitAbuse => "rate limit exceeded persistently",
            CloseReason::FrameTooLarge => "frame too large",
            CloseReason::InvalidText => "text frame is not UTF-8",
            CloseReason::ProtocolViolation => "websocket protocol error",
            CloseReason::TokensRevoked => "tokens revoked",
            CloseReason::LoggedOut => "session logged out",
            CloseReason::PasswordChanged => "password changed",
            CloseReason::TokenExpired => "token expired: send auth.refresh before expiry, or reconnect",
            CloseReason::RoleChanged => "role changed: reconnect",
            CloseReason::AccountDeleted => "account deleted",
            CloseReason::Banned => "banned",
            CloseReason::TooSlow => "too slow: reconnect and sync",
        }
    }
}
