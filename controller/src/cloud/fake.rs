//! An in-memory cloud for tests: it keeps address → (private IP, VNIC) like OCI does, derives a
//! VNIC id from the providerID, and can be told to fail or to be slow.
//!
//! Data flow: tests build a [`FakeCloud`], hand it to the reconciler as its provider, script
//! failures with [`FakeCloud::fail_next`], and read back [`FakeCloud::calls`] and
//! [`FakeCloud::holder`] to check what the reconciler did.

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;

use futures::future::BoxFuture;

use super::{CloudAssignment, CloudError, CloudProvider, CloudRef, MoveRequest};

/// One recorded call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Call {
    /// `ensure_assigned(address, provider_id)`.
    Ensure(IpAddr, String),
    /// `current_assignment(address)`.
    Current(IpAddr),
    /// `release(private_ip_id)`.
    Release(String),
    /// `node_interface(provider_id)`.
    NodeInterface(String),
    /// `check_move_permission(private_ip_id)`.
    CheckPermission(String),
}

#[derive(Debug, Default)]
struct State {
    /// address → (private IP id, VNIC id).
    ips: BTreeMap<IpAddr, (String, String)>,
    failures: VecDeque<CloudError>,
    /// providerIDs whose instance has no VNIC in the subnet.
    no_vnic: Vec<String>,
    calls: Vec<Call>,
    next_id: u32,
    delay: Duration,
}

/// The in-memory cloud.
#[derive(Debug, Default)]
pub struct FakeCloud {
    state: Mutex<State>,
}

impl FakeCloud {
    /// An empty cloud.
    pub fn new() -> Self {
        Self::default()
    }

    /// The VNIC id the fake gives the node with this providerID.
    pub fn vnic_of(provider_id: &str) -> String {
        format!("vnic-of-{provider_id}")
    }

    /// Makes the next call fail with `category` (transient when `transient`).
    pub fn fail_next(&self, category: &'static str, transient: bool) {
        self.lock().failures.push_back(CloudError {
            category,
            message: format!("injected {category} failure"),
            transient,
            opc_request_id: Some("fake-request".to_string()),
        });
    }

    /// Makes every call take `delay` first.
    pub fn set_delay(&self, delay: Duration) {
        self.lock().delay = delay;
    }

    /// Pre-creates the private IP on a VNIC, as if someone made it by hand.
    pub fn preassign(&self, address: IpAddr, provider_id: &str) {
        let mut s = self.lock();
        s.next_id += 1;
        let id = format!("privateip-{}", s.next_id);
        s.ips.insert(address, (id, Self::vnic_of(provider_id)));
    }

