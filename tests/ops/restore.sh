#!/usr/bin/env bash
# ops_restore: `ratuszctl restore` of a backup taken from a live node while a
# writer runs seeds a new single-node cluster: its state (applied index,
# state and data checksums) is exactly the backup's, every case acknowledged
# before the backup is readable, a new case gets an id above the old ones
# (the log continues after the restored index: nothing is skipped) and
# survives a restart, a second node joins with member add, and the
# old cluster's operator identity is refused (new cluster id). Refusals: a
# non-empty data dir, an existing cluster key, a damaged backup, a missing
# --data; none of them leaves anything behind.
set -u
CTL=$1 RATUSZD=$2 PROBE=$3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/cluster.sh"
RZ_CTL=$CTL
RZ_RATUSZD=$RATUSZD
dir=$(mktemp -d)
rpid= rpid2=
cleanup() {
    for p in $rpid $rpid2; do
        kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    rz_cluster_stop
    rm -rf "$dir"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*"
    [ -f "$dir/r/n1/ratuszd.log" ] && tail -5 "$dir/r/n1/ratuszd.log"
    exit 1
}
num() { echo "$2" | sed -n "s/.*\"$1\":\\([0-9]*\\).*/\\1/p"; }
str() { echo "$2" | sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }
B=18900
RC=18950 RP=18951 RC2=18952 RP2=18953

rz_cluster_start "$dir/c" 3 $B || fail "cluster did not start"
leader=$(rz_cluster_wait_leader 20) || fail "no leader"
old_id="$dir/c/operator.identity"
# Cases acknowledged before the backup: the leader applied each before it
# answered, so the backup of its data dir holds them all.
"$PROBE" --addr "127.0.0.1:$((B + leader))" --identity "$old_id" \
    creates 40 pre >"$dir/pre" || fail "writes before the backup failed"
[ "$(wc -l <"$dir/pre")" = 40 ] || fail "expected 40 case ids"
"$PROBE" --addr "127.0.0.1:$((B + leader))" --identity "$old_id" \
    creates 300 live >"$dir/live" 2>&1 &
wpid=$!
sleep 0.2
bk=$("$CTL" backup "$dir/live.rzb" --data "$dir/c/n$leader" --json) ||
    fail "backup failed: $bk"
wait $wpid || fail "writer failed: $(tail -3 "$dir/live")"
v=$("$CTL" backup verify "$dir/live.rzb" --json) || fail "verify: $v"
ai=$(num applied_index "$v")
sum=$(str checksum "$v")
dsum=$(str data_checksum "$v")
echo "backup at index $ai data_checksum $dsum"
old_cid=$(str cluster_id "$v")
rz_cluster_stop

# Refusals that change nothing.
"$CTL" restore "$dir/live.rzb" >/dev/null 2>&1
[ $? = 2 ] || fail "missing --data is not a usage error"
cp "$dir/live.rzb" "$dir/bad.rzb"
size=$(stat -c %s "$dir/bad.rzb")
# Flip one payload byte (its complement, so it surely changes).
b=$(od -An -tu1 -j $((size / 2)) -N1 "$dir/bad.rzb" | tr -d ' ')
printf "\\x$(printf %02x $((255 - b)))" |
    dd of="$dir/bad.rzb" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
cmp -s "$dir/bad.rzb" "$dir/live.rzb" && fail "the damaged copy is not damaged"
mkdir -p "$dir/x"
out=$("$CTL" restore "$dir/bad.rzb" --data "$dir/x/n1" 2>&1)
[ $? = 1 ] || fail "a damaged backup was restored: $out"
echo "$out" | grep -q damaged || fail "no sentence for a damaged backup: $out"
[ -e "$dir/x/n1" ] && fail "a failed restore left its data dir"
[ -e "$dir/x/keys" ] && fail "a failed restore left a keys dir"
mkdir -p "$dir/full" && touch "$dir/full/something"
out=$("$CTL" restore "$dir/live.rzb" --data "$dir/full" 2>&1)
[ $? = 1 ] || fail "a non-empty data dir was accepted: $out"
echo "$out" | grep -q "not an empty directory" || fail "no sentence: $out"
[ "$(ls "$dir/full")" = something ] || fail "the non-empty dir was changed"

# The restore.
mkdir -p "$dir/r"
r=$("$CTL" restore "$dir/live.rzb" --data "$dir/r/n1" --peer "127.0.0.1:$RP" \
    --client "127.0.0.1:$RC" --json) || fail "restore failed: $r"
echo "restore: $r"
new_id="$dir/r/keys/operator.identity"
[ -f "$new_id" ] && [ -f "$dir/r/keys/cluster.key" ] || fail "no new keys in $dir/r/keys"
new_cid=$(str cluster_id "$r")
[ -n "$new_cid" ] && [ "$new_cid" != "$old_cid" ] || fail "cluster id not new: $new_cid"
[ "$(num applied_index "$r")" = "$ai" ] || fail "restore reports another index"
# A second restore never overwrites the key (nor touches its dir).
out=$("$CTL" restore "$dir/live.rzb" --data "$dir/r/n2" --keys "$dir/r/keys" 2>&1)
[ $? = 1 ] || fail "an existing cluster key was overwritten: $out"
echo "$out" | grep -q "never overwrites" || fail "no sentence: $out"
[ -e "$dir/r/n2" ] && fail "the refused restore left $dir/r/n2"

