//! Every auth mode against the simulator: API keys in each PEM form, instance principals
//! (IMDS → `/v1/x509` → session token, refreshed before expiry), and OKE workload identity
//! (service-account token re-read on refresh, proxymux TLS trusting only the given CA).
//! Each test checks who the simulator saw sign the calls and where the VIP ended up.

use std::time::Duration;

use pgvip_cloudsim::Operation;
use pgvip_oci::OciClient;

use crate::harness::*;

/// The principal the simulator recorded on the last Core Services call.
fn last_principal(env: &Env) -> Option<String> {
    env.core_calls().last().and_then(|r| r.principal.clone())
}

#[tokio::test]
async fn api_key_in_every_pem_form_moves_the_vip() {
    let env = start(|_| {}).await;
    let forms = [
        ("pkcs1", KEY_PKCS1, None, I2),
        ("pkcs8", KEY_PKCS8, None, I1),
        ("pkcs8-encrypted", KEY_PKCS8_ENC, Some(KEY_PASSPHRASE), I2),
    ];
    for (name, key, pass, target) in forms {
        let client = OciClient::new(env.config(env.api_key(USER, key, pass)))
            .await
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let a = client.ensure_assigned(&to(VIP, target)).await.unwrap();
        let want = if target == I2 { VNIC2 } else { VNIC1 };
        assert_eq!(a.vnic_id, want, "{name}");
        assert!(a.changed && !a.created, "{name}");
        assert_eq!(env.holder(VIP).as_deref(), Some(want), "{name}");
        assert_eq!(last_principal(&env).as_deref(), Some(USER), "{name}");
        // Every id the client reports is one the simulator answered.
        let answered: Vec<String> = env
            .core_calls()
            .into_iter()
            .map(|r| r.opc_request_id)
            .collect();
        assert!(a.opc_request_ids.iter().all(|id| answered.contains(id)));
    }
    // No 401 anywhere: every signature verified.
    assert!(env.core_calls().iter().all(|r| r.status != 401));

    // An encrypted key without its passphrase is a configuration/auth failure, not a panic.
    let e = OciClient::new(env.config(env.api_key(USER, KEY_PKCS8_ENC, None)))
        .await
        .unwrap_err();
    assert_eq!(e.category(), "auth", "{e}");
    assert!(e.to_string().contains("passphrase"), "{e}");
}

#[tokio::test]
async fn instance_principal_federates_and_refreshes_before_expiry() {
    // 62 s tokens: the client refreshes 60 s before expiry, so two seconds after issue.
    let env = start(|c| c.token_ttl = Duration::from_secs(62)).await;
    let mut cfg = env.config(env.instance_principal(I1));
    cfg.region = None; // read from IMDS
    let client = OciClient::new(cfg).await.unwrap();
    let a = client.ensure_assigned(&to(VIP, I2)).await.unwrap();
    env.assert_on(VIP, VNIC2);
    assert_eq!(a.vnic_id, VNIC2);
    assert_eq!(last_principal(&env).as_deref(), Some(I1));
    let fed = env.calls(Operation::X509Federation);
    assert_eq!(fed.len(), 1, "{fed:?}");
    assert_eq!(
        (fed[0].status, fed[0].principal.as_deref()),
        (200, Some(I1))
    );
    assert!(!env.calls(Operation::Imds).is_empty());

    // Within the token's fresh period: no new exchange.
    client.ensure_assigned(&to(VIP, I1)).await.unwrap();
    assert_eq!(env.calls(Operation::X509Federation).len(), 1);

    // Past refresh_at (but before expiry): exactly one new exchange, before the API call.
    tokio::time::sleep(Duration::from_millis(2600)).await;
    client.ensure_assigned(&to(VIP, I2)).await.unwrap();
    env.assert_on(VIP, VNIC2);
    assert_eq!(env.calls(Operation::X509Federation).len(), 2);
    assert!(env.core_calls().iter().all(|r| r.status != 401));

    // A revoked session (auth outage, then back) is re-federated after the 401.
    env.sim.faults().set_auth_outage(true);
    let e = client.ensure_assigned(&to(VIP, I1)).await.unwrap_err();
    assert_eq!(e.category(), "auth", "{e}");
    env.sim.faults().set_auth_outage(false);
    client.ensure_assigned(&to(VIP, I1)).await.unwrap();
    env.assert_on(VIP, VNIC1);
}

