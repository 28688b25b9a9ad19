//! `AssumeRoleWithWebIdentity` decisions: one issuer, one role trusting one service account.

use std::time::{Duration, SystemTime};

use serde_json::{json, Value};

use super::*;
use crate::aws::federation::{OidcProvider, STS_AUDIENCE};
use crate::aws::inventory::AwsInventory;
use crate::aws::oidc::Es256Signer;

const ISSUER: &str = "https://oidc.eks.us-east-1.amazonaws.com/id/TESTBED";
const ACCOUNT: &str = "123456789012";
const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/pgvip-irsa";
const SUB: &str = "system:serviceaccount:pgvip-system:pgvip-controller";

struct World {
    iam: Iam,
    signer: Es256Signer,
    now: SystemTime,
}

fn world() -> World {
    let signer = Es256Signer::generate().unwrap();
    let inv = AwsInventory::example()
        .oidc_provider(OidcProvider {
            url: ISSUER.into(),
            client_ids: vec![STS_AUDIENCE.into()],
            public_keys_pem: vec![signer.public_key_pem()],
        })
        .iam_role(IamRole::new("pgvip-irsa", &["ec2:*"]).trusting_web_identity(ISSUER, SUB))
        .iam_role(IamRole::new("unrelated", &["ec2:*"]));
    World {
        iam: Iam::new(&inv).unwrap(),
        signer,
        now: SystemTime::now(),
    }
}

impl World {
    fn token(&self, edit: impl FnOnce(&mut Value)) -> String {
        let now = secs(self.now);
        let mut c = json!({"iss": ISSUER, "sub": SUB, "aud": [STS_AUDIENCE],
                           "iat": now, "nbf": now, "exp": now + 3600,
                           "kubernetes.io": {"namespace": "pgvip-system"}});
        edit(&mut c);
        self.signer.sign(&c).unwrap()
    }
    fn assume(&self, role_arn: &str, token: &str) -> Result<Assumed, StsError> {
        let req = WebIdentityRequest {
            role_arn: Some(role_arn),
            session_name: Some("pgvip-controller-0"),
            token: Some(token),
            duration_secs: None,
        };
        assume(&self.iam, ACCOUNT, &req, self.now)
    }
}

#[test]
fn a_trusted_service_account_token_assumes_the_role() {
    let w = world();
    let a = w.assume(ROLE_ARN, &w.token(|_| {})).unwrap();
    assert_eq!(a.role.name, "pgvip-irsa");
    assert_eq!(
        a.session_arn,
        "arn:aws:sts::123456789012:assumed-role/pgvip-irsa/pgvip-controller-0"
    );
    assert!(
        a.assumed_role_id.starts_with("AROA") && a.assumed_role_id.ends_with(":pgvip-controller-0")
    );
    assert_eq!(
        (a.subject.as_str(), a.audience.as_str()),
        (SUB, STS_AUDIENCE)
    );
    assert_eq!(
        a.provider_arn,
        "arn:aws:iam::123456789012:oidc-provider/oidc.eks.us-east-1.amazonaws.com/id/TESTBED"
    );
    assert_eq!(a.duration, DEFAULT_DURATION);
    // `aud` as a plain string is accepted too.
    let t = w.token(|c| c["aud"] = json!(STS_AUDIENCE));
    assert!(w.assume(ROLE_ARN, &t).is_ok());
}

#[test]
fn wrong_audience_is_an_invalid_token() {
    let w = world();
    let t = w.token(|c| c["aud"] = json!(["https://kubernetes.default.svc.cluster.local"]));
    let e = w.assume(ROLE_ARN, &t).unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (400, "InvalidIdentityToken"));
    assert_eq!(e.message, "Incorrect token audience");
}

#[test]
fn expired_token_is_refused_with_expired_token_exception() {
    let w = world();
    let now = secs(w.now);
    let t = w.token(|c| c["exp"] = json!(now - 1));
    let e = w.assume(ROLE_ARN, &t).unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (400, "ExpiredTokenException"));
    assert!(
        e.message.starts_with("Token expired: current date/time"),
        "{}",
        e.message
    );
}

#[test]
fn a_subject_the_role_does_not_trust_is_access_denied() {
    let w = world();
    let t = w.token(|c| c["sub"] = json!("system:serviceaccount:default:default"));
    let e = w.assume(ROLE_ARN, &t).unwrap_err();
    assert_eq!((e.status, e.code.as_str()), (403, "AccessDenied"));
    // The right subject, but a role without a trust statement for it.
    let e = w
        .assume("arn:aws:iam::123456789012:role/unrelated", &w.token(|_| {}))
        .unwrap_err();
    assert_eq!(e.code, "AccessDenied");
    // A role of another account, or none at all, looks the same.
    for arn in [
        "arn:aws:iam::999999999999:role/pgvip-irsa",
        "arn:aws:iam::123456789012:role/ghost",
    ] {
        assert_eq!(w.assume(arn, &w.token(|_| {})).unwrap_err().status, 403);
    }
}

