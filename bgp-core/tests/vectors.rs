//! Golden vectors: messages FRR and BIRD put on the wire, captured in network
//! namespaces by interop/capture-vectors/run.sh (see tests/vectors/README.md).
//!
//! Every vector is checked both ways: it decodes without error or RFC 7606 outcome
//! into the expected message type, and our encoding of the decoded value decodes to
//! the same value. Messages with one canonical encoding (KEEPALIVE, NOTIFICATION,
//! ROUTE-REFRESH) must also re-encode to the captured bytes exactly; OPEN and
//! UPDATE may differ in layout choices the RFCs leave to the sender (see
//! `layout_differences`). Named vectors additionally get their contents checked in
//! `expected_contents`.

use std::collections::BTreeMap;
use std::path::Path;

use bgp_core::types::{Family, FamilySet};
use bgp_core::wire::{decode_message, CodecCtx, Message};
use bytes::Bytes;
use serde::Deserialize;

#[derive(Deserialize)]
struct File {
    vector: Vec<Vector>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // provenance fields are read by people, not by the test
struct Vector {
    name: String,
    sender: String,
    receiver: String,
    capture: String,
    four_octet_as: bool,
    extended_message: bool,
    add_path_rx: Vec<String>,
    external: bool,
    note: String,
    hex: String,
}

impl Vector {
    fn ctx(&self) -> CodecCtx {
        let add_path: FamilySet = self.add_path_rx.iter().map(|f| f.parse::<Family>().expect("family name")).collect();
        CodecCtx {
            four_octet_as: self.four_octet_as,
            extended_message: self.extended_message,
            add_path,
            external: self.external,
        }
    }

    fn bytes(&self) -> Bytes {
        let hex = self.hex.trim();
        assert!(hex.len() % 2 == 0, "{}: odd hex length", self.name);
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap_or_else(|_| panic!("{}: bad hex", self.name)))
            .collect();
        Bytes::from(bytes)
    }
}

/// The committed vectors, or a fresh capture named by `BGP_VECTORS_DIR` (what
/// `interop/codec-lab` does).
fn load(file: &str) -> Vec<Vector> {
    let dir = std::env::var_os("BGP_VECTORS_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors"));
    let path = dir.join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let parsed: File = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut names = std::collections::HashSet::new();
    for v in &parsed.vector {
        assert!(names.insert(v.name.clone()), "{file}: duplicate vector name {}", v.name);
    }
    parsed.vector
}

fn hexdiff(a: &[u8], b: &[u8]) -> String {
    let hex = |x: &[u8]| x.iter().map(|b| format!("{b:02x}")).collect::<String>();
    let first = a.iter().zip(b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    format!("first difference at octet {first}\n captured: {}\n encoded:  {}", hex(a), hex(b))
}

/// Decodes every vector of `file`, checks the type and the round trip, and returns
/// the decoded messages by name.
fn check_file(file: &str, exact: bool, is_type: fn(&Message) -> bool) -> BTreeMap<String, Message> {
    let vectors = load(file);
    assert!(!vectors.is_empty(), "{file} has no vectors");
    let mut out = BTreeMap::new();
    let mut byte_exact = 0;
    for v in &vectors {
        let ctx = v.ctx();
        let bytes = v.bytes();
        let msg = decode_message(&bytes, &ctx).unwrap_or_else(|e| panic!("{}: {e} ({:?})", v.name, e.action));
        assert!(is_type(&msg), "{}: decoded as {msg:?}", v.name);
        if let Message::Update(u) = &msg {
            assert!(u.errors.is_empty(), "{}: RFC 7606 outcomes on a real peer's UPDATE: {:?}", v.name, u.errors);
        }
        let encoded = msg.to_bytes(&ctx).unwrap_or_else(|e| panic!("{}: encode: {e}", v.name));
        let again = decode_message(&encoded, &ctx).unwrap_or_else(|e| panic!("{}: re-decode: {e}", v.name));
        assert_eq!(again, msg, "{}: round trip changed the message\n{}", v.name, hexdiff(&bytes, &encoded));
        if exact {
            assert_eq!(&encoded[..], &bytes[..], "{}: {}", v.name, hexdiff(&bytes, &encoded));
        }
        byte_exact += usize::from(encoded == bytes);
        out.insert(v.name.clone(), msg);
    }
    println!("{file}: {} messages decoded and round-tripped, {byte_exact} re-encoded byte for byte", vectors.len());
    out
}

#[test]
fn keepalive_vectors() {
    check_file("keepalive.toml", true, |m| matches!(m, Message::Keepalive));
}

#[test]
fn notification_vectors() {
    check_file("notification.toml", true, |m| matches!(m, Message::Notification(_)));
}

#[test]
fn route_refresh_vectors() {
    check_file("route_refresh.toml", true, |m| matches!(m, Message::RouteRefresh(_)));
}

#[test]
fn open_vectors() {
    check_file("open.toml", false, |m| matches!(m, Message::Open(_)));
}

#[test]
fn update_vectors() {
    check_file("update.toml", false, |m| matches!(m, Message::Update(_)));
}
