//! One test per malformation: what RFC 4271 §6 and RFC 7606 ask for, checked on
//! hand-built messages. Each test names the section it follows.

use bgp_core::prefix::Prefix;
use bgp_core::types::Family;
use bgp_core::types::FamilySet;
use bgp_core::wire::notification::{MessageHeaderError, OpenError, RouteRefreshError, UpdateError};
use bgp_core::wire::{
    decode_message, frame_len, AttrAction, CodecCtx, DecodeError, ErrorAction, ErrorCode, Message, RefreshSubtype,
    Update, MAX_KEPT_ERRORS,
};
use bytes::Bytes;

const IBGP: CodecCtx = CodecCtx {
    four_octet_as: true,
    extended_message: false,
    add_path: bgp_core::types::FamilySet::EMPTY,
    external: false,
    extended_next_hop: bgp_core::types::FamilySet::EMPTY,
};
const EBGP: CodecCtx = CodecCtx { external: true, ..IBGP };
const OLD: CodecCtx = CodecCtx { four_octet_as: false, ..IBGP };

const WK: u8 = 0x40; // well-known: transitive
const OPT: u8 = 0x80; // optional non-transitive
const OPT_T: u8 = 0xc0; // optional transitive

fn frame(kind: u8, body: &[u8]) -> Bytes {
    let mut v = vec![0xff; 16];
    v.extend_from_slice(&((19 + body.len()) as u16).to_be_bytes());
    v.push(kind);
    v.extend_from_slice(body);
    Bytes::from(v)
}

fn attr(flags: u8, code: u8, value: &[u8]) -> Vec<u8> {
    let mut v = vec![flags, code];
    if flags & 0x10 != 0 {
        v.extend_from_slice(&(value.len() as u16).to_be_bytes());
    } else {
        v.push(value.len() as u8);
    }
    v.extend_from_slice(value);
    v
}

fn update_body(withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&(withdrawn.len() as u16).to_be_bytes());
    v.extend_from_slice(withdrawn);
    v.extend_from_slice(&(attrs.len() as u16).to_be_bytes());
    v.extend_from_slice(attrs);
    v.extend_from_slice(nlri);
    v
}

/// ORIGIN IGP, AS_PATH 65001, NEXT_HOP 192.0.2.1: the mandatory set.
fn mandatory() -> Vec<u8> {
    [attr(WK, 1, &[0]), attr(WK, 2, &[2, 1, 0, 0, 0xfd, 0xe9]), attr(WK, 3, &[192, 0, 2, 1])].concat()
}

const NLRI: &[u8] = &[24, 192, 168, 4, 32, 192, 168, 6, 10];

fn decode_update(ctx: &CodecCtx, withdrawn: &[u8], attrs: &[u8], nlri: &[u8]) -> Result<Update, DecodeError> {
    match decode_message(&frame(2, &update_body(withdrawn, attrs, nlri)), ctx)? {
        Message::Update(u) => Ok(u),
        other => panic!("decoded {other:?}"),
    }
}

fn reset(result: Result<Update, DecodeError>) -> (ErrorCode, Bytes) {
    let err = result.expect_err("expected a session reset");
    assert!(!err.reason.is_empty());
    match err.action {
        ErrorAction::SessionReset(n) => (n.code, n.data),
        other => panic!("expected a session reset, got {other:?}"),
    }
}

fn disable(result: Result<Update, DecodeError>) -> (Family, ErrorCode, Bytes) {
    match result.expect_err("expected AFI/SAFI disable").action {
        ErrorAction::AfiSafiDisable { family, notification } => (family, notification.code, notification.data),
        other => panic!("expected AFI/SAFI disable, got {other:?}"),
    }
}

/// The update decoded, under treat-as-withdraw for `type_code`, and its NLRI count as
/// withdrawals.
fn treat_as_withdraw(update: Update, type_code: u8) {
    assert!(update.treat_as_withdraw(), "{:?}", update.errors);
    assert!(
        update.errors.iter().any(|e| e.type_code == type_code && e.action == AttrAction::TreatAsWithdraw),
        "{:?}",
        update.errors
    );
    assert_eq!(update.announcements().count(), 0);
    let announced = update.nlri.len() + update.attrs.mp_reach.as_ref().map_or(0, |r| r.nlri.len());
    assert!(update.withdrawals().count() >= announced);
}

fn discarded(update: &Update, type_code: u8) {
    assert!(!update.treat_as_withdraw(), "{:?}", update.errors);
    assert!(
        update.errors.iter().any(|e| e.type_code == type_code && e.action == AttrAction::Discard),
        "{:?}",
        update.errors
    );
    assert_eq!(
        update.announcements().count(),
        update.nlri.len() + update.attrs.mp_reach.as_ref().map_or(0, |r| r.nlri.len())
    );
}

fn with(extra: &[u8]) -> Vec<u8> {
    [mandatory(), extra.to_vec()].concat()
}

// --- Message header (RFC 4271 §6.1) ---

#[test]
fn header_marker_not_all_ones() {
    let mut f = frame(4, &[]).to_vec();
    f[3] = 0;
    let e = frame_len(&f, &IBGP).unwrap_err();
    assert_eq!(e.notification().code, ErrorCode::MessageHeader(MessageHeaderError::ConnectionNotSynchronized));
}