#[test]
fn foreign_issuers_and_signatures_are_invalid_tokens() {
    let w = world();
    let t = w.token(|c| c["iss"] = json!("https://kubernetes.default.svc.cluster.local"));
    let e = w.assume(ROLE_ARN, &t).unwrap_err();
    assert_eq!(e.code, "InvalidIdentityToken");
    assert!(
        e.message.starts_with("No OpenIDConnect provider found"),
        "{}",
        e.message
    );
    // Signed by a key the provider does not publish.
    let rogue = Es256Signer::generate().unwrap();
    let now = secs(w.now);
    let t = rogue
        .sign(&json!({"iss": ISSUER, "sub": SUB, "aud": STS_AUDIENCE, "exp": now + 60}))
        .unwrap();
    assert_eq!(
        w.assume(ROLE_ARN, &t).unwrap_err().code,
        "InvalidIdentityToken"
    );
    assert_eq!(
        w.assume(ROLE_ARN, "not-a-jwt").unwrap_err().code,
        "InvalidIdentityToken"
    );
}

#[test]
fn parameter_constraints_and_session_duration() {
    let w = world();
    let token = w.token(|_| {});
    let base = WebIdentityRequest {
        role_arn: Some(ROLE_ARN),
        session_name: Some("s1"),
        token: Some(&token),
        duration_secs: None,
    };
    let run = |r: WebIdentityRequest<'_>| assume(&w.iam, ACCOUNT, &r, w.now);
    let cases = [
        WebIdentityRequest {
            role_arn: None,
            ..base
        },
        WebIdentityRequest {
            session_name: None,
            ..base
        },
        WebIdentityRequest {
            token: None,
            ..base
        },
        WebIdentityRequest {
            session_name: Some("x"),
            ..base
        },
        WebIdentityRequest {
            session_name: Some("bad name"),
            ..base
        },
        WebIdentityRequest {
            duration_secs: Some("899"),
            ..base
        },
        WebIdentityRequest {
            duration_secs: Some("soon"),
            ..base
        },
        // Above the role's one-hour MaxSessionDuration.
        WebIdentityRequest {
            duration_secs: Some("7200"),
            ..base
        },
    ];
    for r in cases {
        let e = run(r).unwrap_err();
        assert_eq!(
            (e.status, e.code.as_str()),
            (400, "ValidationError"),
            "{r:?}"
        );
    }
    let a = run(WebIdentityRequest {
        duration_secs: Some("900"),
        ..base
    })
    .unwrap();
    assert_eq!(a.duration, Duration::from_secs(900));
}

#[test]
fn documents_are_awss() {
    let w = world();
    let a = w.assume(ROLE_ARN, &w.token(|_| {})).unwrap();
    let c = IssuedCredentials {
        access_key_id: "ASIAEXAMPLE".into(),
        secret_access_key: "s<e>cret".into(),
        session_token: "tok".into(),
        expiration: std::time::UNIX_EPOCH + Duration::from_secs(1_700_000_000),
    };
    let xml = response_xml(&a, &c, "rid-1");
    let doc = roxmltree::Document::parse(&xml).unwrap();
    let text = |path: &[&str]| {
        let mut n = doc.root_element();
        for p in path {
            n = n.children().find(|c| c.has_tag_name(*p)).unwrap();
        }
        n.text().unwrap_or_default().to_string()
    };
    assert_eq!(doc.root_element().tag_name().namespace(), Some(NS));
    let creds = ["AssumeRoleWithWebIdentityResult", "Credentials"];
    assert_eq!(text(&[creds[0], creds[1], "SecretAccessKey"]), "s<e>cret");
    assert_eq!(
        text(&[creds[0], creds[1], "Expiration"]),
        "2023-11-14T22:13:20Z"
    );
    assert_eq!(text(&[creds[0], "SubjectFromWebIdentityToken"]), SUB);
    assert_eq!(text(&[creds[0], "AssumedRoleUser", "Arn"]), a.session_arn);
    assert_eq!(text(&["ResponseMetadata", "RequestId"]), "rid-1");
    let err = error_xml(&StsError::access_denied(), "rid-2");
    let doc = roxmltree::Document::parse(&err).unwrap();
    let e = doc.root_element();
    assert_eq!(e.tag_name().name(), "ErrorResponse");
    let codes: Vec<_> = e
        .descendants()
        .filter(|n| n.is_element() && n.children().all(|c| c.is_text()))
        .map(|n| (n.tag_name().name(), n.text().unwrap_or_default()))
        .collect();
    assert_eq!(
        codes,
        [
            ("Type", "Sender"),
            ("Code", "AccessDenied"),
            (
                "Message",
                "Not authorized to perform sts:AssumeRoleWithWebIdentity"
            ),
            ("RequestId", "rid-2")
        ]
    );
}
