//! Kubernetes objects of the testbed: namespaces, the CRD, pgvip's service accounts and RBAC
//! rendered from the Helm chart, Patroni's service account, worker Nodes with OCI provider IDs,
//! and the Postgres member Pods bound to them with status Running and their IP, as kwok does.

use std::{path::Path, time::Duration};

use k8s_openapi::api::{
    coordination::v1::Lease,
    core::v1::{Node, Pod},
};
use kube::{
    api::{Patch, PatchParams, PostParams},
    Api, Client,
};
use serde_json::json;

use crate::{
    cmd::{run, run_input},
    error::{Context, Error, Result},
    layout::Layout,
};

/// Field manager of the harness's own writes.
pub const MANAGER: &str = "pgvip-testbed";

/// Runs the testbed's kubectl with the admin kubeconfig.
pub fn kubectl(bin: &Path, kubeconfig: &Path, args: &[&str]) -> Result<String> {
    let kc = kubeconfig.to_string_lossy();
    let mut full = vec!["--kubeconfig", &kc];
    full.extend_from_slice(args);
    run(&bin.join("kubectl").to_string_lossy(), &full)
}

/// Applies YAML through kubectl (server-side).
pub fn apply_yaml(bin: &Path, kubeconfig: &Path, yaml: &str) -> Result<String> {
    let kc = kubeconfig.to_string_lossy();
    run_input(
        &bin.join("kubectl").to_string_lossy(),
        &[
            "--kubeconfig",
            &kc,
            "apply",
            "--server-side",
            "--field-manager",
            MANAGER,
            "--force-conflicts",
            "-f",
            "-",
        ],
        Some(yaml.as_bytes()),
    )
}

/// Namespaces, CRDs, pgvip RBAC from the chart, Patroni's RBAC; waits for the CRD.
pub fn bootstrap(layout: &Layout, bin: &Path, kubeconfig: &Path, repo: &Path) -> Result<()> {
    let ns = format!(
        "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {}}}\n---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: {}}}\n",
        layout.db_namespace, layout.system_namespace
    );
    apply_yaml(bin, kubeconfig, &ns)?;
    for (file, crd) in [
        ("pgvip.dev_postgresvips.yaml", "postgresvips.pgvip.dev"),
        (
            "pgvip.dev_postgresvipdrills.yaml",
            "postgresvipdrills.pgvip.dev",
        ),
    ] {
        let yaml = std::fs::read_to_string(repo.join("crds").join(file)).ctx("reading a CRD")?;
        apply_yaml(bin, kubeconfig, &yaml)?;
        kubectl(
            bin,
            kubeconfig,
            &[
                "wait",
                "--for=condition=Established",
                "--timeout=60s",
                &format!("crd/{crd}"),
            ],
        )?;
    }
    let rbac = render_chart_rbac(bin, repo, &layout.system_namespace, &layout.db_namespace)?;
    apply_yaml(bin, kubeconfig, &rbac)?;
    apply_yaml(bin, kubeconfig, &patroni_rbac(&layout.db_namespace))?;
    Ok(())
}

/// The chart's ServiceAccounts and RBAC, exactly as `helm template` renders them.
pub fn render_chart_rbac(
    bin: &Path,
    repo: &Path,
    namespace: &str,
    db_namespace: &str,
) -> Result<String> {
    let chart = repo.join("charts/pgvip");
    let drill_ns = format!("controller.drillSecrets[0].namespace={db_namespace}");
    let drill_names = format!(
        "controller.drillSecrets[0].names={{{}}}",
        crate::drill::PROBE_SECRET
    );
    run(
        &bin.join("helm").to_string_lossy(),
        &[
            "template",
            "pgvip",
            &chart.to_string_lossy(),
            "--namespace",
            namespace,
            "--kube-version",
            "1.34.4",
            // The testbed's controller authenticates with an API key, as the chart's apiKey mode does.
            "--set",
            "oci.auth=apiKey",
            "--set",
            "oci.region=us-phoenix-1",
            "--set",
            "oci.apiKey.secretName=pgvip-oci-api-key",
            // The drills' probe login, readable by name as a user would grant it.
            "--set",
            &drill_ns,
            "--set",
            &drill_names,
            "--show-only",
            "templates/serviceaccounts.yaml",
            "--show-only",
            "templates/rbac.yaml",
        ],
    )
}

/// Patroni's service account and the Role its Kubernetes DCS needs (from Patroni's docs).
pub fn patroni_rbac(ns: &str) -> String {
    format!(
        r#"apiVersion: v1
kind: ServiceAccount
metadata: {{name: patroni, namespace: {ns}}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {{name: patroni, namespace: {ns}}}
rules:
- apiGroups: [""]
  resources: [configmaps]
  verbs: [create, get, list, patch, update, watch, delete, deletecollection]
- apiGroups: [""]
  resources: [endpoints]
  verbs: [get, patch, update, create, list, watch, delete, deletecollection]
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, patch, update, watch]
- apiGroups: [""]
  resources: [services]
  verbs: [create]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {{name: patroni, namespace: {ns}}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: Role, name: patroni}}
subjects: [{{kind: ServiceAccount, name: patroni, namespace: {ns}}}]
"#
    )
}

