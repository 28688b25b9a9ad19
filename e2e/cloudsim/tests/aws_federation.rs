//! IRSA and EKS Pod Identity over the wire: STS's `AssumeRoleWithWebIdentity` (HTTPS, form
//! body) and the Pod Identity agent (`GET /v1/credentials`) exchange a service-account token
//! for temporary credentials, and the EC2 front accepts exactly those (SigV4 with the session
//! token) with the role's permissions. Refusals come back in each service's own format; the
//! call log names the issued keys and never the token.

mod common;

use common::aws::*;
use pgvip_cloudsim::aws::federation::{POD_IDENTITY_AUDIENCE, STS_AUDIENCE};
use pgvip_cloudsim::aws::oidc::Es256Signer;
use pgvip_cloudsim::aws::{
    Action, AwsSimHandle, EksCluster, IamRole, OidcProvider, PodIdentityAssociation,
};
use serde_json::{json, Value};

const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
const SUB: &str = "system:serviceaccount:pgvip-system:pgvip-controller";

struct World {
    sim: AwsSimHandle,
    c: reqwest::Client,
    signer: Es256Signer,
}

async fn start() -> World {
    let signer = Es256Signer::generate().unwrap();
    let pem = signer.public_key_pem();
    let mut cfg = pgvip_cloudsim::aws::AwsSimConfig::new(
        aws_inventory()
            .oidc_provider(OidcProvider {
                url: ISSUER.into(),
                client_ids: vec![STS_AUDIENCE.into()],
                public_keys_pem: vec![pem.clone()],
            })
            .iam_role(
                IamRole::new("irsa", &["ec2:DescribeNetworkInterfaces"])
                    .trusting_web_identity(ISSUER, SUB),
            )
            .iam_role(IamRole::new("pod", &["ec2:*"]).trusting_pod_identity())
            .eks_cluster(EksCluster {
                name: "c1".into(),
                issuer: ISSUER.into(),
                public_keys_pem: vec![pem],
                pod_identity_associations: vec![PodIdentityAssociation {
                    namespace: "pgvip-system".into(),
                    service_account: "pgvip-controller".into(),
                    role: "pod".into(),
                }],
            }),
    );
    cfg.remap_delay = std::time::Duration::ZERO;
    let sim = pgvip_cloudsim::aws::AwsSim::start(cfg).await.unwrap();
    let c = https_client(sim.ca_pem());
    World { sim, c, signer }
}

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

