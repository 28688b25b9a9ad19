//! The AWS world at start, read from JSON (camelCase) or built with the chainable builder
//! methods: VPC subnets, instances, network interfaces (ENIs) with their fabric ports, IAM
//! principals, and the federated identities of [`super::federation`] (roles, OIDC providers,
//! the EKS cluster's Pod Identity associations).
//!
//! The testbed harness writes one `AwsInventory`; [`super::state::AwsState::from_inventory`]
//! validates it and turns it into the live control-plane state.

use serde::{Deserialize, Serialize};

use super::federation::{EksCluster, IamRole, OidcProvider};

/// GUESS: the default per-ENI secondary IPv4 limit, that of an m5.large (10 IPv4 addresses
/// per interface, the primary included).
pub const DEFAULT_SECONDARY_IP_LIMIT: usize = 9;

/// Everything the simulated account contains at start.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsInventory {
    /// 12-digit account id (owner of every resource).
    pub account_id: String,
    /// Region, e.g. `us-east-1` (the SigV4 scope the simulator accepts).
    pub region: String,
    /// VPC subnets.
    #[serde(default)]
    pub subnets: Vec<AwsSubnet>,
    /// Instances.
    #[serde(default)]
    pub instances: Vec<AwsInstance>,
    /// Network interfaces.
    #[serde(default)]
    pub network_interfaces: Vec<NetworkInterface>,
    /// IAM principals with access keys.
    #[serde(default)]
    pub principals: Vec<IamPrincipal>,
    /// IAM roles assumed through STS or EKS Pod Identity (temporary credentials only).
    #[serde(default)]
    pub roles: Vec<IamRole>,
    /// IAM OIDC identity providers (IRSA).
    #[serde(default)]
    pub oidc_providers: Vec<OidcProvider>,
    /// The EKS cluster served by the Pod Identity agent, if any.
    #[serde(default)]
    pub eks_cluster: Option<EksCluster>,
}

/// A VPC subnet (one availability zone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsSubnet {
    /// `subnet-…`.
    pub id: String,
    /// `vpc-…`.
    pub vpc_id: String,
    /// IPv4 CIDR, e.g. `10.0.10.0/24`.
    pub cidr_block: String,
    /// Availability zone, e.g. `us-east-1a`.
    pub availability_zone: String,
}

/// An EC2 instance (a Kubernetes node).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AwsInstance {
    /// `i-…`.
    pub id: String,
    /// The node name in the testbed (the `Name` tag).
    pub name: String,
    /// Availability zone.
    pub availability_zone: String,
    /// Name of the IAM principal whose (temporary) credentials the instance's IMDS serves
    /// as its role, if any.
    #[serde(default)]
    pub iam_role: Option<String>,
    /// Fixed port for the instance's IMDS listener (ephemeral when absent).
    #[serde(default)]
    pub imds_port: Option<u16>,
}

impl AwsInstance {
    /// The Kubernetes Node's `spec.providerID`: `aws:///<az>/<instance-id>`.
    pub fn provider_id(&self) -> String {
        format!("aws:///{}/{}", self.availability_zone, self.id)
    }
}

/// An elastic network interface.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NetworkInterface {
    /// `eni-…`.
    pub id: String,
    /// Subnet.
    pub subnet_id: String,
    /// MAC address, lower case.
    pub mac_address: String,
    /// Primary private IPv4 address.
    pub private_ip_address: String,
    /// Secondary private IPv4 addresses held at start.
    #[serde(default)]
    pub secondary_private_ip_addresses: Vec<String>,
    /// Attachment to an instance; absent = `available`.
    #[serde(default)]
    pub attachment: Option<EniAttachment>,
    /// The veth port on the fabric bridge that is this interface.
    #[serde(default)]
    pub fabric_port: Option<String>,
    /// Most secondary IPv4 addresses this interface may hold (an instance-type limit).
    #[serde(default = "default_limit")]
    pub secondary_ip_limit: usize,
    /// Description.
    #[serde(default)]
    pub description: String,
}

fn default_limit() -> usize {
    DEFAULT_SECONDARY_IP_LIMIT
}

fn attached() -> String {
    "attached".into()
}

/// An ENI's attachment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EniAttachment {
    /// Instance.
    pub instance_id: String,
    /// Device index (0 = the instance's primary interface).
    #[serde(default)]
    pub device_index: u32,
    /// `eni-attach-…`; derived from the ENI id when absent.
    #[serde(default)]
    pub attachment_id: Option<String>,
    /// `attaching`, `attached`, `detaching`, `detached`.
    #[serde(default = "attached")]
    pub status: String,
}

