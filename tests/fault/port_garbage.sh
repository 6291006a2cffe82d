#!/bin/bash
# Fault test: a 3-node cluster gets garbage on every port (client, peer,
# metrics) from portfuzz, in a count- and time-bounded loop. Afterwards every
# node must still run, a leader must exist, and no node's applied index or
# state checksum may have moved (nothing of the garbage was applied); the
# cluster must still take a write.
#   usage: port_garbage.sh RATUSZD RATUSZCTL PORTFUZZ
set -u
# RZ_RATUSZD and RZ_CTL are read by cluster.sh.
# shellcheck disable=SC2034
RZ_RATUSZD=$(readlink -f "$1")
RZ_CTL=$(readlink -f "$2")
PORTFUZZ=$(readlink -f "$3")
BASE=16500
N=3
PER_TARGET_COUNT=${PORT_GARBAGE_COUNT:-150}
PER_TARGET_SECONDS=${PORT_GARBAGE_SECONDS:-3}
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=../integration/cluster.sh
. "$here/../integration/cluster.sh"

work=$(mktemp -d /tmp/rz-port-garbage.XXXXXX)
fail() {
    echo "port_garbage: FAIL: $*" >&2
    for ((i = 1; i <= N; i++)); do
        echo "--- n$i log (tail)" >&2
        tail -15 "$work/c/n$i/ratuszd.log" >&2 2>/dev/null
    done
    exit 1
}
cleanup() {
    rz_cluster_stop
    rm -rf "$work"
}
trap cleanup EXIT

start_s=$SECONDS
rz_cluster_start "$work/c" "$N" "$BASE" || fail "the cluster did not start"
dir=$work/c
# A node credential that is no member: the peer port accepts the role, and
# the garbage does not displace the members' own connections.
"$RZ_CTL" keys issue --dir "$dir/keys" --role node --name n9 --node-id 9 \
    --out "$dir/n9.identity" >/dev/null || fail "cannot issue n9"

targets=""
for ((i = 1; i <= N; i++)); do
    targets="$targets${targets:+,}127.0.0.1:$((BASE + i))"
done
"$PORTFUZZ" create --target "$targets" --identity "$dir/operator.identity" ||
    fail "no case could be created before the garbage"

# Every node's (applied index, checksum); waits until all agree.
probe_all() {
    local i out line
    out=""
    for ((i = 1; i <= N; i++)); do
        line=$("$PORTFUZZ" probe --target "127.0.0.1:$((BASE + i))" \
            --identity "$dir/auditor.identity") || return 1
        out="$out$line"$'\n'
    done
    printf '%s' "$out"
}
state_of() { # the applied index and checksum columns, one line per node
    sed -E 's/.*(applied_index=[0-9]+ checksum=[0-9a-f?]+).*/\1/'
}
agree() {
    [ "$(state_of <<<"$1" | sort -u | wc -l)" = 1 ]
}
before=""
for _ in $(seq 50); do
    before=$(probe_all) && agree "$before" && break
    sleep 0.1
done
agree "$before" || fail "replicas disagree before the garbage: $before"
echo "before:"
echo "$before"

# The garbage: every port of every node, the three ports of a node at once.
# Seeds differ per port (arguments of a background command are expanded in
# its subshell, so they are computed here, not with a counter).
for ((i = 1; i <= N; i++)); do
    pids=()
    "$PORTFUZZ" fuzz --kind client --target "127.0.0.1:$((BASE + i))" \
        --identity "$dir/operator.identity" --count "$PER_TARGET_COUNT" \
        --seconds "$PER_TARGET_SECONDS" --seed $((10 * i + 1)) &
    pids+=($!)
    "$PORTFUZZ" fuzz --kind peer --target "127.0.0.1:$((BASE + 100 + i))" \
        --identity "$dir/n9.identity" --count "$PER_TARGET_COUNT" \
        --seconds "$PER_TARGET_SECONDS" --seed $((10 * i + 2)) &
    pids+=($!)
    "$PORTFUZZ" fuzz --kind http --target "127.0.0.1:$((BASE + 200 + i))" \
        --count "$PER_TARGET_COUNT" --seconds "$PER_TARGET_SECONDS" \
        --seed $((10 * i + 3)) &
    pids+=($!)
    for p in "${pids[@]}"; do
        wait "$p" || fail "portfuzz against node $i failed (exit $?)"
    done
    for ((j = 1; j <= N; j++)); do
        [ -n "$(rz_node_pid "$j")" ] || fail "node $j died during the garbage"
    done
done

# Still alive, still led, nothing applied.
for ((i = 1; i <= N; i++)); do
    [ -n "$(rz_node_pid "$i")" ] || fail "node $i is not running"
done
leader=$(rz_cluster_wait_leader 10) || fail "no leader after the garbage"
# (A leader change under load is allowed; the followers may need a moment
# to hear from the new leader, hence the wait.)
after=""
for _ in $(seq 50); do
    after=$(probe_all) && agree "$after" &&
        ! grep -q 'leader_id=0' <<<"$after" && break
    sleep 0.1
done
echo "after (leader $leader):"
echo "$after"
[ "$(state_of <<<"$before")" = "$(state_of <<<"$after")" ] ||
    fail "the garbage moved the applied index or the state checksum"
if grep -q 'leader_id=0' <<<"$after"; then
    fail "a node knows no leader after the garbage"
fi
if grep -l -E 'assert|AddressSanitizer|runtime error' "$dir"/n*/ratuszd.log; then
    fail "a node logged an assertion or sanitizer report"
fi

# And the cluster still works.
"$PORTFUZZ" create --target "$targets" --identity "$dir/operator.identity" ||
    fail "no case could be created after the garbage"
echo "port_garbage: ok in $((SECONDS - start_s)) s"
