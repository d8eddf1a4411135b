//! The `--json` examples of README.md ("bgpctl --json") stay true: each is read into the
//! type bgpctl prints for that command and written back, and must come out the same,
//! so an example can neither miss a field nor show one that no longer exists.

use std::collections::BTreeSet;

use bgp_core::ctl::events::NeighborEvent;
use bgp_core::ctl::{
    BfdSessionRow, DrainRow, FibRow, KubernetesRouteRow, KubernetesStatus, NeighborDetail, NeighborSummary, NextHopRow,
    RibSummary, RouteRow,
};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// What `bgpctl show kubernetes --json` prints.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct KubernetesShow {
    status: KubernetesStatus,
    routes: Vec<KubernetesRouteRow>,
}

/// What a command that changed something prints (`JsonDone` in main.rs).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Done {
    result: String,
    message: String,
}

/// What `bgpctl drain` and `undrain` print (`JsonDrained` in main.rs).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Drained {
    result: String,
    message: String,
    neighbors: Vec<DrainRow>,
}

/// What a failure prints (`JsonError` in main.rs).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Failure {
    error: String,
}

/// The fenced blocks of `text` whose info string is `json KIND`: (KIND, body, line).
fn examples(text: &str) -> Vec<(String, String, usize)> {
    let mut out = Vec::new();
    let mut open: Option<(String, String, usize)> = None;
    for (i, line) in text.lines().enumerate() {
        match &mut open {
            None => {
                if let Some(kind) = line.strip_prefix("```json ") {
                    open = Some((kind.trim().to_owned(), String::new(), i + 1));
                }
            }
            Some((_, body, _)) if line.trim_start() != "```" => {
                body.push_str(line);
                body.push('\n');
            }
            Some(_) => out.push(open.take().expect("open")),
        }
    }
    assert!(open.is_none(), "a ```json block is not closed");
    out
}

/// `body` read as `T` and written back equals `body`.
fn round_trip<T: Serialize + DeserializeOwned>(kind: &str, line: usize, body: &str) {
    let value: Value =
        serde_json::from_str(body).unwrap_or_else(|e| panic!("README.md:{line} ({kind}): not JSON: {e}"));
    let typed: T = serde_json::from_value(value.clone())
        .unwrap_or_else(|e| panic!("README.md:{line} ({kind}): not what bgpctl prints: {e}"));
    let back = serde_json::to_value(&typed).unwrap();
    assert_eq!(back, value, "README.md:{line} ({kind}): fields differ from what bgpctl prints");
}

#[test]
fn readme_json_examples_are_what_bgpctl_prints() {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md")).unwrap();
    let found = examples(&readme);
    let mut kinds = BTreeSet::new();
    for (kind, body, line) in &found {
        assert!(kinds.insert(kind.clone()), "README.md:{line}: a second example of {kind}");
        match kind.as_str() {
            "show-neighbors" => round_trip::<Vec<NeighborSummary>>(kind, *line, body),
            "show-neighbor" => round_trip::<NeighborDetail>(kind, *line, body),
            "show-routes" => round_trip::<Vec<RouteRow>>(kind, *line, body),
            "show-summary" => round_trip::<RibSummary>(kind, *line, body),
            "show-bfd" => round_trip::<Vec<BfdSessionRow>>(kind, *line, body),
            "why" => round_trip::<bgp_core::ctl::why::WhyReport>(kind, *line, body),
            "reload-dry-run" => round_trip::<bgp_core::ctl::ReloadPreview>(kind, *line, body),
            "show-fib" => round_trip::<Vec<FibRow>>(kind, *line, body),
            "show-nexthops" => round_trip::<Vec<NextHopRow>>(kind, *line, body),
            "show-kubernetes" => round_trip::<KubernetesShow>(kind, *line, body),
            "show-events" => round_trip::<Vec<NeighborEvent>>(kind, *line, body),
            "done" => round_trip::<Done>(kind, *line, body),
            "drain" => round_trip::<Drained>(kind, *line, body),
            "error" => round_trip::<Failure>(kind, *line, body),
            other => panic!("README.md:{line}: an example of {other:?}: add its type to this test"),
        }
    }
    let expected = [
        "done",
        "drain",
        "error",
        "reload-dry-run",
        "show-bfd",
        "show-events",
        "show-fib",
        "show-kubernetes",
        "show-neighbor",
        "show-neighbors",
        "show-nexthops",
        "show-routes",
        "show-summary",
        "why",
    ];
    assert_eq!(kinds.iter().map(String::as_str).collect::<Vec<_>>(), expected, "one example per command kind");
}

#[test]
fn a_wrong_example_is_caught() {
    let bad = "```json show-summary\n{\"ipv4_prefixes\": 1}\n```\n";
    let (kind, body, line) = examples(bad).remove(0);
    assert!(std::panic::catch_unwind(|| round_trip::<RibSummary>(&kind, line, &body)).is_err(), "a missing field");
    let stale = r#"{"result": "ok", "message": "x", "extra": 1}"#;
    assert!(std::panic::catch_unwind(|| round_trip::<Done>("done", 1, stale)).is_err(), "a field that is gone");
}
