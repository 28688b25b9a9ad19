//! The Helm chart's checks of the smoke suite, against the testbed's real apiserver: lint, the
//! values schema, strict offline validation with kubeconform (every auth mode and the examples,
//! with schemas made from the apiserver's own OpenAPI document and the CRD file), strict
//! server-side validation, that the PrometheusRule and the dashboard ConfigMap carry the
//! chart's rules and dashboard files (`monitoring`; the files' own checks are
//! `tests/chart_static/`), and the quickstart's commands as written.
//!
//! Data flow: `helm template` renders YAML into the testbed's state directory; `schemas` turns
//! `GET /openapi/v2` and the CRD into kubeconform's schema files next to it; kubeconform and
//! kubectl read those files. Every check returns an error naming what failed.

mod docs;
mod monitoring;
mod schemas;

use std::path::{Path, PathBuf};

use pgvip_e2e::{cmd::run, Error, Result, Testbed};
use serde_json::Value;

use crate::common::Suite;

/// Kubernetes version the chart is rendered and validated for (the testbed apiserver's).
const KUBE_VERSION: &str = "1.34.4";

/// Values combinations rendered and validated: each cloud and auth mode, and every optional
/// feature on.
const COMBOS: &[(&str, &[&str])] = &[
    (
        "workloadIdentity",
        &["oci.auth=workloadIdentity", "oci.region=us-phoenix-1"],
    ),
    ("instancePrincipal", &["oci.auth=instancePrincipal"]),
    (
        "aws",
        &[
            "cloudProvider=aws",
            "aws.region=us-west-2",
            "aws.roleArn=arn:aws:iam::123456789012:role/pgvip",
        ],
    ),
    // Bare metal: no cloud settings at all (OCI's defaults would need a region).
    ("l2", &["cloudProvider=l2"]),
    (
        "apiKey",
        &[
            "oci.auth=apiKey",
            "oci.region=us-phoenix-1",
            "oci.apiKey.secretName=pgvip-oci-api-key",
        ],
    ),
    (
        "all-options",
        &[
            "oci.auth=apiKey",
            "oci.region=us-phoenix-1",
            "oci.apiKey.secretName=pgvip-oci-api-key",
            "oci.apiKey.passphraseKey=passphrase",
            "watchNamespaces={db,db2}",
            "controller.leaseName=orders-lease",
            "controller.leaseRenewSeconds=4",
            "controller.restApiCaSecrets[0].namespace=db",
            "controller.restApiCaSecrets[0].names={orders-patroni-ca}",
            "controller.drillSecrets[0].namespace=db",
            "controller.drillSecrets[0].names={orders-drill-probe,orders-patroni-ca}",
            "controller.podDisruptionBudget.enabled=false",
            "nodeAgent.releaseOnExit=true",
            "metrics.serviceMonitor.enabled=true",
            "metrics.prometheusRule.enabled=true",
            "metrics.prometheusRule.labels.release=kube-prometheus-stack",
            "metrics.prometheusRule.failoverObjectiveSeconds=2.5",
            "metrics.prometheusRule.runbookBaseUrl=https://git.example.com/pgvip/blob/v0.1.0/",
            "metrics.dashboards.enabled=true",
            "metrics.dashboards.labels.team=db",
            "metrics.dashboards.annotations.grafana_folder=pgvip",
        ],
    ),
];

/// Kinds of prometheus-operator: the testbed has no prometheus-operator CRDs, hence no schema
/// for kubeconform and no server-side validation; the monitoring checks cover what they carry.
const OPERATOR_KINDS: &[&str] = &["ServiceMonitor", "PrometheusRule"];

/// Misspellings that strict validation must reject: (what, correct text, misspelled text).
/// Each is applied to the first occurrence in a rendered file that passed.
const MISSPELLINGS: &[(&str, &str, &str)] = &[
    (
        "a pod spec field",
        "serviceAccountName:",
        "serviceAcountName:",
    ),
    (
        "a nested container field",
        "readOnlyRootFilesystem:",
        "readOnlyRootFileSystem:",
    ),
    ("a Role rule field", "resourceNames:", "resourceName:"),
];

/// Paths and binaries the checks share.
struct Ctx<'a> {
    tb: &'a Testbed,
    helm: String,
    kubeconform: String,
    chart: PathBuf,
    /// Scratch directory under the testbed's state directory (removed with it).
    work: PathBuf,
}