#[test]
fn header_length_out_of_range_carries_the_length() {
    let mut f = frame(2, &update_body(&[], &[], &[])).to_vec();
    for bad in [18u16, 4097, 65535] {
        f[16..18].copy_from_slice(&bad.to_be_bytes());
        let e = frame_len(&f, &IBGP).unwrap_err();
        assert_eq!(e.notification().code, ErrorCode::MessageHeader(MessageHeaderError::BadMessageLength));
        assert_eq!(&e.notification().data[..], &bad.to_be_bytes());
    }
    // RFC 8654: UPDATE may grow once extended messages are negotiated, OPEN may not.
    let ext = CodecCtx { extended_message: true, ..IBGP };
    f[16..18].copy_from_slice(&5000u16.to_be_bytes());
    assert_eq!(frame_len(&f, &ext), Ok(Some(5000)));
    f[18] = 1;
    assert!(frame_len(&f, &ext).is_err());
}

#[test]
fn header_keepalive_must_be_19_octets() {
    let e = decode_message(&frame(4, &[0]), &IBGP).unwrap_err();
    assert_eq!(e.notification().code, ErrorCode::MessageHeader(MessageHeaderError::BadMessageLength));
    assert_eq!(&e.notification().data[..], &[0, 20]);
}

#[test]
fn header_message_shorter_than_its_type_allows() {
    for (kind, body_len) in [(1u8, 9usize), (2, 3), (3, 1)] {
        let e = decode_message(&frame(kind, &vec![0; body_len]), &IBGP).unwrap_err();
        assert_eq!(
            e.notification().code,
            ErrorCode::MessageHeader(MessageHeaderError::BadMessageLength),
            "type {kind}"
        );
    }
}

#[test]
fn header_unknown_type_carries_the_type() {
    let e = decode_message(&frame(7, &[]), &IBGP).unwrap_err();
    assert_eq!(e.notification().code, ErrorCode::MessageHeader(MessageHeaderError::BadMessageType));
    assert_eq!(&e.notification().data[..], &[7]);
}

#[test]
fn frame_len_waits_for_the_header() {
    assert_eq!(frame_len(&[0xff; 18], &IBGP), Ok(None));
    assert_eq!(frame_len(&frame(4, &[]), &IBGP), Ok(Some(19)));
}

// --- OPEN (RFC 4271 §6.2, RFC 5492, RFC 9072) ---

fn open_body(version: u8, params: &[u8]) -> Vec<u8> {
    let mut v = vec![version, 0xfd, 0xe8, 0, 90, 10, 0, 0, 1, params.len() as u8];
    v.extend_from_slice(params);
    v
}

#[test]
fn open_unsupported_version_names_version_4() {
    let e = decode_message(&frame(1, &open_body(3, &[])), &IBGP).unwrap_err();
    assert_eq!(e.notification().code, ErrorCode::Open(OpenError::UnsupportedVersionNumber));
    assert_eq!(&e.notification().data[..], &[0, 4]);
}

#[test]
fn open_unsupported_optional_parameter() {
    let e = decode_message(&frame(1, &open_body(4, &[1, 2, 0, 0])), &IBGP).unwrap_err();
    assert_eq!(e.notification().code, ErrorCode::Open(OpenError::UnsupportedOptionalParameter));
}

#[test]
fn open_malformed_capability_value() {
    // Multiprotocol with 3 octets instead of 4.
    let e = decode_message(&frame(1, &open_body(4, &[2, 5, 1, 3, 0, 1, 0])), &IBGP).unwrap_err();
    assert_eq!(e.notification().code, ErrorCode::Open(OpenError::Unspecific));
    assert_eq!(&e.notification().data[..], &[1, 3, 0, 1, 0]);
}

#[test]
fn open_parameter_overrunning_its_field() {
    let e = decode_message(&frame(1, &open_body(4, &[2, 9, 1, 4, 0, 1, 0, 1])), &IBGP).unwrap_err();
    assert_eq!(e.notification().code, ErrorCode::Open(OpenError::Unspecific));
}

#[test]
fn open_extended_parameters_rfc9072() {
    // Non-ext length 255, type 255, extended length, then one capability parameter
    // with a 2-octet length holding route refresh.
    let params = [255u8, 0, 5, 2, 0, 2, 2, 0];
    let mut body = vec![4, 0xfd, 0xe8, 0, 90, 10, 0, 0, 1, 255];
    body.extend_from_slice(&params);
    let Message::Open(open) = decode_message(&frame(1, &body), &IBGP).unwrap() else { panic!() };
    assert_eq!(open.capabilities, vec![bgp_core::wire::Capability::RouteRefresh]);
}

// --- UPDATE: session reset (RFC 7606 §4, §5.3, §3 g) ---

#[test]
fn withdrawn_routes_length_overruns_message() {
    let mut body = update_body(&[], &[], &[]);
    body[1] = 9;
    let (code, _) = reset(match decode_message(&frame(2, &body), &IBGP) {
        Ok(Message::Update(u)) => Ok(u),
        Ok(m) => panic!("{m:?}"),
        Err(e) => Err(e),
    });
    assert_eq!(code, ErrorCode::Update(UpdateError::MalformedAttributeList));
}

