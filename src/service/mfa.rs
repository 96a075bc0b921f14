//! TOTP two-factor (RFC 6238 through totp-rs: SHA-1, six digits, 30-second steps, one step of
//! skew either way): enrolment with a secret, its `otpauth://` URI and a QR code (SVG, rendered
//! here with `qrcode`), confirmation with a code, ten single-use recovery codes (SHA-256), the
//! login challenge and its completion, and disabling with password and code.
//!
//! Every code is checked under a row lock on the user's `user_totp` row, which also keeps the
//! step of the last accepted code: a code, or one of an earlier step, is never accepted twice,
//! even by two requests at once or on two instances. Wrong codes are counted there too, so the
//! lock-out after `mfa.max_failed_attempts` holds across instances.

use chrono::{Duration, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection};
use serde::Serialize;
use sha2::{Digest, Sha256};
use totp_rs::{Algorithm, Builder, Totp};
use uuid::Uuid;

use crate::auth::refresh;
use crate::db::models::{NewMfaChallenge, NewRecoveryCode, User};
use crate::db::queries::{mfa, users};
use crate::error::{ApiError, ApiResult};
use crate::ids::UserId;
use crate::protocol::CloseReason;
use crate::service::accounts::{self, AuthResponse};
use crate::state::AppState;

/// Recovery codes handed out per enrolment.
pub const RECOVERY_CODES: usize = 10;
/// Secret length: 160 bits, RFC 4226's recommendation.
const SECRET_BYTES: usize = 20;

/// What enrolling shows the user: the secret to type in, or the URI / QR code to scan.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Enrolment {
    /// The secret in base32 (RFC 4648, no padding), for typing into an authenticator app.
    pub secret: String,
    /// `otpauth://totp/<issuer>:<username>?secret=…&issuer=…`.
    pub otpauth_uri: String,
    /// The URI as a QR code, an SVG document.
    pub qr_svg: String,
}

/// What confirming answers: the recovery codes (shown once) and a new session, since every
/// earlier one was ended.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Confirmed {
    pub recovery_codes: Vec<String>,
    #[serde(flatten)]
    pub session: AuthResponse,
}

/// `GET /users/me/mfa`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MfaStatus {
    pub enabled: bool,
    /// Unused recovery codes (0 when two-factor is off).
    pub recovery_codes_left: i64,
    /// Whether this account's role needs two-factor for its staff rights (`mfa.require_for_staff`).
    pub required: bool,
}

/// A password login of an enrolled account: no tokens yet.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct MfaChallenge {
    /// Always true: tells this answer from an [`AuthResponse`].
    pub mfa_required: bool,
    /// Completes the login with a code at `POST /auth/login/mfa`.
    pub mfa_token: String,
    /// Seconds until the challenge expires.
    pub expires_in: u64,
}

/// The TOTP of a secret, as authenticator apps compute it.
///
/// # Errors
/// A secret shorter than 128 bits or a username with a colon (neither happens for ours).
pub fn totp(secret: &[u8], issuer: &str, username: &str) -> ApiResult<Totp> {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(6)
        .with_skew(1)
        .with_step_duration(30)
        .with_secret(secret.to_vec())
        .with_issuer(Some(issuer))
        .with_account_name(username)
        .build()
        .map_err(|e| ApiError::internal(anyhow::anyhow!("totp: {e}")))
}

fn now_secs() -> u64 {
    u64::try_from(Utc::now().timestamp()).unwrap_or(0)
}

fn hash_code(code: &str) -> Vec<u8> {
    Sha256::digest(normalise_recovery(code).as_bytes()).to_vec()
}

/// Recovery codes are compared without case, spaces or dashes.
fn normalise_recovery(code: &str) -> String {
    code.chars().filter(|c| c.is_ascii_alphanumeric()).map(|c| c.to_ascii_lowercase()).collect()
}

/// Ten new recovery codes: 10 characters of base32 each (50 bits), shown as `xxxxx-xxxxx`.
fn new_recovery_codes() -> ApiResult<Vec<String>> {
    let mut codes = Vec::with_capacity(RECOVERY_CODES);
    for _ in 0..RECOVERY_CODES {
        let mut bytes = [0u8; 10];
        getrandom::fill(&mut bytes).map_err(|e| ApiError::internal(anyhow::anyhow!("random source: {e}")))?;
        const ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
        let chars: String = bytes.iter().map(|b| ALPHABET[usize::from(*b) % ALPHABET.len()] as char).collect();
        codes.push(format!("{}-{}", &chars[..5], &chars[5..]));
    }
    Ok(codes)
}