impl Ctx<'_> {
    fn helm_template(&self, sets: &[&str]) -> Result<String> {
        let chart = self.chart.to_string_lossy();
        let mut a = vec![
            "template",
            "pgvip",
            &chart,
            "-n",
            "pgvip-system",
            "--kube-version",
            KUBE_VERSION,
        ];
        for s in sets {
            a.extend_from_slice(&["--set", s]);
        }
        run(&self.helm, &a)
    }

    /// `kubeconform -strict` over `files` with the offline schemas: whether every object
    /// passed, and its report (kubeconform reports on stdout).
    fn kubeconform(&self, files: &[PathBuf]) -> Result<(bool, String)> {
        let loc = format!(
            "{}/{{{{ .ResourceKind }}}}{{{{ .KindSuffix }}}}.json",
            self.work.join("schemas").display()
        );
        let mut a: Vec<String> = [
            "-strict",
            "-summary",
            "-kubernetes-version",
            KUBE_VERSION,
            "-schema-location",
            &loc,
            "-skip",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.push(OPERATOR_KINDS.join(","));
        a.extend(files.iter().map(|f| f.to_string_lossy().into_owned()));
        let out = std::process::Command::new(&self.kubeconform)
            .args(&a)
            .output()
            .map_err(|e| other(format!("running {}: {e}", self.kubeconform)))?;
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        Ok((out.status.success(), report))
    }
}

fn other(msg: impl Into<String>) -> Error {
    Error::Other(msg.into())
}

fn write(path: &Path, text: &str) -> Result<()> {
    if let Some(d) = path.parent() {
        std::fs::create_dir_all(d).map_err(|e| other(format!("{}: {e}", d.display())))?;
    }
    std::fs::write(path, text).map_err(|e| other(format!("{}: {e}", path.display())))
}

/// Adds the chart's checks to the smoke suite.
pub fn checks(tb: &Testbed, s: &mut Suite) {
    let repo = pgvip_e2e::testbed::repo_root();
    let cx = Ctx {
        tb,
        helm: tb.bin.join("helm").to_string_lossy().into_owned(),
        kubeconform: tb.bin.join("kubeconform").to_string_lossy().into_owned(),
        chart: repo.join("charts/pgvip"),
        work: tb.layout.path("chart-checks"),
    };
    s.check("helm lint passes", || {
        let chart = cx.chart.to_string_lossy();
        run(
            &cx.helm,
            &[
                "lint",
                &chart,
                "--set",
                "oci.region=us-phoenix-1",
                "--kube-version",
                KUBE_VERSION,
            ],
        )
        .map(|_| ())
    });
    s.check(
        "the chart's values schema and guards reject bad values",
        || {
            for bad in [
                "oci.auth=password",
                "nodeAgent.holdSeconds=0",
                "controller.replicas=0",
                "controller.leaseName=Not_A_Name",
                "controller.leaseRenewSeconds=15",
                "controller.restApiCaSecrets[0].namespace=db",
                "controller.drillSecrets[0].names={Bad_Name}",
                "metrics.prometheusRule.failoverObjectiveSeconds=3",
                "metrics.prometheusRule.runbookBaseUrl=docs",
                "metrics.dashboards.lables.team=db",
            ] {
                if cx.helm_template(&["oci.region=us-phoenix-1", bad]).is_ok() {
                    return Err(other(format!("values {bad:?} were accepted")));
                }
            }
            Ok(())
        },
    );
    let mut rendered: Vec<PathBuf> = vec![];
    s.check("every values combination renders", || {
        for (name, sets) in COMBOS {
            let yaml = cx.helm_template(sets)?;
            let p = cx.work.join(format!("rendered/{name}.yaml"));
            write(&p, &yaml)?;
            rendered.push(p);
        }
        Ok(())
    });
    s.check(
        "kubeconform schemas from the apiserver's OpenAPI and the CRD file",
        || write_schemas(&cx, &repo, &rendered),
    );
    s.check(
        "kubeconform -strict accepts every rendering and the examples",
        || {
            let mut files = rendered.clone();
            files.push(cx.chart.join("examples"));
            let (ok, out) = cx.kubeconform(&files)?;
            // Only the two ServiceMonitors and the PrometheusRule of the all-options rendering
            // may be skipped.
            if !ok || !out.contains("Invalid: 0, Errors: 0, Skipped: 3") {
                return Err(other(format!("unexpected kubeconform summary: {out}")));
            }
            Ok(())
        },
    );
    for (what, good, bad) in MISSPELLINGS {
        s.check(
            &format!("kubeconform -strict rejects a misspelled {what}"),
            || misspelling_fails(&cx, &rendered, good, bad),
        );
    }
    s.check(
        "kubeconform -strict rejects a misspelled PostgresVip field",
        || {
            let ex = std::fs::read_to_string(cx.chart.join("examples/replica.yaml"))
                .map_err(|e| other(format!("examples/replica.yaml: {e}")))?;
            let p = cx.work.join("bad/postgresvip.yaml");
            write(&p, &ex.replacen("scope:", "scoop:", 1))?;
            expect_rejection(&cx, &p, "scoop")
        },
    );
    s.check(
        "every rendered object passes strict server-side validation",
        || {
            let kc = tb.layout.path("kubeconfig-admin");
            let kubectl = tb.bin.join("kubectl");
            for p in &rendered {
                // The apiserver knows no prometheus-operator kind; kubeconform covered the rest
                // of that file.
                let yaml = std::fs::read_to_string(p).map_err(|e| other(e.to_string()))?;
                let objs: Vec<&str> = yaml
                    .split("\n---")
                    .filter(|d| {
                        !OPERATOR_KINDS
                            .iter()
                            .any(|k| d.contains(&format!("kind: {k}\n")))
                    })
                    .collect();
                pgvip_e2e::cmd::run_input(
                    &kubectl.to_string_lossy(),
                    &[
                        "--kubeconfig",
                        &kc.to_string_lossy(),
                        "apply",
                        "--dry-run=server",
                        "--validate=strict",
                        "-f",
                        "-",
                    ],
                    Some(objs.join("\n---").as_bytes()),
                )?;
            }
            Ok(())
        },
    );
    s.check(
        "the PrometheusRule and the dashboard ConfigMap ship the chart's files",
        || monitoring_objects(&repo, &rendered),
    );
    docs::checks(tb, s, &repo, &cx.work);
}