/// An IAM principal: an access key (long-term, or temporary with a session token) and the
/// EC2 actions its policies allow.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IamPrincipal {
    /// User or role name (call log, error messages, IMDS role name).
    pub name: String,
    /// `AKIA…` / `ASIA…`.
    pub access_key_id: String,
    /// Secret access key.
    pub secret_access_key: String,
    /// Session token; when set, requests must carry it in `X-Amz-Security-Token`.
    #[serde(default)]
    pub session_token: Option<String>,
    /// Allowed actions: `ec2:DescribeNetworkInterfaces`, `ec2:*`, `ec2:Describe*`, `*`.
    #[serde(default)]
    pub allowed_actions: Vec<String>,
}

impl IamPrincipal {
    /// A principal with long-term keys allowed the three actions pgvip uses.
    pub fn user(name: &str, access_key_id: &str, secret: &str) -> Self {
        IamPrincipal {
            name: name.into(),
            access_key_id: access_key_id.into(),
            secret_access_key: secret.into(),
            session_token: None,
            allowed_actions: PGVIP_ACTIONS.iter().map(|a| a.to_string()).collect(),
        }
    }
    /// Adds a session token (temporary credentials, e.g. an instance role).
    pub fn with_token(mut self, token: &str) -> Self {
        self.session_token = Some(token.into());
        self
    }
    /// Replaces the allowed actions.
    pub fn allowing(mut self, actions: &[&str]) -> Self {
        self.allowed_actions = actions.iter().map(|a| a.to_string()).collect();
        self
    }
    /// The ARN in error messages: an assumed role with a session token, else a user.
    pub fn arn(&self, account_id: &str) -> String {
        match self.session_token {
            Some(_) => format!(
                "arn:aws:sts::{account_id}:assumed-role/{}/cloudsim",
                self.name
            ),
            None => format!("arn:aws:iam::{account_id}:user/{}", self.name),
        }
    }
}

/// The actions pgvip's AWS provider calls.
pub const PGVIP_ACTIONS: [&str; 3] = [
    "ec2:DescribeNetworkInterfaces",
    "ec2:AssignPrivateIpAddresses",
    "ec2:UnassignPrivateIpAddresses",
];

impl NetworkInterface {
    /// An interface attached to `instance_id` at `device_index`, no secondary addresses,
    /// no fabric port, the default limit.
    pub fn attached(
        id: &str,
        subnet_id: &str,
        mac: &str,
        private_ip: &str,
        instance_id: &str,
        device_index: u32,
    ) -> Self {
        NetworkInterface {
            id: id.into(),
            subnet_id: subnet_id.into(),
            mac_address: mac.into(),
            private_ip_address: private_ip.into(),
            secondary_private_ip_addresses: vec![],
            attachment: Some(EniAttachment {
                instance_id: instance_id.into(),
                device_index,
                attachment_id: None,
                status: attached(),
            }),
            fabric_port: None,
            secondary_ip_limit: DEFAULT_SECONDARY_IP_LIMIT,
            description: String::new(),
        }
    }
    /// Sets the fabric port.
    pub fn port(mut self, port: &str) -> Self {
        self.fabric_port = Some(port.into());
        self
    }
}