#[test]
fn total_attribute_length_overruns_message() {
    let mut body = update_body(&[], &mandatory(), &[]);
    body[3] += 1;
    let r = match decode_message(&frame(2, &body), &IBGP) {
        Ok(Message::Update(u)) => Ok(u),
        Ok(m) => panic!("{m:?}"),
        Err(e) => Err(e),
    };
    assert_eq!(reset(r).0, ErrorCode::Update(UpdateError::MalformedAttributeList));
}

#[test]
fn nlri_prefix_length_over_32() {
    let (code, _) = reset(decode_update(&IBGP, &[], &mandatory(), &[33, 1, 2, 3, 4, 5]));
    assert_eq!(code, ErrorCode::Update(UpdateError::InvalidNetworkField));
}

#[test]
fn nlri_truncated() {
    let (code, _) = reset(decode_update(&IBGP, &[], &mandatory(), &[24, 10, 0]));
    assert_eq!(code, ErrorCode::Update(UpdateError::InvalidNetworkField));
}

#[test]
fn withdrawn_routes_malformed() {
    let (code, _) = reset(decode_update(&IBGP, &[40, 1, 2, 3, 4, 5], &[], &[]));
    assert_eq!(code, ErrorCode::Update(UpdateError::InvalidNetworkField));
}

fn mp_reach_v6(nlri: &[u8]) -> Vec<u8> {
    let mut v = vec![0, 2, 1, 16];
    v.extend_from_slice(&"2001:db8::1".parse::<std::net::Ipv6Addr>().unwrap().octets());
    v.push(0);
    v.extend_from_slice(nlri);
    attr(OPT | 0x10, 14, &v)
}

const V6_NLRI: &[u8] = &[48, 0x20, 0x01, 0x0d, 0xb8, 0, 1];

#[test]
fn mp_reach_twice_resets() {
    let attrs = [mp_reach_v6(V6_NLRI), mp_reach_v6(V6_NLRI), attr(WK, 1, &[0]), attr(WK, 2, &[])].concat();
    let (code, data) = reset(decode_update(&IBGP, &[], &attrs, &[]));
    assert_eq!(code, ErrorCode::Update(UpdateError::MalformedAttributeList));
    assert_eq!(data[1], 14);
}

#[test]
fn mp_unreach_twice_resets() {
    let unreach = attr(OPT, 15, &[0, 2, 1]);
    let (code, _) = reset(decode_update(&IBGP, &[], &[unreach.clone(), unreach].concat(), &[]));
    assert_eq!(code, ErrorCode::Update(UpdateError::MalformedAttributeList));
}

#[test]
fn mp_reach_bad_next_hop_length_disables_the_family() {
    let mut v = vec![0, 2, 1, 5, 1, 2, 3, 4, 5, 0];
    v.extend_from_slice(V6_NLRI);
    let attrs = [attr(OPT, 14, &v), attr(WK, 1, &[0]), attr(WK, 2, &[])].concat();
    let (family, code, data) = disable(decode_update(&IBGP, &[], &attrs, &[]));
    assert_eq!(family, Family::IPV6_UNICAST);
    assert_eq!(code, ErrorCode::Update(UpdateError::OptionalAttributeError));
    assert_eq!(&data[..], &attr(OPT, 14, &v)[..], "the data is the attribute");
}

#[test]
fn mp_reach_malformed_nlri_disables_the_family() {
    let attrs = [mp_reach_v6(&[129, 0]), attr(WK, 1, &[0]), attr(WK, 2, &[])].concat();
    let (family, code, _) = disable(decode_update(&IBGP, &[], &attrs, &[]));
    assert_eq!((family, code), (Family::IPV6_UNICAST, ErrorCode::Update(UpdateError::OptionalAttributeError)));
}

#[test]
fn mp_unreach_malformed_nlri_disables_the_family() {
    let (family, _, _) = disable(decode_update(&IBGP, &[], &attr(OPT, 15, &[0, 2, 1, 64, 0x20]), &[]));
    assert_eq!(family, Family::IPV6_UNICAST);
}

#[test]
fn mp_attribute_shorter_than_its_family_resets() {
    let (code, _) = reset(decode_update(&IBGP, &[], &attr(OPT, 15, &[0, 2]), &[]));
    assert_eq!(code, ErrorCode::Update(UpdateError::OptionalAttributeError));
}

#[test]
fn unrecognized_well_known_attribute_resets_with_the_attribute() {
    let unknown = attr(WK, 99, &[1, 2]);
    let (code, data) = reset(decode_update(&IBGP, &[], &with(&unknown), NLRI));
    assert_eq!(code, ErrorCode::Update(UpdateError::UnrecognizedWellKnownAttribute));
    assert_eq!(&data[..], &unknown[..]);
}

// --- UPDATE: treat-as-withdraw (RFC 7606 §7) ---

#[test]
fn origin_bad_length_or_value() {
    for value in [&[0u8, 0][..], &[3][..], &[][..]] {
        let attrs = [attr(WK, 1, value), attr(WK, 2, &[]), attr(WK, 3, &[192, 0, 2, 1])].concat();
        treat_as_withdraw(decode_update(&IBGP, &[], &attrs, NLRI).unwrap(), 1);
    }
}

#[test]
fn as_path_malformed_segments() {
    for path in [&[5u8, 1, 0, 0, 0, 1][..], &[2, 0][..], &[2, 2, 0, 0, 0, 1][..], &[2][..]] {
        let attrs = [attr(WK, 1, &[0]), attr(WK, 2, path), attr(WK, 3, &[192, 0, 2, 1])].concat();
        treat_as_withdraw(decode_update(&IBGP, &[], &attrs, NLRI).unwrap(), 2);
    }
}

