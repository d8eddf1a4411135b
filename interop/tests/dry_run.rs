//! `bgpctl reload --dry-run` against the real reload: the prediction (sessions that
//! restart, routes newly sent and withdrawn per neighbor) must equal what FRR holds
//! from us after the reload, and what `bgpctl show neighbors` says. Lab ids 97–99.
//!
//! Skips with `SKIP: <reason>` when not root or FRR is missing.

use std::collections::BTreeSet;
use std::process::Command;
use std::time::Duration;

use bgp_core::ctl::{ReloadPreview, SessionAction};
use interop::scenario::{frr_neighbor, neighbor, Scenario};
use interop::{daemon_bin, run, skip_unless_ready, wait_until, Daemon, Frr};

const SEC: Duration = Duration::from_secs(1);

/// The prefixes FRR holds from us (`a`), accepted.
fn held_at(frr: &Frr, a: &str) -> Result<BTreeSet<String>, String> {
    let v = frr.json(&format!("show bgp ipv4 unicast neighbors {a} routes json"))?;
    let routes = v["routes"].as_object().ok_or_else(|| format!("no routes object: {v}"))?;
    Ok(routes.keys().cloned().collect())
}

fn connections(frr: &Frr, a: &str) -> u64 {
    frr.neighbor(a).ok().and_then(|n| n["connectionsEstablished"].as_u64()).unwrap_or(0)
}

fn preview(d: &Daemon) -> ReloadPreview {
    serde_json::from_value(d.bgpctl(&["reload", "--dry-run"]).unwrap()).unwrap()
}

