//! The AWS front over real HTTPS with SigV4-signed requests: Describe filters and
//! pagination, assign / reassign / unassign with the asynchronous remap, DryRun and IAM,
//! authentication refusals, faults, the call log and the admin endpoint.

mod common;

use std::time::Duration;

use common::aws::*;
use pgvip_cloudsim::aws::inventory::{example_eni, example_instance, EXAMPLE_SUBNET_A};
use pgvip_cloudsim::aws::{Action, AwsFailure, AwsSimHandle};

const VIP: &str = "10.0.10.200";

struct Api {
    sim: AwsSimHandle,
    c: reqwest::Client,
}

impl Api {
    async fn start(remap: Duration) -> Api {
        let sim = start_aws(|cfg| cfg.remap_delay = remap).await;
        let c = https_client(sim.ca_pem());
        Api { sim, c }
    }
    async fn call(&self, creds: &Creds, params: &[(&str, &str)]) -> Answer {
        self.bent(creds, params, Bend::default()).await
    }
    async fn bent(&self, creds: &Creds, params: &[(&str, &str)], bend: Bend) -> Answer {
        ec2(
            &self.c,
            self.sim.ec2_url(),
            creds,
            self.sim.region(),
            params,
            bend,
        )
        .await
    }
    async fn describe(&self, params: &[(&str, &str)]) -> Vec<Eni> {
        let mut all = vec![("Action", "DescribeNetworkInterfaces")];
        all.extend_from_slice(params);
        let a = self.call(&PGVIP, &all).await;
        assert_eq!(a.status, 200, "{}", a.body);
        a.enis()
    }
    async fn holder_of(&self, ip: &str) -> Vec<String> {
        self.describe(&[
            ("Filter.1.Name", "addresses.private-ip-address"),
            ("Filter.1.Value.1", ip),
        ])
        .await
        .into_iter()
        .map(|e| e.id)
        .collect()
    }
    async fn assign(&self, eni: &str, ip: &str, allow: bool) -> Answer {
        let mut p = vec![
            ("Action", "AssignPrivateIpAddresses"),
            ("NetworkInterfaceId", eni),
            ("PrivateIpAddress.1", ip),
        ];
        if allow {
            p.push(("AllowReassignment", "true"));
        }
        self.call(&PGVIP, &p).await
    }
}