#[test]
fn as_path_with_confederation_segment_from_external_peer() {
    let attrs = [attr(WK, 1, &[0]), attr(WK, 2, &[3, 1, 0, 0, 0xfd, 0xe9]), attr(WK, 3, &[192, 0, 2, 1])].concat();
    treat_as_withdraw(decode_update(&EBGP, &[], &attrs, NLRI).unwrap(), 2);
    assert!(decode_update(&IBGP, &[], &attrs, NLRI).unwrap().errors.is_empty());
}

#[test]
fn next_hop_bad_length() {
    let attrs = [attr(WK, 1, &[0]), attr(WK, 2, &[]), attr(WK, 3, &[192, 0, 2])].concat();
    treat_as_withdraw(decode_update(&IBGP, &[], &attrs, NLRI).unwrap(), 3);
}

#[test]
fn med_bad_length() {
    treat_as_withdraw(decode_update(&IBGP, &[], &with(&attr(OPT, 4, &[0, 0, 1])), NLRI).unwrap(), 4);
}

#[test]
fn local_pref_bad_length_from_internal_peer() {
    treat_as_withdraw(decode_update(&IBGP, &[], &with(&attr(WK, 5, &[0, 0, 0, 0, 100])), NLRI).unwrap(), 5);
}

#[test]
fn communities_bad_length() {
    for value in [&[0u8, 0, 1][..], &[][..]] {
        treat_as_withdraw(decode_update(&IBGP, &[], &with(&attr(OPT_T, 8, value)), NLRI).unwrap(), 8);
    }
}

#[test]
fn originator_id_bad_length() {
    treat_as_withdraw(decode_update(&IBGP, &[], &with(&attr(OPT, 9, &[10, 0, 0])), NLRI).unwrap(), 9);
}

#[test]
fn cluster_list_bad_length() {
    for value in [&[10u8, 0, 0, 1, 2][..], &[][..]] {
        treat_as_withdraw(decode_update(&IBGP, &[], &with(&attr(OPT, 10, value)), NLRI).unwrap(), 10);
    }
}

#[test]
fn extended_communities_bad_length() {
    treat_as_withdraw(decode_update(&IBGP, &[], &with(&attr(OPT_T, 16, &[0; 12])), NLRI).unwrap(), 16);
}

#[test]
fn large_community_bad_length() {
    treat_as_withdraw(decode_update(&IBGP, &[], &with(&attr(OPT_T, 32, &[0; 8])), NLRI).unwrap(), 32);
}

#[test]
fn well_known_attribute_with_optional_flag() {
    // RFC 7606 §3 c: ORIGIN marked optional.
    let attrs = [attr(OPT_T, 1, &[0]), attr(WK, 2, &[]), attr(WK, 3, &[192, 0, 2, 1])].concat();
    treat_as_withdraw(decode_update(&IBGP, &[], &attrs, NLRI).unwrap(), 1);
}

#[test]
fn optional_attribute_marked_well_known() {
    // MED without the optional bit.
    treat_as_withdraw(decode_update(&IBGP, &[], &with(&attr(WK, 4, &[0, 0, 0, 1])), NLRI).unwrap(), 4);
}

#[test]
fn mp_reach_with_wrong_flags_withdraws_its_nlri() {
    let mut reach = mp_reach_v6(V6_NLRI);
    reach[0] |= 0x40; // transitive
    mp_reach_withdrawn(&[reach, attr(WK, 1, &[0]), attr(WK, 2, &[])].concat(), 14);
}

/// The UPDATE decodes, and the IPv6 route of `mp_reach_v6(V6_NLRI)` in it is withdrawn
/// under treat-as-withdraw for `type_code`.
fn mp_reach_withdrawn(attrs: &[u8], type_code: u8) {
    let update = decode_update(&IBGP, &[], attrs, &[]).unwrap();
    let withdrawn: Vec<_> = update.withdrawals().map(|(f, n)| (f, n.prefix)).collect();
    assert_eq!(withdrawn, vec![(Family::IPV6_UNICAST, "2001:db8:1::/48".parse::<Prefix>().unwrap())]);
    treat_as_withdraw(update, type_code);
}

#[test]
fn missing_mandatory_attributes() {
    for (skip, code) in [(0usize, 1u8), (1, 2), (2, 3)] {
        let attrs: Vec<u8> = [attr(WK, 1, &[0]), attr(WK, 2, &[]), attr(WK, 3, &[192, 0, 2, 1])]
            .into_iter()
            .enumerate()
            .filter(|(i, _)| *i != skip)
            .flat_map(|(_, a)| a)
            .collect();
        treat_as_withdraw(decode_update(&IBGP, &[], &attrs, NLRI).unwrap(), code);
    }
    // NEXT_HOP is not needed when the routes travel in MP_REACH_NLRI (RFC 4760 §3).
    let attrs = [mp_reach_v6(V6_NLRI), attr(WK, 1, &[0]), attr(WK, 2, &[])].concat();
    assert!(decode_update(&IBGP, &[], &attrs, &[]).unwrap().errors.is_empty());
    // Nothing is needed for a pure withdrawal.
    assert!(decode_update(&IBGP, &[24, 10, 0, 0], &[], &[]).unwrap().errors.is_empty());
}

