//! The `kubectl pgvip` plugin's checks of the smoke suite, against the testbed's real apiserver:
//! the built `kubectl-pgvip` binary, run with the testbed's admin kubeconfig, must show every
//! PostgresVip as the apiserver has it, and `why` must exit 0 on a Ready PostgresVip and 1 on
//! one that follows a cluster that does not exist, quoting the troubleshooting guide's fix.
//!
//! Data flow: node-agents and the controller start as the suites run them → two PostgresVips
//! are applied (one following the testbed's cluster, one following a cluster that does not
//! exist) and awaited through kube → the plugin runs as a child process (`KUBECONFIG`, or
//! `--kubeconfig`) → its output is compared with the objects read through kube and with
//! `docs/troubleshooting.md` → both PostgresVips are deleted (the controller removes its
//! finalizer and the private IP it created) and pgvip is stopped.

use std::{
    path::PathBuf,
    process::{Command, Output},
    time::Duration,
};

use kube::{
    api::{DeleteParams, ListParams},
    Api,
};
use pgvip_api::{condition, PostgresVip};
use pgvip_e2e::{
    cluster::wait_for,
    pgvip::{self, CloudMode},
    scenario::{self, condition_of},
    testbed::repo_root,
    Error, Result, Testbed,
};

use crate::common::{self, Suite};

/// The PostgresVip that follows the testbed's cluster and becomes Ready.
const READY_VIP: &str = "plugin-rw";
/// Its address: in the testbed's subnet, used by nothing else.
const READY_ADDRESS: &str = "10.0.10.201";
/// The PostgresVip that follows a cluster that does not exist.
const GHOST_VIP: &str = "plugin-ghost";
/// Its address.
const GHOST_ADDRESS: &str = "10.0.10.202";
/// The cluster that does not exist.
const GHOST_SCOPE: &str = "no-such-cluster";
/// What the controller reports for a scope without a leader lock.
const GHOST_REASON: &str = "NoLeaderLock";

/// Adds the plugin's checks to the suite. They start pgvip on the testbed and stop it again.
pub fn checks(tb: &Testbed, s: &mut Suite) {
    let (mut started, mut ready) = (false, false);
    s.check(
        "plugin: pgvip runs; one PostgresVip is Ready and FailoverReady, one follows a cluster that does not exist",
        || {
            started = true;
            let r = block(setup(tb));
            ready = r.is_ok();
            r
        },
    );
    if ready {
        s.check(
            "plugin: `status -A` lists every PostgresVip with its address, cluster, leader and node as the apiserver has them",
            || status_all(tb),
        );
        s.check(
            "plugin: `status NAME` shows every condition, the generations and the last failover",
            || status_one(tb),
        );
        s.check("plugin: `why` exits 0 on a Ready PostgresVip", || {
            why_ready(tb)
        });
        s.check(
            "plugin: `why` exits 1 on a PostgresVip for a missing cluster, with the reason and the guide's fix",
            || why_ghost(tb),
        );
        s.check(
            "plugin: `drill` on a PostgresVip that is not Ready is refused by the controller with the reason, exits 1",
            || drill(tb),
        );
    }
    s.check(
        "plugin: its PostgresVips are deleted and pgvip stopped",
        || block(cleanup(tb, started)),
    );
}

fn block<T>(f: impl std::future::Future<Output = Result<T>>) -> Result<T> {
    tokio::runtime::Handle::current().block_on(f)
}

fn fail(msg: impl Into<String>) -> Error {
    Error::Other(msg.into())
}

fn ensure(ok: bool, msg: impl FnOnce() -> String) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(fail(msg()))
    }
}

fn kubeconfig(tb: &Testbed) -> PathBuf {
    tb.layout.path("kubeconfig-admin")
}

