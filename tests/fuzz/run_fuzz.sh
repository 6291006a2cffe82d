#!/bin/sh
# Smoke run of one libFuzzer target: fresh seed corpus, then SECONDS of
# fuzzing. Exits non-zero on any crash, leak, sanitizer report or timeout
# (libFuzzer writes the crashing input into WORKDIR).
#   usage: run_fuzz.sh GEN_SEEDS FUZZER TARGET WORKDIR SECONDS
set -eu
gen=$(readlink -f "$1") fuzzer=$(readlink -f "$2") target=$3 work=$4 secs=$5
rm -rf "$work"
mkdir -p "$work/seeds" "$work/corpus"
"$gen" "$target" "$work/seeds"
cd "$work"
exec "$fuzzer" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
    -print_final_stats=1 corpus seeds
