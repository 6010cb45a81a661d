//! TLS trust for PVE endpoints: normal verification (web PKI roots), a CA file, a pinned SHA-256
//! certificate fingerprint (how self-signed PVE nodes are trusted, as SSH trusts a host key), or
//! insecure (warns on every connection). The pin is checked inside the handshake by a rustls
//! `ServerCertVerifier`, so a request carrying credentials is never sent to a server whose
//! certificate does not match. All on rustls with the `ring` provider.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use rustls_pki_types::pem::PemObject;
use sha2::{Digest, Sha256};

use super::error::PveError;

/// How the server's certificate is trusted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TlsMode {
    /// Verify against the web PKI roots and the host name.
    Verify,
    /// Accept exactly the certificate with this SHA-256 fingerprint (any case, `:` optional).
    Pinned(String),
    /// Verify against the CA certificates in this PEM file.
    CaFile(PathBuf),
    /// Accept any certificate. Logs a warning on every connection.
    Insecure,
}

/// Returns the SHA-256 fingerprint of a DER certificate as PVE shows it: `AB:CD:...`.
pub fn cert_fingerprint(der: &[u8]) -> String {
    let digest = Sha256::digest(der);
    digest
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// Normalises a fingerprint given by a user (any case, with or without `:`) to `AB:CD:...`.
pub fn normalize_fingerprint(text: &str) -> Result<String, PveError> {
    let hex: String = text
        .trim()
        .chars()
        .filter(|c| *c != ':' && !c.is_whitespace())
        .collect();
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(PveError::Config(format!(
            "'{text}' is not a SHA-256 fingerprint (64 hex digits, ':' optional); copy it from `pvenode cert info` or /init"
        )));
    }
    let upper = hex.to_ascii_uppercase();
    Ok(upper
        .as_bytes()
        .chunks(2)
        .map(|pair| String::from_utf8_lossy(pair).into_owned())
        .collect::<Vec<_>>()
        .join(":"))
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The fingerprint the last refused connection presented, so the caller can report both.
#[derive(Debug, Default, Clone)]
pub(crate) struct PinObservation(Arc<Mutex<Option<String>>>);

impl PinObservation {
    pub(crate) fn take(&self) -> Option<String> {
        self.0.lock().map(|mut g| g.take()).unwrap_or(None)
    }

    fn set(&self, fingerprint: String) {
        if let Ok(mut guard) = self.0.lock() {
            *guard = Some(fingerprint);
        }
    }
}

/// What a [`FingerprintVerifier`] accepts.
#[derive(Debug)]
enum CertTrust {
    /// Exactly the certificate with this fingerprint (`AB:CD:...`).
    Pinned(String),
    /// Any certificate: insecure mode (`warn`: log on every connection) and the fingerprint
    /// probe of `/init`, which only records what it saw.
    Any { warn: bool },
}

/// Decides on the server certificate by its SHA-256 fingerprint alone; handshake signatures are
/// still checked normally. Records the fingerprint it saw so a refusal can show both.
#[derive(Debug)]
struct FingerprintVerifier {
    trust: CertTrust,
    endpoint: String,
    seen: PinObservation,
    provider: Arc<CryptoProvider>,
}

impl FingerprintVerifier {
    fn new(trust: CertTrust, endpoint: &str, seen: &PinObservation) -> Self {
        Self {
            trust,
            endpoint: endpoint.to_string(),
            seen: seen.clone(),
            provider: provider(),
        }
    }
}

impl ServerCertVerifier for FingerprintVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let actual = cert_fingerprint(end_entity.as_ref());
        match &self.trust {
            CertTrust::Pinned(expected) if actual == *expected => {
                Ok(ServerCertVerified::assertion())
            }
            CertTrust::Pinned(expected) => {
                self.seen.set(actual.clone());
                Err(rustls::Error::General(format!(
                    "certificate fingerprint {actual} does not match the pinned {expected}"
                )))
            }
            CertTrust::Any { warn } => {
                if *warn {
                    tracing::warn!(
                        endpoint = %self.endpoint,
                        fingerprint = %actual,
                        "TLS certificate NOT verified (insecure mode): anyone on the path can read the API token; pin this fingerprint instead"
                    );
                }
                self.seen.set(actual);
                Ok(ServerCertVerified::assertion())
            }
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

fn builder() -> Result<rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier>, PveError>
{
    rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| PveError::Config(format!("TLS setup failed: {e}")))
}

/// Builds the rustls client config for a mode. Also returns where a refused pin's actual
/// fingerprint is recorded.
pub(crate) fn client_config(
    mode: &TlsMode,
    endpoint: &str,
) -> Result<(rustls::ClientConfig, PinObservation), PveError> {
    let seen = PinObservation::default();
    let config = match mode {
        TlsMode::Verify => {
            let roots = rustls::RootCertStore {
                roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
            };
            builder()?
                .with_root_certificates(roots)
                .with_no_client_auth()
        }
        TlsMode::CaFile(path) => {
            let pem = std::fs::read(path).map_err(|e| {
                PveError::Config(format!(
                    "cannot read CA file {}: {e}; check the path in .proxmox/config.yml",
                    path.display()
                ))
            })?;
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_slice_iter(&pem) {
                let cert = cert.map_err(|e| {
                    PveError::Config(format!("CA file {} is not PEM: {e}", path.display()))
                })?;
                roots.add(cert).map_err(|e| {
                    PveError::Config(format!(
                        "CA file {} has an unusable certificate: {e}",
                        path.display()
                    ))
                })?;
            }
            if roots.is_empty() {
                return Err(PveError::Config(format!(
                    "CA file {} holds no certificate",
                    path.display()
                )));
            }
            builder()?
                .with_root_certificates(roots)
                .with_no_client_auth()
        }
        TlsMode::Pinned(pin) => {
            let verifier = FingerprintVerifier::new(
                CertTrust::Pinned(normalize_fingerprint(pin)?),
                endpoint,
                &seen,
            );
            builder()?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth()
        }
        TlsMode::Insecure => {
            let verifier = FingerprintVerifier::new(CertTrust::Any { warn: true }, endpoint, &seen);
            builder()?
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(verifier))
                .with_no_client_auth()
        }
    };
    let mut config = config;
    // pveproxy speaks HTTP/1.1, and PVE before 8.3 puts error text only in the HTTP/1.1
    // reason phrase, which HTTP/2 does not have.
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok((config, seen))
}

