//! Pod Identity decisions: one cluster, one association.

use std::net::Ipv4Addr;

use serde_json::{json, Value};

use super::*;
use crate::aws::federation::{EksCluster, PodIdentityAssociation};
use crate::aws::inventory::AwsInventory;
use crate::aws::oidc::Es256Signer;

const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
const SUB: &str = "system:serviceaccount:pgvip-system:pgvip-controller";
const BOUND: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

struct World {
    iam: Iam,
    signer: Es256Signer,
    now: SystemTime,
}

fn world() -> World {
    let signer = Es256Signer::generate().unwrap();
    let assoc = |sa: &str, role: &str| PodIdentityAssociation {
        namespace: "pgvip-system".into(),
        service_account: sa.into(),
        role: role.into(),
    };
    let inv = AwsInventory::example()
        .iam_role(IamRole::new("pgvip-pod", &["ec2:*"]).trusting_pod_identity())
        .iam_role(IamRole::new("untrusting", &["ec2:*"]))
        .eks_cluster(EksCluster {
            name: "testbed".into(),
            issuer: ISSUER.into(),
            public_keys_pem: vec![signer.public_key_pem()],
            pod_identity_associations: vec![
                assoc("pgvip-controller", "pgvip-pod"),
                assoc("other", "untrusting"),
            ],
        });
    World {
        iam: Iam::new(&inv).unwrap(),
        signer,
        now: SystemTime::now(),
    }
}

impl World {
    fn token(&self, edit: impl FnOnce(&mut Value)) -> String {
        let now = secs(self.now);
        let mut c = json!({"iss": ISSUER, "sub": SUB, "aud": [POD_IDENTITY_AUDIENCE],
                           "iat": now, "nbf": now, "exp": now + 3600});
        edit(&mut c);
        self.signer.sign(&c).unwrap()
    }
    fn ask(&self, host: &str, token: Option<&str>) -> Result<IamRole, AgentError> {
        let req = PodRequest {
            host: Some(host),
            token,
        };
        authorize(&self.iam, BOUND, &req, "rid", self.now)
    }
}

#[test]
fn an_associated_service_account_gets_its_role() {
    let w = world();
    let t = w.token(|_| {});
    for host in [
        "127.0.0.1:18446",
        "169.254.170.23",
        "[fd00:ec2::23]:80",
        "127.0.0.1",
    ] {
        assert_eq!(w.ask(host, Some(&t)).unwrap().name, "pgvip-pod", "{host}");
    }
}

#[test]
fn bad_authorization_headers_are_refused_by_the_agent() {
    let w = world();
    for token in [None, Some(""), Some("Bearer abc"), Some("a.b.c")] {
        let e = w.ask("127.0.0.1:80", token).unwrap_err();
        assert_eq!(e.status, 400, "{token:?}");
        assert!(
            e.message.starts_with("Service account token cannot be"),
            "{}",
            e.message
        );
    }
    let e = w.ask("10.0.0.9:80", Some(&w.token(|_| {}))).unwrap_err();
    assert_eq!(e.status, 403);
    assert!(e
        .message
        .starts_with("Access Denied. Called agent through invalid address"));
}

#[test]
fn expired_tokens_fail_the_agents_claim_validation() {
    let w = world();
    let now = secs(w.now);
    let e = w
        .ask("127.0.0.1", Some(&w.token(|c| c["exp"] = json!(now - 5))))
        .unwrap_err();
    assert_eq!(e.status, 400);
    assert!(e.message.ends_with("token is expired"), "{}", e.message);
}

#[test]
fn eks_auth_checks_audience_issuer_signature_association_and_trust() {
    let w = world();
    let code = |t: &str| {
        let e = w.ask("127.0.0.1", Some(t)).unwrap_err();
        let code = e
            .message
            .split(['(', ')'])
            .nth(1)
            .unwrap_or_default()
            .to_string();
        (e.status, code)
    };
    let invalid = (400, "InvalidTokenException".to_string());
    // IRSA's audience is not Pod Identity's.
    assert_eq!(
        code(&w.token(|c| c["aud"] = json!("sts.amazonaws.com"))),
        invalid
    );
    assert_eq!(
        code(&w.token(|c| c["iss"] = json!("https://other.example"))),
        invalid
    );
    let now = secs(w.now);
    let rogue = Es256Signer::generate()
        .unwrap()
        .sign(&json!({"iss": ISSUER, "sub": SUB, "aud": POD_IDENTITY_AUDIENCE, "exp": now + 60}))
        .unwrap();
    assert_eq!(code(&rogue), invalid);
    // A service account without an association, and one whose role does not trust EKS.
    assert_eq!(
        code(&w.token(|c| c["sub"] = json!("system:serviceaccount:pgvip-system:default"))),
        (404, "ResourceNotFoundException".to_string())
    );
    assert_eq!(
        code(&w.token(|c| c["sub"] = json!("system:serviceaccount:pgvip-system:other"))),
        (400, "AccessDeniedException".to_string())
    );
}

#[test]
fn host_headers() {
    assert_eq!(host_only("127.0.0.1:8080"), "127.0.0.1");
    assert_eq!(host_only("169.254.170.23"), "169.254.170.23");
    assert_eq!(host_only("[fd00:ec2::23]:80"), "fd00:ec2::23");
    assert_eq!(host_only("fd00:ec2::23"), "fd00:ec2::23");
}
