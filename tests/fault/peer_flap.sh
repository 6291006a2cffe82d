#!/bin/bash
# Fault test of the peer transport inside the real daemon: a follower is
# killed with SIGKILL and restarted while the cluster takes writes, then the
# leader is paused (SIGSTOP) long enough to lose its leadership and resumed.
# The restarted follower has ~5 MB of entries to catch up on.
# Each time the peers must find each other again (reconnect with backoff)
# and every replica must converge: the same applied index and the same
# state checksum on all three, with one leader.
#   usage: peer_flap.sh RATUSZD RATUSZCTL PORTFUZZ
set -u
# RZ_RATUSZD and RZ_CTL are read by cluster.sh.
# shellcheck disable=SC2034
RZ_RATUSZD=$(readlink -f "$1")
# shellcheck disable=SC2034
RZ_CTL=$(readlink -f "$2")
PORTFUZZ=$(readlink -f "$3")
BASE=16510
N=3
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../integration/cluster.sh
. "$here/../integration/cluster.sh"

work=$(mktemp -d /tmp/rz-peer-flap.XXXXXX)
stopped=""
fail() {
    echo "peer_flap: FAIL: $*" >&2
    for ((i = 1; i <= N; i++)); do
        echo "--- n$i log (tail)" >&2
        tail -15 "$work/c/n$i/ratuszd.log" >&2 2>/dev/null
    done
    exit 1
}
cleanup() {
    [ -n "$stopped" ] && kill -CONT "$stopped" 2>/dev/null
    rz_cluster_stop
    rm -rf "$work"
}
trap cleanup EXIT

start_s=$SECONDS
rz_cluster_start "$work/c" "$N" "$BASE" || fail "the cluster did not start"
dir=$work/c
targets=""
for ((i = 1; i <= N; i++)); do
    targets="$targets${targets:+,}127.0.0.1:$((BASE + i))"
done

create() { # create WHY [COUNT [BYTES]]
    "$PORTFUZZ" create --target "$targets" \
        --identity "$dir/operator.identity" --count "${2:-1}" \
        --bytes "${3:-40}" >/dev/null ||
        fail "cases could not be created ($1)"
}

# Waits (up to $1 s) until every node answers with the same applied index
# and checksum and knows a leader; prints the common state.
converge() { # converge TIMEOUT_S (cluster.sh)
    rz_cluster_converge "$PORTFUZZ" "$dir/auditor.identity" "$1"
}

create "first"
s0=$(converge 10) || fail "replicas did not converge at the start"
echo "start: $s0"

# 1. A follower is killed and restarted; writes go on meanwhile: about
#    5 MB, more than one peer frame may carry (RZ_PEER_FRAME_MAX_BYTES).
leader=$(rz_cluster_leader)
[ -n "$leader" ] || fail "no leader"
follower=$((leader % N + 1))
rz_node_kill "$follower" KILL
create "with node $follower down" 1200 4000
rz_node_start "$follower" || fail "node $follower did not restart"
s1=$(converge 15) || fail "node $follower did not catch up after its restart"
echo "after kill -9 of node $follower and restart: $s1"
[ "$s1" != "$s0" ] || fail "the writes made while node $follower was down are missing"

# 2. The leader is paused past its election timeout, then resumed.
leader=$(rz_cluster_leader)
[ -n "$leader" ] || fail "no leader before the pause"
stopped=$(rz_node_pid "$leader")
kill -STOP "$stopped"
new=$(rz_cluster_wait_leader 15 "$leader") ||
    fail "no new leader while node $leader was paused"
create "while node $leader was paused"
kill -CONT "$stopped"
stopped=""
s2=$(converge 15) || fail "node $leader did not rejoin after its pause"
echo "after pausing leader $leader (new leader $new): $s2"
[ "$s2" != "$s1" ] || fail "the write made during the pause is missing"

for ((i = 1; i <= N; i++)); do
    [ -n "$(rz_node_pid "$i")" ] || fail "node $i is not running"
done
if grep -l -E 'assert|AddressSanitizer|runtime error' "$dir"/n*/ratuszd.log; then
    fail "a node logged an assertion or sanitizer report"
fi
echo "peer_flap: ok in $((SECONDS - start_s)) s"
