//! CIDR blocks: parsing, membership, and each cloud's address reservation rules (pure;
//! shared by the fronts).

use std::net::IpAddr;

/// An IPv4 or IPv6 network.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    /// Network address.
    pub addr: IpAddr,
    /// Prefix length.
    pub prefix: u8,
}

impl Cidr {
    /// Parses `a.b.c.d/n` or `x::/n`.
    pub fn parse(s: &str) -> Option<Cidr> {
        let (a, p) = s.split_once('/')?;
        let addr: IpAddr = a.parse().ok()?;
        let prefix: u8 = p.parse().ok()?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    fn bits(&self) -> u32 {
        if self.addr.is_ipv4() {
            32
        } else {
            128
        }
    }

    fn mask(&self) -> u128 {
        let host_bits = self.bits() - u32::from(self.prefix);
        let all = if self.bits() == 32 {
            u128::from(u32::MAX)
        } else {
            u128::MAX
        };
        if host_bits >= 128 {
            0
        } else {
            all & !((1u128 << host_bits) - 1)
        }
    }

    fn base(&self) -> u128 {
        to_u128(self.addr) & self.mask()
    }

    /// Whether `ip` (same family) lies in the block.
    pub fn contains(&self, ip: IpAddr) -> bool {
        ip.is_ipv4() == self.addr.is_ipv4() && (to_u128(ip) & self.mask()) == self.base()
    }

    /// Whether OCI reserves `ip` in this subnet: the network address, the virtual router
    /// (first host), and for IPv4 the broadcast address. GUESS for IPv6: the first two
    /// addresses are reserved and the last is usable.
    pub fn is_reserved(&self, ip: IpAddr) -> bool {
        let v = to_u128(ip);
        let base = self.base();
        let last = base
            | (!self.mask()
                & if self.bits() == 32 {
                    u128::from(u32::MAX)
                } else {
                    u128::MAX
                });
        v == base || v == base + 1 || (self.addr.is_ipv4() && v == last)
    }

    /// Whether AWS reserves `ip` in this (IPv4) subnet: AWS documents that the first four
    /// addresses (network, VPC router, DNS, future use) and the last (broadcast) of each
    /// subnet CIDR block are not available.
    pub fn is_aws_reserved(&self, ip: IpAddr) -> bool {
        let v = to_u128(ip);
        let base = self.base();
        let last = base | (!self.mask() & u128::from(u32::MAX));
        self.addr.is_ipv4() && self.contains(ip) && (v < base + 4 || v == last)
    }

    /// The lowest address of the block that `reserved` and `taken` both leave free.
    pub fn first_free_by(
        &self,
        reserved: &dyn Fn(IpAddr) -> bool,
        taken: &dyn Fn(IpAddr) -> bool,
    ) -> Option<IpAddr> {
        let base = self.base();
        (0u128..65_536)
            .map(|off| from_u128(base + off, self.addr.is_ipv4()))
            .take_while(|ip| self.contains(*ip))
            .find(|ip| !reserved(*ip) && !taken(*ip))
    }

    /// The lowest usable address not in `taken` (tries at most 65536 candidates).
    pub fn first_free(&self, taken: &dyn Fn(IpAddr) -> bool) -> Option<IpAddr> {
        let base = self.base();
        (2u128..65_538)
            .map(|off| from_u128(base + off, self.addr.is_ipv4()))
            .take_while(|ip| self.contains(*ip))
            .find(|ip| !self.is_reserved(*ip) && !taken(*ip))
    }
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    }
}

fn from_u128(v: u128, v4: bool) -> IpAddr {
    if v4 {
        IpAddr::V4(std::net::Ipv4Addr::from(v as u32))
    } else {
        IpAddr::V6(std::net::Ipv6Addr::from(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn membership_and_reservation() {
        let c = Cidr::parse("10.0.10.0/24").unwrap();
        let table = [
            ("10.0.10.0", true, true),
            ("10.0.10.1", true, true),
            ("10.0.10.2", true, false),
            ("10.0.10.254", true, false),
            ("10.0.10.255", true, true),
            ("10.0.11.1", false, false),
        ];
        for (ip, inside, reserved) in table {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(c.contains(ip), inside, "{ip}");
            if inside {
                assert_eq!(c.is_reserved(ip), reserved, "{ip}");
            }
        }
        assert!(!c.contains("fd00::1".parse().unwrap()));
    }

    #[test]
    fn aws_reservation_table() {
        let c = Cidr::parse("10.0.10.0/24").unwrap();
        let table = [
            ("10.0.10.0", true),
            ("10.0.10.1", true),
            ("10.0.10.2", true),
            ("10.0.10.3", true),
            ("10.0.10.4", false),
            ("10.0.10.254", false),
            ("10.0.10.255", true),
            ("10.0.11.5", false),
        ];
        for (ip, reserved) in table {
            assert_eq!(c.is_aws_reserved(ip.parse().unwrap()), reserved, "{ip}");
        }
        let free = c.first_free_by(&|ip| c.is_aws_reserved(ip), &|_| false);
        assert_eq!(free, Some("10.0.10.4".parse().unwrap()));
        let tiny = Cidr::parse("10.0.0.0/29").unwrap();
        let all = |_: IpAddr| true;
        assert_eq!(
            tiny.first_free_by(&|ip| tiny.is_aws_reserved(ip), &all),
            None
        );
    }

    #[test]
    fn allocation_skips_reserved_and_taken() {
        let c = Cidr::parse("10.0.10.0/30").unwrap();
        assert_eq!(c.first_free(&|_| false), Some("10.0.10.2".parse().unwrap()));
        assert_eq!(
            c.first_free(&|ip| ip == "10.0.10.2".parse::<IpAddr>().unwrap()),
            None
        );
        let v6 = Cidr::parse("fd00:10::/64").unwrap();
        assert_eq!(
            v6.first_free(&|_| false),
            Some("fd00:10::2".parse().unwrap())
        );
        assert!(Cidr::parse("10.0.0.0/33").is_none());
        assert!(Cidr::parse("nope").is_none());
    }
}
