#!/usr/bin/env bash
# ratuszctl against a real three-node cluster (ports 18000-18299): status
# --json shape, case create with --description alone, get with history,
# update, list, watch, catalog load twice (idempotent), bad flags (exit 2,
# nothing sent), a refused operation (exit 1) and an unreachable cluster
# (exit 3).
set -u
RZ_BUILD=$1
. "$(dirname "$0")/../integration/cluster.sh"
SRC=$(cd "$(dirname "$0")/../.." && pwd)
D=$(mktemp -d /tmp/rz-ctl-cluster.XXXXXX)
WATCH_PID=
trap '[ -n "$WATCH_PID" ] && kill -KILL "$WATCH_PID" 2>/dev/null; rz_cluster_stop; rm -rf "$D"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
CTL=$RZ_BUILD/tools/ratuszctl
# Debian's python3 directly: a version-manager shim earlier in PATH can take
# a second to start, and this test runs it often.
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
# expect CODE cmd...: exit code; stdout in $D/out, stderr in $D/err.
expect() {
    [ -n "${CTL_TRACE:-}" ] && echo "$(date +%s.%N | cut -c1-14) $*" >&2
    local want=$1 got
    shift
    "$@" >"$D/out" 2>"$D/err"
    got=$?
    [ "$got" = "$want" ] || fail "exit $got (want $want): $* :: $(head -c 600 "$D/err")"
}
# py EXPR: evaluates a python expression over the JSON in $D/out as `o`;
# fails the test when it is false or the output is not JSON.
py() {
    $PY -c 'import json,os,sys
o = json.load(open(sys.argv[1]))
ok = eval(sys.argv[2])
sys.exit(0 if ok else 1)' "$D/out" "$1" 2>"$D/pyerr" ||
        fail "JSON check '$1' on: $(head -c 800 "$D/out") $(cat "$D/pyerr")"
}
# field KEY: a top-level scalar of the JSON in $D/out.
field() { $PY -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$D/out" "$1"; }

rz_cluster_start "$D/c" 3 18000 || exit 1
# ratuszctl finds the cluster through RATUSZ_VAR (the make-run layout:
# cluster.endpoints and operator.identity).
export RATUSZ_VAR=$D/c
unset RATUSZ_ENDPOINTS RATUSZ_IDENTITY

# ---- status ------------------------------------------------------------------
expect 0 "$CTL" status --json
py 'set(["cluster_id","leader","term","members"]) <= set(o)'
py 'isinstance(o["leader"], int) and o["leader"] in (1,2,3) and o["term"] >= 1'
py 'len(o["cluster_id"]) == 32 and len(o["members"]) == 3'
py 'all(set(["id","address","role","reachable","applied_index"]) <= set(m) for m in o["members"])'
py 'sorted(m["id"] for m in o["members"]) == [1,2,3] and all(m["reachable"] for m in o["members"])'
py 'sum(m["role"] == "leader" for m in o["members"]) == 1'
py 'all(m["address"] == "127.0.0.1:%d" % (18100 + m["id"]) for m in o["members"])'
LEADER=$(field leader)
expect 0 "$CTL" status
grep -q "^leader   $LEADER" "$D/out" || fail "status table: $(cat "$D/out")"
grep -Eq '^ID +ROLE +VOTER +REACHABLE' "$D/out" || fail "status table header"
expect 0 "$CTL" member list --json
py 'sorted(m["id"] for m in o["members"]) == [1,2,3] and all(m["voter"] for m in o["members"])'

# ---- catalog -----------------------------------------------------------------
expect 0 "$CTL" catalog load "$SRC/data/warsaw.tsv" --json
py 'o["districts"] == 18 and o["services"] >= 30 and o["rules"] > 100 and o["requests"] >= 1'
# Loading the same file again sends the same request ids (answered from the
# exactly-once memory) and leaves the catalog as it was.
expect 0 "$CTL" catalog load "$SRC/data/warsaw.tsv" --json
py 'o["districts"] == 18 and o["requests"] >= 1'
expect 0 "$CTL" catalog list --json
py 'len(o["districts"]) == 18 and len(o["units"]) == 25 and len(o["services"]) == 32'
py 'len(o["rules"]) == len(set((r["service"], r["district"]) for r in o["rules"])) > 100'
py '{"service": "SIDEWALK", "district": "MOKOTOW", "unit_id": "UD-MOKOTOW"} in o["rules"]'
expect 0 "$CTL" catalog list --type service --json
py 'any(s["code"] == "ROAD_POTHOLE" and s["kind"] == "INCIDENT" for s in o["services"])'
printf 'district\tBAD CODE\tx\n' >"$D/bad.tsv"
expect 2 "$CTL" catalog load "$D/bad.tsv"
grep -q 'line 1' "$D/err" || fail "bad seed message: $(cat "$D/err")"

# ---- cases -------------------------------------------------------------------
# Watch from now on, in the background, for the events of the next steps.
"$CTL" status --json >"$D/out" 2>/dev/null
REV=$($PY -c 'import json,sys; o=json.load(open(sys.argv[1])); print(max(m.get("applied_index") or 0 for m in o["members"]) + 1)' "$D/out")
"$CTL" case watch --from "$REV" --json --count 3 >"$D/watch.out" 2>"$D/watch.err" &
WATCH_PID=$!

expect 0 "$CTL" case create --description "Lamp out on Nowy Świat" --json
py 'set(["case_id","number","status"]) <= set(o) and o["status"] == "NEW"'
ID=$(field case_id)
py 'o["number"].startswith("%d/" % o["case_id"])'
expect 0 "$CTL" case get "$ID" --json
py 'o["status"] == "NEW" and o["version"] == 1 and o["service"] == "OTHER"'
py 'o["channel"] == "PHONE" and o["district"] == "UNKNOWN" and o["description"] == "Lamp out on Nowy Świat"'
py 'len(o["history"]) == 1 and o["history"][0]["type"] == "CREATED" and o["history"][0]["actor_role"] == "OPERATOR"'
expect 0 "$CTL" case update "$ID" --route ZDM --note "roads" --json
py 'o["version"] == 2'
expect 0 "$CTL" case update "$ID" --status IN_PROGRESS --expected-version 2 --json
py 'o["version"] == 3'
# A stale expected version is refused by the cluster: exit 1, version named.
expect 1 "$CTL" case update "$ID" --status RESOLVED --expected-version 2
grep -q 'version 3' "$D/err" || fail "EVERSION message: $(cat "$D/err")"
expect 1 "$CTL" case update "$ID" --status NEW
grep -q 'RATUSZ_EBADSTATUS' "$D/err" || fail "bad transition: $(cat "$D/err")"
expect 1 "$CTL" case get 999999
grep -q 'case list' "$D/err" || fail "no-case hint: $(cat "$D/err")"
expect 0 "$CTL" case get "$ID"
grep -Eq '^status +IN_PROGRESS' "$D/out" || fail "case get table: $(cat "$D/out")"
grep -q 'ROUTED' "$D/out" || fail "history table lacks ROUTED"
expect 0 "$CTL" case create --description "Pothole" --service ROAD_POTHOLE \
    --district MOKOTOW --channel WEB --kind INCIDENT --priority HIGH \
    --street Puławska --house-no 10 --lat 52.19 --lon 21.02 --notify \
    --reporter-name "Jan Kowalski" --reporter-phone "+48 600 000 000" --json
py 'o["status"] == "ROUTED" and o["unit_id"] == "ZDM" and o["reporter_id"] > 0'
ID2=$(field case_id)
expect 0 "$CTL" case list --json
export ID ID2
py '[c["case_id"] for c in o["cases"]][:2] == [int(os.environ["ID2"]), int(os.environ["ID"])]'
expect 0 "$CTL" case list --status ROUTED --district MOKOTOW --json
py 'len(o["cases"]) == 1 and o["cases"][0]["service"] == "ROAD_POTHOLE"'
expect 0 "$CTL" case list --limit 1 --all --json
py 'len(o["cases"]) == 2 and o["next_cursor"] == 0'
expect 0 "$CTL" case list
grep -q 'Pothole' "$D/out" || fail "list table: $(cat "$D/out")"

# The watch saw the create, the route and the status change, in order.
t=0
while kill -0 "$WATCH_PID" 2>/dev/null && [ $t -lt 50 ]; do sleep 0.1; t=$((t + 1)); done
kill -0 "$WATCH_PID" 2>/dev/null && fail "watch --count 3 did not end"
wait "$WATCH_PID"; wrc=$?; WATCH_PID=
[ $wrc = 0 ] || fail "watch exit $wrc: $(cat "$D/watch.err")"
$PY - "$D/watch.out" "$ID" <<'PY' || fail "watch lines: $(cat "$D/watch.out")"
import json, sys
ev = [json.loads(l) for l in open(sys.argv[1])]
assert [e["type"] for e in ev] == ["CREATED", "ROUTED", "STATUS_CHANGED"], ev
assert all(e["case_id"] == int(sys.argv[2]) for e in ev), ev
assert ev[1]["unit_to"] == "ZDM" and ev[2]["status_to"] == "IN_PROGRESS", ev
assert ev[0]["revision"] < ev[1]["revision"] < ev[2]["revision"], ev
PY

# A watch interrupted with SIGINT exits 0.
"$CTL" case watch --from 1 >"$D/w2.out" 2>"$D/w2.err" &
WATCH_PID=$!
sleep 0.5
kill -INT "$WATCH_PID"
t=0
while kill -0 "$WATCH_PID" 2>/dev/null && [ $t -lt 30 ]; do sleep 0.1; t=$((t + 1)); done
wait "$WATCH_PID"; wrc=$?; WATCH_PID=
[ $wrc = 0 ] || fail "watch after SIGINT exit $wrc"
grep -q 'CREATED' "$D/w2.out" || fail "watch table: $(cat "$D/w2.out")"

# ---- bad input: exit 2, nothing sent ---------------------------------------
expect 2 "$CTL" case create
grep -q 'description' "$D/err" || fail "create without description: $(cat "$D/err")"
expect 2 "$CTL" case create --description x --channel PIGEON
expect 2 "$CTL" case create --description x --bogus
expect 2 "$CTL" case create --description x --lat 100 --lon 0
expect 2 "$CTL" case update "$ID"
expect 2 "$CTL" case update "$ID" --status CLOSED --route ZDM
expect 2 "$CTL" case update abc --status CLOSED
expect 2 "$CTL" case update "$ID" --public --status CLOSED
expect 2 "$CTL" case list --limit 0
expect 2 "$CTL" case get
expect 2 "$CTL" case frobnicate
expect 2 "$CTL" status --endpoints nonsense
expect 2 "$CTL" status --timeout-ms 0
expect 2 env RATUSZ_VAR="$D/none" "$CTL" status
grep -q 'make run' "$D/err" || fail "no-var message: $(cat "$D/err")"
expect 0 "$CTL" case list --json
py 'len(o["cases"]) == 2'

# ---- a node down, then an unreachable cluster: exit 3 ---------------------
rz_node_kill 3 KILL
expect 0 "$CTL" status --json
py '[m["reachable"] for m in sorted(o["members"], key=lambda m: m["id"])] == [True, True, False]'
py '[m for m in o["members"] if m["id"] == 3][0]["applied_index"] is None'
expect 3 "$CTL" status --endpoints 127.0.0.1:18297,127.0.0.1:18298 --timeout-ms 1000
grep -q 'no node answered' "$D/err" || fail "unreachable status message: $(cat "$D/err")"
expect 3 "$CTL" case create --description x --endpoints 127.0.0.1:18297 --timeout-ms 1000
grep -q 'unreachable' "$D/err" || fail "unreachable create message: $(cat "$D/err")"

[ $fails = 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "ctl_cluster: ok"
