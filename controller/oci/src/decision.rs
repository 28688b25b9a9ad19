//! Pure decisions of the move: parse a node's providerID, pick the VNIC, and decide what
//! `ensure_assigned` does given the current private IP and the target VNIC.
//!
//! Data flow: the client reads state from OCI, calls these functions, and performs exactly the
//! action they return. No I/O here.

use crate::error::OciError;
use crate::model::{IpRecord, VnicAttachment};

/// Extracts the instance OCID from a node's `spec.providerID` (bare or `oci://`-prefixed).
pub fn parse_provider_id(provider_id: &str) -> Result<String, OciError> {
    let s = provider_id.trim();
    if s.is_empty() {
        return Err(OciError::NoProviderId);
    }
    let id = s.strip_prefix("oci://").unwrap_or(s);
    let valid = id.starts_with("ocid1.instance.")
        && id.len() > "ocid1.instance.".len()
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-' || c == '_');
    if valid {
        Ok(id.to_string())
    } else {
        Err(OciError::BadProviderId(provider_id.to_string()))
    }
}

/// What `ensure_assigned` must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MoveAction {
    /// Already on the target VNIC.
    Nothing {
        /// Private IP OCID.
        private_ip_id: String,
    },
    /// Exists elsewhere (or unassigned): `UpdatePrivateIp` with the target `vnicId`.
    Move {
        /// Private IP OCID.
        private_ip_id: String,
        /// Where it is now, if anywhere.
        from_vnic: Option<String>,
    },
    /// Does not exist in the subnet: `CreatePrivateIp` on the target VNIC.
    Create,
    /// It is some VNIC's primary IP: refuse.
    RefusePrimary {
        /// Private IP OCID.
        private_ip_id: String,
        /// The VNIC it is primary on.
        vnic_id: String,
    },
}

/// Decides the action from the current record (from ListPrivateIps by address and subnet) and
/// the target VNIC.
pub fn decide(current: Option<&IpRecord>, target_vnic: &str) -> MoveAction {
    match current {
        None => MoveAction::Create,
        Some(r) if r.vnic_id.as_deref() == Some(target_vnic) => MoveAction::Nothing {
            private_ip_id: r.id.clone(),
        },
        Some(r) if r.is_primary => MoveAction::RefusePrimary {
            private_ip_id: r.id.clone(),
            vnic_id: r.vnic_id.clone().unwrap_or_default(),
        },
        Some(r) => MoveAction::Move {
            private_ip_id: r.id.clone(),
            from_vnic: r.vnic_id.clone(),
        },
    }
}

/// The order in which to inspect attachments: ATTACHED ones with a VNIC, those whose
/// attachment already names the wanted subnet first (saves GetVnic calls).
pub fn candidate_vnics(attachments: &[VnicAttachment], subnet_id: &str) -> Vec<String> {
    let mut attached: Vec<&VnicAttachment> = attachments
        .iter()
        .filter(|a| a.lifecycle_state == "ATTACHED" && a.vnic_id.is_some())
        .collect();
    attached.sort_by_key(|a| a.subnet_id.as_deref() != Some(subnet_id));
    attached
        .into_iter()
        .filter_map(|a| a.vnic_id.clone())
        .collect()
}

