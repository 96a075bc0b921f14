//! VAPID (RFC 8292): the application server's P-256 key pair, kept in a file made at first start,
//! and the `Authorization: vapid t=…, k=…` header each push carries: an ES256 JWT for the push
//! service's origin, signed with jsonwebtoken (already the project's JWT crate), and the public
//! key browsers subscribed with.

use std::io::Write;
use std::path::{Path, PathBuf};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use p256::SecretKey;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::pkcs8::{DecodePrivateKey, EncodePrivateKey, LineEnding};
use serde::Serialize;

/// How long a VAPID token is valid; RFC 8292 allows at most 24 hours.
const TOKEN_TTL_SECS: i64 = 12 * 3600;

/// The deployment's VAPID key pair.
pub struct VapidKeys {
    signing: EncodingKey,
    /// The public key as browsers take it (`applicationServerKey`): base64url of the 65-byte
    /// uncompressed point.
    public_b64: String,
    subject: String,
}

#[derive(Serialize)]
struct Claims<'a> {
    aud: &'a str,
    exp: i64,
    sub: &'a str,
}

impl VapidKeys {
    /// Reads the key from `path`, or makes one and writes it there (mode 0600, never replacing a
    /// file another instance wrote meanwhile).
    ///
    /// # Errors
    /// A file that is no P-256 PKCS#8 key, or one that cannot be read or written.
    pub fn load_or_create(path: &Path, subject: &str) -> anyhow::Result<Self> {
        let secret = match std::fs::read_to_string(path) {
            Ok(pem) => SecretKey::from_pkcs8_pem(&pem)
                .map_err(|e| anyhow::anyhow!("{}: not a P-256 PKCS#8 private key: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => create(path)?,
            Err(e) => return Err(anyhow::anyhow!("reading {}: {e}", path.display())),
        };
        Self::from_secret(&secret, subject)
    }

    /// # Errors
    /// The key cannot be encoded for the signer (not expected for a valid key).
    pub fn from_secret(secret: &SecretKey, subject: &str) -> anyhow::Result<Self> {
        let der = secret.to_pkcs8_der().map_err(|e| anyhow::anyhow!("encoding the VAPID key: {e}"))?;
        let public = secret.public_key().to_encoded_point(false);
        Ok(Self {
            signing: EncodingKey::from_ec_der(der.as_bytes()),
            public_b64: URL_SAFE_NO_PAD.encode(public.as_bytes()),
            subject: subject.to_owned(),
        })
    }

    /// The public key, base64url (what `GET /push/vapid-public-key` serves).
    pub fn public_key(&self) -> &str {
        &self.public_b64
    }

    /// The `Authorization` header for a push to an endpoint of `origin` (`https://host[:port]`).
    ///
    /// # Errors
    /// Signing failed (not expected for a valid key).
    pub fn authorization(&self, origin: &str, now: i64) -> anyhow::Result<String> {
        let claims = Claims { aud: origin, exp: now + TOKEN_TTL_SECS, sub: &self.subject };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::ES256), &claims, &self.signing)?;
        Ok(format!("vapid t={token}, k={}", self.public_b64))
    }
}

/// Makes a key and writes it to `path` (creating its directory); if another instance wrote the
/// file first, that one is read instead.
fn create(path: &Path) -> anyhow::Result<SecretKey> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|e| anyhow::anyhow!("creating {}: {e}", dir.display()))?;
    }
    let secret = super::ece::random_secret()?;
    let pem = secret.to_pkcs8_pem(LineEnding::LF).map_err(|e| anyhow::anyhow!("encoding the VAPID key: {e}"))?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(pem.as_bytes())
                .and_then(|()| file.sync_all())
                .map_err(|e| anyhow::anyhow!("writing {}: {e}", path.display()))?;
            tracing::info!(path = %path.display(), "VAPID key pair made for Web Push");
            Ok(secret)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let pem = std::fs::read_to_string(path).map_err(|e| anyhow::anyhow!("reading {}: {e}", path.display()))?;
            SecretKey::from_pkcs8_pem(&pem).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
        }
        Err(e) => Err(anyhow::anyhow!("creating {}: {e}", path.display())),
    }
}

/// Where the key file is: `push.vapid_key_file`, or `vapid_key.pem` in the data directory.
pub fn key_path(settings: &crate::config::Settings) -> PathBuf {
    if settings.push.vapid_key_file.trim().is_empty() {
        Path::new(&settings.attachments.directory).join("vapid_key.pem")
    } else {
        PathBuf::from(settings.push.vapid_key_file.trim())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_is_made_once_with_mode_0600_and_read_back_the_same() {
        let dir = std::env::temp_dir().join(format!("plauder-vapid-{}", uuid::Uuid::new_v4().simple()));
        let path = dir.join("keys").join("vapid_key.pem");
        let first = VapidKeys::load_or_create(&path, "mailto:a@example.org").expect("made");
        let again = VapidKeys::load_or_create(&path, "mailto:a@example.org").expect("read");
        assert_eq!(first.public_key(), again.public_key());
        assert_eq!(URL_SAFE_NO_PAD.decode(first.public_key()).expect("b64").len(), 65);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).expect("file").permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(&path, "not a key").expect("overwrite");
        assert!(VapidKeys::load_or_create(&path, "mailto:a@example.org").is_err());
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn the_header_names_the_token_and_the_public_key() {
        let keys = VapidKeys::from_secret(&super::super::ece::random_secret().expect("key"), "mailto:a@example.org")
            .expect("keys");
        let header = keys.authorization("https://push.example.net", 1_000_000).expect("signed");
        let (t, k) = header.strip_prefix("vapid t=").and_then(|r| r.split_once(", k=")).expect("shape");
        assert_eq!(k, keys.public_key());
        let claims = t.split('.').nth(1).expect("payload");
        let claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(claims).expect("b64")).expect("json");
        assert_eq!(claims["aud"], "https://push.example.net");
        assert_eq!(claims["exp"], 1_000_000 + TOKEN_TTL_SECS);
        assert_eq!(claims["sub"], "mailto:a@example.org");
    }
}
