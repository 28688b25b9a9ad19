//! The quickstart's commands, taken from docs/quickstart-oke.md itself (so the document cannot
//! drift from what is tested) and run against the testbed's apiserver.
//!
//! Data flow: the `sh` and `yaml` code blocks of the document → the commands the testbed can
//! run (namespace, Secret, `helm install`/`uninstall`, `kubectl apply`/`wait`/`get` on the
//! PostgresVip) → `bash -c` in a scratch directory whose `charts` links to the repository's.
//! Three things are substituted, each for a reason the testbed imposes: `<…>` placeholders
//! get example values, and the release `pgvip` / namespace `pgvip-system` become `pgvip-docs`
//! because the testbed's own pgvip RBAC already uses those names. Commands that need running
//! pods (logs, the Lease, `patronictl`) are not run: the testbed has no kubelet.

use std::path::Path;

use pgvip_e2e::{cmd::run, Error, Result, Testbed};

use crate::common::Suite;

/// The quickstart's code blocks of one language, continuation lines joined.
fn blocks(md: &str, lang: &str) -> Vec<String> {
    let mut out = vec![];
    let mut cur: Option<String> = None;
    for line in md.lines() {
        let t = line.trim_start();
        match (&mut cur, t.strip_prefix("```")) {
            (None, Some(l)) if l == lang => cur = Some(String::new()),
            (Some(b), Some(_)) => {
                out.push(b.replace("\\\n", " "));
                cur = None;
            }
            (Some(b), None) => {
                b.push_str(line);
                b.push('\n');
            }
            _ => {}
        }
    }
    out
}

