//! Web Push message encryption (RFC 8291): the payload is encrypted for one browser with a key
//! agreed between a fresh P-256 key of ours and the browser's subscription key, mixed with the
//! subscription's auth secret, in the `aes128gcm` content coding of RFC 8188 (one record).
//!
//! Written on the primitives already in the tree (p256 for ECDH, hkdf with sha2, ring's
//! AES-128-GCM) rather than taken from the `web-push`/`ece` crates, whose only backend is OpenSSL
//! (see Cargo.toml). The RFC's own example (its Appendix A) is the unit test below.

use hkdf::Hkdf;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use p256::{PublicKey, SecretKey};
use ring::aead::{AES_128_GCM, Aad, LessSafeKey, Nonce, UnboundKey};
use sha2::Sha256;

/// The record size the header announces: one record holds any payload we send (they stay under
/// 4 KiB, the size push services accept).
const RECORD_SIZE: u32 = 4096;

/// Why a payload could not be encrypted for a subscription.
#[derive(Debug, thiserror::Error)]
pub enum EceError {
    #[error("the subscription's p256dh is not a P-256 public key")]
    BadPublicKey,
    #[error("the subscription's auth secret is not 16 bytes")]
    BadAuth,
    #[error("the payload is larger than one record")]
    TooLarge,
    #[error("no randomness: {0}")]
    Random(String),
    #[error("encryption failed")]
    Crypto,
}

/// Encrypts `plaintext` for the browser whose subscription has public key `ua_public` (65 bytes,
/// uncompressed point) and auth secret `auth` (16 bytes): the whole request body, header first.
///
/// # Errors
/// Bad subscription keys, a payload past one record, or no randomness from the system.
pub fn encrypt(plaintext: &[u8], ua_public: &[u8], auth: &[u8]) -> Result<Vec<u8>, EceError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| EceError::Random(e.to_string()))?;
    let as_secret = random_secret()?;
    encrypt_with(plaintext, ua_public, auth, &salt, &as_secret)
}

/// A fresh P-256 private key from the system's randomness.
///
/// # Errors
/// No randomness from the system.
pub fn random_secret() -> Result<SecretKey, EceError> {
    loop {
        let mut bytes = [0u8; 32];
        getrandom::fill(&mut bytes).map_err(|e| EceError::Random(e.to_string()))?;
        // Out of range (zero or past the group order) about once in 2^32 draws: draw again.
        if let Ok(key) = SecretKey::from_slice(&bytes) {
            return Ok(key);
        }
    }
}

/// [`encrypt`] with a given salt and key of ours: the RFC's example fixes both.
///
/// # Errors
/// As [`encrypt`].
pub fn encrypt_with(
    plaintext: &[u8],
    ua_public: &[u8],
    auth: &[u8],
    salt: &[u8; 16],
    as_secret: &SecretKey,
) -> Result<Vec<u8>, EceError> {
    if auth.len() != 16 {
        return Err(EceError::BadAuth);
    }
    // The record: the plaintext, the last-record delimiter (2), and the 16-byte tag.
    if plaintext.len() + 1 + 16 > RECORD_SIZE as usize {
        return Err(EceError::TooLarge);
    }
    let ua_key = PublicKey::from_sec1_bytes(ua_public).map_err(|_| EceError::BadPublicKey)?;
    let ua_point = ua_key.to_encoded_point(false);
    let as_point = as_secret.public_key().to_encoded_point(false);
    let shared = p256::ecdh::diffie_hellman(as_secret.to_nonzero_scalar(), ua_key.as_affine());
    let (cek, nonce) = derive(shared.raw_secret_bytes(), auth, ua_point.as_bytes(), as_point.as_bytes(), salt)?;

    let mut body = Vec::with_capacity(16 + 4 + 1 + 65 + plaintext.len() + 1 + 16);
    body.extend_from_slice(salt);
    body.extend_from_slice(&RECORD_SIZE.to_be_bytes());
    body.push(65);
    body.extend_from_slice(as_point.as_bytes());
    let mut record = Vec::with_capacity(plaintext.len() + 1 + 16);
    record.extend_from_slice(plaintext);
    record.push(2);
    let key = LessSafeKey::new(UnboundKey::new(&AES_128_GCM, &cek).map_err(|_| EceError::Crypto)?);
    key.seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::empty(), &mut record)
        .map_err(|_| EceError::Crypto)?;
    body.extend_from_slice(&record);
    Ok(body)
}

/// The content encryption key and nonce of RFC 8291 section 3.4 (and RFC 8188 section 2.2).
fn derive(
    ecdh_secret: &[u8],
    auth: &[u8],
    ua_public: &[u8],
    as_public: &[u8],
    salt: &[u8],
) -> Result<([u8; 16], [u8; 12]), EceError> {
    let mut key_info = Vec::with_capacity(14 + 65 + 65);
    key_info.extend_from_slice(b"WebPush: info\0");
    key_info.extend_from_slice(ua_public);
    key_info.extend_from_slice(as_public);
    let mut ikm = [0u8; 32];
    Hkdf::<Sha256>::new(Some(auth), ecdh_secret).expand(&key_info, &mut ikm).map_err(|_| EceError::Crypto)?;
    let prk = Hkdf::<Sha256>::new(Some(salt), &ikm);
    let mut cek = [0u8; 16];
    prk.expand(b"Content-Encoding: aes128gcm\0", &mut cek).map_err(|_| EceError::Crypto)?;
    let mut nonce = [0u8; 12];
    prk.expand(b"Content-Encoding: nonce\0", &mut nonce).map_err(|_| EceError::Crypto)?;
    Ok((cek, nonce))
}

#[cfg(test)]
mod tests {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    fn b64(s: &str) -> Vec<u8> {
        URL_SAFE_NO_PAD.decode(s).expect("base64url")
    }

    /// RFC 8291 Appendix A (the example of section 5): its fixed keys and salt give exactly its
    /// message.
    #[test]
    fn the_rfc_8291_example_encrypts_to_the_rfc_message() {
        let plaintext = b"When I grow up, I want to be a watermelon";
        let as_secret = SecretKey::from_slice(&b64("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw")).expect("as key");
        assert_eq!(
            as_secret.public_key().to_encoded_point(false).as_bytes(),
            b64("BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8")
        );
        let ua_public = b64("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4");
        let auth = b64("BTBZMqHH6r4Tts7J_aSIgg");
        let salt: [u8; 16] = b64("DGv6ra1nlYgDCS1FRnbzlw").try_into().expect("16 bytes");
        let body = encrypt_with(plaintext, &ua_public, &auth, &salt, &as_secret).expect("encrypt");
        assert_eq!(
            URL_SAFE_NO_PAD.encode(&body),
            "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8w\
             EqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN"
        );
    }

    #[test]
    fn bad_keys_and_oversized_payloads_are_refused() {
        let ua_public = b64("BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4");
        let auth = [7u8; 16];
        assert!(matches!(encrypt(b"x", &ua_public[..64], &auth), Err(EceError::BadPublicKey)));
        let mut off_curve = ua_public.clone();
        off_curve[64] ^= 1;
        assert!(matches!(encrypt(b"x", &off_curve, &auth), Err(EceError::BadPublicKey)));
        assert!(matches!(encrypt(b"x", &ua_public, &auth[..15]), Err(EceError::BadAuth)));
        assert!(matches!(encrypt(&[b'a'; 4080], &ua_public, &auth), Err(EceError::TooLarge)));
        let body = encrypt(b"hello", &ua_public, &auth).expect("encrypt");
        assert_eq!(body.len(), 86 + 5 + 1 + 16);
    }
}
