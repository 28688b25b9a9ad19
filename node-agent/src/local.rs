//! The local member check: while the API server is unreachable, a node that holds a VIP asks
//! the leader's Patroni on this node (`GET /primary`, every [`PERIOD`]) whether it is still the
//! primary, and keeps the address exactly while it says so.
//!
//! Why this is safe and why it is kept: Patroni demotes a primary that cannot reach its DCS
//! within `retry_timeout`, and no replica can take the lock before `ttl`, which Patroni keeps at
//! least `loop_wait + 2 × retry_timeout`. A node cut off from the apiserver therefore drops the
//! address before any other node can be told to take it (never a VIP on two nodes, which on one
//! L2 segment means two ARP answers). And when only the agents lose the apiserver while Patroni
//! still renews its lock, the address stays for as long as the member accepts writes, past the
//! hold time (no VIP lost on a control-plane blip). A VIP the agent cannot check (HTTPS, label
//! sources, replica VIPs) keeps the hold time.
//!
//! Data flow: the agent publishes its targets (VIPs whose address it holds, with a
//! `local_primary_url`) on a watch channel → [`run`] asks each one every [`PERIOD`]; for a
//! member that does not answer 200 it also asks the API server → [`Input::Local`] → the agent
//! folds answers into a [`LocalState`] per VIP and applies [`out_of_contact`].

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, watch};
use tracing::debug;

use crate::agent::Input;
use crate::model::VipKey;

/// How often a held VIP's local member is asked.
pub const PERIOD: Duration = Duration::from_secs(1);
/// Timeout of one question (to the member, and to the API server).
pub const TIMEOUT: Duration = Duration::from_millis(800);
/// A 200 older than this counts as none (the member stopped answering).
pub const FRESH: Duration = Duration::from_secs(3);
/// Answers other than 200 in a row that release the address: one slow answer of a busy
/// member is not a demotion.
pub const RELEASE_AFTER: u32 = 2;

/// What the local member said about one VIP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalAnswer {
    /// Which VIP.
    pub key: VipKey,
    /// `GET /primary` answered 200.
    pub primary: bool,
    /// Asked only when the member is not primary: whether the API server answered.
    pub api_reachable: Option<bool>,
    /// When the answer came.
    pub at: Instant,
}

/// What the agent remembers of one VIP's local member.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LocalState {
    /// When it last answered 200.
    pub last_primary: Option<Instant>,
    /// Answers other than 200 since then.
    pub failures: u32,
}

impl LocalState {
    /// Takes in one answer.
    pub fn update(&mut self, answer: &LocalAnswer) {
        if answer.primary {
            self.last_primary = Some(answer.at);
            self.failures = 0;
        } else {
            self.failures = self.failures.saturating_add(1);
        }
    }

    /// The member is not (or no longer answers as) the primary: [`RELEASE_AFTER`] answers
    /// other than 200 in a row, or no 200 within [`FRESH`].
    pub fn demoted(&self, now: Instant) -> bool {
        self.failures >= RELEASE_AFTER
            || self
                .last_primary
                .is_none_or(|at| now.saturating_duration_since(at) > FRESH)
    }
}

/// What to do with a held VIP while the agent is out of contact with the API server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutOfContact {
    /// The local member is the primary: keep the address, even past the hold time.
    Keep,
    /// The local member is not (or no longer answers as) the primary: remove it now.
    Release,
    /// No local member to ask: the hold time decides.
    HoldTimer,
}

/// The decision for one VIP out of contact: `checkable` when it has a `local_primary_url`,
/// `state` what its member said so far.
pub fn out_of_contact(checkable: bool, state: Option<&LocalState>, now: Instant) -> OutOfContact {
    match (checkable, state) {
        (false, _) => OutOfContact::HoldTimer,
        (true, Some(s)) if !s.demoted(now) => OutOfContact::Keep,
        (true, _) => OutOfContact::Release,
    }
}

