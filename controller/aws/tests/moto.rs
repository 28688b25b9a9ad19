//! pgvip-aws against an independent EC2 implementation: moto's server mode on a loopback port.
//!
//! Each test starts its own moto (the venv comes from `e2e/testbed/venv.sh moto`), builds a VPC,
//! subnets and instances through moto's Query API (signed with this crate's signer), and drives
//! the public client. moto lacks three documented EC2 behaviours the client relies on; the
//! launcher `moto_aws_semantics.py` patches exactly those in (see its docstring), and
//! `moto_deviations_are_still_there` runs plain moto to prove they are still missing. The
//! moto process is killed by a guard's `Drop`, also when a test fails.

mod common;

use std::net::IpAddr;
use std::time::Duration;

use common::{cfg, first, req, Moto, Setup};
use pgvip_aws::{AwsError, Ec2Client};

#[tokio::test]
async fn assign_repeat_move_check_and_release() {
    let moto = Moto::start(true, &[]);
    let setup = Setup::new(&moto);
    let (db, other, nodes) = setup.world().await;
    let client = Ec2Client::new(cfg(&moto, "AKIDTEST", "test-secret"))
        .await
        .unwrap();
    let vip: IpAddr = "10.0.1.100".parse().unwrap();
    let long = Duration::from_secs(300);

    let eni_a = client.node_eni(&nodes[0], &db, long).await.unwrap();
    let eni_b = client.node_eni(&nodes[1], &db, long).await.unwrap();
    assert!(eni_a.starts_with("eni-") && eni_b.starts_with("eni-") && eni_a != eni_b);
    assert_eq!(client.current_assignment(vip, &db).await.unwrap(), None);

    // Nowhere yet: assigned (created), and confirmed.
    let a = client
        .ensure_assigned(&req(vip, &db, &nodes[0]))
        .await
        .unwrap();
    assert_eq!(
        (a.eni_id.as_str(), a.created, a.changed),
        (eni_a.as_str(), true, true)
    );
    assert!(!a.request_ids.is_empty());
    assert!(setup.addresses(&eni_a).await.contains(&(vip, false)));

    // Repeat: nothing to do.
    let again = client
        .ensure_assigned(&req(vip, &db, &nodes[0]))
        .await
        .unwrap();
    assert_eq!(
        (again.eni_id.as_str(), again.created, again.changed),
        (eni_a.as_str(), false, false)
    );
    let now = client.current_assignment(vip, &db).await.unwrap().unwrap();
    assert_eq!(now.eni_id, eni_a);

    // Move to the other node: changed, not created; it left the old interface.
    let moved = client
        .ensure_assigned(&req(vip, &db, &nodes[1]))
        .await
        .unwrap();
    assert_eq!(
        (moved.eni_id.as_str(), moved.created, moved.changed),
        (eni_b.as_str(), false, true)
    );
    assert_eq!(
        client
            .current_assignment(vip, &db)
            .await
            .unwrap()
            .unwrap()
            .eni_id,
        eni_b
    );
    assert!(!setup
        .addresses(&eni_a)
        .await
        .iter()
        .any(|(ip, _)| *ip == vip));

    // The permission check: EC2 has no DryRun for AssignPrivateIpAddresses; nothing changed.
    let e = client
        .check_assign_permission(&eni_a, vip)
        .await
        .unwrap_err();
    assert_eq!(e.category(), "permission_check_unsupported", "{e}");
    assert_eq!(
        client
            .current_assignment(vip, &db)
            .await
            .unwrap()
            .unwrap()
            .eni_id,
        eni_b
    );

    // Never move a primary address.
    let primary_b = setup
        .addresses(&eni_b)
        .await
        .into_iter()
        .find(|(_, p)| *p)
        .unwrap()
        .0;
    let e = client
        .ensure_assigned(&req(primary_b, &db, &nodes[0]))
        .await
        .unwrap_err();
    assert_eq!(e.category(), "primary_ip", "{e}");
    assert!(matches!(&e, AwsError::PrimaryIp { eni_id, .. } if *eni_id == eni_b));

    // No interface of the node in that subnet; bad providerID; IPv6.
    let e = client
        .ensure_assigned(&req("10.0.2.50".parse().unwrap(), &other, &nodes[0]))
        .await
        .unwrap_err();
    assert_eq!(e.category(), "no_eni_in_subnet", "{e}");
    let e = client
        .node_eni("aws:///us-east-1a/fargate-x", &db, long)
        .await
        .unwrap_err();
    assert_eq!(e.category(), "bad_provider_id");
    let e = client
        .ensure_assigned(&req("fd00::5".parse().unwrap(), &db, &nodes[0]))
        .await
        .unwrap_err();
    assert_eq!(e.category(), "ipv6_unsupported");

    // Release; releasing again and releasing from a gone interface succeed.
    client.release(&eni_b, vip).await.unwrap();
    assert_eq!(client.current_assignment(vip, &db).await.unwrap(), None);
    client.release(&eni_b, vip).await.unwrap();
    client.release("eni-00000000000000000", vip).await.unwrap();
    // Assigning to an interface that does not exist.
    let e = client
        .ensure_assigned(&req(vip, &db, "aws:///us-east-1a/i-0000000000000000f"))
        .await
        .unwrap_err();
    assert_eq!(e.category(), "no_eni_in_subnet", "{e}");
}

