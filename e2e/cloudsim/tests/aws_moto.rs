//! Differential test of the AWS front against moto (an independent EC2 implementation,
//! `moto[server]` from PyPI, venv built by `e2e/testbed/venv.sh moto`).
//!
//! The world is created in moto (VPC, two subnets, three instances with their primary
//! ENIs); the simulator's inventory is built from moto's answers so that ids, MACs and
//! addresses are the same on both sides. Then the calls pgvip makes run against both, and
//! status codes, error codes and the fields pgvip reads are compared. Where moto departs
//! from AWS's documentation the simulator follows the documentation: the step says what
//! each side answers, moto is realigned where its state diverged, and the differences are
//! the table in `src/aws/mod.rs`. moto is killed at the end, also when the test fails.
//!
//! Skipped (with a message) when the moto venv can neither be found nor built.

mod common;

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::aws::*;
use pgvip_cloudsim::aws::inventory::{AwsInstance, EniAttachment};
use pgvip_cloudsim::aws::{
    AwsInventory, AwsSim, AwsSimConfig, AwsSimHandle, IamPrincipal, NetworkInterface,
};

const VIP: &str = "10.0.10.200";

/// moto_server, killed on drop.
struct Moto {
    child: Child,
    url: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn moto_server() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("PGVIP_MOTO_SERVER") {
        return Some(PathBuf::from(p));
    }
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../testbed/venv.sh");
    let out = Command::new("bash")
        .arg(&script)
        .arg("moto")
        .stderr(Stdio::inherit())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    let venv = String::from_utf8_lossy(&out.stdout)
        .trim()
        .lines()
        .last()?
        .to_string();
    let bin = PathBuf::from(venv).join("bin/moto_server");
    bin.exists().then_some(bin)
}

fn start_moto() -> Option<Moto> {
    let bin = moto_server()?;
    let port = TcpListener::bind("127.0.0.1:0")
        .ok()?
        .local_addr()
        .ok()?
        .port();
    let child = Command::new(bin)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()?;
    let moto = Moto {
        child,
        url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Some(moto)
}

struct Both {
    moto: Moto,
    sim: AwsSimHandle,
    mc: reqwest::Client,
    sc: reqwest::Client,
    /// (step, simulator, moto, agreed)
    rows: Vec<(String, String, String, bool)>,
}

fn show(a: &Answer) -> String {
    match a.code() {
        Some(c) if a.status >= 400 => format!("{} {c}", a.status),
        _ => a.status.to_string(),
    }
}

impl Both {
    async fn moto(&self, params: &[(&str, &str)]) -> Answer {
        ec2(
            &self.mc,
            &self.moto.url,
            &PGVIP,
            "us-east-1",
            params,
            Bend::default(),
        )
        .await
    }
    async fn sim(&self, params: &[(&str, &str)]) -> Answer {
        ec2(
            &self.sc,
            self.sim.ec2_url(),
            &PGVIP,
            "us-east-1",
            params,
            Bend::default(),
        )
        .await
    }
    /// Runs on both; records the outcomes.
    async fn run(&mut self, step: &str, params: &[(&str, &str)]) -> (Answer, Answer) {
        let s = self.sim(params).await;
        let m = self.moto(params).await;
        let agreed = s.outcome() == m.outcome();
        self.rows.push((step.into(), show(&s), show(&m), agreed));
        (s, m)
    }
    /// Runs on both and requires the same status and code.
    async fn agreed(&mut self, step: &str, params: &[(&str, &str)]) -> (Answer, Answer) {
        let (s, m) = self.run(step, params).await;
        assert_eq!(
            s.outcome(),
            m.outcome(),
            "{step}: sim {} / moto {}",
            s.body,
            m.body
        );
        (s, m)
    }
    /// Describe on both; the ENIs (fields pgvip reads) must be equal.
    async fn same_enis(&mut self, step: &str, params: &[(&str, &str)]) -> Vec<Eni> {
        let mut p = vec![("Action", "DescribeNetworkInterfaces")];
        p.extend_from_slice(params);
        let (s, m) = self.agreed(step, &p).await;
        assert_eq!(s.status, 200, "{step}: {}", s.body);
        let (mut se, mut me) = (s.enis(), m.enis());
        se.sort();
        me.sort();
        assert_eq!(se, me, "{step}");
        se
    }
    async fn holders(&self, sim: bool, ip: &str) -> Vec<String> {
        let p = [
            ("Action", "DescribeNetworkInterfaces"),
            ("Filter.1.Name", "addresses.private-ip-address"),
            ("Filter.1.Value.1", ip),
        ];
        let a = if sim {
            self.sim(&p).await
        } else {
            self.moto(&p).await
        };
        a.enis().into_iter().map(|e| e.id).collect()
    }
}

fn assign<'a>(eni: &'a str, ip: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("Action", "AssignPrivateIpAddresses"),
        ("NetworkInterfaceId", eni),
        ("PrivateIpAddress.1", ip),
    ]
}

