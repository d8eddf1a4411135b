#!/usr/bin/env python3
"""Turn the pcaps written by run.sh into golden BGP test vectors.

For every TCP connection in every pcap listed in the manifest:
  * reassemble the byte stream of each direction (by TCP sequence number,
    retransmissions/overlaps dropped),
  * split it into BGP messages (16 x 0xff marker + 2-byte length),
  * work out what the session negotiated from the two OPEN messages
    (4-octet AS, extended messages, ADD-PATH per family, iBGP/eBGP),
  * decode each message just enough to name it and write a one-line note.
Then deduplicate (by sender implementation + bytes), pick at most MAX per
message type, and write open/update/notification/keepalive/route_refresh.toml.

stdlib only.  Usage: extract.py MANIFEST.jsonl OUTDIR
"""
import datetime
import ipaddress
import json
import os
import struct
import sys

MAX_PER_FILE = int(os.environ.get("MAX_PER_FILE", "40"))
MARKER = b"\xff" * 16
TYPES = {1: "open", 2: "update", 3: "notification", 4: "keepalive", 5: "route_refresh"}
FAM = {(1, 1): "ipv4-unicast", (2, 1): "ipv6-unicast"}


# ------------------------------------------------------------------ pcap
def read_pcap(path):
    """Yield (frame_no, ts, src, dst, sport, dport, seq, flags, payload)."""
    with open(path, "rb") as f:
        data = f.read()
    if len(data) < 24:
        return
    magic = data[:4]
    if magic in (b"\xd4\xc3\xb2\xa1", b"\x4d\x3c\xb2\xa1"):
        e = "<"
    elif magic in (b"\xa1\xb2\xc3\xd4", b"\xa1\xb2\x3c\x4d"):
        e = ">"
    else:
        raise SystemExit("%s: not a libpcap file (use tshark -F pcap)" % path)
    linktype = struct.unpack(e + "I", data[20:24])[0]
    off, frame = 24, 0
    while off + 16 <= len(data):
        ts_s, ts_u, incl, _orig = struct.unpack(e + "IIII", data[off:off + 16])
        pkt = data[off + 16:off + 16 + incl]
        off += 16 + incl
        frame += 1
        if linktype == 1:  # Ethernet
            etype, p = struct.unpack("!H", pkt[12:14])[0], 14
            while etype == 0x8100:
                etype, p = struct.unpack("!H", pkt[p + 2:p + 4])[0], p + 4
        elif linktype == 113:  # Linux cooked
            etype, p = struct.unpack("!H", pkt[14:16])[0], 16
        elif linktype == 276:  # Linux cooked v2
            etype, p = struct.unpack("!H", pkt[0:2])[0], 20
        else:
            continue
        if etype == 0x0800:
            ihl = (pkt[p] & 0x0F) * 4
            if pkt[p + 9] != 6:
                continue
            tot = struct.unpack("!H", pkt[p + 2:p + 4])[0]
            src = str(ipaddress.IPv4Address(pkt[p + 12:p + 16]))
            dst = str(ipaddress.IPv4Address(pkt[p + 16:p + 20]))
            t, end = p + ihl, p + tot
        elif etype == 0x86DD:
            if pkt[p + 6] != 6:  # no extension headers expected
                continue
            plen = struct.unpack("!H", pkt[p + 4:p + 6])[0]
            src = str(ipaddress.IPv6Address(pkt[p + 8:p + 24]))
            dst = str(ipaddress.IPv6Address(pkt[p + 24:p + 40]))
            t, end = p + 40, p + 40 + plen
        else:
            continue
        sport, dport, seq = struct.unpack("!HHI", pkt[t:t + 8])
        doff = (pkt[t + 12] >> 4) * 4
        flags = pkt[t + 13]
        yield frame, ts_s + ts_u / 1e6, src, dst, sport, dport, seq, flags, pkt[t + doff:end]


