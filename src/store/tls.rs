//! TLS client settings as kong.conf asks for them: `*_ssl_verify = off` accepts any certificate
//! (as Kong does), `on` verifies against `lua_ssl_trusted_certificate` (PEM files, or `system`).

use std::path::Path;
use std::sync::Arc;

use color_eyre::eyre::{eyre, Result, WrapErr};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::verify_server_cert_signed_by_trust_anchor;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Where Debian, Ubuntu, Alpine and RHEL keep the system CA bundle, first match wins.
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/cert.pem",
];

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds a client config. `trusted` are the entries of `lua_ssl_trusted_certificate`.
pub fn client_config(verify: bool, trusted: &[String]) -> Result<ClientConfig> {
    let builder = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .wrap_err("TLS: no usable protocol version")?;
    if !verify {
        return Ok(builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAny))
            .with_no_client_auth());
    }
    Ok(builder
        .with_root_certificates(root_store(trusted)?)
        .with_no_client_auth())
}

/// Like [`client_config`], but with `verify` on only the certificate chain is checked, never
/// the host name: Kong's Cassandra driver (lua-cassandra) hands no server name to its TLS
/// handshake, so Kong accepts a node whose certificate does not name it; the scylla driver would
/// check the node's IP address.
pub fn client_config_chain_only(verify: bool, trusted: &[String]) -> Result<ClientConfig> {
    if !verify {
        return client_config(false, trusted);
    }
    let roots = root_store(trusted)?;
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .wrap_err("TLS: no usable protocol version")?
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(ChainOnly { roots }))
        .with_no_client_auth())
}

/// The CAs of `lua_ssl_trusted_certificate` (`system` when empty).
fn root_store(trusted: &[String]) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    let mut entries: Vec<String> = trusted.to_vec();
    if entries.is_empty() {
        entries.push("system".into());
    }
    for entry in &entries {
        if entry == "system" {
            let found = SYSTEM_BUNDLES.iter().find(|p| Path::new(p).exists());
            let Some(bundle) = found else {
                return Err(eyre!(
                    "ssl_verify is on and lua_ssl_trusted_certificate says 'system', but no system CA bundle was found (looked in {}); name a PEM file instead",
                    SYSTEM_BUNDLES.join(", ")
                ));
            };
            add_pem(&mut roots, Path::new(bundle))?;
        } else {
            add_pem(&mut roots, Path::new(entry))?;
        }
    }
    Ok(roots)
}

fn add_pem(roots: &mut RootCertStore, path: &Path) -> Result<()> {
    // Bounded: `/dev/zero` or a FIFO named here would hang the connection forever.
    let bytes = crate::bounded::read(path, crate::bounded::CA_MAX)
        .map_err(|e| eyre!("lua_ssl_trusted_certificate: {e}"))?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .wrap_err_with(|| {
            format!(
                "lua_ssl_trusted_certificate: {} is not valid PEM",
                path.display()
            )
        })?;
    if certs.is_empty() {
        return Err(eyre!(
            "lua_ssl_trusted_certificate: {} holds no certificate",
            path.display()
        ));
    }
    for c in certs {
        roots.add(c).wrap_err_with(|| {
            format!(
                "lua_ssl_trusted_certificate: a certificate in {} is not usable",
                path.display()
            )
        })?;
    }
    Ok(())
}

/// `ssl_verify = off`: encrypt but do not authenticate the server, exactly Kong's default.
#[derive(Debug)]
struct AcceptAny;

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// Verifies the server's chain against the trusted CAs and its handshake signatures; ignores
/// the name it was issued for (see [`client_config_chain_only`]).
#[derive(Debug)]
struct ChainOnly {
    roots: RootCertStore,
}

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let cert = ParsedCertificate::try_from(end_entity)?;
        verify_server_cert_signed_by_trust_anchor(
            &cert,
            &self.roots,
            intermediates,
            now,
            provider().signature_verification_algorithms.all,
        )?;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &provider().signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
