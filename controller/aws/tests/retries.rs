//! Retry, throttling and timeout handling against a scripted loopback HTTP server.
//!
//! Data flow: `Script::start` listens on a free loopback port and answers each request (one per
//! connection, `Connection: close`) with the next canned response, recording the bodies it got;
//! the client under test points its endpoint there.

use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use pgvip_aws::{AwsConfig, CredentialsSource, Ec2Client};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A canned answer: status and body, or no answer at all (to make the client time out).
#[derive(Clone)]
enum Answer {
    Reply(u16, &'static str),
    Silence,
}

struct Script {
    url: String,
    seen: Arc<Mutex<Vec<String>>>,
}

impl Script {
    async fn start(answers: Vec<Answer>) -> Script {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = seen.clone();
        let answers = Arc::new(Mutex::new(answers.into_iter()));
        tokio::spawn(async move {
            while let Ok((sock, _)) = listener.accept().await {
                let (log, answers) = (log.clone(), answers.clone());
                // One task per connection, so that a silent answer does not block the next.
                tokio::spawn(serve(sock, log, answers));
            }
        });
        Script { url, seen }
    }

    fn calls(&self) -> usize {
        self.seen.lock().unwrap().len()
    }
}

async fn serve(
    mut sock: tokio::net::TcpStream,
    log: Arc<Mutex<Vec<String>>>,
    answers: Arc<Mutex<std::vec::IntoIter<Answer>>>,
) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    // Read headers, then the body by content-length.
    let body = loop {
        let n = sock.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            break String::new();
        }
        buf.extend_from_slice(&chunk[..n]);
        let text = String::from_utf8_lossy(&buf).to_string();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .map(|v| v.trim().parse::<usize>().unwrap_or(0))
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                break text[end + 4..].to_string();
            }
        }
    };
    log.lock().unwrap().push(body);
    let answer = answers
        .lock()
        .unwrap()
        .next()
        .unwrap_or(Answer::Reply(500, ""));
    match answer {
        Answer::Reply(status, body) => {
            let resp = format!(
                "HTTP/1.1 {status} X\r\ncontent-type: text/xml\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
        }
        Answer::Silence => tokio::time::sleep(Duration::from_secs(5)).await,
    }
}

async fn client(url: &str, attempts: u32, rate: f64) -> Ec2Client {
    let mut c = AwsConfig::new(
        Some("eu-west-1".into()),
        CredentialsSource::Static {
            access_key_id: "AKIDEXAMPLE".into(),
            secret_access_key: "secret".into(),
            session_token: None,
        },
    );
    c.ec2_endpoint = Some(url.into());
    c.max_attempts = attempts;
    c.backoff_base = Duration::from_millis(5);
    c.backoff_max = Duration::from_millis(20);
    c.call_timeout = Duration::from_millis(300);
    c.rate_limit_per_sec = rate;
    c.burst = 1;
    Ec2Client::new(c).await.unwrap()
}

const THROTTLED: &str = "<Response><Errors><Error><Code>RequestLimitExceeded</Code><Message>Request limit exceeded.</Message></Error></Errors><RequestID>r-throttle</RequestID></Response>";
const UNAVAILABLE: &str = "<Response><Errors><Error><Code>Unavailable</Code><Message>The server is overloaded.</Message></Error></Errors><RequestID>r-5xx</RequestID></Response>";
const EMPTY: &str = r#"<DescribeNetworkInterfacesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>r-ok</requestId><networkInterfaceSet/></DescribeNetworkInterfacesResponse>"#;
const DENIED: &str = "<Response><Errors><Error><Code>UnauthorizedOperation</Code><Message>You are not authorized to perform this operation.</Message></Error></Errors><RequestID>r-403</RequestID></Response>";

fn vip() -> IpAddr {
    "10.0.1.100".parse().unwrap()
}

#[tokio::test]
async fn throttling_and_5xx_are_retried_within_the_rate_limit() {
    let script = Script::start(vec![
        Answer::Reply(503, THROTTLED),
        Answer::Reply(503, UNAVAILABLE),
        Answer::Reply(200, EMPTY),
    ])
    .await;
    // 20 requests/s, burst 1: three attempts cannot take less than 2 × 50 ms.
    let c = client(&script.url, 5, 20.0).await;
    let start = Instant::now();
    assert_eq!(c.current_assignment(vip(), "subnet-1").await.unwrap(), None);
    assert_eq!(script.calls(), 3);
    assert!(
        start.elapsed() >= Duration::from_millis(95),
        "{:?}",
        start.elapsed()
    );
    let body = script.seen.lock().unwrap()[0].clone();
    assert!(
        body.starts_with("Action=DescribeNetworkInterfaces&Version=2016-11-15"),
        "{body}"
    );
    assert!(
        body.contains("Filter.2.Name=addresses.private-ip-address&Filter.2.Value.1=10.0.1.100"),
        "{body}"
    );
}

#[tokio::test]
async fn persistent_throttling_is_throttled_with_its_request_id() {
    let script = Script::start(vec![Answer::Reply(503, THROTTLED); 3]).await;
    let c = client(&script.url, 3, 1000.0).await;
    let e = c.current_assignment(vip(), "subnet-1").await.unwrap_err();
    assert_eq!(
        (e.category(), e.request_id()),
        ("throttled", Some("r-throttle"))
    );
    assert!(e.is_transient());
    assert_eq!(script.calls(), 3);
}

#[tokio::test]
async fn permission_errors_are_not_retried() {
    let script = Script::start(vec![Answer::Reply(403, DENIED)]).await;
    let c = client(&script.url, 5, 1000.0).await;
    let e = c.release("eni-1", vip()).await.unwrap_err();
    assert_eq!(e.category(), "permission");
    assert!(
        e.to_string().contains("ec2:UnassignPrivateIpAddresses"),
        "{e}"
    );
    assert_eq!(script.calls(), 1);
}

#[tokio::test]
async fn a_silent_endpoint_times_out() {
    let script = Script::start(vec![Answer::Silence, Answer::Silence]).await;
    let c = client(&script.url, 2, 1000.0).await;
    let e = c.current_assignment(vip(), "subnet-1").await.unwrap_err();
    assert_eq!(e.category(), "timeout", "{e}");
    assert_eq!(script.calls(), 2);
}

#[tokio::test]
async fn a_closed_port_is_a_transport_error() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let c = client(&format!("http://127.0.0.1:{port}"), 2, 1000.0).await;
    let e = c.current_assignment(vip(), "subnet-1").await.unwrap_err();
    assert_eq!(e.category(), "transport", "{e}");
}
