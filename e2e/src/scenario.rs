//! One failover, measured from the application's side: start a writer through the VIP, disturb
//! the cluster, wait until writes land on the new primary through the VIP, then check what must
//! hold after convergence (every acknowledged write present, exactly one node with the address,
//! the cloud assignment on that node's VNIC, PostgresVip Ready with the failover recorded, and
//! its status stating what `ip addr` shows on every node).

use std::{
    net::IpAddr,
    time::{Duration, Instant},
};

use kube::Api;
use pgvip_api::{condition, PostgresVip};
use serde::Serialize;

use crate::{
    app::{self, Writer, WriterConfig},
    cluster::wait_for,
    cmd,
    error::{Error, Result},
    layout::{CloudFlavour, NodeLayout},
    Testbed,
};

/// Name of the PostgresVip the suites create.
pub const VIP_NAME: &str = "orders-rw";

/// Figures of one scenario, written to the results file.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ScenarioResult {
    /// Scenario name.
    pub name: String,
    /// Node that held the VIP before.
    pub from: String,
    /// Node that holds it after.
    pub to: String,
    /// Longest stretch without an acknowledged write, milliseconds.
    pub outage_millis: u64,
    /// Acknowledged writes during the scenario.
    pub acked: usize,
    /// Failed attempts during the scenario.
    pub failed: usize,
    /// pgvip's own measurement (status.lastFailover.durationMillis).
    pub pgvip_total_millis: Option<u64>,
    /// Phase durations from status.lastFailover: decide (of it, promotion), cloud, announce,
    /// verify.
    pub phases: Option<pgvip_api::FailoverPhases>,
    /// When pgvip saw the leader change (status.lastFailover.at, RFC 3339).
    pub pgvip_started_at: Option<String>,
    /// Longest stretch with the VIP configured on two nodes at once (a lost node left out),
    /// sampled every 100 ms; on L2, where both would answer ARP, under
    /// [`L2_MAX_TWO_HOLDERS`].
    pub two_holders_millis: u64,
}

/// Condition reasons of the address-safety contract (set by the controller; spelled here so
/// the suites assert the contract, not the implementation's constants).
pub mod reason {
    /// Another, older PostgresVip owns the address.
    pub const ADDRESS_CONFLICT: &str = "AddressConflict";
    /// The address is a Node's InternalIP/ExternalIP or a pod IP.
    pub const ADDRESS_IN_USE: &str = "AddressInUse";
    /// The cloud move failed or was refused.
    pub const CLOUD_MOVE_FAILED: &str = "CloudMoveFailed";
    /// The address is kept off every node until a cloud move succeeds.
    pub const ADDRESS_WITHHELD: &str = "AddressWithheld";
    /// A node other than the desired one still holds the address.
    pub const CONFIGURED_ELSEWHERE: &str = "ConfiguredElsewhere";
}

/// On L2, the longest the VIP may sit on two nodes at once: the hand-over of a planned
/// switchover, where the old node removes it as the new one adds it (both react to the same
/// status write). The new holder announces every 10 ms for its first 500 ms, so a client that
/// got the old node's ARP answer in that moment is corrected at once; anything longer is a
/// second holder clients can stick to.
pub const L2_MAX_TWO_HOLDERS: Duration = Duration::from_millis(500);

/// The manifest of the suites' PostgresVip.
pub fn vip_manifest(tb: &Testbed, use_endpoints: bool) -> String {
    vip_manifest_named(tb, VIP_NAME, &tb.layout.vip, use_endpoints)
}

/// The manifest of a PostgresVip `name` for `address` following the testbed's cluster, in the
/// database namespace, with the suites' announce settings; its data-path check also proves
/// PostgreSQL answers through the address.
pub fn vip_manifest_named(tb: &Testbed, name: &str, address: &str, use_endpoints: bool) -> String {
    format!(
        "apiVersion: pgvip.dev/v1alpha1\nkind: PostgresVip\nmetadata: {{name: {name}, namespace: {ns}}}\nspec:\n  address: \"{address}\"\n  patroni: {{scope: {scope}, useEndpoints: {use_endpoints}}}\n  provider: {{{cloud}: {block}}}\n  announce: {{garpCount: 3, garpIntervalMillis: 200}}\n  dataPath: {{postgresPort: 5432}}\n",
        ns = tb.layout.db_namespace,
        scope = tb.layout.scope,
        cloud = tb.layout.cloud.key(),
        block = if tb.layout.cloud.has_cloud() {
            format!("{{subnetId: {}}}", tb.layout.subnet_id)
        } else {
            "{}".to_string()
        },
    )
}

