//! Table tests of the status renderers on PostgresVips built in code.
use crate::fixtures::*;

use super::*;

#[test]
fn table_in_one_namespace() {
    let got = status_table(&[ready_vip(), unconfirmed_vip()], false, now());
    let want = "\
NAME        ADDRESS       CLUSTER           LEADER   NODE       CLOUD                      READY   FAILOVER-READY   DATAPATH   AGE-OF-LAST-FAILOVER
orders-rw   10.0.10.200   orders            pg-1     worker-2   ocid1.vnic.oc1.phx.node2   True    True             True       5m30s
ghost       10.0.10.201   no-such-cluster   <none>   <none>     <none>                     False   Unknown          False      <none>
";
    assert_eq!(got, want, "\n{got}");
}

#[test]
fn table_across_namespaces() {
    let got = status_table(&[new_label_vip(), ready_vip()], true, now());
    let want = "\
NAMESPACE   NAME         ADDRESS       CLUSTER                                  LEADER   NODE       CLOUD                      READY    FAILOVER-READY   DATAPATH   AGE-OF-LAST-FAILOVER
billing     billing-rw   10.0.20.5     application=spilo,cluster-name=billing   <none>   <none>     <none>                     <none>   <none>           <none>     <none>
db          orders-rw    10.0.10.200   orders                                   pg-1     worker-2   ocid1.vnic.oc1.phx.node2   True     True             True       5m30s
";
    assert_eq!(got, want, "\n{got}");
}

#[test]
fn empty_table_is_the_header() {
    assert_eq!(
        status_table(&[], false, now()).lines().count(),
        1,
        "header only"
    );
}

#[test]
fn detail_of_a_ready_vip() {
    let got = detail(&ready_vip(), now());
    let want = "\
Name:          orders-rw
Namespace:     db
Address:       10.0.10.200
Role:          primary
Cluster:       orders (Patroni; leader lock: ConfigMap orders-leader)
Provider:      oci, subnet ocid1.subnet.oc1.phx.main
Generation:    2 (status observed 2: up to date)
Leader:        pg-1 on worker-2 (10.0.10.12)
Desired node:  worker-2
Drain node:    <none>
Assigned node: worker-2
Cloud:         interface ocid1.vnic.oc1.phx.node2, private IP ocid1.privateip.oc1.phx.vip, created by pgvip, assigned at 2026-03-01T11:54:30.120Z
Conditions:
  TYPE                STATUS   REASON               LAST-TRANSITION        MESSAGE
  Ready               True     Ready                2026-03-01T11:00:00Z   the address is on the confirmed member's node
  LeaderConfirmed     True     LeaderConfirmed      2026-03-01T11:00:00Z   pg-1 confirmed
  CloudAssigned       True     Assigned             2026-03-01T11:00:00Z   on worker-2's VNIC
  AddressConfigured   True     Announced            2026-03-01T11:00:00Z   announced on worker-2
  DataPathVerified    True     Verified             2026-03-01T11:00:00Z   reached pg-1
  FailoverReady       True     AllCandidatesReady   2026-03-01T11:00:00Z   3 candidate node(s)
Last failover:
  From:        worker-1
  To:          worker-2
  At:          2026-03-01T11:54:30Z (5m30s ago)
  Total:       1234 ms
  Decide:      300 ms
    promotion: 120 ms (part of decide)
  Cloud move:  700 ms
  Announce:    34 ms
  Report:      12 ms
  Verify:      200 ms
Nodes:
  NODE       CONFIGURED   INTERFACE   ANNOUNCED-FOR              UPDATED                LAST-ERROR
  worker-2   true         ens3        2026-03-01T11:54:30.120Z   2026-03-01T11:59:00Z   <none>
";
    assert_eq!(got, want, "\n{got}");
}

#[test]
fn detail_without_status_and_with_a_stale_one() {
    let got = detail(&new_label_vip(), now());
    for line in [
        "Cluster:       pods application=spilo,cluster-name=billing (primary: spilo-role=master)",
        "Generation:    1 (no status observed yet)",
        "Leader:        <none> (no member confirmed)",
        "  none reported yet (the controller has not written a status)",
        "Last failover: <none>",
        "Nodes: <none>",
    ] {
        assert!(got.contains(line), "missing {line:?} in\n{got}");
    }
    let mut v = ready_vip();
    v.metadata.generation = Some(3);
    assert!(detail(&v, now()).contains(
        "Generation:    3 (status observed 2: the controller has not acted on the latest spec yet)"
    ));
}

#[test]
fn ages_as_kubectl_prints_them() {
    for (secs, want) in [
        (-5, "<invalid>"),
        (-1, "0s"),
        (0, "0s"),
        (119, "119s"),
        (120, "2m"),
        (330, "5m30s"),
        (600, "10m"),
        (179 * 60, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 20 * 60, "3h20m"),
        (30 * 3600, "30h"),
        (3 * 86400 + 5 * 3600, "3d5h"),
        (40 * 86400, "40d"),
        (2 * 365 * 86400 + 10 * 86400, "2y10d"),
        (9 * 365 * 86400, "9y"),
    ] {
        assert_eq!(human_age(secs), want, "{secs}s");
    }
    assert_eq!(age_since("not a time", now()), "<invalid>");
    assert_eq!(age_since("2026-03-01T13:00:00+01:00", now()), "0s");
}

#[test]
fn columns_pad_by_the_widest_cell() {
    let rows = vec![
        vec!["A".to_string(), "BB".to_string(), "C".to_string()],
        vec!["aaaa".to_string(), "b".to_string(), String::new()],
    ];
    assert_eq!(columns(&rows), "A      BB   C\naaaa   b\n");
}