/// Runs the plugin with the admin kubeconfig in `KUBECONFIG`.
fn plugin(tb: &Testbed, args: &[&str]) -> Result<Output> {
    let bin = pgvip::binary("kubectl-pgvip")?;
    Command::new(&bin)
        .args(args)
        .env("KUBECONFIG", kubeconfig(tb))
        .output()
        .map_err(|e| fail(format!("running {} {args:?}: {e}", bin.display())))
}

/// Runs the plugin and returns its stdout; fails unless it exits with `code`.
fn plugin_expect(tb: &Testbed, args: &[&str], code: i32) -> Result<String> {
    let out = plugin(tb, args)?;
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr);
    ensure(out.status.code() == Some(code), || {
        format!(
            "kubectl-pgvip {args:?} exited {:?}, expected {code}\nstdout:\n{stdout}\nstderr:\n{stderr}",
            out.status.code()
        )
    })?;
    Ok(stdout)
}

fn ghost_manifest(tb: &Testbed) -> String {
    format!(
        "apiVersion: pgvip.dev/v1alpha1\nkind: PostgresVip\nmetadata: {{name: {GHOST_VIP}, namespace: {ns}}}\nspec:\n  address: \"{GHOST_ADDRESS}\"\n  patroni: {{scope: {GHOST_SCOPE}}}\n  provider: {{{cloud}: {{subnetId: {subnet}}}}}\n",
        ns = tb.layout.db_namespace,
        cloud = tb.layout.cloud.key(),
        subnet = tb.layout.subnet_id,
    )
}

async fn setup(tb: &Testbed) -> Result<()> {
    for n in &tb.layout.nodes {
        pgvip::start_agent(&tb.layout, n)?;
    }
    pgvip::start_controller(&tb.layout, 0, CloudMode::Cloud)?;
    tb.kubectl_apply(&scenario::vip_manifest_named(
        tb,
        READY_VIP,
        READY_ADDRESS,
        common::use_endpoints(),
    ))?;
    tb.kubectl_apply(&ghost_manifest(tb))?;
    let leader = tb.wait_leader(Duration::from_secs(60)).await?;
    let node = tb.member_node(&leader)?.name.clone();
    tb.wait_vip_named_ready_on(READY_VIP, &node, Duration::from_secs(90))
        .await?;
    // `why` reports FailoverReady too: wait for the first readiness check to pass.
    wait_for(
        &format!("{READY_VIP} FailoverReady"),
        Duration::from_secs(90),
        || async {
            let v = tb.vip_named(READY_VIP).await.ok()?;
            condition_of(&v, condition::FAILOVER_READY)
                .filter(|c| c.status == "True")
                .map(|_| ())
        },
    )
    .await?;
    let ghost = wait_for(
        &format!("{GHOST_VIP} reported not Ready"),
        Duration::from_secs(60),
        || async {
            let v = tb.vip_named(GHOST_VIP).await.ok()?;
            let ready = condition_of(&v, condition::READY)?;
            (ready.status == "False").then_some(v)
        },
    )
    .await?;
    let leader_cond = condition_of(&ghost, condition::LEADER_CONFIRMED)
        .ok_or_else(|| fail(format!("{GHOST_VIP} has no LeaderConfirmed condition")))?;
    ensure(leader_cond.reason == GHOST_REASON, || {
        format!("{GHOST_VIP}: LeaderConfirmed is {leader_cond:?}, expected reason {GHOST_REASON}")
    })
}

/// The table's rows as maps from column name to cell (cells hold no spaces).
fn parse_table(out: &str) -> Result<Vec<std::collections::BTreeMap<String, String>>> {
    let mut lines = out.lines().filter(|l| !l.trim().is_empty());
    let header: Vec<&str> = lines
        .next()
        .ok_or_else(|| fail("empty table"))?
        .split_whitespace()
        .collect();
    lines
        .map(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            ensure(cells.len() == header.len(), || {
                format!("row {l:?} does not match header {header:?}")
            })?;
            Ok(header
                .iter()
                .zip(cells)
                .map(|(h, c)| (h.to_string(), c.to_string()))
                .collect())
        })
        .collect()
}

