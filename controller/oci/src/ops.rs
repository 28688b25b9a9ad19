//! Typed Core Services operations (one function per API call) on top of the transport.
//!
//! Data flow: build the URL and JSON body bytes → `Transport::execute` (signing, retries) →
//! decode JSON into `model` types, returning the value with its `etag` and `opc-request-id`.
//! Errors stay raw ([`CallFailure`]) so the caller can map them knowing the context.

use reqwest::Method;
use serde::de::DeserializeOwned;
use std::net::IpAddr;
use url::Url;

use crate::config::join;
use crate::error::{ApiFailure, OciError};
use crate::http::header;
use crate::model::{
    CreateIpDetails, Instance, IpRecord, Ipv6, PrivateIp, UpdateIpDetails, Vnic, VnicAttachment,
};
use crate::transport::{ApiResponse, Call, CallFailure, Transport};

const API: &str = "/20160918";
/// Safety stop for pagination.
const MAX_PAGES: usize = 50;

/// Address family, selecting `/privateIps` or `/ipv6`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Family {
    /// Private IPv4 (`/privateIps`).
    V4,
    /// IPv6 (`/ipv6`).
    V6,
}

impl Family {
    /// Family of an address.
    pub fn of(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(_) => Family::V4,
            IpAddr::V6(_) => Family::V6,
        }
    }

    /// Family of an OCID (`ocid1.ipv6.` → V6, else V4).
    pub fn of_ocid(id: &str) -> Self {
        if id.starts_with("ocid1.ipv6.") {
            Family::V6
        } else {
            Family::V4
        }
    }

    fn collection(self) -> &'static str {
        match self {
            Family::V4 => "/privateIps",
            Family::V6 => "/ipv6",
        }
    }

    /// Operation names for logs/errors: (list, get, update, create, delete).
    pub fn ops(self) -> [&'static str; 5] {
        match self {
            Family::V4 => [
                "ListPrivateIps",
                "GetPrivateIp",
                "UpdatePrivateIp",
                "CreatePrivateIp",
                "DeletePrivateIp",
            ],
            Family::V6 => [
                "ListIpv6s",
                "GetIpv6",
                "UpdateIpv6",
                "CreateIpv6",
                "DeleteIpv6",
            ],
        }
    }
}

/// A decoded answer.
#[derive(Debug, Clone)]
pub struct Resp<T> {
    /// The value.
    pub value: T,
    /// `etag`.
    pub etag: Option<String>,
    /// `opc-request-id` (one per page for lists).
    pub request_ids: Vec<String>,
}

impl<T> Resp<T> {
    /// The same answer with its value converted by `f`.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Resp<U> {
        Resp {
            value: f(self.value),
            etag: self.etag,
            request_ids: self.request_ids,
        }
    }
}

/// Operations bound to a transport and a Core Services base URL.
pub struct Ops<'a> {
    /// Transport.
    pub transport: &'a Transport,
    /// Base URL (`https://iaas.{region}.{domain}`).
    pub base: &'a Url,
}

fn decode<T: DeserializeOwned>(op: &'static str, r: &ApiResponse) -> Result<T, CallFailure> {
    serde_json::from_slice(&r.body).map_err(|e| {
        CallFailure::Local(OciError::InvalidResponse {
            operation: op,
            message: format!("cannot decode JSON: {e}"),
            opc_request_id: r.opc_request_id.clone(),
        })
    })
}