/// `POST /users/me/mfa/totp {password}`: a new secret for the caller, pending until confirmed.
/// Starting again replaces a pending secret. The password is asked for because confirming ends
/// every other session and makes the code the only way in besides the recovery codes it hands out:
/// with an access token alone, whoever held it (taken from a shared computer, a log) could make the
/// account theirs, and a password reset leaves two-factor on.
///
/// # Errors
/// `forbidden` for a wrong password; `conflict` when two-factor is already on.
pub async fn begin_enrolment(state: &AppState, user: &User, password: String) -> ApiResult<Enrolment> {
    if !state.passwords.verify(password, user.password_hash.clone()).await? {
        return Err(ApiError::Forbidden("The password is wrong.".into()));
    }
    let mut secret = [0u8; SECRET_BYTES];
    getrandom::fill(&mut secret).map_err(|e| ApiError::internal(anyhow::anyhow!("random source: {e}")))?;
    let totp = totp(&secret, &state.settings.mfa.issuer, &user.username)?;
    let otpauth_uri = totp.to_url().map_err(|e| ApiError::internal(anyhow::anyhow!("otpauth uri: {e}")))?;
    let qr_svg = qrcode::QrCode::new(otpauth_uri.as_bytes())
        .map_err(|e| ApiError::internal(anyhow::anyhow!("qr code: {e}")))?
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .build();
    let mut conn = state.db().await?;
    let user_id = user.id;
    conn.transaction::<_, ApiError, _>(async |conn| {
        if mfa::find_for_update(conn, user_id).await?.is_some_and(|t| t.enabled_at.is_some()) {
            return Err(ApiError::Conflict("Two-factor authentication is already on.".into()));
        }
        mfa::upsert_pending(conn, user_id, &secret).await?;
        Ok(())
    })
    .await?;
    Ok(Enrolment { secret: totp.secret().to_base32(), otpauth_uri, qr_svg })
}

/// `POST /users/me/mfa/totp/confirm`: the first code from the app turns two-factor on. Every
/// session of the account ends (one opened with the password alone must not stay, and a staff
/// account's earlier tokens may have been plain-user ones, see `mfa.require_for_staff`); the
/// answer carries a new one, and the ten recovery codes.
///
/// # Errors
/// `not_found` without a pending enrolment, `conflict` when already on, `validation_failed` on
/// `code` for a wrong one.
pub async fn confirm_enrolment(
    state: &AppState,
    user: &User,
    code: &str,
    user_agent: Option<&str>,
) -> ApiResult<Confirmed> {
    let codes = new_recovery_codes()?;
    let hashes: Vec<Vec<u8>> = codes.iter().map(|c| hash_code(c)).collect();
    let issuer = state.settings.mfa.issuer.clone();
    let user_id = user.id;
    let username = user.username.clone();
    let code = code.trim().to_owned();
    let mut conn = state.db().await?;
    let fresh = conn
        .transaction::<_, ApiError, _>(async |conn| {
            // The account's row before the two-factor row, as every revocation takes them
            // (`accounts::revoke_all`, which this ends with). A revocation committed since the caller
            // was authenticated (the owner changing the password, signing out everywhere) ends this
            // confirmation too: it would otherwise put the pending authenticator on the account and
            // hand its holder a new session after the revocation.
            accounts::lock_unrevoked(conn, user).await?;
            let Some(row) = mfa::find_for_update(conn, user_id).await? else {
                return Err(ApiError::NotFound("Start enrolling first (POST /users/me/mfa/totp).".into()));
            };
            if row.enabled_at.is_some() {
                return Err(ApiError::Conflict("Two-factor authentication is already on.".into()));
            }
            let step = totp(&row.secret, &issuer, &username)?.check(&code, now_secs()).ok_or_else(|| {
                ApiError::validation("code", "That code is wrong; check the app's clock and try the next one.")
            })?;
            mfa::enable(conn, user_id, i64::try_from(step).unwrap_or(i64::MAX)).await?;
            let new: Vec<NewRecoveryCode> =
                hashes.iter().map(|h| NewRecoveryCode { id: Uuid::new_v4(), user_id, code_hash: h }).collect();
            mfa::replace_recovery_codes(conn, user_id, &new).await?;
            accounts::revoke_all(conn, user_id).await?;
            // As this confirmation leaves the row, read under its lock: the new session then checks
            // it against any revocation committed after this one.
            users::find(conn, user_id).await?.ok_or_else(|| ApiError::NotFound("No such user.".into()))
        })
        .await?;
    state.notify.close_user(user_id, CloseReason::TokensRevoked);
    let session = accounts::start_session(state, &mut conn, &fresh, user_agent).await?;
    Ok(Confirmed { recovery_codes: codes, session })
}

