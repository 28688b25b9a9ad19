//! Test helpers: a moto server guard (killed on drop, also when a test panics) and set-up calls
//! straight over the EC2/IAM Query API, signed with this crate's signer.
//!
//! Data flow: `Moto::start` finds the venv through `e2e/testbed/venv.sh moto`, starts moto on a
//! free loopback port and waits until it listens; `Setup` builds VPCs, subnets, instances and IAM
//! users there; `cfg` gives the client under test a configuration pointing at it.

use std::net::{IpAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::Credentials;
use pgvip_aws::query::{QueryBody, CONTENT_TYPE};
use pgvip_aws::signer::sign_post;
use pgvip_aws::xml::parse_eni_page;
use pgvip_aws::{AwsConfig, CredentialsSource, MoveRequest};
use url::Url;

pub const REGION: &str = "us-east-1";

/// A running moto server; killed on drop.
pub struct Moto {
    child: Child,
    pub url: String,
    log: PathBuf,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The moto venv, built by the testbed's script if it is not there yet.
fn moto_venv() -> PathBuf {
    let script = repo_root().join("e2e/testbed/venv.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("moto")
        .stderr(Stdio::inherit())
        .output()
        .expect("run e2e/testbed/venv.sh moto");
    assert!(
        out.status.success(),
        "venv.sh moto failed: {:?}",
        out.status
    );
    let path = String::from_utf8_lossy(&out.stdout)
        .lines()
        .last()
        .unwrap_or_default()
        .trim()
        .to_string();
    PathBuf::from(path)
}

impl Moto {
    pub fn start(aws_semantics: bool, env: &[(&str, &str)]) -> Moto {
        let venv = moto_venv();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::env::temp_dir().join(format!("pgvip-aws-moto-{port}.log"));
        let log_file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(venv.join("bin/python"));
        cmd.arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/moto_aws_semantics.py"));
        if aws_semantics {
            cmd.arg("--aws-semantics");
        }
        cmd.args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(log_file.try_clone().unwrap())
            .stderr(log_file);
        let child = cmd.spawn().expect("start moto");
        let moto = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log,
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto did not listen on {port}; see {}",
                moto.log.display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        moto
    }
}

/// Set-up calls straight over the Query API (not through the client under test).
pub struct Setup {
    http: reqwest::Client,
    url: Url,
    creds: Credentials,
}

pub fn first(xml: &str, tag: &str) -> String {
    let doc = roxmltree::Document::parse(xml).unwrap();
    doc.descendants()
        .find(|n| n.tag_name().name() == tag)
        .and_then(|n| n.text())
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
        .to_string()
}

impl Setup {
    pub fn new(moto: &Moto) -> Setup {
        Setup {
            http: reqwest::Client::new(),
            url: Url::parse(&moto.url).unwrap(),
            creds: Credentials::new("AKIDSETUP", "setup-secret", None, None, "setup"),
        }
    }

    async fn call(&self, service: &str, body: QueryBody) -> String {
        let bytes = body.encode().into_bytes();
        let signed = sign_post(
            &self.creds,
            REGION,
            service,
            &self.url,
            &bytes,
            SystemTime::now(),
        )
        .unwrap();
        let mut req = self
            .http
            .post(self.url.clone())
            .header("content-type", CONTENT_TYPE)
            .body(bytes);
        for (k, v) in signed {
            req = req.header(k, v);
        }
        let resp = req.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        assert!(status.is_success(), "{body:?}: {status} {text}");
        text
    }

    async fn ec2(&self, action: &str, params: &[(&str, &str)]) -> String {
        let mut body = QueryBody::new(action);
        for (k, v) in params {
            body = body.param(k, *v);
        }
        self.call("ec2", body).await
    }

    pub async fn iam(&self, action: &str, params: &[(&str, &str)]) -> String {
        let mut body = QueryBody::with_version(action, "2010-05-08");
        for (k, v) in params {
            body = body.param(k, *v);
        }
        self.call("iam", body).await
    }

    /// A VPC with a `db` and an `other` subnet and two instances in `db`:
    /// (db subnet, other subnet, provider ids).
    pub async fn world(&self) -> (String, String, Vec<String>) {
        let vpc = first(
            &self.ec2("CreateVpc", &[("CidrBlock", "10.0.0.0/16")]).await,
            "vpcId",
        );
        let subnet = |cidr: &'static str| {
            let vpc = vpc.clone();
            async move {
                first(
                    &self
                        .ec2(
                            "CreateSubnet",
                            &[
                                ("VpcId", &vpc),
                                ("CidrBlock", cidr),
                                ("AvailabilityZone", "us-east-1a"),
                            ],
                        )
                        .await,
                    "subnetId",
                )
            }
        };
        let db = subnet("10.0.1.0/24").await;
        let other = subnet("10.0.2.0/24").await;
        let mut nodes = Vec::new();
        for _ in 0..2 {
            let xml = self
                .ec2(
                    "RunInstances",
                    &[
                        ("ImageId", "ami-12c6146b"),
                        ("MinCount", "1"),
                        ("MaxCount", "1"),
                        ("InstanceType", "t3.micro"),
                        ("SubnetId", &db),
                    ],
                )
                .await;
            nodes.push(format!("aws:///us-east-1a/{}", first(&xml, "instanceId")));
        }
        (db, other, nodes)
    }

    /// The addresses `eni` lists: (address, primary).
    pub async fn addresses(&self, eni: &str) -> Vec<(IpAddr, bool)> {
        let xml = self
            .ec2(
                "DescribeNetworkInterfaces",
                &[("NetworkInterfaceId.1", eni)],
            )
            .await;
        let page = parse_eni_page(&xml).unwrap();
        page.enis[0]
            .addresses
            .iter()
            .map(|a| (a.ip, a.primary))
            .collect()
    }
}

pub fn cfg(moto: &Moto, access_key_id: &str, secret: &str) -> AwsConfig {
    let mut c = AwsConfig::new(
        Some(REGION.into()),
        CredentialsSource::Static {
            access_key_id: access_key_id.into(),
            secret_access_key: secret.into(),
            session_token: None,
        },
    );
    c.ec2_endpoint = Some(moto.url.clone());
    c.rate_limit_per_sec = 50.0;
    c.burst = 50;
    c.call_timeout = Duration::from_secs(5);
    c.confirm_timeout = Duration::from_secs(5);
    c.max_attempts = 2;
    c.backoff_base = Duration::from_millis(10);
    c
}

pub fn req(ip: IpAddr, subnet: &str, node: &str) -> MoveRequest {
    MoveRequest {
        ip,
        subnet_id: subnet.into(),
        provider_id: node.into(),
    }
}