impl AwsInventory {
    /// An empty account in `region`.
    pub fn new(account_id: &str, region: &str) -> Self {
        AwsInventory {
            account_id: account_id.into(),
            region: region.into(),
            subnets: vec![],
            instances: vec![],
            network_interfaces: vec![],
            principals: vec![],
            roles: vec![],
            oidc_providers: vec![],
            eks_cluster: None,
        }
    }
    /// Adds a subnet.
    pub fn subnet(mut self, id: &str, vpc_id: &str, cidr: &str, az: &str) -> Self {
        self.subnets.push(AwsSubnet {
            id: id.into(),
            vpc_id: vpc_id.into(),
            cidr_block: cidr.into(),
            availability_zone: az.into(),
        });
        self
    }
    /// Adds an instance (no role, ephemeral IMDS port).
    pub fn instance(mut self, id: &str, name: &str, az: &str) -> Self {
        self.instances.push(AwsInstance {
            id: id.into(),
            name: name.into(),
            availability_zone: az.into(),
            iam_role: None,
            imds_port: None,
        });
        self
    }
    /// Adds a network interface.
    pub fn eni(mut self, eni: NetworkInterface) -> Self {
        self.network_interfaces.push(eni);
        self
    }
    /// Gives an existing interface a secondary address at start (no-op for unknown ids).
    pub fn secondary(mut self, eni_id: &str, ip: &str) -> Self {
        if let Some(e) = self.network_interfaces.iter_mut().find(|e| e.id == eni_id) {
            e.secondary_private_ip_addresses.push(ip.into());
        }
        self
    }
    /// Adds a principal.
    pub fn principal(mut self, p: IamPrincipal) -> Self {
        self.principals.push(p);
        self
    }
    /// Adds a role for STS or EKS Pod Identity.
    pub fn iam_role(mut self, role: IamRole) -> Self {
        self.roles.push(role);
        self
    }
    /// Adds an IAM OIDC identity provider.
    pub fn oidc_provider(mut self, p: OidcProvider) -> Self {
        self.oidc_providers.push(p);
        self
    }
    /// Sets the EKS cluster of the Pod Identity agent.
    pub fn eks_cluster(mut self, c: EksCluster) -> Self {
        self.eks_cluster = Some(c);
        self
    }
    /// Gives an instance an IAM role (a principal's name) for its IMDS credentials.
    pub fn role(mut self, instance_id: &str, principal: &str) -> Self {
        if let Some(i) = self.instances.iter_mut().find(|i| i.id == instance_id) {
            i.iam_role = Some(principal.into());
        }
        self
    }

    /// The AWS twin of [`crate::Inventory::example`]: subnet `10.0.10.0/24` (us-east-1a)
    /// with nodes `n1`, `n2` (fabric ports `pa`, `pb`), subnet `10.0.20.0/24` (us-east-1b)
    /// with `n3` (`pc`), and the VIP `10.0.10.200` on `n1`'s ENI. No principals.
    pub fn example() -> Self {
        let (a, b) = (EXAMPLE_SUBNET_A, EXAMPLE_SUBNET_B);
        let mut inv = AwsInventory::new("123456789012", "us-east-1")
            .subnet(a, "vpc-0e2e0000000000001", "10.0.10.0/24", "us-east-1a")
            .subnet(b, "vpc-0e2e0000000000001", "10.0.20.0/24", "us-east-1b");
        for (n, subnet, az, ip, port) in [
            (1, a, "us-east-1a", "10.0.10.11", "pa"),
            (2, a, "us-east-1a", "10.0.10.12", "pb"),
            (3, b, "us-east-1b", "10.0.20.13", "pc"),
        ] {
            let instance = example_instance(n);
            inv = inv.instance(&instance, &format!("n{n}"), az).eni(
                NetworkInterface::attached(
                    &example_eni(n),
                    subnet,
                    &format!("02:00:17:00:00:0{n}"),
                    ip,
                    &instance,
                    0,
                )
                .port(port),
            );
        }
        inv.secondary(&example_eni(1), "10.0.10.200")
    }
}

/// Subnet A of [`AwsInventory::example`].
pub const EXAMPLE_SUBNET_A: &str = "subnet-0e2e000000000000a";
/// Subnet B of [`AwsInventory::example`].
pub const EXAMPLE_SUBNET_B: &str = "subnet-0e2e000000000000b";

/// The ENI id of node `n` in [`AwsInventory::example`].
pub fn example_eni(n: u8) -> String {
    format!("eni-0e2e00000000000{n:02}")
}

/// The instance id of node `n` in [`AwsInventory::example`].
pub fn example_instance(n: u8) -> String {
    format!("i-0e2e00000000000{n:02}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn example_round_trips_and_names_the_provider_id() {
        let inv = AwsInventory::example();
        let json = serde_json::to_string(&inv).unwrap();
        let back: AwsInventory = serde_json::from_str(&json).unwrap();
        assert_eq!(back, inv);
        assert_eq!(
            inv.instances[0].provider_id(),
            "aws:///us-east-1a/i-0e2e0000000000001"
        );
        assert_eq!(
            inv.network_interfaces[0].secondary_private_ip_addresses,
            ["10.0.10.200"]
        );
        let minimal: NetworkInterface = serde_json::from_str(
            r#"{"id":"eni-1","subnetId":"s","macAddress":"m","privateIpAddress":"10.0.0.5"}"#,
        )
        .unwrap();
        assert_eq!(minimal.secondary_ip_limit, DEFAULT_SECONDARY_IP_LIMIT);
        assert!(minimal.attachment.is_none());
    }
}
