#!/bin/bash
# smoke.sh BUILD pass|planted OUTDIR: one 60 s jepsen/run on 3 nodes with
# kill and partition (cases workload) and assertions on its results.
#   pass     ratuszd: exit 0, every checker ok, operations really happened
#            (acknowledged creates, reads and status changes), nemesis
#            events in the history
#   planted  ratuszd-planted-early-ack: exit 1 and a lost-write or
#            linearizability failure in summary.json
# Both: the run's namespaces and bridge are gone afterwards.
set -u
BUILD=$1 MODE=$2 OUT=$3
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
fail() { echo "jepsen $MODE: FAIL: $*" >&2; exit 1; }

BIN=$BUILD/node/ratuszd
[ "$MODE" = planted ] && BIN=$BUILD/node/ratuszd-planted-early-ack
for f in "$BIN" "$BUILD/jepsen/rz-jepsen-client" \
    "$BUILD/jepsen/check/ratusz-check" "$BUILD/tools/ratuszctl"; do
    [ -x "$f" ] || fail "$f is not built"
done
[ "$(id -u)" = 0 ] || fail "jepsen/run needs root (network namespaces)"
rm -rf "$OUT"
python3 "$REPO/jepsen/run" --nodes 3 --nemesis partition,kill \
    --workload cases --time "${RZ_JEPSEN_SMOKE_S:-60}" --rate 40 \
    --interval 6 --build "$BUILD" --binary "$BIN" --out "$OUT" \
    ${RZ_JEPSEN_SEED:+--seed $RZ_JEPSEN_SEED} >"$OUT.stdout" 2>"$OUT.stderr"
rc=$?
cat "$OUT.stdout"
tail -5 "$OUT.stderr"
[ -s "$OUT/summary.json" ] || fail "no summary.json (exit $rc); see $OUT.stderr"

# Nothing of the run may be left: namespaces and bridge carry its id.
rid=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['run_id'])" "$OUT/summary.json")
[ -n "$rid" ] || fail "no run_id in summary.json"
if ip netns list | grep -q "rzj${rid}"; then fail "namespaces of run $rid left"; fi
if ip link show | grep -q "rzj${rid}"; then fail "links of run $rid left"; fi

python3 - "$OUT" "$MODE" "$rc" <<'PY' || exit 1
import json, sys
out, mode, rc = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = json.load(open(out + "/summary.json"))
hist = [json.loads(l) for l in open(out + "/history.jsonl") if l.strip()]
nem = [e for e in hist if e.get("process") == "nemesis"]
def fail(msg):
    print("jepsen %s: FAIL: %s" % (mode, msg), file=sys.stderr)
    sys.exit(1)
if len(nem) < 4:
    fail("only %d nemesis events in the history" % len(nem))
by = s["by_f"]
if mode == "pass":
    if rc != 0 or s["verdict"] != "pass":
        fail("exit %d verdict %s: %s" % (rc, s["verdict"], [
            c["checker"] for c in s["checkers"] if not c["ok"]]))
    for f, least in (("create", 50), ("read", 50), ("set-status", 50)):
        if by.get(f, {}).get("ok", 0) < least:
            fail("fewer than %d acknowledged %s operations: %s" %
                 (least, f, by.get(f)))
    if s["lost"] or s["duplicated"] or s["phantom"]:
        fail("lost/duplicated/phantom in a passing run")
else:
    lin = s["checkers"][0]
    if rc != 1:
        fail("the planted fault was not caught (exit %d, verdict %s)" %
             (rc, s["verdict"]))
    if not (s["lost"] > 0 or s["wrong_id"] > 0 or not lin["ok"]):
        fail("exit 1 but no lost-write / linearizability verdict")
    print("planted fault caught: lost %d, wrong id %d, linearizability: %s"
          % (s["lost"], s["wrong_id"], lin.get("verdict")))
print("jepsen %s: ok" % mode)
PY
