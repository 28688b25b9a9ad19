//! Static checks of the chart's monitoring files, the equivalent of `promtool check rules` (and
//! more) that needs no Prometheus, Grafana or testbed: it reads the files the chart ships.
//!
//! - the alerting rules (`charts/pgvip/rules/pgvip.rules.yaml`, rendered the way
//!   `templates/prometheusrule.yaml` renders them): every `expr` parses with `promql-parser`,
//!   every metric it reads is exported by the controller or the node-agent (names scanned from
//!   their sources), every alert has `for`, `labels.severity`, `annotations.summary`,
//!   `annotations.description` and `annotations.runbook_url`, and each runbook URL names a
//!   heading of docs/troubleshooting.md;
//! - the template replaces every placeholder the rules file uses, and loads the files;
//! - the dashboard (`charts/pgvip/dashboards/pgvip.json`) parses, has unique panel ids, queries
//!   only through the `${datasource}` variable, and its queries parse and read exported metrics;
//! - the failover objective the values schema accepts is a bucket boundary of the histogram.
//!
//! The smoke suite's chart checks (`tests/chart/mod.rs`) then prove that `helm template` renders
//! exactly these files.

#[path = "../chart/monitoring.rs"]
mod monitoring;

mod exported;
mod promql;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use monitoring::{render_rules, RuleValues, DASHBOARD_FILE, RULES_FILE};
use serde_json::Value as Json;
use serde_yaml::Value as Yaml;

/// The runbook base the rules are rendered with here; any URL would do.
const RUNBOOK_BASE: &str = "https://example.invalid/pgvip";
/// Severities the rules may use.
const SEVERITIES: &[&str] = &["critical", "warning", "info"];
/// Keys prometheus-operator's Rule accepts.
const RULE_KEYS: &[&str] = &[
    "alert",
    "record",
    "expr",
    "for",
    "keep_firing_for",
    "labels",
    "annotations",
];
/// Stand-ins for the dashboard's variables and Grafana's built-in ones, so queries parse.
const DASHBOARD_VARIABLES: &[(&str, &str)] = &[
    ("$__rate_interval", "2m"),
    ("$__interval", "1m"),
    ("$__range", "6h"),
    ("$namespace", "pgvip-system"),
    ("$release", "pgvip"),
    ("$vip", ".*"),
];

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The rules as the chart renders them with the default objective.
fn rules() -> Vec<serde_yaml::Mapping> {
    let text = render_rules(
        &read(RULES_FILE),
        &RuleValues {
            release: "pgvip",
            namespace: "pgvip-system",
            objective: "5",
            runbook_base: RUNBOOK_BASE,
        },
    )
    .expect("the rules file has a groups: line");
    let doc: Yaml = serde_yaml::from_str(&text).expect("rendered rules are YAML");
    let groups = doc["groups"].as_sequence().expect("groups is a list");
    assert!(!groups.is_empty(), "no rule groups");
    let mut out = vec![];
    for g in groups {
        assert!(
            g["name"].as_str().is_some(),
            "a group without a name: {g:?}"
        );
        for r in g["rules"].as_sequence().expect("a group's rules is a list") {
            out.push(r.as_mapping().expect("a rule is a mapping").clone());
        }
    }
    out
}

fn str_of<'a>(m: &'a serde_yaml::Mapping, path: &[&str]) -> Option<&'a str> {
    let mut v = m.get(path[0])?;
    for k in &path[1..] {
        v = v.get(*k)?;
    }
    v.as_str()
}

fn exported() -> BTreeSet<String> {
    let mut names = exported::exported_names(&repo()).expect("scanning the metric registrations");
    names.extend(promql::SCRAPE_METRICS.iter().map(|s| s.to_string()));
    names
}

/// GitHub's anchors of the headings of a Markdown document (outside code blocks).
fn anchors(md: &str) -> BTreeSet<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = BTreeSet::new();
    let mut fenced = false;
    for line in md.lines() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        let Some(title) = line.strip_prefix('#') else {
            continue;
        };
        if fenced {
            continue;
        }
        let title = title.trim_start_matches('#').trim();
        // The same anchors `kubectl pgvip why` links to.
        let slug = kubectl_pgvip::doc::anchor(title);
        let n = seen.entry(slug.clone()).or_insert(0);
        out.insert(if *n == 0 { slug } else { format!("{slug}-{n}") });
        *n += 1;
    }
    out
}

#[test]
fn the_source_scan_finds_the_exported_metrics() {
    let names = exported();
    for n in [
        "pgvip_leader",
        "pgvip_vips",
        "pgvip_failover_ready",
        "pgvip_cloud_call_errors_total",
        "pgvip_failover_duration_seconds_bucket",
        "pgvip_agent_fenced_addresses",
        "pgvip_agent_errors_total",
    ] {
        assert!(names.contains(n), "{n} not found in {names:?}");
    }
    assert!(!names.contains("pgvip_leader_total"), "{names:?}");
    assert!(
        !names.contains("pgvip_failover_duration_seconds"),
        "{names:?}"
    );
}