/// A command as the testbed runs it (see the module header for the substitutions).
fn adapt(cmd: &str) -> String {
    let mut s = String::new();
    let mut rest = cmd;
    while let Some(i) = rest.find('<') {
        s.push_str(&rest[..i]);
        match rest[i..].find('>') {
            Some(j) => {
                s.push_str("example");
                rest = &rest[i + j + 1..];
            }
            None => {
                rest = &rest[i..];
                break;
            }
        }
    }
    s.push_str(rest);
    s.replace("pgvip-system", "pgvip-docs")
        .replace("install pgvip ", "install pgvip-docs ")
        .replace("uninstall pgvip ", "uninstall pgvip-docs ")
        .replace("upgrade pgvip ", "upgrade pgvip-docs ")
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Whether the testbed can run `cmd` (a line of a `sh` block).
fn runnable(cmd: &str) -> bool {
    [
        "helm install",
        "helm upgrade",
        "helm uninstall",
        "kubectl create namespace",
        "kubectl apply -f orders-rw.yaml",
        "kubectl apply --server-side -f charts/pgvip/crds/",
    ]
    .iter()
    .any(|p| cmd.starts_with(p))
        || (cmd.starts_with("kubectl -n pgvip-system create secret"))
        || (cmd.starts_with("kubectl -n db wait --for=condition=Ready pgvip/orders-rw"))
        || cmd == "kubectl -n db get pgvip"
        || cmd == "kubectl -n db delete pgvip orders-rw"
        || cmd == "kubectl -n pgvip-system get pods -o wide"
}

fn sh(tb: &Testbed, dir: &Path, cmd: &str) -> Result<String> {
    let path = format!(
        "{}:{}",
        tb.bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let kc = tb.layout.path("kubeconfig-admin");
    let script = format!(
        "cd '{}' && export PATH='{path}' KUBECONFIG='{}' && {cmd}",
        dir.display(),
        kc.display()
    );
    run("bash", &["-c", &script])
}

/// Adds the quickstart checks to the smoke suite.
pub fn checks(tb: &Testbed, s: &mut Suite, repo: &Path, work: &Path) {
    s.check("the quickstart's install commands run as written", || {
        let md = std::fs::read_to_string(repo.join("docs/quickstart-oke.md"))
            .map_err(|e| Error::Other(format!("quickstart: {e}")))?;
        let dir = work.join("quickstart");
        std::fs::create_dir_all(&dir).map_err(|e| Error::Other(e.to_string()))?;
        let link = dir.join("charts");
        if !link.exists() {
            std::os::unix::fs::symlink(repo.join("charts"), &link)
                .map_err(|e| Error::Other(e.to_string()))?;
        }
        std::fs::write(dir.join("oci_api_key.pem"), "not a key; never read here\n")
            .map_err(|e| Error::Other(e.to_string()))?;
        // The PostgresVip the quickstart creates, from its yaml block, with the subnet filled in.
        let vip = blocks(&md, "yaml")
            .into_iter()
            .find(|b| b.contains("kind: PostgresVip"))
            .ok_or_else(|| Error::Other("no PostgresVip yaml block".into()))?;
        std::fs::write(dir.join("orders-rw.yaml"), adapt_yaml(&vip))
            .map_err(|e| Error::Other(e.to_string()))?;
        let cmds: Vec<String> = blocks(&md, "sh")
            .iter()
            .flat_map(|b| {
                b.lines()
                    .map(str::trim)
                    .map(str::to_string)
                    .collect::<Vec<_>>()
            })
            .filter(|l| runnable(l))
            .collect();
        let mut installs = 0;
        let mut ran = vec![];
        for cmd in &cmds {
            let c = adapt(cmd);
            if c.starts_with("helm install") && installs > 0 {
                // Each auth mode is an alternative install of the same release.
                sh(tb, &dir, "helm uninstall pgvip-docs -n pgvip-docs --wait")?;
            }
            if c.starts_with("kubectl -n db wait") {
                mark_ready(tb)?;
            }
            if c.starts_with("helm install") {
                installs += 1;
            }
            match sh(tb, &dir, &c) {
                // The auth modes are alternatives; an earlier one already created the namespace.
                Err(e)
                    if c.starts_with("kubectl create namespace")
                        && e.to_string().contains("AlreadyExists") => {}
                r => {
                    r.map_err(|e| Error::Other(format!("`{c}`: {e}")))?;
                }
            }
            if c.starts_with("helm install") || c.starts_with("helm upgrade") {
                for obj in [
                    "deployment/pgvip-docs-controller",
                    "daemonset/pgvip-docs-node-agent",
                    "poddisruptionbudget/pgvip-docs-controller",
                    "role/pgvip-docs-controller-leader-election",
                    "service/pgvip-docs-controller-metrics",
                ] {
                    tb.kubectl(&["get", "-n", "pgvip-docs", obj])?;
                }
                tb.kubectl(&[
                    "get",
                    "clusterrole/pgvip-docs-controller",
                    "clusterrolebinding/pgvip-docs-node-agent",
                ])?;
            }
            ran.push(c);
        }
        let _ = tb.kubectl(&["-n", "db", "delete", "pgvip", "orders-rw", "--wait=false"]);
        let has = |p: &str| ran.iter().any(|c| c.contains(p));
        if installs != 3
            || !has("wait --for=condition=Ready")
            || !has("helm upgrade")
            || !has("helm uninstall pgvip-docs -n pgvip-docs")
        {
            return Err(Error::Other(format!(
                "expected three helm installs and the wait among the commands run: {ran:#?}"
            )));
        }
        Ok(())
    });
}

/// The quickstart's PostgresVip with the placeholder subnet OCID made a valid-looking OCID.
fn adapt_yaml(vip: &str) -> String {
    vip.replace("<…>", "aaaaaaaaquickstart")
}

/// Sets `Ready=True` on the quickstart's PostgresVip, as the controller would (the smoke suite
/// runs no controller), so that the document's `kubectl wait` line can be run as written.
fn mark_ready(tb: &Testbed) -> Result<()> {
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let patch = format!(
        r#"{{"status":{{"conditions":[{{"type":"Ready","status":"True","reason":"Verified","message":"set by the smoke suite","lastTransitionTime":"{now}","observedGeneration":1}}]}}}}"#
    );
    tb.kubectl(&[
        "-n",
        "db",
        "patch",
        "pgvip",
        "orders-rw",
        "--subresource=status",
        "--type=merge",
        "-p",
        &patch,
    ])
    .map(|_| ())
}