fn or_none(v: Option<&str>) -> String {
    v.unwrap_or("<none>").to_string()
}

/// One comparison of `status -A` with the apiserver's objects (read after the plugin ran).
async fn compare_all(tb: &Testbed) -> Result<()> {
    let out = plugin_expect(tb, &["status", "-A"], 0)?;
    let rows = parse_table(&out)?;
    let api: Api<PostgresVip> = Api::all(tb.client.clone());
    let vips = api
        .list(&ListParams::default())
        .await
        .map_err(|e| fail(format!("listing PostgresVips: {e}")))?
        .items;
    ensure(rows.len() == vips.len(), || {
        format!(
            "{} rows for {} PostgresVips:\n{out}",
            rows.len(),
            vips.len()
        )
    })?;
    for v in &vips {
        let ns = v.metadata.namespace.as_deref().unwrap_or("");
        let name = v.metadata.name.as_deref().unwrap_or("");
        let row = rows
            .iter()
            .find(|r| r["NAMESPACE"] == ns && r["NAME"] == name)
            .ok_or_else(|| fail(format!("{ns}/{name} missing from:\n{out}")))?;
        let st = v.status.clone().unwrap_or_default();
        let want = [
            ("ADDRESS", v.spec.address.clone()),
            (
                "CLUSTER",
                or_none(v.spec.patroni.as_ref().map(|p| p.scope.as_str())),
            ),
            (
                "LEADER",
                or_none(st.leader.as_ref().map(|l| l.pod.as_str())),
            ),
            ("NODE", or_none(st.assigned_node.as_deref())),
            (
                "READY",
                or_none(
                    condition_of(v, condition::READY)
                        .as_ref()
                        .map(|c| c.status.as_str()),
                ),
            ),
        ];
        for (col, value) in want {
            ensure(row[col] == value, || {
                format!(
                    "{ns}/{name}: {col} is {:?}, the apiserver has {value:?}:\n{out}",
                    row[col]
                )
            })?;
        }
    }
    // The Ready one, fully: its leader, node and the VNIC the cloud assigned it to.
    let v = tb.vip_named(READY_VIP).await?;
    let st = v.status.clone().unwrap_or_default();
    let row = rows
        .iter()
        .find(|r| r["NAME"] == READY_VIP)
        .ok_or_else(|| fail(format!("{READY_VIP} missing:\n{out}")))?;
    let leader = tb.wait_leader(Duration::from_secs(10)).await?;
    let node = tb.member_node(&leader)?;
    for (col, value) in [
        ("ADDRESS", READY_ADDRESS.to_string()),
        ("LEADER", leader.clone()),
        ("NODE", node.name.clone()),
        ("CLOUD", node.vnic_id.clone()),
        ("READY", "True".into()),
        ("FAILOVER-READY", "True".into()),
        ("DATAPATH", "True".into()),
    ] {
        ensure(row[col] == value, || {
            format!(
                "{READY_VIP}: {col} is {:?}, expected {value:?}:\n{out}",
                row[col]
            )
        })?;
    }
    ensure(
        st.cloud.and_then(|c| c.vnic_id).as_deref() == Some(node.vnic_id.as_str()),
        || format!("{READY_VIP}: status.cloud.vnicId is not {}", node.vnic_id),
    )?;
    let ghost = rows
        .iter()
        .find(|r| r["NAME"] == GHOST_VIP)
        .ok_or_else(|| fail(format!("{GHOST_VIP} missing:\n{out}")))?;
    ensure(
        ghost["CLUSTER"] == GHOST_SCOPE && ghost["LEADER"] == "<none>" && ghost["READY"] == "False",
        || format!("{GHOST_VIP}: unexpected row {ghost:?}"),
    )
}