#[tokio::test]
async fn describe_filters_fields_and_pagination() {
    let api = Api::start(Duration::from_millis(30)).await;
    let (n1, n2, n3) = (example_eni(1), example_eni(2), example_eni(3));
    let i1 = example_instance(1);
    let by_instance = api
        .describe(&[
            ("Filter.1.Name", "attachment.instance-id"),
            ("Filter.1.Value.1", &i1),
        ])
        .await;
    assert_eq!(by_instance.len(), 1);
    let e = &by_instance[0];
    assert_eq!(
        (
            e.id.as_str(),
            e.subnet_id.as_str(),
            e.availability_zone.as_str(),
            e.mac.as_str(),
            e.private_ip.as_str(),
            e.status.as_str()
        ),
        (
            n1.as_str(),
            EXAMPLE_SUBNET_A,
            "us-east-1a",
            "02:00:17:00:00:01",
            "10.0.10.11",
            "in-use"
        )
    );
    assert_eq!(
        e.attachment
            .as_ref()
            .map(|a| (a.1.as_str(), a.2.as_str(), a.3.as_str())),
        Some((i1.as_str(), "0", "attached"))
    );
    assert_eq!(
        e.addresses,
        [("10.0.10.11".to_string(), true), (VIP.to_string(), false)]
    );
    assert!(!e.vpc_id.is_empty());

    let ids = |v: Vec<Eni>| v.into_iter().map(|e| e.id).collect::<Vec<_>>();
    assert_eq!(
        ids(api
            .describe(&[
                ("Filter.1.Name", "subnet-id"),
                ("Filter.1.Value.1", EXAMPLE_SUBNET_A)
            ])
            .await),
        [n1.clone(), n2.clone()]
    );
    assert_eq!(
        ids(api
            .describe(&[
                ("Filter.1.Name", "network-interface-id"),
                ("Filter.1.Value.1", &n3)
            ])
            .await),
        [n3.as_str()]
    );
    assert_eq!(
        ids(api
            .describe(&[("NetworkInterfaceId.1", &n2), ("NetworkInterfaceId.2", &n3)])
            .await),
        [n2.clone(), n3.clone()]
    );
    assert_eq!(api.holder_of(VIP).await, [n1.as_str()]);
    assert_eq!(api.holder_of("10.0.10.99").await, Vec::<String>::new());

    // Pagination over the three ENIs, 5 per page: one page, no token.
    let a = api
        .call(
            &PGVIP,
            &[("Action", "DescribeNetworkInterfaces"), ("MaxResults", "5")],
        )
        .await;
    assert_eq!(
        (a.status, a.enis().len(), a.text("nextToken")),
        (200, 3, None)
    );
    for (params, code) in [
        (vec![("MaxResults", "4")], "InvalidParameterValue"),
        (vec![("NextToken", "garbage!")], "InvalidPaginationToken"),
        (
            vec![("NetworkInterfaceId.1", "eni-0000000000000dead")],
            "InvalidNetworkInterfaceID.NotFound",
        ),
        (
            vec![("NetworkInterfaceId.1", "nic-1")],
            "InvalidNetworkInterfaceID.Malformed",
        ),
        (
            vec![("Filter.1.Name", "color"), ("Filter.1.Value.1", "red")],
            "InvalidParameterValue",
        ),
    ] {
        let mut p = vec![("Action", "DescribeNetworkInterfaces")];
        p.extend(params);
        let a = api.call(&PGVIP, &p).await;
        assert_eq!(
            a.outcome(),
            (400, Some(code.to_string())),
            "{p:?}: {}",
            a.body
        );
        assert!(a.request_id.is_some() && a.body.contains("<RequestID>"));
    }
    api.sim.shutdown().await;
}

