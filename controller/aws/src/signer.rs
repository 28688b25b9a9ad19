//! SigV4 signing of Query API requests with AWS's `aws-sigv4` crate.
//!
//! Data flow: the transport passes the endpoint URL, the exact body bytes, the credentials and
//! the time to [`sign_post`]; it signs `host`, `content-type` and `x-amz-date` (plus
//! `x-amz-security-token` for session credentials) over the SHA-256 of the body, and returns
//! the headers to add. The transport sends exactly those bytes with exactly those headers, so
//! what was signed is what goes on the wire. The secret key never leaves this call; the
//! returned `authorization` value holds only the signature.

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{sign, SignableBody, SignableRequest, SigningSettings};
use aws_sigv4::sign::v4::SigningParams;
use aws_smithy_runtime_api::client::identity::Identity;
use url::Url;

use crate::error::AwsError;
use crate::query::CONTENT_TYPE;

/// The SigV4 service name of EC2.
pub const EC2_SERVICE: &str = "ec2";

/// The `Host` header for `url`: the host, with the port only when it is not the scheme's
/// default (what HTTP clients send, and so what must be signed).
pub fn host_header(url: &Url) -> Result<String, AwsError> {
    let host = url
        .host_str()
        .ok_or_else(|| AwsError::Config(format!("endpoint {url} has no host")))?;
    Ok(match url.port() {
        Some(port) => format!("{host}:{port}"),
        None => host.to_string(),
    })
}

/// Signs a `POST` of `body` (form-encoded) to `url` for `service` in `region` at `time`, and
/// returns the headers to add (`x-amz-date`, `authorization`, and `x-amz-security-token` when
/// the credentials carry a session token). The request must also carry `host: <host_header>`
/// and `content-type: application/x-www-form-urlencoded; charset=utf-8`, which are signed.
pub fn sign_post(
    creds: &Credentials,
    region: &str,
    service: &str,
    url: &Url,
    body: &[u8],
    time: SystemTime,
) -> Result<Vec<(&'static str, String)>, AwsError> {
    let host = host_header(url)?;
    let identity: Identity = creds.clone().into();
    let params = SigningParams::builder()
        .identity(&identity)
        .region(region)
        .name(service)
        .time(time)
        .settings(SigningSettings::default())
        .build()
        .map_err(|e| AwsError::Config(format!("cannot sign: {e}")))?
        .into();
    let headers = [("host", host.as_str()), ("content-type", CONTENT_TYPE)];
    let signable = SignableRequest::new(
        "POST",
        url.as_str(),
        headers.into_iter(),
        SignableBody::Bytes(body),
    )
    .map_err(|e| AwsError::Config(format!("cannot sign a request to {url}: {e}")))?;
    let (instructions, _signature) = sign(signable, &params)
        .map_err(|e| AwsError::Config(format!("cannot sign a request to {url}: {e}")))?
        .into_parts();
    let (headers, _params) = instructions.into_parts();
    Ok(headers
        .into_iter()
        .map(|h| (h.name(), h.value().to_string()))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    fn header<'a>(headers: &'a [(&'static str, String)], name: &str) -> Option<&'a str> {
        headers
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The signed POST example of the AWS General Reference ("Signed Signature Version 4
    /// requests examples"): `Action=ListUsers&Version=2010-05-08` to IAM in us-east-1 at
    /// 20110909T233600Z with the documentation's example key AKIDEXAMPLE.
    #[test]
    fn matches_the_documented_example_signature() {
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            None,
            None,
            "test",
        );
        let url = Url::parse("http://iam.amazonaws.com/").unwrap();
        let time = UNIX_EPOCH + Duration::from_secs(1_315_611_360);
        let headers = sign_post(
            &creds,
            "us-east-1",
            "iam",
            &url,
            b"Action=ListUsers&Version=2010-05-08",
            time,
        )
        .unwrap();
        assert_eq!(header(&headers, "x-amz-date"), Some("20110909T233600Z"));
        assert_eq!(
            header(&headers, "authorization"),
            Some(
                "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20110909/us-east-1/iam/aws4_request, \
                 SignedHeaders=content-type;host;x-amz-date, \
                 Signature=ced6826de92d2bdeed8f846f0bf508e8559e98e4b0199114b84c54174deb456c"
            )
        );
        assert_eq!(header(&headers, "x-amz-security-token"), None);
    }

    #[test]
    fn session_token_is_signed_and_sent() {
        let creds = Credentials::new("AKID", "secret", Some("session-token".into()), None, "t");
        let url = Url::parse("https://127.0.0.1:9444/").unwrap();
        let headers = sign_post(
            &creds,
            "eu-west-1",
            EC2_SERVICE,
            &url,
            b"Action=X",
            SystemTime::now(),
        )
        .unwrap();
        assert_eq!(
            header(&headers, "x-amz-security-token"),
            Some("session-token")
        );
        let auth = header(&headers, "authorization").unwrap();
        assert!(auth.contains("/eu-west-1/ec2/aws4_request"), "{auth}");
        assert!(
            auth.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token"),
            "{auth}"
        );
        assert!(!auth.contains("secret"));
    }

    #[test]
    fn host_header_keeps_only_non_default_ports() {
        let h = |u: &str| host_header(&Url::parse(u).unwrap()).unwrap();
        assert_eq!(
            h("https://ec2.eu-west-1.amazonaws.com/"),
            "ec2.eu-west-1.amazonaws.com"
        );
        assert_eq!(
            h("https://ec2.eu-west-1.amazonaws.com:443/"),
            "ec2.eu-west-1.amazonaws.com"
        );
        assert_eq!(h("https://127.0.0.1:9444/"), "127.0.0.1:9444");
        assert_eq!(h("http://127.0.0.1:80/"), "127.0.0.1");
    }
}
