//! The published OCI request-signature example (OCI "Request Signatures" page, also the
//! OCI Go SDK's signer tests): sample key, `Thu, 05 Jan 2014 21:31:40 GMT`, one GET and
//! one POST. The clock-skew check is a separate function and is not applied here.

use super::*;
use hyper::header::{HeaderName, HeaderValue};

/// Oracle's published sample key (test data from the documentation, not a secret).
pub(crate) const DOC_KEY: &str = "-----BEGIN RSA PRIVATE KEY-----
MIICXgIBAAKBgQDCFENGw33yGihy92pDjZQhl0C36rPJj+CvfSC8+q28hxA161QF
NUd13wuCTUcq0Qd2qsBe/2hFyc2DCJJg0h1L78+6Z4UMR7EOcpfdUE9Hf3m/hs+F
UR45uBJeDK1HSFHD8bHKD6kv8FPGfJTotc+2xjJwoYi+1hqp1fIekaxsyQIDAQAB
AoGBAJR8ZkCUvx5kzv+utdl7T5MnordT1TvoXXJGXK7ZZ+UuvMNUCdN2QPc4sBiA
QWvLw1cSKt5DsKZ8UETpYPy8pPYnnDEz2dDYiaew9+xEpubyeW2oH4Zx71wqBtOK
kqwrXa/pzdpiucRRjk6vE6YY7EBBs/g7uanVpGibOVAEsqH1AkEA7DkjVH28WDUg
f1nqvfn2Kj6CT7nIcE3jGJsZZ7zlZmBmHFDONMLUrXR/Zm3pR5m0tCmBqa5RK95u
412jt1dPIwJBANJT3v8pnkth48bQo/fKel6uEYyboRtA5/uHuHkZ6FQF7OUkGogc
mSJluOdc5t6hI1VsLn0QZEjQZMEOWr+wKSMCQQCC4kXJEsHAve77oP6HtG/IiEn7
kpyUXRNvFsDE0czpJJBvL/aRFUJxuRK91jhjC68sA7NsKMGg5OXb5I5Jj36xAkEA
gIT7aFOYBFwGgQAQkWNKLvySgKbAZRTeLBacpHMuQdl1DfdntvAyqpAZ0lY0RKmW
G6aFKaqQfOXKCyWoUiVknQJAXrlgySFci/2ueKlIE1QqIiLSZ8V8OlpFLRnb1pzI
7U1yQXnTAEFYM560yJlzUpOb1V4cScGd365tiSMvxLOvTA==
-----END RSA PRIVATE KEY-----";

