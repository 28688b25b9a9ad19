//! EC2 Query API request bodies.
//!
//! Data flow: `ops` builds a [`QueryBody`] per call (`Action`, `Version`, then the action's
//! parameters in order, lists as `Name.N` / `Filter.N.Name` + `Filter.N.Value.M`), the
//! transport signs exactly [`QueryBody::encode`]'s bytes and sends them as
//! `application/x-www-form-urlencoded; charset=utf-8`. Pure.

/// The EC2 API version every call names (the current and only Query API version).
pub const API_VERSION: &str = "2016-11-15";

/// The `Content-Type` of every request.
pub const CONTENT_TYPE: &str = "application/x-www-form-urlencoded; charset=utf-8";

/// An ordered list of Query parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryBody {
    params: Vec<(String, String)>,
    filters: usize,
}

impl QueryBody {
    /// A body for `action` at [`API_VERSION`].
    pub fn new(action: &str) -> Self {
        Self::with_version(action, API_VERSION)
    }

    /// A body for `action` of another Query API at `version` (e.g. IAM's `2010-05-08`, for
    /// test set-ups).
    pub fn with_version(action: &str, version: &str) -> Self {
        QueryBody {
            params: vec![
                ("Action".into(), action.into()),
                ("Version".into(), version.into()),
            ],
            filters: 0,
        }
    }

    /// Adds `name=value`.
    pub fn param(mut self, name: &str, value: impl Into<String>) -> Self {
        self.params.push((name.into(), value.into()));
        self
    }

    /// Adds the next `Filter.N.Name=name` with `Filter.N.Value.M` for each value.
    pub fn filter(mut self, name: &str, values: &[&str]) -> Self {
        self.filters += 1;
        let n = self.filters;
        self.params.push((format!("Filter.{n}.Name"), name.into()));
        for (m, v) in values.iter().enumerate() {
            self.params
                .push((format!("Filter.{n}.Value.{}", m + 1), (*v).to_string()));
        }
        self
    }

    /// The value of parameter `name`, if set (for logs and tests).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// `k=v&k=v` with RFC 3986 percent-encoding (everything but `A-Z a-z 0-9 - _ . ~`), the
    /// encoding SigV4 expects.
    pub fn encode(&self) -> String {
        let mut out = String::new();
        for (i, (k, v)) in self.params.iter().enumerate() {
            if i > 0 {
                out.push('&');
            }
            encode_into(&mut out, k);
            out.push('=');
            encode_into(&mut out, v);
        }
        out
    }
}

fn encode_into(out: &mut String, s: &str) {
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describe_by_instance_and_subnet() {
        let body = QueryBody::new("DescribeNetworkInterfaces")
            .filter("attachment.instance-id", &["i-0123456789abcdef0"])
            .filter("subnet-id", &["subnet-0abc"])
            .param("MaxResults", "1000");
        assert_eq!(
            body.encode(),
            "Action=DescribeNetworkInterfaces&Version=2016-11-15\
             &Filter.1.Name=attachment.instance-id&Filter.1.Value.1=i-0123456789abcdef0\
             &Filter.2.Name=subnet-id&Filter.2.Value.1=subnet-0abc&MaxResults=1000"
        );
        assert_eq!(body.get("Filter.2.Value.1"), Some("subnet-0abc"));
        assert_eq!(body.get("NextToken"), None);
    }

    #[test]
    fn assign_body() {
        let body = QueryBody::new("AssignPrivateIpAddresses")
            .param("NetworkInterfaceId", "eni-1")
            .param("PrivateIpAddress.1", "10.0.1.100")
            .param("AllowReassignment", "true");
        assert_eq!(
            body.encode(),
            "Action=AssignPrivateIpAddresses&Version=2016-11-15&NetworkInterfaceId=eni-1\
             &PrivateIpAddress.1=10.0.1.100&AllowReassignment=true"
        );
    }

    #[test]
    fn values_are_percent_encoded() {
        let body = QueryBody::new("X")
            .param("NextToken", "a+b/c= d~e")
            .filter("tag:Name", &["x*", "ü"]);
        assert_eq!(
            body.encode(),
            "Action=X&Version=2016-11-15&NextToken=a%2Bb%2Fc%3D%20d~e\
             &Filter.1.Name=tag%3AName&Filter.1.Value.1=x%2A&Filter.1.Value.2=%C3%BC"
        );
    }
}
