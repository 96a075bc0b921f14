//! The rules of plauder, called by the REST handlers and the WebSocket connection actors alike,
//! so both paths behave the same. Services speak `ApiError` and wire views; they take the shared
//! state and plain inputs, never HTTP types, and publish what they changed through `notify`
//! after it commits.

pub mod access;
pub mod accounts;
pub mod admin;
pub mod assistant;
pub mod attachments;
pub mod audit;
pub mod avatars;
pub mod commands;
pub mod contacts;
pub mod digest;
pub mod export;
pub mod history;
pub mod images;
pub mod incoming_hooks;
pub mod knowledge;
pub mod mail;
pub mod mail_templates;
pub mod mentions;
pub mod messages;
pub mod mfa;
pub mod notifications;
pub mod notify;
pub mod recovery;
pub mod retention;
pub mod room_gate;
pub mod rooms;
pub mod social;
pub mod support;
pub mod support_mail;
pub mod support_tools;
pub mod tokens;
pub mod turn;
pub mod upload_quota;
pub mod users;
pub mod validate;
pub mod verification;
pub mod webhooks;

use crate::error::{ApiError, ApiResult};

/// Runs `work` as a task of its own on this thread and waits for it: dropping the caller's
/// future (a client gone mid-request, a proxy that stopped waiting) does not stop it, so a commit
/// is always followed by its announcement, and a long deletion runs to its end. (actix's runtime
/// is a thread-local set, so the task need not be `Send`.)
pub(crate) async fn uncancelled<T: 'static>(work: impl Future<Output = ApiResult<T>> + 'static) -> ApiResult<T> {
    actix_web::rt::spawn(work).await.map_err(|e| ApiError::internal(anyhow::anyhow!("service task: {e}")))?
}