def connections(path):
    """Group segments into TCP connections; return list of connections,
    each {'dirs': {(src,sport,dst,dport): [segments]}, 'order': first frame}."""
    conns = []
    current = {}  # canonical 4-tuple -> conn
    for fr, ts, src, dst, sp, dp, seq, flags, pl in read_pcap(path):
        key = tuple(sorted([(src, sp), (dst, dp)]))
        syn = flags & 0x02 and not flags & 0x10
        if syn and key in current and current[key]["data_seen"]:
            del current[key]  # port reuse -> new connection
        c = current.get(key)
        if c is None:
            c = {"dirs": {}, "isn": {}, "first": fr, "data_seen": False}
            current[key] = c
            conns.append(c)
        d = (src, sp, dst, dp)
        if flags & 0x02:
            c["isn"][d] = (seq + 1) & 0xFFFFFFFF
        if pl:
            c["data_seen"] = True
            c["dirs"].setdefault(d, []).append((seq, fr, pl))
    return conns


def reassemble(segs, isn):
    """Return (bytes, [(offset_end, frame)]) for one direction."""
    if isn is None:
        isn = min(s for s, _, _ in segs)
    rel = sorted((((s - isn) & 0xFFFFFFFF), fr, pl) for s, fr, pl in segs)
    out = bytearray()
    marks = []  # byte offset (exclusive end) delivered by frame
    for r, fr, pl in rel:
        if r + len(pl) <= len(out):
            continue  # retransmission
        if r > len(out):
            sys.stderr.write("warning: gap in TCP stream at frame %d, stopping\n" % fr)
            break
        out += pl[len(out) - r:]
        marks.append((len(out), fr))
    return bytes(out), marks


def split_messages(stream, marks):
    msgs, off = [], 0
    while off + 19 <= len(stream):
        if stream[off:off + 16] != MARKER:
            sys.stderr.write("warning: bad marker at offset %d\n" % off)
            break
        ln = struct.unpack("!H", stream[off + 16:off + 18])[0]
        if ln < 19 or off + ln > len(stream):
            break
        end = off + ln
        frame = next(fr for e, fr in marks if e >= end)
        msgs.append((stream[off:end], frame))
        off = end
    return msgs


# ------------------------------------------------------------------ OPEN
def parse_open(m):
    body = m[19:]
    ver, my_as, hold = struct.unpack("!BHH", body[:5])
    bgp_id = str(ipaddress.IPv4Address(body[5:9]))
    optlen = body[9]
    params = body[10:10 + optlen]
    ext_params = False
    if optlen == 255 and len(params) > 0 and params[0] == 255:  # RFC 9072
        ext_params = True
        optlen = struct.unpack("!H", body[11:13])[0]
        params = body[13:13 + optlen]
    caps, nparams, i = [], 0, 0
    while i < len(params):
        if ext_params:
            ptype, plen = params[i], struct.unpack("!H", params[i + 1:i + 3])[0]
            pval, i = params[i + 3:i + 3 + plen], i + 3 + plen
        else:
            ptype, plen = params[i], params[i + 1]
            pval, i = params[i + 2:i + 2 + plen], i + 2 + plen
        nparams += 1
        if ptype != 2:
            caps.append((-ptype, pval))
            continue
        j = 0
        while j + 2 <= len(pval):
            code, clen = pval[j], pval[j + 1]
            caps.append((code, pval[j + 2:j + 2 + clen]))
            j += 2 + clen
    return {"version": ver, "as": my_as, "hold": hold, "id": bgp_id, "caps": caps,
            "nparams": nparams, "optlen": optlen}


def fam_name(afi, safi):
    return FAM.get((afi, safi), "afi%d-safi%d" % (afi, safi))


