#!/usr/bin/env bash
# Stop the daemons that start.sh <workdir> started -- exactly the PIDs recorded in <workdir>/pids,
# and only while their command line still names <workdir>/ceph.conf (guards against PID reuse) --
# then delete <workdir>.
#   SIGTERM radosgw, wait up to STOP_GRACE_SECONDS (default 3); then SIGTERM ceph-osd + ceph-mon, wait
#   up to STOP_GRACE_SECONDS; then SIGKILL any survivor and wait (bounded) for it to be gone.
#   (Memstore data is thrown away anyway; a clean stop takes ~0.3 s.)
# Usage: stop.sh <workdir>      Env: RGW_KEEP=1 keeps <workdir> (logs) after stopping.
set -uo pipefail
[ $# -eq 1 ] || { echo "usage: $0 <workdir>" >&2; exit 2; }
D=$1
case "$D" in /*) ;; *) D="$PWD/$D" ;; esac
D=${D%/}
[ -n "$D" ] && [ "$D" != / ] || { echo "stop.sh: refusing workdir '$1'" >&2; exit 2; }
[ -d "$D" ] || exit 0
GRACE=${STOP_GRACE_SECONDS:-3}

alive() { kill -0 "$1" 2>/dev/null && [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" != Z ]; } # zombies count as gone
ours() { alive "$1" && grep -qa -- "$D/ceph.conf" "/proc/$1/cmdline" 2>/dev/null; }

PIDS=()
if [ -f "$D/pids" ]; then
  while read -r p; do
    [[ "$p" =~ ^[0-9]+$ ]] || continue
    ours "$p" && PIDS+=("$p")
  done <"$D/pids"
fi
# TERM a set of PIDs, wait up to GRACE s for them to be gone
term_wait() {
  local p any
  [ $# -gt 0 ] || return 0
  for p in "$@"; do kill -TERM "$p" 2>/dev/null; done
  for _ in $(seq $(( GRACE * 20 ))); do
    any=; for p in "$@"; do alive "$p" && { any=1; break; }; done
    [ -z "$any" ] && return 0
    sleep 0.05
  done
}
if [ ${#PIDS[@]} -gt 0 ]; then
  # radosgw first (it can hang in shutdown for seconds if its OSD/mon vanish under it), then OSD + mon
  RGW=(); REST=()
  for p in "${PIDS[@]}"; do
    if [ "$(cat /proc/"$p"/comm 2>/dev/null)" = radosgw ]; then RGW+=("$p"); else REST+=("$p"); fi
  done
  term_wait "${RGW[@]}"
  term_wait "${REST[@]}"
  for p in "${PIDS[@]}"; do alive "$p" && { echo "stop.sh: pid $p ignored SIGTERM, sending SIGKILL" >&2; kill -KILL "$p" 2>/dev/null; }; done
  for p in "${PIDS[@]}"; do for _ in $(seq 100); do alive "$p" || break; sleep 0.05; done; done
  for p in "${PIDS[@]}"; do alive "$p" && echo "stop.sh: pid $p still alive after SIGKILL" >&2; done
fi
# only remove a directory that start.sh created (it holds our ceph.conf / pids file)
if [ "${RGW_KEEP:-0}" != 1 ]; then
  if [ -f "$D/ceph.conf" ] || [ -f "$D/pids" ] || [ -z "$(ls -A "$D" 2>/dev/null)" ]; then
    rm -rf "$D"
  else
    echo "stop.sh: $D does not look like a start.sh workdir; not removing it" >&2
  fi
fi
exit 0
