//! `status` output, pure: PostgresVips in, text out. The current time is a parameter, so every
//! output is reproducible in tests.
//!
//! Data flow: [`crate::run`] fetches objects and calls [`status_table`] (one row per
//! PostgresVip) or [`detail`] (one PostgresVip: spec summary, generations, placement,
//! conditions, last failover with its phases, node reports); both lay columns out with
//! [`columns`], as kubectl does (left-aligned, three spaces apart).

use chrono::{DateTime, Utc};
use pgvip_api::{condition, Condition, PostgresVip, PostgresVipSpec, VipRole};

/// Shown where a value is absent, as in kubectl's custom columns.
pub const NONE: &str = "<none>";

/// The status table: NAMESPACE (with `all_namespaces`), NAME, ADDRESS, CLUSTER, LEADER, NODE,
/// CLOUD, READY, FAILOVER-READY, DATAPATH, AGE-OF-LAST-FAILOVER.
pub fn status_table(vips: &[PostgresVip], all_namespaces: bool, now: DateTime<Utc>) -> String {
    let mut header = vec![
        "NAME",
        "ADDRESS",
        "CLUSTER",
        "LEADER",
        "NODE",
        "CLOUD",
        "READY",
        "FAILOVER-READY",
        "DATAPATH",
        "AGE-OF-LAST-FAILOVER",
    ];
    if all_namespaces {
        header.insert(0, "NAMESPACE");
    }
    let mut rows = vec![header.into_iter().map(String::from).collect::<Vec<_>>()];
    for v in vips {
        let st = v.status.clone().unwrap_or_default();
        let mut row = vec![
            or_none(v.metadata.name.clone()),
            v.spec.address.clone(),
            cluster(&v.spec),
            or_none(st.leader.as_ref().map(|l| l.pod.clone())),
            or_none(st.assigned_node.clone()),
            or_none(st.cloud.as_ref().and_then(|c| c.vnic_id.clone())),
            condition_status(&st.conditions, condition::READY),
            condition_status(&st.conditions, condition::FAILOVER_READY),
            condition_status(&st.conditions, condition::DATA_PATH_VERIFIED),
            or_none(st.last_failover.as_ref().map(|f| age_since(&f.at, now))),
        ];
        if all_namespaces {
            row.insert(0, or_none(v.metadata.namespace.clone()));
        }
        rows.push(row);
    }
    columns(&rows)
}

/// The detailed view of one PostgresVip.
pub fn detail(v: &PostgresVip, now: DateTime<Utc>) -> String {
    let st = v.status.clone().unwrap_or_default();
    let mut out = String::new();
    let mut field = |k: &str, val: String| out.push_str(&format!("{:<15}{val}\n", format!("{k}:")));
    field("Name", or_none(v.metadata.name.clone()));
    field("Namespace", or_none(v.metadata.namespace.clone()));
    field("Address", v.spec.address.clone());
    field(
        "Role",
        match v.spec.role {
            VipRole::Primary => "primary".into(),
            VipRole::Replica => "replica".into(),
        },
    );
    field("Cluster", cluster_detail(&v.spec));
    field(
        "Provider",
        match (v.spec.provider.subnet(), crate::why::provider_key(v)) {
            (Some((kind, subnet)), _) => format!("{kind}, subnet {subnet}"),
            (None, Some(kind)) => kind,
            (None, None) => "none set".into(),
        },
    );
    field("Generation", generations(v));
    field(
        "Leader",
        match &st.leader {
            Some(l) => format!("{} on {} ({})", l.pod, l.node, l.pod_ip),
            None => format!("{NONE} (no member confirmed)"),
        },
    );
    field("Desired node", or_none(st.desired_node.clone()));
    field("Drain node", or_none(st.drain_node.clone()));
    field("Assigned node", or_none(st.assigned_node.clone()));
    field(
        "Cloud",
        match &st.cloud {
            Some(c) => {
                let mut parts = vec![];
                parts.push(format!(
                    "interface {}",
                    c.vnic_id.as_deref().unwrap_or(NONE)
                ));
                parts.push(format!(
                    "private IP {}",
                    c.private_ip_id.as_deref().unwrap_or(NONE)
                ));
                if c.created_by_pgvip {
                    parts.push("created by pgvip".into());
                }
                if let Some(at) = &c.assigned_at {
                    parts.push(format!("assigned at {at}"));
                }
                parts.join(", ")
            }
            None => NONE.into(),
        },
    );

    out.push_str("Conditions:\n");
    if st.conditions.is_empty() {
        out.push_str("  none reported yet (the controller has not written a status)\n");
    } else {
        let mut rows = vec![["TYPE", "STATUS", "REASON", "LAST-TRANSITION", "MESSAGE"]
            .map(String::from)
            .to_vec()];
        for c in &st.conditions {
            rows.push(vec![
                c.type_.clone(),
                c.status.clone(),
                c.reason.clone(),
                c.last_transition_time.clone(),
                c.message.clone(),
            ]);
        }
        out.push_str(&indent(&columns(&rows)));
    }

    out.push_str("Last failover:");
    match &st.last_failover {
        None => out.push_str(&format!(" {NONE}\n")),
        Some(f) => {
            out.push('\n');
            let p = &f.phases;
            let lines = [
                ("From", or_none(f.from.clone())),
                ("To", f.to.clone()),
                ("At", format!("{} ({} ago)", f.at, age_since(&f.at, now))),
                ("Total", format!("{} ms", f.duration_millis)),
                ("Decide", format!("{} ms", p.decide_millis)),
                (
                    "  promotion",
                    format!("{} ms (part of decide)", p.promotion_millis),
                ),
                ("Cloud move", format!("{} ms", p.cloud_millis)),
                ("Announce", format!("{} ms", p.announce_millis)),
                ("Report", format!("{} ms", p.report_millis)),
                ("Verify", format!("{} ms", p.verify_millis)),
            ];
            for (k, val) in lines {
                out.push_str(&format!("  {:<13}{val}\n", format!("{k}:")));
            }
        }
    }

    out.push_str("Nodes:");
    if st.nodes.is_empty() {
        out.push_str(&format!(" {NONE}\n"));
    } else {
        out.push('\n');
        let mut rows = vec![[
            "NODE",
            "CONFIGURED",
            "INTERFACE",
            "ANNOUNCED-FOR",
            "UPDATED",
            "LAST-ERROR",
        ]
        .map(String::from)
        .to_vec()];
        for n in &st.nodes {
            rows.push(vec![
                n.node.clone(),
                n.address_configured.to_string(),
                or_none(n.interface.clone()),
                or_none(n.announced_for.clone()),
                n.updated_at.clone(),
                or_none(n.last_error.clone()),
            ]);
        }
        out.push_str(&indent(&columns(&rows)));
    }
    out
}