impl World {
    fn token(&self, aud: &str) -> String {
        let n = now();
        self.signer
            .sign(&json!({"iss": ISSUER, "sub": SUB, "aud": [aud], "iat": n, "exp": n + 600}))
            .unwrap()
    }
    async fn sts(&self, token: &str) -> Answer {
        let body = form(&[
            ("Action", "AssumeRoleWithWebIdentity"),
            ("Version", "2011-06-15"),
            ("RoleArn", "arn:aws:iam::123456789012:role/irsa"),
            ("RoleSessionName", "pgvip-controller-0"),
            ("WebIdentityToken", token),
        ]);
        let r = self
            .c
            .post(format!("{}/", self.sim.sts_url()))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let request_id = r
            .headers()
            .get("x-amzn-requestid")
            .map(|v| v.to_str().unwrap().to_string());
        Answer {
            status,
            request_id,
            body: r.text().await.unwrap(),
        }
    }
    async fn agent(&self, auth: Option<&str>) -> (u16, String) {
        let mut req = self.c.get(self.sim.pod_identity_url());
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
    async fn describe(&self, creds: &Creds) -> Answer {
        ec2(
            &self.c,
            self.sim.ec2_url(),
            creds,
            self.sim.region(),
            &[("Action", "DescribeNetworkInterfaces")],
            Bend::default(),
        )
        .await
    }
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

#[tokio::test]
async fn sts_credentials_sign_ec2_calls_with_the_roles_permissions() {
    let w = start().await;
    let a = w.sts(&w.token(STS_AUDIENCE)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert!(a.request_id.is_some());
    let creds = Creds {
        access_key_id: leak(a.text("AccessKeyId").unwrap()),
        secret: leak(a.text("SecretAccessKey").unwrap()),
        token: Some(leak(a.text("SessionToken").unwrap())),
    };
    assert!(creds.access_key_id.starts_with("ASIA"));
    assert_eq!(a.text("SubjectFromWebIdentityToken").as_deref(), Some(SUB));
    assert_eq!(
        a.text("Arn").as_deref(),
        Some("arn:aws:sts::123456789012:assumed-role/irsa/pgvip-controller-0")
    );
    assert_eq!(w.describe(&creds).await.status, 200);
    // Without the session token the key is refused; the role may not assign.
    let no_token = Creds {
        token: None,
        ..creds
    };
    assert_eq!(
        w.describe(&no_token).await.outcome(),
        (403, Some("InvalidClientTokenId".into()))
    );
    let assign = ec2(
        &w.c,
        w.sim.ec2_url(),
        &creds,
        w.sim.region(),
        &[
            ("Action", "AssignPrivateIpAddresses"),
            ("NetworkInterfaceId", "eni-0e2e0000000000002"),
            ("PrivateIpAddress.1", "10.0.10.200"),
            ("AllowReassignment", "true"),
        ],
        Bend::default(),
    )
    .await;
    assert_eq!(
        assign.outcome(),
        (403, Some("UnauthorizedOperation".into()))
    );
    // The log names the issued key, on the STS call and the EC2 calls; never the token.
    let log = w.sim.call_log().records();
    let sts = log
        .iter()
        .find(|c| c.action == Action::AssumeRoleWithWebIdentity)
        .unwrap();
    assert_eq!(sts.access_key_id.as_deref(), Some(creds.access_key_id));
    assert_eq!(sts.params["WebIdentityToken"], "<redacted>");
    let describe = log
        .iter()
        .find(|c| c.action == Action::DescribeNetworkInterfaces && c.status == 200)
        .unwrap();
    assert_eq!(
        (
            describe.principal.as_deref(),
            describe.access_key_id.as_deref()
        ),
        (Some("irsa"), Some(creds.access_key_id))
    );
    w.sim.shutdown().await;
}

#[tokio::test]
async fn sts_refusals_are_aws_error_documents() {
    let w = start().await;
    // Pod Identity's audience at STS.
    let a = w.sts(&w.token(POD_IDENTITY_AUDIENCE)).await;
    assert_eq!(a.outcome(), (400, Some("InvalidIdentityToken".into())));
    let doc = roxmltree::Document::parse(&a.body).unwrap();
    assert_eq!(doc.root_element().tag_name().name(), "ErrorResponse");
    assert_eq!(a.text("Type").as_deref(), Some("Sender"));
    assert!(a.text("RequestId").is_some());
    assert_eq!(
        w.sts("x.y.z").await.outcome(),
        (400, Some("InvalidIdentityToken".into()))
    );
    w.sim.shutdown().await;
}

#[tokio::test]
async fn pod_identity_agent_issues_credentials_ec2_accepts() {
    let w = start().await;
    let (status, body) = w.agent(Some(&w.token(POD_IDENTITY_AUDIENCE))).await;
    assert_eq!(status, 200, "{body}");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["AccountId"], "123456789012");
    assert!(v["Expiration"].as_str().unwrap().ends_with('Z'));
    let creds = Creds {
        access_key_id: leak(v["AccessKeyId"].as_str().unwrap().into()),
        secret: leak(v["SecretAccessKey"].as_str().unwrap().into()),
        token: Some(leak(v["Token"].as_str().unwrap().into())),
    };
    assert_eq!(w.describe(&creds).await.status, 200);
    let log = w.sim.call_log().records();
    let issued = log
        .iter()
        .find(|c| c.action == Action::PodIdentityCredentials)
        .unwrap();
    assert_eq!(
        (issued.principal.as_deref(), issued.access_key_id.as_deref()),
        (Some("pod"), Some(creds.access_key_id))
    );
    // A missing header, IRSA's audience.
    let (status, body) = w.agent(None).await;
    assert_eq!(
        (status, body.as_str()),
        (400, "Service account token cannot be empty\n")
    );
    let (status, body) = w.agent(Some(&w.token(STS_AUDIENCE))).await;
    assert_eq!(status, 400);
    assert!(body.contains("(InvalidTokenException)"), "{body}");
    w.sim.shutdown().await;
}
