#!/bin/bash
# Capture real BGP messages exchanged by FRR (bgpd) and BIRD 2 inside Linux
# network namespaces and turn them into golden test vectors
# (bgp-core/tests/vectors/*.toml).
#
# Usage (as root):  interop/capture-vectors/run.sh [scenario ...]
#   scenarios: ebgp-v4 addpath v6-transport ibgp-rr as2   (default: all)
# Environment:
#   WORK=/tmp/vcap-work   scratch dir (configs, logs, pcaps); wiped on start
#   OUT=<repo>/bgp-core/tests/vectors   where the .toml files are written
#   NO_EXTRACT=1          only capture, do not (re)write the vector files
#
# Only namespaces named vcap-* are created; every daemon/tshark started here
# is killed by PID and every namespace deleted on exit (also on error/^C).
# Nothing here contains or derives from FRR/BIRD source code: we only record
# the bytes the daemons put on the wire.
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
OUT=${OUT:-$REPO/bgp-core/tests/vectors}
W=${WORK:-/tmp/vcap-work}
BGPD=/usr/lib/frr/bgpd
ZEBRA=/usr/lib/frr/zebra

FRR_VER="FRR $($BGPD --version 2>/dev/null | head -1 | awk '{print $3}')"
BIRD_VER="BIRD $(bird --version 2>&1 | awk '{print $3}')"
export FRR_VER BIRD_VER

PIDS=()     # every process we started
NSS=()      # every namespace we created

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# ---------------------------------------------------------------- cleanup
kill_pid() {  # kill_pid PID [timeout]  -- TERM, wait, then KILL
  local p=$1 t=${2:-10} i
  kill -0 "$p" 2>/dev/null || return 0
  kill -CONT "$p" 2>/dev/null
  kill -TERM "$p" 2>/dev/null
  for ((i = 0; i < t * 10; i++)); do
    kill -0 "$p" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -KILL "$p" 2>/dev/null
}
stop_all() {
  local p n
  for p in "${PIDS[@]}"; do kill_pid "$p" 5; done
  PIDS=()
  for n in "${NSS[@]}"; do ip netns del "$n" 2>/dev/null; done
  NSS=()
}
trap 'stop_all' EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- helpers
wait_for() {  # wait_for TIMEOUT_S DESCRIPTION CMD... -- poll CMD until it succeeds
  local t=$1 d=$2 i; shift 2
  for ((i = 0; i < t * 2; i++)); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.5
  done
  log "TIMEOUT (${t}s) waiting for: $d"
  return 1
}

mkns() {
  local n=$1
  ip netns del "$n" 2>/dev/null
  ip netns add "$n"
  NSS+=("$n")
  ip -n "$n" link set lo up
  ip netns exec "$n" sysctl -qw net.ipv6.conf.all.accept_dad=0 \
    net.ipv6.conf.default.accept_dad=0 net.ipv6.conf.all.forwarding=1 \
    net.ipv4.ip_forward=1
}

veth() {  # veth NS1 IF1 NS2 IF2
  ip link add "$2" netns "$1" type veth peer name "$4" netns "$3"
  ip -n "$1" link set "$2" up
  ip -n "$3" link set "$4" up
}

addr() {  # addr NS IF ADDR/LEN...
  local ns=$1 ifc=$2 a; shift 2
  for a in "$@"; do ip -n "$ns" addr add "$a" dev "$ifc" nodad 2>/dev/null ||
    ip -n "$ns" addr add "$a" dev "$ifc"; done
}

render() {  # render TEMPLATE OUTFILE
  sed -e "s|@W@|$W|g" "$HERE/$1" >"$2"
}

