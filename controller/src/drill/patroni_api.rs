//! Patroni's REST API as a drill uses it: `GET /cluster` (the members and their state),
//! `GET /config` (`synchronous_mode`) and `POST /switchover` (the switchover itself), with Patroni's basic authentication.
//!
//! Data flow: the drill reconcile calls [`cluster`] on the leader to pick the candidate, then
//! [`switchover`]; both bodies are parsed by pure functions ([`parse_members`],
//! [`judge_switchover`]) tested against Patroni's documented answers.

use std::time::Duration;

use serde_json::Value;

/// One member of `GET /cluster`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Member {
    /// Member name (the pod name on Kubernetes).
    pub name: String,
    /// `leader`, `replica`, `sync_standby`, `standby_leader`, ...
    pub role: String,
    /// `running`, `streaming`, `starting`, `stopped`, ...
    pub state: String,
    /// The member's host, as Patroni reports it.
    pub host: Option<String>,
    /// Replication lag in bytes; absent when Patroni reports `unknown`.
    pub lag: Option<u64>,
    /// Tagged `nofailover`: Patroni never promotes it.
    pub nofailover: bool,
}

/// Basic-auth credentials of Patroni's REST API.
#[derive(Clone)]
pub struct Auth {
    /// `restapi.authentication.username`.
    pub username: String,
    /// `restapi.authentication.password`; never logged.
    pub password: String,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Pure: the members of a `GET /cluster` body.
pub fn parse_members(body: &[u8]) -> Result<Vec<Member>, String> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| format!("GET /cluster did not answer JSON: {e}"))?;
    let members = v
        .get("members")
        .and_then(Value::as_array)
        .ok_or("GET /cluster answered no members list")?;
    Ok(members
        .iter()
        .filter_map(|m| {
            let s = |k: &str| m.get(k).and_then(Value::as_str).map(str::to_string);
            Some(Member {
                name: s("name")?,
                role: s("role").unwrap_or_default(),
                state: s("state").unwrap_or_default(),
                host: s("host"),
                lag: m.get("lag").and_then(Value::as_u64),
                nofailover: m
                    .get("tags")
                    .and_then(|t| t.get("nofailover"))
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
            })
        })
        .collect())
}

/// Pure: whether a `GET /config` body turns `synchronous_mode` on (`true`, `on`, `quorum`).
pub fn parse_synchronous_mode(body: &[u8]) -> Result<bool, String> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| format!("GET /config did not answer JSON: {e}"))?;
    Ok(match v.get("synchronous_mode") {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => {
            matches!(s.to_ascii_lowercase().as_str(), "true" | "on" | "quorum")
        }
        _ => false,
    })
}

/// What Patroni answered to `POST /switchover`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Switchover {
    /// 200: a new member holds the leader lock (it may still be promoting).
    Done(String),
    /// 503 "status unknown" or no answer: Patroni may still switch over; keep measuring.
    Unknown(String),
    /// Any other answer: Patroni refused (412 precondition, 400, 401, 503 "failed").
    Rejected(String),
}

/// Pure: the meaning of Patroni's answer `status`/`body` to `POST /switchover`.
pub fn judge_switchover(status: u16, body: &str) -> Switchover {
    let text = body.trim().chars().take(300).collect::<String>();
    match status {
        200 => Switchover::Done(text),
        503 if text.to_ascii_lowercase().contains("unknown") => Switchover::Unknown(text),
        401 | 403 => Switchover::Rejected(format!(
            "Patroni answered {status} {text:?}: its REST API needs credentials; name a Secret in spec.patroniAuthSecretName"
        )),
        _ => Switchover::Rejected(format!("Patroni answered {status} {text:?}")),
    }
}

fn with_auth(req: reqwest::RequestBuilder, auth: Option<&Auth>) -> reqwest::RequestBuilder {
    match auth {
        Some(a) => req.basic_auth(&a.username, Some(&a.password)),
        None => req,
    }
}

/// `GET <base>/cluster`.
pub async fn cluster(
    client: &reqwest::Client,
    base: &str,
    auth: Option<&Auth>,
    timeout: Duration,
) -> Result<Vec<Member>, String> {
    get_json(client, &format!("{base}/cluster"), auth, timeout)
        .await
        .and_then(|b| parse_members(&b))
}

