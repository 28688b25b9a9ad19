//! SigV4 checked against AWS's documented examples (the IAM `ListUsers` walk-through of the
//! IAM User Guide, its signing-key derivation, and cases of AWS's SigV4 test suite, all with
//! the example key `AKIDEXAMPLE` / `wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY` at
//! 2015-08-30T12:36:00Z), then refusal cases as a table.

use hyper::header::{HeaderName, HeaderValue};
use hyper::HeaderMap;

use super::*;

const KEY: &str = "AKIDEXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const DATE: &str = "20150830T123600Z";

fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (k, v) in pairs {
        h.append(
            HeaderName::from_bytes(k.to_ascii_lowercase().as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    h
}

fn at_doc_time() -> SystemTime {
    parse_amz_date(DATE).unwrap()
}

fn check(
    method: &str,
    query: &str,
    hs: &[(&str, &str)],
    body: &str,
    service: &str,
) -> Result<String, SigError> {
    let h = headers(hs);
    let r = SignedRequest {
        method,
        path: "/",
        raw_query: query,
        headers: &h,
        body: body.as_bytes(),
    };
    let want = Expected {
        region: "us-east-1",
        service,
        now: at_doc_time(),
        max_skew: Some(MAX_SKEW),
    };
    verify(&r, &want, |k| {
        (k == KEY).then_some(Secret {
            secret_access_key: SECRET,
            session_token: None,
        })
    })
}

fn auth(service: &str, signed: &str, sig: &str) -> String {
    format!("AWS4-HMAC-SHA256 Credential={KEY}/20150830/us-east-1/{service}/aws4_request, SignedHeaders={signed}, Signature={sig}")
}

#[test]
fn documented_signing_key() {
    assert_eq!(
        hex(&signing_key(SECRET, "20150830", "us-east-1", "iam")),
        "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
    );
}

#[test]
fn documented_iam_list_users_example() {
    let h = headers(&[
        (
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        ),
        ("host", "iam.amazonaws.com"),
        ("x-amz-date", DATE),
    ]);
    let r = SignedRequest {
        method: "GET",
        path: "/",
        raw_query: "Action=ListUsers&Version=2010-05-08",
        headers: &h,
        body: b"",
    };
    let signed: Vec<String> = ["content-type", "host", "x-amz-date"]
        .map(String::from)
        .to_vec();
    let creq = canonical_request(&r, &signed).unwrap();
    assert_eq!(
        creq,
        "GET\n/\nAction=ListUsers&Version=2010-05-08\ncontent-type:application/x-www-form-urlencoded; charset=utf-8\nhost:iam.amazonaws.com\nx-amz-date:20150830T123600Z\n\ncontent-type;host;x-amz-date\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    let sts = string_to_sign(DATE, "20150830/us-east-1/iam/aws4_request", &creq);
    assert!(sts.ends_with("f536975d06c0309214f805bb90ccff089219ecd68b2577efef23edd43b7e1a59"));
    let sig = "5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7";
    let a = auth("iam", "content-type;host;x-amz-date", sig);
    let got = check(
        "GET",
        "Action=ListUsers&Version=2010-05-08",
        &[
            ("authorization", &a),
            (
                "content-type",
                "application/x-www-form-urlencoded; charset=utf-8",
            ),
            ("host", "iam.amazonaws.com"),
            ("x-amz-date", DATE),
        ],
        "",
        "iam",
    );
    assert_eq!(got, Ok(KEY.to_string()));
}

#[test]
fn documented_test_suite_cases() {
    // (case, method, query, extra headers, body, signed headers, signature)
    type Case<'a> = (
        &'a str,
        &'a str,
        &'a str,
        Vec<(&'a str, &'a str)>,
        &'a str,
        &'a str,
        &'a str,
    );
    let cases: Vec<Case> = vec![
        (
            "get-vanilla",
            "GET",
            "",
            vec![],
            "",
            "host;x-amz-date",
            "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31",
        ),
        (
            "get-vanilla-query-order-key-case",
            "GET",
            "Param2=value2&Param1=value1",
            vec![],
            "",
            "host;x-amz-date",
            "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500",
        ),
        (
            "post-x-www-form-urlencoded",
            "POST",
            "",
            vec![("content-type", "application/x-www-form-urlencoded")],
            "Param1=value1",
            "content-type;host;x-amz-date",
            "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a",
        ),
        (
            "get-header-value-trim",
            "GET",
            "",
            vec![
                ("my-header1", " value1 "),
                ("my-header2", " \"a   b   c\" "),
            ],
            "",
            "host;my-header1;my-header2;x-amz-date",
            "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736",
        ),
    ];
    for (name, method, query, extra, body, signed, sig) in cases {
        let a = auth("service", signed, sig);
        let mut hs = vec![
            ("authorization", a.as_str()),
            ("host", "example.amazonaws.com"),
            ("x-amz-date", DATE),
        ];
        hs.extend(extra);
        assert_eq!(
            check(method, query, &hs, body, "service"),
            Ok(KEY.to_string()),
            "{name}"
        );
    }
}

#[test]
fn canonical_uri_and_query_table() {
    for (path, want) in [
        ("/", "/"),
        ("", "/"),
        ("//example//", "/example/"),
        ("/a/./b/../c", "/a/c"),
        ("/foo%20bar", "/foo%2520bar"),
    ] {
        assert_eq!(canonical_uri(path), want, "{path}");
    }
    for (raw, want) in [
        ("", ""),
        ("Param2=value2&Param1=value1", "Param1=value1&Param2=value2"),
        ("a=b+c", "a=b%20c"),
        ("k", "k="),
        ("t=abc%2Bd%2Ff%3D", "t=abc%2Bd%2Ff%3D"),
        ("b=2&a=1&a=0", "a=0&a=1&b=2"),
    ] {
        assert_eq!(canonical_query(raw), want, "{raw}");
    }
}

#[test]
fn refusals_table() {
    let good = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
    let bad = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf30";
    let base = |a: String, date: &'static str| -> Vec<(&'static str, String)> {
        vec![
            ("authorization", a),
            ("host", "example.amazonaws.com".into()),
            ("x-amz-date", date.into()),
        ]
    };
    let cred = |scope: &str, signed: &str, sig: &str| {
        format!("AWS4-HMAC-SHA256 Credential={scope}, SignedHeaders={signed}, Signature={sig}")
    };
    let sc = "AKIDEXAMPLE/20150830/us-east-1/service/aws4_request";
    // (case, headers, expected error kind, EC2 code)
    type Case<'a> = (&'a str, Vec<(&'a str, String)>, &'a str);
    let table: Vec<Case> = vec![
        ("no header", vec![("host", "h".into()), ("x-amz-date", DATE.into())], "MissingAuthenticationToken"),
        ("flipped signature", base(cred(sc, "host;x-amz-date", bad), DATE), "SignatureDoesNotMatch"),
        ("other algorithm", base(format!("AWS4-HMAC-SHA512 Credential={sc}, SignedHeaders=host;x-amz-date, Signature={good}"), DATE), "IncompleteSignature"),
        ("no signature", base(format!("AWS4-HMAC-SHA256 Credential={sc}, SignedHeaders=host;x-amz-date"), DATE), "IncompleteSignature"),
        ("short scope", base(cred("AKIDEXAMPLE/20150830/us-east-1", "host;x-amz-date", good), DATE), "IncompleteSignature"),
        ("unknown key", base(cred("AKIDOTHER/20150830/us-east-1/service/aws4_request", "host;x-amz-date", good), DATE), "AuthFailure"),
        ("other region", base(cred("AKIDEXAMPLE/20150830/eu-west-1/service/aws4_request", "host;x-amz-date", good), DATE), "SignatureDoesNotMatch"),
        ("other service", base(cred("AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request", "host;x-amz-date", good), DATE), "SignatureDoesNotMatch"),
        ("scope date", base(cred("AKIDEXAMPLE/20150831/us-east-1/service/aws4_request", "host;x-amz-date", good), DATE), "SignatureDoesNotMatch"),
        ("bad terminator", base(cred("AKIDEXAMPLE/20150830/us-east-1/service/aws5_request", "host;x-amz-date", good), DATE), "SignatureDoesNotMatch"),
        ("host unsigned", base(cred(sc, "x-amz-date", good), DATE), "IncompleteSignature"),
        ("no date", vec![("authorization", cred(sc, "host;x-amz-date", good)), ("host", "h".into())], "IncompleteSignature"),
        ("6 min late", base(cred(sc, "host;x-amz-date", good), "20150830T124200Z"), "RequestExpired"),
        ("6 min early", base(cred(sc, "host;x-amz-date", good), "20150830T123000Z"), "RequestExpired"),
        ("unexpected token", { let mut h = base(cred(sc, "host;x-amz-date", good), DATE); h.push(("x-amz-security-token", "t".into())); h }, "InvalidClientTokenId"),
        ("payload hash header", { let mut h = base(cred(sc, "host;x-amz-date", good), DATE); h.push(("x-amz-content-sha256", "00".into())); h }, "SignatureDoesNotMatch"),
    ];
    for (name, hs, code) in table {
        let hs: Vec<(&str, &str)> = hs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let err = check("GET", "", &hs, "", "service").unwrap_err();
        assert_eq!(err.to_ec2().code, code, "{name}: {err}");
    }
}

#[test]
fn error_statuses_follow_aws() {
    let table = [
        (SigError::Missing, 403),
        (SigError::Incomplete("x".into()), 400),
        (SigError::UnknownKey("k".into()), 401),
        (SigError::BadToken, 403),
        (SigError::Mismatch(None), 403),
        (SigError::Expired("x".into()), 400),
    ];
    for (e, status) in table {
        assert_eq!(e.to_ec2().status, status, "{e}");
    }
}

#[test]
fn session_tokens_must_match() {
    let sig = "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31";
    let a = auth("service", "host;x-amz-date", sig);
    let h = headers(&[
        ("authorization", &a),
        ("host", "example.amazonaws.com"),
        ("x-amz-date", DATE),
    ]);
    let r = SignedRequest {
        method: "GET",
        path: "/",
        raw_query: "",
        headers: &h,
        body: b"",
    };
    let want = Expected {
        region: "us-east-1",
        service: "service",
        now: at_doc_time(),
        max_skew: None,
    };
    let needs_token = |_: &str| {
        Some(Secret {
            secret_access_key: SECRET,
            session_token: Some("tok"),
        })
    };
    assert_eq!(verify(&r, &want, needs_token), Err(SigError::BadToken));
    assert_eq!(parse_amz_date("20150830T12360Z"), None);
    assert_eq!(parse_amz_date("20151330T123600Z"), None);
}
