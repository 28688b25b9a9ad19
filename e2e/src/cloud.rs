//! The testbed's simulated OCI tenancy: the inventory handed to the simulator (one instance per
//! worker, its VNIC standing for the node's fabric port) and the controller's API signing key.

use std::{fs, path::Path};

use pgvip_cloudsim::inventory::{ApiUser, Instance, Inventory, Permissions, Subnet, Vnic};

use crate::{
    cmd::{run, run_input},
    error::{Context, Result},
    layout::Layout,
};

/// Access key id of the IAM user the controller authenticates as on the AWS flavour.
pub const AWS_ACCESS_KEY_ID: &str = "AKIAPGVIPTESTBED0001";
/// Its secret access key (the testbed's only; never a real credential).
pub const AWS_SECRET_ACCESS_KEY: &str = "pgvip/testbed/0000000000000000000000000000";

/// The first worker's instance profile: the role whose temporary credentials its IMDS serves
/// (`PGVIP_AWS_CREDENTIALS=instance-profile` points the controller there).
pub const AWS_NODE_ROLE: &str = "pgvip-node-role";

/// OCID of the API-key user the controller authenticates as.
pub const CONTROLLER_USER: &str = "ocid1.user.oc1..pgvipcontroller";

/// Fixed IMDS port on loopback of the `i`-th instance (0-based).
pub fn imds_port(i: usize) -> u16 {
    18500 + i as u16
}

/// Creates (once) the controller's RSA API key under `dir`; returns its OCI fingerprint.
pub fn ensure_api_key(dir: &Path) -> Result<String> {
    fs::create_dir_all(dir).ctx("creating oci dir")?;
    let key = dir.join("api-key.pem");
    let k = key.to_string_lossy().into_owned();
    if !key.exists() {
        run(
            "openssl",
            &[
                "genpkey",
                "-algorithm",
                "RSA",
                "-pkeyopt",
                "rsa_keygen_bits:2048",
                "-out",
                &k,
            ],
        )?;
    }
    let der = std::process::Command::new("openssl")
        .args(["pkey", "-in", &k, "-pubout", "-outform", "DER"])
        .output()
        .ctx("deriving the public key")?
        .stdout;
    // OCI's fingerprint: MD5 of the DER SubjectPublicKeyInfo, colon-separated lower-case hex.
    let md5 = run_input("openssl", &["dgst", "-md5", "-r"], Some(&der))?;
    let hex = md5
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_lowercase();
    let fp = hex
        .as_bytes()
        .chunks(2)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join(":");
    let pubpem = run("openssl", &["pkey", "-in", &k, "-pubout"])?;
    fs::write(dir.join("api-key.pub"), pubpem).ctx("writing public key")?;
    fs::write(dir.join("api-key.fingerprint"), &fp).ctx("writing fingerprint")?;
    Ok(fp)
}

/// The EC2 inventory of the testbed's AWS flavour: one instance and one ENI per worker (its
/// fabric port), the controller's IAM user and the first worker's instance role, each allowed
/// exactly the three actions pgvip needs.
pub fn aws_inventory(layout: &Layout) -> pgvip_cloudsim::aws::AwsInventory {
    use pgvip_cloudsim::aws::{AwsInventory, IamPrincipal, NetworkInterface};
    let mut inv = AwsInventory::new("111122223333", &layout.region).subnet(
        &layout.subnet_id,
        &layout.vcn_id,
        &layout.subnet_cidr,
        &layout.zone,
    );
    for n in &layout.nodes {
        inv = inv.instance(&n.instance_id, &n.name, &layout.zone).eni(
            NetworkInterface::attached(
                &n.vnic_id,
                &layout.subnet_id,
                &n.mac,
                &n.ip,
                &n.instance_id,
                0,
            )
            .port(&n.fabric_port),
        );
    }
    let actions = [
        "ec2:DescribeNetworkInterfaces",
        "ec2:AssignPrivateIpAddresses",
        "ec2:UnassignPrivateIpAddresses",
    ];
    // Temporary credentials, as IMDS serves them: an ASIA key and a session token.
    let role = IamPrincipal {
        session_token: Some("pgvip-testbed-node-role-session-token".into()),
        ..IamPrincipal::user(
            AWS_NODE_ROLE,
            "ASIAPGVIPTESTBED0002",
            "pgvip/testbed/node-role/0000000000000000000",
        )
    }
    .allowing(&actions);
    inv = inv
        .principal(role)
        .role(&layout.nodes[0].instance_id, AWS_NODE_ROLE);
    if let Some(first) = inv.instances.first_mut() {
        first.imds_port = Some(imds_port(0));
    }
    inv.principal(
        IamPrincipal::user("pgvip-controller", AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY)
            .allowing(&actions),
    )
}

/// The inventory of the testbed's tenancy (pure apart from reading the public key).
pub fn inventory(
    layout: &Layout,
    api_pub_pem: &str,
    fingerprint: &str,
    controller_can_update: bool,
) -> Inventory {
    let instances = layout
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| Instance {
            fault_domain: Some(format!("FAULT-DOMAIN-{}", i % 3 + 1)),
            shape: Some("VM.Standard.E4.Flex".into()),
            imds_port: Some(imds_port(i)),
            ..Instance::running(
                &n.instance_id,
                &n.name,
                "Uocm:PHX-AD-1",
                vec![Vnic {
                    fabric_port: Some(n.fabric_port.clone()),
                    ..Vnic::primary(&n.vnic_id, &n.mac, &layout.subnet_id, &n.ip, &n.name)
                }],
            )
        })
        .collect();
    Inventory {
        tenancy_id: layout.tenancy_id.clone(),
        compartment_id: layout.compartment_id.clone(),
        region: layout.region.clone(),
        subnets: vec![Subnet {
            id: layout.subnet_id.clone(),
            vcn_id: layout.vcn_id.clone(),
            cidr_block: layout.subnet_cidr.clone(),
            ipv6_cidr_block: Some(layout.subnet6_cidr.clone()),
            virtual_router_ip: "10.0.10.1".into(),
        }],
        instances,
        users: vec![ApiUser {
            user_id: CONTROLLER_USER.into(),
            fingerprint: fingerprint.into(),
            public_key_pem: api_pub_pem.into(),
            permissions: Permissions {
                read: true,
                update: controller_can_update,
            },
        }],
        workload_tokens: vec![],
        secondary_ips: vec![],
    }
}