start_frr() {  # start_frr NAME NS TEMPLATE   (zebra + bgpd, private sockets)
  local name=$1 ns=$2 d=$W/$1
  mkdir -p "$d" && chmod 777 "$d"
  render "$3" "$d/bgpd.conf"
  printf 'hostname %s\nlog file %s/zebra.log\n' "$name" "$d" >"$d/zebra.conf"
  chmod 644 "$d"/*.conf
  ip netns exec "$ns" "$ZEBRA" -f "$d/zebra.conf" -i "$d/zebra.pid" \
    -z "$d/zserv.api" --vty_socket "$d" >"$d/zebra.out" 2>&1 &
  PIDS+=($!)
  wait_for 15 "zebra $name socket" test -S "$d/zserv.api" || return 1
  ip netns exec "$ns" "$BGPD" -f "$d/bgpd.conf" -n -i "$d/bgpd.pid" \
    -z "$d/zserv.api" --vty_socket "$d" >"$d/bgpd.out" 2>&1 &
  PIDS+=($!)
  eval "PID_$(echo "$name" | tr -c 'a-zA-Z0-9\n' _)=$!"
  wait_for 15 "bgpd $name vty" test -S "$d/bgpd.vty" || return 1
  if grep -q "No such command" "$d/bgpd.log" 2>/dev/null; then
    log "WARNING: $name config lines rejected:"; grep "No such command" "$d/bgpd.log" >&2
  fi
}

vty() {  # vty NAME -c CMD [-c CMD ...]
  local name=$1; shift
  timeout 15 vtysh --vty_socket "$W/$name" -d bgpd "$@"
}
vtyconf() {  # vtyconf NAME LINE... (run lines in config mode)
  local name=$1 args=(-c "configure terminal") l; shift
  for l in "$@"; do args+=(-c "$l"); done
  vty "$name" "${args[@]}"
}
frr_established() {  # frr_established NAME PEER
  vty "$1" -c "show bgp neighbors $2" | grep -q "BGP state = Established"
}

start_bird() {  # start_bird NAME NS TEMPLATE
  local name=$1 ns=$2 d=$W/$1
  mkdir -p "$d" && chmod 777 "$d"
  render "$3" "$d/bird.conf"
  bird -p -c "$d/bird.conf" || { log "bird config $3 invalid"; return 1; }
  ip netns exec "$ns" bird -f -c "$d/bird.conf" -s "$d/bird.ctl" \
    -P "$d/bird.pid" >"$d/bird.out" 2>&1 &
  PIDS+=($!)
  eval "PID_$(echo "$name" | tr -c 'a-zA-Z0-9\n' _)=$!"
  wait_for 15 "bird $name socket" test -S "$d/bird.ctl"
}
bc() {  # bc NAME birdc-args...
  local name=$1; shift
  timeout 15 birdc -s "$W/$name/bird.ctl" "$@"
}
bird_established() {  # bird_established NAME PROTO
  bc "$1" show protocols "$2" | grep -q Established
}

cap_start() {  # cap_start NS IF PCAPNAME
  local f=$W/pcap/$3
  mkdir -p "$W/pcap"; chmod 777 "$W/pcap"
  ip netns exec "$1" tshark -i "$2" -f 'tcp port 179' -F pcap -w "$f" -q \
    >"$f.log" 2>&1 &
  PIDS+=($!)
  CAPS+=($!)
  wait_for 20 "tshark on $1/$2" grep -q "Capturing on" "$f.log"
}
cap_stop_all() {
  local p
  sleep 1
  for p in "${CAPS[@]}"; do
    kill -INT "$p" 2>/dev/null
  done
  for p in "${CAPS[@]}"; do kill_pid "$p" 10; done
  CAPS=()
}

manifest() {  # manifest SCENARIO PCAPNAME LINK_DESCRIPTION ADDR=IMPL...
  local s=$1 p=$2 l=$3 m="" a; shift 3
  for a in "$@"; do m+="\"${a%%=*}\": \"${a#*=}\", "; done
  printf '{"scenario": "%s", "pcap": "%s", "link": "%s", "impl": {%s}}\n' \
    "$s" "$W/pcap/$p" "$l" "${m%, }" >>"$W/manifest.jsonl"
}

end_scenario() {
  local p
  # stop daemons first (their shutdown NOTIFICATIONs get captured), then tshark
  for p in "${PIDS[@]}"; do
    case " ${CAPS[*]} " in *" $p "*) continue ;; esac
    kill_pid "$p" 10
  done
  cap_stop_all
  stop_all
}

# ---------------------------------------------------------------- scenarios
# Scenario ebgp-v4: FRR AS65001 (vcap-frr, 10.0.1.1) <-> BIRD AS65002
# (vcap-bird, 10.0.1.2), IPv4 transport, IPv4+IPv6 unicast.
est1() { bird_established bird1 frr && frr_established frr1 10.0.1.2; }
reest1() {  # give the reset time to happen, then wait for both sides
  sleep 3
  wait_for 60 "ebgp-v4 re-established" est1
}
scenario_ebgp_v4() {
  local S=ebgp-v4
  log "== scenario $S"
  mkns vcap-frr; mkns vcap-bird
  veth vcap-frr vf0 vcap-bird vb0
  addr vcap-frr vf0 10.0.1.1/24 10.0.5.1/24 fd00:1::1/64
  addr vcap-bird vb0 10.0.1.2/24 10.0.5.2/24 fd00:1::2/64
  cap_start vcap-frr vf0 $S.pcap
  manifest $S $S.pcap "FRR-BIRD link" "10.0.1.1=$FRR_VER" "10.0.1.2=$BIRD_VER" \
    "10.0.5.1=$FRR_VER" "10.0.5.2=$BIRD_VER"
  start_frr frr1 vcap-frr ebgp-v4.frr.conf || return 1
  start_bird bird1 vcap-bird ebgp-v4.bird.conf || return 1
  wait_for 60 "ebgp-v4 established" est1 || return 1
  sleep 8   # initial UPDATEs, End-of-RIB, KEEPALIVEs, Bad Peer AS attempts
  log "$S: stop the Bad Peer AS session"
  bc bird1 disable badas >/dev/null
  vtyconf frr1 "router bgp 65001" "neighbor 10.0.5.2 shutdown" >/dev/null

  log "$S: withdrawals"
  vtyconf frr1 "router bgp 65001" "address-family ipv4 unicast" \
    "no network 10.24.0.0/24" "exit-address-family" \
    "address-family ipv6 unicast" "no network fd00:24::/48" >/dev/null
  bc bird1 disable s4w >/dev/null
  bc bird1 disable s6w >/dev/null
  sleep 4

  log "$S: route refresh (FRR soft in, then BIRD reload in)"
  vty frr1 -c "clear bgp ipv4 unicast 10.0.1.2 soft in" >/dev/null
  sleep 1
  vty frr1 -c "clear bgp ipv6 unicast 10.0.1.2 soft in" >/dev/null
  sleep 3
  bc bird1 reload in frr >/dev/null
  sleep 4

  log "$S: FRR admin shutdown with message"
  vtyconf frr1 "router bgp 65001" \
    "neighbor 10.0.1.2 shutdown message maintenance window (FRR)" >/dev/null
  sleep 3
  vtyconf frr1 "router bgp 65001" "no neighbor 10.0.1.2 shutdown" >/dev/null
  reest1
  sleep 4

  log "$S: BIRD admin shutdown with message"
  bc bird1 disable frr '"maintenance window (BIRD)"' >/dev/null
  sleep 3
  bc bird1 enable frr >/dev/null
  reest1
  sleep 4

  log "$S: FRR clear bgp (admin reset)"
  vty frr1 -c "clear bgp 10.0.1.2" >/dev/null
  sleep 2
  reest1
  sleep 4

  log "$S: BIRD restart (admin reset)"
  bc bird1 restart frr >/dev/null
  sleep 2
  reest1
  sleep 4

  log "$S: hold timer expiry (BIRD frozen, FRR times out)"
  kill -STOP "$PID_bird1"; sleep 14; kill -CONT "$PID_bird1"
  reest1
  sleep 4
  log "$S: hold timer expiry (FRR frozen, BIRD times out)"
  kill -STOP "$PID_frr1"; sleep 14; kill -CONT "$PID_frr1"
  reest1
  sleep 4
  end_scenario
}

# Scenario addpath: FRR (vcap-frr, 10.0.2.1) <-> BIRD (vcap-bird, 10.0.2.2),
# IPv4 transport, every optional capability on, ADD-PATH send+receive.
est2() { bird_established bird2 frr && frr_established frr2 10.0.2.2; }
scenario_addpath() {
  local S=addpath
  log "== scenario $S"
  mkns vcap-frr; mkns vcap-bird
  veth vcap-frr vf0 vcap-bird vb0
  addr vcap-frr vf0 10.0.2.1/24 fd00:2::1/64
  addr vcap-bird vb0 10.0.2.2/24 fd00:2::2/64
  cap_start vcap-frr vf0 $S.pcap
  manifest $S $S.pcap "FRR-BIRD link" "10.0.2.1=$FRR_VER" "10.0.2.2=$BIRD_VER"
  start_frr frr2 vcap-frr addpath.frr.conf || return 1
  start_bird bird2 vcap-bird addpath.bird.conf || return 1
  wait_for 60 "$S established" est2 || return 1
  sleep 6
  log "$S: withdraw one of two paths on BIRD, one prefix on FRR"
  bc bird2 disable sb4 >/dev/null
  bc bird2 disable sb6 >/dev/null
  vtyconf frr2 "router bgp 65001" "address-family ipv4 unicast" \
    "no network 10.50.2.0/24" >/dev/null
  sleep 4
  log "$S: enhanced route refresh both ways"
  vty frr2 -c "clear bgp ipv4 unicast 10.0.2.2 soft in" >/dev/null
  sleep 3
  bc bird2 reload in frr >/dev/null
  sleep 4
}

# Scenario v6-transport: FRR (fd00:3::1) <-> BIRD (fd00:3::2), IPv6-only link.
est3() { bird_established bird3 frr && frr_established frr3 fd00:3::2; }
scenario_v6_transport() {
  local S=v6-transport
  log "== scenario $S"
  mkns vcap-frr; mkns vcap-bird
  veth vcap-frr vf0 vcap-bird vb0
  addr vcap-frr vf0 fd00:3::1/64
  addr vcap-bird vb0 fd00:3::2/64
  cap_start vcap-frr vf0 $S.pcap
  manifest $S $S.pcap "FRR-BIRD link" "fd00:3::1=$FRR_VER" "fd00:3::2=$BIRD_VER"
  start_frr frr3 vcap-frr v6-transport.frr.conf || return 1
  start_bird bird3 vcap-bird v6-transport.bird.conf || return 1
  wait_for 60 "$S established" est3 || return 1
  sleep 6
  log "$S: withdrawals"
  vtyconf frr3 "router bgp 65001" "address-family ipv4 unicast" \
    "no network 10.30.2.0/24" >/dev/null
  sleep 4
}

# Scenario ibgp-rr: FRR route reflector (vcap-rr, AS 65000) with a BIRD
# client (vcap-c1, 10.0.4.2) and an FRR client (vcap-c2, 10.0.5.2).
est4() {
  bird_established rrb reflector && frr_established rr 10.0.5.2 &&
    frr_established rr 10.0.4.2
}
scenario_ibgp_rr() {
  local S=ibgp-rr
  log "== scenario $S"
  mkns vcap-rr; mkns vcap-c1; mkns vcap-c2
  veth vcap-rr r1 vcap-c1 c1e
  veth vcap-rr r2 vcap-c2 c2e
  addr vcap-rr r1 10.0.4.1/24; addr vcap-c1 c1e 10.0.4.2/24
  addr vcap-rr r2 10.0.5.1/24; addr vcap-c2 c2e 10.0.5.2/24
  cap_start vcap-rr r1 $S-bird.pcap
  cap_start vcap-rr r2 $S-frr.pcap
  manifest $S $S-bird.pcap "RR-BIRD client link" "10.0.4.1=$FRR_VER" "10.0.4.2=$BIRD_VER"
  manifest $S $S-frr.pcap "RR-FRR client link" "10.0.5.1=$FRR_VER" "10.0.5.2=$FRR_VER"
  start_frr rr vcap-rr ibgp-rr.rr.frr.conf || return 1
  start_frr rrc vcap-c2 ibgp-rr.c2.frr.conf || return 1
  start_bird rrb vcap-c1 ibgp-rr.c1.bird.conf || return 1
  wait_for 60 "$S established" est4 || return 1
  sleep 8
  log "$S: withdraw one route on each client"
  bc rrb disable s4 >/dev/null
  vtyconf rrc "router bgp 65000" "address-family ipv4 unicast" \
    "no network 10.81.0.0/24" >/dev/null
  sleep 4
}

# Scenario as2: FRR AS 4200000001 (vcap-up) -- FRR AS 65001 (vcap-frr) --
# BIRD AS 65002 without AS4 support (vcap-bird).
est5() {
  bird_established bird5 mid && frr_established mid 10.0.6.1 &&
    frr_established mid 10.0.7.2
}
scenario_as2() {
  local S=as2
  log "== scenario $S"
  mkns vcap-up; mkns vcap-frr; mkns vcap-bird
  veth vcap-up u0 vcap-frr f1
  veth vcap-frr f0 vcap-bird b0
  addr vcap-up u0 10.0.6.1/24; addr vcap-frr f1 10.0.6.2/24
  addr vcap-frr f0 10.0.7.1/24; addr vcap-bird b0 10.0.7.2/24
  cap_start vcap-frr f0 $S-bird.pcap
  cap_start vcap-frr f1 $S-up.pcap
  manifest $S $S-bird.pcap "FRR-BIRD(as4 off) link" "10.0.7.1=$FRR_VER" "10.0.7.2=$BIRD_VER"
  manifest $S $S-up.pcap "FRR(AS4200000001)-FRR link" "10.0.6.1=$FRR_VER" "10.0.6.2=$FRR_VER"
  start_frr up vcap-up as2.up.frr.conf || return 1
  start_frr mid vcap-frr as2.mid.frr.conf || return 1
  start_bird bird5 vcap-bird as2.bird.conf || return 1
  wait_for 60 "$S established" est5 || return 1
  sleep 8
  log "$S: FRR-FRR clear (Hard Reset if N bit negotiated)"
  vty mid -c "clear bgp 10.0.6.1" >/dev/null
  sleep 3
  wait_for 60 "$S re-established" est5
  sleep 5
  log "$S: FRR-FRR shutdown with message"
  vtyconf mid "router bgp 65001" \
    "neighbor 10.0.6.1 shutdown message planned maintenance" >/dev/null
  sleep 3
  vtyconf mid "router bgp 65001" "no neighbor 10.0.6.1 shutdown" >/dev/null
  sleep 3
  wait_for 60 "$S re-established" est5
  sleep 5
  log "$S: withdraw a route of the 4-octet AS"
  vtyconf up "router bgp 4200000001" "address-family ipv4 unicast" \
    "no network 10.91.0.0/24" >/dev/null
  sleep 4
  log "$S: hold timer expiry (middle FRR frozen; BIRD has graceful restart off)"
  kill -STOP "$PID_mid"; sleep 14; kill -CONT "$PID_mid"
  sleep 3
  wait_for 60 "$S re-established" est5
  sleep 3
}

ALL_SCENARIOS="ebgp-v4 addpath v6-transport ibgp-rr as2"

main() {
  [ "$(id -u)" = 0 ] || { echo "must run as root" >&2; exit 1; }
  for b in "$BGPD" "$ZEBRA" bird birdc vtysh tshark python3; do
    command -v "$b" >/dev/null || { echo "missing $b" >&2; exit 1; }
  done
  local list=${*:-$ALL_SCENARIOS} s
  rm -rf "$W"; mkdir -p "$W"; chmod 777 "$W"
  : >"$W/manifest.jsonl"
  CAPS=()
  log "$FRR_VER, $BIRD_VER, work dir $W"
  for s in $list; do
    "scenario_${s//-/_}" || log "scenario $s FAILED (continuing)"
    end_scenario
  done
  if [ -z "${NO_EXTRACT:-}" ]; then
    python3 "$HERE/extract.py" "$W/manifest.jsonl" "$OUT"
  fi
}

main "$@"