"$RATUSZD" --config "$dir/r/n1/ratuszd.conf" >"$dir/r/n1/ratuszd.log" 2>&1 &
rpid=$!
t=0
until c=$("$CTL" check --endpoints "127.0.0.1:$RC" --identity "$new_id" --json 2>/dev/null); do
    t=$((t + 1))
    [ $t -lt 100 ] || fail "the restored node does not answer"
    kill -0 $rpid 2>/dev/null || fail "the restored node exited"
    sleep 0.1
done
echo "restored node: $c"
[ "$(num applied_index "$c")" = "$ai" ] || fail "restored node at another index: $c"
[ "$(str checksum "$c")" = "$sum" ] || fail "state checksum differs from the backup's"
[ "$(str data_checksum "$c")" = "$dsum" ] || fail "data checksum differs from the source's"

# Every case acknowledged before the backup is there; the live ones it
# holds are a prefix of the writer's (ids grow).
missing=0
while read -r cid; do
    "$PROBE" --addr "127.0.0.1:$RC" --identity "$new_id" \
        call 4 "case_id=u:$cid" "history=b:false" >/dev/null 2>&1 ||
        missing=$((missing + 1))
done <"$dir/pre"
[ $missing = 0 ] || fail "$missing cases of the backup are missing"
gap=0 held=0
max_old=$(sort -n "$dir/pre" | tail -1)
while read -r cid; do
    if "$PROBE" --addr "127.0.0.1:$RC" --identity "$new_id" \
        call 4 "case_id=u:$cid" "history=b:false" >/dev/null 2>&1; then
        [ $gap = 0 ] || fail "case $cid is there after a missing one"
        held=$((held + 1))
        [ "$cid" -gt "$max_old" ] && max_old=$cid
    else
        gap=1
    fi
done <"$dir/live"
echo "restored: 40 cases before the backup, $held of 300 written during it"
[ "$held" -lt 300 ] || fail "the backup was not taken while the writer ran"

# New cases continue after the ids the backup holds and are applied (not
# skipped). Cases created after the backup are not in the new cluster, so
# their ids are given out again there.
new=$("$PROBE" --addr "127.0.0.1:$RC" --identity "$new_id" creates 5 after) ||
    fail "creates on the restored node failed: $new"
first=$(echo "$new" | head -1)
[ "$first" -gt "$max_old" ] || fail "new case id $first is not above $max_old"
for cid in $new; do
    "$PROBE" --addr "127.0.0.1:$RC" --identity "$new_id" \
        call 4 "case_id=u:$cid" "history=b:false" >/dev/null 2>&1 ||
        fail "new case $cid is not readable"
done
c2=$("$CTL" check --endpoints "127.0.0.1:$RC" --identity "$new_id" --json) || fail "check: $c2"
[ "$(num applied_index "$c2")" -gt "$ai" ] || fail "applied index did not move: $c2"

# A restart keeps everything: the log (snapshot descriptor, then the new
# entries) replays onto a state that is already past the descriptor.
kill -TERM $rpid
wait $rpid 2>/dev/null
"$RATUSZD" --config "$dir/r/n1/ratuszd.conf" >>"$dir/r/n1/ratuszd.log" 2>&1 &
rpid=$!
t=0
until c3=$("$CTL" check --endpoints "127.0.0.1:$RC" --identity "$new_id" --json 2>/dev/null); do
    t=$((t + 1))
    [ $t -lt 100 ] || fail "the restored node does not answer after a restart"
    sleep 0.1
done
[ "$(num applied_index "$c3")" -ge "$(num applied_index "$c2")" ] ||
    fail "applied index went back after a restart: $c3"
for cid in $new; do
    "$PROBE" --addr "127.0.0.1:$RC" --identity "$new_id" \
        call 4 "case_id=u:$cid" "history=b:false" >/dev/null 2>&1 ||
        fail "new case $cid is gone after a restart"
done

# The old cluster's operator is refused by the new cluster.
"$PROBE" --addr "127.0.0.1:$RC" --identity "$old_id" --timeout-ms 2000 \
    call 4 "case_id=u:$first" "history=b:false" >/dev/null 2>&1 &&
    fail "the old cluster's identity was accepted"

# The new cluster grows: a fresh node 2 (identity from the new key) joins
# with member add (it needs the state, by transfer: the log starts after
# the restored index) and holds the same state.
mkdir "$dir/r/n2"
"$CTL" keys issue --dir "$dir/r/keys" --role node --name n2 --node-id 2 \
    --out "$dir/r/n2/node.identity" >/dev/null || fail "keys issue for n2"
cat >"$dir/r/n2/ratuszd.conf" <<CONF
[node]
id = 2
data_dir = $dir/r/n2
client_listen = 127.0.0.1:$RC2
peer_listen = 127.0.0.1:$RP2
metrics_listen = off
[cluster]
members = 1=127.0.0.1:$RP/127.0.0.1:$RC
bootstrap = false
CONF
"$RATUSZD" --config "$dir/r/n2/ratuszd.conf" >"$dir/r/n2/ratuszd.log" 2>&1 &
rpid2=$!
"$CTL" member add 2 "127.0.0.1:$RP2/127.0.0.1:$RC2" --endpoints "127.0.0.1:$RC" \
    --identity "$new_id" --timeout-ms 20000 >/dev/null ||
    fail "member add of node 2 failed: $(tail -3 "$dir/r/n2/ratuszd.log")"
"$CTL" check --endpoints "127.0.0.1:$RC,127.0.0.1:$RC2" --identity "$new_id" \
    >/dev/null || fail "node 2 differs from node 1 after joining"
echo PASS