/// The link-layer address of a usable entry in `ip neigh show ADDR` output (none while it is
/// unresolved or failed).
fn neighbour_mac(out: &str) -> Option<String> {
    out.lines().find_map(|line| {
        let words: Vec<&str> = line.split_whitespace().collect();
        let failed = words.iter().any(|w| matches!(*w, "FAILED" | "INCOMPLETE"));
        let at = words.iter().position(|w| *w == "lladdr")?;
        (!failed).then(|| words.get(at + 1).map(|m| m.to_lowercase()))?
    })
}

/// The condition `type_` of `vip`, if set.
pub fn condition_of(vip: &PostgresVip, type_: &str) -> Option<pgvip_api::Condition> {
    vip.status
        .as_ref()?
        .conditions
        .iter()
        .find(|c| c.type_ == type_)
        .cloned()
}

impl Testbed {
    /// The suites' PostgresVip as it is now.
    pub async fn vip(&self) -> Result<PostgresVip> {
        self.vip_named(VIP_NAME).await
    }

    /// PostgresVip `name` of the database namespace as it is now.
    pub async fn vip_named(&self, name: &str) -> Result<PostgresVip> {
        self.vip_api()
            .get(name)
            .await
            .map_err(|e| Error::Other(format!("get PostgresVip {name}: {e}")))
    }

    /// The PostgresVip API of the database namespace.
    pub fn vip_api(&self) -> Api<PostgresVip> {
        Api::namespaced(self.client.clone(), &self.layout.db_namespace)
    }

    /// Waits until the PostgresVip is Ready with the address assigned to `node`.
    pub async fn wait_vip_ready_on(&self, node: &str, limit: Duration) -> Result<PostgresVip> {
        self.wait_vip_named_ready_on(VIP_NAME, node, limit).await
    }

    /// Waits until PostgresVip `name` is Ready with the address assigned to `node`.
    pub async fn wait_vip_named_ready_on(
        &self,
        name: &str,
        node: &str,
        limit: Duration,
    ) -> Result<PostgresVip> {
        wait_for(
            &format!("PostgresVip {name} Ready on {node}"),
            limit,
            || async {
                let v = self.vip_named(name).await.ok()?;
                let st = v.status.as_ref()?;
                let ready = st
                    .conditions
                    .iter()
                    .any(|c| c.type_ == condition::READY && c.status == "True");
                (ready
                    && st.assigned_node.as_deref() == Some(node)
                    && st.desired_node.as_deref() == Some(node))
                .then_some(v)
            },
        )
        .await
    }

    /// The node hosting Patroni member `member`.
    pub fn member_node(&self, member: &str) -> Result<&NodeLayout> {
        self.layout
            .nodes
            .iter()
            .find(|n| n.member == member)
            .ok_or_else(|| Error::Other(format!("unknown member {member}")))
    }

    /// Nodes that have the VIP configured at the OS level right now.
    pub fn nodes_with_vip(&self) -> Result<Vec<String>> {
        self.nodes_with_address(self.vip_addr()?)
    }

    /// The suites' VIP, parsed.
    pub fn vip_addr(&self) -> Result<IpAddr> {
        self.layout
            .vip
            .parse()
            .map_err(|e| Error::Other(format!("testbed VIP {}: {e}", self.layout.vip)))
    }

    /// Every address configured in `node`'s namespace (any interface) as `(address, prefix
    /// length)`, from `ip -br addr show`.
    pub fn node_addresses(&self, node: &NodeLayout) -> Result<Vec<(IpAddr, u8)>> {
        crate::holders::addresses_in(&node.netns)
    }

    /// Nodes on which `ip addr` shows `addr` (with any prefix length), in layout order.
    pub fn nodes_with_address(&self, addr: IpAddr) -> Result<Vec<String>> {
        Ok(crate::holders::holders(&self.layout, addr))
    }

