#!/usr/bin/env bash
# ops_recover (docs/operations.md, "Recovery from quorum loss"): all three
# nodes die, two lose their data for good; `ratuszctl recover --dry-run`
# names the survivor, `recover` forces a one-member configuration onto it,
# it serves again (after `compact` rewrote its state env) with every case
# acknowledged before the loss, and a fresh
# node re-joins with `member add` and ends up with the same state.
set -u
CTL=$1 RATUSZD=$2 PROBE=$3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/cluster.sh"
RZ_CTL=$CTL
RZ_RATUSZD=$RATUSZD
dir=$(mktemp -d)
trap 'rz_cluster_stop; rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
B=18560
c=$dir/c
rz_cluster_start "$c" 3 $B || fail "cluster did not start"
leader=$(rz_cluster_wait_leader 20) || fail "no leader"
id="$c/operator.identity"
"$PROBE" --addr "127.0.0.1:$((B + leader))" --identity "$id" creates 60 rec \
    >"$dir/created" || fail "writes failed"
[ "$(wc -l <"$dir/created")" = 60 ] || fail "expected 60 case ids"
# Every replica has applied them (so the survivor has them all).
"$CTL" check --endpoints "$(rz_cluster_endpoints)" --identity "$id" >/dev/null ||
    fail "replicas differ before the loss"

for i in 1 2 3; do rz_node_kill $i KILL; done
survivor=3
for i in 1 2; do rm -f "$c/n$i/raft.mdb" "$c/n$i/state.mdb" "$c/n$i"/*.mdb-lock; done

# Refused while the node runs (pid file), and bad member lists.
echo $$ >"$c/n$survivor/ratuszd.pid"
"$CTL" recover --data "$c/n$survivor" --members "3=127.0.0.1:1/127.0.0.1:2" \
    >/dev/null 2>&1 && fail "recover ran next to a live pid file"
"$CTL" compact --data "$c/n$survivor" >/dev/null 2>&1 &&
    fail "compact ran next to a live pid file"
rm -f "$c/n$survivor/ratuszd.pid"
# The stopped survivor's state env rewritten compacted: same index and
# checksum (compact checks both), then recovered from.
cmp=$("$CTL" compact --data "$c/n$survivor" --json) || fail "compact: $cmp"
echo "$cmp" | grep -q '"compact":"ok"' || fail "compact: $cmp"
"$CTL" recover --data "$c/n$survivor" --members "3=nonsense" >/dev/null 2>&1
[ $? = 2 ] || fail "a bad --members is not a usage error"

dry=$("$CTL" recover --dry-run --data "$c/n1,$c/n$survivor") || fail "dry run: $dry"
echo "$dry"
echo "$dry" | grep "n$survivor " | grep -q "use this one" || fail "dry run did not pick the survivor"
echo "$dry" | grep "n1 " | grep -q "no state env" || fail "dry run did not report the lost dir"
[ -e "$c/n1/state.mdb" ] && fail "the dry run created a state env"

m="$survivor=127.0.0.1:$((B + 100 + survivor))/127.0.0.1:$((B + survivor))"
"$CTL" recover --data "$c/n$survivor" --members "$m" || fail "recover failed"
rz_node_start $survivor || fail "survivor did not start"
t=0
until "$PROBE" --addr "127.0.0.1:$((B + survivor))" --identity "$id" \
    creates 1 after >/dev/null 2>&1; do
    t=$((t + 1))
    [ $t -lt 100 ] || fail "the recovered node does not take writes"
    sleep 0.1
done
missing=0
while read -r cid; do
    "$PROBE" --addr "127.0.0.1:$((B + survivor))" --identity "$id" \
        call 4 "case_id=u:$cid" "history=b:false" >/dev/null 2>&1 ||
        missing=$((missing + 1))
done <"$dir/created"
[ $missing = 0 ] || fail "$missing acknowledged cases are missing after recovery"

# A fresh node 1 re-joins (empty data dir, no bootstrap).
printf 'bootstrap = false\n' >>"$c/n1/ratuszd.conf"
rz_node_start 1 || fail "fresh node 1 did not start"
"$CTL" member add 1 "127.0.0.1:$((B + 101))/127.0.0.1:$((B + 1))" \
    --endpoints "127.0.0.1:$((B + survivor))" --identity "$id" --timeout-ms 30000 ||
    fail "member add of the fresh node failed"
"$CTL" check --endpoints "127.0.0.1:$((B + 1)),127.0.0.1:$((B + survivor))" \
    --identity "$id" || fail "the re-joined node differs"
echo PASS
