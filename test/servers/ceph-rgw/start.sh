#!/usr/bin/env bash
# Start a throw-away single-node Ceph cluster for Sluice's tests:
#   1 ceph-mon + 1 ceph-osd (objectstore = memstore: data lives in the OSD's RAM) + radosgw (S3 API),
#   no ceph-mgr, no cephx, everything bound to 127.0.0.1, all state under <workdir>.
#
# Usage: start.sh <workdir> [port]
#   <workdir>  directory for config, mon store, logs (created if missing; must be empty or absent).
#              Pass a fresh mktemp -d / mkdtemp directory.
#   [port]     S3 port on 127.0.0.1; 0 or omitted -> a free port is picked.
#
# On success prints exactly ONE JSON line on stdout:
#   {"endpoint":"http://127.0.0.1:PORT","accessKeyId":"...","secretAccessKey":"...","region":"us-east-1","pids":[...]}
# Everything else goes to stderr or to <workdir>/log/. Every PID started is appended to <workdir>/pids
# as soon as it exists, so stop.sh <workdir> can clean up even after a failed/interrupted start.
# Exit codes: 2 usage, 3 binaries missing, 1 start-up failure/timeout (daemons started are killed).
#
# Needs (Debian 12, Ceph 16.2 Pacific):
#   apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw ceph-common
#
# Env knobs (optional): RGW_ACCESS_KEY (default sluice-test-key), RGW_SECRET_KEY (default sluice-test-secret),
#   MEMSTORE_BYTES (default 2 GiB: the OSD's advertised capacity = max RAM it will hold),
#   RGW_DEBUG (0 = quiet; N = debug rgw N/5), RGW_START_TIMEOUT (seconds, default 90, whole start-up;
#   RGW_START_TIMEOUT_MS overrides it in ms).
set -uo pipefail

