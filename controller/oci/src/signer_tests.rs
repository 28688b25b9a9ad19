//! Official vectors from OCI's "Request Signatures" page (the same inputs the OCI SDKs' signer
//! tests use): sample key, date `Thu, 05 Jan 2014 21:31:40 GMT`, the GET instances example and
//! the POST volumeAttachments example.

use super::*;
use crate::keys::parse_private_key_pem;
use rsa::RsaPublicKey;

const DOC_KEY: &str = include_str!("../tests/fixtures/oci_doc_key.pem");
const DOC_PUB: &str = include_str!("../tests/fixtures/oci_doc_pub.pem");
const DATE: &str = "Thu, 05 Jan 2014 21:31:40 GMT";
const KEY_ID: &str = "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq/ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq/20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34";

const GET_URL: &str = "https://iaas.us-phoenix-1.oraclecloud.com/20160918/instances?availabilityDomain=Pjwf%3A%20PHX-AD-1&compartmentId=ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa&displayName=TeamXInstances&volumeId=ocid1.volume.oc1.phx.abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q";
const GET_SIGNING_STRING: &str = "date: Thu, 05 Jan 2014 21:31:40 GMT\n(request-target): get /20160918/instances?availabilityDomain=Pjwf%3A%20PHX-AD-1&compartmentId=ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa&displayName=TeamXInstances&volumeId=ocid1.volume.oc1.phx.abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q\nhost: iaas.us-phoenix-1.oraclecloud.com";
const GET_SIGNATURE: &str = "GBas7grhyrhSKHP6AVIj/h5/Vp8bd/peM79H9Wv8kjoaCivujVXlpbKLjMPeDUhxkFIWtTtLBj3sUzaFj34XE6YZAHc9r2DmE4pMwOAy/kiITcZxa1oHPOeRheC0jP2dqbTll8fmTZVwKZOKHYPtrLJIJQHJjNvxFWeHQjMaR7M=";

const POST_URL: &str = "https://iaas.us-phoenix-1.oraclecloud.com/20160918/volumeAttachments";
const POST_BODY: &str = "{\n    \"compartmentId\": \"ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa\",\n    \"instanceId\": \"ocid1.instance.oc1.phx.abuw4ljrlsfiqw6vzzxb43vyypt4pkodawglp3wqxjqofakrwvou52gb6s5a\",\n    \"volumeId\": \"ocid1.volume.oc1.phx.abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q\"\n}";
const POST_SIGNING_STRING: &str = "date: Thu, 05 Jan 2014 21:31:40 GMT\n(request-target): post /20160918/volumeAttachments\nhost: iaas.us-phoenix-1.oraclecloud.com\ncontent-length: 316\ncontent-type: application/json\nx-content-sha256: V9Z20UJTvkvpJ50flBzKE32+6m2zJjweHpDMX/U4Uy0=";
const POST_SIGNATURE: &str = "Mje8vIDPlwIHmD/cTDwRxE7HaAvBg16JnVcsuqaNRim23fFPgQfLoOOxae6WqKb1uPjYEl0qIdazWaBy/Ml8DRhqlocMwoSXv0fbukP8J5N80LCmzT/FFBvIvTB91XuXI3hYfP9Zt1l7S6ieVadHUfqBedWH0itrtPJBgKmrWso=";

fn key() -> RsaPrivateKey {
    parse_private_key_pem(DOC_KEY, None).unwrap()
}

fn input_for<'a>(url: &'a Url, method: &'a str, pq: &'a str, host: &'a str) -> SigningInput<'a> {
    let _ = url;
    SigningInput {
        method,
        path_and_query: pq,
        host,
        date: DATE,
        body: None,
    }
}

#[test]
fn get_example_signing_string_is_byte_exact() {
    let url = Url::parse(GET_URL).unwrap();
    let pq = path_and_query(&url);
    let host = host_header(&url).unwrap();
    let s = signing_string(
        headers_to_sign("GET", HeaderSet::Service),
        &input_for(&url, "GET", &pq, &host),
    )
    .unwrap();
    assert_eq!(s, GET_SIGNING_STRING);
}

#[test]
fn get_example_signature_matches_published_value() {
    assert_eq!(
        sign_string(&key(), GET_SIGNING_STRING).unwrap(),
        GET_SIGNATURE
    );
}

#[test]
fn get_example_full_request_signing() {
    let url = Url::parse(GET_URL).unwrap();
    let signed = sign_request(KEY_ID, &key(), "GET", &url, b"", DATE, HeaderSet::Service).unwrap();
    assert_eq!(signed.date, DATE);
    assert!(signed.body.is_none());
    assert_eq!(
        signed.authorization,
        format!("Signature version=\"1\",keyId=\"{KEY_ID}\",algorithm=\"rsa-sha256\",headers=\"date (request-target) host\",signature=\"{GET_SIGNATURE}\"")
    );
}

#[test]
fn post_example_body_hash_and_length() {
    assert_eq!(POST_BODY.len(), 316);
    assert_eq!(
        content_sha256(POST_BODY.as_bytes()),
        "V9Z20UJTvkvpJ50flBzKE32+6m2zJjweHpDMX/U4Uy0="
    );
}