const KEY_ID: &str = "ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq/ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq/20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34";
const DATE: &str = "Thu, 05 Jan 2014 21:31:40 GMT";
const HOST: &str = "iaas.us-phoenix-1.oraclecloud.com";
const GET_TARGET: &str = "/20160918/instances?availabilityDomain=Pjwf%3A%20PHX-AD-1&compartmentId=ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa&displayName=TeamXInstances&volumeId=ocid1.volume.oc1.phx.abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q";
const GET_AUTH: &str = "Signature version=\"1\",headers=\"date (request-target) host\",keyId=\"ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq/ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq/20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34\",algorithm=\"rsa-sha256\",signature=\"GBas7grhyrhSKHP6AVIj/h5/Vp8bd/peM79H9Wv8kjoaCivujVXlpbKLjMPeDUhxkFIWtTtLBj3sUzaFj34XE6YZAHc9r2DmE4pMwOAy/kiITcZxa1oHPOeRheC0jP2dqbTll8fmTZVwKZOKHYPtrLJIJQHJjNvxFWeHQjMaR7M=\"";
const POST_BODY: &str = "{\n    \"compartmentId\": \"ocid1.compartment.oc1..aaaaaaaam3we6vgnherjq5q2idnccdflvjsnog7mlr6rtdb25gilchfeyjxa\",\n    \"instanceId\": \"ocid1.instance.oc1.phx.abuw4ljrlsfiqw6vzzxb43vyypt4pkodawglp3wqxjqofakrwvou52gb6s5a\",\n    \"volumeId\": \"ocid1.volume.oc1.phx.abyhqljrgvttnlx73nmrwfaux7kcvzfs3s66izvxf2h4lgvyndsdsnoiwr5q\"\n}";
const POST_SIGNING_STRING: &str = "date: Thu, 05 Jan 2014 21:31:40 GMT\n(request-target): post /20160918/volumeAttachments\nhost: iaas.us-phoenix-1.oraclecloud.com\ncontent-length: 316\ncontent-type: application/json\nx-content-sha256: V9Z20UJTvkvpJ50flBzKE32+6m2zJjweHpDMX/U4Uy0=";
const POST_AUTH: &str = "Signature version=\"1\",headers=\"date (request-target) host content-length content-type x-content-sha256\",keyId=\"ocid1.tenancy.oc1..aaaaaaaaba3pv6wkcr4jqae5f15p2b2m2yt2j6rx32uzr4h25vqstifsfdsq/ocid1.user.oc1..aaaaaaaat5nvwcna5j6aqzjcaty5eqbb6qt2jvpkanghtgdaqedqw3rynjq/20:3b:97:13:55:1c:5b:0d:d3:37:d8:50:4e:c5:3a:34\",algorithm=\"rsa-sha256\",signature=\"Mje8vIDPlwIHmD/cTDwRxE7HaAvBg16JnVcsuqaNRim23fFPgQfLoOOxae6WqKb1uPjYEl0qIdazWaBy/Ml8DRhqlocMwoSXv0fbukP8J5N80LCmzT/FFBvIvTB91XuXI3hYfP9Zt1l7S6ieVadHUfqBedWH0itrtPJBgKmrWso=\"";

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

fn doc_public_key() -> RsaPublicKey {
    crate::keys::private_key_from_pem(DOC_KEY)
        .unwrap()
        .to_public_key()
}

#[test]
fn documented_get_vector_verifies() {
    let p = parse_authorization(GET_AUTH).unwrap();
    assert_eq!(p.key_id, KEY_ID);
    assert_eq!(p.headers, ["date", "(request-target)", "host"]);
    check_required(&p, "GET", true).unwrap();
    let h = headers(&[("date", DATE), ("host", HOST)]);
    let s = signing_string("GET", GET_TARGET, &h, &p.headers).unwrap();
    assert!(s.starts_with("date: Thu, 05 Jan 2014 21:31:40 GMT\n(request-target): get /20160918/instances?availabilityDomain=Pjwf%3A%20PHX-AD-1&"));
    assert!(s.ends_with("\nhost: iaas.us-phoenix-1.oraclecloud.com"));
    assert!(verify(&doc_public_key(), &s, &p.signature));
}

#[test]
fn documented_post_vector_verifies() {
    let p = parse_authorization(POST_AUTH).unwrap();
    check_required(&p, "POST", true).unwrap();
    let h = headers(&[
        ("date", DATE),
        ("host", HOST),
        ("content-length", "316"),
        ("content-type", "application/json"),
        (
            "x-content-sha256",
            "V9Z20UJTvkvpJ50flBzKE32+6m2zJjweHpDMX/U4Uy0=",
        ),
    ]);
    assert_eq!(POST_BODY.len(), 316);
    check_body(&h, POST_BODY.as_bytes()).unwrap();
    let s = signing_string("POST", "/20160918/volumeAttachments", &h, &p.headers).unwrap();
    assert_eq!(s, POST_SIGNING_STRING);
    assert!(verify(&doc_public_key(), &s, &p.signature));
}

