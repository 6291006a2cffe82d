#!/usr/bin/env bash
# make run (tools/run-local.sh) end to end, in a temporary var directory on
# ports 18250-18499: first start creates the keys and the cluster, loads the
# catalog and says "ready"; a case is created through ratuszctl; SIGINT stops
# every node and the script exits 0 within 15 s; a second start runs the
# same cluster and the case is still there; a node killed with SIGKILL is
# reported and restarted.
set -u
BUILD=$1
SRC=$(cd "$(dirname "$0")/../.." && pwd)
CTL=$BUILD/tools/ratuszctl
D=$(mktemp -d /tmp/rz-ctl-run.XXXXXX)
RUN_PID=
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
cleanup() {
    # Anything still alive is a failure already reported; kill by PID only.
    [ -n "$RUN_PID" ] && kill -KILL "$RUN_PID" 2>/dev/null
    for f in "$D"/var/n*/ratuszd.pid; do
        [ -e "$f" ] && kill -KILL "$(cat "$f")" 2>/dev/null
    done
    rm -rf "$D"
}
trap cleanup EXIT
export RATUSZ_VAR=$D/var RATUSZ_BASE_PORT=18250 RATUSZ_COLOR=no
unset RATUSZ_ENDPOINTS RATUSZ_IDENTITY

# start: runs run-local.sh in the background with job control, so it is
# its own process group and SIGINT reaches it as Ctrl-C would (a background
# job of a script without job control ignores SIGINT).
start() {
    : >"$D/run.log"
    set -m
    "$SRC/tools/run-local.sh" "$BUILD" >"$D/run.log" 2>&1 &
    RUN_PID=$!
    set +m
}
# wait_for PATTERN SECONDS: the run log shows PATTERN.
wait_for() {
    local t=0
    while ! grep -q -- "$1" "$D/run.log"; do
        t=$((t + 1))
        if [ $t -gt $(($2 * 10)) ] || ! kill -0 "$RUN_PID" 2>/dev/null; then
            fail "no '$1' in the run log after $2 s:"
            tail -20 "$D/run.log"
            return 1
        fi
        sleep 0.1
    done
}
# stop: SIGINT, then the script must exit 0 within 15 s and leave no node.
stop() {
    local t=0 rc pids
    pids=$(cat "$D"/var/n*/ratuszd.pid 2>/dev/null)
    kill -INT "$RUN_PID"
    while kill -0 "$RUN_PID" 2>/dev/null; do
        t=$((t + 1))
        if [ $t -gt 150 ]; then
            fail "run-local.sh still runs 15 s after SIGINT"
            return 1
        fi
        sleep 0.1
    done
    wait "$RUN_PID"
    rc=$?
    RUN_PID=
    [ $rc = 0 ] || fail "run-local.sh exited $rc after SIGINT"
    for p in $pids; do
        grep -q ratuszd "/proc/$p/cmdline" 2>/dev/null &&
            fail "ratuszd pid $p still runs after run-local.sh stopped"
    done
    grep -q 'stopped;' "$D/run.log" || fail "no 'stopped' message"
}

start
wait_for 'run-local: ready' 30 || exit 1
grep -q 'created .*var' "$D/run.log" || fail "first start did not say it created var"
grep -q 'Warsaw catalog loaded' "$D/run.log" || fail "catalog not loaded: $(grep catalog "$D/run.log")"
grep -q '^n1 | .*msg="ready"' "$D/run.log" || fail "n1's log lines are not prefixed"
[ -s "$D/var/n2/ratuszd.log" ] || fail "var/n2/ratuszd.log is empty"
for f in cluster.key operator.identity agent.identity portal.identity \
    cluster.endpoints n1/node.identity n2/node.identity n3/node.identity \
    n1/ratuszd.conf; do
    [ -e "$D/var/$f" ] || fail "var/$f missing"
done
[ "$(stat -c %a "$D/var/cluster.key")" = 600 ] || fail "cluster.key mode"
grep -q '^1 127.0.0.1:18261 127.0.0.1:18361 127.0.0.1:18461$' \
    "$D/var/cluster.endpoints" || fail "cluster.endpoints: $(cat "$D/var/cluster.endpoints")"
# ratuszctl finds the cluster through RATUSZ_VAR, no flags.
out=$("$CTL" case create --description "make run test" --service ROAD_POTHOLE \
    --district MOKOTOW --json) || fail "case create: $out"
ID=$(echo "$out" | sed -n 's/.*"case_id":\([0-9]*\).*/\1/p')
echo "$out" | grep -q '"status":"ROUTED"' ||
    fail "the catalog did not route a pothole: $out"

# A node killed with SIGKILL is reported and restarted.
k=$(cat "$D/var/n3/ratuszd.pid")
kill -KILL "$k"
wait_for 'n3 exited (killed by signal 9' 5
wait_for 'restarting it in 1 s' 5
t=0
while [ "$(cat "$D/var/n3/ratuszd.pid" 2>/dev/null)" = "$k" ] ||
    [ ! -e "$D/var/n3/ratuszd.pid" ]; do
    t=$((t + 1)); [ $t -gt 50 ] && { fail "n3 not restarted"; break; }
    sleep 0.1
done
stop

# Second start: same keys, same data, no new cluster; the case is there.
cp "$D/var/cluster.key" "$D/ck"
start
wait_for 'run-local: ready' 30 || exit 1
grep -q 'created .*var' "$D/run.log" && fail "second start created var again"
cmp -s "$D/ck" "$D/var/cluster.key" || fail "cluster key changed"
out=$("$CTL" case get "$ID" --json) || fail "case get after restart: $out"
echo "$out" | grep -q '"description":"make run test"' ||
    fail "the case did not survive the restart: $out"
# A second run-local on the same var is refused while this one runs.
"$SRC/tools/run-local.sh" "$BUILD" >"$D/second.log" 2>&1 && fail "two runs on one var"
grep -q 'already running' "$D/second.log" || fail "second run message: $(cat "$D/second.log")"
stop
[ $fails = 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "ctl_run_local: ok"