/// Fetches the apiserver's OpenAPI v2 document and writes one strict schema per kind that the
/// renderings and examples use; the PostgresVip schema comes from the CRD file.
fn write_schemas(cx: &Ctx, repo: &Path, rendered: &[PathBuf]) -> Result<()> {
    let openapi: Value = serde_json::from_str(&cx.tb.kubectl(&["get", "--raw", "/openapi/v2"])?)
        .map_err(|e| other(format!("OpenAPI v2 document: {e}")))?;
    let mut wanted = std::collections::BTreeSet::new();
    let examples = std::fs::read_dir(cx.chart.join("examples"))
        .map_err(|e| other(format!("examples: {e}")))?
        .filter_map(|e| e.ok().map(|e| e.path()));
    for p in rendered.iter().cloned().chain(examples) {
        let text = std::fs::read_to_string(&p).map_err(|e| other(e.to_string()))?;
        wanted
            .extend(schemas::kinds_in(&text).map_err(|e| other(format!("{}: {e}", p.display())))?);
    }
    let mut files = schemas::from_openapi_v2(&openapi, &wanted);
    let crd_text = std::fs::read_to_string(repo.join("crds/pgvip.dev_postgresvips.yaml"))
        .map_err(|e| other(format!("CRD: {e}")))?;
    let crd: Value = serde_yaml::from_str(&crd_text).map_err(|e| other(format!("CRD: {e}")))?;
    files.extend(schemas::from_crd(&crd, &openapi).map_err(other)?);
    for (name, schema) in &files {
        write(&cx.work.join("schemas").join(name), &schema.to_string())?;
    }
    let have: Vec<&String> = files.keys().collect();
    for (api_version, kind) in &wanted {
        let f = schemas::file_name(api_version, kind);
        if !OPERATOR_KINDS.contains(&kind.as_str()) && !files.contains_key(&f) {
            return Err(other(format!(
                "no schema for {api_version} {kind} (have {have:?})"
            )));
        }
    }
    Ok(())
}

/// Misspells `good` as `bad` in the first rendering that contains it and expects kubeconform
/// to reject the result naming the misspelled field.
fn misspelling_fails(cx: &Ctx, rendered: &[PathBuf], good: &str, bad: &str) -> Result<()> {
    for p in rendered {
        let text = std::fs::read_to_string(p).map_err(|e| other(e.to_string()))?;
        if text.contains(good) {
            let out = cx.work.join("bad").join(p.file_name().unwrap_or_default());
            write(&out, &text.replacen(good, bad, 1))?;
            return expect_rejection(cx, &out, bad.trim_end_matches(':'));
        }
    }
    Err(other(format!("no rendering contains {good:?}")))
}

fn expect_rejection(cx: &Ctx, file: &Path, field: &str) -> Result<()> {
    let (ok, out) = cx.kubeconform(&[file.to_path_buf()])?;
    if ok {
        Err(other(format!("{} was accepted: {out}", file.display())))
    } else if out.contains(&format!("'{field}'")) && out.contains("Invalid: 1") {
        Ok(())
    } else {
        Err(other(format!("rejected, but not for {field:?}: {out}")))
    }
}