    /// Makes the instance behind `provider_id` lose (or regain) its VNIC in the subnet.
    pub fn set_no_vnic(&self, provider_id: &str, missing: bool) {
        let mut s = self.lock();
        s.no_vnic.retain(|p| p != provider_id);
        if missing {
            s.no_vnic.push(provider_id.to_string());
        }
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// The VNIC holding `address`, if any.
    pub fn holder(&self, address: IpAddr) -> Option<String> {
        self.lock().ips.get(&address).map(|(_, v)| v.clone())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn begin(&self, call: Call) -> (Duration, Option<CloudError>) {
        let mut s = self.lock();
        s.calls.push(call);
        (s.delay, s.failures.pop_front())
    }
}

impl CloudProvider for FakeCloud {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn spec_key(&self) -> &'static str {
        "oci"
    }

    fn l2_only(&self) -> bool {
        false
    }

    fn ensure_assigned<'a>(
        &'a self,
        req: &'a MoveRequest,
    ) -> BoxFuture<'a, Result<CloudAssignment, CloudError>> {
        Box::pin(async move {
            let (delay, fail) = self.begin(Call::Ensure(req.address, req.provider_id.clone()));
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            if let Some(e) = fail {
                return Err(e);
            }
            let vnic = Self::vnic_of(&req.provider_id);
            let mut s = self.lock();
            let (created, changed, id) = match s.ips.get(&req.address).cloned() {
                Some((id, v)) if v == vnic => (false, false, id),
                Some((id, _)) => (false, true, id),
                None => {
                    s.next_id += 1;
                    (true, true, format!("privateip-{}", s.next_id))
                }
            };
            s.ips.insert(req.address, (id.clone(), vnic.clone()));
            Ok(CloudAssignment {
                vnic_id: Some(vnic),
                private_ip_id: Some(id),
                created,
                changed,
                opc_request_ids: vec!["fake-request".to_string()],
            })
        })
    }

    fn current_assignment<'a>(
        &'a self,
        address: IpAddr,
        _subnet_id: &'a str,
    ) -> BoxFuture<'a, Result<Option<CloudAssignment>, CloudError>> {
        Box::pin(async move {
            let (_, fail) = self.begin(Call::Current(address));
            if let Some(e) = fail {
                return Err(e);
            }
            Ok(self
                .lock()
                .ips
                .get(&address)
                .map(|(id, v)| CloudAssignment {
                    vnic_id: Some(v.clone()),
                    private_ip_id: Some(id.clone()),
                    ..CloudAssignment::default()
                }))
        })
    }

    fn release<'a>(&'a self, target: &'a CloudRef) -> BoxFuture<'a, Result<(), CloudError>> {
        Box::pin(async move {
            let private_ip_id = target.private_ip_id.as_deref().unwrap_or_default();
            let (_, fail) = self.begin(Call::Release(private_ip_id.to_string()));
            if let Some(e) = fail {
                return Err(e);
            }
            self.lock().ips.retain(|_, (id, _)| id != private_ip_id);
            Ok(())
        })
    }
    fn node_interface<'a>(
        &'a self,
        provider_id: &'a str,
        subnet_id: &'a str,
        _max_age: std::time::Duration,
    ) -> BoxFuture<'a, Result<String, CloudError>> {
        Box::pin(async move {
            let (_, fail) = self.begin(Call::NodeInterface(provider_id.to_string()));
            if let Some(e) = fail {
                return Err(e);
            }
            if self.lock().no_vnic.iter().any(|p| p == provider_id) {
                return Err(CloudError {
                    category: "no_vnic_in_subnet",
                    message: format!("{provider_id} has no ATTACHED VNIC in {subnet_id}"),
                    transient: false,
                    opc_request_id: None,
                });
            }
            Ok(Self::vnic_of(provider_id))
        })
    }

    fn check_move_permission<'a>(
        &'a self,
        target: &'a CloudRef,
    ) -> BoxFuture<'a, Result<(), CloudError>> {
        Box::pin(async move {
            let private_ip_id = target.private_ip_id.as_deref().unwrap_or_default();
            let (_, fail) = self.begin(Call::CheckPermission(private_ip_id.to_string()));
            fail.map_or(Ok(()), Err)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(addr: &str, pid: &str) -> MoveRequest {
        MoveRequest {
            address: addr.parse().unwrap(),
            subnet_id: "subnet".into(),
            provider_id: pid.into(),
            display_name: None,
        }
    }

    #[tokio::test]
    async fn create_then_noop_then_move() {
        let c = FakeCloud::new();
        let a = c.ensure_assigned(&req("10.0.0.9", "i-1")).await.unwrap();
        assert!(a.created && a.changed);
        let b = c.ensure_assigned(&req("10.0.0.9", "i-1")).await.unwrap();
        assert!(!b.created && !b.changed);
        assert_eq!(a.private_ip_id, b.private_ip_id);
        let m = c.ensure_assigned(&req("10.0.0.9", "i-2")).await.unwrap();
        assert!(!m.created && m.changed);
        assert_eq!(
            c.holder("10.0.0.9".parse().unwrap()),
            Some(FakeCloud::vnic_of("i-2"))
        );
    }

    #[tokio::test]
    async fn injected_failure_is_returned_once() {
        let c = FakeCloud::new();
        c.fail_next("throttled", true);
        let e = c
            .ensure_assigned(&req("10.0.0.9", "i-1"))
            .await
            .unwrap_err();
        assert_eq!(e.category, "throttled");
        assert!(c.ensure_assigned(&req("10.0.0.9", "i-1")).await.is_ok());
    }
}