def cap_desc(code, v):
    if code == 1:
        return "MP(%s)" % fam_name(*struct.unpack("!HxB", v[:4]))
    if code == 2:
        return "ROUTE-REFRESH"
    if code == 128:
        return "ROUTE-REFRESH-OLD(128)"
    if code == 70:
        return "ENHANCED-ROUTE-REFRESH"
    if code == 65:
        return "AS4(%d)" % struct.unpack("!I", v[:4])[0]
    if code == 6:
        return "EXTENDED-MESSAGE"
    if code == 64:
        fl = struct.unpack("!H", v[:2])[0]
        bits = ("R" if fl & 0x8000 else "") + ("N" if fl & 0x4000 else "")
        fams = []
        for k in range(2, len(v) - 3, 4):
            afi, safi, ff = struct.unpack("!HBB", v[k:k + 4])
            fams.append("%s%s" % (fam_name(afi, safi), "+F" if ff & 0x80 else ""))
        return "GRACEFUL-RESTART(flags=%s time=%d %s)" % (bits or "-", fl & 0xFFF, " ".join(fams) or "no-afi")
    if code == 71:
        fams = []
        for k in range(0, len(v) - 6, 7):
            afi, safi, ff = struct.unpack("!HBB", v[k:k + 4])
            st = int.from_bytes(v[k + 4:k + 7], "big")
            fams.append("%s%s stale=%d" % (fam_name(afi, safi), "+F" if ff & 0x80 else "", st))
        return "LLGR(%s)" % ", ".join(fams)
    if code == 69:
        fams = []
        for k in range(0, len(v) - 3, 4):
            afi, safi, sr = struct.unpack("!HBB", v[k:k + 4])
            fams.append("%s %s" % (fam_name(afi, safi), {1: "rx", 2: "tx", 3: "rx+tx"}.get(sr, sr)))
        return "ADD-PATH(%s)" % ", ".join(fams)
    if code == 5:
        fams = []
        for k in range(0, len(v) - 5, 6):
            afi, safi, nh = struct.unpack("!HHH", v[k:k + 6])
            fams.append("%s nh-afi %d" % (fam_name(afi, safi), nh))
        return "EXTENDED-NEXTHOP(%s)" % ", ".join(fams)
    if code == 73:
        hl = v[0]
        dl = v[1 + hl] if len(v) > 1 + hl else 0
        return "FQDN(host=%r domain=%r)" % (v[1:1 + hl].decode(errors="replace"),
                                          v[2 + hl:2 + hl + dl].decode(errors="replace"))
    if code == 67:
        return "DYNAMIC"
    if code == 66:
        return "cap66(deprecated dynamic, empty)" if not v else "cap66(%s)" % v.hex()
    if code == 9:
        return "BGP-ROLE(%d)" % v[0]
    if code == 74:
        return "SOFTWARE-VERSION"
    if code < 0:
        return "non-capability optional parameter type %d" % -code
    return "cap%d(%s)" % (code, v.hex())


def addpath_caps(o):
    r = {}
    for code, v in o["caps"]:
        if code == 69:
            for k in range(0, len(v) - 3, 4):
                afi, safi, sr = struct.unpack("!HBB", v[k:k + 4])
                r[fam_name(afi, safi)] = sr
    return r


def session_info(open_a, open_b):
    """Negotiated properties for messages sent by a to b."""
    ca = {c for c, _ in open_a["caps"]}
    cb = {c for c, _ in open_b["caps"]}
    four = 65 in ca and 65 in cb

    def asn(o):
        for c, v in o["caps"]:
            if c == 65:
                return struct.unpack("!I", v[:4])[0]
        return o["as"]

    apa, apb = addpath_caps(open_a), addpath_caps(open_b)
    rx = sorted(f for f in apa if apa[f] & 2 and apb.get(f, 0) & 1
                and f in ("ipv4-unicast", "ipv6-unicast"))
    return {"four_octet_as": four, "extended_message": 6 in ca and 6 in cb,
            "add_path_rx": rx, "external": asn(open_a) != asn(open_b),
            "peer_as": asn(open_b)}


# ------------------------------------------------------------------ UPDATE
ATTR_NAMES = {1: "ORIGIN", 2: "AS_PATH", 3: "NEXT_HOP", 4: "MED", 5: "LOCAL_PREF",
              6: "ATOMIC_AGGREGATE", 7: "AGGREGATOR", 8: "COMMUNITIES",
              9: "ORIGINATOR_ID", 10: "CLUSTER_LIST", 14: "MP_REACH_NLRI",
              15: "MP_UNREACH_NLRI", 16: "EXTENDED_COMMUNITIES", 17: "AS4_PATH",
              18: "AS4_AGGREGATOR", 32: "LARGE_COMMUNITY", 35: "OTC"}
