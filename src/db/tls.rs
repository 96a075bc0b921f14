//! TLS to PostgreSQL and Redis with rustls: the `sslmode` of `database.url` (libpq's five modes),
//! the CA file and optional client certificate of `database.tls_*` and `redis.tls_*`, and the
//! rustls configurations they make.
//!
//! tokio-postgres understands only `disable`, `prefer` and `require`, and verifies nothing itself:
//! what is verified is up to the rustls configuration given to it. So `sslmode` is taken off the
//! URL here and becomes a tokio-postgres mode plus a verifier:
//!
//! | sslmode | TLS | certificate checked |
//! |---|---|---|
//! | `disable` | never | - |
//! | `prefer` (libpq's default) | if the server offers it | no (with a CA file: chain) |
//! | `require` | always | no (with a CA file: chain, as libpq does) |
//! | `verify-ca` | always | chain to the CA file (or the system's roots) |
//! | `verify-full` | always | chain and host name |

use std::path::Path;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use crate::config::{DatabaseSettings, RedisSettings};

/// libpq's `sslmode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    fn parse(value: &str) -> Result<Self, String> {
        Ok(match value {
            "disable" => Self::Disable,
            // libpq's `allow` tries plain first; plain-or-TLS either way, so it is read as `prefer`.
            "prefer" | "allow" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => {
                return Err(format!("has sslmode={other}; use disable, prefer, require, verify-ca or verify-full"));
            }
        })
    }

    /// The mode tokio-postgres is given: it negotiates, the rustls configuration verifies.
    fn driver_mode(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require | Self::VerifyCa | Self::VerifyFull => "require",
        }
    }
}

/// How to connect to PostgreSQL: the URL as tokio-postgres reads it, and the TLS configuration
/// (none for `sslmode=disable`).
#[derive(Clone)]
pub struct PgTarget {
    pub url: String,
    pub mode: SslMode,
    pub tls: Option<Arc<ClientConfig>>,
}

/// `url` without its `sslmode`, and that mode (`prefer` when absent, as libpq). Both URL
/// (`postgres://…?sslmode=…`) and key/value (`host=… sslmode=…`) forms are read.
///
/// # Errors
/// An `sslmode` libpq does not have.
pub fn split_sslmode(url: &str) -> Result<(String, SslMode), String> {
    let mut mode = None;
    let rest = if url.contains("://") {
        let (base, query) = url.split_once('?').unwrap_or((url, ""));
        let kept: Vec<&str> = query
            .split('&')
            .filter(|p| !p.is_empty())
            .filter(|p| match p.strip_prefix("sslmode=") {
                Some(value) => {
                    mode = Some(value.to_owned());
                    false
                }
                None => true,
            })
            .collect();
        if kept.is_empty() { base.to_owned() } else { format!("{base}?{}", kept.join("&")) }
    } else {
        let kept: Vec<&str> = url
            .split_whitespace()
            .filter(|p| match p.strip_prefix("sslmode=") {
                Some(value) => {
                    mode = Some(value.to_owned());
                    false
                }
                None => true,
            })
            .collect();
        kept.join(" ")
    };
    let mode = mode.as_deref().map_or(Ok(SslMode::Prefer), SslMode::parse)?;
    Ok((rest, mode))
}

/// The connection target for `url` under `settings` (sslmode, CA file, client certificate).
///
/// # Errors
/// A bad sslmode, or a CA or client certificate file that cannot be read or parsed; the message
/// names the setting.
pub fn pg_target(settings: &DatabaseSettings, url: &str) -> anyhow::Result<PgTarget> {
    let (rest, mode) = split_sslmode(url).map_err(|why| anyhow::anyhow!("database.url {why}"))?;
    let url = if rest.contains("://") {
        let sep = if rest.contains('?') { '&' } else { '?' };
        format!("{rest}{sep}sslmode={}", mode.driver_mode())
    } else {
        format!("{rest} sslmode={}", mode.driver_mode())
    };
    if mode == SslMode::Disable {
        return Ok(PgTarget { url, mode, tls: None });
    }
    let provider = provider();
    let ca = non_empty(&settings.tls_ca_file);
    let roots = match (mode, ca) {
        (_, Some(file)) => Some(read_roots(file).map_err(|e| anyhow::anyhow!("database.tls_ca_file: {e}"))?),
        (SslMode::VerifyCa | SslMode::VerifyFull, None) => Some(system_roots()?),
        _ => None,
    };
    let verifier: Arc<dyn ServerCertVerifier> = match roots {
        None => Arc::new(EncryptOnly(provider.clone())),
        Some(roots) => {
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| anyhow::anyhow!("database.tls_ca_file: {e}"))?;
            if mode == SslMode::VerifyFull { webpki } else { Arc::new(ChainOnly(webpki)) }
        }
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow::anyhow!("TLS set-up: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match client_identity(&settings.tls_client_cert_file, &settings.tls_client_key_file)
        .map_err(|e| anyhow::anyhow!("database.tls_client_cert_file/tls_client_key_file: {e}"))?
    {
        Some((certs, key)) => builder
            .with_client_auth_cert(certs, key)
            .map_err(|e| anyhow::anyhow!("database.tls_client_cert_file/tls_client_key_file: {e}"))?,
        None => builder.with_no_client_auth(),
    };
    Ok(PgTarget { url, mode, tls: Some(Arc::new(config)) })
}

/// The redis client for `url`: `rediss://` URLs speak TLS, verified against `redis.tls_ca_file`
/// when set (else the system's roots), with the optional client certificate.
///
/// # Errors
/// A malformed URL (not repeated: it may hold a password), or an unreadable certificate file.
pub fn redis_client(settings: &RedisSettings, url: &str) -> anyhow::Result<redis::Client> {
    let invalid = |e: redis::RedisError| anyhow::anyhow!("redis.url is not a valid Redis URL: {e}");
    let ca = non_empty(&settings.tls_ca_file);
    let cert = non_empty(&settings.tls_client_cert_file);
    if ca.is_none() && cert.is_none() {
        return redis::Client::open(url).map_err(invalid);
    }
    let read = |key: &str, file: &str| std::fs::read(file).map_err(|e| anyhow::anyhow!("{key}: {file}: {e}"));
    let root_cert = ca.map(|file| read("redis.tls_ca_file", file)).transpose()?;
    let client_tls = match (cert, non_empty(&settings.tls_client_key_file)) {
        (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
            client_cert: read("redis.tls_client_cert_file", cert)?,
            client_key: read("redis.tls_client_key_file", key)?,
        }),
        _ => None,
    };
    redis::Client::build_with_tls(url, redis::TlsCertificates { client_tls, root_cert }).map_err(invalid)
}

