//! The names iproute2 gives kernel routing tables and route protocols
//! (`/etc/iproute2/rt_tables`, `/etc/iproute2/rt_protos`), so `[kernel]` can say
//! `table = "main"` or `protocol = ["bird"]` and `bgpctl` can print `proto bird`.
//!
//! [`parse_rt_names`] reads one file's text; [`RtNames::builtin`] holds the names
//! that exist with no file at all; [`RtNames::system`] adds what the files of this
//! host say, as `ip route` reads them (the only part that touches the file system).

use std::path::Path;

/// Where iproute2 keeps the files an administrator edits.
pub const ETC_DIR: &str = "/etc/iproute2";
/// Where newer iproute2 ships its defaults, read when the file in [`ETC_DIR`] is absent.
pub const USR_DIR: &str = "/usr/share/iproute2";

/// Table names that hold with no file (`linux/rtnetlink.h`).
const TABLES: [(u32, &str); 4] = [(0, "unspec"), (253, "default"), (254, "main"), (255, "local")];

/// Protocol names that hold with no file (`linux/rtnetlink.h` and iproute2's
/// `rt_protos`).
const PROTOCOLS: [(u32, &str); 22] = [
    (0, "unspec"),
    (1, "redirect"),
    (2, "kernel"),
    (3, "boot"),
    (4, "static"),
    (8, "gated"),
    (9, "ra"),
    (10, "mrt"),
    (11, "zebra"),
    (12, "bird"),
    (13, "dnrouted"),
    (14, "xorp"),
    (15, "ntk"),
    (16, "dhcp"),
    (18, "keepalived"),
    (42, "babel"),
    (99, "openr"),
    (186, "bgp"),
    (187, "isis"),
    (188, "ospf"),
    (189, "rip"),
    (192, "eigrp"),
];

/// The entries of an iproute2 names file: one `NUMBER NAME` a line (the number
/// decimal or `0x` hex), `#` starts a comment, blank lines and lines that are not
/// an entry are skipped. In file order.
pub fn parse_rt_names(text: &str) -> Vec<(u32, String)> {
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next().unwrap_or("");
            let mut words = line.split_whitespace();
            let (number, name) = (words.next()?, words.next()?);
            let number = match number.strip_prefix("0x").or_else(|| number.strip_prefix("0X")) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => number.parse().ok()?,
            };
            Some((number, name.to_string()))
        })
        .collect()
}

/// Table and protocol names, both ways. Later entries win: a file's name for a
/// number replaces the built-in one for display, while the built-in names keep
/// working in the configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RtNames {
    /// `(number, name)` in the order read: the built-ins, then the files.
    pub tables: Vec<(u32, String)>,
    /// As `tables`; numbers above 255 are never used.
    pub protocols: Vec<(u32, String)>,
}

impl Default for RtNames {
    fn default() -> RtNames {
        RtNames::builtin()
    }
}

impl RtNames {
    /// The names that hold with no file.
    pub fn builtin() -> RtNames {
        let own = |list: &[(u32, &str)]| list.iter().map(|&(n, s)| (n, s.to_string())).collect();
        RtNames { tables: own(&TABLES), protocols: own(&PROTOCOLS) }
    }

    /// The built-ins and this host's files, as iproute2 reads them: `rt_tables`
    /// from [`ETC_DIR`] (or [`USR_DIR`] when that one is absent), then
    /// `rt_tables.d/*.conf` of both (likewise `rt_protos`). Missing or unreadable
    /// files are skipped.
    pub fn system() -> RtNames {
        RtNames::from_dirs(Path::new(ETC_DIR), Path::new(USR_DIR))
    }

    /// [`RtNames::system`] with other directories.
    pub fn from_dirs(etc: &Path, usr: &Path) -> RtNames {
        let mut out = RtNames::builtin();
        out.tables.extend(read_names(etc, usr, "rt_tables"));
        out.protocols.extend(read_names(etc, usr, "rt_protos"));
        out
    }

    /// The table called `name` (a built-in or a file's name).
    pub fn table_number(&self, name: &str) -> Option<u32> {
        lookup_number(&self.tables, name)
    }

    /// The name of table `number`, if it has one.
    pub fn table_name(&self, number: u32) -> Option<&str> {
        lookup_name(&self.tables, number)
    }

    /// The protocol called `name`.
    pub fn protocol_number(&self, name: &str) -> Option<u8> {
        let protocols = self.protocols.iter().filter(|(n, _)| *n <= 255);
        protocols.rev().find(|(_, s)| s == name).map(|&(n, _)| n as u8)
    }

    /// The name of protocol `number`, if it has one.
    pub fn protocol_name(&self, number: u8) -> Option<&str> {
        lookup_name(&self.protocols, u32::from(number))
    }

    /// Every table name, for "did you mean" hints.
    pub(crate) fn table_names(&self) -> Vec<String> {
        self.tables.iter().map(|(_, s)| s.clone()).collect()
    }

    /// Every protocol name, for "did you mean" hints.
    pub(crate) fn protocol_names(&self) -> Vec<String> {
        self.protocols.iter().filter(|(n, _)| *n <= 255).map(|(_, s)| s.clone()).collect()
    }
}

fn lookup_number(list: &[(u32, String)], name: &str) -> Option<u32> {
    list.iter().rev().find(|(_, s)| s == name).map(|&(n, _)| n)
}

