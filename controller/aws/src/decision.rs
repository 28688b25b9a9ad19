//! Pure decisions of the move: parse a node's providerID, pick the node's interface in the
//! VIP's subnet, find who holds the address, and decide what `ensure_assigned` does.
//!
//! Data flow: the client reads interfaces from EC2 (`DescribeNetworkInterfaces`), calls these
//! functions, and performs exactly the action they return. No I/O here.

use std::net::IpAddr;

use crate::error::AwsError;
use crate::model::Eni;

/// Splits a node's `spec.providerID` into (availability zone, instance id).
///
/// The AWS cloud provider (in-tree and `cloud-provider-aws`) writes
/// `aws:///<availability-zone>/<instance-id>`, e.g. `aws:///eu-west-1a/i-0123456789abcdef0`.
/// Its own parser also accepts an empty zone (`aws:////i-...`), no zone (`aws:///i-...`) and a
/// bare instance id, so this does too; the zone is then `""`. Anything that is not an EC2
/// instance id (`i-` followed by letters and digits), such as the `fargate-...` names of
/// Fargate nodes, is a [`AwsError::BadProviderId`]; an empty value is
/// [`AwsError::NoProviderId`].
pub fn parse_provider_id(provider_id: &str) -> Result<(String, String), AwsError> {
    let s = provider_id.trim();
    if s.is_empty() {
        return Err(AwsError::NoProviderId);
    }
    let bad = || AwsError::BadProviderId(provider_id.to_string());
    let (az, id) = match s.strip_prefix("aws://") {
        // After `aws://` comes an empty host, then `/<az>/<id>`, `//<id>` or `/<id>`.
        Some(rest) => {
            let path = rest.strip_prefix('/').ok_or_else(bad)?;
            match path.split('/').collect::<Vec<_>>()[..] {
                [id] => ("", id),
                [az, id] => (az, id),
                _ => return Err(bad()),
            }
        }
        None => ("", s),
    };
    let az_ok = az
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let id_ok = id.strip_prefix("i-").is_some_and(|hex| {
        !hex.is_empty()
            && hex
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
    });
    if az_ok && id_ok {
        Ok((az.to_string(), id.to_string()))
    } else {
        Err(bad())
    }
}

/// IPv4 only: see [`AwsError::Ipv6Unsupported`].
pub fn require_ipv4(ip: IpAddr) -> Result<(), AwsError> {
    match ip {
        IpAddr::V4(_) => Ok(()),
        IpAddr::V6(_) => Err(AwsError::Ipv6Unsupported(ip)),
    }
}

/// The interface a move to `instance_id` uses in `subnet_id`: one attached to that instance, in
/// that subnet, with attachment `attached`; the lowest device index first (the primary
/// interface when it is in the subnet).
pub fn pick_eni<'a>(enis: &'a [Eni], instance_id: &str, subnet_id: &str) -> Option<&'a Eni> {
    enis.iter()
        .filter(|e| {
            e.instance_id.as_deref() == Some(instance_id)
                && e.subnet_id == subnet_id
                && e.attachment_status.as_deref() == Some("attached")
        })
        .min_by_key(|e| (e.device_index.unwrap_or(u32::MAX), e.id.clone()))
}

/// Who holds `ip` among `enis`: (interface, the address is its primary).
pub fn holders(enis: &[Eni], ip: IpAddr) -> Vec<(String, bool)> {
    enis.iter()
        .filter_map(|e| e.address(ip).map(|a| (e.id.clone(), a.primary)))
        .collect()
}

/// What `ensure_assigned` must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnsureAction {
    /// The target interface already holds the address.
    Nothing,
    /// `AssignPrivateIpAddresses` with `AllowReassignment=true` on the target: a move when
    /// `from` names the interface holding it now, else a first assignment.
    Assign {
        /// The interface holding it now, if any.
        from: Option<String>,
    },
    /// It is another interface's primary private IP: refuse.
    RefusePrimary {
        /// The interface it is primary on.
        eni_id: String,
    },
}