#[test]
fn every_alert_expression_parses_and_reads_exported_metrics() {
    let names = exported();
    let mut alerts = BTreeSet::new();
    for r in rules() {
        let alert = str_of(&r, &["alert"])
            .expect("every rule is an alert")
            .to_string();
        assert!(alerts.insert(alert.clone()), "alert {alert} defined twice");
        let expr = str_of(&r, &["expr"]).unwrap_or_else(|| panic!("{alert}: no expr"));
        let used = promql::metric_names(expr)
            .unwrap_or_else(|e| panic!("{alert}: expr does not parse: {e}\n{expr}"));
        let unknown: Vec<_> = used.difference(&names).collect();
        assert!(
            unknown.is_empty(),
            "{alert}: metrics nobody exports: {unknown:?}"
        );
    }
}

#[test]
fn every_alert_has_for_severity_summary_description_and_a_runbook_section() {
    let md = read("docs/troubleshooting.md");
    let headings = anchors(&md);
    for r in rules() {
        let alert = str_of(&r, &["alert"]).expect("every rule is an alert");
        for k in r.keys() {
            let k = k.as_str().unwrap_or_default();
            assert!(RULE_KEYS.contains(&k), "{alert}: unknown rule key {k:?}");
        }
        let f = str_of(&r, &["for"]).unwrap_or_else(|| panic!("{alert}: no `for`"));
        promql_parser::util::parse_duration(f)
            .unwrap_or_else(|e| panic!("{alert}: `for: {f}`: {e}"));
        let sev = str_of(&r, &["labels", "severity"])
            .unwrap_or_else(|| panic!("{alert}: no labels.severity"));
        assert!(SEVERITIES.contains(&sev), "{alert}: severity {sev:?}");
        for a in ["summary", "description", "runbook_url"] {
            let text = str_of(&r, &["annotations", a])
                .unwrap_or_else(|| panic!("{alert}: no annotations.{a}"));
            assert!(!text.trim().is_empty(), "{alert}: empty annotations.{a}");
            assert_eq!(
                text.matches("{{").count(),
                text.matches("}}").count(),
                "{alert}: unbalanced template in annotations.{a}"
            );
        }
        for m in ["labels", "annotations"] {
            for (k, v) in r[m].as_mapping().into_iter().flatten() {
                assert!(
                    k.as_str().is_some() && v.as_str().is_some(),
                    "{alert}: {m} must map strings to strings: {k:?}: {v:?}"
                );
            }
        }
        let url = str_of(&r, &["annotations", "runbook_url"]).unwrap_or_default();
        let rel = url
            .strip_prefix(&format!("{RUNBOOK_BASE}/"))
            .unwrap_or_else(|| panic!("{alert}: runbook_url {url} is not under the base"));
        let (path, anchor) = rel
            .split_once('#')
            .unwrap_or_else(|| panic!("{alert}: runbook_url {url} has no anchor"));
        assert_eq!(
            path, "docs/troubleshooting.md",
            "{alert}: runbook is not the troubleshooting guide"
        );
        assert_eq!(
            anchor,
            alert.to_lowercase(),
            "{alert}: runbook anchor is not the alert's own section"
        );
        assert!(
            headings.contains(anchor),
            "{alert}: docs/troubleshooting.md has no heading for #{anchor}"
        );
    }
}

