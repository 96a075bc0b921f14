//! Short-lived signed download links for attachments, so an `<img src>` (which sends no
//! Authorization header) can load a file. A link is `…/attachments/{id}/{variant}?exp=…&sig=…`;
//! the signature is HMAC-SHA256 over id, variant and expiry with a key derived from
//! `auth.jwt_secret` (a separate key, so neither signature can stand in for the other). Whoever
//! holds a link may read that one file until it expires; links are only put in views that the
//! caller may read.
//!
//! Expiries are rounded up to a multiple of `url_ttl_secs`, so every view built within one period
//! carries the same link (browsers cache the image) and each is valid for between one and two
//! periods.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::ids::AttachmentId;

type HmacSha256 = Hmac<Sha256>;

/// What a link serves: the file, or its thumbnail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    Content,
    Thumbnail,
}

impl Variant {
    pub fn as_str(self) -> &'static str {
        match self {
            Variant::Content => "content",
            Variant::Thumbnail => "thumbnail",
        }
    }
}

/// Why a link was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// Not a signature of ours for this file (forged, altered, or for another file).
    Invalid,
    /// Ours, but past its expiry.
    Expired,
}

#[derive(Clone)]
pub struct UrlSigner {
    mac: HmacSha256,
    ttl_secs: i64,
}

impl UrlSigner {
    /// # Panics
    /// Never: HMAC takes keys of any length.
    pub fn new(jwt_secret: &[u8], ttl_secs: u64) -> Self {
        let mut derive = HmacSha256::new_from_slice(jwt_secret).expect("HMAC accepts any key length");
        derive.update(b"plauder attachment links v1");
        let key = derive.finalize().into_bytes();
        let mac = HmacSha256::new_from_slice(&key).expect("HMAC accepts any key length");
        Self { mac, ttl_secs: i64::try_from(ttl_secs).unwrap_or(i64::MAX / 4).max(1) }
    }

    fn signature(&self, id: AttachmentId, variant: Variant, exp: i64) -> HmacSha256 {
        let mut mac = self.mac.clone();
        mac.update(format!("{id}:{}:{exp}", variant.as_str()).as_bytes());
        mac
    }

    /// The link to `variant` of `id`, relative to the server's origin, valid from `now` (Unix
    /// seconds) for at least the configured time.
    pub fn url(&self, id: AttachmentId, variant: Variant, now: i64) -> String {
        let exp = (now.div_euclid(self.ttl_secs) + 2).saturating_mul(self.ttl_secs);
        let sig = URL_SAFE_NO_PAD.encode(self.signature(id, variant, exp).finalize().into_bytes());
        format!("/api/v1/attachments/{id}/{}?exp={exp}&sig={sig}", variant.as_str())
    }

    /// Checks a link's `exp` and `sig` at `now` (constant-time comparison).
    ///
    /// # Errors
    /// [`Refused::Invalid`] for a signature that is not ours for this file and variant;
    /// [`Refused::Expired`] for one that is, past its expiry.
    pub fn verify(&self, id: AttachmentId, variant: Variant, exp: i64, sig: &str, now: i64) -> Result<(), Refused> {
        let sig = URL_SAFE_NO_PAD.decode(sig).map_err(|_| Refused::Invalid)?;
        self.signature(id, variant, exp).verify_slice(&sig).map_err(|_| Refused::Invalid)?;
        if exp < now { Err(Refused::Expired) } else { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_link_verifies_until_it_expires_and_not_for_another_file() {
        let signer = UrlSigner::new(b"k", 60);
        let id = AttachmentId::new();
        let url = signer.url(id, Variant::Content, 1000);
        let query = url.split_once('?').map(|(_, q)| q).unwrap_or_default();
        let mut exp = 0;
        let mut sig = "";
        for pair in query.split('&') {
            match pair.split_once('=') {
                Some(("exp", v)) => exp = v.parse().unwrap_or_default(),
                Some(("sig", v)) => sig = v,
                _ => {}
            }
        }
        assert!((1060..=1120).contains(&exp), "{exp}");
        assert_eq!(signer.verify(id, Variant::Content, exp, sig, 1000), Ok(()));
        assert_eq!(signer.verify(id, Variant::Content, exp, sig, exp + 1), Err(Refused::Expired));
        assert_eq!(signer.verify(id, Variant::Content, exp + 1, sig, 1000), Err(Refused::Invalid));
        assert_eq!(signer.verify(AttachmentId::new(), Variant::Content, exp, sig, 1000), Err(Refused::Invalid));
        assert_eq!(UrlSigner::new(b"other", 60).verify(id, Variant::Content, exp, sig, 1000), Err(Refused::Invalid));
    }
}