/// `GET /users/me/mfa`.
///
/// # Errors
/// Database failures only.
pub async fn status(state: &AppState, user: &User) -> ApiResult<MfaStatus> {
    let mut conn = state.db().await?;
    let enabled = mfa::is_enabled(&mut conn, user.id).await?;
    let left = if enabled { mfa::recovery_codes_left(&mut conn, user.id).await? } else { 0 };
    Ok(MfaStatus {
        enabled,
        recovery_codes_left: left,
        required: state.settings.mfa.require_for_staff && user.role.is_staff(),
    })
}

/// How a code check ended; decided inside the transaction, turned into an error after its
/// commit so that a counted failure is kept.
enum Check {
    Accepted,
    Wrong { locked: bool },
    Locked { retry_after_ms: u64 },
    NotEnrolled,
}

/// Checks a TOTP code or a recovery code of an enrolled account, spending it when right and
/// counting it when wrong, in the caller's transaction.
async fn check_code(state: &AppState, conn: &mut AsyncPgConnection, user: &User, code: &str) -> ApiResult<Check> {
    let Some(row) = mfa::find_for_update(conn, user.id).await? else { return Ok(Check::NotEnrolled) };
    if row.enabled_at.is_none() {
        return Ok(Check::NotEnrolled);
    }
    let now = Utc::now();
    let code = code.trim();
    if let Some(until) = row.locked_until.filter(|u| *u > now) {
        // A recovery code still works: fifty random bits are not guessed five at a time, and
        // without it whoever holds the password could keep the owner out with a few wrong codes
        // a day. Its failures are not counted while locked.
        if normalise_recovery(code).len() == 10 && mfa::use_recovery_code(conn, user.id, &hash_code(code)).await? {
            mfa::reset_failures(conn, user.id).await?;
            tracing::info!(user_id = %user.id, "recovery code used while codes were locked");
            return Ok(Check::Accepted);
        }
        let retry_after_ms = u64::try_from((until - now).num_milliseconds()).unwrap_or(1).max(1);
        return Ok(Check::Locked { retry_after_ms });
    }
    let digits: String = code.chars().filter(|c| !c.is_whitespace()).collect();
    let accepted = if digits.len() == 6 && digits.bytes().all(|b| b.is_ascii_digit()) {
        let totp = totp(&row.secret, &state.settings.mfa.issuer, &user.username)?;
        match totp.check(&digits, now_secs()).and_then(|s| i64::try_from(s).ok()) {
            // Only a step after the last one accepted: replays and older codes are refused.
            Some(step) if step > row.last_used_step => {
                mfa::accept_step(conn, user.id, step).await?;
                true
            }
            _ => false,
        }
    } else if normalise_recovery(code).len() == 10 && mfa::use_recovery_code(conn, user.id, &hash_code(code)).await? {
        mfa::reset_failures(conn, user.id).await?;
        tracing::info!(user_id = %user.id, "recovery code used");
        true
    } else {
        false
    };
    if accepted {
        return Ok(Check::Accepted);
    }
    let failed = row.failed_attempts.saturating_add(1);
    let max = state.settings.mfa.max_failed_attempts.max(1);
    // Every `max`-th wrong code in a row locks, each lock twice as long as the one before (up to a
    // day): the count goes on through the locks until a code is accepted. A lock of the same
    // length each time let a guesser with the password try `max` codes per lock for ever.
    if failed % max == 0 {
        let doublings = u32::try_from(failed / max - 1).unwrap_or(0).min(16);
        let secs = state.settings.mfa.lockout_secs.saturating_mul(1 << doublings).min(MAX_LOCKOUT_SECS);
        let until = now + Duration::seconds(i64::try_from(secs).unwrap_or(i64::MAX));
        mfa::record_failure(conn, user.id, failed, Some(until)).await?;
        tracing::warn!(user_id = %user.id, "two-factor locked after {max} wrong codes");
        metrics::counter!("mfa_lockouts_total").increment(1);
        return Ok(Check::Wrong { locked: true });
    }
    mfa::record_failure(conn, user.id, failed, None).await?;
    Ok(Check::Wrong { locked: false })
}

