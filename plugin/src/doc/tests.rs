//! The guide against the controller: every reason the controller can set has a row in its
//! condition's section of the embedded guide, with a fix. The reasons are read from the
//! controller's own sources, so a new reason without a guide entry fails here.
use super::*;
use crate::why::lookup;

/// The controller's reason constants, read from its source.
const CONDITIONS_RS: &str = include_str!("../../../controller/src/conditions.rs");
const READINESS_RS: &str = include_str!("../../../controller/src/readiness.rs");

/// `(condition, reason)` for each `pub const X: &str = ...;` inside `pub mod reason { … }` of
/// `src`. In `conditions.rs`, `// <Condition>` comment lines head each group; `default` applies
/// where no such line precedes. Values naming a `pgvip_api::condition` constant are resolved.
fn reasons_in(src: &str, default: Option<&str>) -> Vec<(String, String)> {
    let body = src
        .split_once("pub mod reason {")
        .map(|(_, b)| b)
        .expect("a `pub mod reason` block");
    let body = &body[..body.find("\n}").expect("end of `pub mod reason`")];
    let mut group = default.map(str::to_string);
    let mut out = vec![];
    for line in body.lines().map(str::trim) {
        if let Some(c) = line.strip_prefix("// ") {
            if c.chars().all(char::is_alphanumeric) {
                group = Some(c.to_string());
            }
            continue;
        }
        let Some(rest) = line.strip_prefix("pub const ") else {
            continue;
        };
        let value = rest
            .split_once('=')
            .expect("a constant with a value")
            .1
            .trim()
            .trim_end_matches(';');
        let reason = match value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            Some(lit) => lit.to_string(),
            None => match value {
                "pgvip_api::condition::CLOUD_MOVE_FAILED" => {
                    pgvip_api::condition::CLOUD_MOVE_FAILED.to_string()
                }
                other => panic!("cannot resolve reason value {other}"),
            },
        };
        let cond = group.clone().expect("a condition group for every reason");
        out.push((cond, reason));
    }
    out
}

fn controller_reasons() -> Vec<(String, String)> {
    let mut all = reasons_in(CONDITIONS_RS, None);
    all.extend(reasons_in(READINESS_RS, Some("FailoverReady")));
    all
}

#[test]
fn the_reason_lists_are_read_from_the_controller() {
    let all = controller_reasons();
    assert!(
        all.len() >= 40,
        "only {} reasons parsed: {all:?}",
        all.len()
    );
    for (cond, reason) in [
        ("LeaderConfirmed", "NoLeaderLock"),
        ("LeaderConfirmed", "AddressConflict"),
        ("CloudAssigned", "CloudMoveFailed"),
        ("AddressConfigured", "AddressWithheld"),
        ("DataPathVerified", "VerificationFailed"),
        ("Ready", "Deleting"),
        ("FailoverReady", "NoVnicInSubnet"),
        ("FailoverReady", "NoCandidates"),
    ] {
        assert!(
            all.iter().any(|(c, r)| c == cond && r == reason),
            "{cond}/{reason} not among the parsed reasons"
        );
    }
}

#[test]
fn every_controller_reason_has_a_row_in_its_conditions_section() {
    let doc = Doc::embedded();
    let mut missing = vec![];
    for (cond, reason) in controller_reasons() {
        match doc.reason(&cond, &reason) {
            Some(e) => {
                assert_eq!(e.section.condition.as_deref(), Some(cond.as_str()));
                // A row says what to do, or `—` where nothing is to be done (`Deleting`).
                let fix = e.row.cell("fix").unwrap_or("");
                assert!(!fix.is_empty(), "{cond}/{reason}: empty fix cell");
            }
            None => missing.push(format!("{cond}/{reason}")),
        }
    }
    assert!(
        missing.is_empty(),
        "reasons the controller sets without a row in {DOC_PATH}: {missing:?}"
    );
}

#[test]
fn every_component_reason_resolves_on_ready_too() {
    // Ready carries the first failing component's reason, its message prefixed by the type.
    let doc = Doc::embedded();
    for (cond, reason) in controller_reasons() {
        if cond == "FailoverReady" || cond == "Ready" {
            continue;
        }
        let e = lookup(doc, "Ready", &reason, &format!("{cond}: something"))
            .unwrap_or_else(|| panic!("Ready/{reason} from {cond} not found"));
        assert_eq!(e.section.condition.as_deref(), Some(cond.as_str()));
    }
    let e = lookup(doc, "Ready", "Unknown", "LeaderConfirmed not evaluated yet").unwrap();
    assert_eq!(e.section.condition.as_deref(), Some("Ready"));
}

