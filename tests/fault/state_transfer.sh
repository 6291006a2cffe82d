#!/bin/bash
# fault_state_transfer (issues #5 and #7): a follower that was down longer
# than the log's trailing window catches up over the real network by a state
# transfer — a consistent copy of the leader's state env streamed in chunks,
# verified, installed before raft sees the InstallSnapshot — and then by the
# log. The cluster runs with a tiny snapshot threshold and trailing window so
# that a few hundred writes compact the log past the follower. Afterwards all
# replicas have the same applied index and checksum, the follower's metrics
# count one received transfer, and writes made after the transfer are there.
#   usage: state_transfer.sh RATUSZD RATUSZCTL PORTFUZZ
set -u
# shellcheck disable=SC2034
RZ_RATUSZD=$(readlink -f "$1")
# shellcheck disable=SC2034
RZ_CTL=$(readlink -f "$2")
PORTFUZZ=$(readlink -f "$3")
BASE=17920
N=3
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../integration/cluster.sh
. "$here/../integration/cluster.sh"

work=$(mktemp -d /tmp/rz-xfer.XXXXXX)
fail() {
    echo "state_transfer: FAIL: $*" >&2
    for ((i = 1; i <= N; i++)); do
        echo "--- n$i log (tail)" >&2
        grep -v 'level=debug' "$work/c/n$i/ratuszd.log" 2>/dev/null | tail -12 >&2
    done
    exit 1
}
cleanup() {
    rz_cluster_stop
    [ -n "${KEEP:-}" ] || rm -rf "$work"
}
trap cleanup EXIT

rz_cluster_start "$work/c" "$N" "$BASE" --snapshot-threshold 64 \
    --snapshot-trailing 16 ${RZ_XFER_FLAGS:-} || fail "the cluster did not start"
dir=$work/c
targets=""
for ((i = 1; i <= N; i++)); do
    targets="$targets${targets:+,}127.0.0.1:$((BASE + i))"
done
create() { # create WHY COUNT BYTES
    "$PORTFUZZ" create --target "$targets" \
        --identity "$dir/operator.identity" --count "$2" --bytes "$3" \
        >/dev/null || fail "cases could not be created ($1)"
}
converge() { # converge TIMEOUT_S (cluster.sh)
    rz_cluster_converge "$PORTFUZZ" "$dir/auditor.identity" "$1"
}
metric() { # metric NODE NAME: the value of an unlabelled metric
    rz_http_get $((BASE + 200 + $1)) /metrics >/dev/null 2>&1 || return 1
    printf '%s\n' "$RZ_HTTP_BODY" | awk -v m="$2" '$1 == m {print $2}'
}

create "first" 10 100
s0=$(converge 15) || fail "replicas did not converge at the start"
leader=$(rz_cluster_leader)
[ -n "$leader" ] || fail "no leader"
follower=$((leader % N + 1))
rz_node_kill "$follower" KILL
# 600 writes with threshold 64 / trailing 16: the leader's log no longer
# holds what the follower misses.
create "with node $follower down" 600 2000
# Restart the two live nodes one by one, so that no raft keeps entries in
# memory that its compacted log store no longer holds: the follower can then
# only catch up by a state transfer.
for ((i = 1; i <= N; i++)); do
    [ "$i" = "$follower" ] && continue
    rz_node_kill "$i" TERM
    rz_node_start "$i" || fail "node $i did not restart"
    rz_cluster_wait_leader 15 >/dev/null || fail "no leader after restarting node $i"
done
before=$(metric "$follower" ratusz_snapshot_transfers_received_total)
for ((i = 1; i <= N; i++)); do
    [ "$i" = "$follower" ] && continue
    entries=$(mdb_stat -n -s entries "$dir/n$i/raft.mdb" 2>/dev/null |
        awk '/Entries:/ {print $2}')
    echo "node $i's log holds ${entries:-?} entries before node $follower restarts"
done
rz_node_start "$follower" || fail "node $follower did not restart"
s1=$(converge 30) || fail "node $follower did not catch up"
echo "caught up: $s1 (was $s0)"
[ "$s1" != "$s0" ] || fail "the writes made while node $follower was down are missing"
got=$(metric "$follower" ratusz_snapshot_transfers_received_total)
[ -n "$got" ] && [ "${got%.*}" -ge 1 ] ||
    fail "node $follower caught up without a state transfer (received=$got, before restart: ${before:-down})"
echo "transfers received by node $follower: $got"
# ratuszctl status shows the transfer too.
"$RZ_CTL" status --json --endpoints "$targets" --identity "$dir/operator.identity" |
    python3 -c "import json,sys; o=json.load(sys.stdin); m=[m for m in o['members'] if m['id']==$follower][0]; sys.exit(0 if m['snapshot']['transfers_installed']>=1 and m['snapshot']['bytes_received']>0 else 1)" ||
    fail "ratuszctl status --json does not show node $follower's transfer"
# The log's commit times reach the fsync histogram.
fs=$(metric "$(rz_cluster_leader)" ratusz_disk_log_fsync_duration_seconds_count)
[ -n "$fs" ] && [ "${fs%.*}" -ge 1 ] ||
    fail "the leader's ratusz_disk_log_fsync_duration_seconds_count is '$fs'"
# The log goes on after the transfer.
create "after the transfer" 20 100
s2=$(converge 15) || fail "replicas did not converge after the transfer"
[ "$s2" != "$s1" ] || fail "writes after the transfer are missing"
if grep -l -E 'assert|AddressSanitizer|runtime error' "$dir"/n*/ratuszd.log; then
    fail "a node logged an assertion or sanitizer report"
fi
echo "state_transfer: ok ($s2)"