#[tokio::test]
async fn assign_reassign_unassign_with_asynchronous_remap() {
    let api = Api::start(Duration::from_millis(300)).await;
    let (n1, n2, n3) = (example_eni(1), example_eni(2), example_eni(3));
    // Idempotent on the holder.
    let a = api.assign(&n1, VIP, false).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(assigned(&a.body), [VIP]);
    assert_eq!(a.text("networkInterfaceId").as_deref(), Some(n1.as_str()));
    // Held by n1: n2 needs AllowReassignment.
    let a = api.assign(&n2, VIP, false).await;
    assert_eq!(
        a.outcome(),
        (400, Some("InvalidIPAddress.InUse".into())),
        "{}",
        a.body
    );
    // Other subnet, reserved, another primary, limit.
    assert_eq!(
        api.assign(&n3, VIP, true).await.outcome(),
        (400, Some("InvalidParameterValue".into()))
    );
    assert_eq!(
        api.assign(&n1, "10.0.10.2", false).await.outcome(),
        (400, Some("InvalidParameterValue".into()))
    );
    assert_eq!(
        api.assign(&n1, "10.0.10.12", true).await.outcome(),
        (400, Some("InvalidIPAddress.InUse".into()))
    );
    let unknown = api.assign("eni-0000000000000dead", VIP, true).await;
    assert_eq!(
        unknown.outcome(),
        (400, Some("InvalidNetworkInterfaceID.NotFound".into()))
    );

    // The move: accepted at once, visible after the remap delay (Describe and fabric).
    let gen0 = api.sim.fabric_status().generation;
    let a = api.assign(&n2, VIP, true).await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        api.holder_of(VIP).await,
        [n1.as_str()],
        "visible before the remap delay"
    );
    assert_eq!(
        api.sim.owner(VIP.parse().unwrap()).as_deref(),
        Some(n1.as_str())
    );
    assert!(api.sim.wait_fabric_synced(Duration::from_secs(5)).await);
    assert_eq!(api.holder_of(VIP).await, [n2.as_str()]);
    let st = api.sim.fabric_status();
    assert!(st.generation > gen0);
    let vip = st
        .assignments
        .iter()
        .find(|a| a.ip.to_string() == VIP)
        .unwrap();
    assert_eq!(
        (
            vip.vnic_id.as_deref(),
            vip.port.as_deref(),
            vip.mac.as_deref()
        ),
        (Some(n2.as_str()), Some("pb"), Some("02:00:17:00:00:02"))
    );

    // Unassign: only from the holder.
    let un = |eni: String| {
        let api = &api;
        async move {
            api.call(
                &PGVIP,
                &[
                    ("Action", "UnassignPrivateIpAddresses"),
                    ("NetworkInterfaceId", &eni),
                    ("PrivateIpAddress.1", VIP),
                ],
            )
            .await
        }
    };
    assert_eq!(
        un(n1.clone()).await.outcome(),
        (400, Some("InvalidParameterValue".into()))
    );
    let a = un(n2.clone()).await;
    assert_eq!(
        (a.status, a.text("return").as_deref()),
        (200, Some("true")),
        "{}",
        a.body
    );
    assert!(api.holder_of(VIP).await.is_empty());
    assert!(api.sim.wait_fabric_synced(Duration::from_secs(5)).await);
    let vip = api
        .sim
        .fabric_status()
        .assignments
        .into_iter()
        .find(|a| a.ip.to_string() == VIP)
        .unwrap();
    assert_eq!(
        vip.vnic_id, None,
        "an unassigned address is delivered nowhere"
    );
    // SecondaryPrivateIpAddressCount allocates.
    let a = api
        .call(
            &PGVIP,
            &[
                ("Action", "AssignPrivateIpAddresses"),
                ("NetworkInterfaceId", &n2),
                ("SecondaryPrivateIpAddressCount", "1"),
            ],
        )
        .await;
    assert_eq!(
        (a.status, assigned(&a.body)),
        (200, vec!["10.0.10.4".to_string()])
    );
    api.sim.shutdown().await;
}

#[tokio::test]
async fn dry_run_iam_versions_and_actions() {
    let api = Api::start(Duration::from_millis(30)).await;
    let n2 = example_eni(2);
    let assign = [
        ("Action", "AssignPrivateIpAddresses"),
        ("NetworkInterfaceId", n2.as_str()),
        ("PrivateIpAddress.1", VIP),
        ("AllowReassignment", "true"),
        ("DryRun", "true"),
    ];
    // Assign takes no DryRun (AWS's API reference and service model): refused, nothing done.
    let a = api.call(&PGVIP, &assign).await;
    assert_eq!(
        a.outcome(),
        (400, Some("UnknownParameter".into())),
        "{}",
        a.body
    );
    assert_eq!(
        api.holder_of(VIP).await,
        [example_eni(1)],
        "DryRun changed nothing"
    );
    let a = api.call(&READER, &assign[..4]).await;
    assert_eq!(a.outcome(), (403, Some("UnauthorizedOperation".into())));
    let a = api
        .call(
            &READER,
            &[("Action", "DescribeNetworkInterfaces"), ("DryRun", "true")],
        )
        .await;
    assert_eq!(a.outcome(), (412, Some("DryRunOperation".into())));
    // A runtime override of the reader's actions.
    api.sim.faults().set_actions("reader", &[]);
    assert_eq!(
        api.call(
            &READER,
            &[("Action", "DescribeNetworkInterfaces"), ("DryRun", "true")]
        )
        .await
        .outcome(),
        (403, Some("UnauthorizedOperation".into()))
    );
    api.sim.faults().set_actions("pgvip", &[]);
    assert_eq!(
        api.call(&PGVIP, &[("Action", "DescribeNetworkInterfaces")])
            .await
            .outcome(),
        (403, Some("UnauthorizedOperation".into()))
    );
    api.sim
        .faults()
        .apply(pgvip_cloudsim::aws::AwsFaultCommand::Clear);
    // Actions and versions.
    for (params, code) in [
        (vec![("Action", "TerminateInstances")], "InvalidAction"),
        (
            vec![
                ("Action", "AssignPrivateIpAddresses"),
                ("PrivateIpAddress.1", VIP),
            ],
            "MissingParameter",
        ),
        (
            vec![("Action", "DescribeNetworkInterfaces"), ("DryRun", "maybe")],
            "InvalidParameterValue",
        ),
    ] {
        assert_eq!(
            api.call(&PGVIP, &params).await.outcome(),
            (400, Some(code.to_string())),
            "{params:?}"
        );
    }
    let body = form(&[
        ("Action", "DescribeNetworkInterfaces"),
        ("Version", "2014-01-01"),
    ]);
    let mut req = api.c.post(format!("{}/", api.sim.ec2_url()));
    for (k, v) in sign(
        api.sim.ec2_url(),
        &body,
        &PGVIP,
        "us-east-1",
        Bend::default(),
    ) {
        req = req.header(k, v);
    }
    let r = req.body(body).send().await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r
        .text()
        .await
        .unwrap()
        .contains("<Code>NoSuchVersion</Code>"));
    api.sim.shutdown().await;
}

