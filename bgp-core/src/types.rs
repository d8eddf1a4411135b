//! Small identity types shared by every layer: address families and the set of
//! families a session negotiated something for.
//!
//! AFI values are from the IANA "Address Family Numbers" registry, SAFI values from
//! "Subsequent Address Family Identifiers" (RFC 4760 §3, §4).

use std::fmt;

/// Address Family Identifier (RFC 4760). Unknown values are kept as they are.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Afi(pub u16);

impl Afi {
    pub const IPV4: Afi = Afi(1);
    pub const IPV6: Afi = Afi(2);
}

/// Subsequent Address Family Identifier (RFC 4760). Unknown values are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Safi(pub u8);

impl Safi {
    pub const UNICAST: Safi = Safi(1);
    pub const MULTICAST: Safi = Safi(2);
}

/// An (AFI, SAFI) pair: what a capability, an MP_REACH_NLRI or a ROUTE-REFRESH is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Family {
    pub afi: Afi,
    pub safi: Safi,
}

impl Family {
    pub const IPV4_UNICAST: Family = Family::new(Afi::IPV4, Safi::UNICAST);
    pub const IPV6_UNICAST: Family = Family::new(Afi::IPV6, Safi::UNICAST);
    pub const IPV4_MULTICAST: Family = Family::new(Afi::IPV4, Safi::MULTICAST);
    pub const IPV6_MULTICAST: Family = Family::new(Afi::IPV6, Safi::MULTICAST);

    pub const fn new(afi: Afi, safi: Safi) -> Family {
        Family { afi, safi }
    }

    /// Whether this codec decodes the family's NLRI into prefixes (RFC 4271 §4.3
    /// prefix encoding). Other families' MP attributes are kept as raw bytes.
    pub fn has_prefix_nlri(self) -> bool {
        matches!(self.afi, Afi::IPV4 | Afi::IPV6) && matches!(self.safi, Safi::UNICAST | Safi::MULTICAST)
    }

    /// Bit of this family in a [`FamilySet`], for the families that have one.
    fn bit(self) -> Option<u8> {
        match (self.afi, self.safi) {
            (Afi::IPV4, Safi::UNICAST) => Some(1),
            (Afi::IPV6, Safi::UNICAST) => Some(2),
            (Afi::IPV4, Safi::MULTICAST) => Some(4),
            (Afi::IPV6, Safi::MULTICAST) => Some(8),
            _ => None,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.afi, self.safi) {
            (Afi::IPV4, Safi::UNICAST) => f.write_str("ipv4-unicast"),
            (Afi::IPV6, Safi::UNICAST) => f.write_str("ipv6-unicast"),
            (Afi::IPV4, Safi::MULTICAST) => f.write_str("ipv4-multicast"),
            (Afi::IPV6, Safi::MULTICAST) => f.write_str("ipv6-multicast"),
            (afi, safi) => write!(f, "afi {}/safi {}", afi.0, safi.0),
        }
    }
}

impl std::str::FromStr for Family {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ipv4-unicast" => Ok(Family::IPV4_UNICAST),
            "ipv6-unicast" => Ok(Family::IPV6_UNICAST),
            "ipv4-multicast" => Ok(Family::IPV4_MULTICAST),
            "ipv6-multicast" => Ok(Family::IPV6_MULTICAST),
            _ => Err(format!(
                "unknown family {s:?} (expected ipv4-unicast, ipv6-unicast, ipv4-multicast or ipv6-multicast)"
            )),
        }
    }
}

/// A set of the prefix families (IPv4/IPv6 unicast/multicast), one bit each: what a
/// session negotiated ADD-PATH for, in one direction. `Copy`, so a codec context stays
/// cheap to pass around.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FamilySet(u8);

impl FamilySet {
    pub const EMPTY: FamilySet = FamilySet(0);

    /// Adds `family`; returns false for a family a set cannot hold.
    pub fn insert(&mut self, family: Family) -> bool {
        match family.bit() {
            Some(bit) => {
                self.0 |= bit;
                true
            }
            None => false,
        }
    }

    pub fn contains(self, family: Family) -> bool {
        family.bit().is_some_and(|bit| self.0 & bit != 0)
    }

    /// The set from its bit pattern; bits beyond the known families are ignored
    /// (used by the fuzz targets to build arbitrary contexts).
    pub fn from_bits(bits: u8) -> FamilySet {
        FamilySet(bits & 0x0f)
    }
}

impl FromIterator<Family> for FamilySet {
    fn from_iter<I: IntoIterator<Item = Family>>(iter: I) -> Self {
        let mut set = FamilySet::EMPTY;
        for family in iter {
            set.insert(family);
        }
        set
    }
}

/// AS_TRANS, the 2-octet stand-in for a 4-octet AS number (RFC 6793 §9).
pub const AS_TRANS: u16 = 23456;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_set_holds_only_prefix_families() {
        let mut set = FamilySet::EMPTY;
        assert!(set.insert(Family::IPV6_UNICAST));
        assert!(!set.insert(Family::new(Afi(25), Safi(70))));
        assert!(set.contains(Family::IPV6_UNICAST));
        assert!(!set.contains(Family::IPV4_UNICAST));
        assert!(!set.contains(Family::new(Afi(25), Safi(70))));
    }

    #[test]
    fn family_names_round_trip() {
        for f in [Family::IPV4_UNICAST, Family::IPV6_UNICAST, Family::IPV4_MULTICAST, Family::IPV6_MULTICAST] {
            assert_eq!(f.to_string().parse::<Family>(), Ok(f));
        }
        assert!("ipv5-unicast".parse::<Family>().is_err());
    }
}
