//! Leader election on a `coordination.k8s.io/v1` Lease, fenced on the monotonic clock.
//!
//! Data flow: [`run`] polls the Lease, and [`step`] (pure) decides whether to acquire, renew or
//! wait. Writes are optimistic (`resourceVersion` on replace), so two replicas can never both win
//! one round. A holder counts as leader only until `renew sent + (duration − renew interval)`:
//! when renewals fail it stops acting on its own, before any standby may take over (a standby
//! waits a full lease duration after it last saw the Lease change, on its own monotonic clock,
//! so wall-clock skew between nodes does not matter). [`Leadership`] publishes the state.
//!
//! Why not a crate: `kube-lease-manager` 0.13 supports kube 5, but its holder keeps reporting
//! "leader" while renewals fail and it judges expiry by wall-clock `renewTime`; pgvip needs the
//! holder to fence itself before a standby can start moving addresses.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use tokio::sync::watch;
use tracing::{info, warn};

/// Leader-election settings.
#[derive(Clone, Debug)]
pub struct LeaseSettings {
    /// Lease name.
    pub name: String,
    /// Lease namespace.
    pub namespace: String,
    /// This replica's identity.
    pub identity: String,
    /// Lease duration.
    pub duration: Duration,
    /// Renew interval of the holder.
    pub renew: Duration,
}

/// Whether this replica may act; cheap to clone and to query before every write.
#[derive(Clone, Debug)]
pub struct Leadership {
    valid_until: Arc<Mutex<Option<Instant>>>,
    always: bool,
    tx: Arc<watch::Sender<bool>>,
}

impl Leadership {
    fn new(always: bool) -> Self {
        let (tx, _) = watch::channel(always);
        Self {
            valid_until: Arc::default(),
            always,
            tx: Arc::new(tx),
        }
    }

    /// Leadership without election (a single replica, development, tests).
    pub fn always() -> Self {
        Self::new(true)
    }

    /// Leadership decided by [`run`].
    pub fn elected() -> Self {
        Self::new(false)
    }

    /// True while this replica holds a fresh Lease.
    pub fn is_leader(&self) -> bool {
        self.always || self.valid_until().is_some_and(|v| Instant::now() < v)
    }

    /// Changes of [`Leadership::is_leader`], as published by [`run`].
    pub fn subscribe(&self) -> watch::Receiver<bool> {
        self.tx.subscribe()
    }

    fn valid_until(&self) -> Option<Instant> {
        *self.valid_until.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn set_valid_until(&self, v: Option<Instant>) {
        *self.valid_until.lock().unwrap_or_else(|p| p.into_inner()) = v;
        let leading = self.is_leader();
        self.tx.send_if_modified(|cur| {
            let changed = *cur != leading;
            *cur = leading;
            changed
        });
    }

    fn publish(&self) {
        let leading = self.is_leader();
        self.tx.send_if_modified(|cur| {
            let changed = *cur != leading;
            *cur = leading;
            changed
        });
    }
}

/// What to do in one round.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The Lease is free or expired: write ourselves as holder.
    Acquire,
    /// We hold it: renew.
    Renew,
    /// Someone else holds a fresh Lease.
    Wait,
}

/// Pure: the step for a Lease `spec` (None when absent) last seen changing at `seen_at`.
pub fn step(
    spec: Option<&LeaseSpec>,
    me: &str,
    seen_at: Instant,
    now: Instant,
    default: Duration,
) -> Step {
    let Some(spec) = spec else {
        return Step::Acquire;
    };
    match spec.holder_identity.as_deref() {
        None | Some("") => Step::Acquire,
        Some(h) if h == me => Step::Renew,
        Some(_) => {
            let dur = spec
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .filter(|s| *s > 0)
                .map(Duration::from_secs)
                .unwrap_or(default);
            if now.saturating_duration_since(seen_at) > dur {
                Step::Acquire
            } else {
                Step::Wait
            }
        }
    }
}

fn micro_now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

fn our_spec(prev: Option<&LeaseSpec>, s: &LeaseSettings, acquiring: bool) -> LeaseSpec {
    let transitions = prev.and_then(|p| p.lease_transitions).unwrap_or(0);
    let was_ours = prev.and_then(|p| p.holder_identity.as_deref()) == Some(s.identity.as_str());
    LeaseSpec {
        holder_identity: Some(s.identity.clone()),
        lease_duration_seconds: i32::try_from(s.duration.as_secs()).ok(),
        acquire_time: if acquiring && !was_ours {
            Some(micro_now())
        } else {
            prev.and_then(|p| p.acquire_time.clone())
                .or_else(|| Some(micro_now()))
        },
        renew_time: Some(micro_now()),
        lease_transitions: Some(if acquiring && !was_ours {
            transitions + 1
        } else {
            transitions
        }),
        ..LeaseSpec::default()
    }
}