/// Plain moto still lacks the behaviours `moto_aws_semantics.py` patches in; when this fails,
/// moto has caught up and the patch (or part of it) can go.
#[tokio::test]
async fn moto_deviations_are_still_there() {
    let moto = Moto::start(false, &[]);
    let setup = Setup::new(&moto);
    let (db, _, nodes) = setup.world().await;
    let client = Ec2Client::new(cfg(&moto, "AKIDTEST", "test-secret"))
        .await
        .unwrap();
    let vip: IpAddr = "10.0.1.101".parse().unwrap();
    let eni_a = client
        .node_eni(&nodes[0], &db, Duration::from_secs(60))
        .await
        .unwrap();
    let eni_b = client
        .node_eni(&nodes[1], &db, Duration::from_secs(60))
        .await
        .unwrap();

    // 3. DryRun (which EC2 does not know for this action) is ignored: 200, and assigned.
    let e = client
        .check_assign_permission(&eni_a, vip)
        .await
        .unwrap_err();
    assert_eq!(e.category(), "invalid_response", "{e}");
    assert!(setup.addresses(&eni_a).await.contains(&(vip, false)));
    // 1. The addresses.private-ip-address filter does not match secondary addresses.
    assert_eq!(client.current_assignment(vip, &db).await.unwrap(), None);
    // 2. AllowReassignment does not take the address from the other interface.
    client
        .ensure_assigned(&req(vip, &db, &nodes[1]))
        .await
        .unwrap();
    assert!(setup.addresses(&eni_a).await.contains(&(vip, false)));
    assert!(setup.addresses(&eni_b).await.contains(&(vip, false)));
}

/// With IAM enforced, moto checks every SigV4 signature (with botocore's signer) and each call
/// against the user's policy: signatures made here must verify, a missing grant is a
/// `permission` error naming the IAM action, a wrong secret an `auth` error.
#[tokio::test]
async fn signatures_and_permissions_under_moto_iam() {
    // The set-up's first 11 calls run unauthenticated (moto counts every request).
    let moto = Moto::start(true, &[("INITIAL_NO_AUTH_ACTION_COUNT", "11")]);
    let setup = Setup::new(&moto);
    let (db, _, nodes) = setup.world().await; // 5 calls
    let mut keys = Vec::new();
    for (user, actions) in [
        ("reader", r#""ec2:DescribeNetworkInterfaces""#),
        (
            "mover",
            r#"["ec2:DescribeNetworkInterfaces","ec2:AssignPrivateIpAddresses","ec2:UnassignPrivateIpAddresses"]"#,
        ),
    ] {
        setup.iam("CreateUser", &[("UserName", user)]).await;
        let xml = setup.iam("CreateAccessKey", &[("UserName", user)]).await;
        keys.push((first(&xml, "AccessKeyId"), first(&xml, "SecretAccessKey")));
        let policy = format!(
            r#"{{"Version":"2012-10-17","Statement":[{{"Effect":"Allow","Action":{actions},"Resource":"*"}}]}}"#
        );
        setup
            .iam(
                "PutUserPolicy",
                &[
                    ("UserName", user),
                    ("PolicyName", "p"),
                    ("PolicyDocument", &policy),
                ],
            )
            .await;
    }
    let vip: IpAddr = "10.0.1.102".parse().unwrap();

    // The read-only user: describing works (its signatures verify), changing is refused.
    let reader = Ec2Client::new(cfg(&moto, &keys[0].0, &keys[0].1))
        .await
        .unwrap();
    let eni_a = reader
        .node_eni(&nodes[0], &db, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(reader.current_assignment(vip, &db).await.unwrap(), None);
    let e = reader
        .check_assign_permission(&eni_a, vip)
        .await
        .unwrap_err();
    assert_eq!(e.category(), "permission", "{e}");
    assert!(
        e.to_string().contains("ec2:AssignPrivateIpAddresses"),
        "{e}"
    );
    let e = reader
        .ensure_assigned(&req(vip, &db, &nodes[0]))
        .await
        .unwrap_err();
    assert_eq!(e.category(), "permission", "{e}");
    let e = reader.release(&eni_a, vip).await.unwrap_err();
    assert!(
        e.to_string().contains("ec2:UnassignPrivateIpAddresses"),
        "{e}"
    );

    // The user with the three grants: the whole move, every call's signature verified.
    let mover = Ec2Client::new(cfg(&moto, &keys[1].0, &keys[1].1))
        .await
        .unwrap();
    let e = mover
        .check_assign_permission(&eni_a, vip)
        .await
        .unwrap_err();
    assert_eq!(e.category(), "permission_check_unsupported", "{e}");
    let a = mover
        .ensure_assigned(&req(vip, &db, &nodes[0]))
        .await
        .unwrap();
    assert_eq!((a.eni_id.as_str(), a.created), (eni_a.as_str(), true));
    let b = mover
        .ensure_assigned(&req(vip, &db, &nodes[1]))
        .await
        .unwrap();
    assert!(b.changed && !b.created);
    mover.release(&b.eni_id, vip).await.unwrap();

    // A wrong secret: the signature does not verify.
    let wrong = Ec2Client::new(cfg(&moto, &keys[0].0, "not-the-secret"))
        .await
        .unwrap();
    let e = wrong.current_assignment(vip, &db).await.unwrap_err();
    assert_eq!(e.category(), "auth", "{e}");
    assert!(!e.to_string().contains("not-the-secret"));
}