fn status_all(tb: &Testbed) -> Result<()> {
    // Statuses may change between the plugin's read and ours (another PostgresVip settling):
    // compare again until one read agrees.
    common::retry(Duration::from_secs(20), || block(compare_all(tb)))?;
    // `--kubeconfig` and `-n` instead of the environment: no NAMESPACE column.
    let bin = pgvip::binary("kubectl-pgvip")?;
    let kc = kubeconfig(tb);
    let out = Command::new(&bin)
        .arg("--kubeconfig")
        .arg(&kc)
        .args(["status", "-n", &tb.layout.db_namespace])
        .env_remove("KUBECONFIG")
        .output()
        .map_err(|e| fail(format!("running {}: {e}", bin.display())))?;
    let text = String::from_utf8_lossy(&out.stdout);
    ensure(out.status.success(), || {
        format!(
            "status -n {} failed: {}",
            tb.layout.db_namespace,
            String::from_utf8_lossy(&out.stderr)
        )
    })?;
    let rows = parse_table(&text)?;
    ensure(
        rows.iter().all(|r| !r.contains_key("NAMESPACE"))
            && rows.iter().any(|r| r["NAME"] == READY_VIP),
        || format!("unexpected `status -n`:\n{text}"),
    )
}

fn status_one(tb: &Testbed) -> Result<()> {
    let ns = tb.layout.db_namespace.as_str();
    let out = plugin_expect(tb, &["status", READY_VIP, "-n", ns], 0)?;
    let v = block(tb.vip_named(READY_VIP))?;
    let st = v.status.clone().unwrap_or_default();
    ensure(!st.conditions.is_empty(), || "no conditions".into())?;
    let lines: Vec<&str> = out.lines().collect();
    for c in &st.conditions {
        let hit = lines.iter().any(|l| {
            let cells: Vec<&str> = l.split_whitespace().collect();
            cells.len() >= 4
                && cells[0] == c.type_
                && cells[1] == c.status
                && cells[2] == c.reason
                && cells[3] == c.last_transition_time
        });
        ensure(hit, || {
            format!(
                "condition {} {} {} {} not shown:\n{out}",
                c.type_, c.status, c.reason, c.last_transition_time
            )
        })?;
    }
    let generation = v.metadata.generation.unwrap_or_default();
    let observed = st.observed_generation.unwrap_or_default();
    ensure(
        out.contains(&format!(
            "Generation:    {generation} (status observed {observed}"
        )),
        || format!("generations {generation}/{observed} not shown:\n{out}"),
    )?;
    if let Some(f) = &st.last_failover {
        for want in [
            format!("{:<13}{}", "To:", f.to),
            format!("{:<13}{} ms", "Total:", f.duration_millis),
            format!("{:<13}{} ms", "Cloud move:", f.phases.cloud_millis),
        ] {
            ensure(out.contains(&want), || {
                format!("{want:?} not shown:\n{out}")
            })?;
        }
    }
    // `-o json` is the object itself.
    let json = plugin_expect(tb, &["status", READY_VIP, "-n", ns, "-o", "json"], 0)?;
    let raw: serde_json::Value =
        serde_json::from_str(&json).map_err(|e| fail(format!("-o json: {e}: {json}")))?;
    ensure(
        raw["kind"] == "PostgresVip"
            && raw["metadata"]["name"] == READY_VIP
            && raw["spec"]["address"] == READY_ADDRESS
            && raw["status"]["conditions"].is_array(),
        || format!("-o json is not the object: {json}"),
    )
}

fn why_ready(tb: &Testbed) -> Result<()> {
    let out = plugin_expect(tb, &["why", READY_VIP, "-n", &tb.layout.db_namespace], 0)?;
    ensure(out.contains("conditions are True"), || {
        format!("unexpected `why` output:\n{out}")
    })
}