/// Decides from the holders of the address (see [`holders`]) and the target interface.
pub fn decide(holders: &[(String, bool)], target_eni: &str) -> EnsureAction {
    if holders.iter().any(|(eni, _)| eni == target_eni) {
        return EnsureAction::Nothing;
    }
    if let Some((eni, _)) = holders.iter().find(|(_, primary)| *primary) {
        return EnsureAction::RefusePrimary {
            eni_id: eni.clone(),
        };
    }
    EnsureAction::Assign {
        from: holders.first().map(|(eni, _)| eni.clone()),
    }
}

/// True when an `InvalidParameterValue` from `AssignPrivateIpAddresses` blames the subnet's
/// range. GUESS: EC2's exact wording is not documented; it has been seen as "Address ... does
/// not fall within the subnet's address range", so this looks for the subnet and its range.
pub fn is_outside_subnet_message(code: &str, message: &str) -> bool {
    let m = message.to_ascii_lowercase();
    code == "InvalidParameterValue"
        && m.contains("subnet")
        && (m.contains("range")
            || m.contains("cidr")
            || m.contains("not within")
            || m.contains("does not fall"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::EniAddress;

    #[test]
    fn provider_id_table() {
        let ok = [
            (
                "aws:///eu-west-1a/i-0123456789abcdef0",
                ("eu-west-1a", "i-0123456789abcdef0"),
            ),
            ("aws:///us-gov-west-1b/i-0abc", ("us-gov-west-1b", "i-0abc")),
            ("aws:////i-0123456789abcdef0", ("", "i-0123456789abcdef0")),
            ("aws:///i-0123456789abcdef0", ("", "i-0123456789abcdef0")),
            ("i-12345678", ("", "i-12345678")),
            ("  aws:///eu-west-1a/i-0abc\n", ("eu-west-1a", "i-0abc")),
        ];
        for (input, (az, id)) in ok {
            assert_eq!(
                parse_provider_id(input).unwrap(),
                (az.to_string(), id.to_string()),
                "{input}"
            );
        }
        assert_eq!(
            parse_provider_id(" ").unwrap_err().category(),
            "no_provider_id"
        );
        for bad in [
            "aws://",
            "aws:///",
            "aws:///eu-west-1a/",
            "aws://eu-west-1a/i-0abc",
            "aws:///eu-west-1a/i-",
            "aws:///eu-west-1a/fargate-ip-10-0-1-5.eu-west-1.compute.internal",
            "aws:///eu-west-1a/x/i-0abc",
            "aws:///EU-WEST-1A/i-0abc",
            "aws:///eu-west-1a/i-0ABC",
            "ocid1.instance.oc1.phx.abc",
            "kind://docker/kind/node",
            "eks-hybrid:///us-west-2/my-cluster/mi-0123",
        ] {
            assert_eq!(
                parse_provider_id(bad).unwrap_err().category(),
                "bad_provider_id",
                "{bad}"
            );
        }
    }

    fn eni(id: &str, inst: Option<&str>, subnet: &str, att: Option<&str>, dev: Option<u32>) -> Eni {
        Eni {
            id: id.into(),
            subnet_id: subnet.into(),
            status: "in-use".into(),
            instance_id: inst.map(str::to_string),
            attachment_status: att.map(str::to_string),
            device_index: dev,
            addresses: vec![],
        }
    }

    #[test]
    fn eni_choice() {
        let list = vec![
            eni(
                "eni-other-subnet",
                Some("i-1"),
                "subnet-nodes",
                Some("attached"),
                Some(0),
            ),
            eni(
                "eni-detaching",
                Some("i-1"),
                "subnet-db",
                Some("detaching"),
                Some(1),
            ),
            eni(
                "eni-dev3",
                Some("i-1"),
                "subnet-db",
                Some("attached"),
                Some(3),
            ),
            eni(
                "eni-dev2",
                Some("i-1"),
                "subnet-db",
                Some("attached"),
                Some(2),
            ),
            eni(
                "eni-other-node",
                Some("i-2"),
                "subnet-db",
                Some("attached"),
                Some(0),
            ),
            eni("eni-free", None, "subnet-db", None, None),
        ];
        let pick = |inst, subnet| pick_eni(&list, inst, subnet).map(|e| e.id.as_str());
        assert_eq!(pick("i-1", "subnet-db"), Some("eni-dev2"));
        assert_eq!(pick("i-1", "subnet-nodes"), Some("eni-other-subnet"));
        assert_eq!(pick("i-2", "subnet-db"), Some("eni-other-node"));
        assert_eq!(pick("i-3", "subnet-db"), None);
        assert_eq!(pick("i-2", "subnet-nodes"), None);
    }

    #[test]
    fn holders_scan_every_address() {
        let ip: IpAddr = "10.0.1.100".parse().unwrap();
        let mut a = eni("eni-a", Some("i-1"), "s", Some("attached"), Some(0));
        a.addresses = vec![
            EniAddress {
                ip: "10.0.1.10".parse().unwrap(),
                primary: true,
            },
            EniAddress { ip, primary: false },
        ];
        let mut b = eni("eni-b", Some("i-2"), "s", Some("attached"), Some(0));
        b.addresses = vec![EniAddress {
            ip: "10.0.1.11".parse().unwrap(),
            primary: true,
        }];
        assert_eq!(
            holders(&[a.clone(), b.clone()], ip),
            vec![("eni-a".to_string(), false)]
        );
        assert_eq!(
            holders(&[a, b], "10.0.1.11".parse().unwrap()),
            vec![("eni-b".to_string(), true)]
        );
        assert!(holders(&[], ip).is_empty());
    }

    #[test]
    fn decision_table() {
        let t = "eni-target";
        let h = |v: &[(&str, bool)]| -> Vec<(String, bool)> {
            v.iter().map(|(e, p)| (e.to_string(), *p)).collect()
        };
        let table = [
            // Nowhere: a first assignment (created).
            (h(&[]), EnsureAction::Assign { from: None }),
            // Already a secondary on the target: nothing.
            (h(&[("eni-target", false)]), EnsureAction::Nothing),
            // The target's own primary: nothing to do, nothing refused.
            (h(&[("eni-target", true)]), EnsureAction::Nothing),
            // A secondary elsewhere: move (changed, not created).
            (
                h(&[("eni-old", false)]),
                EnsureAction::Assign {
                    from: Some("eni-old".into()),
                },
            ),
            // Another interface's primary: refuse, never move a primary.
            (
                h(&[("eni-old", true)]),
                EnsureAction::RefusePrimary {
                    eni_id: "eni-old".into(),
                },
            ),
            // Mid-remap (listed on two): already on the target wins.
            (
                h(&[("eni-old", false), ("eni-target", false)]),
                EnsureAction::Nothing,
            ),
        ];
        for (holders, want) in table {
            assert_eq!(decide(&holders, t), want, "{holders:?}");
        }
    }

    #[test]
    fn ipv4_only() {
        assert!(require_ipv4("10.0.0.1".parse().unwrap()).is_ok());
        let e = require_ipv4("2001:db8::1".parse().unwrap()).unwrap_err();
        assert_eq!(e.category(), "ipv6_unsupported");
    }

    #[test]
    fn outside_subnet_detection() {
        assert!(is_outside_subnet_message(
            "InvalidParameterValue",
            "Address 10.9.9.9 does not fall within the subnet's address range"
        ));
        assert!(is_outside_subnet_message(
            "InvalidParameterValue",
            "The address is not within the CIDR of subnet subnet-1"
        ));
        assert!(!is_outside_subnet_message(
            "InvalidParameterValue",
            "Invalid value 'x' for NetworkInterfaceId"
        ));
        assert!(!is_outside_subnet_message(
            "PrivateIpAddressLimitExceeded",
            "subnet range"
        ));
    }
}