/// The longest a run of wrong codes locks an account's codes for.
const MAX_LOCKOUT_SECS: u64 = 24 * 60 * 60;

/// For a password login: the challenge to answer instead of tokens, when the account has
/// two-factor on.
///
/// # Errors
/// Database failures only.
pub async fn challenge_if_enrolled(
    state: &AppState,
    conn: &mut AsyncPgConnection,
    user: &User,
) -> ApiResult<Option<MfaChallenge>> {
    if !mfa::is_enabled(conn, user.id).await? {
        return Ok(None);
    }
    let token = refresh::generate().map_err(ApiError::Internal)?;
    let ttl = state.settings.mfa.challenge_ttl_secs;
    let new = NewMfaChallenge {
        id: Uuid::new_v4(),
        user_id: user.id,
        token_hash: &refresh::hash(&token),
        expires_at: Utc::now() + Duration::seconds(i64::try_from(ttl).unwrap_or(i64::MAX)),
    };
    conn.transaction::<_, ApiError, _>(async |conn| {
        // As for a session: a revocation that committed while the password was checked (and
        // dropped the open challenges) is not followed by a challenge made from that check.
        accounts::lock_unrevoked(conn, user).await?;
        mfa::insert_challenge(conn, &new).await?;
        Ok(())
    })
    .await?;
    Ok(Some(MfaChallenge { mfa_required: true, mfa_token: token, expires_in: ttl }))
}

fn invalid_challenge() -> ApiError {
    ApiError::Unauthorized("The sign-in expired or is unknown; sign in with your password again.".into())
}

/// `POST /auth/login/mfa`: completes a password login with a code (or a recovery code).
///
/// # Errors
/// `unauthorized` for an unknown or expired challenge and for a wrong, used or old code;
/// `rate_limited` while the account is locked after too many wrong codes; `forbidden` when banned.
pub async fn complete_login(
    state: &AppState,
    mfa_token: &str,
    code: &str,
    user_agent: Option<&str>,
) -> ApiResult<AuthResponse> {
    let hash = refresh::hash(mfa_token.trim());
    let mut conn = state.db().await?;
    let (challenge_id, user_id) = mfa::challenge_user(&mut conn, &hash).await?.ok_or_else(invalid_challenge)?;
    let user = users::find(&mut conn, user_id).await?.ok_or_else(invalid_challenge)?;
    // Before the code is checked: an account being deleted spends no recovery code.
    if user.is_being_deleted() {
        return Err(accounts::being_deleted());
    }
    if user.is_banned() {
        return Err(accounts::banned());
    }
    let check = conn
        .transaction::<_, ApiError, _>(async |conn| {
            let check = check_code(state, conn, &user, code).await?;
            // One session per challenge: a second completion (with the next code), or one after a
            // revocation of the account's tokens dropped the challenge, finds it gone, and the
            // code's acceptance rolls back with it.
            if matches!(check, Check::Accepted) && !mfa::spend_challenge(conn, challenge_id, user_id).await? {
                return Err(invalid_challenge());
            }
            Ok(check)
        })
        .await?;
    match check {
        Check::Accepted => accounts::start_session(state, &mut conn, &user, user_agent).await,
        other => Err(refusal(other, false)),
    }
}

/// The error of a refused code; `authenticated` routes answer 403 rather than 401, which would
/// tell the client its token is bad.
fn refusal(check: Check, authenticated: bool) -> ApiError {
    match check {
        Check::Locked { retry_after_ms } => ApiError::RateLimited { retry_after_ms },
        Check::NotEnrolled => ApiError::NotFound("Two-factor authentication is not on.".into()),
        Check::Wrong { locked } => {
            let message = if locked {
                "Wrong code. Too many wrong codes: try again later."
            } else {
                "Wrong or already used code."
            };
            if authenticated { ApiError::Forbidden(message.into()) } else { ApiError::Unauthorized(message.into()) }
        }
        Check::Accepted => ApiError::internal(anyhow::anyhow!("an accepted code refused")),
    }
}