/// Two FRR peers on one segment. The new file gives frr1 new policies (its import
/// refuses one of its prefixes, its export one of frr2's), restarts frr2 (hold_time)
/// and replaces one `[[announce]]`. The dry run's figures are then checked against
/// FRR's tables after the real reload.
#[test]
fn dry_run_predicts_the_reload_frr() {
    skip_unless_ready!(frr: true, bird: false);
    let s = Scenario::segment("dry-reload", 97, &["frr1", "frr2"]);
    let (a, f1, f2) = (s.v4(1), s.addr("frr1"), s.addr("frr2"));
    let frr1 = s.frr("frr1", 65001, &frr_neighbor(&a, 65000, &[], &["10.97.1.0/24", "10.97.2.0/24", "10.97.3.0/24"]));
    let frr2 = s.frr("frr2", 65002, &frr_neighbor(&a, 65000, &[], &["10.98.1.0/24"]));
    let open = ["import_policy = \"accept-all\"", "export_policy = \"accept-all\""];
    let announce = |p: &str| format!("\n[[announce]]\nprefix = \"{p}\"\n");
    let old = s.config(65000, "")
        + &announce("10.99.1.0/24")
        + &announce("10.99.2.0/24")
        + &neighbor(&f1, 65001, &open)
        + &neighbor(&f2, 65002, &open);
    let new = s.config(65000, "")
        + &announce("10.99.1.0/24")
        + &announce("10.99.3.0/24")
        + "\n[[prefix_list]]\nname = \"in\"\nentries = [{ prefix = \"10.97.2.0/24\" }]\n\
           \n[[prefix_list]]\nname = \"out\"\nentries = [{ prefix = \"10.98.1.0/24\" }]\n\
           \n[[policy]]\nname = \"in\"\ndefault = \"accept\"\n\
           \n[[policy.term]]\nname = \"no-second\"\nmatch.prefix_list = \"in\"\naction = \"reject\"\n\
           \n[[policy]]\nname = \"out\"\ndefault = \"accept\"\n\
           \n[[policy.term]]\nname = \"not-frr2s\"\nmatch.prefix_list = \"out\"\naction = \"reject\"\n"
        + &neighbor(&f1, 65001, &["import_policy = \"in\"", "export_policy = \"out\""])
        + &neighbor(
            &f2,
            65002,
            &["import_policy = \"accept-all\"", "export_policy = \"accept-all\"", "hold_time = 30"],
        );
    let d = s.start_ours(&old);
    let settled = |frr: &Frr, n: usize| {
        wait_until(30 * SEC, "FRR holds our routes", || match held_at(frr, &a)? {
            h if h.len() == n => Ok(h),
            h => Err(format!("{h:?}")),
        })
    };
    let before1 = settled(&frr1, 3);
    let before2 = settled(&frr2, 5);
    wait_until(15 * SEC, "we hold FRR's routes", || {
        let n = d.established(&f1)?.summary.prefixes_accepted + d.established(&f2)?.summary.prefixes_accepted;
        if n == 4 {
            Ok(())
        } else {
            Err(format!("{n} accepted"))
        }
    });

    s.step("a bad file: the dry run answers with the reload's error, and nothing changes");
    std::fs::write(&d.config, new.replace("action = \"reject\"", "action = \"rejekt\"")).unwrap();
    let dry = d.bgpctl_text(&["reload", "--dry-run"]).unwrap_err();
    let real = d.bgpctl_text(&["reload"]).unwrap_err();
    // What bgpctl printed, without the command line run_ok puts in front.
    let error = |e: &str| {
        e.lines().find(|l| l.contains("rejekt")).and_then(|l| l.split_once("bgpctl: ")).map(|(_, m)| m.to_string())
    };
    assert!(error(&dry).is_some_and(|l| l.contains(&format!("{}:", d.config.display()))), "{dry}");
    assert_eq!(error(&dry), error(&real), "the same file:line: key error");

    s.step("a file a reload refuses (global.asn): the same refusal");
    std::fs::write(&d.config, new.replacen("asn = 65000", "asn = 65009", 1)).unwrap();
    let dry = d.bgpctl_text(&["reload", "--dry-run"]).unwrap_err();
    let real = d.bgpctl_text(&["reload"]).unwrap_err();
    let refusal = |e: &str| e.split_once("bgpctl: ").map(|(_, m)| m.trim().to_string());
    assert!(refusal(&dry).is_some_and(|m| m.contains("global.asn changed: restart required")), "{dry}");
    assert_eq!(refusal(&dry), refusal(&real));
    let mut check = Command::new(daemon_bin());
    check.args(["--config"]).arg(&d.config).args(["--check", "--against-running"]);
    let out = run(&mut check, 20 * SEC).unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(stderr.trim().strip_prefix("bgp-daemon: "), refusal(&real).as_deref(), "{stderr}");

    s.step("the dry run of the new file");
    std::fs::write(&d.config, &new).unwrap();
    let p = preview(&d);
    eprintln!("{}", p.render());
    let session = |addr: &str| p.sessions.iter().find(|x| x.address.to_string() == addr).cloned();
    let s1 = session(&f1).expect("frr1 changes");
    let s2 = session(&f2).expect("frr2 changes");
    assert_eq!((s1.action, s1.keys.len()), (SessionAction::Policies, 0), "{s1:?}");
    assert_eq!((s2.action, s2.keys.clone()), (SessionAction::Restart, vec!["hold_time".to_string()]), "{s2:?}");
    assert_eq!(p.sources, ["announce"]);
    let routes = |addr: &str| *p.routes.iter().find(|r| r.address.to_string() == addr).expect("a route row");
    let (r1, r2) = (routes(&f1), routes(&f2));
    assert_eq!((r1.advertised, r2.advertised), (3, 5), "what FRR holds now");
    assert_eq!(r1.import_refused, 1, "{r1:?}");
    // The text and --check --against-running say the same.
    let text = d.bgpctl_text(&["reload", "--dry-run"]).unwrap();
    assert!(text.contains("restart (hold_time changed)") && text.contains("new policies"), "{text}");
    let mut check = Command::new(daemon_bin());
    check.args(["--config"]).arg(&d.config).args(["--check", "--against-running"]);
    let out = run(&mut check, 20 * SEC).unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), text, "--check --against-running prints the same");
    // Nothing happened.
    assert_eq!(held_at(&frr1, &a).unwrap(), before1);
    assert_eq!((connections(&frr1, &a), connections(&frr2, &a)), (1, 1));

    s.step("the real reload");
    let reloaded = d.bgpctl_text(&["reload"]).unwrap();
    assert!(reloaded.contains("1 changed, 1 with new policies"), "{reloaded}");
    let after2 = wait_until(30 * SEC, "frr2's session is back with our routes", || {
        let h = held_at(&frr2, &a)?;
        if connections(&frr2, &a) == 2 && h.len() as u64 == r2.advertised_after {
            Ok(h)
        } else {
            Err(format!("{} connections, holds {h:?}", connections(&frr2, &a)))
        }
    });
    let after1 = wait_until(15 * SEC, "frr1 holds what was predicted", || {
        let h = held_at(&frr1, &a)?;
        if h.len() as u64 == r1.advertised_after {
            Ok(h)
        } else {
            Err(format!("holds {h:?}, predicted {r1:?}"))
        }
    });
    // Give a wrong prediction time to show: FRR's table must stay as predicted.
    std::thread::sleep(2 * SEC);
    let checks = [("frr1", &f1, &frr1, &before1, &after1, r1), ("frr2", &f2, &frr2, &before2, &after2, r2)];
    for (name, addr, frr, before, after, r) in checks {
        let now = held_at(frr, &a).unwrap();
        assert_eq!(&now, after, "{name}: FRR's table moved after it matched");
        let sent = after.difference(before).count() as u64;
        let withdrawn = before.difference(after).count() as u64;
        eprintln!(
            "    {name}: predicted +{} -{} = {}, FRR +{sent} -{withdrawn} = {}",
            r.newly_sent,
            r.withdrawn,
            r.advertised_after,
            after.len()
        );
        assert_eq!((r.newly_sent, r.withdrawn), (sent, withdrawn), "{name}: {before:?} -> {after:?}");
        let shown = d.established(addr).unwrap().summary.prefixes_advertised;
        assert_eq!(shown, r.advertised_after, "{name}: bgpctl show neighbors");
    }
    assert_eq!(connections(&frr1, &a), 1, "frr1 did not restart, as predicted");
    // And the figures themselves, so that a prediction and a reload wrong alike fail.
    assert_eq!((r1.newly_sent, r1.withdrawn, r1.advertised_after), (1, 2, 2), "{r1:?}");
    assert_eq!((r2.newly_sent, r2.withdrawn, r2.advertised_after), (1, 2, 4), "{r2:?}");

    s.step("a dry run of the running file changes nothing");
    let p = preview(&d);
    assert!(p.sessions.is_empty() && p.sources.is_empty(), "{p:?}");
    assert!(p.routes.iter().all(|r| r.newly_sent == 0 && r.withdrawn == 0), "{p:?}");
}