// --- UPDATE: attribute discard (RFC 7606 §7, RFC 6793 §6) ---

#[test]
fn local_pref_from_external_peer_is_discarded() {
    let u = decode_update(&EBGP, &[], &with(&attr(WK, 5, &[0, 0, 0, 100])), NLRI).unwrap();
    discarded(&u, 5);
    assert_eq!(u.attrs.local_pref, None);
}

#[test]
fn reflection_attributes_from_external_peer_are_discarded() {
    let extra = [attr(OPT, 9, &[10, 0, 0, 1]), attr(OPT, 10, &[10, 0, 0, 2])].concat();
    let u = decode_update(&EBGP, &[], &with(&extra), NLRI).unwrap();
    discarded(&u, 9);
    discarded(&u, 10);
    assert_eq!((u.attrs.originator_id, u.attrs.cluster_list.len()), (None, 0));
}

#[test]
fn atomic_aggregate_with_a_value_is_discarded() {
    let u = decode_update(&IBGP, &[], &with(&attr(WK, 6, &[1])), NLRI).unwrap();
    discarded(&u, 6);
    assert!(!u.attrs.atomic_aggregate);
}

#[test]
fn aggregator_of_the_wrong_size_is_discarded() {
    // 6 octets on a 4-octet session.
    let u = decode_update(&IBGP, &[], &with(&attr(OPT_T, 7, &[0xfd, 0xe9, 10, 0, 0, 1])), NLRI).unwrap();
    discarded(&u, 7);
    assert_eq!(u.attrs.aggregator, None);
}

fn old_mandatory(path: &[u8]) -> Vec<u8> {
    [attr(WK, 1, &[0]), attr(WK, 2, path), attr(WK, 3, &[192, 0, 2, 1])].concat()
}

#[test]
fn as4_path_malformed_is_discarded_and_as_path_stands() {
    let attrs = [old_mandatory(&[2, 1, 0x5b, 0xa0]), attr(OPT_T, 17, &[2, 2, 0, 0, 0, 1])].concat();
    let u = decode_update(&OLD, &[], &attrs, NLRI).unwrap();
    discarded(&u, 17);
    assert_eq!(u.attrs.as_path.unwrap().to_string(), "23456");
}

#[test]
fn as4_path_merges_on_a_2_octet_session() {
    let as4 = [2u8, 1, 0xfa, 0x56, 0xea, 0x01]; // 4200000001
    let attrs = [old_mandatory(&[2, 2, 0xfd, 0xe9, 0x5b, 0xa0]), attr(OPT_T, 17, &as4)].concat();
    let u = decode_update(&OLD, &[], &attrs, NLRI).unwrap();
    assert!(u.errors.is_empty());
    assert_eq!(u.attrs.as_path.unwrap().to_string(), "65001 4200000001");
}

#[test]
fn as4_attributes_on_a_4_octet_session_are_discarded() {
    let extra = [attr(OPT_T, 17, &[2, 1, 0, 0, 0, 1]), attr(OPT_T, 18, &[0, 0, 0, 1, 10, 0, 0, 1])].concat();
    let u = decode_update(&IBGP, &[], &with(&extra), NLRI).unwrap();
    discarded(&u, 17);
    discarded(&u, 18);
    assert_eq!(u.attrs.as_path.unwrap().to_string(), "65001");
}

#[test]
fn as4_aggregator_of_the_wrong_size_is_discarded() {
    let attrs = [old_mandatory(&[]), attr(OPT_T, 18, &[0, 0, 1, 10, 0, 0, 1])].concat();
    discarded(&decode_update(&OLD, &[], &attrs, NLRI).unwrap(), 18);
}

#[test]
fn repeated_attribute_keeps_the_first() {
    let extra = [attr(OPT, 4, &[0, 0, 0, 1]), attr(OPT, 4, &[0, 0, 0, 2])].concat();
    let u = decode_update(&IBGP, &[], &with(&extra), NLRI).unwrap();
    discarded(&u, 4);
    assert_eq!(u.attrs.med, Some(1));
}

#[test]
fn strongest_action_wins() {
    // RFC 7606 §3 f: a discard and a treat-as-withdraw in one UPDATE.
    let extra = [attr(WK, 6, &[1]), attr(OPT, 4, &[0])].concat();
    let u = decode_update(&IBGP, &[], &with(&extra), NLRI).unwrap();
    assert!(u.treat_as_withdraw());
    assert_eq!(u.announcements().count(), 0);
    assert_eq!(u.withdrawals().count(), 2);
}

#[test]
fn unknown_optional_attributes_are_kept_byte_exact() {
    let extra = [attr(OPT_T | 0x20, 99, &[1, 2, 3]), attr(OPT | 0x10, 100, &[4])].concat();
    let u = decode_update(&IBGP, &[], &with(&extra), NLRI).unwrap();
    assert!(u.errors.is_empty());
    let kept: Vec<_> = u.attrs.unknown.iter().map(|a| (a.flags, a.type_code, a.value.to_vec())).collect();
    assert_eq!(kept, vec![(0xe0, 99, vec![1, 2, 3]), (0x90, 100, vec![4])]);
}

// --- ROUTE-REFRESH (RFC 7313 §5) ---