/// Runs the election until `shutdown` resolves, then releases the Lease if held.
pub async fn run(
    api: Api<Lease>,
    s: LeaseSettings,
    lead: Leadership,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    let poll = s.renew.min(Duration::from_secs(2));
    let hold_for = s.duration.saturating_sub(s.renew);
    let mut seen: Option<(String, Instant)> = None;
    loop {
        let current = match api.get_opt(&s.name).await {
            Ok(l) => l,
            Err(e) => {
                warn!(error = %e, lease = %s.name, "reading the leader-election Lease failed");
                lead.publish();
                tokio::select! { _ = &mut shutdown => break, _ = tokio::time::sleep(poll) => continue }
            }
        };
        let now = Instant::now();
        let rv = current
            .as_ref()
            .and_then(|l| l.metadata.resource_version.clone())
            .unwrap_or_default();
        let seen_at = match &seen {
            Some((v, at)) if *v == rv => *at,
            _ => {
                seen = Some((rv.clone(), now));
                now
            }
        };
        let spec = current.as_ref().and_then(|l| l.spec.as_ref());
        let next = step(spec, &s.identity, seen_at, now, s.duration);
        if next == Step::Wait {
            lead.set_valid_until(None);
        } else {
            let sent = Instant::now();
            let body = Lease {
                metadata: ObjectMeta {
                    name: Some(s.name.clone()),
                    namespace: Some(s.namespace.clone()),
                    resource_version: current
                        .as_ref()
                        .and_then(|l| l.metadata.resource_version.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(our_spec(spec, &s, next == Step::Acquire)),
            };
            let res = match &current {
                None => api.create(&PostParams::default(), &body).await,
                Some(_) => api.replace(&s.name, &PostParams::default(), &body).await,
            };
            match res {
                Ok(l) => {
                    if !lead.is_leader() {
                        info!(identity = %s.identity, lease = %s.name, "acquired the leader-election Lease");
                    }
                    seen = l.metadata.resource_version.map(|v| (v, sent));
                    lead.set_valid_until(Some(sent + hold_for));
                }
                Err(kube::Error::Api(ae)) if ae.code == 409 => {
                    lead.publish();
                }
                Err(e) => {
                    warn!(error = %e, lease = %s.name, "writing the leader-election Lease failed");
                    lead.publish();
                }
            }
        }
        let wait = if lead.is_leader() { s.renew } else { poll };
        tokio::select! { _ = &mut shutdown => break, _ = tokio::time::sleep(wait) => {} }
    }
    release(&api, &s, &lead).await;
}

async fn release(api: &Api<Lease>, s: &LeaseSettings, lead: &Leadership) {
    let was_leader = lead.is_leader();
    lead.set_valid_until(None);
    if !was_leader {
        return;
    }
    let Ok(Some(mut l)) = api.get_opt(&s.name).await else {
        return;
    };
    let Some(spec) = l.spec.as_mut() else { return };
    if spec.holder_identity.as_deref() != Some(s.identity.as_str()) {
        return;
    }
    spec.holder_identity = None;
    spec.lease_duration_seconds = Some(1);
    spec.renew_time = Some(micro_now());
    match api.replace(&s.name, &PostParams::default(), &l).await {
        Ok(_) => info!(lease = %s.name, "released the leader-election Lease"),
        Err(e) => warn!(error = %e, lease = %s.name, "releasing the leader-election Lease failed"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(holder: Option<&str>, dur: Option<i32>) -> LeaseSpec {
        LeaseSpec {
            holder_identity: holder.map(str::to_string),
            lease_duration_seconds: dur,
            ..LeaseSpec::default()
        }
    }

    #[test]
    fn steps() {
        let t0 = Instant::now();
        let d = Duration::from_secs(15);
        assert_eq!(step(None, "me", t0, t0, d), Step::Acquire);
        assert_eq!(
            step(Some(&spec(None, Some(15))), "me", t0, t0, d),
            Step::Acquire
        );
        assert_eq!(
            step(Some(&spec(Some(""), Some(15))), "me", t0, t0, d),
            Step::Acquire
        );
        assert_eq!(
            step(Some(&spec(Some("me"), Some(15))), "me", t0, t0, d),
            Step::Renew
        );
        let other = spec(Some("other"), Some(15));
        assert_eq!(
            step(Some(&other), "me", t0, t0 + Duration::from_secs(15), d),
            Step::Wait
        );
        assert_eq!(
            step(Some(&other), "me", t0, t0 + Duration::from_secs(16), d),
            Step::Acquire
        );
        // The Lease's own duration wins over the default.
        let short = spec(Some("other"), Some(1));
        assert_eq!(
            step(Some(&short), "me", t0, t0 + Duration::from_secs(2), d),
            Step::Acquire
        );
    }

    #[test]
    fn leadership_expires_by_itself() {
        let l = Leadership::elected();
        assert!(!l.is_leader());
        l.set_valid_until(Some(Instant::now() + Duration::from_secs(60)));
        assert!(l.is_leader());
        assert!(*l.subscribe().borrow());
        l.set_valid_until(Some(Instant::now() - Duration::from_millis(1)));
        assert!(!l.is_leader());
        assert!(!*l.subscribe().borrow());
        assert!(Leadership::always().is_leader());
    }

    #[test]
    fn acquiring_counts_a_transition() {
        let s = LeaseSettings {
            name: "l".into(),
            namespace: "ns".into(),
            identity: "me".into(),
            duration: Duration::from_secs(15),
            renew: Duration::from_secs(5),
        };
        let prev = LeaseSpec {
            lease_transitions: Some(3),
            ..spec(Some("other"), Some(15))
        };
        let a = our_spec(Some(&prev), &s, true);
        assert_eq!(a.lease_transitions, Some(4));
        assert_eq!(a.holder_identity.as_deref(), Some("me"));
        assert_eq!(a.lease_duration_seconds, Some(15));
        let r = our_spec(Some(&a), &s, false);
        assert_eq!(r.lease_transitions, Some(4));
        assert_eq!(r.acquire_time, a.acquire_time);
    }
}
