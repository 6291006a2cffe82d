#!/usr/bin/env bash
# ops_drill_rolling_restart: `ratuszctl drill rolling-restart --local`
# restarts every node in turn (followers first, the leader last, SIGTERM so
# it hands leadership over) while writers create cases: every write is
# acknowledged (no unknown outcome, no rejection), none lost or duplicated,
# replicas consistent.
set -u
CTL=$1 RATUSZD=$2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
fail() { echo "FAIL: $*"; cat "$out"; exit 1; }
"$CTL" drill rolling-restart --local --rounds 1 --base-port 18800 \
    --ratuszd "$RATUSZD" --json >"$out" 2>&1
rc=$?
cat "$out"
[ $rc = 0 ] || fail "drill exited $rc"
json=$(grep '^{' "$out" | tail -1)
num() { echo "$json" | sed -n "s/.*\"$1\":\\([0-9-]*\\).*/\\1/p"; }
[ "$(num rounds_ok)" = 1 ] || fail "the round did not complete"
[ "$(num lost)" = 0 ] || fail "lost cases"
[ "$(num duplicated)" = 0 ] || fail "duplicated cases"
[ "$(num unknown)" = 0 ] || fail "writes with unknown outcome"
[ "$(num rejected)" = 0 ] || fail "rejected writes"
[ "$(num acknowledged)" -gt 50 ] || fail "too few acknowledged cases"
echo "$json" | grep -q '"consistent":true' || fail "replicas not consistent"
echo PASS