#[test]
fn route_refresh_bad_length_carries_the_message() {
    let f = frame(5, &[0, 1, 0, 1, 0]);
    let e = decode_message(&f, &IBGP).unwrap_err();
    assert_eq!(e.notification().code, ErrorCode::RouteRefresh(RouteRefreshError::InvalidMessageLength));
    assert_eq!(e.notification().data, f);
}

#[test]
fn route_refresh_unknown_subtype_is_decoded_for_the_caller_to_ignore() {
    let Message::RouteRefresh(rr) = decode_message(&frame(5, &[0, 2, 7, 1]), &IBGP).unwrap() else { panic!() };
    assert_eq!((rr.family, rr.subtype), (Family::IPV6_UNICAST, RefreshSubtype::Other(7)));
}

// --- RFC 7606 §4: attribute lengths in conflict with the Total Path Attribute Length ---

#[test]
fn last_attribute_overrunning_the_block_is_treat_as_withdraw() {
    // COMMUNITIES claims 10 octets, 2 remain: the NLRI field is still where the Total
    // Path Attribute Length says, so its routes are withdrawn and the session stays.
    let u = decode_update(&IBGP, &[], &with(&[OPT_T, 8, 10, 0, 0]), NLRI).unwrap();
    assert_eq!(u.nlri.len(), 2);
    treat_as_withdraw(u, 8);
    // Also for the routes of an MP_REACH_NLRI found before it.
    mp_reach_withdrawn(&[mp_reach_v6(V6_NLRI), attr(WK, 1, &[0]), attr(WK, 2, &[]), vec![OPT_T, 8, 10, 0]].concat(), 8);
}

#[test]
fn too_few_octets_for_an_attribute_header_is_treat_as_withdraw() {
    // 1 or 2 octets left; 3 with the Extended Length bit (which needs 4).
    for tail in [&[OPT_T][..], &[OPT_T, 8], &[OPT_T | 0x10, 8, 0]] {
        let u = decode_update(&IBGP, &[], &with(tail), NLRI).unwrap();
        assert_eq!(u.nlri.len(), 2, "{tail:?}");
        assert!(u.treat_as_withdraw(), "{tail:?}: {:?}", u.errors);
        assert_eq!(u.announcements().count(), 0);
        assert_eq!(u.withdrawals().count(), 2);
    }
}

#[test]
fn mp_reach_overrunning_the_block_disables_its_family() {
    // Its NLRI cannot be located, so treat-as-withdraw is impossible (RFC 7606 §3 j);
    // RFC 4760 §7: AFI/SAFI disable, Optional Attribute Error with the attribute.
    let mut reach = mp_reach_v6(V6_NLRI);
    reach[3] += 5; // extended length, low octet
    let attrs = [attr(WK, 1, &[0]), attr(WK, 2, &[]), reach.clone()].concat();
    let (family, code, data) = disable(decode_update(&IBGP, &[], &attrs, &[]));
    assert_eq!(family, Family::IPV6_UNICAST);
    assert_eq!(code, ErrorCode::Update(UpdateError::OptionalAttributeError));
    assert_eq!(&data[..], &reach[..], "the data is the attribute as far as it goes");
    // Too short to name its family: session reset.
    let (code, _) = reset(decode_update(&IBGP, &[], &[attr(WK, 1, &[0]), vec![OPT, 15, 9, 0, 2]].concat(), &[]));
    assert_eq!(code, ErrorCode::Update(UpdateError::OptionalAttributeError));
}

// --- RFC 7606 §5.2: attributes but no reachable NLRI ---

#[test]
fn malformed_attribute_without_reachable_nlri_resets_with_the_rfc4271_error() {
    let withdrawn = &[24, 10, 0, 0];
    // ORIGIN of undefined value: Invalid ORIGIN Attribute, the data is the attribute.
    let origin = attr(WK, 1, &[7]);
    let (code, data) = reset(decode_update(&IBGP, withdrawn, &[origin.clone(), attr(WK, 2, &[])].concat(), &[]));
    assert_eq!((code, &data[..]), (ErrorCode::Update(UpdateError::InvalidOriginAttribute), &origin[..]));
    // Wrong length: Attribute Length Error with the attribute (RFC 4271 §6.3).
    let med = attr(OPT, 4, &[0, 1]);
    let (code, data) = reset(decode_update(&IBGP, withdrawn, &med, &[]));
    assert_eq!((code, &data[..]), (ErrorCode::Update(UpdateError::AttributeLengthError), &med[..]));
    // Wrong flags: Attribute Flags Error with the attribute.
    let lp = attr(OPT_T, 5, &[0, 0, 0, 1]);
    let (code, data) = reset(decode_update(&IBGP, withdrawn, &lp, &[]));
    assert_eq!((code, &data[..]), (ErrorCode::Update(UpdateError::AttributeFlagsError), &lp[..]));
    // Malformed AS_PATH (no data is specified).
    let (code, _) = reset(decode_update(&IBGP, withdrawn, &attr(WK, 2, &[2, 0]), &[]));
    assert_eq!(code, ErrorCode::Update(UpdateError::MalformedAsPath));
    // MP_REACH_NLRI without NLRI and without ORIGIN: Missing Well-known Attribute,
    // the data is the missing type code.
    let (code, data) = reset(decode_update(&IBGP, &[], &[mp_reach_v6(&[]), attr(WK, 2, &[])].concat(), &[]));
    assert_eq!((code, &data[..]), (ErrorCode::Update(UpdateError::MissingWellKnownAttribute), &[1u8][..]));
    // An overrunning last attribute: Attribute Length Error.
    let (code, _) = reset(decode_update(&IBGP, withdrawn, &[OPT_T, 8, 10, 0, 0], &[]));
    assert_eq!(code, ErrorCode::Update(UpdateError::AttributeLengthError));
    // Attribute discard stays attribute discard; MP_UNREACH_NLRI alone is no reason.
    discarded(&decode_update(&IBGP, withdrawn, &attr(WK, 6, &[1]), &[]).unwrap(), 6);
    let u = decode_update(&IBGP, &[], &[attr(OPT, 15, &[0, 2, 1]), attr(OPT, 15, &[0, 2, 1])].concat(), &[]);
    assert!(u.is_err(), "a repeated MP attribute is still Malformed Attribute List");
}