/// `metadata.generation` against `status.observedGeneration`.
fn generations(v: &PostgresVip) -> String {
    let generation = v.metadata.generation;
    let observed = v.status.as_ref().and_then(|s| s.observed_generation);
    match (generation, observed) {
        (Some(g), Some(o)) if o >= g => format!("{g} (status observed {o}: up to date)"),
        (Some(g), Some(o)) => format!(
            "{g} (status observed {o}: the controller has not acted on the latest spec yet)"
        ),
        (Some(g), None) => format!("{g} (no status observed yet)"),
        (None, Some(o)) => format!("{NONE} (status observed {o})"),
        (None, None) => NONE.into(),
    }
}

/// The CLUSTER column: the Patroni scope, or the label source's `matchLabels`.
fn cluster(spec: &PostgresVipSpec) -> String {
    match (&spec.patroni, &spec.labels) {
        (Some(p), _) => p.scope.clone(),
        (None, Some(l)) => l
            .match_labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
        (None, None) => NONE.into(),
    }
}

fn cluster_detail(spec: &PostgresVipSpec) -> String {
    match (&spec.patroni, &spec.labels) {
        (Some(p), _) => {
            let lock = if p.use_endpoints {
                format!("Endpoints {}", p.scope)
            } else {
                format!("ConfigMap {}-leader", p.scope)
            };
            format!("{} (Patroni; leader lock: {lock})", p.scope)
        }
        (None, Some(l)) => format!(
            "pods {} (primary: {}={})",
            cluster(spec),
            l.role_label,
            l.primary_value
        ),
        (None, None) => NONE.into(),
    }
}

/// The status of condition `type_`, or [`NONE`].
fn condition_status(conds: &[Condition], type_: &str) -> String {
    conds
        .iter()
        .find(|c| c.type_ == type_)
        .map(|c| c.status.clone())
        .unwrap_or_else(|| NONE.into())
}

fn or_none(v: Option<String>) -> String {
    v.filter(|s| !s.is_empty()).unwrap_or_else(|| NONE.into())
}

/// How long ago the RFC 3339 time `at` was, as kubectl prints ages; `<invalid>` when `at` does
/// not parse.
pub fn age_since(at: &str, now: DateTime<Utc>) -> String {
    match DateTime::parse_from_rfc3339(at) {
        Ok(t) => human_age((now - t.with_timezone(&Utc)).num_seconds()),
        Err(_) => "<invalid>".into(),
    }
}

/// kubectl's `HumanDuration`: `45s`, `5m30s`, `42m`, `3h20m`, `30h`, `3d5h`, `40d`, `2y10d`.
pub fn human_age(secs: i64) -> String {
    if secs < -1 {
        return "<invalid>".into();
    }
    let s = secs.max(0);
    let (m, h) = (s / 60, s / 3600);
    let d = h / 24;
    if s < 120 {
        format!("{s}s")
    } else if m < 10 {
        match s % 60 {
            0 => format!("{m}m"),
            r => format!("{m}m{r}s"),
        }
    } else if m < 180 {
        format!("{m}m")
    } else if h < 8 {
        match m % 60 {
            0 => format!("{h}h"),
            r => format!("{h}h{r}m"),
        }
    } else if h < 48 {
        format!("{h}h")
    } else if h < 24 * 8 {
        match h % 24 {
            0 => format!("{d}d"),
            r => format!("{d}d{r}h"),
        }
    } else if d < 365 * 2 {
        format!("{d}d")
    } else if d < 365 * 8 {
        match d % 365 {
            0 => format!("{}y", d / 365),
            r => format!("{}y{r}d", d / 365),
        }
    } else {
        format!("{}y", d / 365)
    }
}

/// Rows laid out in left-aligned columns three spaces apart, without trailing spaces.
pub fn columns(rows: &[Vec<String>]) -> String {
    let n = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..n)
        .map(|i| {
            rows.iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i] - cell.chars().count() + 3;
                line.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn indent(text: &str) -> String {
    text.lines().map(|l| format!("  {l}\n")).collect()
}

#[cfg(test)]
mod tests;