    /// Fails unless PostgresVip `vip_name`'s status states what is on the nodes (after
    /// convergence): for every node, `status.nodes[node].addressConfigured` (an absent entry is
    /// false) is true exactly when `ip addr` in its namespace shows the address, and
    /// `AddressConfigured` is True exactly when the desired node holds it and no other node does
    /// (`ConfiguredElsewhere` when another node still holds it). Agents report asynchronously,
    /// so this retries for a few seconds before failing with the last mismatch.
    pub async fn check_status_matches_nodes(&self, vip_name: &str) -> Result<()> {
        self.check_status_matches_nodes_except(vip_name, &[]).await
    }

    /// Like [`Testbed::check_status_matches_nodes`], for a testbed where the nodes in
    /// `unreachable` are cut off (frozen, link down): their agents cannot report, so their
    /// entries may be stale, and the controller cannot know what they hold. For them only the
    /// safe direction is required: the status must not say the address is configured there
    /// while `ip addr` shows it is not. Their own copy does not count against
    /// `AddressConfigured` (the fabric does not deliver to them; the old node removes it when
    /// it returns).
    pub async fn check_status_matches_nodes_except(
        &self,
        vip_name: &str,
        unreachable: &[&str],
    ) -> Result<()> {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let problems = self.status_vs_nodes(vip_name, unreachable).await?;
            if problems.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(Error::Other(format!(
                    "PostgresVip {vip_name}: the status does not state what is on the nodes: {}",
                    problems.join("; ")
                )));
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    }

    /// One comparison of [`Testbed::check_status_matches_nodes_except`]: the mismatches found.
    async fn status_vs_nodes(&self, vip_name: &str, unreachable: &[&str]) -> Result<Vec<String>> {
        let vip = self.vip_named(vip_name).await?;
        let addr: IpAddr = vip.spec.address.parse().map_err(|_| {
            Error::Other(format!(
                "PostgresVip {vip_name}: spec.address {:?} is not an IP address",
                vip.spec.address
            ))
        })?;
        let holders = self.nodes_with_address(addr)?;
        let st = vip.status.clone().unwrap_or_default();
        // An agent whose heartbeat lapsed is cut off from the API server (partitioned): its
        // entry is what it said last, and it cannot say more until it is back.
        let silent = self.silent_agents().await?;
        let unreachable: Vec<&str> = unreachable
            .iter()
            .copied()
            .chain(silent.iter().map(String::as_str))
            .collect();
        let unreachable = unreachable.as_slice();
        let mut problems = vec![];
        for n in &self.layout.nodes {
            let shown = holders.contains(&n.name);
            let entry = st.nodes.iter().find(|r| r.node == n.name);
            let reported = entry.is_some_and(|r| r.address_configured);
            let lost = unreachable.contains(&n.name.as_str());
            let cut_off = silent.contains(&n.name);
            if shown != reported && !(lost && shown) && !cut_off {
                problems.push(format!(
                    "{}{}: ip addr {} {addr} but status.nodes says addressConfigured={reported}{}",
                    n.name,
                    if lost { " (unreachable)" } else { "" },
                    if shown { "shows" } else { "does not show" },
                    if entry.is_none() { " (no entry)" } else { "" },
                ));
            }
        }
        let reachable: Vec<&String> = holders
            .iter()
            .filter(|h| !unreachable.contains(&h.as_str()))
            .collect();
        let desired = st.desired_node.as_deref();
        let cond = condition_of(&vip, condition::ADDRESS_CONFIGURED);
        let seen = cond
            .as_ref()
            .map(|c| format!("{}/{}: {}", c.status, c.reason, c.message))
            .unwrap_or_else(|| "absent".into());
        let status = cond.as_ref().map(|c| c.status.as_str());
        let elsewhere = reachable.iter().any(|h| Some(h.as_str()) != desired);
        if desired.is_some_and(|d| reachable.len() == 1 && reachable[0] == d) {
            if status != Some("True") {
                problems.push(format!(
                    "only the desired node {} holds {addr}, but AddressConfigured is {seen}",
                    desired.unwrap_or_default()
                ));
            }
        } else if elsewhere {
            if status != Some("False")
                || cond.as_ref().map(|c| c.reason.as_str()) != Some(reason::CONFIGURED_ELSEWHERE)
            {
                problems.push(format!(
                    "{holders:?} hold {addr} (desired {desired:?}), but AddressConfigured is {seen}, expected False/{}",
                    reason::CONFIGURED_ELSEWHERE
                ));
            }
        } else if status == Some("True") {
            problems.push(format!(
                "no node holds {addr} (desired {desired:?}), but AddressConfigured is {seen}"
            ));
        }
        Ok(problems)
    }

