//! Serde round trips, defaults, and the generated schema's validation rules.
use super::*;
use serde_json::json;

fn minimal() -> serde_json::Value {
    json!({
        "address": "10.0.1.100",
        "patroni": {"scope": "orders"},
        "provider": {"oci": {"subnetId": "ocid1.subnet.oc1.phx.aaaa"}}
    })
}

#[test]
fn defaults_fill_in() {
    let spec: PostgresVipSpec = serde_json::from_value(minimal()).unwrap();
    assert_eq!(spec.role, VipRole::Primary);
    let p = spec.patroni.unwrap();
    assert!(!p.use_endpoints);
    assert_eq!(p.rest_api.port, 8008);
    assert_eq!(p.rest_api.scheme, Scheme::Http);
    assert_eq!(spec.announce.garp_count, 3);
    assert_eq!(spec.announce.garp_interval_millis, 500);
    assert_eq!(spec.announce.interface, None);
}

#[test]
fn spec_round_trips() {
    let v = json!({
        "address": "fd00::64",
        "role": "replica",
        "patroni": {"scope": "orders", "useEndpoints": true,
                    "restApi": {"port": 8443, "scheme": "https", "caSecretRef": {"name": "ca", "key": "ca.crt"}}},
        "provider": {"oci": {"subnetId": "ocid1.subnet.oc1.phx.aaaa"}},
        "announce": {"garpCount": 5, "garpIntervalMillis": 100, "interface": "ens3"}
    });
    let spec: PostgresVipSpec = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(serde_json::to_value(&spec).unwrap(), v);
}

#[test]
fn unknown_role_is_a_deserialize_error() {
    let mut v = minimal();
    v["role"] = json!("leader");
    assert!(serde_json::from_value::<PostgresVipSpec>(v).is_err());
}

#[test]
fn status_round_trips_and_omits_empty() {
    let empty = serde_json::to_value(PostgresVipStatus::default()).unwrap();
    assert_eq!(
        empty,
        json!({}),
        "controller applies must not claim nodes or conditions it lacks"
    );
    let v = json!({
        "observedGeneration": 4,
        "conditions": [{"type": "Ready", "status": "True", "reason": "Verified", "message": "ok",
                        "lastTransitionTime": "2026-01-01T00:00:00Z", "observedGeneration": 4}],
        "leader": {"pod": "orders-1", "node": "worker-2", "podIP": "10.0.10.7"},
        "desiredNode": "worker-2",
        "assignedNode": "worker-2",
        "cloud": {"vnicId": "ocid1.vnic.x", "privateIpId": "ocid1.privateip.x", "createdByPgvip": false,
                  "assignedAt": "2026-01-01T00:00:00.123Z"},
        "lastFailover": {"from": "worker-1", "to": "worker-2", "at": "2026-01-01T00:00:00Z", "durationMillis": 842,
                         "phases": {"decideMillis": 10, "promotionMillis": 6, "cloudMillis": 800, "announceMillis": 12, "reportMillis": 3, "verifyMillis": 20}},
        "nodes": [{"node": "worker-2", "addressConfigured": true, "interface": "ens3",
                   "announcedFor": "2026-01-01T00:00:00.123Z", "announcedAt": "2026-01-01T00:00:00.2Z",
                   "updatedAt": "2026-01-01T00:00:00.2Z"}]
    });
    let st: PostgresVipStatus = serde_json::from_value(v.clone()).unwrap();
    assert_eq!(serde_json::to_value(&st).unwrap(), v);
    // A record written before promotionMillis and reportMillis existed still reads, as 0.
    let old: FailoverPhases = serde_json::from_value(
        json!({"decideMillis": 10, "cloudMillis": 800, "announceMillis": 12, "verifyMillis": 20}),
    )
    .unwrap();
    assert_eq!((old.promotion_millis, old.report_millis), (0, 0));
    let names: Vec<&str> = st
        .last_failover
        .map(|f| f.phases.named().map(|(n, _)| n).to_vec())
        .unwrap_or_default();
    assert_eq!(
        names,
        [
            "decide",
            "promotion",
            "cloud",
            "announce",
            "report",
            "verify"
        ]
    );
}

fn schema() -> serde_json::Value {
    let crd = PostgresVip::crd();
    serde_json::to_value(&crd.spec.versions[0].schema).unwrap()["openAPIV3Schema"].clone()
}

#[test]
fn schema_carries_validation() {
    let s = schema();
    let spec = &s["properties"]["spec"];
    let rules = spec["x-kubernetes-validations"].to_string();
    assert!(
        rules.contains("has(self.patroni) != has(self.labels)"),
        "{rules}"
    );
    assert!(spec["properties"]["address"]["x-kubernetes-validations"]
        .to_string()
        .contains("isIP(self)"));
    assert_eq!(
        spec["properties"]["role"]["enum"],
        json!(["primary", "replica"])
    );
    let port = &spec["properties"]["patroni"]["properties"]["restApi"]["properties"]["port"];
    assert_eq!(
        (port["minimum"].as_f64(), port["maximum"].as_f64()),
        (Some(1.0), Some(65535.0))
    );
    let garp = &spec["properties"]["announce"]["properties"]["garpCount"];
    assert_eq!(
        (garp["minimum"].as_f64(), garp["maximum"].as_f64()),
        (Some(1.0), Some(20.0))
    );
    let nodes = &s["properties"]["status"]["properties"]["nodes"];
    assert_eq!(nodes["x-kubernetes-list-type"], "map");
    assert_eq!(nodes["x-kubernetes-list-map-keys"], json!(["node"]));
}