WELL_KNOWN_COMM = {0xFFFFFF01: "NO_EXPORT", 0xFFFFFF02: "NO_ADVERTISE",
                   0xFFFFFF03: "NO_EXPORT_SUBCONFED", 0xFFFF0006: "LLGR_STALE",
                   0xFFFF0007: "NO_LLGR", 0xFFFF0000: "GRACEFUL_SHUTDOWN"}


def parse_prefixes(b, afi, addpath):
    out, i = [], 0
    while i < len(b):
        pid = None
        if addpath:
            pid = struct.unpack("!I", b[i:i + 4])[0]
            i += 4
        plen = b[i]
        n = (plen + 7) // 8
        raw = b[i + 1:i + 1 + n]
        i += 1 + n
        if afi == 1:
            a = ipaddress.IPv4Address(raw + bytes(4 - n))
        else:
            a = ipaddress.IPv6Address(raw + bytes(16 - n))
        out.append(("%s/%d" % (a, plen)) + ("" if pid is None else " id=%d" % pid))
    return out


def as_path(v, width):
    segs, i = [], 0
    while i < len(v):
        t, n = v[i], v[i + 1]
        i += 2
        asns = [int.from_bytes(v[i + k * width:i + (k + 1) * width], "big") for k in range(n)]
        i += n * width
        s = " ".join(map(str, asns))
        segs.append({1: "{%s}", 2: "%s", 3: "(%s)", 4: "[%s]"}.get(t, "?%s").replace("%s", s))
    return " ".join(segs) if segs else "(empty)"


def ext_comm(v):
    out = []
    for k in range(0, len(v), 8):
        e = v[k:k + 8]
        t, st = e[0], e[1]
        name = {2: "RT", 3: "SoO"}.get(st, "type%02x:%02x" % (t, st))
        if t in (0x00, 0x40):
            out.append("%s:%d:%d" % (name, struct.unpack("!H", e[2:4])[0], struct.unpack("!I", e[4:8])[0]))
        elif t in (0x01, 0x41):
            out.append("%s:%s:%d" % (name, ipaddress.IPv4Address(e[2:6]), struct.unpack("!H", e[6:8])[0]))
        elif t in (0x02, 0x42):
            out.append("%s:%d:%d" % (name, struct.unpack("!I", e[2:6])[0], struct.unpack("!H", e[6:8])[0]))
        else:
            out.append("%s:%s" % (name, e[2:].hex()))
    return " ".join(out)