    /// Nodes whose agent's heartbeat Lease has lapsed (renewed longer ago than its duration):
    /// the agent cannot reach the API server, so it cannot report.
    pub async fn silent_agents(&self) -> Result<Vec<String>> {
        let api: Api<k8s_openapi::api::coordination::v1::Lease> =
            Api::namespaced(self.client.clone(), &self.layout.system_namespace);
        let now = k8s_openapi::jiff::Timestamp::now();
        let mut out = vec![];
        for n in &self.layout.nodes {
            let lease = api
                .get_opt(&pgvip_api::agent::heartbeat_lease_name(&n.name))
                .await
                .map_err(|e| Error::Other(format!("get heartbeat Lease: {e}")))?;
            let spec = lease.and_then(|l| l.spec).unwrap_or_default();
            let fresh = spec.renew_time.is_some_and(|t| {
                let age = now.as_second() - t.0.as_second();
                age <= i64::from(spec.lease_duration_seconds.unwrap_or(30))
            });
            if !fresh {
                out.push(n.name.clone());
            }
        }
        Ok(out)
    }

    /// The simulator's call log (`GET /calls`), oldest first.
    pub async fn oci_calls(&self) -> Result<Vec<pgvip_cloudsim::CallRecord>> {
        self.admin_get("/calls").await
    }

    /// The EC2 front's call log (`GET /calls`), oldest first.
    pub async fn aws_calls(&self) -> Result<Vec<pgvip_cloudsim::aws::AwsCallRecord>> {
        self.admin_get("/calls").await
    }

    /// GETs `path` from the simulator's admin endpoint (either front) and parses the JSON.
    async fn admin_get<T: serde::de::DeserializeOwned>(&self, path: &str) -> Result<T> {
        let url = format!("http://127.0.0.1:{}{path}", self.layout.oci_admin_port);
        reqwest::get(&url)
            .await
            .map_err(|e| Error::Other(format!("simulator admin: {e}")))?
            .json()
            .await
            .map_err(|e| Error::Other(format!("simulator admin {path}: {e}")))
    }

    /// Where the network delivers the VIP: the VNIC (ENI) the simulated control plane assigns
    /// it to, or on the L2 flavour the MAC the application client's neighbour entry names.
    pub async fn cloud_assignment(&self) -> Result<Option<String>> {
        self.cloud_assignment_of(self.vip_addr()?).await
    }

    /// The VNIC the simulated control plane assigns secondary IP `addr` to, if it lists it (on
    /// L2, the MAC of the client's usable neighbour entry for `addr`).
    pub async fn cloud_assignment_of(&self, addr: std::net::IpAddr) -> Result<Option<String>> {
        if !self.layout.cloud.has_cloud() {
            let out = cmd::ip_in(
                &self.layout.client.netns,
                &["neigh", "show", &addr.to_string()],
            )?;
            return Ok(neighbour_mac(&out));
        }
        let body: serde_json::Value = self.admin_get("/assignments").await?;
        Ok(body
            .as_array()
            .into_iter()
            .flatten()
            .find(|a| {
                a["ip"]
                    .as_str()
                    .and_then(|s| s.parse::<std::net::IpAddr>().ok())
                    .is_some_and(|ip| ip == addr)
            })
            .and_then(|a| a["vnicId"].as_str().map(str::to_string)))
    }

    /// Sends a fault command to the simulator's admin endpoint.
    pub async fn oci_fault(&self, cmd: &pgvip_cloudsim::FaultCommand) -> Result<()> {
        let body =
            serde_json::to_value(cmd).map_err(|e| Error::Other(format!("fault command: {e}")))?;
        self.oci_admin_post("/faults", &body).await
    }