usage() { echo "usage: $0 <workdir> [port]" >&2; exit 2; }
[ $# -ge 1 ] && [ $# -le 2 ] || usage
D=$1
PORT=${2:-0}
[[ "$PORT" =~ ^[0-9]+$ ]] && [ "$PORT" -le 65535 ] || { echo "start.sh: bad port '$PORT'" >&2; exit 2; }
case "$D" in /*) ;; *) D="$PWD/$D" ;; esac
D=${D%/}
[ -n "$D" ] && [ "$D" != / ] || usage

AK=${RGW_ACCESS_KEY:-sluice-test-key}
SK=${RGW_SECRET_KEY:-sluice-test-secret}
REGION=us-east-1
MEMSTORE_BYTES=${MEMSTORE_BYTES:-2147483648}
RGW_DEBUG=${RGW_DEBUG:-0}
TIMEOUT_MS=${RGW_START_TIMEOUT_MS:-$(( ${RGW_START_TIMEOUT:-90} * 1000 ))}
TIMEOUT="$((TIMEOUT_MS / 1000)).$(printf %03d $((TIMEOUT_MS % 1000)))"
if [ "$RGW_DEBUG" = 0 ]; then DBG="0/0"; else DBG="$RGW_DEBUG/5"; fi
IP=127.0.0.1
export PATH="$PATH:/usr/bin:/usr/sbin:/bin:/sbin"

# ---- binaries -------------------------------------------------------------------------------
missing=()
for b in ceph-mon ceph-osd radosgw radosgw-admin ceph monmaptool ceph-authtool; do
  command -v "$b" >/dev/null 2>&1 || missing+=("$b")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "start.sh: Ceph binaries missing: ${missing[*]}" >&2
  echo "  install: apt-get install -y --no-install-recommends ceph-mon ceph-osd radosgw ceph-common" >&2
  exit 3
fi

# fd 9 = our real stderr: messages (incl. from the INT/TERM trap, which may run while a command's
# stderr is redirected) go there; every child gets 9>&- so no daemon keeps the caller's pipe open.
exec 9>&2
T0=${EPOCHREALTIME/./}
DEADLINE=$(( T0 + TIMEOUT_MS * 1000 ))
elapsed_ms() { echo $(( (${EPOCHREALTIME/./} - T0) / 1000 )); }
log() { local t; t=$(elapsed_ms); printf '[ceph-rgw start %d.%03ds] %s\n' $((t / 1000)) $((t % 1000)) "$*" >&9; }
past_deadline() { [ "${EPOCHREALTIME/./}" -ge "$DEADLINE" ]; }
# is PID alive (zombies count as dead)?
alive() { kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
# is PID alive and one of ours? Its command line names $D: <workdir>/ceph.conf after exec, or (between
# fork and exec) this script's own command line, which has <workdir> as argument.
ours() { alive "$1" && grep -qa -- "$D" "/proc/$1/cmdline" 2>/dev/null; }
# KILL a process and its descendants (found through /proc/PID/task/*/children)
kill_tree() {
  local c
  for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do kill_tree "$c"; done
  kill -KILL "$1" 2>/dev/null
}
die() {
  trap - INT TERM HUP
  log "FAILED: $*"
  [ -n "${FG:-}" ] && kill_tree "$FG"
  for f in "$D"/log/*.out "$D"/log/*.log; do
    [ -s "$f" ] && { echo "== tail $f" >&9; tail -n 20 "$f" >&9; }
  done
  if [ -f "$D/pids" ]; then
    while read -r p; do [ -n "$p" ] && ours "$p" && kill -KILL "$p" 2>/dev/null; done <"$D/pids"
  fi
  echo "start.sh: killed the daemons this run had started; logs kept in $D/log (stop.sh $D removes it)" >&9
  exit 1
}
trap 'die "interrupted"' INT TERM HUP
# Run a (bounded) foreground command as a background job + wait, so a TERM/INT to this script runs the
# trap at once instead of after the command finishes; die() kills the job.
FG=
fgwait() { "$@" 9>&- & FG=$!; wait "$FG"; local rc=$?; FG=; return $rc; }
listening() { (exec 3<>"/dev/tcp/$IP/$1") 2>/dev/null; }
# Pick a free port: below the kernel's ephemeral range (outgoing connections take ports from there,
# and a port merely "not listening" may still be bound by one), not in /proc/net/tcp{,6} in any state,
# not already chosen, and nobody answering on it. Sets FREE_PORT (not called in $(...) so TAKEN persists).
declare -A TAKEN
EPH_LOW=$(awk '{print $1}' /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null); EPH_LOW=${EPH_LOW:-32768}
P_LO=10000; P_HI=$(( EPH_LOW > P_LO + 1000 ? EPH_LOW - 1 : 29999 ))
free_port() {
  local p i used
  # local ports (hex) of every TCP socket, any state (awk: bash `read` on /proc files is very slow)
  used=" $(awk 'FNR > 1 { n = split($2, a, ":"); printf "%s ", a[n] }' /proc/net/tcp /proc/net/tcp6 2>/dev/null) "
  for i in $(seq 200); do
    p=$(( P_LO + (RANDOM * 32768 + RANDOM) % (P_HI - P_LO + 1) ))
    [ -n "${TAKEN[$p]:-}" ] && continue
    [[ "$used" == *" $(printf %04X "$p") "* ]] && continue
    listening "$p" && continue
    TAKEN[$p]=1; FREE_PORT=$p; return 0
  done
  return 1
}

# ---- workdir -------------------------------------------------------------------------------
mkdir -p "$D" || { echo "start.sh: cannot create $D" >&2; exit 2; }
if [ -n "$(ls -A "$D" 2>/dev/null)" ]; then
  echo "start.sh: workdir $D is not empty (use a fresh temp dir; stop.sh cleans up an old one)" >&2; exit 2
fi
mkdir -p "$D"/{mon,osd/ceph-0,rgw,log,run,crash}
: >"$D/pids"

if [ "$PORT" = 0 ]; then free_port || die "no free port found"; PORT=$FREE_PORT; else
  listening "$PORT" && die "port $IP:$PORT is already in use"; TAKEN[$PORT]=1; fi
free_port || die "no free port found"; MON_PORT=$FREE_PORT
free_port || die "no free port found"; MON_PORT_V1=$FREE_PORT

FSID=$(cat /proc/sys/kernel/random/uuid)
cat >"$D/ceph.conf" <<CONF
# generated by sluice test/servers/ceph-rgw/start.sh -- throw-away single-node cluster
[global]
fsid = $FSID
mon host = [v2:$IP:$MON_PORT,v1:$IP:$MON_PORT_V1]
public addr = $IP
cluster addr = $IP
public network = 127.0.0.0/8
cluster network = 127.0.0.0/8
ms bind ipv4 = true
ms bind ipv6 = false
# no cephx: loopback-only throw-away cluster
auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
# radosgw defaults ms_mon_client_mode to "secure", which needs cephx (loops with
# "get_initial_auth_request returned -13") -> crc everywhere
ms mon client mode = crc
ms client mode = crc
ms mon service mode = crc
ms service mode = crc
ms cluster mode = crc
ms mon cluster mode = crc
# one OSD: pools of size 1
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
osd pool default pg autoscale mode = off
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
mon warn on pool no redundancy = false
mon warn on insecure global id reclaim = false
mon warn on insecure global id reclaim allowed = false
mon max pg per osd = 1000
mon data avail warn = 1
mon data avail crit = 0
# every osdmap change (osd boot, pool creation by rgw) otherwise waits ~1 s for the next paxos round
paxos propose interval = 0.01
paxos min wait = 0.01
run dir = $D/run
crash dir = $D/crash
log file = $D/log/\$name.log
mon cluster log file = $D/log/cluster.log
admin socket = $D/run/\$name.asok
mon data = $D/mon/\$cluster-\$id
osd data = $D/osd/\$cluster-\$id
keyring = $D/keyring
debug ms = 0/0
[osd]
osd objectstore = memstore
# memstore keeps every object in the OSD's RAM; this caps what it advertises (and so what it accepts)
memstore device bytes = $MEMSTORE_BYTES
# on SIGTERM the OSD (osd_fast_shutdown) waits up to this long for the mon to ack "going down";
# stop.sh TERMs mon and OSD together, so the default 5 s would just be waited out
osd mon shutdown timeout = 0.2
[client.rgw.a]
# tcp_nodelay: without it every GET waits ~40 ms (Nagle + delayed ACK)
rgw frontends = beast endpoint=$IP:$PORT tcp_nodelay=1
rgw data = $D/rgw
rgw enable usage log = false
debug rgw = $DBG
CONF
C=(-c "$D/ceph.conf")
# a bounded ceph CLI call
cephq() { timeout 15 ceph "${C[@]}" --connect-timeout 10 "$@"; }

# ---- monitor -------------------------------------------------------------------------------
monmaptool --create --addv a "[v2:$IP:$MON_PORT,v1:$IP:$MON_PORT_V1]" --fsid "$FSID" "$D/monmap" >"$D/log/monmaptool.out" 2>&1 \
  || die "monmaptool"
ceph-authtool --create-keyring "$D/keyring" --gen-key -n mon. --cap mon 'allow *' >"$D/log/authtool.out" 2>&1 \
  || die "ceph-authtool"
fgwait timeout 30 ceph-mon "${C[@]}" --mkfs -i a --monmap "$D/monmap" --keyring "$D/keyring" >"$D/log/mon-mkfs.out" 2>&1 \
  || die "ceph-mon --mkfs"
ceph-mon "${C[@]}" -i a -f </dev/null >"$D/log/mon.out" 2>&1 9>&- &
MON_PID=$!; echo "$MON_PID" >>"$D/pids"
ok=
while ! past_deadline; do
  alive "$MON_PID" || die "ceph-mon exited"
  # (a port check, not `ceph mon stat`: each ceph CLI call costs ~0.3 s of Python start-up, more
  # on a loaded machine; the `ceph osd new` below waits for the mon to answer anyway)
  listening "$MON_PORT" && { ok=1; break; }
  fgwait sleep 0.05
done
[ -n "$ok" ] || die "timeout: ceph-mon did not listen on $IP:$MON_PORT within ${TIMEOUT}s"
log "ceph-mon listening (pid $MON_PID, v2 port $MON_PORT)"

# ---- OSD (memstore) ------------------------------------------------------------------------
OSD_UUID=$(cat /proc/sys/kernel/random/uuid)
fgwait cephq osd new "$OSD_UUID" >"$D/osd-id" 2>"$D/log/osd-new.out" || die "ceph osd new"
ID=$(cat "$D/osd-id")
[ "$ID" = 0 ] || die "unexpected osd id '$ID'"
fgwait timeout 30 ceph-osd "${C[@]}" -i 0 --mkfs --osd-uuid "$OSD_UUID" >"$D/log/osd-mkfs.out" 2>&1 || die "ceph-osd --mkfs"
ceph-osd "${C[@]}" -i 0 -f </dev/null >"$D/log/osd.out" 2>&1 9>&- &
OSD_PID=$!; echo "$OSD_PID" >>"$D/pids"
log "ceph-osd started (pid $OSD_PID)"

# ---- radosgw -------------------------------------------------------------------------------
# Started without waiting for osd.0 to be up: radosgw waits for its pools' PGs itself, and beast
# listens only once they exist, so "listening" implies the OSD is up.
radosgw "${C[@]}" -n client.rgw.a -f </dev/null >"$D/log/rgw.out" 2>&1 9>&- &
RGW_PID=$!; echo "$RGW_PID" >>"$D/pids"
ok=
while ! past_deadline; do  # beast listens only once rgw has created its pools and is ready
  alive "$RGW_PID" || die "radosgw exited"
  alive "$OSD_PID" || die "ceph-osd exited"
  alive "$MON_PID" || die "ceph-mon exited"
  listening "$PORT" && { ok=1; break; }
  fgwait sleep 0.05
done
[ -n "$ok" ] || die "timeout: radosgw did not listen on $IP:$PORT within ${TIMEOUT}s"
log "radosgw listening on $IP:$PORT (pid $RGW_PID)"

fgwait timeout 30 radosgw-admin "${C[@]}" user create --uid=sluice-test --display-name=sluice-test \
  --access-key="$AK" --secret-key="$SK" >"$D/log/user-create.out" 2>&1 || die "radosgw-admin user create"
log "S3 user created; ready after $(elapsed_ms) ms"
trap - INT TERM

printf '{"endpoint":"http://%s:%s","accessKeyId":"%s","secretAccessKey":"%s","region":"%s","pids":[%s,%s,%s]}\n' \
  "$IP" "$PORT" "$AK" "$SK" "$REGION" "$MON_PID" "$OSD_PID" "$RGW_PID"
