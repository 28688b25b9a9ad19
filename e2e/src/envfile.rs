//! The machine-readable description of a running testbed: one `KEY=VALUE` file (shell-sourceable)
//! and the same keys as JSON, so tests, the demo and any tool can attach to it.

use std::{collections::BTreeMap, fs, path::Path};

use crate::{
    error::{Context, Error, Result},
    layout::Layout,
};

/// File name of the env file inside the state directory.
pub const ENV_FILE: &str = "testbed.env";

/// Builds the env map of a testbed (pure).
pub fn describe(layout: &Layout, bin: &Path, patronictl: &Path) -> BTreeMap<String, String> {
    let s = |p: &str| layout.path(p).to_string_lossy().into_owned();
    let mut m = BTreeMap::new();
    let mut put = |k: &str, v: String| {
        m.insert(k.to_string(), v);
    };
    put(
        "PGVIP_TESTBED_DIR",
        layout.state_dir.to_string_lossy().into_owned(),
    );
    put("KUBECONFIG", s("kubeconfig-admin"));
    put("PGVIP_KUBECONFIG_CONTROLLER", s("kubeconfig-controller"));
    put("PGVIP_KUBECONFIG_AGENT", s("kubeconfig-agent"));
    put("PGVIP_KUBECONFIG_PATRONI", s("kubeconfig-patroni"));
    put("PGVIP_BIN", bin.to_string_lossy().into_owned());
    put(
        "PGVIP_PATRONICTL",
        patronictl.to_string_lossy().into_owned(),
    );
    put(
        "PGVIP_APISERVER",
        format!("https://127.0.0.1:{}", layout.apiserver_port),
    );
    put(
        "PGVIP_OCI_URL",
        format!("https://127.0.0.1:{}", layout.oci_port),
    );
    put(
        "PGVIP_OCI_ADMIN_URL",
        format!("http://127.0.0.1:{}", layout.oci_admin_port),
    );
    put("PGVIP_OCI_CA", s("oci/ca.crt"));
    put("PGVIP_VIP", layout.vip.clone());
    put("PGVIP_SUBNET_CIDR", layout.subnet_cidr.clone());
    put("PGVIP_SUBNET_ID", layout.subnet_id.clone());
    put("PGVIP_DB_NAMESPACE", layout.db_namespace.clone());
    put("PGVIP_SYSTEM_NAMESPACE", layout.system_namespace.clone());
    put("PGVIP_SCOPE", layout.scope.clone());
    put("PGVIP_NETNS_FABRIC", layout.fabric_netns.clone());
    put("PGVIP_NETNS_CLIENT", layout.client.netns.clone());
    put(
        "PGVIP_NETNS_CONTROLLER",
        layout.controller_host.netns.clone(),
    );
    put(
        "PGVIP_NODES",
        layout
            .nodes
            .iter()
            .map(|n| n.name.clone())
            .collect::<Vec<_>>()
            .join(" "),
    );
    for (i, n) in layout.nodes.iter().enumerate() {
        let k = i + 1;
        put(&format!("PGVIP_NODE{k}_NAME"), n.name.clone());
        put(&format!("PGVIP_NODE{k}_NETNS"), n.netns.clone());
        put(&format!("PGVIP_NODE{k}_IP"), n.ip.clone());
        put(&format!("PGVIP_NODE{k}_MEMBER"), n.member.clone());
        put(&format!("PGVIP_NODE{k}_INSTANCE"), n.instance_id.clone());
        put(&format!("PGVIP_NODE{k}_VNIC"), n.vnic_id.clone());
    }
    m
}

/// Writes `testbed.env` and `testbed.json` into the state directory.
pub fn write(layout: &Layout, env: &BTreeMap<String, String>) -> Result<()> {
    let text: String = env
        .iter()
        .map(|(k, v)| format!("{k}={}\n", shell_quote(v)))
        .collect();
    fs::write(layout.path(ENV_FILE), text).ctx("writing testbed.env")?;
    let json = serde_json::to_string_pretty(env).map_err(|e| Error::Other(e.to_string()))?;
    fs::write(layout.path("testbed.json"), json).ctx("writing testbed.json")
}

/// Reads `testbed.json` of a running testbed.
pub fn read(state_dir: &Path) -> Result<BTreeMap<String, String>> {
    let text = fs::read_to_string(state_dir.join("testbed.json")).ctx(format!(
        "no testbed is up at {} (run `testbed up`)",
        state_dir.display()
    ))?;
    serde_json::from_str(&text).map_err(|e| Error::Other(format!("testbed.json: {e}")))
}

fn shell_quote(v: &str) -> String {
    if v.chars()
        .all(|c| c.is_ascii_alphanumeric() || "/._-:".contains(c))
    {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_names_everything_a_tool_needs() {
        let l = Layout::standard("/tmp/tb".into());
        let m = describe(&l, Path::new("/c/bin"), Path::new("/c/patronictl"));
        for k in [
            "KUBECONFIG",
            "PGVIP_VIP",
            "PGVIP_OCI_URL",
            "PGVIP_NETNS_CLIENT",
            "PGVIP_NODE3_INSTANCE",
            "PGVIP_APISERVER",
        ] {
            assert!(m.contains_key(k), "{k}");
        }
        assert_eq!(m["PGVIP_NODES"], "worker-1 worker-2 worker-3");
        assert_eq!(shell_quote("a b"), "'a b'");
    }
}