/// `GET <base>/config`: whether the cluster runs `synchronous_mode`.
pub async fn synchronous_mode(
    client: &reqwest::Client,
    base: &str,
    auth: Option<&Auth>,
    timeout: Duration,
) -> Result<bool, String> {
    get_json(client, &format!("{base}/config"), auth, timeout)
        .await
        .and_then(|b| parse_synchronous_mode(&b))
}

async fn get_json(
    client: &reqwest::Client,
    url: &str,
    auth: Option<&Auth>,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    let resp = with_auth(client.get(url), auth)
        .timeout(timeout)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp.bytes().await.map_err(|e| format!("GET {url}: {e}"))?;
    if status != 200 {
        return Err(format!("GET {url} answered {status}"));
    }
    Ok(body.to_vec())
}

/// `POST <base>/switchover` from `leader` to `candidate`. Patroni answers once the lock has
/// changed hands or after about `max(10 s, loop_wait)` of waiting.
pub async fn switchover(
    client: &reqwest::Client,
    base: &str,
    auth: Option<&Auth>,
    leader: &str,
    candidate: &str,
    timeout: Duration,
) -> Switchover {
    let url = format!("{base}/switchover");
    let body = serde_json::json!({"leader": leader, "candidate": candidate});
    let sent = with_auth(client.post(&url), auth)
        .json(&body)
        .timeout(timeout)
        .send()
        .await;
    match sent {
        Ok(resp) => {
            let status = resp.status().as_u16();
            let text = resp.text().await.unwrap_or_default();
            judge_switchover(status, &text)
        }
        Err(e) => Switchover::Unknown(format!("POST {url}: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_of_patroni_4_cluster_answer() {
        let body = br#"{"members": [
            {"name": "pg-0", "role": "leader", "state": "running", "api_url": "http://10.0.0.1:8008/patroni", "host": "10.0.0.1", "port": 5432, "timeline": 3},
            {"name": "pg-1", "role": "replica", "state": "streaming", "host": "10.0.0.2", "port": 5432, "timeline": 3, "lag": 0},
            {"name": "pg-2", "role": "replica", "state": "running", "lag": "unknown", "tags": {"nofailover": true}},
            {"role": "replica"}
        ], "scope": "orders"}"#;
        let m = parse_members(body).unwrap();
        assert_eq!(m.len(), 3, "the nameless entry is dropped");
        assert_eq!(m[1].lag, Some(0));
        assert_eq!(m[1].host.as_deref(), Some("10.0.0.2"));
        assert_eq!(m[2].lag, None);
        assert!(m[2].nofailover);
        assert!(!m[0].nofailover);
    }

    #[test]
    fn synchronous_mode_spellings() {
        for (body, want) in [
            (r#"{"ttl": 30, "synchronous_mode": true}"#, true),
            (r#"{"synchronous_mode": "quorum"}"#, true),
            (r#"{"synchronous_mode": "on"}"#, true),
            (r#"{"synchronous_mode": false}"#, false),
            (r#"{"loop_wait": 10}"#, false),
        ] {
            assert_eq!(parse_synchronous_mode(body.as_bytes()), Ok(want), "{body}");
        }
        assert!(parse_synchronous_mode(b"nope").is_err());
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        assert!(parse_members(b"<html>").is_err());
        assert!(parse_members(b"{}").is_err());
    }

    #[test]
    fn switchover_answers() {
        assert_eq!(
            judge_switchover(200, "Successfully switched over to \"pg-1\""),
            Switchover::Done("Successfully switched over to \"pg-1\"".into())
        );
        assert!(matches!(
            judge_switchover(503, "Switchover status unknown"),
            Switchover::Unknown(_)
        ));
        assert!(matches!(
            judge_switchover(503, "Switchover failed"),
            Switchover::Rejected(_)
        ));
        assert!(matches!(
            judge_switchover(412, "candidate name does not match with sync_standby"),
            Switchover::Rejected(_)
        ));
        match judge_switchover(401, "no auth header received") {
            Switchover::Rejected(m) => assert!(m.contains("patroniAuthSecretName"), "{m}"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn auth_debug_hides_the_password() {
        let a = Auth {
            username: "u".into(),
            password: "s3cret".into(),
        };
        assert!(!format!("{a:?}").contains("s3cret"));
    }
}