#[tokio::test]
async fn instance_principal_without_grants_is_a_permission_error() {
    let env = start(|c| {
        c.inventory.instances[1].permissions.update = false;
    })
    .await;
    let client = OciClient::new(env.config(env.instance_principal(I2)))
        .await
        .unwrap();
    let e = client.ensure_assigned(&to(VIP, I2)).await.unwrap_err();
    assert_eq!(e.category(), "permission", "{e}");
    let text = e.to_string();
    assert!(text.contains("dynamic-group"), "{text}");
    assert!(text.contains("use private-ips"), "{text}");
    assert!(text.contains(COMPARTMENT), "{text}");
    env.assert_on(VIP, VNIC1);
}

#[tokio::test]
async fn workload_identity_rereads_the_token_and_trusts_only_the_given_ca() {
    let env = start(|c| c.token_ttl = Duration::from_secs(62)).await;
    let token_path = env.write("sa-token", &format!("{SA_TOKEN}\n"));
    let ca_path = env.sim.urls().ca_path.clone();
    let client = OciClient::new(env.config(env.workload_identity(token_path.clone(), ca_path)))
        .await
        .unwrap();
    client.ensure_assigned(&to(VIP, I2)).await.unwrap();
    env.assert_on(VIP, VNIC2);
    assert_eq!(last_principal(&env).as_deref(), Some(WORKLOAD));
    assert_eq!(env.calls(Operation::OkeWorkloadToken).len(), 1);

    // The kubelet rotates the projected token; the refresh reads the new one.
    std::fs::write(&token_path, SA_TOKEN_ROTATED).unwrap();
    tokio::time::sleep(Duration::from_millis(2600)).await;
    client.ensure_assigned(&to(VIP, I1)).await.unwrap();
    env.assert_on(VIP, VNIC1);
    let exchanges = env.calls(Operation::OkeWorkloadToken);
    assert_eq!(exchanges.len(), 2);
    assert_eq!(exchanges[1].principal.as_deref(), Some(WORKLOAD_ROTATED));
    assert_eq!(last_principal(&env).as_deref(), Some(WORKLOAD_ROTATED));

    // A token the proxymux does not accept: auth error, no Core call, nothing moved.
    let bad_token = env.write("sa-token-bad", "not-a-known-token");
    let before = env.core_calls().len();
    let bad = OciClient::new(
        env.config(env.workload_identity(bad_token, env.sim.urls().ca_path.clone())),
    )
    .await
    .unwrap();
    let e = bad.ensure_assigned(&to(VIP, I2)).await.unwrap_err();
    assert_eq!(e.category(), "auth", "{e}");
    let last = env.calls(Operation::OkeWorkloadToken).pop().unwrap();
    assert_eq!((last.status, last.principal), (401, None));
    assert_eq!(env.core_calls().len(), before);
    env.assert_on(VIP, VNIC1);

    // A proxymux whose certificate another CA signed is refused before any token is sent.
    let other = start(|_| {}).await;
    let token_path = env.write("sa-token-2", SA_TOKEN);
    // The other simulator's proxymux, but only this simulator's CA trusted.
    let auth = other.workload_identity(token_path, env.sim.urls().ca_path.clone());
    let client = OciClient::new(env.config(auth)).await.unwrap();
    let e = client.ensure_assigned(&to(VIP, I1)).await.unwrap_err();
    assert_eq!(e.category(), "auth", "{e}");
    assert!(other.calls(Operation::OkeWorkloadToken).is_empty());
}
