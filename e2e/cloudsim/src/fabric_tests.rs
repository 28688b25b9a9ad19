//! Table tests of the ruleset text.

use super::*;

fn a(ip: &str, vnic: Option<&str>, port: Option<&str>, mac: Option<&str>) -> Assignment {
    Assignment {
        ip: ip.parse().unwrap(),
        vnic_id: vnic.map(String::from),
        port: port.map(String::from),
        mac: mac.map(String::from),
    }
}

/// (assignments, mode, lines that must appear, substrings that must not)
type Case = (
    Vec<Assignment>,
    FabricMode,
    Vec<&'static str>,
    Vec<&'static str>,
);

#[test]
fn ruleset_table() {
    let held = a(
        "10.0.10.200",
        Some("v1"),
        Some("pa"),
        Some("02:00:17:00:00:01"),
    );
    let nobody = a("10.0.10.201", None, None, None);
    let portless = a("10.0.10.202", Some("v9"), None, Some("02:00:17:00:00:09"));
    let v6 = a(
        "fd00:10::200",
        Some("v2"),
        Some("pb"),
        Some("02:00:17:00:00:02"),
    );
    // (assignments, mode, lines that must appear, lines that must not)
    let table: Vec<Case> = vec![
        (
            vec![held.clone()],
            FabricMode::MacSticky,
            vec![
                "arp saddr ip 10.0.10.200 iifname != \"pa\" drop",
                "ip saddr 10.0.10.200 iifname != \"pa\" drop",
                "ip daddr 10.0.10.200 oifname != \"pa\" drop",
            ],
            vec!["ether daddr set", "chain prerouting"],
        ),
        (
            vec![held.clone()],
            FabricMode::AssignmentRouted,
            vec!["chain prerouting {", "ip daddr 10.0.10.200 ether daddr set 02:00:17:00:00:01", "ip daddr 10.0.10.200 oifname != \"pa\" drop"],
            vec![],
        ),
        (
            vec![nobody, portless],
            FabricMode::AssignmentRouted,
            vec!["arp saddr ip 10.0.10.201 drop", "ip daddr 10.0.10.201 drop", "ip daddr 10.0.10.202 drop", "arp saddr ip 10.0.10.202 drop"],
            vec!["ether daddr set"],
        ),
        (
            vec![v6],
            FabricMode::MacSticky,
            vec![
                "icmpv6 type nd-neighbor-advert @th,64,128 0xfd000010000000000000000000000200 iifname != \"pb\" drop",
                "ip6 daddr fd00:10::200 oifname != \"pb\" drop",
                "ip6 saddr fd00:10::200 iifname != \"pb\" drop",
            ],
            vec!["arp saddr"],
        ),
        (vec![], FabricMode::MacSticky, vec!["chain forward {"], vec!["drop"]),
    ];
    for (assignments, mode, must, must_not) in table {
        let text = ruleset("br0", mode, &assignments);
        assert!(text.starts_with("table bridge cloudsim_fabric\ndelete table bridge cloudsim_fabric\n# fabric of bridge br0"), "{text}");
        for line in must {
            assert!(
                text.lines().any(|l| l.trim() == line),
                "missing {line:?} in\n{text}"
            );
        }
        for s in must_not {
            assert!(!text.contains(s), "unexpected {s:?} in\n{text}");
        }
    }
}
