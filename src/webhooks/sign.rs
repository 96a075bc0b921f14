//! The signature header of a delivery, `Plauder-Signature: t=<unix seconds>,v1=<hex>`, where the
//! hex is HMAC-SHA256 with the endpoint's secret over `<t>.<body>` (the timestamp in the signed
//! text lets receivers reject replays: docs/integrations.md has the recipe).

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The header's name.
pub const HEADER: &str = "Plauder-Signature";

/// The header value for `body` sent at `timestamp` (seconds since the epoch).
pub fn header(secret: &str, timestamp: i64, body: &[u8]) -> String {
    format!("t={timestamp},v1={}", hex(&mac(secret, timestamp, body)))
}

fn mac(secret: &str, timestamp: i64, body: &[u8]) -> Vec<u8> {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().to_vec()
}

/// Lowercase hex; a few lines instead of a crate.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// What a receiver does (and the tests do): parse the header, recompute, compare in constant
/// time, and refuse timestamps further than `tolerance_secs` from `now`.
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64, tolerance_secs: i64) -> bool {
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", t)) => timestamp = t.parse::<i64>().ok(),
            Some(("v1", v)) => signatures.push(v),
            _ => {}
        }
    }
    let Some(t) = timestamp else { return false };
    if (now - t).abs() > tolerance_secs {
        return false;
    }
    let mut expected = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes()).unwrap_or_else(|_| unreachable!());
    expected.update(t.to_string().as_bytes());
    expected.update(b".");
    expected.update(body);
    signatures.iter().any(|v| decode_hex(v).is_some_and(|sig| expected.clone().verify_slice(&sig).is_ok()))
}

fn decode_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_verifies_and_any_change_breaks_it() {
        let h = header("whsec_x", 1_700_000_000, b"{\"a\":1}");
        assert!(h.starts_with("t=1700000000,v1=") && h.len() == "t=1700000000,v1=".len() + 64);
        assert!(verify("whsec_x", &h, b"{\"a\":1}", 1_700_000_010, 300));
        assert!(!verify("whsec_y", &h, b"{\"a\":1}", 1_700_000_010, 300), "another secret");
        assert!(!verify("whsec_x", &h, b"{\"a\":2}", 1_700_000_010, 300), "another body");
        assert!(!verify("whsec_x", &h, b"{\"a\":1}", 1_700_001_000, 300), "too old: a replay");
        let forged = h.replace("t=1700000000", "t=1700000900");
        assert!(!verify("whsec_x", &forged, b"{\"a\":1}", 1_700_000_900, 300), "a new timestamp on an old signature");
    }
}
