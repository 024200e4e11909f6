#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ for a bounded number of executions or
# seconds (whichever ends first) and prints one line per target: executions,
# seconds, and whether it found a crash. `make fuzz` builds the targets and
# calls this; a crash's input is saved in fuzz/artifacts/<target>/ and the
# script exits with status 1.
#
# Usage: scripts/fuzz.sh BIN_DIR RUNS SECONDS [TARGET...]
set -uo pipefail

bin_dir=$1
runs=$2
seconds=$3
shift 3
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(transaction rpc_params log_reader scenario)
fi

here=$(cd "$(dirname "$0")/.." && pwd)
fuzz="$here/fuzz"
seeds="$fuzz/seeds"
mkdir -p "$seeds"
"$bin_dir/seeds" "$seeds" || { echo "writing the seed corpora failed"; exit 1; }

failed=0
summary=()
for target in "${targets[@]}"; do
    corpus="$fuzz/corpus/$target"
    artifacts="$fuzz/artifacts/$target"
    log="$fuzz/logs/$target.log"
    mkdir -p "$corpus" "$artifacts" "$(dirname "$log")"
    # -rss_limit_mb: a log reader or parser that allocates without bound
    # is a finding too. -max_len 64 KiB covers a log with a few blocks.
    "$bin_dir/$target" "$corpus" "$seeds/$target" \
        -runs="$runs" -max_total_time="$seconds" -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="$artifacts/" -print_final_stats=1 >"$log" 2>&1
    status=$?
    executions=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    elapsed=$(grep -o 'Done [0-9]* runs in [0-9]* second' "$log" | grep -o 'in [0-9]*' | grep -o '[0-9]*' | tail -1)
    if [ "$status" -ne 0 ]; then
        failed=1
        summary+=("$target: CRASH after ${executions:-?} executions (exit $status); input in $artifacts, log in $log")
    else
        summary+=("$target: ${executions:-?} executions in ${elapsed:-?} s, no crash")
    fi
done
printf '%s\n' "${summary[@]}"
exit "$failed"