#[test]
fn sections_anchors_and_conditions() {
    let doc = Doc::embedded();
    for c in [
        "LeaderConfirmed",
        "CloudAssigned",
        "AddressConfigured",
        "DataPathVerified",
        "Ready",
        "FailoverReady",
    ] {
        let s = doc.condition_section(c).expect(c);
        assert_eq!(s.anchor, format!("condition-{}", c.to_lowercase()));
    }
    let oci = doc
        .sections
        .iter()
        .find(|s| s.title == "OCI error categories")
        .unwrap();
    assert_eq!(oci.level, 3);
    assert_eq!(oci.condition.as_deref(), Some("CloudAssigned"));
    assert_eq!(oci.anchor, "oci-error-categories");
    let symptoms = doc
        .sections
        .iter()
        .find(|s| s.title == "VIP unreachable after failover")
        .unwrap();
    assert_eq!(symptoms.condition, None);
    assert_eq!(anchor("401 NotAuthenticated"), "401-notauthenticated");
}

#[test]
fn same_reason_differs_by_condition() {
    let doc = Doc::embedded();
    let leader = doc.reason("LeaderConfirmed", "RestApiUnreachable").unwrap();
    let failover = doc.reason("FailoverReady", "RestApiUnreachable").unwrap();
    assert_ne!(leader.row.fix(), failover.row.fix());
    assert_eq!(
        failover.reference(),
        "docs/troubleshooting.md#condition-failoverready"
    );
}

#[test]
fn cloud_categories_follow_the_provider() {
    let doc = Doc::embedded();
    let msg = "moving the address to worker-2 failed (throttled): 429 TooManyRequests";
    let oci = doc.details("CloudAssigned", msg, Some("oci"));
    assert_eq!(oci.len(), 1, "{oci:?}");
    assert_eq!(oci[0].key, "throttled");
    assert_eq!(oci[0].section.title, "OCI error categories");
    assert!(oci[0].row.fix().unwrap().contains("oci.rateLimit"));
    let aws = doc.details("CloudAssigned", msg, Some("aws"));
    assert_eq!(aws.len(), 1, "{aws:?}");
    assert_eq!(aws[0].section.title, "AWS error categories");
    assert!(aws[0].row.fix().unwrap().contains("aws.rateLimit"));
    // Two keys in one cell.
    let t = doc.details("CloudAssigned", "x failed (transport): tls", Some("oci"));
    assert_eq!(t.len(), 1);
    assert_eq!(t[0].key, "transport");
    assert!(doc
        .details("CloudAssigned", "no category here", Some("oci"))
        .is_empty());
}

#[test]
fn agent_errors_match_the_quoted_text() {
    let doc = Doc::embedded();
    let msg = "worker-2: no interface has a connected subnet containing 10.0.10.200; set spec.announce.interface";
    let d = doc.details("AddressConfigured", msg, Some("oci"));
    assert_eq!(d.len(), 1, "{d:?}");
    assert_eq!(d[0].row.table_kind(), Some("error"));
    assert!(d[0].row.fix().unwrap().contains("spec.announce.interface"));
    assert!(doc
        .details("AddressConfigured", "the agent did not report", None)
        .is_empty());
}

#[test]
fn cells_render_for_a_terminal() {
    assert_eq!(
        plain("See [VIP unreachable after failover](#vip-unreachable-after-failover)."),
        "See VIP unreachable after failover (docs/troubleshooting.md#vip-unreachable-after-failover)."
    );
    assert_eq!(
        plain("see [iam.md](iam.md#x) and **this**"),
        "see iam.md (docs/iam.md#x) and this"
    );
    assert_eq!(plain("a [b] c"), "a [b] c");
    assert_eq!(split_row("| `a|b` | c \\| d |"), vec!["`a|b`", "c | d"]);
}

#[test]
fn parses_a_small_document() {
    let md = "# T\n\n## Condition `X`\n\n| reason | status | fix |\n|---|---|---|\n| `R1` | False | do **this** |\n| `R2` / `R3` | True | — |\n\n```\n| not | a | table |\n```\n\n### Sub\n\n| category | fix |\n|---|---|\n| `c` | retry |\n\n## Other\n";
    let doc = Doc::parse(md);
    let r1 = doc.reason("X", "R1").unwrap();
    assert_eq!(r1.row.fix().as_deref(), Some("do this"));
    assert!(doc.reason("X", "R3").unwrap().row.fix().is_none());
    assert!(doc.reason("Other", "R1").is_none());
    let d = doc.details("X", "failed (c): boom", None);
    assert_eq!(d.len(), 1);
    assert_eq!(d[0].row.fix().as_deref(), Some("retry"));
    assert_eq!(doc.condition_section("X").unwrap().tables.len(), 1);
}
