//! Queries, one file per table or close group. Each takes `&mut AsyncPgConnection` so services can
//! run several in one transaction; none knows about HTTP or the protocol's errors.

pub mod api_tokens;
pub mod attachments;
pub mod audit_log;
pub mod commands;
pub mod contacts;
pub mod digest;
pub mod incoming_hooks;
pub mod knowledge;
pub mod mail_queue;
pub mod messages;
pub mod mfa;
pub mod password_resets;
pub mod push;
pub mod refresh_tokens;
pub mod retention;
pub mod rooms;
pub mod social;
pub mod stats;
pub mod support;
pub mod support_mail;
pub mod support_tools;
pub mod users;
pub mod webhooks;
