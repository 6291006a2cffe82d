#!/usr/bin/env bash
# ops_replace (docs/operations.md, "Replace a node"): while a writer creates
# cases, `ratuszctl member replace` swaps a follower for a fresh node 4 (add
# as non-voter, catch up, promote, remove the old one). No write fails, the
# old node leaves the configuration, the replicas agree; removing a voter
# that would break the quorum is refused with RZ_EQUORUM.
set -u
CTL=$1 RATUSZD=$2 PROBE=$3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/cluster.sh"
RZ_CTL=$CTL
RZ_RATUSZD=$RATUSZD
dir=$(mktemp -d)
trap 'rz_node_kill 4 TERM; rz_cluster_stop; rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
B=18580
c=$dir/c
rz_cluster_start "$c" 3 $B || fail "cluster did not start"
leader=$(rz_cluster_wait_leader 20) || fail "no leader"
id="$c/operator.identity"
old=1
[ "$leader" = 1 ] && old=2

# The new node: its own identity, an empty data dir, no bootstrap.
mkdir -p "$c/n4" && chmod 700 "$c/n4"
"$CTL" keys issue --dir "$c/keys" --role node --name n4 --node-id 4 \
    --out "$c/n4/node.identity" >/dev/null || fail "keys issue"
sed -e "s/^id = 1/id = 4/" -e "s#/n1#/n4#" -e "s/$((B + 1))/$((B + 4))/" \
    -e "s/$((B + 101))/$((B + 104))/" -e "s/$((B + 201))/$((B + 204))/" \
    "$c/n1/ratuszd.conf" >"$c/n4/ratuszd.conf"
printf 'bootstrap = false\n' >>"$c/n4/ratuszd.conf"
rz_node_start 4 || fail "node 4 did not start"

"$PROBE" --addr "127.0.0.1:$((B + leader))" --identity "$id" creates 300 load \
    >"$dir/created" 2>&1 &
wpid=$!
sleep 0.3
"$CTL" member replace $old 4 "127.0.0.1:$((B + 104))/127.0.0.1:$((B + 4))" \
    --endpoints "127.0.0.1:$((B + leader))" --identity "$id" --timeout-ms 30000 ||
    fail "member replace failed"
wait $wpid || fail "a write failed during the replace: $(tail -2 "$dir/created")"
[ "$(wc -l <"$dir/created")" = 300 ] || fail "not every write was acknowledged"
rz_node_kill $old TERM
eps="127.0.0.1:$((B + leader)),127.0.0.1:$((B + 4))"
for i in 1 2 3; do
    [ $i != "$old" ] && [ $i != "$leader" ] && eps="$eps,127.0.0.1:$((B + i))"
done
"$CTL" check --endpoints "$eps" --identity "$id" || fail "replicas differ after the replace"
st=$("$PROBE" --addr "127.0.0.1:$((B + leader))" --identity "$id" call 2)
echo "$st" | grep -q "\"id\":$old," && fail "node $old is still a member: $st"
echo "$st" | grep -q '"id":4,' || fail "node 4 is not a member: $st"

# Two of the three voters down: removing a live one would leave no quorum.
other=""
for i in 1 2 3 4; do
    [ $i != "$old" ] && [ $i != "$leader" ] && [ $i != 4 ] && other=$i
done
rz_node_kill "$other" KILL
"$CTL" member remove 4 --endpoints "127.0.0.1:$((B + leader))" --identity "$id" \
    >"$dir/o" 2>&1
rc=$?
cat "$dir/o"
[ $rc = 1 ] || fail "a remove that breaks the quorum was not refused ($rc)"
grep -q 'quorum' "$dir/o" || fail "the refusal does not explain the quorum"
echo PASS
