//! The rows of account recovery and protection: queued mails, password reset tokens, TOTP
//! enrolments, recovery codes and login challenges.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::ids::UserId;
use crate::schema::{mail_queue, mfa_challenges, mfa_recovery_codes, password_reset_tokens, user_totp};

text_enum! {
    /// The languages mails (and a user's preference, `users.language`) come in.
    pub enum Language {
        En,
        De,
    }
}

impl Language {
    /// The first language of an `Accept-Language` header that we have, by the header's order
    /// of preference (q values); English when none matches.
    pub fn from_accept_language(header: Option<&str>) -> Self {
        let Some(header) = header else { return Language::En };
        let mut ranked: Vec<(f32, &str)> = header
            .split(',')
            .filter_map(|part| {
                let mut pieces = part.split(';');
                let tag = pieces.next()?.trim();
                let q = pieces
                    .find_map(|p| p.trim().strip_prefix("q="))
                    .map_or(Some(1.0), |q| q.trim().parse::<f32>().ok())?;
                Some((q, tag))
            })
            .collect();
        // Stable: equal q values keep the header's order.
        ranked.sort_by(|a, b| b.0.total_cmp(&a.0));
        ranked
            .into_iter()
            .filter(|(q, _)| *q > 0.0)
            .find_map(|(_, tag)| {
                let primary = tag.split('-').next().unwrap_or_default().to_ascii_lowercase();
                primary.parse::<Language>().ok()
            })
            .unwrap_or(Language::En)
    }
}

#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Identifiable)]
#[diesel(table_name = mail_queue, check_for_backend(diesel::pg::Pg))]
pub struct QueuedMail {
    pub id: Uuid,
    pub kind: String,
    pub recipient: String,
    pub subject: String,
    pub body_text: String,
    pub body_html: String,
    pub language: Language,
    pub attempts: i32,
    pub next_attempt_at: DateTime<Utc>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub sent_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    /// The one-click unsubscribe address, sent as `List-Unsubscribe` (RFC 8058).
    pub list_unsubscribe: Option<String>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = mail_queue)]
pub struct NewMail<'a> {
    pub id: Uuid,
    pub kind: &'a str,
    pub recipient: &'a str,
    pub subject: &'a str,
    pub body_text: &'a str,
    pub body_html: &'a str,
    pub language: Language,
    pub list_unsubscribe: Option<&'a str>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = password_reset_tokens, check_for_backend(diesel::pg::Pg))]
pub struct PasswordResetToken {
    pub id: Uuid,
    pub user_id: UserId,
    pub expires_at: DateTime<Utc>,
    pub used_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = password_reset_tokens)]
pub struct NewPasswordResetToken<'a> {
    pub id: Uuid,
    pub user_id: UserId,
    pub token_hash: &'a [u8],
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = user_totp, check_for_backend(diesel::pg::Pg))]
pub struct UserTotp {
    pub user_id: UserId,
    pub secret: Vec<u8>,
    pub enabled_at: Option<DateTime<Utc>>,
    pub last_used_step: i64,
    pub failed_attempts: i32,
    pub locked_until: Option<DateTime<Utc>>,
}

#[derive(Debug, Insertable)]
#[diesel(table_name = mfa_recovery_codes)]
pub struct NewRecoveryCode<'a> {
    pub id: Uuid,
    pub user_id: UserId,
    pub code_hash: &'a [u8],
}

#[derive(Debug, Insertable)]
#[diesel(table_name = mfa_challenges)]
pub struct NewMfaChallenge<'a> {
    pub id: Uuid,
    pub user_id: UserId,
    pub token_hash: &'a [u8],
    pub expires_at: DateTime<Utc>,
}

#[cfg(test)]
mod tests {
    use super::Language;

    #[test]
    fn accept_language_picks_the_best_language_we_have() {
        assert_eq!(Language::from_accept_language(None), Language::En);
        assert_eq!(Language::from_accept_language(Some("de-DE,de;q=0.9,en;q=0.8")), Language::De);
        assert_eq!(Language::from_accept_language(Some("fr-FR, en;q=0.5, de;q=0.7")), Language::De);
        assert_eq!(Language::from_accept_language(Some("fr, it")), Language::En);
        assert_eq!(Language::from_accept_language(Some("de;q=0, en")), Language::En);
        assert_eq!(Language::from_accept_language(Some("garbage;q=x, DE")), Language::De);
    }
}