/// Whether the member at `url` answers `GET /primary` with 200 within [`TIMEOUT`].
pub async fn is_primary(http: &reqwest::Client, url: &str) -> bool {
    match http.get(url).timeout(TIMEOUT).send().await {
        Ok(r) => r.status() == reqwest::StatusCode::OK,
        Err(error) => {
            debug!(%error, url, "local member did not answer");
            false
        }
    }
}

/// Asks every target's member each [`PERIOD`] and sends the answers, until `tx` closes. A
/// member that is not primary makes it ask the API server too (`api_reachable`): a demotion
/// seen while in contact is the controller's to handle.
pub async fn run(
    mut targets: watch::Receiver<BTreeMap<VipKey, String>>,
    client: kube::Client,
    http: reqwest::Client,
    tx: mpsc::Sender<Input>,
) {
    let mut tick = tokio::time::interval(PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let now: Vec<(VipKey, String)> = targets
            .borrow_and_update()
            .iter()
            .map(|(k, u)| (k.clone(), u.clone()))
            .collect();
        for (key, url) in now {
            let primary = is_primary(&http, &url).await;
            let api_reachable = if primary {
                None
            } else {
                Some(matches!(
                    tokio::time::timeout(TIMEOUT, client.apiserver_version()).await,
                    Ok(Ok(_))
                ))
            };
            let answer = LocalAnswer {
                key,
                primary,
                api_reachable,
                at: Instant::now(),
            };
            if tx.send(Input::Local(answer)).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answer(primary: bool, at: Instant) -> LocalAnswer {
        LocalAnswer {
            key: VipKey {
                namespace: "db".into(),
                name: "v".into(),
            },
            primary,
            api_reachable: Some(false),
            at,
        }
    }

    /// The state after answers (200 or not) given as seconds before `now`.
    fn after(answers: &[(bool, u64)], now: Instant) -> LocalState {
        let mut st = LocalState::default();
        for &(primary, ago) in answers {
            st.update(&answer(primary, now - Duration::from_secs(ago)));
        }
        st
    }

    #[test]
    fn out_of_contact_table() {
        let now = Instant::now() + Duration::from_secs(60);
        // (checkable, answers as (200?, seconds ago), decision)
        type Case<'a> = (bool, Option<&'a [(bool, u64)]>, OutOfContact);
        let cases: [Case; 9] = [
            (false, None, OutOfContact::HoldTimer),
            (false, Some(&[(true, 0)]), OutOfContact::HoldTimer),
            (true, None, OutOfContact::Release),
            (true, Some(&[(true, 0)]), OutOfContact::Keep),
            (true, Some(&[(true, 3)]), OutOfContact::Keep),
            (true, Some(&[(true, 4)]), OutOfContact::Release),
            // One slow answer of a busy member is not a demotion; two in a row are.
            (true, Some(&[(true, 1), (false, 0)]), OutOfContact::Keep),
            (
                true,
                Some(&[(true, 2), (false, 1), (false, 0)]),
                OutOfContact::Release,
            ),
            (
                true,
                Some(&[(false, 2), (false, 1), (true, 0)]),
                OutOfContact::Keep,
            ),
        ];
        for (checkable, answers, want) in cases {
            let st = answers.map(|a| after(a, now));
            assert_eq!(
                out_of_contact(checkable, st.as_ref(), now),
                want,
                "{checkable} {answers:?}"
            );
        }
    }

    #[tokio::test]
    async fn only_a_200_is_a_primary() {
        use axum::{http::StatusCode, routing::get, Router};
        let app = Router::new()
            .route("/primary", get(|| async { StatusCode::OK }))
            .route(
                "/replica",
                get(|| async { StatusCode::SERVICE_UNAVAILABLE }),
            );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        let http = reqwest::Client::new();
        assert!(is_primary(&http, &format!("http://{addr}/primary")).await);
        assert!(!is_primary(&http, &format!("http://{addr}/replica")).await);
        // Nothing listens on port 9 of loopback: refused.
        assert!(!is_primary(&http, "http://127.0.0.1:9/primary").await);
    }
}
