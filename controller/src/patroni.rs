//! What Patroni writes, parsed: the leader lock's annotations, the dynamic configuration in the
//! `<scope>-config` object, and a member's REST answer (`GET /primary`, `/replica`).
//!
//! Data flow: watch events and REST bodies come in as strings and bytes; everything here is a
//! pure parser whose output feeds [`crate::decide`]. Garbage never panics: an unreadable value
//! degrades to "unknown" and the decision fails closed.

use std::collections::BTreeMap;

use serde::Deserialize;

/// Patroni's default leader TTL in seconds, used when neither the lock nor the config has one.
pub const DEFAULT_TTL_SECS: u64 = 30;

/// Annotations of the leader lock that together form the lock record. Patroni treats the lock
/// as renewed whenever this record changes, and so does pgvip.
const RECORD_KEYS: [&str; 5] = ["leader", "acquireTime", "ttl", "renewTime", "transitions"];

/// The annotation of `<scope>-config` holding the dynamic configuration (JSON).
pub const CONFIG_ANNOTATION: &str = "config";

/// True for the annotations pgvip reads from Patroni's objects (lock record and dynamic
/// config); the watch keeps only these.
pub fn is_read_annotation(key: &str) -> bool {
    key == CONFIG_ANNOTATION || RECORD_KEYS.contains(&key)
}

/// The leader lock record (`<scope>-leader` ConfigMap or `<scope>` Endpoints annotations).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LeaderRecord {
    /// The annotations that make up the record, verbatim.
    pub fields: BTreeMap<String, String>,
}

impl LeaderRecord {
    /// Extracts the record from an object's annotations.
    pub fn from_annotations(annotations: &BTreeMap<String, String>) -> Self {
        let fields = RECORD_KEYS
            .iter()
            .filter_map(|k| annotations.get(*k).map(|v| (k.to_string(), v.clone())))
            .collect();
        Self { fields }
    }

    /// The member holding the lock, if any (an empty value means none).
    pub fn leader(&self) -> Option<&str> {
        self.fields
            .get("leader")
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// Lock TTL in seconds: the record's `ttl`, else `fallback` (the dynamic config's ttl or
    /// Patroni's default). Zero and unparseable values fall back too, as in Patroni.
    pub fn ttl_secs(&self, fallback: u64) -> u64 {
        self.fields
            .get("ttl")
            .and_then(|v| v.trim().parse::<u64>().ok())
            .filter(|t| *t > 0)
            .unwrap_or(fallback)
    }

    /// The `renewTime` annotation, for messages.
    pub fn renew_time(&self) -> Option<&str> {
        self.fields.get("renewTime").map(String::as_str)
    }
}

/// The parts of Patroni's dynamic configuration pgvip acts on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DynamicConfig {
    /// Maintenance mode: Patroni does not fail over, so pgvip does not move the address either.
    pub pause: bool,
    /// The cluster replicates from another cluster; its leader is a standby leader and must
    /// never receive a write VIP.
    pub standby_cluster: bool,
    /// `ttl` of the cluster, used when the lock has no `ttl` annotation.
    pub ttl: Option<u64>,
}

/// Parses the `config` annotation of `<scope>-config`. `None` (no object or no annotation)
/// gives the defaults. An unreadable value is an error for the caller to log; Patroni itself
/// then runs with an empty dynamic config.
pub fn parse_dynamic_config(annotation: Option<&str>) -> Result<DynamicConfig, String> {
    let Some(raw) = annotation else {
        return Ok(DynamicConfig::default());
    };
    if raw.trim().is_empty() {
        return Ok(DynamicConfig::default());
    }
    let value: serde_json::Value =
        serde_json::from_str(raw).map_err(|e| format!("config annotation is not JSON: {e}"))?;
    let obj = value
        .as_object()
        .ok_or_else(|| "config annotation is not a JSON object".to_string())?;
    let pause = match obj.get("pause") {
        Some(serde_json::Value::Bool(b)) => *b,
        Some(serde_json::Value::String(s)) => {
            matches!(s.to_ascii_lowercase().as_str(), "true" | "on" | "yes" | "1")
        }
        _ => false,
    };
    let standby_cluster = match obj.get("standby_cluster") {
        None | Some(serde_json::Value::Null) => false,
        Some(serde_json::Value::Object(m)) => !m.is_empty(),
        Some(_) => true,
    };
    let ttl = obj.get("ttl").and_then(|v| match v {
        serde_json::Value::Number(n) => n.as_u64(),
        serde_json::Value::String(s) => s.trim().parse().ok(),
        _ => None,
    });
    Ok(DynamicConfig {
        pause,
        standby_cluster,
        ttl: ttl.filter(|t| *t > 0),
    })
}

/// A member's answer to a health endpoint, as far as pgvip reads it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemberStatus {
    /// `patroni.name`: the member (pod) name.
    pub name: Option<String>,
    /// `patroni.scope`: the cluster.
    pub scope: Option<String>,
    /// `role`: `primary` (4.x), `master` (3.x), `replica`, `standby_leader`...
    pub role: Option<String>,
    /// `state`: `running`, `streaming`, `starting`...
    pub state: Option<String>,
}