    /// Sends a fault to the running front of the simulator, in its cloud's terms.
    /// On the L2 flavour there is no cloud: clearing is a no-op, any other fault an error.
    pub async fn cloud_fault(&self, fault: crate::sim_fault::SimFault) -> Result<()> {
        if !self.layout.cloud.has_cloud() {
            return match fault {
                crate::sim_fault::SimFault::Clear => Ok(()),
                f => Err(Error::Other(format!("{f:?}: the L2 flavour has no cloud"))),
            };
        }
        self.oci_admin_post("/faults", &fault.command(self.layout.cloud))
            .await
    }

    /// Detaches (or re-attaches) `node`'s interface in the VIP's subnet in the simulated
    /// cloud, as someone outside pgvip would: the OCI VNIC or the EC2 ENI. No cloud on L2.
    pub async fn detach_interface(&self, node: &NodeLayout, detached: bool) -> Result<()> {
        match self.layout.cloud {
            CloudFlavour::Oci => {
                let state = if detached { "DETACHED" } else { "ATTACHED" };
                self.oci_attachment(&node.vnic_id, state).await
            }
            CloudFlavour::Aws => {
                let status = if detached { "detached" } else { "attached" };
                self.oci_admin_post(
                    "/attachments",
                    &serde_json::json!({ "eniId": node.vnic_id, "status": status }),
                )
                .await
            }
            CloudFlavour::L2 => Err(Error::Other("the L2 flavour has no cloud".into())),
        }
    }

    /// Sets a VNIC's attachment state in the simulator (`DETACHED` / `ATTACHED`).
    pub async fn oci_attachment(&self, vnic_id: &str, state: &str) -> Result<()> {
        self.oci_admin_post(
            "/attachments",
            &serde_json::json!({ "vnicId": vnic_id, "state": state }),
        )
        .await
    }

    /// POSTs `body` to the simulator's admin endpoint `path`.
    async fn oci_admin_post(&self, path: &str, body: &serde_json::Value) -> Result<()> {
        let url = format!("http://127.0.0.1:{}{path}", self.layout.oci_admin_port);
        let r = reqwest::Client::new()
            .post(&url)
            .json(body)
            .send()
            .await
            .map_err(|e| Error::Other(format!("simulator admin: {e}")))?;
        if r.status().is_success() {
            Ok(())
        } else {
            Err(Error::Other(format!(
                "simulator admin answered {}",
                r.status()
            )))
        }
    }

    /// Fails unless every write acknowledged in `attempts` is in the table on `node`.
    pub async fn check_acked_on(&self, node: &NodeLayout, attempts: &[app::Attempt]) -> Result<()> {
        let rows = wait_for(
            "the application's rows on the new primary",
            Duration::from_secs(30),
            || async { self.rows_on(&node.ip).ok() },
        )
        .await?;
        let missing = app::missing_acked(attempts, &rows);
        if missing.is_empty() {
            return Ok(());
        }
        Err(Error::Other(format!(
            "{} acknowledged writes are missing on the new primary: {:?}",
            missing.len(),
            &missing[..missing.len().min(10)]
        )))
    }

    /// Sequence numbers present in the application's table, read on `host` directly.
    pub fn rows_on(&self, host: &str) -> Result<Vec<i64>> {
        let out = self.psql(host, "SELECT seq FROM app_writes ORDER BY seq")?;
        Ok(out.lines().filter_map(|l| l.trim().parse().ok()).collect())
    }

    /// Starts the application writer through the VIP.
    pub fn start_writer(&self) -> Result<Writer> {
        self.start_writer_to(&self.layout.vip)
    }

    /// Starts the application writing through `address` from the client namespace.
    pub fn start_writer_to(&self, address: &str) -> Result<Writer> {
        Writer::start(WriterConfig {
            host: address.to_string(),
            netns: self.layout.client.netns.clone(),
            rate_hz: 20,
            timeout: Duration::from_secs(1),
        })
    }
}

/// What a scenario expects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expect {
    /// The leader moves to another node.
    NewLeader,
    /// The leader moves, and the old node is unreachable (lost): its own copy of the address
    /// cannot be removed until it returns, and the fabric must not deliver to it meanwhile.
    NewLeaderOldNodeLost,
    /// The leader stays where it is (e.g. an agent restart).
    SameLeader,
}

