#!/usr/bin/env bash
# ops_drill_named: a drill against a named cluster (the var dir of `make
# run`, supervised by tools/run-local.sh): refused until the cluster is
# marked as a drill target; then kills the leader by the PID in
# var/n<ID>/ratuszd.pid, waits for the supervisor to restart it, and
# reports 0 lost, 0 duplicated, replicas consistent. Also `leader transfer`
# and `check` on the same cluster.
set -u
CTL=$1 BUILD=$2 REPO=$3
dir=$(mktemp -d)
export RATUSZ_VAR=$dir/var RATUSZ_BASE_PORT=18640 RATUSZ_COLOR=no
runpid=
cleanup() {
    if [ -n "$runpid" ]; then
        kill -TERM "$runpid" 2>/dev/null
        for _ in $(seq 1 300); do kill -0 "$runpid" 2>/dev/null || break; sleep 0.05; done
    fi
    rm -rf "$dir"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; tail -20 "$dir/run.log"; exit 1; }
"$REPO/tools/run-local.sh" "$BUILD" >"$dir/run.log" 2>&1 &
runpid=$!
t=0
until grep -q 'Ctrl-C stops' "$dir/run.log" 2>/dev/null; do
    t=$((t + 1))
    [ $t -lt 600 ] || fail "make run did not come up"
    kill -0 $runpid 2>/dev/null || fail "make run exited"
    sleep 0.1
done
"$CTL" drill leader-kill --rounds 1 >"$dir/o" 2>&1
[ $? = 1 ] && grep -q 'drill-target' "$dir/o" || fail "an unmarked cluster was drilled"
touch "$RATUSZ_VAR/drill-target"
"$CTL" drill leader-kill --rounds 2 --json >"$dir/o" 2>&1 || fail "drill: $(cat "$dir/o")"
json=$(grep '^{' "$dir/o" | tail -1)
echo "$json"
echo "$json" | grep -q '"rounds_ok":2,' || fail "rounds did not recover"
echo "$json" | grep -q '"lost":0,' || fail "lost cases"
echo "$json" | grep -q '"duplicated":0,' || fail "duplicated cases"
echo "$json" | grep -q '"consistent":true' || fail "replicas differ"
out=$("$CTL" leader transfer --json) || fail "leader transfer: $out"
echo "$out" | grep -q '"result":"moved"' || fail "leader transfer: $out"
"$CTL" check >/dev/null || fail "check after the drill"
echo PASS
