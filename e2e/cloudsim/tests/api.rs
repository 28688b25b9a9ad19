//! Core Services API semantics over real HTTPS with signed requests.

mod common;

use std::time::{Duration, Instant};

use common::*;
use pgvip_cloudsim::inventory::Permissions;
use pgvip_cloudsim::{Failure, Operation};
use reqwest::Method;

#[tokio::test]
async fn reads_filters_pagination_and_request_ids() {
    let (sim, _dir) = start_with(|_| {}).await;
    let c = client(&sim);
    let s = api_signer(&inventory(), USER);
    let base = format!("{}/20160918", sim.core_url());

    let (st, rid, etag, inst) = parts(get(&c, &s, &format!("{base}/instances/{I1}")).await).await;
    assert_eq!(st, 200);
    assert!(!rid.is_empty() && etag.is_some());
    assert_eq!(inst["compartmentId"], "ocid1.compartment.oc1..ocisim");
    assert_eq!(inst["displayName"], "n1");

    let (st, _, _, body) =
        parts(get(&c, &s, &format!("{base}/vnicAttachments?instanceId={I1}")).await).await;
    assert_eq!((st, body["code"].as_str()), (400, Some("MissingParameter")));
    let url = format!(
        "{base}/vnicAttachments?compartmentId=ocid1.compartment.oc1..ocisim&instanceId={I1}"
    );
    let (st, _, _, atts) = parts(get(&c, &s, &url).await).await;
    assert_eq!(st, 200);
    assert_eq!(atts[0]["vnicId"], N1);
    assert_eq!(atts[0]["lifecycleState"], "ATTACHED");
    assert_eq!(atts[0]["nicIndex"], 0);

    let (st, _, _, vnic) = parts(get(&c, &s, &format!("{base}/vnics/{N1}")).await).await;
    assert_eq!(st, 200);
    assert_eq!(
        (vnic["privateIp"].as_str(), vnic["isPrimary"].as_bool()),
        (Some("10.0.10.11"), Some(true))
    );
    assert_eq!(vnic["subnetId"], SUBNET_A);

    // Exact lookup by address + subnet.
    let (st, _, _, ips) = parts(
        get(
            &c,
            &s,
            &format!("{base}/privateIps?ipAddress=10.0.10.200&subnetId={SUBNET_A}"),
        )
        .await,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(ips.as_array().unwrap().len(), 1);
    let ip = &ips[0];
    for field in [
        "availabilityDomain",
        "compartmentId",
        "definedTags",
        "displayName",
        "freeformTags",
        "hostnameLabel",
        "id",
        "ipAddress",
        "isPrimary",
        "subnetId",
        "timeCreated",
        "vnicId",
        "lifecycleState",
    ] {
        assert!(ip.get(field).is_some(), "PrivateIp lacks {field}: {ip}");
    }
    assert_eq!(
        (
            ip["id"].as_str(),
            ip["vnicId"].as_str(),
            ip["isPrimary"].as_bool()
        ),
        (Some(VIP_ID), Some(N1), Some(false))
    );

    // Pagination: limit 1 over the subnet's three addresses.
    let mut seen = vec![];
    let mut page: Option<String> = None;
    loop {
        let mut url = format!("{base}/privateIps?subnetId={SUBNET_A}&limit=1");
        if let Some(p) = &page {
            url.push_str(&format!("&page={p}"));
        }
        let r = get(&c, &s, &url).await;
        page = r
            .headers()
            .get("opc-next-page")
            .map(|v| v.to_str().unwrap().to_string());
        let (st, _, _, body) = parts(r).await;
        assert_eq!(st, 200);
        assert_eq!(body.as_array().unwrap().len(), 1);
        seen.push(body[0]["ipAddress"].as_str().unwrap().to_string());
        if page.is_none() {
            break;
        }
    }
    assert_eq!(seen, ["10.0.10.11", "10.0.10.12", "10.0.10.200"]);
    let (st, _, _, body) =
        parts(get(&c, &s, &format!("{base}/privateIps?vnicId={N2}")).await).await;
    assert_eq!((st, body.as_array().unwrap().len()), (200, 1));
    let (st, _, _, body) =
        parts(get(&c, &s, &format!("{base}/privateIps?ipAddress=10.0.10.200")).await).await;
    assert_eq!((st, body["code"].as_str()), (400, Some("MissingParameter")));
    let (st, _, _, _) = parts(
        get(
            &c,
            &s,
            &format!("{base}/privateIps?subnetId={SUBNET_A}&page=bogus"),
        )
        .await,
    )
    .await;
    assert_eq!(st, 400);

    // Every answer carries opc-request-id, errors included, and the call log has them.
    let (st, rid, _, body) = parts(
        c.get(format!("{base}/instances/{I1}"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((st, body["code"].as_str()), (401, Some("NotAuthenticated")));
    assert!(!rid.is_empty());
    let (st, rid, _, body) = parts(get(&c, &s, &format!("{base}/nothing")).await).await;
    assert_eq!(st, 404);
    assert!(!rid.is_empty() && body["code"].is_string() && body["message"].is_string());
    let r = get(&c, &s, &format!("{base}/instances/{I1}")).await;
    let echoed = send(
        &c,
        &s,
        Method::GET,
        &format!("{base}/instances/{I1}"),
        None,
        &[("opc-request-id", "client-abc")],
        Bend::default(),
    )
    .await;
    assert!(echoed.headers()["opc-request-id"]
        .to_str()
        .unwrap()
        .starts_with("client-abc/"));
    let rid = r.headers()["opc-request-id"].to_str().unwrap().to_string();
    let log = sim.call_log().records();
    let rec = log.iter().find(|r| r.opc_request_id == rid).unwrap();
    assert_eq!(
        (rec.operation, rec.status, rec.principal.as_deref()),
        (Operation::GetInstance, 200, Some(USER))
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn move_with_etag_same_subnet_and_primary_rules() {
    let (sim, _dir) = start_with(|_| {}).await;
    let c = client(&sim);
    let s = api_signer(&inventory(), USER);
    let url = format!("{}/20160918/privateIps/{VIP_ID}", sim.core_url());
    let (st, _, etag, _) = parts(get(&c, &s, &url).await).await;
    assert_eq!(st, 200);
    let etag = etag.unwrap();
    let put = |body: String, extra: Vec<(&'static str, String)>| {
        let (c, s, url) = (c.clone(), s.clone(), url.clone());
        async move {
            let extra: Vec<(&str, &str)> = extra.iter().map(|(k, v)| (*k, v.as_str())).collect();
            parts(
                send(
                    &c,
                    &s,
                    Method::PUT,
                    &url,
                    Some(&body),
                    &extra,
                    Bend::default(),
                )
                .await,
            )
            .await
        }
    };
    let (st, _, _, body) = put(
        format!("{{\"vnicId\":\"{N2}\"}}"),
        vec![("if-match", "stale".into())],
    )
    .await;
    assert_eq!((st, body["code"].as_str()), (412, Some("NoEtagMatch")));
    assert_eq!(
        sim.assignment("10.0.10.200".parse().unwrap()).as_deref(),
        Some(N1)
    );
    let (st, _, _, body) = put(format!("{{\"vnicId\":\"{N3}\"}}"), vec![]).await;
    assert_eq!((st, body["code"].as_str()), (400, Some("InvalidParameter")));
    assert!(body["message"].as_str().unwrap().contains("same subnet"));
    let (st, _, new_etag, body) = put(
        format!("{{\"vnicId\":\"{N2}\"}}"),
        vec![("if-match", etag.clone())],
    )
    .await;
    assert_eq!((st, body["vnicId"].as_str()), (200, Some(N2)));
    assert_ne!(new_etag.unwrap(), etag);
    assert_eq!(
        sim.assignment("10.0.10.200".parse().unwrap()).as_deref(),
        Some(N2)
    );

    // The primary private IP can be neither moved nor deleted.
    let list = format!("{}/20160918/privateIps?vnicId={N1}", sim.core_url());
    let (_, _, _, ips) = parts(get(&c, &s, &list).await).await;
    let primary = ips
        .as_array()
        .unwrap()
        .iter()
        .find(|i| i["isPrimary"] == true)
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let purl = format!("{}/20160918/privateIps/{primary}", sim.core_url());
    let (st, _, _, _) = parts(
        send(
            &c,
            &s,
            Method::PUT,
            &purl,
            Some(&format!("{{\"vnicId\":\"{N2}\"}}")),
            &[],
            Bend::default(),
        )
        .await,
    )
    .await;
    assert_eq!(st, 400);
    let (st, _, _, body) =
        parts(send(&c, &s, Method::DELETE, &purl, None, &[], Bend::default()).await).await;
    assert_eq!((st, body["code"].as_str()), (409, Some("Conflict")));

    // Delete the VIP: 204, then 404.
    let (st, _, _, _) =
        parts(send(&c, &s, Method::DELETE, &url, None, &[], Bend::default()).await).await;
    assert_eq!(st, 204);
    let (st, _, _, body) = parts(get(&c, &s, &url).await).await;
    assert_eq!(
        (st, body["code"].as_str()),
        (404, Some("NotAuthorizedOrNotFound"))
    );
    assert!(sim.wait_fabric_synced(Duration::from_secs(5)).await);
    sim.shutdown().await;
}

#[tokio::test]
async fn create_with_retry_token_and_ipv6() {
    let (sim, _dir) = start_with(|_| {}).await;
    let c = client(&sim);
    let s = api_signer(&inventory(), USER);
    let url = format!("{}/20160918/privateIps", sim.core_url());
    let body =
        format!("{{\"vnicId\":\"{N2}\",\"ipAddress\":\"10.0.10.201\",\"displayName\":\"ro\"}}");
    let tok = [("opc-retry-token", "tok-1")];
    let (st, _, etag, first) = parts(
        send(
            &c,
            &s,
            Method::POST,
            &url,
            Some(&body),
            &tok,
            Bend::default(),
        )
        .await,
    )
    .await;
    assert_eq!(
        (
            st,
            first["ipAddress"].as_str(),
            first["displayName"].as_str()
        ),
        (200, Some("10.0.10.201"), Some("ro"))
    );
    assert!(etag.is_some());
    let (st, _, _, again) = parts(
        send(
            &c,
            &s,
            Method::POST,
            &url,
            Some(&body),
            &tok,
            Bend::default(),
        )
        .await,
    )
    .await;
    assert_eq!((st, &again["id"]), (200, &first["id"]));
    let other = format!("{{\"vnicId\":\"{N2}\"}}");
    let (st, _, _, _) = parts(
        send(
            &c,
            &s,
            Method::POST,
            &url,
            Some(&other),
            &tok,
            Bend::default(),
        )
        .await,
    )
    .await;
    assert_eq!(st, 409);
    // Without a token the same body is a new request: the address is taken.
    let (st, _, _, b) = parts(
        send(
            &c,
            &s,
            Method::POST,
            &url,
            Some(&body),
            &[],
            Bend::default(),
        )
        .await,
    )
    .await;
    assert_eq!((st, b["code"].as_str()), (409, Some("Conflict")));
    // Allocation when ipAddress is absent.
    let (st, _, _, alloc) = parts(
        send(
            &c,
            &s,
            Method::POST,
            &url,
            Some(&other),
            &[],
            Bend::default(),
        )
        .await,
    )
    .await;
    assert_eq!((st, alloc["ipAddress"].as_str()), (200, Some("10.0.10.2")));
    let (st, _, _, b) = parts(
        send(
            &c,
            &s,
            Method::POST,
            &url,
            Some("{not json"),
            &[],
            Bend::default(),
        )
        .await,
    )
    .await;
    assert_eq!((st, b["code"].as_str()), (400, Some("InvalidParameter")));

    // IPv6 under /ipv6.
    let v6 = format!("{}/20160918/ipv6", sim.core_url());
    let (st, _, _, created) = parts(
        send(
            &c,
            &s,
            Method::POST,
            &v6,
            Some(&format!(
                "{{\"vnicId\":\"{N1}\",\"ipAddress\":\"fd00:10::200\"}}"
            )),
            &[],
            Bend::default(),
        )
        .await,
    )
    .await;
    assert_eq!(
        (st, created["ipAddress"].as_str()),
        (200, Some("fd00:10::200"))
    );
    let id = created["id"].as_str().unwrap().to_string();
    assert!(id.starts_with("ocid1.ipv6."));
    let (st, _, _, list) = parts(
        get(
            &c,
            &s,
            &format!("{v6}?ipAddress=fd00:10::200&subnetId={SUBNET_A}"),
        )
        .await,
    )
    .await;
    assert_eq!((st, list[0]["id"].as_str()), (200, Some(id.as_str())));
    let (st, _, etag, _) = parts(get(&c, &s, &format!("{v6}/{id}")).await).await;
    assert_eq!(st, 200);
    let (st, _, _, moved) = parts(
        send(
            &c,
            &s,
            Method::PUT,
            &format!("{v6}/{id}"),
            Some(&format!("{{\"vnicId\":\"{N2}\"}}")),
            &[("if-match", etag.unwrap().as_str())],
            Bend::default(),
        )
        .await,
    )
    .await;
    assert_eq!((st, moved["vnicId"].as_str()), (200, Some(N2)));
    let (st, _, _, vnic) =
        parts(get(&c, &s, &format!("{}/20160918/vnics/{N2}", sim.core_url())).await).await;
    assert_eq!(
        (st, vnic["ipv6Addresses"][0].as_str()),
        (200, Some("fd00:10::200"))
    );
    let (st, _, _, _) = parts(
        send(
            &c,
            &s,
            Method::DELETE,
            &format!("{v6}/{id}"),
            None,
            &[],
            Bend::default(),
        )
        .await,
    )
    .await;
    assert_eq!(st, 204);
    // An IPv6 OCID is not a private IP.
    let (st, _, _, _) = parts(get(&c, &s, &format!("{url}/{id}")).await).await;
    assert_eq!(st, 404);
    sim.shutdown().await;
}

#[tokio::test]
async fn authentication_failures_are_401() {
    let (sim, _dir) = start_with(|_| {}).await;
    let c = client(&sim);
    let inv = inventory();
    let s = api_signer(&inv, USER);
    let url = format!("{}/20160918/privateIps/{VIP_ID}", sim.core_url());
    let body = format!("{{\"vnicId\":\"{N2}\"}}");
    let cases: Vec<(&str, Method, Signer, Bend)> = vec![
        (
            "skew +6min",
            Method::GET,
            s.clone(),
            Bend {
                date_offset_secs: 360,
                ..Default::default()
            },
        ),
        (
            "skew -6min",
            Method::GET,
            s.clone(),
            Bend {
                date_offset_secs: -360,
                ..Default::default()
            },
        ),
        (
            "bad body hash",
            Method::PUT,
            s.clone(),
            Bend {
                wrong_body_hash: true,
                ..Default::default()
            },
        ),
        (
            "host unsigned",
            Method::GET,
            s.clone(),
            Bend {
                skip_host: true,
                ..Default::default()
            },
        ),
        (
            "bad signature",
            Method::GET,
            s.clone(),
            Bend {
                flip_signature: true,
                ..Default::default()
            },
        ),
        (
            "wrong fingerprint",
            Method::GET,
            Signer {
                key_id: format!("{}/{USER}/00:11", inv.tenancy_id),
                ..s.clone()
            },
            Bend::default(),
        ),
        (
            "wrong tenancy",
            Method::GET,
            Signer {
                key_id: s.key_id.replace("ocisim", "other"),
                ..s.clone()
            },
            Bend::default(),
        ),
        (
            "unknown user",
            Method::GET,
            Signer {
                key_id: s.key_id.replace(USER, "ocid1.user.oc1..nobody"),
                ..s.clone()
            },
            Bend::default(),
        ),
        (
            "bogus session token",
            Method::GET,
            Signer {
                key_id: "ST$abc.def.ghi".into(),
                ..s.clone()
            },
            Bend::default(),
        ),
    ];
    for (name, method, signer, bend) in cases {
        let b = (method == Method::PUT).then_some(body.as_str());
        let (st, rid, _, resp) = parts(send(&c, &signer, method, &url, b, &[], bend).await).await;
        assert_eq!(
            (st, resp["code"].as_str()),
            (401, Some("NotAuthenticated")),
            "{name}"
        );
        assert!(!rid.is_empty(), "{name}");
    }
    // Within the skew limit is fine.
    let (st, _, _, _) = parts(
        send(
            &c,
            &s,
            Method::GET,
            &url,
            None,
            &[],
            Bend {
                date_offset_secs: 200,
                ..Default::default()
            },
        )
        .await,
    )
    .await;
    assert_eq!(st, 200);
    assert_eq!(
        sim.assignment("10.0.10.200".parse().unwrap()).as_deref(),
        Some(N1)
    );
    sim.shutdown().await;
}

#[tokio::test]
async fn permissions_answer_404() {
    let (sim, _dir) = start_with(|_| {}).await;
    let c = client(&sim);
    let url = format!("{}/20160918/privateIps/{VIP_ID}", sim.core_url());
    let ro = api_signer(&inventory(), READONLY);
    let (st, _, _, body) = parts(get(&c, &ro, &url).await).await;
    assert_eq!(
        (st, body["code"].as_str()),
        (404, Some("NotAuthorizedOrNotFound"))
    );
    let s = api_signer(&inventory(), USER);
    sim.faults().set_permissions(
        USER,
        Permissions {
            read: true,
            update: false,
        },
    );
    let (st, _, _, _) = parts(get(&c, &s, &url).await).await;
    assert_eq!(st, 200);
    let (st, _, _, body) = parts(
        send(
            &c,
            &s,
            Method::PUT,
            &url,
            Some(&format!("{{\"vnicId\":\"{N2}\"}}")),
            &[],
            Bend::default(),
        )
        .await,
    )
    .await;
    assert_eq!(
        (st, body["code"].as_str()),
        (404, Some("NotAuthorizedOrNotFound"))
    );
    assert_eq!(
        sim.assignment("10.0.10.200".parse().unwrap()).as_deref(),
        Some(N1)
    );
    sim.faults().set_permissions(USER, Permissions::default());
    let (st, _, _, _) = parts(
        send(
            &c,
            &s,
            Method::PUT,
            &url,
            Some(&format!("{{\"vnicId\":\"{N2}\"}}")),
            &[],
            Bend::default(),
        )
        .await,
    )
    .await;
    assert_eq!(st, 200);
    sim.shutdown().await;
}

#[tokio::test]
async fn faults_and_rate_limit() {
    let (sim, _dir) = start_with(|cfg| {
        cfg.rate_limit = Some(pgvip_cloudsim::RateLimit {
            per_second: 0.5,
            burst: 3,
        })
    })
    .await;
    let c = client(&sim);
    let s = api_signer(&inventory(), USER);
    let url = format!("{}/20160918/privateIps/{VIP_ID}", sim.core_url());
    // Rate limit: burst of 3, then 429.
    let mut statuses = vec![];
    for _ in 0..4 {
        statuses.push(parts(get(&c, &s, &url).await).await.0);
    }
    assert_eq!(statuses, [200, 200, 200, 429]);
    sim.faults()
        .apply(pgvip_cloudsim::FaultCommand::RateLimit { rate_limit: None });

    let f = sim.faults();
    f.fail_next(
        Some(Operation::GetPrivateIp),
        1,
        Failure::Throttle {
            retry_after_seconds: Some(7),
        },
    );
    f.fail_next(
        Some(Operation::GetPrivateIp),
        1,
        Failure::Throttle {
            retry_after_seconds: None,
        },
    );
    f.fail_next(
        Some(Operation::GetPrivateIp),
        1,
        Failure::Status { status: 503 },
    );
    f.fail_next(
        Some(Operation::GetPrivateIp),
        1,
        Failure::Status { status: 500 },
    );
    let r = get(&c, &s, &url).await;
    assert_eq!(
        r.headers().get("retry-after").map(|v| v.to_str().unwrap()),
        Some("7")
    );
    assert_eq!(parts(r).await.3["code"], "TooManyRequests");
    let r = get(&c, &s, &url).await;
    assert!(r.headers().get("retry-after").is_none());
    assert_eq!(r.status().as_u16(), 429);
    let (st, rid, _, b) = parts(get(&c, &s, &url).await).await;
    assert_eq!((st, b["code"].as_str()), (503, Some("ServiceUnavailable")));
    assert!(!rid.is_empty());
    let (st, _, _, b) = parts(get(&c, &s, &url).await).await;
    assert_eq!((st, b["code"].as_str()), (500, Some("InternalServerError")));
    assert_eq!(parts(get(&c, &s, &url).await).await.0, 200);

    // Latency on one operation only.
    f.set_latency(Some(Operation::GetPrivateIp), Duration::from_millis(400));
    let t = Instant::now();
    assert_eq!(parts(get(&c, &s, &url).await).await.0, 200);
    assert!(t.elapsed() >= Duration::from_millis(400));
    f.set_latency(Some(Operation::GetPrivateIp), Duration::ZERO);

    // Dropped connection and held connection fail on the client side.
    f.fail_next(None, 1, Failure::Drop);
    let r = c.get(&url).send().await;
    assert!(r.is_err(), "dropped connection answered: {r:?}");
    f.fail_next(None, 1, Failure::Timeout);
    let short = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(sim.ca_pem().as_bytes()).unwrap())
        .timeout(Duration::from_millis(700))
        .build()
        .unwrap();
    let err = short.get(&url).send().await.unwrap_err();
    assert!(err.is_timeout(), "{err:?}");

    // Auth outage: valid signatures are refused.
    f.set_auth_outage(true);
    assert_eq!(parts(get(&c, &s, &url).await).await.0, 401);
    f.set_auth_outage(false);
    assert_eq!(parts(get(&c, &s, &url).await).await.0, 200);

    let log = sim.call_log().of(Operation::GetPrivateIp);
    assert!(log
        .iter()
        .any(|r| r.status == 0 && r.injected && r.code.as_deref() == Some("ConnectionDropped")));
    assert!(log.iter().any(|r| r.status == 429 && r.injected));
    sim.shutdown().await;
}

#[tokio::test]
async fn a_late_answer_moves_at_once_and_answers_later() {
    let (sim, _dir) = start_with(|_| {}).await;
    let c = client(&sim);
    let s = api_signer(&inventory(), USER);
    let url = format!("{}/20160918/privateIps/{VIP_ID}", sim.core_url());
    let vip: std::net::IpAddr = "10.0.10.200".parse().unwrap();
    sim.faults().fail_next(
        Some(Operation::UpdatePrivateIp),
        1,
        Failure::AnswerLate { millis: 800 },
    );
    let body = format!("{{\"vnicId\":\"{N2}\"}}");
    let t = Instant::now();
    let put = send(&c, &s, Method::PUT, &url, Some(&body), &[], Bend::default());
    let watch = async {
        // The move is visible in the control plane long before its answer arrives.
        loop {
            if sim.assignment(vip).as_deref() == Some(N2) {
                return t.elapsed();
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (r, moved_after) = tokio::join!(put, watch);
    let answered_after = t.elapsed();
    let (status, _, _, b) = parts(r).await;
    assert_eq!((status, b["vnicId"].as_str()), (200, Some(N2)));
    assert!(moved_after < Duration::from_millis(400), "{moved_after:?}");
    assert!(
        answered_after >= Duration::from_millis(800),
        "{answered_after:?}"
    );
    // One late answer only: the next call answers at once.
    let t = Instant::now();
    assert_eq!(parts(get(&c, &s, &url).await).await.0, 200);
    assert!(t.elapsed() < Duration::from_millis(800));
    sim.shutdown().await;
}

#[tokio::test]
async fn admin_endpoint_drives_faults_and_reads_the_log() {
    let (sim, _dir) = start_with(|_| {}).await;
    let c = client(&sim);
    let s = api_signer(&inventory(), USER);
    let plain = reqwest::Client::new();
    let admin = sim.admin_url().to_string();
    assert_eq!(
        plain
            .get(format!("{admin}/healthz"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "ok"
    );
    let cmd = r#"{"kind":"fail","operation":"UpdatePrivateIp","count":1,"failure":{"type":"status","status":503}}"#;
    let r = plain
        .post(format!("{admin}/faults"))
        .body(cmd)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 204);
    let bad = plain
        .post(format!("{admin}/faults"))
        .body("{\"kind\":\"nope\"}")
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status().as_u16(), 400);
    let url = format!("{}/20160918/privateIps/{VIP_ID}", sim.core_url());
    let body = format!("{{\"vnicId\":\"{N2}\"}}");
    assert_eq!(
        parts(send(&c, &s, Method::PUT, &url, Some(&body), &[], Bend::default()).await)
            .await
            .0,
        503
    );
    assert_eq!(
        parts(send(&c, &s, Method::PUT, &url, Some(&body), &[], Bend::default()).await)
            .await
            .0,
        200
    );
    let calls: serde_json::Value = plain
        .get(format!("{admin}/calls"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let ops: Vec<(String, u64)> = calls
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["operation"].as_str().unwrap().to_string(),
                r["status"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        ops,
        [
            ("UpdatePrivateIp".to_string(), 503),
            ("UpdatePrivateIp".to_string(), 200)
        ]
    );
    assert!(
        calls[1]["opcRequestId"].is_string()
            && calls[1]["timestamp"].is_string()
            && calls[1]["principal"] == USER
    );
    let assignments: serde_json::Value = plain
        .get(format!("{admin}/assignments"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(assignments[0]["vnicId"], N2);
    assert_eq!(assignments[0]["port"], "pb");
    assert_eq!(
        plain
            .delete(format!("{admin}/calls"))
            .send()
            .await
            .unwrap()
            .status()
            .as_u16(),
        204
    );
    assert!(sim.call_log().records().is_empty());
    sim.shutdown().await;
}