/// Runs one failover scenario: `disturb` gets the old leader's node.
pub async fn run_failover(
    tb: &Testbed,
    name: &str,
    expect: Expect,
    disturb: impl AsyncFnOnce(&Testbed, &NodeLayout) -> Result<()>,
) -> Result<ScenarioResult> {
    // In synchronous mode Patroni promotes only a healthy sync standby, so a scenario that
    // starts while the previous one's members still catch up would wait for nothing.
    tb.wait_healthy(Duration::from_secs(120)).await?;
    let leader = tb.wait_leader(Duration::from_secs(60)).await?;
    let old = tb.member_node(&leader)?.clone();
    tb.wait_vip_ready_on(&old.name, Duration::from_secs(60))
        .await?;
    let before = tb.vip().await?.status.and_then(|s| s.last_failover);
    let writer = tb.start_writer()?;
    wait_for(
        "the writer to reach the primary through the VIP",
        Duration::from_secs(30),
        || async { (app::acked(&writer.attempts()).len() >= 10).then_some(()) },
    )
    .await?;
    let t0 = writer.elapsed();
    let started = Instant::now();
    let lost = (expect == Expect::NewLeaderOldNodeLost).then(|| old.name.clone());
    let sampler = crate::holders::HolderSampler::start(tb.layout.clone(), tb.vip_addr()?, lost);
    disturb(tb, &old).await?;
    let expect_change = expect != Expect::SameLeader;
    let new = if expect_change {
        let l = wait_for("a new Patroni leader", Duration::from_secs(90), || async {
            tb.wait_leader(Duration::from_millis(500))
                .await
                .ok()
                .filter(|l| *l != leader)
        })
        .await?;
        tb.member_node(&l)?.clone()
    } else {
        old.clone()
    };
    // The application's view: writes acknowledged by the new primary, through the VIP.
    wait_for(
        &format!(
            "writes through the VIP acknowledged by {} on {}",
            new.member, new.name
        ),
        Duration::from_secs(90),
        || async {
            let a = writer.attempts();
            let after: Vec<_> = a.iter().filter(|x| x.at > t0).cloned().collect();
            let on_new = app::last_server(&after).is_some_and(|s| app::is_member(&s, &new.member));
            (on_new
                && matches!(
                    after.last().map(|x| &x.outcome),
                    Some(app::Outcome::Acked(_))
                ))
            .then_some(())
        },
    )
    .await?;
    let vip = tb
        .wait_vip_ready_on(&new.name, Duration::from_secs(60))
        .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let attempts = writer.stop();
    let two_holders = sampler.stop();
    if two_holders >= L2_MAX_TWO_HOLDERS && !tb.layout.cloud.has_cloud() {
        return Err(Error::Other(format!(
            "the VIP was on two nodes at once for {} ms on one L2 segment (at most {} ms allowed)",
            two_holders.as_millis(),
            L2_MAX_TWO_HOLDERS.as_millis()
        )));
    }
    let during: Vec<_> = attempts.iter().filter(|a| a.at >= t0).cloned().collect();
    let outage = app::outage(&attempts, t0);
    let st = vip.status.unwrap_or_default();
    let last = st.last_failover.clone();
    if expect_change && last == before {
        return Err(Error::Other(
            "status.lastFailover was not updated for this failover".into(),
        ));
    }
    if expect_change && last.as_ref().map(|f| f.to.as_str()) != Some(new.name.as_str()) {
        return Err(Error::Other(format!(
            "lastFailover names {:?}, expected {}",
            last.map(|f| f.to),
            new.name
        )));
    }
    let mut holders = tb.nodes_with_vip()?;
    if expect == Expect::NewLeaderOldNodeLost {
        holders.retain(|h| *h != old.name);
    }
    if holders != vec![new.name.clone()] {
        return Err(Error::Other(format!(
            "after convergence the VIP is configured on {holders:?}, expected only {}",
            new.name
        )));
    }
    let cloud = tb.cloud_assignment().await?;
    if cloud.as_deref() != Some(new.vnic_id.as_str()) {
        return Err(Error::Other(format!(
            "cloud assigns the VIP to {cloud:?}, expected {}",
            new.vnic_id
        )));
    }
    tb.check_acked_on(&new, &attempts).await?;
    // What the status says is on the nodes must be what is on them. A lost old node cannot
    // report (its agent is frozen with it) and the controller cannot see what it holds: only
    // require that the status does not claim an address the node does not show.
    let lost: Vec<&str> = match expect {
        Expect::NewLeaderOldNodeLost => vec![old.name.as_str()],
        _ => vec![],
    };
    tb.check_status_matches_nodes_except(VIP_NAME, &lost)
        .await?;
    // Without a leader change there is no failover of this scenario's to report.
    let measured = last.filter(|_| expect_change);
    let res = ScenarioResult {
        name: name.to_string(),
        from: old.name.clone(),
        to: new.name.clone(),
        outage_millis: outage.as_millis() as u64,
        acked: app::acked(&during).len(),
        failed: during.len() - app::acked(&during).len(),
        pgvip_total_millis: measured.as_ref().map(|f| f.duration_millis),
        pgvip_started_at: measured.as_ref().map(|f| f.at.clone()),
        phases: measured.map(|f| f.phases),
        two_holders_millis: two_holders.as_millis() as u64,
    };
    tracing::info!(
        scenario = name,
        outage_ms = res.outage_millis,
        took_s = started.elapsed().as_secs_f32(),
        "scenario converged"
    );
    Ok(res)
}

