#!/usr/bin/env bash
# The growth matrix of the load tool (examples/bench), against Node: how each measure grows
# with followers, keys and payload size. Writes JSON lines (one per measurement, as the tool
# prints them) to the file given as $1; `python3 benches/growth_table.py FILE` makes the
# Markdown tables for BENCHMARKS.md.
#
#   benches/growth.sh growth.jsonl
#
# Estimated run time on 2 cores: about 20 minutes (invoke ~1 min, fanout ~4 min, failover
# ~2 min, memory ~1 min, keys ~2 min, payload ~8 min; the 1 MiB fanout runs are the slowest).
# Run it on an otherwise idle machine. A failed run appends {"error": ...} and the matrix
# goes on.
#
# Dimensions:
# - followers 1/4/16/64: invoke (depth 1), fanout, failover, memory; 16 B, serialize-json.
# - keys in total 1/1000/10000/100000: 1 follower x 1, 4 x 250, 4 x 2500, 4 x 25000 (four
#   followers so that three survivors re-subscribe after each kill; with one follower the
#   only survivor is the new leader and resubscribe_ms is null), plus 64 x 1000 for the
#   re-subscription of many followers. Node runs above 10,000 keys in total print "skipped".
# - payload 16/4096/65536/1048576 x serialize-json/json: invoke (1 follower, depth 1) and
#   fanout (4 followers); the 16 B serialize-json points come from the followers dimension.
set -uo pipefail
cd "$(dirname "$0")/.."
out=${1:?usage: benches/growth.sh OUTPUT.jsonl}
: >"$out"
CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1} cargo build -q --profile perf --example bench || exit 1
B=target/perf/examples/bench
S=(--seconds 2 --vs-node)

run() {
    echo "growth: $*" >&2
    if ! "$B" "$@" "${S[@]}" >>"$out"; then
        printf '{"error": "bench %s failed"}\n' "$*" >>"$out"
    fi
}

for n in 1 4 16 64; do
    run invoke --followers "$n" --depth 1
    run fanout --followers "$n"
    run failover --followers "$n"
    run memory --followers "$n"
done

run keys --followers 1 --keys 1
run keys --followers 4 --keys 250
run keys --followers 4 --keys 2500
run keys --followers 4 --keys 25000
run keys --followers 64 --keys 1000

for codec in serialize-json json; do
    for p in 16 4096 65536 1048576; do
        if [ "$codec" = serialize-json ] && [ "$p" = 16 ]; then
            continue
        fi
        run invoke --followers 1 --depth 1 --payload "$p" --codec "$codec"
        run fanout --followers 4 --payload "$p" --codec "$codec"
    done
done
