//! Access tokens: HS256 JWTs carrying the user id, role and token version. The version is what
//! makes revocation immediate: bumping `users.token_version` (logout-all, password change, ban)
//! makes every token issued before fail the check in the extractor. The session (the
//! refresh-token family of the login that issued it) is what binds a WebSocket to its login: a
//! logout of that session closes the sockets opened or refreshed with its tokens.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation, decode, encode};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};

use crate::config::AuthSettings;
use uuid::Uuid;

use crate::db::models::User;
use crate::ids::UserId;

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: UserId,
    pub role: String,
    /// `users.token_version` when the token was issued.
    pub ver: i32,
    /// The session (refresh-token family) the token was issued for. Absent in tokens issued
    /// before sessions were carried; those bind their socket to no session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<Uuid>,
    pub iat: u64,
    pub exp: u64,
}

#[derive(Clone)]
pub struct JwtKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub ttl_secs: u64,
}

impl JwtKeys {
    pub fn new(settings: &AuthSettings) -> Self {
        let secret = settings.jwt_secret.expose_secret().as_bytes();
        // Only HS256 is accepted, so tokens with alg=none or another algorithm fail to decode.
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            ttl_secs: settings.access_token_ttl_secs,
        }
    }

    /// # Errors
    /// Only if serialising the claims fails.
    pub fn issue(&self, user: &User, session: Uuid) -> anyhow::Result<String> {
        let iat = now_secs();
        let claims = Claims {
            sub: user.id,
            role: user.role.as_str().to_owned(),
            ver: user.token_version,
            sid: Some(session),
            iat,
            exp: iat + self.ttl_secs,
        };
        Ok(encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?)
    }

    /// The claims of a well-signed, unexpired token; `None` for anything else.
    pub fn verify(&self, token: &str) -> Option<Claims> {
        decode::<Claims>(token, &self.decoding, &self.validation).ok().map(|d| d.claims)
    }
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}