#[test]
fn the_template_replaces_every_placeholder_and_loads_the_files() {
    let file = read(RULES_FILE);
    let template = read("charts/pgvip/templates/prometheusrule.yaml");
    let tokens = |s: &str| -> BTreeSet<String> {
        s.split(|c: char| !(c.is_ascii_uppercase() || c == '_'))
            .filter(|w| w.len() > 4 && w.starts_with("__") && w.ends_with("__"))
            .map(str::to_string)
            .collect()
    };
    let used = tokens(&file);
    assert!(!used.is_empty(), "the rules file uses no placeholder");
    let replaced: BTreeSet<String> = template
        .match_indices("replace \"")
        .filter_map(|(i, _)| template[i + 9..].split('"').next())
        .map(str::to_string)
        .collect();
    assert_eq!(used, replaced, "placeholders of the file vs the template");
    let shipped = render_rules(
        &file,
        &RuleValues {
            release: "r",
            namespace: "n",
            objective: "5",
            runbook_base: RUNBOOK_BASE,
        },
    )
    .unwrap_or_default();
    assert!(tokens(&shipped).is_empty(), "placeholders left: {shipped}");
    assert!(template.contains(r#".Files.Get "rules/pgvip.rules.yaml""#));
    assert!(template.contains("kind: PrometheusRule"));
    let dashboards = read("charts/pgvip/templates/dashboards.yaml");
    assert!(dashboards.contains(r#".Files.Get "dashboards/pgvip.json""#));
    assert!(dashboards.contains(r#"grafana_dashboard: "1""#));
}

#[test]
fn the_failover_objective_is_a_bucket_boundary() {
    let metrics = read("controller/src/metrics.rs");
    let body = metrics
        .split("fn seconds_buckets()")
        .nth(1)
        .and_then(|s| s.split('[').nth(1))
        .and_then(|s| s.split(']').next())
        .expect("seconds_buckets() has an array literal");
    let buckets: Vec<f64> = body
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().expect("a bucket is a number"))
        .collect();
    let schema: Json =
        serde_json::from_str(&read("charts/pgvip/values.schema.json")).expect("schema is JSON");
    let allowed = schema
        .pointer("/properties/metrics/properties/prometheusRule/properties/failoverObjectiveSeconds/enum")
        .and_then(Json::as_array)
        .expect("failoverObjectiveSeconds has an enum");
    for v in allowed {
        let x = v
            .as_f64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
            .unwrap_or_else(|| panic!("{v} is not a number"));
        assert!(buckets.contains(&x), "{x} is not a bucket of {buckets:?}");
    }
    let values: Yaml =
        serde_yaml::from_str(&read("charts/pgvip/values.yaml")).expect("values are YAML");
    let default = values["metrics"]["prometheusRule"]["failoverObjectiveSeconds"]
        .as_f64()
        .expect("a default objective");
    assert!(buckets.contains(&default), "default {default}");
}

/// Every panel, rows' nested panels included.
fn all_panels(panels: &[Json], out: &mut Vec<Json>) {
    for p in panels {
        out.push(p.clone());
        if let Some(inner) = p["panels"].as_array() {
            all_panels(inner, out);
        }
    }
}

fn substitute(query: &str, where_: &str) -> String {
    let mut q = query.to_string();
    for (var, value) in DASHBOARD_VARIABLES {
        q = q.replace(&format!("${{{}}}", &var[1..]), value);
        q = q.replace(var, value);
    }
    assert!(!q.contains('$'), "{where_}: unknown variable in {query}");
    q
}

#[test]
fn the_dashboard_is_valid_and_reads_exported_metrics() {
    let names = exported();
    let d: Json = serde_json::from_str(&read(DASHBOARD_FILE)).expect("the dashboard is JSON");
    assert!(d["schemaVersion"].as_u64().is_some_and(|v| v >= 36));
    assert!(d["uid"].as_str().is_some() && d["title"].as_str().is_some());
    let vars = d["templating"]["list"].as_array().expect("templating.list");
    let ds = vars
        .iter()
        .find(|v| v["name"] == "datasource")
        .expect("a datasource variable");
    assert_eq!(ds["type"], "datasource");
    assert_eq!(ds["query"], "prometheus");
    let declared: BTreeSet<&str> = vars.iter().filter_map(|v| v["name"].as_str()).collect();
    for (var, _) in DASHBOARD_VARIABLES {
        let name = &var[1..];
        assert!(
            name.starts_with("__") || declared.contains(name),
            "${name} is substituted here but not declared"
        );
    }
    let uses_variable = |ds: &Json| ds["type"] == "prometheus" && ds["uid"] == "${datasource}";
    let mut checked = 0;
    for v in vars.iter().filter(|v| v["type"] == "query") {
        let name = v["name"].as_str().unwrap_or_default();
        assert!(
            uses_variable(&v["datasource"]),
            "variable {name}: datasource"
        );
        let q = v["query"]["query"].as_str().expect("a variable query");
        let selector = q
            .strip_prefix("label_values(")
            .and_then(|r| r.rsplit_once(','))
            .map(|(s, _)| s)
            .unwrap_or_else(|| panic!("variable {name}: not label_values(selector, label)"));
        let used = promql::metric_names(&substitute(selector, name))
            .unwrap_or_else(|e| panic!("variable {name}: {e}"));
        assert!(used.is_subset(&names), "variable {name}: {used:?}");
        checked += 1;
    }
    let mut panels = vec![];
    all_panels(d["panels"].as_array().expect("panels"), &mut panels);
    let mut ids = BTreeSet::new();
    for p in &panels {
        let title = p["title"].as_str().unwrap_or_default();
        let id = p["id"].as_u64().unwrap_or_else(|| panic!("{title}: no id"));
        assert!(ids.insert(id), "panel id {id} ({title}) is not unique");
        if p["type"] == "row" {
            continue;
        }
        assert!(uses_variable(&p["datasource"]), "{title}: panel datasource");
        let targets = p["targets"].as_array().expect("a panel has targets");
        assert!(!targets.is_empty(), "{title}: no targets");
        for t in targets {
            assert!(
                uses_variable(&t["datasource"]),
                "{title}: target datasource"
            );
            let expr = t["expr"].as_str().expect("a target has an expr");
            let used = promql::metric_names(&substitute(expr, title))
                .unwrap_or_else(|e| panic!("{title}: {e}\n{expr}"));
            let unknown: Vec<_> = used.difference(&names).collect();
            assert!(
                unknown.is_empty(),
                "{title}: metrics nobody exports: {unknown:?}"
            );
            checked += 1;
        }
    }
    assert!(checked > 10, "only {checked} queries found");
}