/// A bound service-account token (TokenRequest API) valid for two days.
pub fn sa_token(bin: &Path, kubeconfig: &Path, ns: &str, sa: &str) -> Result<String> {
    Ok(kubectl(
        bin,
        kubeconfig,
        &["create", "token", sa, "-n", ns, "--duration", "48h"],
    )?
    .trim()
    .to_string())
}

/// Creates the worker Nodes (providerID = the simulator's instance OCIDs) and marks them Ready.
pub async fn create_nodes(client: &Client, layout: &Layout) -> Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    for n in &layout.nodes {
        let node: Node = serde_json::from_value(json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": n.name, "labels": {
                "kubernetes.io/hostname": n.name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "node.kubernetes.io/instance-type": "VM.Standard.E4.Flex",
                "topology.kubernetes.io/region": layout.region}},
            "spec": layout.provider_id(n).map_or(json!({}), |id| json!({"providerID": id})),
        }))
        .map_err(|e| Error::Other(e.to_string()))?;
        match nodes.create(&PostParams::default(), &node).await {
            Ok(_) => {}
            Err(kube::Error::Api(e)) if e.code == 409 => {}
            Err(e) => {
                return Err(Error::Kube {
                    context: format!("creating node {}", n.name),
                    source: e,
                })
            }
        }
    }
    heartbeat(client, layout).await
}

/// Renews every worker's Ready condition and node Lease, as a kubelet would.
pub async fn heartbeat(client: &Client, layout: &Layout) -> Result<()> {
    let nodes: Api<Node> = Api::all(client.clone());
    let leases: Api<Lease> = Api::namespaced(client.clone(), "kube-node-lease");
    let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let micro = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
    let pp = PatchParams::apply(MANAGER).force();
    for n in &layout.nodes {
        let status = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": n.name}, "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "testbed node is ready",
                            "lastHeartbeatTime": now, "lastTransitionTime": "2026-01-01T00:00:00Z"}],
            "addresses": [{"type": "InternalIP", "address": n.ip}, {"type": "Hostname", "address": n.name}],
        }});
        nodes
            .patch_status(&n.name, &pp, &Patch::Apply(status))
            .await
            .ctx(format!("node {} status", n.name))?;
        let lease = json!({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": n.name, "namespace": "kube-node-lease"},
            "spec": {"holderIdentity": n.name, "leaseDurationSeconds": 40, "renewTime": micro}});
        leases
            .patch(&n.name, &pp, &Patch::Apply(lease))
            .await
            .ctx(format!("node lease {}", n.name))?;
    }
    Ok(())
}

/// Creates the Postgres member Pods, bound to their nodes, and marks them Running with their IP.
pub async fn create_member_pods(client: &Client, layout: &Layout) -> Result<()> {
    let pods: Api<Pod> = Api::namespaced(client.clone(), &layout.db_namespace);
    let pp = PatchParams::apply(MANAGER).force();
    for n in &layout.nodes {
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": n.member, "namespace": layout.db_namespace,
                         "labels": {"application": "patroni", "cluster-name": layout.scope}},
            "spec": {"nodeName": n.name, "serviceAccountName": "patroni", "automountServiceAccountToken": false,
                     "containers": [{"name": "postgres", "image": "testbed.invalid/patroni:host-process",
                                     "ports": [{"containerPort": 5432, "name": "postgresql"}, {"containerPort": 8008, "name": "patroni"}]}]}});
        pods.patch(&n.member, &pp, &Patch::Apply(pod))
            .await
            .ctx(format!("pod {}", n.member))?;
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let status = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": n.member, "namespace": layout.db_namespace},
            "status": {"phase": "Running", "podIP": n.ip,
                       "containerStatuses": [{"name": "postgres", "ready": true, "started": true, "restartCount": 0,
                                              "image": "testbed.invalid/patroni:host-process", "imageID": "",
                                              "state": {"running": {"startedAt": now}}}], "podIPs": [{"ip": n.ip}], "hostIP": n.ip, "startTime": now,
                       "conditions": [{"type": "Ready", "status": "True", "lastTransitionTime": now},
                                      {"type": "ContainersReady", "status": "True", "lastTransitionTime": now},
                                      {"type": "PodScheduled", "status": "True", "lastTransitionTime": now}]}});
        pods.patch_status(&n.member, &pp, &Patch::Apply(status))
            .await
            .ctx(format!("pod {} status", n.member))?;
    }
    Ok(())
}

/// Polls `check` every 200 ms until it returns `Some`, or fails after `limit`.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let start = std::time::Instant::now();
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if start.elapsed() > limit {
            return Err(Error::Timeout {
                what: what.to_string(),
                secs: limit.as_secs(),
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}