impl MemberStatus {
    /// True for the primary role in either spelling (`primary` in 4.x, `master` in 3.x).
    pub fn is_primary_role(&self) -> bool {
        matches!(self.role.as_deref(), Some("primary" | "master"))
    }

    /// True when the member says it is a replica.
    pub fn is_replica_role(&self) -> bool {
        self.role.as_deref() == Some("replica")
    }
}

#[derive(Deserialize)]
struct RawBody {
    role: Option<String>,
    state: Option<String>,
    patroni: Option<RawPatroni>,
}

#[derive(Deserialize)]
struct RawPatroni {
    name: Option<String>,
    scope: Option<String>,
}

/// Parses a Patroni health-endpoint body; `None` when it is not Patroni JSON.
pub fn parse_member_status(body: &[u8]) -> Option<MemberStatus> {
    let raw: RawBody = serde_json::from_slice(body).ok()?;
    let (name, scope) = raw
        .patroni
        .map(|p| (p.name, p.scope))
        .unwrap_or((None, None));
    Some(MemberStatus {
        name,
        scope,
        role: raw.role,
        state: raw.state,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ann(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn leader_record_keeps_only_lock_fields() {
        let a = ann(&[
            ("leader", "pg-0"),
            ("renewTime", "2024-01-01T00:00:00+00:00"),
            ("optime", "12345"),
            ("ttl", "20"),
        ]);
        let r = LeaderRecord::from_annotations(&a);
        assert_eq!(r.leader(), Some("pg-0"));
        assert_eq!(r.ttl_secs(30), 20);
        assert!(
            !r.fields.contains_key("optime"),
            "optime is not part of the lock record"
        );
    }

    #[test]
    fn ttl_falls_back_on_missing_zero_or_garbage() {
        for v in [None, Some("0"), Some("abc"), Some("")] {
            let mut a = ann(&[("leader", "pg-0")]);
            if let Some(v) = v {
                a.insert("ttl".into(), v.into());
            }
            assert_eq!(LeaderRecord::from_annotations(&a).ttl_secs(17), 17, "{v:?}");
        }
    }

    #[test]
    fn empty_leader_means_none() {
        let r = LeaderRecord::from_annotations(&ann(&[("leader", "")]));
        assert_eq!(r.leader(), None);
    }

    #[test]
    fn dynamic_config_variants() {
        assert_eq!(
            parse_dynamic_config(None).unwrap(),
            DynamicConfig::default()
        );
        let c = parse_dynamic_config(Some(r#"{"ttl":30,"loop_wait":10,"pause":true}"#)).unwrap();
        assert!(c.pause);
        assert!(!c.standby_cluster);
        assert_eq!(c.ttl, Some(30));
        let c = parse_dynamic_config(Some(
            r#"{"standby_cluster":{"host":"10.0.0.1","port":5432},"ttl":"25"}"#,
        ))
        .unwrap();
        assert!(c.standby_cluster);
        assert_eq!(c.ttl, Some(25));
        let c = parse_dynamic_config(Some(r#"{"standby_cluster":null,"pause":false}"#)).unwrap();
        assert!(!c.standby_cluster && !c.pause);
        assert!(parse_dynamic_config(Some("{not json")).is_err());
        assert!(parse_dynamic_config(Some("[1,2]")).is_err());
    }

    #[test]
    fn parses_patroni_3_primary_body() {
        let body = br#"{"state":"running","postmaster_start_time":"2023-05-01 10:00:00.0+00:00",
            "role":"master","server_version":150002,"xlog":{"location":67108864},"timeline":2,
            "dcs_last_seen":1682935200,"database_system_identifier":"7228",
            "patroni":{"version":"3.0.4","scope":"orders","name":"orders-0"}}"#;
        let s = parse_member_status(body).unwrap();
        assert!(s.is_primary_role());
        assert_eq!(s.name.as_deref(), Some("orders-0"));
        assert_eq!(s.scope.as_deref(), Some("orders"));
        assert_eq!(s.state.as_deref(), Some("running"));
    }

    #[test]
    fn parses_patroni_4_primary_and_replica_bodies() {
        let p = br#"{"state":"running","role":"primary","patroni":{"version":"4.0.4","scope":"demo","name":"demo-1"}}"#;
        let s = parse_member_status(p).unwrap();
        assert!(s.is_primary_role());
        let r = br#"{"state":"running","role":"replica","xlog":{"received_location":1,"replayed_location":1,"paused":false},"patroni":{"version":"4.0.4","scope":"demo","name":"demo-2"}}"#;
        let s = parse_member_status(r).unwrap();
        assert!(s.is_replica_role() && !s.is_primary_role());
        let sl = br#"{"state":"running","role":"standby_leader","patroni":{"scope":"demo","name":"demo-1"}}"#;
        assert!(!parse_member_status(sl).unwrap().is_primary_role());
    }

    #[test]
    fn non_patroni_bodies() {
        assert_eq!(parse_member_status(b"OK"), None);
        assert_eq!(parse_member_status(b""), None);
        let s = parse_member_status(b"{}").unwrap();
        assert_eq!(s, MemberStatus::default());
    }
}