def decode_update(m, ctx):
    """Return (note, tags, facts) for an UPDATE."""
    body = m[19:]
    wl = struct.unpack("!H", body[:2])[0]
    withdrawn = body[2:2 + wl]
    al = struct.unpack("!H", body[2 + wl:4 + wl])[0]
    attrs = body[4 + wl:4 + wl + al]
    nlri = body[4 + wl + al:]
    ap4 = "ipv4-unicast" in ctx["add_path_rx"]
    ap6 = "ipv6-unicast" in ctx["add_path_rx"]
    width = 4 if ctx["four_octet_as"] else 2
    parts, tags, order, quirks = [], [], [], []
    if not withdrawn and not attrs and not nlri:
        return "End-of-RIB marker for ipv4-unicast (empty UPDATE)", ["eor", "ipv4"], {}
    i = 0
    while i < len(attrs):
        fl, code = attrs[i], attrs[i + 1]
        if fl & 0x10:
            ln, h = struct.unpack("!H", attrs[i + 2:i + 4])[0], 4
        else:
            ln, h = attrs[i + 2], 3
        v = attrs[i + h:i + h + ln]
        i += h + ln
        name = ATTR_NAMES.get(code, "ATTR%d" % code)
        order.append(str(code))
        if fl & 0x10 and ln < 256:
            quirks.append("%s ext-len flag with %d-byte value" % (name, ln))
        if fl & 0x20 and code not in (14, 15):
            quirks.append("%s partial bit" % name)
        if code == 1:
            parts.append("ORIGIN %s" % {0: "IGP", 1: "EGP", 2: "INCOMPLETE"}.get(v[0], v[0]))
        elif code == 2:
            p = as_path(v, width)
            parts.append("AS_PATH %s" % p)
            asns = p.replace("{", "").replace("}", "").split()
            if len(asns) != len(set(asns)):
                tags.append("prepend")
            if "{" in p:
                tags.append("as-set")
            if "23456" in p.split() or "{23456}" in p:
                tags.append("as-trans")
            if str(ctx.get("peer_as")) in p.split():
                tags.append("looped")  # receiver's own AS in the path
        elif code == 17:
            parts.append("AS4_PATH %s" % as_path(v, 4))
            tags.append("as4-path")
        elif code == 3:
            parts.append("NEXT_HOP %s" % ipaddress.IPv4Address(v))
        elif code == 4:
            parts.append("MED %d" % struct.unpack("!I", v)[0])
            tags.append("med")
        elif code == 5:
            parts.append("LOCAL_PREF %d" % struct.unpack("!I", v)[0])
            tags.append("local-pref")
        elif code == 6:
            parts.append("ATOMIC_AGGREGATE")
            tags.append("atomic-aggregate")
        elif code in (7, 18):
            aw = 4 if (code == 18 or ln == 8) else 2
            parts.append("%s %d %s" % (name, int.from_bytes(v[:aw], "big"), ipaddress.IPv4Address(v[aw:aw + 4])))
            tags.append("aggregator" if code == 7 else "as4-aggregator")
        elif code == 8:
            cs = []
            for k in range(0, len(v), 4):
                c = struct.unpack("!I", v[k:k + 4])[0]
                cs.append(WELL_KNOWN_COMM.get(c, "%d:%d" % (c >> 16, c & 0xFFFF)))
            parts.append("COMMUNITIES %s" % " ".join(cs))
            tags.append("communities")
        elif code == 9:
            parts.append("ORIGINATOR_ID %s" % ipaddress.IPv4Address(v))
            tags.append("originator-id")
        elif code == 10:
            parts.append("CLUSTER_LIST %s" % " ".join(str(ipaddress.IPv4Address(v[k:k + 4])) for k in range(0, len(v), 4)))
            tags.append("cluster-list")
        elif code == 16:
            parts.append("EXTENDED_COMMUNITIES %s" % ext_comm(v))
            tags.append("ext-communities")
        elif code == 32:
            parts.append("LARGE_COMMUNITY %s" % " ".join(
                "%d:%d:%d" % struct.unpack("!III", v[k:k + 12]) for k in range(0, len(v), 12)))
            tags.append("large-communities")
        elif code == 14:
            afi, safi, nhl = struct.unpack("!HBB", v[:4])
            nh = v[4:4 + nhl]
            fam = fam_name(afi, safi)
            if nhl in (16, 32):
                nhs = [str(ipaddress.IPv6Address(nh[k:k + 16])) for k in range(0, nhl, 16)]
            elif nhl == 4:
                nhs = [str(ipaddress.IPv4Address(nh))]
            else:
                nhs = [nh.hex()]
            snpa = v[4 + nhl]
            pfx = parse_prefixes(v[5 + nhl:], afi, ap4 if afi == 1 else ap6)
            parts.append("MP_REACH %s NH(%d bytes) %s, %d NLRI (%s)" % (
                fam, nhl, " + ".join(nhs), len(pfx), ", ".join(pfx)))
            tags.append("ipv4" if afi == 1 else "ipv6")
            if afi == 1 and nhl in (16, 32):
                tags.append("ipv6-nexthop")
            if nhl == 32:
                tags.append("ll-nexthop")
            if snpa:
                quirks.append("SNPA count %d" % snpa)
        elif code == 15:
            afi, safi = struct.unpack("!HB", v[:3])
            pfx = parse_prefixes(v[3:], afi, ap4 if afi == 1 else ap6)
            fam = fam_name(afi, safi)
            if not pfx:
                parts.append("MP_UNREACH %s empty = End-of-RIB" % fam)
                tags += ["eor", "ipv4" if afi == 1 else "ipv6"]
            else:
                parts.append("MP_UNREACH %s withdraws %d (%s)" % (fam, len(pfx), ", ".join(pfx)))
                tags += ["withdraw", "ipv4" if afi == 1 else "ipv6"]
        else:
            parts.append("%s len %d flags 0x%02x" % (name, ln, fl))
            tags.append("attr%d" % code)
    pre = []
    if withdrawn:
        w = parse_prefixes(withdrawn, 1, ap4)
        pre.append("withdrawn %d (%s)" % (len(w), ", ".join(w)))
        tags += ["withdraw", "ipv4"]
    if nlri:
        n = parse_prefixes(nlri, 1, ap4)
        parts.append("%d NLRI (%s)" % (len(n), ", ".join(n)))
        tags.append("ipv4")
    if ctx["add_path_rx"] and (nlri or withdrawn or "MP_" in " ".join(parts)):
        tags.append("addpath")
    note = ", ".join(pre + parts)
    if order:
        note += "; attr order " + ",".join(order)
    if quirks:
        note += "; " + "; ".join(quirks)
    return note, tags, {"order": order, "quirks": quirks}


