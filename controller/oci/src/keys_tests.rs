use super::*;

const PKCS1: &str = include_str!("../tests/fixtures/oci_doc_key.pem");
const PKCS8: &str = include_str!("../tests/fixtures/oci_doc_key_pkcs8.pem");
const PKCS8_ENC: &str = include_str!("../tests/fixtures/oci_doc_key_pkcs8_enc.pem");
const LEGACY_ENC: &str = include_str!("../tests/fixtures/oci_doc_key_legacy_enc.pem");
const DOC_PUB: &str = include_str!("../tests/fixtures/oci_doc_pub.pem");
const LEAF: &str = include_str!("../tests/fixtures/identity_leaf.pem");

#[test]
fn pkcs1_and_pkcs8_load_to_the_same_key() {
    let a = parse_private_key_pem(PKCS1, None).unwrap();
    let b = parse_private_key_pem(PKCS8, None).unwrap();
    assert_eq!(a, b);
    let c = parse_private_key_pem(PKCS8_ENC, Some(b"s3cret")).unwrap();
    assert_eq!(a, c);
}

#[test]
fn encrypted_key_errors_are_auth_errors_with_a_hint() {
    let no_pass = parse_private_key_pem(PKCS8_ENC, None).unwrap_err();
    assert_eq!(no_pass.category(), "auth");
    assert!(no_pass.to_string().contains("passphrase"));
    let wrong = parse_private_key_pem(PKCS8_ENC, Some(b"nope")).unwrap_err();
    assert_eq!(wrong.category(), "auth");
    let legacy = parse_private_key_pem(LEGACY_ENC, Some(b"s3cret")).unwrap_err();
    assert!(legacy.to_string().contains("openssl pkcs8"));
    let garbage = parse_private_key_pem("hello", None).unwrap_err();
    assert_eq!(garbage.category(), "auth");
}

#[test]
fn public_key_encodings_match_openssl() {
    let key = parse_private_key_pem(PKCS1, None).unwrap();
    assert_eq!(public_key_base64(&key).unwrap(), pem_body(DOC_PUB));
    assert_eq!(public_key_pem(&key).unwrap(), DOC_PUB);
    // `openssl rsa -pubout -outform DER | openssl md5 -c`
    assert_eq!(
        api_key_fingerprint(&key).unwrap(),
        "73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7"
    );
}

#[test]
fn identity_cert_tenancy_and_fingerprint() {
    let info = parse_cert_pem(LEAF).unwrap();
    assert_eq!(
        info.tenancy_id.as_deref(),
        Some("ocid1.tenancy.oc1..tenancytest")
    );
    // `openssl x509 -outform DER | openssl sha256 -c`
    assert_eq!(
        cert_sha256_fingerprint(&info.der),
        "64:84:7b:b9:1d:7f:b4:be:e2:46:d0:c0:28:9f:74:eb:db:0c:18:9a:42:9f:73:a3:d5:e1:52:75:be:d2:63:76"
    );
    assert!(parse_cert_pem("not a cert").is_err());
}

#[test]
fn pem_body_strips_armor_and_newlines() {
    assert_eq!(
        pem_body("-----BEGIN X-----\nAB\r\nCD\n-----END X-----\n"),
        "ABCD"
    );
}
