//! The chart's monitoring files as they ship: the alerting rules of the PrometheusRule and the
//! Grafana dashboard of the dashboards ConfigMap. Shared by the static checks
//! (`tests/chart_static/`) and the smoke suite's chart checks, which compare `helm template`'s
//! output with what this module produces, so both test the same text.
//!
//! Data flow: `charts/pgvip/rules/pgvip.rules.yaml` and the values the template substitutes
//! go in; out comes the rules YAML from `groups:` on with its placeholders replaced, exactly as
//! `templates/prometheusrule.yaml` writes it under `spec`.

/// The rules file, relative to the repository root.
pub const RULES_FILE: &str = "charts/pgvip/rules/pgvip.rules.yaml";
/// The dashboard file, relative to the repository root.
pub const DASHBOARD_FILE: &str = "charts/pgvip/dashboards/pgvip.json";

/// The values `templates/prometheusrule.yaml` substitutes into the rules file.
pub struct RuleValues<'a> {
    /// Helm release name (the Services, hence the scrape jobs, are named after it).
    pub release: &'a str,
    /// Release namespace.
    pub namespace: &'a str,
    /// `metrics.prometheusRule.failoverObjectiveSeconds`, as Helm prints it.
    pub objective: &'a str,
    /// `metrics.prometheusRule.runbookBaseUrl`.
    pub runbook_base: &'a str,
}

/// The rules file from its `groups:` line on with every placeholder replaced, as the template
/// renders it; `None` when the file has no `groups:` line.
pub fn render_rules(file: &str, v: &RuleValues) -> Option<String> {
    let start = if file.starts_with("groups:") {
        0
    } else {
        file.find("\ngroups:")? + 1
    };
    let selector = |component: &str| {
        format!(
            "job=\"{}-{component}-metrics\",namespace=\"{}\"",
            v.release, v.namespace
        )
    };
    Some(
        file[start..]
            .replace("__CONTROLLER__", &selector("controller"))
            .replace("__AGENT__", &selector("node-agent"))
            .replace("__FAILOVER_OBJECTIVE_SECONDS__", v.objective)
            .replace("__RUNBOOK_BASE_URL__", v.runbook_base.trim_end_matches('/')),
    )
}