# ------------------------------------------------------------------ others
NOTIF = {(1, 0): "Message Header Error", (2, 0): "OPEN Message Error",
         (2, 2): "OPEN Message Error / Bad Peer AS", (2, 7): "OPEN Message Error / Unsupported Capability",
         (4, 0): "Hold Timer Expired", (6, 1): "Cease / Maximum Number of Prefixes Reached",
         (6, 2): "Cease / Administrative Shutdown", (6, 3): "Cease / Peer De-configured",
         (6, 4): "Cease / Administrative Reset", (6, 5): "Cease / Connection Rejected",
         (6, 6): "Cease / Other Configuration Change", (6, 7): "Cease / Connection Collision Resolution",
         (6, 8): "Cease / Out of Resources", (6, 9): "Cease / Hard Reset",
         (6, 10): "Cease / BFD Down", (5, 0): "FSM Error", (3, 0): "UPDATE Message Error"}


def decode_notification(m):
    code, sub = m[19], m[20]
    data = m[21:]
    s = "%s (%d/%d)" % (NOTIF.get((code, sub), NOTIF.get((code, 0), "code %d" % code)), code, sub)
    tags = [{1: "header", 2: "open-error", 3: "update-error", 4: "hold-timer-expired",
             5: "fsm-error", 6: "cease"}.get(code, "code%d" % code)]
    tags.append({(2, 2): "bad-peer-as", (6, 2): "admin-shutdown", (6, 3): "peer-deconfigured",
                 (6, 4): "admin-reset", (6, 9): "hard-reset", (6, 6): "config-change",
                 (6, 7): "collision"}.get((code, sub), "sub%d" % sub if sub else ""))
    if code == 6 and sub in (2, 4) and data:
        ln = data[0]
        s += ", shutdown communication %d bytes %r" % (ln, data[1:1 + ln].decode(errors="replace"))
        tags.append("message")
        if len(data) > 1 + ln:
            s += " + %d trailing bytes" % (len(data) - 1 - ln)
    elif code == 6 and sub == 9 and len(data) >= 2:
        inner = (data[0], data[1])
        s += " wrapping %s (%d/%d)" % (NOTIF.get(inner, "?"), inner[0], inner[1])
        tags.append({(6, 2): "admin-shutdown", (6, 4): "admin-reset", (6, 3): "peer-deconfigured",
                     (6, 6): "config-change"}.get(inner, "inner-%d-%d" % inner))
        idata = data[2:]
        if inner[0] == 6 and inner[1] in (2, 4) and idata:
            s += ", shutdown communication %r" % idata[1:1 + idata[0]].decode(errors="replace")
            tags.append("message")
        elif idata:
            s += ", inner data %s" % idata.hex()
    elif (code, sub) == (2, 2) and len(data) in (2, 4):
        s += ", data %s (= %d as a %d-octet AS)" % (data.hex(), int.from_bytes(data, "big"), len(data))
    elif data:
        s += ", data %s" % data.hex()
    else:
        s += ", no data"
    return s, [t for t in tags if t]


