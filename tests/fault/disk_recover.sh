#!/usr/bin/env bash
# fault_disk_recover (jepsen findings 1 and 2): three nodes run with the
# failfsync shim (jepsen/tools/failfsync.c: fsync and friends fail with EIO
# while a file exists). Two rounds, each while cases are being created: fsync
# fails for 6 s on all three nodes (finding 2), then for 5 s on nodes 1 and 2
# only (finding 1: two stuck nodes of three left no quorum for good); then
# the disk "comes back".
# Within 15 s every node must be ready again by itself (no restart), a leader
# must serve new creates, every create acknowledged before or during the
# fault must be readable, the replicas' checksums must agree, and no node may
# have exited (a follower used to die with SIGSEGV).
#   usage: disk_recover.sh BUILD_DIR [SHIM]
set -u
build=$(readlink -f "${1:?usage: disk_recover.sh BUILD_DIR [SHIM]}")
here=$(cd "$(dirname "$0")" && pwd)
export RZ_BUILD=$build
# shellcheck source-path=SCRIPTDIR source=../integration/cluster.sh
. "$here/../integration/cluster.sh"
PORTFUZZ=$build/tests/fault/portfuzz
SHIM=$(readlink -f "${2:-$build/jepsen/librz_jepsen_failfsync.so}")
BASE=17980
N=3
work=$(mktemp -d /tmp/rz-disk-recover-XXXXXX)
dir=$work/c
writer=""
failed=0
bad() {
    echo "disk_recover: FAIL: $*" >&2
    failed=1
}
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    [ -n "$writer" ] && kill "$writer" 2>/dev/null
    rm -f "$work"/fail*
    rz_cluster_stop
    if [ "$failed" -ne 0 ]; then
        for ((i = 1; i <= N; i++)); do
            echo "--- n$i log (tail)" >&2
            tail -12 "$dir/n$i/ratuszd.log" >&2 2>/dev/null
        done
    fi
    rm -rf "$work"
}
trap cleanup EXIT
[ -f "$SHIM" ] || { echo "disk_recover: FAIL: no shim at $SHIM" >&2; exit 1; }

# The shim checks for the file at every sync call: no restart needed.
# Nodes 1 and 2 watch fail-12, node 3 (restarted with its own path) fail-3.
export LD_PRELOAD=$SHIM
export RZ_JEPSEN_FAIL_FSYNC_FILE=$work/fail-12
rz_cluster_start "$dir" "$N" "$BASE" --election-timeout-ms 500 ||
    { failed=1; exit 1; }
rz_node_kill 3 TERM
export RZ_JEPSEN_FAIL_FSYNC_FILE=$work/fail-3
rz_node_start 3 || { failed=1; exit 1; }
unset LD_PRELOAD
eps=$(rz_cluster_endpoints)
c() { "$RZ_CTL" "$@" --endpoints "$eps" --identity "$dir/operator.identity"; }
json_get() { python3 -c "import json,sys; print(json.load(sys.stdin)['$1'])"; }

ids_file=$work/ids
: >"$ids_file"
for i in 1 2 3 4 5; do
    id=$(c case create --description "before $i" --json | json_get case_id) ||
        { bad "create $i before the fault failed"; exit 1; }
    echo "$id" >>"$ids_file"
done

# A writer keeps creating cases (each acknowledged id is recorded) until told
# to stop.
(
    k=0
    while [ ! -e "$work/stop-writer" ]; do
        k=$((k + 1))
        if out=$(timeout 5 "$RZ_CTL" case create --description "during $k" \
            --json --endpoints "$eps" --identity "$dir/operator.identity" \
            2>/dev/null); then
            printf '%s' "$out" | json_get case_id >>"$ids_file"
        fi
        sleep 0.05
    done
) &
writer=$!
sleep 1

# One fault round: the files $2.. exist for $1 s, then every node must be
# ready again within 15 s and a create must succeed.
round() {
    local secs=$1 f i ok heal_s
    shift
    for f in "$@"; do touch "$work/$f"; done
    echo "fsync failing ($*) for $secs s"
    sleep "$secs"
    for f in "$@"; do rm -f "$work/$f"; done
    heal_s=$SECONDS
    for ((i = 1; i <= N; i++)); do
        while ! rz_node_ready "$i" && [ $((SECONDS - heal_s)) -lt 15 ]; do
            sleep 0.2
        done
        rz_node_ready "$i" ||
            bad "node $i is not ready 15 s after the disk healed ($*)"
    done
    ok=0
    while [ $((SECONDS - heal_s)) -lt 15 ]; do
        if id=$(c case create --description "after $*" --json 2>/dev/null |
            json_get case_id); then
            echo "$id" >>"$ids_file"
            ok=1
            break
        fi
        sleep 0.2
    done
    if [ "$ok" = 1 ]; then
        echo "recovered from ($*) in $((SECONDS - heal_s)) s"
    else
        bad "no create succeeded 15 s after the disk healed ($*)"
    fi
}
round 6 fail-12 fail-3
round 5 fail-12
touch "$work/stop-writer"
wait "$writer"
writer=""
heal_s=$SECONDS

# Nothing acknowledged is lost.
n_ids=$(wc -l <"$ids_file")
while read -r id; do
    c case get "$id" --json >/dev/null 2>&1 || bad "acknowledged case $id is missing"
done <"$ids_file"

# The replicas converge: same applied index and checksum, a known leader.
left=$((20 - (SECONDS - heal_s)))
[ "$left" -ge 1 ] || left=1
if out=$(rz_cluster_converge "$PORTFUZZ" "$dir/auditor.identity" "$left"); then
    echo "converged: $out"
else
    bad "replicas did not converge"
fi

# The fault really stopped consensus somewhere (else this test proves
# nothing), and the node said so.
grep -q 'level=error .*msg="consensus stopped after a failed disk write' \
    "$dir"/n*/ratuszd.log ||
    bad "no node logged the disk fault error (did the fault bite?)"

# No node exited (the segfault of finding 2).
for ((i = 1; i <= N; i++)); do
    if [ -s "$dir/n$i/exit" ]; then
        bad "node $i exited with status $(cat "$dir/n$i/exit")"
    elif [ -z "$(rz_node_pid "$i")" ]; then
        bad "node $i is not running"
    fi
done
[ "$failed" -eq 0 ] && echo "ok: $n_ids acknowledged cases readable, every node recovered"
exit "$failed"
