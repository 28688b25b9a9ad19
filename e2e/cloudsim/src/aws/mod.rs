//! The AWS front: a faithful simulator of the parts of Amazon EC2 pgvip's AWS provider
//! uses, over the same fabric as the OCI front ("one simulator, a front per cloud, one
//! fabric").
//!
//! Data flow: an [`AwsInventory`] (JSON or builder) seeds the pure [`state::AwsState`]
//! (subnets, instances, ENIs, secondary addresses). The EC2 Query API listener
//! ([`server`], HTTPS with the simulator's CA) decodes form parameters ([`query`]),
//! applies fault injection ([`faults`]), verifies SigV4 ([`sigv4`], written from AWS's
//! specification) against the IAM principals ([`iam`]), authorizes the action, runs it on
//! the state, answers EC2's XML ([`xml`], errors in [`error`]) and logs the call. Every
//! change of the interface an address is visible on is published, as the same
//! [`crate::fabric::Assignment`]s the OCI front produces, to the fabric; a reassignment
//! becomes visible (Describe, IMDS, fabric) only after the remap delay, as AWS documents
//! remapping to be asynchronous. [`imds`] serves IMDSv2 per instance; [`sts`]
//! (`AssumeRoleWithWebIdentity`, IRSA) and [`pod_identity`] (the EKS Pod Identity agent) verify
//! service-account tokens ([`oidc`]) against the inventory's [`federation`] and issue
//! temporary credentials ([`sessions`]) that the EC2 front accepts; [`admin`] lets another
//! process drive faults and read state. [`AwsSim::start`] wires it all.
//!
//! Where AWS's behaviour is not documented the code says `GUESS:` next to what it does.
//!
//! # moto and AWS's documentation
//!
//! `tests/aws_moto.rs` runs the calls pgvip makes against moto (an independent EC2
//! implementation) and this front. Where they differ, the simulator follows AWS's
//! documentation; the test asserts the agreed parts and these differences:
//!
//! | case | AWS documentation (simulator) | moto 5.1.18 |
//! |---|---|---|
//! | filter `addresses.private-ip-address` on a secondary address | matches (any private IPv4 of the interface) | matches the primary address only |
//! | Assign of an address held by another ENI, no `AllowReassignment` | refused: `InvalidIPAddress.InUse` (400) | 200; both ENIs list the address |
//! | same with `AllowReassignment=true` | 200; the address moves (after the remap delay) | 200; both ENIs list it |
//! | Assign of an address outside the ENI's subnet | `InvalidParameterValue` (400) | 200 |
//! | `DryRun=true` on Assign | `UnknownParameter` (400), nothing changes: AWS documents no `DryRun` for Assign/Unassign | ignored: the call runs (200) |
//! | Unassign of an address the ENI does not hold | `InvalidParameterValue` (400) | 200 |
//! | unknown `Action` | `InvalidAction` (400) | 500 (HTML) |
//! | `assignedPrivateIpAddressesSet` of Assign | the addresses of this call | every address of the ENI, primary included |
//! | response namespace | `http://ec2.amazonaws.com/doc/2016-11-15/` | same without the trailing `/` |
//! | SigV4 | verified | not verified |
//!
//! Agreed (asserted): Describe by `attachment.instance-id`, `subnet-id`,
//! `network-interface-id`, `NetworkInterfaceId.N`, `MaxResults` (fields `networkInterfaceId`,
//! `subnetId`, `vpcId`, `availabilityZone`, `macAddress`, `privateIpAddress`, `status`,
//! `attachment{attachmentId,instanceId,deviceIndex,status}`, `privateIpAddressesSet`),
//! Assign and its repeat, Unassign, Describe `DryRun` (412), unknown ENI on Describe and
//! Assign (`InvalidNetworkInterfaceID.NotFound`, 400).

pub mod admin;
pub mod ctx;
pub mod error;
pub mod faults;
pub mod federation;
pub mod iam;
pub mod imds;
pub mod inventory;
pub mod oidc;
pub mod pod_identity;
pub mod query;
pub mod server;
pub mod sessions;
pub mod sigv4;
mod sim;
pub mod state;
pub mod sts;
pub mod xml;

pub use ctx::{AwsCallLog, AwsCallRecord};
pub use error::Ec2Error;
pub use faults::{Action, AwsFailure, AwsFaultCommand, AwsFaults};
pub use federation::{EksCluster, IamRole, OidcProvider, PodIdentityAssociation};
pub use inventory::{AwsInventory, IamPrincipal, NetworkInterface};
pub use sim::{AwsSim, AwsSimConfig, AwsSimHandle, AwsSimUrls, DEFAULT_REMAP_DELAY};