/// True when `message` from a 400 InvalidParameter on Create/Update blames the subnet's range.
pub fn is_outside_subnet_message(code: &str, message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    code == "InvalidParameter"
        && (m.contains("cidr")
            || m.contains("not within")
            || m.contains("not in the subnet")
            || m.contains("outside")
            || (m.contains("subnet") && m.contains("range")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(vnic: Option<&str>, primary: bool) -> IpRecord {
        IpRecord {
            id: "ocid1.privateip.p".into(),
            vnic_id: vnic.map(str::to_string),
            ip_address: "10.0.1.100".into(),
            is_primary: primary,
            compartment_id: None,
        }
    }

    #[test]
    fn decision_table() {
        let t = "ocid1.vnic.target";
        let table = [
            (None, MoveAction::Create),
            (
                Some(rec(Some(t), false)),
                MoveAction::Nothing {
                    private_ip_id: "ocid1.privateip.p".into(),
                },
            ),
            // Primary IP already on the target VNIC: nothing to do, nothing refused.
            (
                Some(rec(Some(t), true)),
                MoveAction::Nothing {
                    private_ip_id: "ocid1.privateip.p".into(),
                },
            ),
            (
                Some(rec(Some("ocid1.vnic.other"), false)),
                MoveAction::Move {
                    private_ip_id: "ocid1.privateip.p".into(),
                    from_vnic: Some("ocid1.vnic.other".into()),
                },
            ),
            (
                Some(rec(Some("ocid1.vnic.other"), true)),
                MoveAction::RefusePrimary {
                    private_ip_id: "ocid1.privateip.p".into(),
                    vnic_id: "ocid1.vnic.other".into(),
                },
            ),
            // Reserved but unassigned: assign it by update.
            (
                Some(rec(None, false)),
                MoveAction::Move {
                    private_ip_id: "ocid1.privateip.p".into(),
                    from_vnic: None,
                },
            ),
        ];
        for (current, want) in table {
            assert_eq!(decide(current.as_ref(), t), want, "{current:?}");
        }
    }

    #[test]
    fn provider_id_table() {
        let ok =
            "ocid1.instance.oc1.phx.anyhqljt4vbsxxqcc3vxf6j3i6uq6b2e3c4hmkwt3muoe6cvzhzfi4dq5ltq";
        assert_eq!(parse_provider_id(ok).unwrap(), ok);
        assert_eq!(parse_provider_id(&format!("oci://{ok}")).unwrap(), ok);
        assert_eq!(parse_provider_id(&format!("  {ok}\n")).unwrap(), ok);
        assert_eq!(
            parse_provider_id("").unwrap_err().category(),
            "no_provider_id"
        );
        for bad in [
            "aws:///us-east-1a/i-0123",
            "oci://",
            "ocid1.instance.",
            "ocid1.vnic.oc1.phx.abc",
            "oci://ocid1.instance.oc1.phx.a b",
            "kind://docker/kind/node",
        ] {
            assert_eq!(
                parse_provider_id(bad).unwrap_err().category(),
                "bad_provider_id",
                "{bad}"
            );
        }
    }

    #[test]
    fn candidates_prefer_matching_subnet_and_skip_unattached() {
        let att =
            |id: &str, state: &str, vnic: Option<&str>, subnet: Option<&str>| VnicAttachment {
                id: id.into(),
                instance_id: None,
                vnic_id: vnic.map(str::to_string),
                subnet_id: subnet.map(str::to_string),
                lifecycle_state: state.into(),
            };
        let list = vec![
            att("a", "ATTACHED", Some("v-primary"), Some("s-nodes")),
            att("b", "DETACHING", Some("v-old"), Some("s-db")),
            att("c", "ATTACHING", None, Some("s-db")),
            att("d", "ATTACHED", Some("v-db"), Some("s-db")),
            att("e", "ATTACHED", Some("v-nohint"), None),
        ];
        assert_eq!(
            candidate_vnics(&list, "s-db"),
            vec!["v-db", "v-primary", "v-nohint"]
        );
    }

    #[test]
    fn outside_subnet_detection() {
        assert!(is_outside_subnet_message(
            "InvalidParameter",
            "IP address 10.9.9.9 is not within the CIDR block of subnet ocid1.subnet.x"
        ));
        assert!(is_outside_subnet_message(
            "InvalidParameter",
            "The IP address is not in the subnet."
        ));
        assert!(!is_outside_subnet_message(
            "InvalidParameter",
            "displayName too long"
        ));
        assert!(!is_outside_subnet_message("LimitExceeded", "cidr"));
    }
}