#[tokio::test]
async fn authentication_refusals() {
    let api = Api::start(Duration::from_millis(30)).await;
    let d = [("Action", "DescribeNetworkInterfaces")];
    let cases: Vec<(&str, Creds, Bend, u16, &str)> = vec![
        (
            "unsigned",
            PGVIP,
            Bend {
                unsigned: true,
                ..Default::default()
            },
            403,
            "MissingAuthenticationToken",
        ),
        (
            "wrong secret",
            PGVIP,
            Bend {
                wrong_secret: true,
                ..Default::default()
            },
            403,
            "SignatureDoesNotMatch",
        ),
        (
            "other region",
            PGVIP,
            Bend {
                region: Some("eu-west-1"),
                ..Default::default()
            },
            403,
            "SignatureDoesNotMatch",
        ),
        (
            "unknown key",
            Creds {
                access_key_id: "AKIANOBODY0000000000",
                ..PGVIP
            },
            Bend::default(),
            401,
            "AuthFailure",
        ),
        (
            "10 minutes late",
            PGVIP,
            Bend {
                date_offset_secs: -600,
                ..Default::default()
            },
            400,
            "RequestExpired",
        ),
        (
            "10 minutes early",
            PGVIP,
            Bend {
                date_offset_secs: 600,
                ..Default::default()
            },
            400,
            "RequestExpired",
        ),
        (
            "token missing",
            NODE_ROLE,
            Bend {
                no_token: true,
                ..Default::default()
            },
            403,
            "InvalidClientTokenId",
        ),
        (
            "wrong token",
            Creds {
                token: Some("forged"),
                ..NODE_ROLE
            },
            Bend::default(),
            403,
            "InvalidClientTokenId",
        ),
    ];
    for (name, creds, bend, status, code) in cases {
        let a = api.bent(&creds, &d, bend).await;
        assert_eq!(
            a.outcome(),
            (status, Some(code.to_string())),
            "{name}: {}",
            a.body
        );
    }
    assert_eq!(
        api.call(&NODE_ROLE, &d).await.status,
        200,
        "temporary credentials with their token"
    );
    api.sim
        .faults()
        .apply(pgvip_cloudsim::aws::AwsFaultCommand::AuthOutage { enabled: true });
    assert_eq!(
        api.call(&PGVIP, &d).await.outcome(),
        (401, Some("AuthFailure".into()))
    );
    api.sim.shutdown().await;
}

