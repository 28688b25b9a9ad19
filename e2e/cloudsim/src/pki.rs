//! The simulator's PKI, generated at start with rcgen: a root CA (written to `ca_out`,
//! trusted by clients), the TLS server certificate of every HTTPS listener, an
//! intermediate CA, and per-instance identity certificates like OCI's instance
//! certificates (subject CN = instance OCID, OUs `opc-instance:<id>` and
//! `opc-tenant:<tenancy>`), signed by the intermediate, with RSA keys.
//!
//! Known difference: rcgen keeps one value per DN attribute type, so the leaf carries two
//! OU attributes (one as a standard OU, one as a custom-typed OU with the same OID)
//! instead of OCI's four; `opc-compartment:` and `opc-certtype:` are not in the subject.

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose,
};
use rsa::{RsaPrivateKey, RsaPublicKey};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

use crate::{keys, Error};

fn crypto(e: impl std::fmt::Display) -> Error {
    Error::Crypto(e.to_string())
}

/// Generates an RSA key (slow in unoptimised builds: call from a blocking thread).
pub fn generate_rsa(bits: usize) -> Result<RsaPrivateKey, Error> {
    RsaPrivateKey::new(&mut rand::thread_rng(), bits).map_err(crypto)
}

/// An instance's identity as IMDS serves it.
#[derive(Debug, Clone)]
pub struct InstanceIdentity {
    /// Instance OCID.
    pub instance_id: String,
    /// Leaf certificate (PEM).
    pub cert_pem: String,
    /// Leaf certificate (DER).
    pub cert_der: Vec<u8>,
    /// Leaf private key (PKCS#8 PEM).
    pub key_pem: String,
    /// Leaf public key.
    pub public_key: RsaPublicKey,
}

/// CA material and issuers.
pub struct Pki {
    /// Root CA certificate (PEM): trust this to talk to the simulator.
    pub ca_pem: String,
    /// Intermediate CA certificate (PEM), served by IMDS as `intermediate.pem`.
    pub intermediate_pem: String,
    /// Intermediate certificate (DER).
    pub intermediate_der: Vec<u8>,
    intermediate: Issuer<'static, KeyPair>,
    server_chain: Vec<CertificateDer<'static>>,
    server_key: Vec<u8>,
}

fn ca_params(cn: &str) -> Result<CertificateParams, Error> {
    let mut p = CertificateParams::new(Vec::<String>::new()).map_err(crypto)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "pgvip ocisim");
    p.distinguished_name = dn;
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    p.not_before = rcgen::date_time_ymd(2020, 1, 1);
    p.not_after = rcgen::date_time_ymd(2099, 1, 1);
    Ok(p)
}

impl Pki {
    /// Generates root, intermediate and a server certificate for `tls_names`
    /// (DNS names or IP addresses; `localhost` and `127.0.0.1` are always included).
    pub fn generate(tls_names: &[String]) -> Result<Pki, Error> {
        let root_key = KeyPair::generate().map_err(crypto)?;
        let root_params = ca_params("ocisim root CA")?;
        let root_cert = root_params.self_signed(&root_key).map_err(crypto)?;
        let root = Issuer::new(root_params, root_key);

        let int_key = KeyPair::generate().map_err(crypto)?;
        let int_params = ca_params("ocisim instance identity intermediate")?;
        let int_cert = int_params.signed_by(&int_key, &root).map_err(crypto)?;
        let intermediate = Issuer::new(int_params, int_key);

        let mut names = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        names.extend(
            tls_names
                .iter()
                .filter(|n| !names.contains(n))
                .cloned()
                .collect::<Vec<_>>(),
        );
        let server_key = KeyPair::generate().map_err(crypto)?;
        let mut sp = CertificateParams::new(names).map_err(crypto)?;
        sp.distinguished_name.push(DnType::CommonName, "ocisim");
        sp.not_before = rcgen::date_time_ymd(2020, 1, 1);
        sp.not_after = rcgen::date_time_ymd(2099, 1, 1);
        let server_cert = sp.signed_by(&server_key, &root).map_err(crypto)?;

        Ok(Pki {
            ca_pem: root_cert.pem(),
            intermediate_pem: int_cert.pem(),
            intermediate_der: int_cert.der().to_vec(),
            intermediate,
            server_chain: vec![server_cert.der().clone(), root_cert.der().clone()],
            server_key: server_key.serialize_der(),
        })
    }

    /// rustls server configuration presenting the server certificate.
    pub fn server_config(&self) -> Result<Arc<rustls::ServerConfig>, Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(self.server_key.clone()));
        let cfg = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Tls(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(self.server_chain.clone(), key)
            .map_err(|e| Error::Tls(e.to_string()))?;
        Ok(Arc::new(cfg))
    }

    /// Issues an instance identity certificate for `key`.
    pub fn issue_instance(
        &self,
        tenancy_id: &str,
        instance_id: &str,
        key: &RsaPrivateKey,
    ) -> Result<InstanceIdentity, Error> {
        let der = keys::private_der(key)?;
        let kp = KeyPair::from_pkcs8_der_and_sign_algo(
            &PrivatePkcs8KeyDer::from(der),
            &rcgen::PKCS_RSA_SHA256,
        )
        .map_err(crypto)?;
        let mut p = CertificateParams::new(Vec::<String>::new()).map_err(crypto)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, instance_id);
        dn.push(
            DnType::OrganizationalUnitName,
            format!("opc-instance:{instance_id}"),
        );
        // Same OID (2.5.4.11) under a second key, so the subject holds two OUs.
        dn.push(
            DnType::CustomDnType(vec![2, 5, 4, 11]),
            format!("opc-tenant:{tenancy_id}"),
        );
        p.distinguished_name = dn;
        p.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        p.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
        p.not_before = rcgen::date_time_ymd(2020, 1, 1);
        p.not_after = rcgen::date_time_ymd(2099, 1, 1);
        let cert = p.signed_by(&kp, &self.intermediate).map_err(crypto)?;
        Ok(InstanceIdentity {
            instance_id: instance_id.to_string(),
            cert_pem: cert.pem(),
            cert_der: cert.der().to_vec(),
            key_pem: keys::private_pem(key)?,
            public_key: key.to_public_key(),
        })
    }
}
