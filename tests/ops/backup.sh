#!/usr/bin/env bash
# ops_backup: `ratuszctl backup` of a live node while a writer runs gives a
# file that `backup verify` accepts (header and payload hashes, the copy's
# kept checksum equal to a full scan); a backup taken when writes are quiet
# holds exactly the replicas' state (same applied index and checksum as
# every node reports over CHECKSUM); damaged, truncated or foreign files are
# refused; an existing file is never overwritten.
set -u
CTL=$1 RATUSZD=$2 PROBE=$3
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../integration/cluster.sh"
RZ_CTL=$CTL
RZ_RATUSZD=$RATUSZD
dir=$(mktemp -d)
trap 'rz_cluster_stop; rm -rf "$dir"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
num() { echo "$2" | sed -n "s/.*\"$1\":\\([0-9]*\\).*/\\1/p"; }
str() { echo "$2" | sed -n "s/.*\"$1\":\"\\([^\"]*\\)\".*/\\1/p"; }

rz_cluster_start "$dir/c" 3 18540 || fail "cluster did not start"
leader=$(rz_cluster_wait_leader 20) || fail "no leader"
ep=$(rz_cluster_endpoints)
id="$dir/c/operator.identity"

# A writer while the backup runs.
"$PROBE" --addr "127.0.0.1:$((18540 + leader))" --identity "$id" \
    creates 400 live >"$dir/created" 2>&1 &
wpid=$!
sleep 0.5
follower=1
[ "$leader" = 1 ] && follower=2
out=$("$CTL" backup "$dir/live.rzb" --data "$dir/c/n$follower" --json) ||
    fail "live backup failed: $out"
echo "live backup: $out"
wait $wpid || fail "writer failed: $(tail -3 "$dir/created")"
live_index=$(num applied_index "$out")
[ "${live_index:-0}" -gt 0 ] || fail "live backup has no applied index"
v=$("$CTL" backup verify "$dir/live.rzb" --json) || fail "verify of the live backup: $v"
[ "$(num applied_index "$v")" = "$live_index" ] || fail "verify reads another index"

# Quiet: the backup equals what every replica reports.
chk=$("$CTL" check --endpoints "$ep" --identity "$id" --json) || fail "check: $chk"
q=$("$CTL" backup "$dir/quiet.rzb" --data "$dir/c/n$leader" --json) || fail "quiet backup: $q"
"$CTL" backup verify "$dir/quiet.rzb" >/dev/null || fail "verify of the quiet backup"
qi=$(num applied_index "$q")
qsum=$(str checksum "$q")
echo "quiet backup index $qi checksum $qsum"
echo "$chk" | grep -q "\"applied_index\":$qi," || fail "replicas are not at index $qi: $chk"
n=$(echo "$chk" | grep -o "\"checksum\":\"$qsum\"" | wc -l)
[ "$n" = 3 ] || fail "backup checksum $qsum is not every replica's: $chk"
[ "$qi" -gt "$live_index" ] || fail "the live backup was not taken mid-write ($live_index >= $qi)"

# Refusals.
"$CTL" backup "$dir/quiet.rzb" --data "$dir/c/n$leader" >/dev/null 2>&1 &&
    fail "an existing backup file was overwritten"
cp "$dir/quiet.rzb" "$dir/bad.rzb"
size=$(stat -c %s "$dir/bad.rzb")
# Flip every bit of one payload byte (writing a fixed value could leave the
# byte as it was).
flip() { # flip FILE OFFSET
    local b
    b=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
    printf "\\$(printf '%03o' $((255 - b)))" | dd of="$1" bs=1 seek="$2" conv=notrunc 2>/dev/null
}
flip "$dir/bad.rzb" $((size / 2))
cmp -s "$dir/quiet.rzb" "$dir/bad.rzb" && fail "the damage did not change the file"
"$CTL" backup verify "$dir/bad.rzb" >"$dir/o" 2>&1 && fail "a damaged payload verified"
grep -q 'damaged' "$dir/o" || fail "no sentence for a damaged payload: $(cat "$dir/o")"
cp "$dir/quiet.rzb" "$dir/bad2.rzb"
flip "$dir/bad2.rzb" 47
"$CTL" backup verify "$dir/bad2.rzb" >/dev/null 2>&1 && fail "a damaged header verified"
head -c $((size - 100)) "$dir/quiet.rzb" >"$dir/short.rzb"
"$CTL" backup verify "$dir/short.rzb" >/dev/null 2>&1 && fail "a truncated file verified"
"$CTL" backup verify "$dir/c/n1/ratuszd.conf" >/dev/null 2>&1 && fail "a foreign file verified"
"$CTL" backup "$dir/x.rzb" --data "$dir/nonexistent" >/dev/null 2>&1 && fail "no data dir accepted"
"$CTL" backup "$dir/x.rzb" >/dev/null 2>&1
[ $? = 2 ] || fail "missing --data is not a usage error"
ls "$dir" | grep -q 'tmp-' && fail "scratch dirs left behind"
echo PASS
