#!/usr/bin/env bash
# ratuszd membership and leadership requests (ports 17040-17299 block
# 17040): a fourth node joins as a non-voter (MEMBER_ADD), catches up and is
# promoted (MEMBER_PROMOTE); LEADER_TRANSFER moves leadership to a named
# node; a removal that would leave fewer live voters than a quorum is
# refused with RZ_EQUORUM, safe removals go through; followers refuse
# membership requests with RZ_ENOTLEADER; non-operators get RZ_EDENIED.
set -u
RZ_BUILD=$1
. "$(dirname "$0")/cluster.sh"
D=$(mktemp -d /tmp/rz-node-members.XXXXXX)
n4pid=
trap '[ -n "$n4pid" ] && kill -KILL $n4pid 2>/dev/null; rz_cluster_stop; [ -n "${RZ_KEEP:-}" ] || rm -rf "$D"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
PROBE=$RZ_BUILD/tests/node/rz-probe
B=17040
on() { local n=$1 who=$2; shift 2; "$PROBE" --addr 127.0.0.1:$((B + n)) --identity "$D/c/$who.identity" "$@"; }
voters() { on "$1" auditor call 2 | grep -o '"voter":true' | wc -l; }

rz_cluster_start "$D/c" 3 $B || exit 1
L=$(rz_cluster_leader)
F=$((L % 3 + 1))
G=$((F % 3 + 1))
on $L agent creates 5 before >/dev/null || fail "creates"

# Node 4: its own identity and a config that does not bootstrap.
mkdir -p "$D/c/n4" && chmod 700 "$D/c/n4"
"$RZ_CTL" keys issue --dir "$D/c/keys" --role node --name n4 --node-id 4 \
    --out "$D/c/n4/node.identity" >/dev/null || fail "issue n4"
"$RZ_RATUSZD" --id 4 --data-dir "$D/c/n4" --client-listen 127.0.0.1:$((B + 4)) \
    --peer-listen 127.0.0.1:$((B + 104)) --metrics-listen 127.0.0.1:$((B + 204)) \
    >"$D/c/n4/ratuszd.log" 2>&1 &
n4pid=$!
addr4="127.0.0.1:$((B + 104))/127.0.0.1:$((B + 4))"
out=$(on $F operator call 20 id=u:4 address=s:$addr4)
echo "$out" | grep -q RZ_ENOTLEADER || fail "MEMBER_ADD on a follower: $out"
out=$(on $L agent call 20 id=u:4 address=s:$addr4)
echo "$out" | grep -q RZ_EDENIED || fail "MEMBER_ADD by an agent: $out"
out=$(on $L operator call 20 id=u:4 address=s:$addr4)
echo "$out" | grep -q '"type":64,"body":{"index":' || fail "MEMBER_ADD: $out"
[ "$(voters $L)" = 3 ] || fail "a new member must not vote yet"
ok=0
for i in $(seq 1 100); do
    out=$(on 4 agent call 4 case_id=u:5 history=b:false max_stale_ms=u:5000)
    echo "$out" | grep -q '"description":"before 4"' && { ok=1; break; }
    sleep 0.1
done
[ $ok = 1 ] || fail "node 4 did not catch up: $out"
out=$(on $L operator call 21 id=u:4)
echo "$out" | grep -q '"index"' || fail "MEMBER_PROMOTE: $out"
[ "$(voters $L)" = 4 ] || fail "node 4 is not a voter: $(on $L auditor call 2)"

# Leadership to a named node.
out=$(on $L operator call 23 id=u:$F)
echo "$out" | grep -q "\"leader_id\":$F" || fail "LEADER_TRANSFER to $F: $out"
ok=0
for i in $(seq 1 100); do
    [ "$(rz_cluster_leader)" = "$F" ] && { ok=1; break; }
    sleep 0.05
done
[ $ok = 1 ] || fail "node $F does not lead"

# Removing node 4 while all are live keeps a quorum: done.
out=$(on $F operator call 22 id=u:4)
echo "$out" | grep -q '"index"' || fail "MEMBER_REMOVE of node 4: $out"
[ "$(voters $F)" = 3 ] || fail "node 4 still a member: $(on $F auditor call 2)"
kill -KILL $n4pid; wait $n4pid 2>/dev/null; n4pid=
# With G down, removing L would leave {F, G} with one live voter: refused.
rz_node_kill $G KILL
sleep 0.3 # the leader's peer link notices the dead node
# (L or F leads now: a quorum is alive; whoever leads answers.)
K=$(rz_cluster_wait_leader 10 $G) || fail "no leader with $L and $F alive"
out=$(on $K operator call 22 id=u:$L)
echo "$out" | grep -q RZ_EQUORUM || fail "unsafe MEMBER_REMOVE: $out"
[ "$(voters $K)" = 3 ] || fail "a refused removal changed the configuration"
# Removing the dead G leaves {L, F}, both live: allowed.
out=$(on $K operator call 22 id=u:$G)
echo "$out" | grep -q '"index"' || fail "MEMBER_REMOVE of node $G: $out"
[ "$(voters $K)" = 2 ] || fail "node $G still a member: $(on $K auditor call 2)"
on $K agent creates 1 after >/dev/null || fail "writes after the removal"

rz_cluster_stop
if grep -q 'Sanitizer\|runtime error' "$D"/c/n*/ratuszd.log; then
    fail "sanitizer report in a node log"
fi
if [ $fails -gt 0 ]; then
    echo "$fails failure(s)"
    tail -n 12 "$D"/c/n*/ratuszd.log
    exit 1
fi
echo "node_members: ok"