/// A dynamic neighbor (FRR in a `[[neighbor_range]]`): a new export policy for the
/// range is predicted and applied without a restart; then a new `limit` restarts it,
/// with `limit` as the reason.
#[test]
fn dry_run_of_a_range_frr() {
    skip_unless_ready!(frr: true, bird: false);
    let s = Scenario::link("dry-range", 98, "frr");
    let (a, b) = (s.v4(1), s.v4(2));
    let frr = s.frr("frr", 65002, &frr_neighbor(&a, 65000, &[], &["10.98.9.0/24"]));
    let announce = |p: &str| format!("\n[[announce]]\nprefix = \"{p}\"\n");
    let range = |extra: &str| {
        format!(
            "\n[[neighbor_range]]\nprefix = \"10.77.{}.0/24\"\nasn = 65002\nimport_policy = \"accept-all\"\n{extra}",
            s.id
        )
    };
    let base = s.config(65000, "") + &announce("10.99.1.0/24") + &announce("10.99.2.0/24");
    let refuse = "\n[[prefix_list]]\nname = \"out\"\nentries = [{ prefix = \"10.99.2.0/24\" }]\n\
                  \n[[policy]]\nname = \"out\"\ndefault = \"accept\"\n\
                  \n[[policy.term]]\nname = \"t\"\nmatch.prefix_list = \"out\"\naction = \"reject\"\n";
    let old = base.clone() + &range("export_policy = \"accept-all\"\n");
    let new = base.clone() + refuse + &range("export_policy = \"out\"\n");
    let d = s.start_ours(&old);
    wait_until(30 * SEC, "FRR holds our two routes", || match held_at(&frr, &a)? {
        h if h.len() == 2 => Ok(()),
        h => Err(format!("{h:?}")),
    });

    s.step("a new export policy for the range");
    std::fs::write(&d.config, &new).unwrap();
    let p = preview(&d);
    eprintln!("{}", p.render());
    assert_eq!(p.sessions.len(), 1, "{p:?}");
    assert_eq!((p.sessions[0].action, p.sessions[0].dynamic), (SessionAction::Policies, true));
    assert!(p.notes.is_empty(), "only the export policy changes: nothing left uncounted: {:?}", p.notes);
    let r = p.routes.iter().find(|r| r.address.to_string() == b).copied().expect("a row for FRR");
    assert_eq!((r.advertised, r.advertised_after, r.newly_sent, r.withdrawn), (2, 1, 0, 1), "{r:?}");
    d.bgpctl_text(&["reload"]).unwrap();
    wait_until(15 * SEC, "FRR holds what was predicted", || match held_at(&frr, &a)? {
        h if h.len() as u64 == r.advertised_after => Ok(()),
        h => Err(format!("{h:?}")),
    });
    assert_eq!(d.established(&b).unwrap().summary.prefixes_advertised, r.advertised_after);
    assert_eq!(connections(&frr, &a), 1, "no restart");

    s.step("a new limit restarts the range's session");
    std::fs::write(
        &d.config,
        new.replace("import_policy = \"accept-all\"\n", "import_policy = \"accept-all\"\nlimit = 5\n"),
    )
    .unwrap();
    let p = preview(&d);
    assert_eq!(p.sessions.len(), 1, "{p:?}");
    let session = &p.sessions[0];
    assert_eq!(
        (session.action, session.keys.clone(), session.dynamic),
        (SessionAction::Restart, vec!["limit".to_string()], true)
    );
    let r = p.routes[0];
    assert_eq!((r.advertised_after, r.newly_sent, r.withdrawn), (1, 0, 0), "the same route again after the restart");
    d.bgpctl_text(&["reload"]).unwrap();
    wait_until(30 * SEC, "FRR reconnected, with what was predicted", || {
        let h = held_at(&frr, &a)?;
        if connections(&frr, &a) == 2 && h.len() as u64 == r.advertised_after {
            Ok(())
        } else {
            Err(format!("{} connections, {h:?}", connections(&frr, &a)))
        }
    });
}