#[test]
fn post_example_signing_string_and_signature_are_byte_exact() {
    let url = Url::parse(POST_URL).unwrap();
    let signed = sign_request(
        KEY_ID,
        &key(),
        "POST",
        &url,
        POST_BODY.as_bytes(),
        DATE,
        HeaderSet::Service,
    )
    .unwrap();
    assert_eq!(
        signed.body,
        Some((
            "316".to_string(),
            "application/json".to_string(),
            "V9Z20UJTvkvpJ50flBzKE32+6m2zJjweHpDMX/U4Uy0=".to_string()
        ))
    );
    assert_eq!(
        signed.authorization,
        format!("Signature version=\"1\",keyId=\"{KEY_ID}\",algorithm=\"rsa-sha256\",headers=\"date (request-target) host content-length content-type x-content-sha256\",signature=\"{POST_SIGNATURE}\"")
    );
    // And the signing string itself.
    let sha = content_sha256(POST_BODY.as_bytes());
    let input = SigningInput {
        method: "POST",
        path_and_query: "/20160918/volumeAttachments",
        host: "iaas.us-phoenix-1.oraclecloud.com",
        date: DATE,
        body: Some(BodyFacts {
            content_length: 316,
            content_type: "application/json",
            content_sha256: &sha,
        }),
    };
    assert_eq!(
        signing_string(headers_to_sign("POST", HeaderSet::Service), &input).unwrap(),
        POST_SIGNING_STRING
    );
}

#[test]
fn signatures_verify_with_published_public_key() {
    use pkcs8::DecodePublicKey;
    let public = RsaPublicKey::from_public_key_pem(DOC_PUB).unwrap();
    for (s, sig) in [
        (GET_SIGNING_STRING, GET_SIGNATURE),
        (POST_SIGNING_STRING, POST_SIGNATURE),
    ] {
        let sig = B64.decode(sig).unwrap();
        let digest = Sha256::digest(s.as_bytes());
        public
            .verify(Pkcs1v15Sign::new::<Sha256>(), &digest, &sig)
            .unwrap();
    }
}

#[test]
fn header_lists_per_method() {
    let table: &[(&str, HeaderSet, &str)] = &[
        ("GET", HeaderSet::Service, "date (request-target) host"),
        ("HEAD", HeaderSet::Service, "date (request-target) host"),
        ("DELETE", HeaderSet::Service, "date (request-target) host"),
        ("get", HeaderSet::Service, "date (request-target) host"),
        (
            "POST",
            HeaderSet::Service,
            "date (request-target) host content-length content-type x-content-sha256",
        ),
        (
            "PUT",
            HeaderSet::Service,
            "date (request-target) host content-length content-type x-content-sha256",
        ),
        (
            "PATCH",
            HeaderSet::Service,
            "date (request-target) host content-length content-type x-content-sha256",
        ),
        ("GET", HeaderSet::Federation, "date (request-target)"),
        (
            "POST",
            HeaderSet::Federation,
            "date (request-target) content-length content-type x-content-sha256",
        ),
    ];
    for (method, set, want) in table {
        assert_eq!(
            headers_to_sign(method, *set).join(" "),
            *want,
            "{method} {set:?}"
        );
    }
}

#[test]
fn empty_body_put_still_signs_body_headers() {
    let url = Url::parse("https://iaas.example.com/20160918/privateIps/x").unwrap();
    let signed = sign_request(KEY_ID, &key(), "PUT", &url, b"", DATE, HeaderSet::Service).unwrap();
    let (len, ctype, sha) = signed.body.unwrap();
    assert_eq!(len, "0");
    assert_eq!(ctype, "application/json");
    assert_eq!(sha, "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=");
    assert!(signed.authorization.contains("x-content-sha256"));
}

#[test]
fn host_keeps_non_default_port_and_ipv6_brackets() {
    let table = [
        ("https://iaas.example.com/x", "iaas.example.com"),
        ("https://iaas.example.com:443/x", "iaas.example.com"),
        ("https://127.0.0.1:8443/x", "127.0.0.1:8443"),
        ("http://[::1]:9000/x", "[::1]:9000"),
    ];
    for (url, want) in table {
        assert_eq!(host_header(&Url::parse(url).unwrap()).unwrap(), want);
    }
}

#[test]
fn date_is_imf_fixdate_gmt() {
    // The documentation's date string says "Thu" although 5 Jan 2014 was a Sunday: the signer
    // signs the `date` header verbatim, so the vectors above hold either way.
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_388_957_500);
    assert_eq!(format_date(t), "Sun, 05 Jan 2014 21:31:40 GMT");
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    assert_eq!(format_date(t), "Tue, 14 Nov 2023 22:13:20 GMT");
}

#[test]
fn signed_headers_debug_redacts_authorization() {
    let url = Url::parse(GET_URL).unwrap();
    let signed = sign_request(KEY_ID, &key(), "GET", &url, b"", DATE, HeaderSet::Service).unwrap();
    let dbg = format!("{signed:?}");
    assert!(!dbg.contains(GET_SIGNATURE));
    assert!(dbg.contains("<redacted>"));
}