// --- RFC 7607: AS 0 ---

#[test]
fn as_path_with_as_zero_is_treat_as_withdraw() {
    for (ctx, path) in [
        (&IBGP, &[2u8, 2, 0, 0, 0xfd, 0xe9, 0, 0, 0, 0][..]), // sequence 65001 0
        (&IBGP, &[1, 1, 0, 0, 0, 0]),                         // set {0}
        (&IBGP, &[3, 1, 0, 0, 0, 0]),                         // confederation member 0
        (&OLD, &[2, 2, 0xfd, 0xe9, 0, 0]),                    // 2-octet session
    ] {
        let attrs = [attr(WK, 1, &[0]), attr(WK, 2, path), attr(WK, 3, &[192, 0, 2, 1])].concat();
        let u = decode_update(ctx, &[], &attrs, NLRI).unwrap();
        assert!(u.errors[0].reason.contains("AS 0"), "{:?}", u.errors);
        treat_as_withdraw(u, 2);
    }
}

#[test]
fn as4_path_with_as_zero_is_discarded() {
    // RFC 7607 §2 hands AS4_PATH to RFC 6793 §6: attribute discard, AS_PATH stands.
    let attrs = [old_mandatory(&[2, 2, 0xfd, 0xe9, 0x5b, 0xa0]), attr(OPT_T, 17, &[2, 1, 0, 0, 0, 0])].concat();
    let u = decode_update(&OLD, &[], &attrs, NLRI).unwrap();
    discarded(&u, 17);
    assert_eq!(u.attrs.as_path.unwrap().to_string(), "65001 23456");
}

#[test]
fn aggregator_with_as_zero_is_discarded() {
    // RFC 7607 §2 and RFC 7606 §7.7.
    let u = decode_update(&IBGP, &[], &with(&attr(OPT_T, 7, &[0, 0, 0, 0, 10, 0, 0, 1])), NLRI).unwrap();
    discarded(&u, 7);
    assert_eq!(u.attrs.aggregator, None);
    let attrs = [old_mandatory(&[2, 1, 0xfd, 0xe9]), attr(OPT_T, 7, &[0, 0, 10, 0, 0, 1])].concat();
    discarded(&decode_update(&OLD, &[], &attrs, NLRI).unwrap(), 7);
    // AS4_AGGREGATOR: RFC 6793 §6, attribute discard; AGGREGATOR stays AS_TRANS.
    let attrs = [
        old_mandatory(&[2, 1, 0xfd, 0xe9]),
        attr(OPT_T, 7, &[0x5b, 0xa0, 10, 0, 0, 1]),
        attr(OPT_T, 18, &[0, 0, 0, 0, 10, 0, 0, 1]),
    ]
    .concat();
    let u = decode_update(&OLD, &[], &attrs, NLRI).unwrap();
    discarded(&u, 18);
    assert_eq!(u.attrs.aggregator.unwrap().asn, 23456);
}

// --- RFC 4271 §6.3 / RFC 2545 / RFC 8950: next hops that are not host addresses ---

#[test]
fn next_hop_that_is_not_a_host_address_ignores_the_routes() {
    for bad in ["0.0.0.0", "0.1.2.3", "127.0.0.1", "224.0.0.5", "239.1.1.1", "240.0.0.1", "255.255.255.255"] {
        let nh: std::net::Ipv4Addr = bad.parse().unwrap();
        let attrs = [attr(WK, 1, &[0]), attr(WK, 2, &[]), attr(WK, 3, &nh.octets())].concat();
        let u = decode_update(&EBGP, &[], &attrs, NLRI).expect("no NOTIFICATION");
        assert!(u.errors[0].reason.contains(bad), "{:?}", u.errors);
        treat_as_withdraw(u, 3);
    }
    for good in ["1.0.0.1", "126.255.255.254", "128.0.0.1", "223.255.255.254"] {
        let nh: std::net::Ipv4Addr = good.parse().unwrap();
        let attrs = [attr(WK, 1, &[0]), attr(WK, 2, &[]), attr(WK, 3, &nh.octets())].concat();
        assert!(decode_update(&EBGP, &[], &attrs, NLRI).unwrap().errors.is_empty(), "{good}");
    }
    // RFC 4760 §3: without routes in the NLRI field NEXT_HOP is ignored.
    let attrs = [mp_reach_v6(V6_NLRI), attr(WK, 1, &[0]), attr(WK, 2, &[]), attr(WK, 3, &[0, 0, 0, 0])].concat();
    assert!(decode_update(&EBGP, &[], &attrs, &[]).unwrap().errors.is_empty());
}