/// Pure: the phase columns of the results table, each as wide as its header.
fn phase_cells(p: &pgvip_api::FailoverPhases) -> String {
    p.named()
        .iter()
        .zip([7, 9, 7, 8, 7, 7])
        .map(|((_, ms), w)| format!("{ms:>w$}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Prints the results as a table and writes them as JSON to `path`.
pub fn report(results: &[ScenarioResult], path: &std::path::Path) -> Result<()> {
    println!(
        "{:<44} {:>9} {:>6} {:>6} {:>8} {:>7} {:>9} {:>7} {:>8} {:>7} {:>7}",
        "scenario",
        "outage_ms",
        "acked",
        "failed",
        "pgvip_ms",
        "decide",
        "(promote)",
        "cloud",
        "announce",
        "report",
        "verify"
    );
    for r in results {
        let p = r.phases.clone().unwrap_or_default();
        println!(
            "{:<44} {:>9} {:>6} {:>6} {:>8} {}",
            r.name,
            r.outage_millis,
            r.acked,
            r.failed,
            r.pgvip_total_millis
                .map(|m| m.to_string())
                .unwrap_or_else(|| "-".into()),
            phase_cells(&p)
        );
    }
    let json = serde_json::to_string_pretty(results).map_err(|e| Error::Other(e.to_string()))?;
    std::fs::write(path, json)
        .map_err(|e| Error::Other(format!("writing {}: {e}", path.display())))?;
    println!("results written to {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{neighbour_mac, phase_cells};

    #[test]
    fn phase_cells_line_up_under_their_headers() {
        let p = pgvip_api::FailoverPhases {
            decide_millis: 10,
            promotion_millis: 6,
            cloud_millis: 800,
            announce_millis: 12,
            report_millis: 3,
            verify_millis: 20,
        };
        let cells = phase_cells(&p);
        assert_eq!(cells.len(), 7 + 9 + 7 + 8 + 7 + 7 + 5, "{cells:?}");
        assert_eq!(
            cells.split_whitespace().collect::<Vec<_>>(),
            ["10", "6", "800", "12", "3", "20"]
        );
    }

    #[test]
    fn a_neighbour_entry_counts_only_when_resolved() {
        let table = [
            (
                "10.0.10.200 dev eth0 lladdr 02:00:0A:00:0A:0C REACHABLE\n",
                Some("02:00:0a:00:0a:0c"),
            ),
            (
                "10.0.10.200 dev eth0 lladdr 02:00:0a:00:0a:0b STALE\n",
                Some("02:00:0a:00:0a:0b"),
            ),
            ("10.0.10.200 dev eth0 INCOMPLETE\n", None),
            (
                "10.0.10.200 dev eth0 lladdr 02:00:0a:00:0a:0b FAILED\n",
                None,
            ),
            ("", None),
        ];
        for (out, want) in table {
            assert_eq!(neighbour_mac(out).as_deref(), want, "{out:?}");
        }
    }
}