/// Connects to `endpoint` (`https://host:8006`), completes a TLS handshake and returns the
/// server certificate's SHA-256 fingerprint, for trust on first use. Sends no HTTP request and
/// no credentials.
pub async fn fetch_fingerprint(endpoint: &str) -> Result<String, PveError> {
    let url = url::Url::parse(endpoint).map_err(|e| {
        PveError::Config(format!(
            "'{endpoint}' is not a URL ({e}); use https://host:8006"
        ))
    })?;
    let host = url
        .host_str()
        .ok_or_else(|| PveError::Config(format!("'{endpoint}' has no host")))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url.port_or_known_default().unwrap_or(8006);
    let tls_error = |reason: String| PveError::Tls {
        endpoint: endpoint.to_string(),
        reason,
    };
    let seen = PinObservation::default();
    let verifier = FingerprintVerifier::new(CertTrust::Any { warn: false }, endpoint, &seen);
    let config = builder()?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let server_name = ServerName::try_from(host.clone())
        .map_err(|e| tls_error(format!("'{host}' is not a valid server name: {e}")))?;
    let unreachable = |reason: String| PveError::Unreachable {
        request: super::error::RequestInfo::new("TLS", "(handshake only)"),
        endpoint: endpoint.to_string(),
        reason,
    };
    let tcp = tokio::time::timeout(
        Duration::from_secs(15),
        tokio::net::TcpStream::connect((host.as_str(), port)),
    )
    .await
    .map_err(|_| unreachable("connection timed out after 15s".into()))?
    .map_err(|e| unreachable(e.to_string()))?;
    let stream = tokio::time::timeout(Duration::from_secs(15), connector.connect(server_name, tcp))
        .await
        .map_err(|_| tls_error("handshake timed out after 15s".into()))?
        .map_err(|e| tls_error(e.to_string()))?;
    drop(stream);
    seen.take()
        .ok_or_else(|| tls_error("the server sent no certificate".into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprints_normalise_case_and_colons() {
        let plain = "ab".repeat(32);
        let normal = normalize_fingerprint(&plain).unwrap();
        assert_eq!(normal.len(), 95);
        assert!(normal.starts_with("AB:AB:"));
        assert_eq!(
            normalize_fingerprint(&normal.to_lowercase()).unwrap(),
            normal
        );
        assert!(normalize_fingerprint("abc").is_err());
        assert!(normalize_fingerprint(&"zz".repeat(32)).is_err());
    }
}