/// `POST /users/me/mfa/totp/disable`: needs the password and a current code (or a recovery
/// code). Removes the secret, the recovery codes and open challenges.
///
/// # Errors
/// `forbidden` for a wrong password or code; `rate_limited` while locked; `not_found` when
/// two-factor is off.
pub async fn disable(state: &AppState, user: &User, password: String, code: &str) -> ApiResult<()> {
    if !state.passwords.verify(password, user.password_hash.clone()).await? {
        return Err(ApiError::Forbidden("The password is wrong.".into()));
    }
    let mut conn = state.db().await?;
    let check = conn
        .transaction::<_, ApiError, _>(async |conn| {
            // The password was checked against the account as the request found it: a revocation
            // committed since (the owner changing the password, signing out everywhere) ends this
            // too, as it ends every sign-in checked before it. The account's row first, as ever.
            accounts::lock_unrevoked(conn, user).await?;
            let check = check_code(state, conn, user, code).await?;
            if matches!(check, Check::Accepted) {
                mfa::delete_all(conn, user.id).await?;
            }
            Ok(check)
        })
        .await?;
    match check {
        Check::Accepted => {
            // A staff account that needs two-factor loses its staff rights now.
            if state.settings.mfa.require_for_staff && user.role.is_staff() {
                state.notify.close_user(user.id, CloseReason::RoleChanged);
            }
            Ok(())
        }
        other => Err(refusal(other, true)),
    }
}

/// The role an account acts with: its own, except that with `mfa.require_for_staff` an admin or
/// moderator without two-factor acts as a plain user until they enrol.
///
/// # Errors
/// Database failures only.
pub async fn effective_role(
    state: &AppState,
    user_id: UserId,
    role: crate::db::models::Role,
) -> ApiResult<crate::db::models::Role> {
    // Only staff under the setting need a connection: the common case reads nothing.
    if state.settings.mfa.require_for_staff
        && role.is_staff()
        && !mfa::is_enabled(&mut *state.db().await?, user_id).await?
    {
        return Ok(crate::db::models::Role::User);
    }
    Ok(role)
}

#[cfg(test)]
mod tests {
    use totp_rs::{Algorithm, Builder};

    /// RFC 6238, appendix B: the SHA-1 column (secret "12345678901234567890", eight digits).
    #[test]
    fn totp_matches_the_rfc_6238_test_vectors() {
        let totp = Builder::new()
            .with_algorithm(Algorithm::SHA1)
            .with_digits(8)
            .with_secret(b"12345678901234567890".to_vec())
            .with_step_duration(30)
            .build()
            .expect("rfc parameters");
        for (time, code) in [
            (59, "94287082"),
            (1_111_111_109, "07081804"),
            (1_111_111_111, "14050471"),
            (1_234_567_890, "89005924"),
            (2_000_000_000, "69279037"),
            (20_000_000_000, "65353130"),
        ] {
            assert_eq!(totp.generate(time).to_string(), code, "T = {time}");
        }
    }

    /// Our parameters: a code is accepted one step either side of its own, not two.
    #[test]
    fn codes_are_accepted_one_step_either_way() {
        let totp = super::totp(b"12345678901234567890", "plauder", "alice").expect("totp");
        let t = 1_700_000_000;
        let code = totp.generate(t).to_string();
        assert_eq!(code.len(), 6);
        assert_eq!(totp.check(&code, t), Some(t / 30));
        assert!(totp.check(&code, t + 30).is_some() && totp.check(&code, t - 30).is_some());
        assert!(totp.check(&code, t + 61).is_none() && totp.check(&code, t - 61).is_none());
    }

    #[test]
    fn recovery_codes_are_ten_distinct_and_normalise() {
        let codes = super::new_recovery_codes().expect("codes");
        assert_eq!(codes.len(), 10);
        assert_eq!(codes.iter().collect::<std::collections::HashSet<_>>().len(), 10);
        assert_eq!(super::hash_code(&codes[0].to_uppercase().replace('-', " ")), super::hash_code(&codes[0]));
    }
}
