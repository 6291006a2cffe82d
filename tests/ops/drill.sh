#!/usr/bin/env bash
# ops_drill_leader_kill: `ratuszctl drill leader-kill --local` for 5 rounds
# must acknowledge cases, lose none, duplicate none, and find the replicas
# consistent; its JSON report carries the keys issue #7 fixes.
set -u
CTL=$1 RATUSZD=$2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
fail() { echo "FAIL: $*"; cat "$out"; exit 1; }

"$CTL" drill leader-kill --local --rounds 5 --base-port 18500 \
    --election-timeout-ms 500 --ratuszd "$RATUSZD" --json >"$out" 2>&1
rc=$?
cat "$out"
[ $rc = 0 ] || fail "drill exited $rc"
json=$(grep '^{' "$out" | tail -1)
for k in rounds acknowledged lost duplicated outage_p50_ms outage_max_ms \
    consistent detect_p50_ms elect_p50_ms elect_max_ms; do
    echo "$json" | grep -q "\"$k\":" || fail "no key $k in the report"
done
num() { echo "$json" | sed -n "s/.*\"$1\":\\([0-9-]*\\).*/\\1/p"; }
[ "$(num rounds)" = 5 ] || fail "rounds is not 5"
[ "$(num rounds_ok)" = 5 ] || fail "not every round recovered"
[ "$(num lost)" = 0 ] || fail "lost cases"
[ "$(num duplicated)" = 0 ] || fail "duplicated cases"
[ "$(num acknowledged)" -gt 50 ] || fail "too few acknowledged cases"
[ "$(num elect_max_ms)" -gt 0 ] || fail "no election measured"
echo "$json" | grep -q '"consistent":true' || fail "replicas not consistent"
# The throw-away cluster is gone.
ls -d "${TMPDIR:-/tmp}"/ratusz-drill-* 2>/dev/null | while read -r d; do
    [ -e "$d/n1/ratuszd.conf" ] && grep -q "18501" "$d/n1/ratuszd.conf" &&
        fail "drill left $d behind"
done
# Refusals: a named cluster that is not a drill target; a bad drill name.
tmp=$(mktemp -d)
RATUSZ_VAR=$tmp "$CTL" drill leader-kill >"$out" 2>&1
rc=$?
rm -rf "$tmp"
[ $rc = 1 ] && grep -q 'drill target' "$out" || fail "unmarked cluster not refused ($rc)"
"$CTL" drill leader-explode --local >"$out" 2>&1
[ $? = 2 ] || fail "bad drill name not a usage error"
echo PASS