#[test]
fn crd_metadata() {
    let crd = PostgresVip::crd();
    assert_eq!(crd.metadata.name.as_deref(), Some("postgresvips.pgvip.dev"));
    assert_eq!(crd.spec.names.short_names, Some(vec!["pgvip".to_string()]));
    let v = &crd.spec.versions[0];
    assert!(v
        .subresources
        .as_ref()
        .and_then(|s| s.status.as_ref())
        .is_some());
    let cols: Vec<_> = v
        .additional_printer_columns
        .iter()
        .flatten()
        .map(|c| c.name.as_str())
        .collect();
    assert_eq!(cols, ["Address", "Role", "Leader", "Node", "Ready", "Age"]);
}

#[test]
fn every_field_is_documented() {
    fn walk(path: &str, v: &serde_json::Value, missing: &mut Vec<String>) {
        if let Some(props) = v.get("properties").and_then(|p| p.as_object()) {
            for (k, child) in props {
                let p = format!("{path}.{k}");
                if child.get("description").is_none() && !path.is_empty() {
                    missing.push(p.clone());
                }
                walk(&p, child, missing);
                if let Some(items) = child.get("items") {
                    walk(&p, items, missing);
                }
            }
        }
    }
    for s in [schema(), drill_schema()] {
        let mut missing = vec![];
        walk("", &s["properties"]["spec"], &mut missing);
        walk("", &s["properties"]["status"], &mut missing);
        assert!(missing.is_empty(), "undocumented fields: {missing:?}");
    }
}

fn drill_schema() -> serde_json::Value {
    let crd = PostgresVipDrill::crd();
    serde_json::to_value(&crd.spec.versions[0].schema).unwrap()["openAPIV3Schema"].clone()
}

#[test]
fn drill_spec_defaults_and_is_immutable() {
    let spec: PostgresVipDrillSpec =
        serde_json::from_value(json!({"vipName": "db", "maxOutageSeconds": 5})).unwrap();
    assert_eq!(spec.timeout_seconds, 60);
    assert_eq!(spec.candidate, None);
    assert_eq!(spec.probe, None);
    let probe: drill::DrillProbe = serde_json::from_value(json!({"secretName": "app"})).unwrap();
    assert_eq!(probe.port, 5432);
    let s = drill_schema();
    let spec = &s["properties"]["spec"];
    assert!(spec["x-kubernetes-validations"]
        .to_string()
        .contains("self == oldSelf"));
    assert_eq!(spec["required"], json!(["maxOutageSeconds", "vipName"]));
    let status = serde_json::to_value(PostgresVipDrillStatus::default()).unwrap();
    assert_eq!(status, json!({"phase": "Pending"}));
    let crd = PostgresVipDrill::crd();
    assert_eq!(
        crd.metadata.name.as_deref(),
        Some("postgresvipdrills.pgvip.dev")
    );
}

#[test]
fn exactly_one_provider_and_its_subnet() {
    let s = schema();
    let provider = &s["properties"]["spec"]["properties"]["provider"];
    assert!(provider["x-kubernetes-validations"]
        .to_string()
        .contains("[has(self.oci), has(self.aws), has(self.l2)].filter(x, x).size() == 1"));
    let aws_subnet = &provider["properties"]["aws"]["properties"]["subnetId"]["pattern"];
    assert_eq!(aws_subnet, "^subnet-([0-9a-f]{8}|[0-9a-f]{17})$");

    let mut v = minimal();
    v["provider"] = json!({"aws": {"subnetId": "subnet-0123456789abcdef0"}});
    let spec: PostgresVipSpec = serde_json::from_value(v).unwrap();
    assert_eq!(
        spec.provider.subnet(),
        Some(("aws", "subnet-0123456789abcdef0"))
    );
    assert_eq!(
        spec.provider.subnet_for("aws"),
        Some("subnet-0123456789abcdef0")
    );
    assert_eq!(spec.provider.subnet_for("oci"), None);
    let oci: PostgresVipSpec = serde_json::from_value(minimal()).unwrap();
    assert_eq!(
        oci.provider.subnet_for("oci"),
        Some("ocid1.subnet.oc1.phx.aaaa")
    );
    assert_eq!(ProviderSpec::default().subnet(), None);
    assert_eq!(oci.provider.kind(), Some("oci"));
    assert_eq!(spec.provider.kind(), Some("aws"));
    assert_eq!(ProviderSpec::default().kind(), None);

    let mut v = minimal();
    v["provider"] = json!({"l2": {}});
    let l2: PostgresVipSpec = serde_json::from_value(v).unwrap();
    assert_eq!(l2.provider.kind(), Some("l2"));
    assert_eq!(l2.provider.subnet(), None);
    assert_eq!(provider["properties"]["l2"]["type"], "object");
}