/// rustls's ring provider, also made the process default (the redis crate builds its
/// configurations from the default).
pub fn provider() -> Arc<CryptoProvider> {
    let ring = rustls::crypto::ring::default_provider();
    // Already installed (by an earlier call) is fine.
    let _ = ring.clone().install_default();
    Arc::new(ring)
}

fn non_empty(value: &str) -> Option<&str> {
    Some(value.trim()).filter(|v| !v.is_empty())
}

fn read_roots(file: &str) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(Path::new(file))
        .map_err(|e| format!("{file}: {e}"))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{file}: {e}"))?;
    let (added, _) = roots.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!("{file} holds no PEM certificate"));
    }
    Ok(roots)
}

/// The system's CA roots (also for webhook deliveries over HTTPS).
///
/// # Errors
/// None are found.
pub fn system_roots() -> anyhow::Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(found.certs);
    if roots.is_empty() {
        anyhow::bail!("database.url asks to verify the server but no CA is known: set database.tls_ca_file");
    }
    Ok(roots)
}

/// Both files or neither: a certificate without its key (or the reverse) is a mistake.
fn client_identity(
    cert: &str,
    key: &str,
) -> Result<Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>, String> {
    match (non_empty(cert), non_empty(key)) {
        (None, None) => Ok(None),
        (Some(cert), Some(key)) => {
            let certs = CertificateDer::pem_file_iter(Path::new(cert))
                .and_then(Iterator::collect)
                .map_err(|e| format!("{cert}: {e}"))?;
            let key = PrivateKeyDer::from_pem_file(Path::new(key)).map_err(|e| format!("{key}: {e}"))?;
            Ok(Some((certs, key)))
        }
        _ => Err("set both or neither".to_owned()),
    }
}

/// `prefer` and `require` without a CA: encrypted against passive eavesdroppers, the certificate
/// not checked (libpq's meaning of these modes). The handshake's signatures are still verified,
/// so the session key belongs to whoever holds the presented certificate. rustls has no such
/// verifier, deliberately; this is the smallest one.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.0.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted CA; the host name is not compared (a server
/// reached by an address its certificate does not name). Everything but the name check is
/// webpki's.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self.0.verify_server_cert(end_entity, intermediates, server_name, ocsp, now) {
            // webpki checks the name only after the chain, so this error means the chain is good.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sslmode_is_taken_off_the_url_in_both_forms() {
        let (url, mode) = split_sslmode("postgres://u:p@db:5432/x?application_name=a&sslmode=verify-full").unwrap();
        assert_eq!((url.as_str(), mode), ("postgres://u:p@db:5432/x?application_name=a", SslMode::VerifyFull));
        let (url, mode) = split_sslmode("postgres://db/x?sslmode=verify-ca").unwrap();
        assert_eq!((url.as_str(), mode), ("postgres://db/x", SslMode::VerifyCa));
        let (url, mode) = split_sslmode("host=db sslmode=require dbname=x").unwrap();
        assert_eq!((url.as_str(), mode), ("host=db dbname=x", SslMode::Require));
        assert_eq!(split_sslmode("postgres://db/x").unwrap().1, SslMode::Prefer);
        assert!(split_sslmode("postgres://db/x?sslmode=allow-all").unwrap_err().contains("sslmode=allow-all"));
    }
}