#[tokio::test]
async fn faults_call_log_and_admin() {
    let api = Api::start(Duration::from_millis(30)).await;
    let d = [("Action", "DescribeNetworkInterfaces")];
    let f = api.sim.faults();
    f.fail_next(
        Some(Action::DescribeNetworkInterfaces),
        1,
        AwsFailure::RequestLimitExceeded,
    );
    f.fail_next(None, 1, AwsFailure::Throttling);
    f.fail_next(None, 1, AwsFailure::Status { status: 500 });
    for want in [
        (503, "RequestLimitExceeded"),
        (400, "Throttling"),
        (500, "InternalError"),
    ] {
        assert_eq!(
            api.call(&PGVIP, &d).await.outcome(),
            (want.0, Some(want.1.to_string()))
        );
    }
    assert_eq!(api.call(&PGVIP, &d).await.status, 200);
    // Latency per action.
    f.set_latency(
        Some(Action::DescribeNetworkInterfaces),
        Duration::from_millis(300),
    );
    let t = std::time::Instant::now();
    assert_eq!(api.call(&PGVIP, &d).await.status, 200);
    assert!(t.elapsed() >= Duration::from_millis(300));
    f.set_latency(Some(Action::DescribeNetworkInterfaces), Duration::ZERO);
    // The account's rate limit.
    f.apply(
        serde_json::from_str(r#"{"kind":"rateLimit","rateLimit":{"perSecond":0.01,"burst":1}}"#)
            .unwrap(),
    );
    assert_eq!(api.call(&PGVIP, &d).await.status, 200);
    assert_eq!(
        api.call(&PGVIP, &d).await.outcome(),
        (503, Some("RequestLimitExceeded".into()))
    );
    f.apply(serde_json::from_str(r#"{"kind":"rateLimit"}"#).unwrap());

    // The call log.
    let log = api.sim.call_log().records();
    let injected: Vec<_> = log
        .iter()
        .filter(|r| r.injected)
        .map(|r| r.code.clone().unwrap())
        .collect();
    assert_eq!(
        injected,
        [
            "RequestLimitExceeded",
            "Throttling",
            "InternalError",
            "RequestLimitExceeded"
        ]
    );
    assert!(log
        .iter()
        .all(|r| r.action == Action::DescribeNetworkInterfaces));
    assert!(log
        .iter()
        .filter(|r| !r.injected)
        .all(|r| r.principal.as_deref() == Some("pgvip")));

    // The admin endpoint: faults, calls, state, fabric.
    let admin = reqwest::Client::new();
    let base = api.sim.admin_url().to_string();
    let r = admin
        .post(format!("{base}/faults"))
        .body(r#"{"kind":"fail","action":"AssignPrivateIpAddresses","count":1,"failure":{"type":"error","status":400,"code":"Throttling"}}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(
        api.assign(&example_eni(1), VIP, false).await.outcome(),
        (400, Some("Throttling".into()))
    );
    let calls: serde_json::Value = admin
        .get(format!("{base}/calls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let last = calls.as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (
            last["action"].as_str(),
            last["code"].as_str(),
            last["params"]["PrivateIpAddress.1"].as_str()
        ),
        (
            Some("AssignPrivateIpAddresses"),
            Some("Throttling"),
            Some(VIP)
        )
    );
    let state: serde_json::Value = admin
        .get(format!("{base}/state"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(state[0]["secondaryPrivateIpAddresses"][0], VIP);
    let fabric: serde_json::Value = admin
        .get(format!("{base}/fabric"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(fabric["assignments"][0]["port"], "pa");
    assert_eq!(
        admin
            .delete(format!("{base}/calls"))
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert!(api.sim.call_log().records().is_empty());
    assert_eq!(
        admin
            .post(format!("{base}/faults"))
            .body("{")
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    api.sim.shutdown().await;
}

#[tokio::test]
async fn imdsv2_tokens_metadata_and_role_credentials() {
    let api = Api::start(Duration::from_millis(300)).await;
    let i1 = example_instance(1);
    let base = api.sim.imds_url(&i1).unwrap().to_string();
    let http = reqwest::Client::new();
    let get = |path: &str, token: Option<&str>| {
        let mut r = http.get(format!("{base}{path}"));
        if let Some(t) = token {
            r = r.header("x-aws-ec2-metadata-token", t);
        }
        async move {
            let r = r.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(
        get("/latest/meta-data/instance-id", None).await.0,
        401,
        "IMDSv2: token required"
    );
    let put = |ttl: Option<&str>, fwd: bool| {
        let mut r = http.put(format!("{base}/latest/api/token"));
        if let Some(t) = ttl {
            r = r.header("x-aws-ec2-metadata-token-ttl-seconds", t);
        }
        if fwd {
            r = r.header("x-forwarded-for", "10.0.0.1");
        }
        async move {
            let r = r.send().await.unwrap();
            (r.status().as_u16(), r.text().await.unwrap())
        }
    };
    assert_eq!(put(None, false).await.0, 400);
    assert_eq!(put(Some("21601"), false).await.0, 400);
    assert_eq!(put(Some("60"), true).await.0, 403);
    let (st, token) = put(Some("60"), false).await;
    assert_eq!(st, 200);
    let t = Some(token.as_str());
    assert_eq!(
        get("/latest/meta-data/instance-id", t).await,
        (200, i1.clone())
    );
    assert_eq!(
        get("/latest/meta-data/placement/region", t).await,
        (200, "us-east-1".into())
    );
    assert_eq!(
        get("/latest/meta-data/placement/availability-zone", t).await,
        (200, "us-east-1a".into())
    );
    assert_eq!(
        get("/latest/meta-data/mac", t).await,
        (200, "02:00:17:00:00:01".into())
    );
    let mac_base = "/latest/meta-data/network/interfaces/macs/02:00:17:00:00:01";
    assert_eq!(
        get(&format!("{mac_base}/interface-id"), t).await,
        (200, example_eni(1))
    );
    assert_eq!(
        get(&format!("{mac_base}/local-ipv4s"), t).await,
        (200, format!("10.0.10.11\n{VIP}"))
    );
    assert_eq!(
        get("/latest/meta-data/iam/security-credentials/", t).await,
        (200, "node-role".into())
    );
    assert_eq!(
        get("/latest/meta-data/iam/security-credentials/other", t)
            .await
            .0,
        404
    );
    let (st, creds) = get("/latest/meta-data/iam/security-credentials/node-role", t).await;
    assert_eq!(st, 200);
    let creds: serde_json::Value = serde_json::from_str(&creds).unwrap();
    assert_eq!(
        (creds["Code"].as_str(), creds["Type"].as_str()),
        (Some("Success"), Some("AWS-HMAC"))
    );
    assert_eq!(creds["AccessKeyId"], NODE_ROLE.access_key_id);
    assert!(creds["Expiration"].as_str().unwrap().ends_with('Z'));
    let (st, doc) = get("/latest/dynamic/instance-identity/document", t).await;
    assert_eq!(st, 200);
    assert!(doc.contains("\"region\":\"us-east-1\""));
    // Another instance's token is refused.
    let other = api.sim.imds_url(&example_instance(2)).unwrap().to_string();
    let r = http
        .get(format!("{other}/latest/meta-data/instance-id"))
        .header("x-aws-ec2-metadata-token", &token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    // The node role's credentials move the VIP away; local-ipv4s shows it gone only once
    // the remap completes (what AWS says to check).
    let a = api
        .call(
            &NODE_ROLE,
            &[
                ("Action", "AssignPrivateIpAddresses"),
                ("NetworkInterfaceId", &example_eni(2)),
                ("PrivateIpAddress.1", VIP),
                ("AllowReassignment", "true"),
            ],
        )
        .await;
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(
        get(&format!("{mac_base}/local-ipv4s"), t).await.1,
        format!("10.0.10.11\n{VIP}")
    );
    assert!(api.sim.wait_fabric_synced(Duration::from_secs(5)).await);
    assert_eq!(
        get(&format!("{mac_base}/local-ipv4s"), t).await.1,
        "10.0.10.11"
    );
    api.sim.shutdown().await;
}
