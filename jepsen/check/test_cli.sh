#!/usr/bin/env bash
# check_cli: ratusz-check end to end. Unreadable input and bad usage exit 2;
# synthetic case histories from ratusz-check-gen (100,000 operations over
# 1,000 cases) pass when linearizable and fail with every kind of subtle
# break, each within 10 s.
set -u
check=${1:?usage: test_cli.sh RATUSZ_CHECK RATUSZ_CHECK_GEN TMPDIR}
gen=${2:?}
tmp=${3:?}
mkdir -p "$tmp" || exit 1
fail=0
bad() { echo "FAIL: $*"; fail=1; }

# expect EXIT LASTLINE ARGS...: runs the checker, checks status, last line.
expect() {
    local want_rc=$1 want_last=$2
    shift 2
    local out rc last
    out=$("$check" "$@" 2>"$tmp/stderr")
    rc=$?
    last=$(printf '%s\n' "$out" | tail -n 1)
    if [ "$rc" -ne "$want_rc" ]; then
        bad "ratusz-check $* exited $rc, want $want_rc ($(head -c 300 "$tmp/stderr"))"
    elif [ -n "$want_last" ] && [ "$last" != "$want_last" ]; then
        bad "ratusz-check $*: last line '$last', want '$want_last'"
    fi
}

# Unreadable input and usage errors: exit 2 with a message on stderr.
expect 2 "" --model register --format jsonl "$tmp/does-not-exist"
printf '{"process":0,"type":"invoke","f":"read","value":nul}\n' >"$tmp/bad.jsonl"
expect 2 "" --model register --format jsonl "$tmp/bad.jsonl"
grep -q 'line 1' "$tmp/stderr" || bad "no line number in: $(cat "$tmp/stderr")"
head -c 3000 /dev/urandom >"$tmp/random.bin"
expect 2 "" --model kv --format edn "$tmp/random.bin"
expect 2 "" --model register --format jepsen-log "$tmp/random.bin"
expect 2 "" --model nosuch --format jsonl "$tmp/bad.jsonl"
expect 2 "" --model case --format xml "$tmp/bad.jsonl"
expect 2 "" --model case "$tmp/bad.jsonl"
expect 2 ""

# A tiny register history through standard input.
printf '%s\n' \
    '{"process":0,"type":"invoke","f":"write","value":1,"time_ns":10}' \
    '{"process":0,"type":"ok","f":"write","value":1,"time_ns":20}' \
    '{"process":1,"type":"invoke","f":"read","value":null,"time_ns":30}' \
    '{"process":1,"type":"ok","f":"read","value":null,"time_ns":40}' \
    >"$tmp/stale.jsonl"
expect 1 "not linearizable" --model register --format jsonl - <"$tmp/stale.jsonl"

# "via": a status change CLOSED -> IN_PROGRESS refused as bad-status is
# right when the move was asked by the status command (only reopen may make
# it) and wrong without via (the union allows it); a reopen from CLOSED may
# succeed, a route may not move to IN_PROGRESS.
via_hist() { # $1 = via json fragment for the refused op
    printf '%s\n' \
        '{"process":0,"type":"invoke","f":"create","key":"7","value":null,"time_ns":1}' \
        '{"process":0,"type":"ok","f":"create","key":"7","value":{"status":"NEW","version":1},"time_ns":2}' \
        '{"process":0,"type":"invoke","f":"set-status","key":"7","value":{"status":"CLOSED","via":"status"},"time_ns":3}' \
        '{"process":0,"type":"ok","f":"set-status","key":"7","value":{"status":"CLOSED","version":2},"time_ns":4}' \
        "{\"process\":0,\"type\":\"invoke\",\"f\":\"set-status\",\"key\":\"7\",\"value\":{\"status\":\"IN_PROGRESS\"$1},\"time_ns\":5}" \
        "{\"process\":0,\"type\":\"fail\",\"f\":\"set-status\",\"key\":\"7\",\"value\":{\"status\":\"IN_PROGRESS\"$1},\"error\":\"bad-status\",\"time_ns\":6}"
}
via_hist ',"via":"status"' >"$tmp/via-status.jsonl"
expect 0 "linearizable" --model case --format jsonl "$tmp/via-status.jsonl"
via_hist '' >"$tmp/via-any.jsonl"
expect 1 "not linearizable" --model case --format jsonl "$tmp/via-any.jsonl"
via_hist ',"via":"reopen"' >"$tmp/via-reopen.jsonl"
expect 1 "not linearizable" --model case --format jsonl "$tmp/via-reopen.jsonl"
via_hist ',"via":"route"' >"$tmp/via-route.jsonl"
expect 0 "linearizable" --model case --format jsonl "$tmp/via-route.jsonl"
printf '%s\n' '{"process":0,"type":"invoke","f":"set-status","key":"7","value":{"status":"NEW","via":"sideways"},"time_ns":1}' >"$tmp/via-bad.jsonl"
expect 2 "" --model case --format jsonl "$tmp/via-bad.jsonl"

# A budget that runs out gives the verdict "unknown" and exit 3: twenty
# concurrent writes and a read of a value nobody wrote.
: >"$tmp/hard.jsonl"
for i in $(seq 0 19); do
    printf '{"process":%d,"type":"invoke","f":"write","value":%d,"time_ns":0}\n' "$i" "$i" >>"$tmp/hard.jsonl"
done
for i in $(seq 0 19); do
    printf '{"process":%d,"type":"ok","f":"write","value":%d,"time_ns":100}\n' "$i" "$i" >>"$tmp/hard.jsonl"
done
printf '%s\n' '{"process":99,"type":"invoke","f":"read","value":null,"time_ns":200}' \
    '{"process":99,"type":"ok","f":"read","value":999,"time_ns":210}' >>"$tmp/hard.jsonl"
expect 3 "unknown" --model register --format jsonl --max-memory-mb 1 "$tmp/hard.jsonl"
expect 3 "unknown" --model register --format jsonl --timeout 0.2 "$tmp/hard.jsonl"

# Synthetic histories: 100,000 operations over 1,000 cases.
for b in none stale-read lost-write duplicate-create version-jump; do
    f="$tmp/gen-$b.jsonl"
    if ! "$gen" --ops 100000 --cases 1000 --processes 20 --seed 7 \
        --info-rate 0.02 --break "$b" -o "$f"; then
        bad "generator failed for --break $b"
        continue
    fi
    start=$(date +%s%N)
    if [ "$b" = none ]; then
        expect 0 "linearizable" --model case --format jsonl "$f"
    else
        expect 1 "not linearizable" --model case --format jsonl "$f"
    fi
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    echo "100k ops / 1k cases, break $b: ${ms} ms"
    [ "$ms" -le 10000 ] || bad "break $b took ${ms} ms (limit 10 s)"
done
rm -f "$tmp"/gen-*.jsonl
[ $fail -eq 0 ] && echo "check_cli: all good"
exit $fail