/// A list of private IPs or IPv6 objects (`T`), as records.
fn records<T>(op: &'static str, r: &ApiResponse) -> Result<Vec<IpRecord>, CallFailure>
where
    T: DeserializeOwned + Into<IpRecord>,
{
    Ok(decode::<Vec<T>>(op, r)?
        .into_iter()
        .map(Into::into)
        .collect())
}

fn body<T: serde::Serialize>(op: &'static str, v: &T) -> Result<Vec<u8>, CallFailure> {
    serde_json::to_vec(v).map_err(|e| {
        CallFailure::Local(OciError::InvalidResponse {
            operation: op,
            message: e.to_string(),
            opc_request_id: None,
        })
    })
}

fn local(
    r: Result<(reqwest::header::HeaderName, reqwest::header::HeaderValue), OciError>,
) -> Result<(reqwest::header::HeaderName, reqwest::header::HeaderValue), CallFailure> {
    r.map_err(CallFailure::Local)
}

impl Ops<'_> {
    fn url(&self, path: &str, query: &[(&str, &str)]) -> Url {
        let mut u = join(self.base, &format!("{API}{path}"));
        if !query.is_empty() {
            let mut q = u.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        u
    }

    /// Executes `call` and decodes its answer as `T`.
    async fn call<T: DeserializeOwned>(&self, call: Call) -> Result<Resp<T>, CallFailure> {
        let r = self.transport.execute(&call).await?;
        Ok(Resp {
            value: decode(call.op, &r)?,
            etag: r.etag.clone(),
            request_ids: r.opc_request_id.into_iter().collect(),
        })
    }

    /// `GET {API}{path}`, decoded as `T`.
    async fn get<T: DeserializeOwned>(
        &self,
        op: &'static str,
        path: &str,
    ) -> Result<Resp<T>, CallFailure> {
        self.call(Call::new(op, Method::GET, self.url(path, &[])))
            .await
    }

    /// `GetInstance`.
    pub async fn get_instance(&self, id: &str) -> Result<Resp<Instance>, CallFailure> {
        self.get("GetInstance", &format!("/instances/{id}")).await
    }

    /// `ListVnicAttachments` for one instance, all pages.
    pub async fn list_vnic_attachments(
        &self,
        compartment_id: &str,
        instance_id: &str,
    ) -> Result<Resp<Vec<VnicAttachment>>, CallFailure> {
        let op = "ListVnicAttachments";
        let query = [
            ("compartmentId", compartment_id),
            ("instanceId", instance_id),
        ];
        self.paged(op, "/vnicAttachments", &query, MAX_PAGES, |r| {
            decode::<Vec<VnicAttachment>>(op, r)
        })
        .await
    }

    /// Every page of the list call `op` on `path` with `query`, following `opc-next-page`, at
    /// most `max_pages` (more is an error rather than a partial answer); `items` decodes a page.
    async fn paged<T>(
        &self,
        op: &'static str,
        path: &str,
        query: &[(&str, &str)],
        max_pages: usize,
        items: impl Fn(&ApiResponse) -> Result<Vec<T>, CallFailure>,
    ) -> Result<Resp<Vec<T>>, CallFailure> {
        let (mut all, mut ids, mut page) = (Vec::new(), Vec::new(), None::<String>);
        for _ in 0..max_pages {
            let mut q = query.to_vec();
            if let Some(p) = page.as_deref() {
                q.push(("page", p));
            }
            let url = self.url(path, &q);
            let r = self
                .transport
                .execute(&Call::new(op, Method::GET, url))
                .await?;
            all.extend(items(&r)?);
            ids.extend(r.opc_request_id.clone());
            match r.next_page.filter(|p| !p.is_empty()) {
                Some(p) => page = Some(p),
                None => {
                    return Ok(Resp {
                        value: all,
                        etag: None,
                        request_ids: ids,
                    })
                }
            }
        }
        Err(CallFailure::Local(OciError::InvalidResponse {
            operation: op,
            message: format!("more than {max_pages} pages of {path}"),
            opc_request_id: ids.pop(),
        }))
    }

    /// `GetVnic`.
    pub async fn get_vnic(&self, id: &str) -> Result<Resp<Vnic>, CallFailure> {
        self.get("GetVnic", &format!("/vnics/{id}")).await
    }

    /// `ListPrivateIps` / `ListIpv6s` filtered by address and subnet; returns the record for
    /// exactly that address, if any.
    pub async fn find_ip(
        &self,
        ip: IpAddr,
        subnet_id: &str,
    ) -> Result<Resp<Option<IpRecord>>, CallFailure> {
        let fam = Family::of(ip);
        let op = fam.ops()[0];
        let addr = ip.to_string();
        let url = self.url(
            fam.collection(),
            &[("ipAddress", &addr), ("subnetId", subnet_id)],
        );
        let r = self
            .transport
            .execute(&Call::new(op, Method::GET, url))
            .await?;
        let records = match fam {
            Family::V4 => records::<PrivateIp>(op, &r)?,
            Family::V6 => records::<Ipv6>(op, &r)?,
        };
        let found = records
            .into_iter()
            .find(|rec| rec.ip_address.parse::<IpAddr>().ok() == Some(ip));
        Ok(Resp {
            value: found,
            etag: None,
            request_ids: r.opc_request_id.into_iter().collect(),
        })
    }

    /// Every private IP (or IPv6) object of family `fam` in `subnet_id`: `ListPrivateIps` /
    /// `ListIpv6s` by subnet, 1000 a page, at most `max_pages` pages.
    pub async fn list_subnet_ips(
        &self,
        fam: Family,
        subnet_id: &str,
        max_pages: usize,
    ) -> Result<Resp<Vec<IpRecord>>, CallFailure> {
        let op = fam.ops()[0];
        let query = [("subnetId", subnet_id), ("limit", "1000")];
        self.paged(op, fam.collection(), &query, max_pages, |r| match fam {
            Family::V4 => records::<PrivateIp>(op, r),
            Family::V6 => records::<Ipv6>(op, r),
        })
        .await
    }

    /// Executes `call` on a private IP or IPv6 object of family `fam`, as a record.
    async fn ip_call(&self, fam: Family, call: Call) -> Result<Resp<IpRecord>, CallFailure> {
        Ok(match fam {
            Family::V4 => self.call::<PrivateIp>(call).await?.map(IpRecord::from),
            Family::V6 => self.call::<Ipv6>(call).await?.map(IpRecord::from),
        })
    }

    /// `GetPrivateIp` / `GetIpv6` (with `etag`).
    pub async fn get_ip(&self, fam: Family, id: &str) -> Result<Resp<IpRecord>, CallFailure> {
        let url = self.url(&format!("{}/{id}", fam.collection()), &[]);
        self.ip_call(fam, Call::new(fam.ops()[1], Method::GET, url))
            .await
    }

    /// `UpdatePrivateIp` / `UpdateIpv6` with `{"vnicId"}`, guarded by `if-match`.
    pub async fn update_ip(
        &self,
        fam: Family,
        id: &str,
        vnic_id: &str,
        if_match: Option<&str>,
    ) -> Result<Resp<IpRecord>, CallFailure> {
        let op = fam.ops()[2];
        let url = self.url(&format!("{}/{id}", fam.collection()), &[]);
        let json = body(
            op,
            &UpdateIpDetails {
                vnic_id: vnic_id.to_string(),
            },
        )?;
        let mut extra = Vec::new();
        if let Some(etag) = if_match {
            extra.push(local(header("if-match", etag))?);
        }
        let call = Call {
            body: Some(json),
            extra,
            ..Call::new(op, Method::PUT, url)
        };
        self.ip_call(fam, call).await
    }

    /// `CreatePrivateIp` / `CreateIpv6` with an `opc-retry-token` (idempotent across retries).
    pub async fn create_ip(
        &self,
        ip: IpAddr,
        vnic_id: &str,
        display_name: Option<&str>,
        retry_token: &str,
    ) -> Result<Resp<IpRecord>, CallFailure> {
        let fam = Family::of(ip);
        let op = fam.ops()[3];
        let url = self.url(fam.collection(), &[]);
        let details = CreateIpDetails {
            vnic_id: vnic_id.to_string(),
            ip_address: ip.to_string(),
            display_name: display_name.map(str::to_string),
        };
        let json = body(op, &details)?;
        let extra = vec![local(header("opc-retry-token", retry_token))?];
        let call = Call {
            body: Some(json),
            extra,
            ..Call::new(op, Method::POST, url)
        };
        self.ip_call(fam, call).await
    }

    /// `DeletePrivateIp` / `DeleteIpv6`; a 404 counts as success.
    pub async fn delete_ip(&self, fam: Family, id: &str) -> Result<Vec<String>, CallFailure> {
        let op = fam.ops()[4];
        let url = self.url(&format!("{}/{id}", fam.collection()), &[]);
        match self
            .transport
            .execute(&Call::new(op, Method::DELETE, url))
            .await
        {
            Ok(r) => Ok(r.opc_request_id.into_iter().collect()),
            Err(CallFailure::Api(ApiFailure::Status {
                status: 404,
                opc_request_id,
                ..
            })) => {
                tracing::info!(
                    op,
                    private_ip_id = id,
                    opc_request_id = opc_request_id.as_deref().unwrap_or(""),
                    "already gone"
                );
                Ok(opc_request_id.into_iter().collect())
            }
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families() {
        assert_eq!(Family::of("10.0.0.1".parse().unwrap()), Family::V4);
        assert_eq!(Family::of("fd00::1".parse().unwrap()), Family::V6);
        assert_eq!(Family::of_ocid("ocid1.ipv6.oc1.phx.x"), Family::V6);
        assert_eq!(Family::of_ocid("ocid1.privateip.oc1.phx.x"), Family::V4);
        assert_eq!(Family::V6.collection(), "/ipv6");
        assert_eq!(Family::V4.ops()[2], "UpdatePrivateIp");
    }
}
