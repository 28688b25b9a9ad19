//! `kubectl pgvip drill NAME`: a failover drill from the command line.
//!
//! Data flow: [`spec_of`] turns the flags into a `PostgresVipDrill` spec (pure); [`start`]
//! creates the object (`generateName: <vip>-drill-`) and [`wait`] polls it until `Complete`;
//! [`render`] prints the result (pure) and [`exit_code`] maps its phase to the exit code.

use std::time::{Duration, Instant};

use kube::api::{Api, ObjectMeta, PostParams};
use kube::Client;
use pgvip_api::drill::{DrillPhase, DrillProbe};
use pgvip_api::{PostgresVipDrill, PostgresVipDrillSpec};

use crate::cli::DrillArgs;
use crate::{Error, Result};

/// How often [`wait`] looks at the drill.
const POLL: Duration = Duration::from_millis(500);
/// How long past the drill's own timeout [`wait`] waits (admission, baseline, the record).
const GRACE: Duration = Duration::from_secs(60);

/// Pure: the drill the flags ask for.
pub fn spec_of(a: &DrillArgs) -> PostgresVipDrillSpec {
    PostgresVipDrillSpec {
        vip_name: a.name.clone(),
        candidate: a.candidate.clone(),
        max_outage_seconds: a.max_outage_seconds,
        probe: a.probe_secret.as_ref().map(|s| DrillProbe {
            secret_name: s.clone(),
            port: a.probe_port,
        }),
        patroni_auth_secret_name: a.patroni_auth_secret.clone(),
        timeout_seconds: a.timeout_seconds,
    }
}

/// Creates the drill in `ns`; returns it as created (with its generated name).
pub async fn start(
    client: &Client,
    ns: &str,
    spec: PostgresVipDrillSpec,
) -> Result<PostgresVipDrill> {
    let api: Api<PostgresVipDrill> = Api::namespaced(client.clone(), ns);
    let drill = PostgresVipDrill {
        metadata: ObjectMeta {
            generate_name: Some(format!("{}-drill-", spec.vip_name)),
            ..ObjectMeta::default()
        },
        spec,
        status: None,
    };
    api.create(&PostParams::default(), &drill)
        .await
        .map_err(|e| match e {
            kube::Error::Api(s) if s.code == 404 => Error::CrdMissing,
            source => Error::Api {
                what: format!("creating a PostgresVipDrill in namespace {ns}"),
                source,
            },
        })
}

/// Polls drill `name` until its phase is final, for at most `limit`.
pub async fn wait(
    client: &Client,
    ns: &str,
    name: &str,
    limit: Duration,
) -> Result<PostgresVipDrill> {
    let api: Api<PostgresVipDrill> = Api::namespaced(client.clone(), ns);
    let until = Instant::now() + limit;
    loop {
        let d = api.get(name).await.map_err(|source| Error::Api {
            what: format!("getting PostgresVipDrill {ns}/{name}"),
            source,
        })?;
        if d.status.as_ref().is_some_and(|s| s.phase.is_final()) {
            return Ok(d);
        }
        if Instant::now() >= until {
            return Err(Error::DrillTimeout {
                name: format!("{ns}/{name}"),
                phase: d.status.map(|s| s.phase).unwrap_or_default(),
                waited: limit,
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

/// How long to wait for a drill with `timeout_seconds`.
pub fn wait_limit(timeout_seconds: u32) -> Duration {
    Duration::from_secs(u64::from(timeout_seconds)) + GRACE
}

/// Pure: the exit code of a finished drill (0 passed, 1 otherwise).
pub fn exit_code(d: &PostgresVipDrill) -> u8 {
    match d.status.as_ref().map(|s| s.phase) {
        Some(DrillPhase::Succeeded) => 0,
        _ => 1,
    }
}

/// Pure: the result of a finished drill for a person.
pub fn render(d: &PostgresVipDrill) -> String {
    let name = d.metadata.name.as_deref().unwrap_or("?");
    let Some(st) = &d.status else {
        return format!("drill {name}: no status yet\n");
    };
    let mut out = format!(
        "drill {name} of PostgresVip {}: {:?}\n",
        d.spec.vip_name, st.phase
    );
    let member = |m: &Option<pgvip_api::drill::DrillMember>| match m {
        Some(m) => match &m.node {
            Some(n) => format!("{} (node {n})", m.member),
            None => m.member.clone(),
        },
        None => "-".to_string(),
    };
    if st.from.is_some() || st.to.is_some() {
        out.push_str(&format!(
            "  from:      {}\n  to:        {}\n",
            member(&st.from),
            member(&st.to)
        ));
    }
    if let Some(o) = &st.outage {
        out.push_str(&format!(
            "  outage:    {} ms ({} probe, {} of {} attempts failed)\n",
            o.millis, o.probe, o.failed, o.attempts
        ));
    }
    if let Some(obj) = st.objective_millis {
        out.push_str(&format!("  objective: {obj} ms\n"));
    }
    if let Some(p) = &st.phases {
        let phases: Vec<String> = p
            .named()
            .iter()
            .map(|(name, ms)| format!("{name} {ms} ms"))
            .collect();
        out.push_str(&format!("  pgvip:     {}\n", phases.join(", ")));
    }
    if !st.message.is_empty() {
        out.push_str(&format!("  {}\n", st.message));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use pgvip_api::drill::{DrillMember, DrillOutage};
    use pgvip_api::{FailoverPhases, PostgresVipDrillStatus};

    fn args() -> DrillArgs {
        DrillArgs {
            name: "orders".into(),
            max_outage_seconds: 5.0,
            candidate: None,
            probe_secret: Some("app".into()),
            probe_port: 6432,
            patroni_auth_secret: None,
            timeout_seconds: 60,
            no_wait: false,
        }
    }

    #[test]
    fn flags_become_the_spec() {
        let s = spec_of(&args());
        assert_eq!(s.vip_name, "orders");
        assert_eq!(
            s.probe.as_ref().map(|p| (p.secret_name.as_str(), p.port)),
            Some(("app", 6432))
        );
        assert_eq!(s.max_outage_seconds, 5.0);
        let mut a = args();
        a.probe_secret = None;
        assert_eq!(spec_of(&a).probe, None);
    }

    fn finished(phase: DrillPhase) -> PostgresVipDrill {
        let mut d = PostgresVipDrill::new("orders-drill-x", spec_of(&args()));
        d.status = Some(PostgresVipDrillStatus {
            phase,
            from: Some(DrillMember {
                member: "pg-0".into(),
                node: Some("w1".into()),
            }),
            to: Some(DrillMember {
                member: "pg-1".into(),
                node: None,
            }),
            outage: Some(DrillOutage {
                millis: 2400,
                probe: "write".into(),
                attempts: 60,
                failed: 45,
            }),
            objective_millis: Some(5000),
            phases: Some(FailoverPhases {
                decide_millis: 30,
                ..Default::default()
            }),
            message: "writes resumed".into(),
            ..Default::default()
        });
        d
    }

    #[test]
    fn render_and_exit_code() {
        let d = finished(DrillPhase::Succeeded);
        let text = render(&d);
        for part in [
            "Succeeded",
            "pg-0 (node w1)",
            "pg-1",
            "2400 ms (write probe, 45 of 60",
            "objective: 5000 ms",
            "decide 30 ms",
            "writes resumed",
        ] {
            assert!(text.contains(part), "{part:?} missing in:\n{text}");
        }
        assert_eq!(exit_code(&d), 0);
        assert_eq!(exit_code(&finished(DrillPhase::Failed)), 1);
        assert_eq!(exit_code(&finished(DrillPhase::Refused)), 1);
    }
}