fn lookup_name(list: &[(u32, String)], number: u32) -> Option<&str> {
    list.iter().rev().find(|(n, _)| *n == number).map(|(_, s)| s.as_str())
}

/// The entries of file `name` (from `etc`, else from `usr`), then of the `*.conf`
/// files of `name.d` in `usr` and then in `etc`, each directory in name order.
fn read_names(etc: &Path, usr: &Path, name: &str) -> Vec<(u32, String)> {
    let read = |path: &Path| std::fs::read_to_string(path).ok();
    let mut texts: Vec<String> = read(&etc.join(name)).or_else(|| read(&usr.join(name))).into_iter().collect();
    for dir in [usr, etc] {
        let Ok(entries) = std::fs::read_dir(dir.join(format!("{name}.d"))) else { continue };
        let mut files: Vec<_> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "conf"))
            .collect();
        files.sort();
        texts.extend(files.iter().filter_map(|p| read(p)));
    }
    texts.iter().flat_map(|t| parse_rt_names(t)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_iproute2_files() {
        let text = "\
#
# reserved values
#
255\tlocal
254\tmain   # the main table
0x10  pods
0X1f  other
  100 calico

# not entries:
abc def
300
-1 negative
0xzz bad
";
        let parsed = parse_rt_names(text);
        let names: Vec<(u32, &str)> = parsed.iter().map(|(n, s)| (*n, s.as_str())).collect();
        assert_eq!(names, [(255, "local"), (254, "main"), (16, "pods"), (31, "other"), (100, "calico")]);
        assert!(parse_rt_names("").is_empty());
    }

    #[test]
    fn builtins_both_ways() {
        let n = RtNames::builtin();
        assert_eq!(
            (n.table_number("main"), n.table_number("local"), n.table_number("default")),
            (Some(254), Some(255), Some(253))
        );
        assert_eq!(n.table_number("unspec"), Some(0));
        assert_eq!(n.table_name(254), Some("main"));
        assert_eq!(n.table_name(100), None);
        assert_eq!(n.protocol_number("bird"), Some(12));
        assert_eq!(n.protocol_number("bgp"), Some(186));
        assert_eq!(n.protocol_number("keepalived"), Some(18));
        assert_eq!(n.protocol_number("eigrp"), Some(192));
        assert_eq!(n.protocol_number("calico"), None);
        assert_eq!(n.protocol_name(2), Some("kernel"));
        assert_eq!(n.protocol_name(42), Some("babel"));
        assert_eq!(n.protocol_name(200), None);
        assert_eq!(RtNames::default(), n);
    }

    #[test]
    fn files_add_and_rename() {
        let mut n = RtNames::builtin();
        n.tables.extend(parse_rt_names("100 pods\n254 mymain\n"));
        n.protocols.extend(parse_rt_names("80 calico\n300 toobig\n12 bird2\n"));
        assert_eq!(n.table_number("pods"), Some(100));
        assert_eq!(n.table_name(254), Some("mymain"), "the file's name is shown");
        assert_eq!(n.table_number("main"), Some(254), "the built-in name still works");
        assert_eq!(n.protocol_number("calico"), Some(80));
        assert_eq!(n.protocol_number("toobig"), None);
        assert_eq!(n.protocol_name(12), Some("bird2"));
        assert_eq!(n.protocol_number("bird"), Some(12));
    }

    #[test]
    fn reads_directories_as_iproute2() {
        let base = std::env::temp_dir().join(format!("bgp-core-rt-names-{}", std::process::id()));
        let (etc, usr) = (base.join("etc"), base.join("usr"));
        for d in [etc.join("rt_tables.d"), usr.join("rt_tables.d"), usr.join("rt_protos.d")] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(usr.join("rt_tables"), "101 from-usr\n").unwrap();
        std::fs::write(usr.join("rt_protos"), "81 usr-proto\n").unwrap();
        std::fs::write(etc.join("rt_tables"), "102 from-etc\n").unwrap();
        std::fs::write(usr.join("rt_tables.d/a.conf"), "103 usr-d\n").unwrap();
        std::fs::write(etc.join("rt_tables.d/b.conf"), "103 etc-d\n").unwrap();
        std::fs::write(etc.join("rt_tables.d/c.txt"), "104 ignored\n").unwrap();
        std::fs::write(usr.join("rt_protos.d/x.conf"), "82 d-proto\n").unwrap();
        let n = RtNames::from_dirs(&etc, &usr);
        std::fs::remove_dir_all(&base).unwrap();
        assert_eq!(n.table_number("from-etc"), Some(102));
        assert_eq!(n.table_number("from-usr"), None, "the /etc file replaces the /usr one");
        assert_eq!(n.table_name(103), Some("etc-d"), "/etc's .d comes last");
        assert_eq!(n.table_number("usr-d"), Some(103));
        assert_eq!(n.table_number("ignored"), None);
        assert_eq!(n.protocol_number("usr-proto"), Some(81), "no /etc file: /usr's");
        assert_eq!(n.protocol_number("d-proto"), Some(82));
        assert_eq!(n.protocol_number("bgp"), Some(186));
        // Nothing there at all: the built-ins.
        assert_eq!(RtNames::from_dirs(&base.join("none"), &base.join("none")), RtNames::builtin());
    }
}
