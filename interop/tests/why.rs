//! `bgpctl why` against FRR 8.4 in network namespaces (lab ids 94-96, names `why*`):
//! the daemon's whole path (supervisor, RIB task, bgpctl) for each reason a route is
//! missing or not sent, checked against what FRR holds. SKIPs like the other interop
//! tests when not root or FRR is missing.

use std::time::Duration;

use interop::scenario::{frr_neighbor, neighbor, Scenario};
use interop::{skip_unless_ready, wait_until};
use serde_json::Value;

const SEC: Duration = Duration::from_secs(1);

#[test]
fn why_missing_rejected_rfc8212_and_best_frr() {
    skip_unless_ready!(frr: true, bird: false);
    let s = Scenario::link("why-frr", 94, "frr");
    let (a, b) = (s.v4(1), s.v4(2));
    let frr = s.frr("frr", 65001, &frr_neighbor(&a, 65000, &[], &["10.94.1.0/24", "10.94.2.0/24"]));
    // FRR's routes pass an import policy that drops the second; no export_policy
    // toward FRR (eBGP): RFC 8212 sends it nothing. A second neighbor never comes up.
    let config = s.config(65000, "")
        + "\n[[announce]]\nprefix = \"10.94.9.0/24\"\n\
           \n[[prefix_list]]\nname = \"second\"\nentries = [{ prefix = \"10.94.2.0/24\" }]\n\
           \n[[policy]]\nname = \"from-frr\"\ndefault = \"accept\"\n\
           \n[[policy.term]]\nname = \"drop-second\"\nmatch.prefix_list = \"second\"\naction = \"reject\"\n\
           \n[[policy.term]]\nname = \"prefer\"\nset_local_pref = 200\naction = \"accept\"\n"
        + &neighbor(&b, 65001, &["import_policy = \"from-frr\""])
        + &neighbor(
            "10.77.94.9",
            65009,
            &["passive = true", "import_policy = \"accept-all\"", "export_policy = \"accept-all\""],
        );
    let d = s.start_ours(&config);
    wait_until(30 * SEC, "Established with FRR, its first prefix accepted", || {
        let n = d.established(&b)?;
        match n.summary.prefixes_accepted {
            1 => Ok(()),
            other => Err(format!("{other} accepted")),
        }
    });
    let why = |target: &str| -> Value { d.bgpctl(&["why", target]).unwrap() };

    // The best path: FRR's, changed by term `prefer`, an address finds it.
    let r = why("10.94.1.77");
    assert_eq!(r["prefix"], "10.94.1.0/24", "{r}");
    let verdict = r["verdict"].as_str().unwrap();
    assert!(verdict.starts_with(&format!("best path from {b} (only path)")), "{r}");
    let path = &r["paths"][0];
    assert_eq!(path["source"], format!("peer {b} (AS 65001, eBGP), AS path 65001"));
    assert_eq!(path["import"]["term"], "prefer");
    assert_eq!(path["import"]["changes"][0], "LOCAL_PREF none -> 200");
    let peer = |r: &Value, addr: &str| -> Value {
        r["peers"].as_array().unwrap().iter().find(|p| p["address"] == addr).cloned().unwrap_or(Value::Null)
    };
    assert_eq!(peer(&r, &b)["reason"], "it came from this neighbor (split horizon)", "{r}");
    let down = peer(&r, "10.77.94.9")["reason"].as_str().unwrap_or_default().to_string();
    assert!(down.starts_with("session not Established ("), "with its state: {r}");

    // Refused on import: not in the table, still explained.
    let r = why("10.94.2.0/24");
    assert_eq!(r["verdict"], "rejected by policy from-frr term drop-second", "{r}");
    assert_eq!(r["rejected"][0]["from"], b.as_str());
    assert_eq!(r["rejected"][0]["import"]["steps"][0]["matched"], true);

    // Nobody sent it.
    let r = why("10.94.3.0/24");
    assert_eq!(r["verdict"], "no source has it", "{r}");
    assert_eq!(r["fib"]["reason"], "no source has it", "{r}");
    let r = why("10.94.3.1");
    assert_eq!((&r["verdict"], &r["prefix"]), (&Value::from("no source has it"), &Value::Null), "{r}");
    assert_eq!(peer(&r, &b)["reason"], "no source has it", "{r}");

    // Our [[announce]] route is not sent to FRR (RFC 8212), and FRR indeed lacks it.
    let r = why("10.94.9.0/24");
    assert_eq!(r["paths"][0]["source"], "[[announce]]", "{r}");
    let verdict = r["verdict"].as_str().unwrap();
    assert!(
        verdict.starts_with("best path from [[announce]] (only path), sent to 0 of 1 Established neighbor,"),
        "{r}"
    );
    assert_eq!(peer(&r, &b)["reason"], "RFC 8212, no export_policy", "{r}");
    let text = d.bgpctl_text(&["why", "10.94.9.0/24"]).unwrap();
    assert!(text.contains(&format!("not sent to {b}: RFC 8212, no export_policy")), "{text}");
    let held = frr.json("show bgp ipv4 unicast 10.94.9.0/24 json").unwrap();
    assert!(held["paths"].get(0).is_none(), "FRR holds no path: {held}");

    // A bad request is an error, not a hang.
    let err = d.bgpctl_text(&["why", "10.94.0.0/99"]).unwrap_err();
    assert!(err.contains("10.94.0.0/99"), "{err}");
}
