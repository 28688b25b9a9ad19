//! Each typed error class, provoked against the simulator, with the simulator's state checked
//! to be untouched and its call log showing what OCI answered.

use pgvip_cloudsim::{Failure, Operation};
use pgvip_oci::{OciClient, OciError};

use crate::harness::*;

#[tokio::test]
async fn bad_credentials_are_auth_errors_after_one_reauthentication() {
    let env = start(|_| {}).await;
    let mut cfg = env.user_config(USER);
    if let pgvip_oci::AuthConfig::ApiKey { fingerprint, .. } = &mut cfg.auth {
        *fingerprint = "00:11:22:33:44:55:66:77:88:99:aa:bb:cc:dd:ee:ff".into();
    }
    let client = OciClient::new(cfg).await.unwrap();
    let e = move_err(&client, VIP, I2).await;
    assert_eq!(e.category(), "auth", "{e}");
    assert!(e.to_string().contains("401"), "{e}");
    assert!(e.opc_request_id().is_some());
    // One attempt plus one after re-reading the credentials; 401 is never retried further.
    let calls = env.core_calls();
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(calls
        .iter()
        .all(|r| r.status == 401 && r.code.as_deref() == Some("NotAuthenticated")));
    env.assert_on(VIP, VNIC1);
}

#[tokio::test]
async fn missing_update_grant_names_the_statement_for_the_address_family() {
    let (env, client) = start_as(USER_READ_ONLY).await;

    let e = move_err(&client, VIP, I2).await;
    let (operation, _, policy) = permission(&e);
    assert_eq!(operation, "UpdatePrivateIp");
    assert!(policy.contains(&format!(
        "Allow group <your-group> to use private-ips in compartment id {COMPARTMENT}"
    )));
    assert!(policy.contains("use vnics"), "{policy}");
    let upd = env.calls(Operation::UpdatePrivateIp);
    assert_eq!(upd.len(), 1);
    assert_eq!(
        (upd[0].status, upd[0].code.as_deref()),
        (404, Some("NotAuthorizedOrNotFound"))
    );
    env.assert_on(VIP, VNIC1);

    // IPv6: the resource type is ipv6s.
    let e = move_err(&client, VIP6, I2).await;
    let (operation, _, policy) = permission(&e);
    assert_eq!(operation, "UpdateIpv6");
    assert!(policy.contains("to use ipv6s in compartment"), "{policy}");
    assert!(!policy.contains("private-ips"), "{policy}");
    env.assert_on(VIP6, VNIC1);
}

#[tokio::test]
async fn not_found_on_the_nodes_own_instance_is_a_missing_read_grant() {
    let (env, client) = start_as(USER_NO_GRANTS).await;
    let e = move_err(&client, VIP, I2).await;
    let (operation, resource, policy) = permission(&e);
    assert_eq!(operation, "GetInstance");
    assert!(resource.contains(I2), "{resource}");
    assert!(
        policy.contains("to read instances in compartment"),
        "{policy}"
    );
    assert_eq!(env.calls(Operation::GetInstance)[0].status, 404);

    // GetVnic answering 404 for the attached VNIC is a missing `read vnics`, not "no VNIC".
    let client = env.user_client(USER).await;
    env.fail_next(Operation::GetVnic, 1, Failure::Status { status: 404 });
    let e = move_err(&client, VIP, I2).await;
    let (operation, _, policy) = permission(&e);
    assert_eq!(operation, "GetVnic");
    assert!(
        policy.contains(&format!("to read vnics in compartment id {COMPARTMENT}")),
        "{policy}"
    );
    env.assert_on(VIP, VNIC1);
}

#[tokio::test]
async fn address_outside_the_subnet_is_reported_as_such() {
    let (env, client) = start_as(USER).await;
    let e = move_err(&client, "10.0.99.5", I2).await;
    let OciError::IpOutsideSubnet { ip, subnet_id, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(
        (ip.to_string().as_str(), subnet_id.as_str()),
        ("10.0.99.5", SUBNET_A)
    );
    let create = env.calls(Operation::CreatePrivateIp);
    assert_eq!(
        (create.len(), create[0].status, create[0].code.as_deref()),
        (1, 400, Some("InvalidParameter"))
    );
    assert_eq!(env.holder("10.0.99.5"), None);
}

#[tokio::test]
async fn nodes_without_an_oci_provider_id_make_no_call() {
    let (env, client) = start_as(USER).await;
    for (provider_id, category) in [
        ("", "no_provider_id"),
        ("aws:///us-east-1a/i-0123456789", "bad_provider_id"),
        ("kind://docker/kind/worker", "bad_provider_id"),
    ] {
        let mut req = to(VIP, I2);
        req.provider_id = provider_id.into();
        let e = client.ensure_assigned(&req).await.unwrap_err();
        assert_eq!(e.category(), category, "{provider_id:?}: {e}");
        assert!(!e.is_transient());
    }
    assert!(env.core_calls().is_empty());
    env.assert_on(VIP, VNIC1);
}

#[tokio::test]
async fn node_without_a_vnic_in_the_vips_subnet() {
    let (env, client) = start_as(USER).await;
    let e = move_err(&client, VIP, I3).await;
    let OciError::NoVnicInSubnet {
        instance_id,
        subnet_id,
    } = &e
    else {
        panic!("{e:?}")
    };
    assert_eq!((instance_id.as_str(), subnet_id.as_str()), (I3, SUBNET_A));
    assert!(env.calls(Operation::UpdatePrivateIp).is_empty());
    env.assert_on(VIP, VNIC1);
}

#[tokio::test]
async fn a_primary_address_is_never_moved() {
    let (env, client) = start_as(USER).await;
    // n2's primary private IP.
    let e = move_err(&client, "10.0.10.12", I1).await;
    let OciError::PrimaryIp { vnic_id, .. } = &e else {
        panic!("{e:?}")
    };
    assert_eq!(vnic_id, VNIC2);
    assert!(env.calls(Operation::UpdatePrivateIp).is_empty());
    assert!(env.calls(Operation::CreatePrivateIp).is_empty());
    env.assert_on("10.0.10.12", VNIC2);
}

#[tokio::test]
async fn ipv6_vip_moves_and_new_addresses_are_created() {
    let (env, client) = start_as(USER).await;
    let a = client.ensure_assigned(&to(VIP6, I2)).await.unwrap();
    assert_eq!((a.private_ip_id.as_str(), a.changed), (VIP6_ID, true));
    env.assert_on(VIP6, VNIC2);
    let a = client.ensure_assigned(&to(VIP6, I2)).await.unwrap();
    assert!(!a.changed);
    let a = client
        .ensure_assigned(&to("10.0.10.201", I1))
        .await
        .unwrap();
    assert!(a.created && a.changed);
    env.assert_on("10.0.10.201", VNIC1);
}
