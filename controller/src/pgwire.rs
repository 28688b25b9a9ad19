//! The PostgreSQL half of the data-path check: does a PostgreSQL server answer through the
//! address? Sends the protocol's SSLRequest (8 bytes) and reads the one-byte answer, `S` or
//! `N`; nothing else, so it needs no credentials and leaves no session behind.
//!
//! Data flow: [`crate::reconcile`]'s verify step calls [`ssl_request`] after Patroni's REST API
//! answered through the VIP, when `spec.dataPath.postgresPort` is set; [`judge`] is the pure
//! reading of the answer.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// SSLRequest: length 8, then the code 80877103 (1234 << 16 | 5679), big-endian.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// Pure: what the server's first byte means.
pub fn judge(answer: Option<u8>) -> Result<(), String> {
    match answer {
        Some(b'S') | Some(b'N') => Ok(()),
        Some(b'E') => Err("the server answered the SSLRequest with an error message (not a PostgreSQL it accepts connections from, or too old)".into()),
        Some(b) => Err(format!("the server answered byte {b:#04x}, not PostgreSQL's S or N")),
        None => Err("the server closed the connection without answering".into()),
    }
}

/// Connects to `addr`, sends SSLRequest and judges the answer, all within `timeout`.
pub async fn ssl_request(addr: SocketAddr, timeout: Duration) -> Result<(), String> {
    let exchange = async {
        let mut s = TcpStream::connect(addr)
            .await
            .map_err(|e| format!("connect: {e}"))?;
        s.write_all(&SSL_REQUEST)
            .await
            .map_err(|e| format!("sending SSLRequest: {e}"))?;
        let mut b = [0u8; 1];
        let n = s
            .read(&mut b)
            .await
            .map_err(|e| format!("reading the answer: {e}"))?;
        judge((n == 1).then_some(b[0]))
    };
    tokio::time::timeout(timeout, exchange)
        .await
        .map_err(|_| format!("no answer within {} ms", timeout.as_millis()))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::net::TcpListener;

    async fn server(answer: &'static [u8]) -> SocketAddr {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        tokio::spawn(async move {
            let (mut s, _) = l.accept().await.unwrap();
            let mut req = [0u8; 8];
            s.read_exact(&mut req).await.unwrap();
            assert_eq!(req, SSL_REQUEST);
            s.write_all(answer).await.unwrap();
        });
        addr
    }

    #[tokio::test]
    async fn answers() {
        let t = Duration::from_secs(2);
        assert_eq!(ssl_request(server(b"N").await, t).await, Ok(()));
        assert_eq!(ssl_request(server(b"S").await, t).await, Ok(()));
        let e = ssl_request(server(b"H").await, t).await.unwrap_err();
        assert!(e.contains("not PostgreSQL"), "{e}");
        let e = ssl_request(server(b"").await, t).await.unwrap_err();
        assert!(e.contains("closed"), "{e}");
    }

    #[tokio::test]
    async fn nobody_listening_is_an_error() {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let e = ssl_request(addr, Duration::from_secs(2)).await.unwrap_err();
        assert!(e.starts_with("connect"), "{e}");
    }

    #[test]
    fn judge_table() {
        assert!(judge(Some(b'S')).is_ok());
        assert!(judge(Some(b'E')).unwrap_err().contains("error message"));
        assert!(judge(None).is_err());
    }
}
