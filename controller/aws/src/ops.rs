//! The three EC2 actions as typed calls: one function per question or change.
//!
//! Data flow: each function builds the Query body (`query`), calls the transport, and parses
//! the answer (`xml`) into model types plus the request ids of the calls made. Listings follow
//! `NextToken` (EC2 may return short, even empty, pages with a token when filtering) up to
//! [`MAX_PAGES`]. Failures stay raw ([`CallFailure`]); the client maps them.

use std::net::IpAddr;

use crate::error::{AwsError, Op};
use crate::model::Eni;
use crate::query::QueryBody;
use crate::transport::{CallFailure, Transport};
use crate::xml::{parse_ack, parse_eni_page};

/// Most pages one listing may take.
pub const MAX_PAGES: usize = 20;
/// `MaxResults` of filtered listings (EC2 allows 5..=1000).
pub const PAGE_SIZE: &str = "1000";

/// A listing and the request ids of its pages.
#[derive(Debug, Default)]
pub(crate) struct Listed {
    /// The interfaces, all pages.
    pub enis: Vec<Eni>,
    /// `requestId`s, in order.
    pub request_ids: Vec<String>,
}

/// Borrowed view of the transport with the typed calls.
pub(crate) struct Ops<'a> {
    /// The transport.
    pub transport: &'a Transport,
}

fn invalid(op: Op, message: String) -> CallFailure {
    CallFailure::Local(AwsError::InvalidResponse {
        operation: op.action(),
        message,
        request_id: None,
    })
}

impl Ops<'_> {
    /// All pages of a `DescribeNetworkInterfaces` with `base`'s filters.
    async fn list(&self, base: QueryBody) -> Result<Listed, CallFailure> {
        let mut out = Listed::default();
        let mut token: Option<String> = None;
        for _ in 0..MAX_PAGES {
            let mut body = base.clone().param("MaxResults", PAGE_SIZE);
            if let Some(t) = &token {
                body = body.param("NextToken", t.clone());
            }
            let reply = self.transport.call(Op::Describe, &body).await?;
            let page = parse_eni_page(&reply.body).map_err(|m| invalid(Op::Describe, m))?;
            out.request_ids.extend(page.request_id);
            out.enis.extend(page.enis);
            match page.next_token.filter(|t| !t.is_empty()) {
                Some(t) => token = Some(t),
                None => return Ok(out),
            }
        }
        Err(invalid(
            Op::Describe,
            format!("more than {MAX_PAGES} pages; narrow the filters"),
        ))
    }

    /// The interfaces attached to `instance_id` in `subnet_id`.
    pub async fn enis_of_instance(
        &self,
        instance_id: &str,
        subnet_id: &str,
    ) -> Result<Listed, CallFailure> {
        self.list(
            QueryBody::new(Op::Describe.action())
                .filter("attachment.instance-id", &[instance_id])
                .filter("subnet-id", &[subnet_id]),
        )
        .await
    }

    /// The interfaces of `subnet_id` that list `ip` among their private addresses.
    pub async fn enis_holding(&self, ip: IpAddr, subnet_id: &str) -> Result<Listed, CallFailure> {
        let ip = ip.to_string();
        self.list(
            QueryBody::new(Op::Describe.action())
                .filter("subnet-id", &[subnet_id])
                .filter("addresses.private-ip-address", &[&ip]),
        )
        .await
    }

    /// One interface by id (`NetworkInterfaceId.1`; EC2 forbids `MaxResults` with ids). A
    /// missing interface is EC2's `InvalidNetworkInterfaceID.NotFound` failure.
    pub async fn eni(&self, eni_id: &str) -> Result<(Option<Eni>, Option<String>), CallFailure> {
        let body = QueryBody::new(Op::Describe.action()).param("NetworkInterfaceId.1", eni_id);
        let reply = self.transport.call(Op::Describe, &body).await?;
        let page = parse_eni_page(&reply.body).map_err(|m| invalid(Op::Describe, m))?;
        let eni = page.enis.into_iter().find(|e| e.id == eni_id);
        Ok((eni, page.request_id))
    }

    /// `AssignPrivateIpAddresses` of `ip` to `eni_id` with `AllowReassignment=true` (so it moves
    /// from wherever it is in the subnet); `dry_run` only checks the permission.
    pub async fn assign(
        &self,
        eni_id: &str,
        ip: IpAddr,
        dry_run: bool,
    ) -> Result<Option<String>, CallFailure> {
        let mut body = QueryBody::new(Op::Assign.action())
            .param("NetworkInterfaceId", eni_id)
            .param("PrivateIpAddress.1", ip.to_string())
            .param("AllowReassignment", "true");
        if dry_run {
            body = body.param("DryRun", "true");
        }
        let reply = self.transport.call(Op::Assign, &body).await?;
        let ack = parse_ack(&reply.body).map_err(|m| invalid(Op::Assign, m))?;
        Ok(ack.request_id)
    }

    /// `UnassignPrivateIpAddresses` of `ip` from `eni_id`.
    pub async fn unassign(&self, eni_id: &str, ip: IpAddr) -> Result<Option<String>, CallFailure> {
        let body = QueryBody::new(Op::Unassign.action())
            .param("NetworkInterfaceId", eni_id)
            .param("PrivateIpAddress.1", ip.to_string());
        let reply = self.transport.call(Op::Unassign, &body).await?;
        let ack = parse_ack(&reply.body).map_err(|m| invalid(Op::Unassign, m))?;
        if ack.ret == Some(false) {
            return Err(CallFailure::Local(AwsError::InvalidResponse {
                operation: Op::Unassign.action(),
                message: format!("EC2 answered return=false for {ip} on {eni_id}"),
                request_id: ack.request_id,
            }));
        }
        Ok(ack.request_id)
    }
}