fn mp_reach(afi: u8, safi: u8, next_hop: &[u8], nlri: &[u8]) -> Vec<u8> {
    let mut v = vec![0, afi, safi, next_hop.len() as u8];
    v.extend_from_slice(next_hop);
    v.push(0);
    v.extend_from_slice(nlri);
    attr(OPT | 0x10, 14, &v)
}

fn v6(a: &str) -> [u8; 16] {
    a.parse::<std::net::Ipv6Addr>().unwrap().octets()
}

#[test]
fn mp_reach_next_hop_that_cannot_be_used_ignores_the_routes() {
    let bad: [Vec<u8>; 6] = [
        v6("::").to_vec(),
        v6("::1").to_vec(),
        v6("ff02::5").to_vec(),
        v6("fe80::1").to_vec(), // link-local alone: RFC 2545 wants the global address
        [v6("::"), v6("fe80::1")].concat(),
        [v6("ff0e::1"), v6("fe80::1")].concat(),
    ];
    for nh in bad {
        let attrs = [mp_reach(2, 1, &nh, V6_NLRI), attr(WK, 1, &[0]), attr(WK, 2, &[])].concat();
        let u = decode_update(&EBGP, &[], &attrs, &[]).expect("no NOTIFICATION");
        treat_as_withdraw(u, 14);
    }
    for nh in [
        v6("2001:db8::1").to_vec(),
        [v6("2001:db8::1"), v6("fe80::1")].concat(),
        [v6("fe80::1"), v6("fe80::1")].concat(),
    ] {
        let attrs = [mp_reach(2, 1, &nh, V6_NLRI), attr(WK, 1, &[0]), attr(WK, 2, &[])].concat();
        assert!(decode_update(&EBGP, &[], &attrs, &[]).unwrap().errors.is_empty(), "{nh:?}");
    }
    // An IPv4 next hop in MP_REACH_NLRI (IPv4 multicast) gets the NEXT_HOP checks.
    let attrs = [mp_reach(1, 2, &[127, 0, 0, 1], &[24, 10, 0, 0]), attr(WK, 1, &[0]), attr(WK, 2, &[])].concat();
    treat_as_withdraw(decode_update(&EBGP, &[], &attrs, &[]).unwrap(), 14);
}

#[test]
fn ipv6_next_hop_for_ipv4_routes_needs_the_extended_next_hop_capability() {
    let attrs = [mp_reach(1, 1, &v6("2001:db8::1"), &[24, 10, 0, 0]), attr(WK, 1, &[0]), attr(WK, 2, &[])].concat();
    let u = decode_update(&EBGP, &[], &attrs, &[]).expect("no NOTIFICATION");
    assert!(u.errors[0].reason.contains("RFC 8950"), "{:?}", u.errors);
    treat_as_withdraw(u, 14);
    let enhe = CodecCtx { extended_next_hop: [Family::IPV4_UNICAST].into_iter().collect::<FamilySet>(), ..EBGP };
    let u = decode_update(&enhe, &[], &attrs, &[]).unwrap();
    assert!(u.errors.is_empty(), "{:?}", u.errors);
    assert_eq!(u.announcements().count(), 1);
}

// --- RFC 8654: message size ---

#[test]
fn long_message_without_extended_messages_is_bad_message_length() {
    // 5000 octets: an UPDATE withdrawing 1659 /16s.
    let withdrawn: Vec<u8> = (0..1659u16).flat_map(|i| [16, 10 + (i >> 8) as u8, i as u8]).collect();
    let f = frame(2, &update_body(&withdrawn, &[], &[]));
    assert_eq!(f.len(), 5000);
    let e = decode_message(&f, &IBGP).unwrap_err();
    assert_eq!(e.notification().code, ErrorCode::MessageHeader(MessageHeaderError::BadMessageLength));
    assert_eq!(&e.notification().data[..], &5000u16.to_be_bytes(), "the data is the Length field");
    let ext = CodecCtx { extended_message: true, ..IBGP };
    let Message::Update(u) = decode_message(&f, &ext).unwrap() else { panic!() };
    assert_eq!(u.withdrawn.len(), 1659);
}

// --- Bounded error records ---

#[test]
fn thousands_of_malformed_attributes_keep_a_few_errors_and_a_count() {
    // 500 repeats of MED (attribute discard) and a malformed ORIGIN at the very end:
    // a few records, the count, and the treat-as-withdraw not lost among them.
    let meds: Vec<u8> = (0..500).flat_map(|_| attr(OPT, 4, &[0, 0, 0, 1])).collect();
    let attrs = [attr(WK, 2, &[]), attr(WK, 3, &[192, 0, 2, 1]), meds, attr(WK, 1, &[9])].concat();
    let ext = CodecCtx { extended_message: true, ..IBGP };
    let u = decode_update(&ext, &[], &attrs, NLRI).unwrap();
    assert_eq!(u.errors.len(), MAX_KEPT_ERRORS);
    assert_eq!(u.error_count, 500);
    assert_eq!(u.attrs.med, Some(1));
    treat_as_withdraw(u, 1);
}