#[test]
fn tampering_breaks_the_documented_vector() {
    let p = parse_authorization(GET_AUTH).unwrap();
    let key = doc_public_key();
    let table: [(&str, &str, &str); 3] = [
        ("GET", "/20160918/instances?compartmentId=other", DATE),
        ("GET", GET_TARGET, "Thu, 05 Jan 2014 21:31:41 GMT"),
        ("DELETE", GET_TARGET, DATE),
    ];
    for (method, target, date) in table {
        let h = headers(&[("date", date), ("host", HOST)]);
        let s = signing_string(method, target, &h, &p.headers).unwrap();
        assert!(!verify(&key, &s, &p.signature), "{method} {target} {date}");
    }
    // A body that differs from its signed hash is caught before the signature.
    let h = headers(&[
        ("content-length", "316"),
        (
            "x-content-sha256",
            "V9Z20UJTvkvpJ50flBzKE32+6m2zJjweHpDMX/U4Uy0=",
        ),
    ]);
    let mut body = POST_BODY.as_bytes().to_vec();
    body[10] ^= 1;
    assert!(check_body(&h, &body).is_err());
}

#[test]
fn required_headers_table() {
    let p = |headers: &str, alg: &str, version: Option<&str>| SignatureParams {
        version: version.map(String::from),
        key_id: "k".into(),
        algorithm: alg.into(),
        headers: headers.split_whitespace().map(String::from).collect(),
        signature: vec![],
    };
    let body = "date (request-target) host content-length content-type x-content-sha256";
    let table = [
        (
            p("date (request-target) host", "rsa-sha256", Some("1")),
            "GET",
            true,
            true,
        ),
        (
            p("x-date (request-target) host", "rsa-sha256", Some("1")),
            "DELETE",
            true,
            true,
        ),
        (
            p("date (request-target)", "rsa-sha256", Some("1")),
            "GET",
            true,
            false,
        ),
        (
            p("date (request-target)", "rsa-sha256", Some("1")),
            "POST",
            false,
            false,
        ),
        (
            p(
                "date (request-target) content-length content-type x-content-sha256",
                "rsa-sha256",
                None,
            ),
            "POST",
            false,
            true,
        ),
        (
            p("(request-target) host", "rsa-sha256", Some("1")),
            "GET",
            true,
            false,
        ),
        (
            p("date (request-target) host", "rsa-sha256", Some("1")),
            "PUT",
            true,
            false,
        ),
        (p(body, "rsa-sha256", Some("1")), "PUT", true, true),
        (p(body, "hmac-sha256", Some("1")), "PUT", true, false),
        (p(body, "rsa-sha256", Some("2")), "PUT", true, false),
    ];
    for (params, method, need_host, ok) in table {
        assert_eq!(
            check_required(&params, method, need_host).is_ok(),
            ok,
            "{:?} {method}",
            params.headers
        );
    }
}

#[test]
fn parse_rejects_malformed_headers() {
    for bad in [
        "Bearer abc",
        "Signature keyId=\"a\",algorithm=\"rsa-sha256\"",
        "Signature keyId=a,signature=\"AA==\"",
        "Signature signature=\"!!\",keyId=\"k\",algorithm=\"x\"",
    ] {
        assert!(parse_authorization(bad).is_err(), "{bad}");
    }
}

#[test]
fn skew_table() {
    let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
    for (offset, ok) in [
        (0i64, true),
        (299, true),
        (-299, true),
        (301, false),
        (-301, false),
    ] {
        let date = if offset >= 0 {
            now - Duration::from_secs(offset as u64)
        } else {
            now + Duration::from_secs((-offset) as u64)
        };
        assert_eq!(check_skew(date, now, MAX_SKEW).is_ok(), ok, "{offset}");
    }
}

#[test]
fn documented_key_fingerprint_is_md5_of_spki() {
    // The keyId's fingerprint in the documented example is illustrative: it is not the
    // sample key's. OCI documents the fingerprint as `openssl rsa -pubout -outform DER |
    // openssl md5 -c`, which gives this value for the sample key.
    let fp = crate::keys::api_key_fingerprint(&doc_public_key()).unwrap();
    assert_eq!(fp, "73:61:a2:21:67:e0:df:be:7e:4b:93:1e:15:98:a5:b7");
}