/// The objects of a rendered multi-document YAML file.
fn objects(path: &Path) -> Result<Vec<serde_yaml::Value>> {
    use serde::Deserialize;
    let text =
        std::fs::read_to_string(path).map_err(|e| other(format!("{}: {e}", path.display())))?;
    let mut out = vec![];
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let v = serde_yaml::Value::deserialize(doc)
            .map_err(|e| other(format!("{}: {e}", path.display())))?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

/// The all-options rendering carries the rules file and the dashboard file as the chart ships
/// them (the rules rendered by `monitoring`, the same text the static checks test), with the
/// extra labels and annotations it sets; the default rendering carries neither object.
fn monitoring_objects(repo: &Path, rendered: &[PathBuf]) -> Result<()> {
    let of_kind = |objs: &[serde_yaml::Value], kind: &str| -> Vec<serde_yaml::Value> {
        objs.iter().filter(|o| o["kind"] == kind).cloned().collect()
    };
    let (i, sets) = COMBOS
        .iter()
        .position(|(n, _)| *n == "all-options")
        .map(|i| (i, COMBOS[i].1))
        .ok_or_else(|| other("no all-options combination"))?;
    let set = |key: &str| {
        sets.iter()
            .find_map(|s| s.strip_prefix(key)?.strip_prefix('='))
            .ok_or_else(|| other(format!("all-options sets no {key}")))
    };
    let objs = objects(
        rendered
            .get(i)
            .ok_or_else(|| other("all-options not rendered"))?,
    )?;

    let rules = of_kind(&objs, "PrometheusRule");
    let [rule] = rules.as_slice() else {
        return Err(other(format!("{} PrometheusRules rendered", rules.len())));
    };
    let file = std::fs::read_to_string(repo.join(monitoring::RULES_FILE))
        .map_err(|e| other(format!("{}: {e}", monitoring::RULES_FILE)))?;
    let want = monitoring::render_rules(
        &file,
        &monitoring::RuleValues {
            release: "pgvip",
            namespace: "pgvip-system",
            objective: set("metrics.prometheusRule.failoverObjectiveSeconds")?,
            runbook_base: set("metrics.prometheusRule.runbookBaseUrl")?,
        },
    )
    .ok_or_else(|| other("the rules file has no groups: line"))?;
    let want: serde_yaml::Value =
        serde_yaml::from_str(&want).map_err(|e| other(format!("rules file: {e}")))?;
    let spec = rule["spec"]
        .as_mapping()
        .ok_or_else(|| other("PrometheusRule without a spec"))?;
    if spec.len() != 1 || rule["spec"]["groups"] != want["groups"] {
        return Err(other(format!(
            "PrometheusRule spec differs from the rules file:\n{}",
            serde_yaml::to_string(&rule["spec"]).unwrap_or_default()
        )));
    }
    if rule["metadata"]["labels"]["release"] != "kube-prometheus-stack" {
        return Err(other("PrometheusRule lacks metrics.prometheusRule.labels"));
    }

    let maps: Vec<_> = of_kind(&objs, "ConfigMap")
        .into_iter()
        .filter(|c| c["metadata"]["labels"]["grafana_dashboard"] == "1")
        .collect();
    let [map] = maps.as_slice() else {
        return Err(other(format!(
            "{} dashboard ConfigMaps rendered",
            maps.len()
        )));
    };
    let dashboard = std::fs::read_to_string(repo.join(monitoring::DASHBOARD_FILE))
        .map_err(|e| other(format!("{}: {e}", monitoring::DASHBOARD_FILE)))?;
    if map["data"]["pgvip.json"].as_str().map(str::trim_end) != Some(dashboard.trim_end()) {
        return Err(other(
            "the ConfigMap's pgvip.json is not the dashboard file",
        ));
    }
    if map["metadata"]["labels"]["team"] != "db"
        || map["metadata"]["annotations"]["grafana_folder"] != "pgvip"
    {
        return Err(other(
            "the ConfigMap lacks metrics.dashboards labels or annotations",
        ));
    }

    let defaults = objects(rendered.first().ok_or_else(|| other("nothing rendered"))?)?;
    if !of_kind(&defaults, "PrometheusRule").is_empty()
        || defaults
            .iter()
            .any(|o| o["metadata"]["labels"]["grafana_dashboard"] == "1")
    {
        return Err(other("the default values render monitoring objects"));
    }
    Ok(())
}