/// The guide's fix for `reason` in the section of `condition`, its first 40 characters (the
/// plugin renders links and emphasis, which a plain reason row has none of at its start).
fn guide_fix(condition: &str, reason: &str) -> Result<String> {
    let path = repo_root().join("docs/troubleshooting.md");
    let md =
        std::fs::read_to_string(&path).map_err(|e| fail(format!("{}: {e}", path.display())))?;
    let section = md
        .split_once(&format!("## Condition `{condition}`"))
        .map(|(_, rest)| rest.split("\n## ").next().unwrap_or(rest))
        .ok_or_else(|| fail(format!("no section for {condition}")))?;
    let row = section
        .lines()
        .find(|l| l.starts_with(&format!("| `{reason}` |")))
        .ok_or_else(|| fail(format!("no row for {reason} under {condition}")))?;
    let fix = row
        .trim_end()
        .trim_end_matches('|')
        .rsplit(" | ")
        .next()
        .unwrap_or("")
        .trim();
    Ok(fix.chars().take(40).collect())
}

fn why_ghost(tb: &Testbed) -> Result<()> {
    let out = plugin_expect(tb, &["why", GHOST_VIP, "-n", &tb.layout.db_namespace], 1)?;
    let fix = guide_fix("LeaderConfirmed", GHOST_REASON)?;
    for want in [
        format!("Ready: False ({GHOST_REASON})"),
        format!("LeaderConfirmed: False ({GHOST_REASON})"),
        format!("  fix: {fix}"),
        "docs/troubleshooting.md#condition-leaderconfirmed".to_string(),
    ] {
        ensure(out.contains(&want), || {
            format!("{want:?} missing from:\n{out}")
        })?;
    }
    let v = block(tb.vip_named(GHOST_VIP))?;
    let msg = condition_of(&v, condition::LEADER_CONFIRMED)
        .map(|c| c.message)
        .unwrap_or_default();
    ensure(out.contains(&format!("  message: {msg}")), || {
        format!("the controller's message {msg:?} missing from:\n{out}")
    })
}

fn drill(tb: &Testbed) -> Result<()> {
    let ns = tb.layout.db_namespace.as_str();
    let out = plugin_expect(
        tb,
        &["drill", GHOST_VIP, "-n", ns, "--max-outage-seconds", "5"],
        1,
    )?;
    ensure(
        out.contains("Refused") && out.contains("is not Ready"),
        || format!("the refusal's reason missing from:\n{out}"),
    )?;
    let missing = plugin(tb, &["drill", "no-such-vip", "-n", ns])?;
    let stderr = String::from_utf8_lossy(&missing.stderr);
    ensure(
        missing.status.code() == Some(1) && stderr.contains("not found"),
        || {
            format!(
                "drill of a missing VIP exited {:?}: {stderr}",
                missing.status.code()
            )
        },
    )
}

/// Deletes both PostgresVips (while the controller runs, so it releases what it created and
/// removes its finalizer), then stops the controller and the agents. Collects every error.
async fn cleanup(tb: &Testbed, started: bool) -> Result<()> {
    let mut errors = vec![];
    let api = tb.vip_api();
    for name in [READY_VIP, GHOST_VIP] {
        match api.delete(name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 404 => continue,
            Err(e) => {
                errors.push(format!("deleting {name}: {e}"));
                continue;
            }
        }
        let gone = wait_for(
            &format!("PostgresVip {name} to be gone"),
            Duration::from_secs(60),
            || async { matches!(api.get_opt(name).await, Ok(None)).then_some(()) },
        )
        .await;
        if let Err(e) = gone {
            errors.push(e.to_string());
        }
    }
    if started {
        if let Err(e) = pgvip::stop_controller(&tb.layout, 0, false) {
            errors.push(format!("stopping the controller: {e}"));
        }
        for n in &tb.layout.nodes {
            if let Err(e) = pgvip::stop_agent(&tb.layout, n) {
                errors.push(format!("stopping the agent on {}: {e}", n.name));
            }
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(fail(errors.join("; ")))
    }
}