fn unassign<'a>(eni: &'a str, ip: &'a str) -> Vec<(&'a str, &'a str)> {
    vec![
        ("Action", "UnassignPrivateIpAddresses"),
        ("NetworkInterfaceId", eni),
        ("PrivateIpAddress.1", ip),
    ]
}

/// Creates the world in moto; returns the simulator inventory describing the same one.
async fn build_world(c: &reqwest::Client, url: &str) -> AwsInventory {
    let call = |p: Vec<(&'static str, &str)>| {
        let p: Vec<(String, String)> = p
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        async move {
            let p: Vec<(&str, &str)> = p.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
            let a = ec2(c, url, &PGVIP, "us-east-1", &p, Bend::default()).await;
            assert_eq!(a.status, 200, "moto setup {p:?}: {}", a.body);
            a
        }
    };
    let vpc = call(vec![("Action", "CreateVpc"), ("CidrBlock", "10.0.0.0/16")])
        .await
        .text("vpcId")
        .unwrap();
    let mut inv = AwsInventory::new("123456789012", "us-east-1");
    let mut subnets = vec![];
    for (cidr, az) in [
        ("10.0.10.0/24", "us-east-1a"),
        ("10.0.20.0/24", "us-east-1b"),
    ] {
        let id = call(vec![
            ("Action", "CreateSubnet"),
            ("VpcId", &vpc),
            ("CidrBlock", cidr),
            ("AvailabilityZone", az),
        ])
        .await
        .text("subnetId")
        .unwrap();
        inv = inv.subnet(&id, &vpc, cidr, az);
        subnets.push((id, az));
    }
    let ami = call(vec![("Action", "DescribeImages")])
        .await
        .text("imageId")
        .unwrap();
    for (n, subnet, ip) in [
        (0, 0, "10.0.10.11"),
        (1, 0, "10.0.10.12"),
        (2, 1, "10.0.20.13"),
    ] {
        let (sid, az) = &subnets[subnet];
        let inst = call(vec![
            ("Action", "RunInstances"),
            ("ImageId", &ami),
            ("MinCount", "1"),
            ("MaxCount", "1"),
            ("SubnetId", sid),
            ("PrivateIpAddress", ip),
        ])
        .await
        .text("instanceId")
        .unwrap();
        let d = call(vec![
            ("Action", "DescribeNetworkInterfaces"),
            ("Filter.1.Name", "attachment.instance-id"),
            ("Filter.1.Value.1", &inst),
        ])
        .await;
        let e = d.enis().pop().expect("moto made a primary ENI");
        let (att_id, _, idx, status) = e.attachment.clone().unwrap();
        inv.instances.push(AwsInstance {
            id: inst.clone(),
            name: format!("n{}", n + 1),
            availability_zone: az.to_string(),
            iam_role: None,
            imds_port: None,
        });
        inv = inv.eni(NetworkInterface {
            attachment: Some(EniAttachment {
                instance_id: inst,
                device_index: idx.parse().unwrap(),
                attachment_id: Some(att_id),
                status,
            }),
            ..NetworkInterface::attached(&e.id, sid, &e.mac, &e.private_ip, "", 0)
        });
    }
    inv.principal(IamPrincipal::user(
        "pgvip",
        PGVIP.access_key_id,
        PGVIP.secret,
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulator_agrees_with_moto_where_moto_follows_aws() {
    let Some(moto) = start_moto() else {
        eprintln!("skipped: moto_server unavailable (bash e2e/testbed/venv.sh moto failed)");
        return;
    };
    let mc = reqwest::Client::new();
    let inv = build_world(&mc, &moto.url).await;
    let (i1, sa) = (inv.instances[0].id.clone(), inv.subnets[0].id.clone());
    let e: Vec<String> = inv
        .network_interfaces
        .iter()
        .map(|e| e.id.clone())
        .collect();
    let (e1, e2) = (e[0].as_str(), e[1].as_str());
    let mut cfg = AwsSimConfig::new(inv);
    cfg.remap_delay = Duration::ZERO;
    let sim = AwsSim::start(cfg).await.unwrap();
    let sc = https_client(sim.ca_pem());
    let mut t = Both {
        moto,
        sim,
        mc,
        sc,
        rows: vec![],
    };

    // Describe with each filter pgvip uses.
    let by_instance = t
        .same_enis(
            "describe attachment.instance-id",
            &[
                ("Filter.1.Name", "attachment.instance-id"),
                ("Filter.1.Value.1", &i1),
            ],
        )
        .await;
    assert_eq!(by_instance.len(), 1);
    assert_eq!(
        t.same_enis(
            "describe subnet-id",
            &[("Filter.1.Name", "subnet-id"), ("Filter.1.Value.1", &sa)]
        )
        .await
        .len(),
        2
    );
    t.same_enis(
        "describe network-interface-id",
        &[
            ("Filter.1.Name", "network-interface-id"),
            ("Filter.1.Value.1", e2),
        ],
    )
    .await;
    t.same_enis(
        "describe NetworkInterfaceId.1",
        &[("NetworkInterfaceId.1", e1)],
    )
    .await;
    let (s, m) = t
        .agreed(
            "describe MaxResults=5",
            &[
                ("Action", "DescribeNetworkInterfaces"),
                ("MaxResults", "5"),
                ("Filter.1.Name", "subnet-id"),
                ("Filter.1.Value.1", &sa),
            ],
        )
        .await;
    assert_eq!((s.text("nextToken"), m.text("nextToken")), (None, None));
    let primary2 = t
        .same_enis(
            "describe addresses.private-ip-address (primary)",
            &[
                ("Filter.1.Name", "addresses.private-ip-address"),
                ("Filter.1.Value.1", "10.0.10.12"),
            ],
        )
        .await;
    assert_eq!(primary2[0].id, e2);

    // Assign, and again (idempotent).
    let (s, m) = t.agreed("assign VIP to e1", &assign(e1, VIP)).await;
    assert_eq!(s.status, 200, "{}", s.body);
    assert_eq!(s.text("networkInterfaceId"), m.text("networkInterfaceId"));
    assert_eq!(assigned(&s.body), [VIP], "AWS: the addresses of this call");
    assert_eq!(
        assigned(&m.body),
        ["10.0.10.11", VIP],
        "moto: every address of the ENI"
    );
    let after = t
        .same_enis("describe e1 after assign", &[("NetworkInterfaceId.1", e1)])
        .await;
    assert_eq!(
        after[0].addresses,
        [("10.0.10.11".to_string(), true), (VIP.to_string(), false)]
    );
    t.agreed("assign VIP to e1 again", &assign(e1, VIP)).await;
    t.same_enis(
        "describe e1 after the repeat",
        &[("NetworkInterfaceId.1", e1)],
    )
    .await;
    assert_eq!(t.holders(true, VIP).await, [e1]);
    assert!(
        t.holders(false, VIP).await.is_empty(),
        "moto matches addresses.private-ip-address on the primary only"
    );
    t.rows.push((
        "describe addresses.private-ip-address (secondary)".into(),
        "200 [e1]".into(),
        "200 []".into(),
        false,
    ));

    // Reassign without AllowReassignment.
    let (s, m) = t
        .run("assign VIP to e2, no AllowReassignment", &assign(e2, VIP))
        .await;
    assert_eq!(s.outcome(), (400, Some("InvalidIPAddress.InUse".into())));
    assert_eq!(m.status, 200);
    assert_eq!(t.moto(&unassign(e2, VIP)).await.status, 200, "realign moto");

    // Reassign with AllowReassignment.
    let mut p = assign(e2, VIP);
    p.push(("AllowReassignment", "true"));
    t.agreed("assign VIP to e2, AllowReassignment=true", &p)
        .await;
    assert!(t.sim.wait_fabric_synced(Duration::from_secs(5)).await);
    assert_eq!(t.holders(true, VIP).await, [e2]);
    let moto_e1 = t
        .moto(&[
            ("Action", "DescribeNetworkInterfaces"),
            ("NetworkInterfaceId.1", e1),
        ])
        .await
        .enis();
    assert_eq!(
        moto_e1[0].addresses.len(),
        2,
        "moto keeps the address on e1 too"
    );
    t.rows.push((
        "e1 after the reassignment".into(),
        "primary only".into(),
        "still holds the VIP".into(),
        false,
    ));
    assert_eq!(t.moto(&unassign(e1, VIP)).await.status, 200, "realign moto");
    t.same_enis(
        "describe e1 and e2 after the move",
        &[("NetworkInterfaceId.1", e1), ("NetworkInterfaceId.2", e2)],
    )
    .await;

    // DryRun.
    let (s, _) = t
        .agreed(
            "describe DryRun=true",
            &[("Action", "DescribeNetworkInterfaces"), ("DryRun", "true")],
        )
        .await;
    assert_eq!(s.outcome(), (412, Some("DryRunOperation".into())));
    let mut p = assign(e1, "10.0.10.60");
    p.push(("DryRun", "true"));
    let (s, m) = t.run("assign DryRun=true", &p).await;
    assert_eq!(
        (s.outcome(), m.status),
        ((400, Some("UnknownParameter".into())), 200)
    );
    assert_eq!(
        t.moto(&unassign(e1, "10.0.10.60")).await.status,
        200,
        "realign moto"
    );

    // An address outside the ENI's subnet.
    let (s, m) = t
        .run("assign outside the subnet", &assign(e1, "10.0.20.50"))
        .await;
    assert_eq!(
        (s.outcome(), m.status),
        ((400, Some("InvalidParameterValue".into())), 200)
    );
    assert_eq!(
        t.moto(&unassign(e1, "10.0.20.50")).await.status,
        200,
        "realign moto"
    );

    // Unknown ENI.
    let ghost = "eni-0123456789abcdef0";
    let (s, _) = t
        .agreed(
            "describe unknown ENI",
            &[
                ("Action", "DescribeNetworkInterfaces"),
                ("NetworkInterfaceId.1", ghost),
            ],
        )
        .await;
    assert_eq!(
        s.outcome(),
        (400, Some("InvalidNetworkInterfaceID.NotFound".into()))
    );
    let (s, _) = t
        .agreed("assign to unknown ENI", &assign(ghost, "10.0.10.61"))
        .await;
    assert_eq!(
        s.outcome(),
        (400, Some("InvalidNetworkInterfaceID.NotFound".into()))
    );

    // Unassign.
    let (s, m) = t
        .run(
            "unassign an address the ENI does not hold",
            &unassign(e1, "10.0.10.99"),
        )
        .await;
    assert_eq!(
        (s.outcome(), m.status),
        ((400, Some("InvalidParameterValue".into())), 200)
    );
    t.agreed("unassign VIP from e2", &unassign(e2, VIP)).await;
    let e2_after = t
        .same_enis(
            "describe e2 after unassign",
            &[("NetworkInterfaceId.1", e2)],
        )
        .await;
    assert_eq!(e2_after[0].addresses.len(), 1);

    // Unknown action.
    let (s, m) = t
        .run("unknown Action", &[("Action", "FrobnicateInterfaces")])
        .await;
    assert_eq!(
        (s.outcome(), m.status),
        ((400, Some("InvalidAction".into())), 500)
    );

    eprintln!("| step | simulator | moto | agreed |\n|---|---|---|---|");
    for (step, s, m, ok) in &t.rows {
        eprintln!(
            "| {step} | {s} | {m} | {} |",
            if *ok { "yes" } else { "no" }
        );
    }
    let Both { sim, moto, .. } = t;
    sim.shutdown().await;
    drop(moto);
}
