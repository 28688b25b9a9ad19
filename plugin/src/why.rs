//! `why`, pure: for each condition of a PostgresVip that is not True, its reason and message
//! and the fix the troubleshooting guide gives for that reason.
//!
//! Data flow: a [`PostgresVip`] and the parsed guide ([`Doc`]) → [`diagnose`] walks the
//! conditions in the order the guide says to fix them (Ready, then its components
//! LeaderConfirmed → CloudAssigned → AddressConfigured → DataPathVerified, then FailoverReady,
//! then any other) → [`lookup`] finds each reason's row → a [`Diagnosis`]: the text and whether
//! everything is True (the exit code).

use pgvip_api::{condition, Condition, PostgresVip};

use crate::doc::{Doc, ReasonEntry, DOC_PATH};

/// The condition types in the order `why` reports them; others follow in status order.
pub const ORDER: [&str; 6] = [
    condition::READY,
    condition::LEADER_CONFIRMED,
    condition::CLOUD_ASSIGNED,
    condition::ADDRESS_CONFIGURED,
    condition::DATA_PATH_VERIFIED,
    condition::FAILOVER_READY,
];

/// Condition types `why` expects on every PostgresVip; a missing one is reported as not True.
pub const EXPECTED: [&str; 2] = [condition::READY, condition::FAILOVER_READY];

/// What `why` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Diagnosis {
    /// The text to print.
    pub text: String,
    /// True when every condition is True and none expected is missing.
    pub all_true: bool,
}

/// The guide's row for `reason` on condition `type_`: in that condition's section; for
/// `Ready`, also in the section of the component its message names (`Ready` repeats the first
/// failing component's reason as `<Type>: <message>`); else in any condition's section.
pub fn lookup<'a>(
    doc: &'a Doc,
    type_: &str,
    reason: &str,
    message: &str,
) -> Option<ReasonEntry<'a>> {
    doc.reason(type_, reason)
        .or_else(|| {
            (type_ == condition::READY)
                .then(|| message.split_once(": "))
                .flatten()
                .and_then(|(component, _)| doc.reason(component, reason))
        })
        .or_else(|| doc.reason_anywhere(reason))
}

/// Explains every condition of `vip` that is not True.
pub fn diagnose(vip: &PostgresVip, doc: &Doc) -> Diagnosis {
    let key = format!(
        "{}/{}",
        vip.metadata.namespace.as_deref().unwrap_or(""),
        vip.metadata.name.as_deref().unwrap_or("")
    );
    let st = vip.status.clone().unwrap_or_default();
    let provider = provider_key(vip);
    let provider = provider.as_deref();
    let mut conds: Vec<&Condition> = ORDER
        .iter()
        .filter_map(|t| st.conditions.iter().find(|c| c.type_ == *t))
        .collect();
    conds.extend(
        st.conditions
            .iter()
            .filter(|c| !ORDER.contains(&c.type_.as_str())),
    );
    let missing: Vec<&str> = EXPECTED
        .into_iter()
        .filter(|t| !st.conditions.iter().any(|c| c.type_ == *t))
        .collect();
    let bad: Vec<&Condition> = conds
        .iter()
        .copied()
        .filter(|c| c.status != "True")
        .collect();

    let mut out = String::new();
    if bad.is_empty() && missing.is_empty() {
        let names: Vec<&str> = conds.iter().map(|c| c.type_.as_str()).collect();
        out.push_str(&format!(
            "{key}: all {} conditions are True ({})\n",
            names.len(),
            names.join(", ")
        ));
        out.push_str(&stale_note(vip));
        return Diagnosis {
            text: out,
            all_true: true,
        };
    }
    out.push_str(&format!(
        "{key}: {} of {} conditions not True\n",
        bad.len() + missing.len(),
        conds.len() + missing.len()
    ));
    out.push_str(&stale_note(vip));
    let ns = vip.metadata.namespace.as_deref().unwrap_or("");
    for t in &missing {
        out.push('\n');
        out.push_str(&format!("{t}: not reported\n"));
        let hint = if *t == condition::READY {
            format!("  the controller has not written this PostgresVip's status: is it running, and does it watch namespace {ns} (--namespaces)?\n")
        } else {
            "  the failover-readiness check has not run yet, or is switched off (--readiness-interval-seconds=0)\n".to_string()
        };
        out.push_str(&hint);
    }
    for c in &bad {
        out.push('\n');
        out.push_str(&explain(c, &bad, doc, provider));
    }
    Diagnosis {
        text: out,
        all_true: false,
    }
}

/// One condition that is not True: status, reason, message, then the fix (or where to find it).
fn explain(c: &Condition, bad: &[&Condition], doc: &Doc, provider: Option<&str>) -> String {
    let mut out = format!("{}: {} ({})\n", c.type_, c.status, c.reason);
    if !c.message.is_empty() {
        out.push_str(&format!("  message: {}\n", c.message));
    }
    // Ready repeats a failing component; point at it instead of printing the fix twice.
    if c.type_ == condition::READY {
        if let Some(comp) = bad.iter().find(|o| {
            o.type_ != c.type_
                && o.reason == c.reason
                && c.message.starts_with(&format!("{}: ", o.type_))
        }) {
            out.push_str(&format!(
                "  fix: see {} below (Ready reports the first component that is not True)\n",
                comp.type_
            ));
            return out;
        }
    }
    let Some(entry) = lookup(doc, &c.type_, &c.reason, &c.message) else {
        out.push_str(&format!(
            "  fix: {DOC_PATH} has no section for reason {}; the message above is what the controller says\n",
            c.reason
        ));
        return out;
    };
    match entry.row.fix() {
        Some(fix) => out.push_str(&format!("  fix: {fix}\n")),
        None => out.push_str("  fix: the guide lists no action for this reason\n"),
    }
    let section_condition = entry.section.condition.as_deref().unwrap_or(&c.type_);
    for d in doc.details(section_condition, &c.message, provider) {
        if let Some(fix) = d.row.fix() {
            let kind = d.row.table_kind().unwrap_or("detail");
            let within = if d.section.level > 2 {
                format!(" ({})", d.section.title)
            } else {
                String::new()
            };
            out.push_str(&format!("  fix for {kind} `{}`{within}: {fix}\n", d.key));
        }
    }
    out.push_str(&format!("  see: {}\n", entry.reference()));
    out
}

/// The key of the provider block that is set (`oci`, `aws`, …), read from its JSON form so a
/// provider this version does not know is named too.
pub fn provider_key(vip: &PostgresVip) -> Option<String> {
    match serde_json::to_value(&vip.spec.provider) {
        Ok(serde_json::Value::Object(m)) => m.keys().next().cloned(),
        _ => None,
    }
}

/// A note when the status describes an older generation than the spec.
fn stale_note(vip: &PostgresVip) -> String {
    let observed = vip.status.as_ref().and_then(|s| s.observed_generation);
    match (vip.metadata.generation, observed) {
        (Some(g), Some(o)) if o < g => format!(
            "note: the status describes generation {o}, the spec is at {g}: the controller has not acted on the latest change yet\n"
        ),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests;