def decode_rr(m):
    afi, sub, safi = struct.unpack("!HBB", m[19:23])
    kind = {0: "normal request", 1: "BoRR (begin of route refresh)", 2: "EoRR (end of route refresh)"}.get(sub, "subtype %d" % sub)
    tags = [fam_name(afi, safi).split("-")[0], {0: "request", 1: "borr", 2: "eorr"}.get(sub, "sub%d" % sub)]
    return "ROUTE-REFRESH %s, %s" % (fam_name(afi, safi), kind), tags


def decode_open(m):
    o = parse_open(m)
    caps = [cap_desc(c, v) for c, v in o["caps"]]
    layout = "%d optional parameter(s), %d bytes" % (o["nparams"], o["optlen"])
    note = "version %d, My AS %d, hold %d, BGP ID %s; %s; caps: %s" % (
        o["version"], o["as"], o["hold"], o["id"], layout, ", ".join(caps))
    codes = [c for c, _ in o["caps"]]
    tags = []
    ap = addpath_caps(o)
    if any(v & 2 for v in ap.values()):
        tags.append("addpath-tx")
    elif ap:
        tags.append("addpath-rx")
    if 5 in codes:
        tags.append("extended-nexthop")
    if 71 in codes:
        tags.append("llgr")
    if 64 in codes:
        tags.append("gr")
    if 65 not in codes:
        tags.append("no-as4")
    elif o["as"] == 23456:
        tags.append("as-trans")
    return note, tags


# ------------------------------------------------------------------ main
def impl_short(s):
    return s.split()[0].lower()


def main():
    manifest, outdir = sys.argv[1], sys.argv[2]
    entries = [json.loads(l) for l in open(manifest) if l.strip()]
    frr_ver, bird_ver = os.environ.get("FRR_VER", "FRR ?"), os.environ.get("BIRD_VER", "BIRD ?")
    allmsgs = []
    for e in entries:
        if not os.path.exists(e["pcap"]):
            sys.stderr.write("missing %s\n" % e["pcap"])
            continue
        impl = e["impl"]
        for c in connections(e["pcap"]):
            dirs = {}
            opens = {}
            for d, segs in c["dirs"].items():
                stream, marks = reassemble(segs, c["isn"].get(d))
                msgs = split_messages(stream, marks)
                dirs[d] = msgs
                for m, fr in msgs:
                    if m[18] == 1:
                        opens[d] = parse_open(m)
                        break
            for d, msgs in dirs.items():
                rev = (d[2], d[3], d[0], d[1])
                if d in opens and rev in opens:
                    ctx = session_info(opens[d], opens[rev])
                else:
                    ctx = {"four_octet_as": False, "extended_message": False,
                           "add_path_rx": [], "external": True, "incomplete": True}
                    if d in opens:
                        # Only one OPEN seen: judge eBGP by configured impl map
                        ctx["four_octet_as"] = any(cc == 65 for cc, _ in opens[d]["caps"])
                for idx, (m, fr) in enumerate(msgs):
                    allmsgs.append({
                        "bytes": m, "frame": fr, "index": idx + 1, "scenario": e["scenario"],
                        "link": e["link"], "sender": impl.get(d[0], d[0]),
                        "receiver": impl.get(d[2], d[2]), "src": "%s:%d" % (d[0], d[1]),
                        "dst": "%s:%d" % (d[2], d[3]), "ctx": ctx, "conn_first": c["first"],
                        "pcap": os.path.basename(e["pcap"])})
    sys.stderr.write("%d BGP messages in %d pcaps\n" % (len(allmsgs), len(entries)))

    groups = {t: [] for t in TYPES.values()}
    seen = set()
    for msg in allmsgs:
        m, ctx = msg["bytes"], msg["ctx"]
        t = TYPES.get(m[18])
        if t is None:
            continue
        key = (msg["sender"], m)
        if key in seen:
            continue
        seen.add(key)
        if t == "open":
            note, tags = decode_open(m)
        elif t == "update":
            note, tags, _ = decode_update(m, ctx)
        elif t == "notification":
            note, tags = decode_notification(m)
        elif t == "route_refresh":
            note, tags = decode_rr(m)
        else:
            note, tags = "KEEPALIVE (header only, 19 bytes)", []
        msg["note"], msg["tags"] = note, tags
        groups[t].append(msg)

    os.makedirs(outdir, exist_ok=True)
    today = datetime.date.today().isoformat()
    for t, msgs in groups.items():
        chosen = select(msgs)
        names = set()
        lines = ["# Captured by interop/capture-vectors/run.sh on %s, %s, %s." % (today, frr_ver, bird_ver),
                 "# Generated file: re-run the script instead of editing by hand.", ""]
        for msg in chosen:
            name = make_name(msg, t, names)
            ctx = msg["ctx"]
            lines += [
                "[[vector]]",
                "name = %s" % q(name),
                "sender = %s" % q(msg["sender"]),
                "receiver = %s" % q(msg["receiver"]),
                "capture = %s" % q("scenario %s, %s, frame %d (message %d of %s -> %s)" % (
                    msg["scenario"], msg["pcap"], msg["frame"], msg["index"], msg["src"], msg["dst"])),
                "four_octet_as = %s" % str(ctx["four_octet_as"]).lower(),
                "extended_message = %s" % str(ctx["extended_message"]).lower(),
                "add_path_rx = [%s]" % ", ".join(q(f) for f in ctx["add_path_rx"]),
                "external = %s" % str(ctx["external"]).lower(),
                "note = %s" % q(msg["note"]),
                "hex = %s" % q(msg["bytes"].hex()),
                ""]
        with open(os.path.join(outdir, t + ".toml"), "w") as f:
            f.write("\n".join(lines))
        sys.stderr.write("%-14s %3d unique, %3d written\n" % (t, len(msgs), len(chosen)))


