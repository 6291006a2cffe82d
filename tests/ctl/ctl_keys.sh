#!/bin/sh
# ratuszctl keys: init, issue for every role, show (table and JSON), and
# every refusal documented in docs/ratuszctl.md, with its exit code.
set -u
CTL=$1
D=$(mktemp -d)
trap 'rm -rf "$D"' EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
# expect CODE cmd...: runs cmd, checks its exit code, keeps stdout/stderr.
expect() {
    want=$1; shift
    "$@" >"$D/out" 2>"$D/err"; got=$?
    [ "$got" = "$want" ] || fail "exit $got (want $want): $* :: $(cat "$D/err")"
}
# json KEY: a field of the last --json output (string, number or bool; the
# values here never hold quotes). Every output is also kept in all.jsonl and
# parsed by a real JSON parser once at the end (python3 starts slowly).
json() {
    cat "$D/out" >>"$D/all.jsonl"
    sed -n 's/.*"'"$1"'":"\{0,1\}\([^",}]*\)"\{0,1\}[,}].*/\1/p' "$D/out"
}

K=$D/keys
expect 0 "$CTL" --help
grep -q keys "$D/out" || fail "--help does not list keys"
expect 0 "$CTL" keys --help
grep -q "keys issue" "$D/out" || fail "keys --help lacks issue"
expect 2 "$CTL" nosuch
expect 2 "$CTL" keys nosuch --dir "$K"
expect 2 "$CTL" keys init
expect 2 "$CTL" keys init --dir
expect 2 "$CTL" keys init --dir "$K" --bogus

expect 0 "$CTL" keys init --dir "$K" --json
CID=$(json cluster_id)
[ ${#CID} = 32 ] || fail "cluster id '$CID'"
[ "$(json kind)" = cluster-key ] || fail "init kind"
[ "$(stat -c %a "$K")" = 700 ] || fail "dir mode"
[ "$(stat -c %a "$K/cluster.key")" = 600 ] || fail "key mode"
cp "$K/cluster.key" "$D/ck.before"
expect 1 "$CTL" keys init --dir "$K"
grep -q "already exists" "$D/err" || fail "init overwrite message"
cmp -s "$K/cluster.key" "$D/ck.before" || fail "cluster key changed"

for r in operator agent portal auditor; do
    expect 0 "$CTL" keys issue --dir "$K" --role $r --name "u-$r" --json
    [ "$(json role)" = $r ] || fail "role $r"
    [ "$(json node_id)" = 0 ] || fail "node id $r"
    expect 0 "$CTL" keys show "$K/u-$r.id" --json
    [ "$(json role)" = $r ] || fail "show role $r"
    [ "$(json name)" = "u-$r" ] || fail "show name $r"
    [ "$(json cluster_id)" = "$CID" ] || fail "show cluster $r"
    [ "$(json expired)" = false ] || fail "show expired $r"
    [ "$(stat -c %a "$K/u-$r.id")" = 600 ] || fail "mode $r"
done
expect 0 "$CTL" keys issue --dir "$K" --role node --name n7 --node-id 7 \
    --days 2 --out "$D/n7.id"
expect 0 "$CTL" keys show "$D/n7.id"
grep -Eq '^role +node$' "$D/out" || fail "table role"
grep -Eq '^node_id +7$' "$D/out" || fail "table node id"
grep -Eq "^cluster_id +$CID\$" "$D/out" || fail "table cluster id"
grep -Eq '^not_after +[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$' "$D/out" ||
    fail "table not_after"
grep -qi secret "$D/out" && fail "show prints a secret"
expect 0 "$CTL" keys show "$K/cluster.key" --json
[ "$(json cluster_id)" = "$CID" ] || fail "show cluster key"

# A long path is printed whole (output fields are not truncated).
L=$D/$(printf 'd%.0s' $(seq 1 150))
mkdir "$L"
expect 0 "$CTL" keys issue --dir "$K" --role agent --name long \
    --out "$L/long.id" --json
[ "$(json file)" = "$L/long.id" ] || fail "long path truncated"

# Refusals: nothing written.
expect 1 "$CTL" keys issue --dir "$K" --role agent --name u-agent
grep -q "already exists" "$D/err" || fail "issue overwrite message"
expect 2 "$CTL" keys issue --dir "$K" --role boss --name b
expect 2 "$CTL" keys issue --dir "$K" --role node --name n0
expect 2 "$CTL" keys issue --dir "$K" --role node --name n0 --node-id 0
expect 2 "$CTL" keys issue --dir "$K" --role agent --name a9 --node-id 3
expect 2 "$CTL" keys issue --dir "$K" --role agent --name a9 --days abc
expect 2 "$CTL" keys issue --role agent --name a9
expect 1 "$CTL" keys issue --dir "$D/none" --role agent --name a9
for f in b n0 a9; do [ -e "$K/$f.id" ] && fail "$f.id written"; done
[ -e "$D/none/a9.id" ] && fail "a9.id written without a cluster key"

chmod 644 "$K/u-agent.id"
expect 1 "$CTL" keys show "$K/u-agent.id"
grep -q "chmod 600" "$D/err" || fail "no chmod hint: $(cat "$D/err")"
printf 'ratusz-identity v1\ngarbage\n' >"$D/bad.id"; chmod 600 "$D/bad.id"
expect 1 "$CTL" keys show "$D/bad.id"
expect 1 "$CTL" keys show "$D/missing.id"
expect 2 "$CTL" keys show

# A second cluster: its identities carry its own cluster id.
expect 0 "$CTL" keys init --dir "$D/k2" --json
CID2=$(json cluster_id)
[ "$CID2" != "$CID" ] || fail "two clusters, one id"
expect 0 "$CTL" keys issue --dir "$D/k2" --role operator --name op
expect 0 "$CTL" keys show "$D/k2/op.id" --json
[ "$(json cluster_id)" = "$CID2" ] || fail "second cluster id"

python3 - "$D/all.jsonl" <<'PY' || fail "JSON output does not parse"
import json, sys
n = 0
for line in open(sys.argv[1]):
    o = json.loads(line)
    assert o["kind"] in ("identity", "cluster-key"), o
    want = {"kind", "file", "cluster_id", "cluster_public_key"}
    if o["kind"] == "identity":
        want |= {"role", "name", "node_id", "public_key", "not_after",
                 "expired"}
        assert isinstance(o["node_id"], int) and o["expired"] is False, o
    assert set(o) == want, o
    n += 1
assert n >= 10, n
PY
[ $fails = 0 ] || { echo "$fails failure(s)"; exit 1; }
echo "ctl_keys: ok"