def q(s):
    return json.dumps(s, ensure_ascii=False)  # valid TOML basic string


def features(msg):
    if "looped" in msg["tags"]:
        return {}  # route echoed back to the AS it came from: filler only
    snd, sc = impl_short(msg["sender"]), msg["scenario"]
    f = {("st", snd, t): 4 for t in msg["tags"]}
    f[("ss", snd, sc)] = 3
    f[("link", msg["src"].rsplit(":", 1)[0], msg["dst"].rsplit(":", 1)[0])] = 2
    fams = [t for t in msg["tags"] if t in ("ipv4", "ipv6")]
    for t in msg["tags"]:
        f[("sst", snd, sc, t)] = 1
        for fam in fams:
            f[("sft", snd, fam, t)] = 2
            f[("ssft", snd, sc, fam, t)] = 1
    return f


def select(msgs):
    """Greedy coverage: repeatedly take the message that adds the most
    not-yet-covered (sender, feature-tag), (sender, scenario), link and
    (sender, scenario, tag) features; ties go to the earlier capture.
    Fill the rest up to MAX_PER_FILE in capture order. Output in capture order."""
    if len(msgs) <= MAX_PER_FILE:
        return msgs
    covered, chosen, left = set(), [], list(msgs)
    feats = {id(m): features(m) for m in msgs}
    while left and len(chosen) < MAX_PER_FILE:
        best, gain = None, 0
        for m in left:
            g = sum(w for k, w in feats[id(m)].items() if k not in covered)
            if g > gain:
                best, gain = m, g
        if best is None:
            break
        chosen.append(best)
        left.remove(best)
        covered.update(feats[id(best)])
    left.sort(key=lambda m: "looped" in m["tags"])  # stable: capture order otherwise
    chosen += left[:MAX_PER_FILE - len(chosen)]
    order = {id(m): i for i, m in enumerate(msgs)}
    return sorted(chosen, key=lambda m: order[id(m)])


def make_name(msg, t, names):
    base = [impl_short(msg["sender"]), t.replace("_", "-"), msg["scenario"]]
    base += [x for x in dict.fromkeys(msg["tags"]) if x and x != "looped"]
    if t == "open" and msg["ctx"].get("incomplete"):
        base.append("unanswered")
    name = "-".join(base).lower().replace("_", "-")
    n, k = name, 2
    while n in names:
        n = "%s-%d" % (name, k)
        k += 1
    names.add(n)
    return n


if __name__ == "__main__":
    main()
