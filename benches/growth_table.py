#!/usr/bin/env python3
"""Turns the JSON lines of benches/growth.sh into Markdown growth tables for BENCHMARKS.md.

    python3 benches/growth_table.py growth.jsonl > tables.md

One table per dimension (followers, keys, payload), each row one measure at one point of the
dimension: Rust, Node and "Rust vs Node" (times better than Node, as the tool's `vs_node`).
Standard library only.
"""

import json
import sys

# (field, label, higher is better); a field may be "a.b" for a nested value.
MEASURES = {
    "invoke": [("ops_per_s", "ops/s", True), ("p50_us", "p50 µs", False),
               ("p99_us", "p99 µs", False),
               ("allocs_per_call.leader", "leader allocations per call", False),
               ("allocs_per_call.follower", "follower allocations per call", False),
               ("alloc_bytes_per_call.leader", "leader bytes allocated per call", False),
               ("alloc_bytes_per_call.follower", "follower bytes allocated per call", False)],
    "fanout": [("deliveries_per_s", "deliveries/s", True), ("p50_us", "latency p50 µs", False),
               ("p99_us", "latency p99 µs", False),
               ("allocs_per_call.leader", "leader allocations per delivered value", False),
               ("allocs_per_call.follower", "follower allocations per delivered value", False)],
    "failover": [("elected_ms_median", "elected ms, median", False),
                 ("calls_ms_median", "calls again ms, median", False),
                 ("calls_ms_max", "calls again ms, max", False),
                 ("subs_ms_max", "subscriptions again ms, max", False),
                 ("errors", "calls errored", False), ("hung", "calls hung", False)],
    "memory": [("leader_rss_kib", "leader VmRSS KiB", False),
               ("follower_rss_kib", "follower VmRSS KiB (max)", False)],
    "keys": [("leader_rss_per_key_bytes", "leader VmRSS per key, bytes", False),
             ("leader_rss_anon_per_key_bytes", "leader RssAnon per key, bytes", False),
             ("subscribe_all_ms", "all subscriptions delivered, ms", False),
             ("change_latency_us.p50", "change latency p50 µs", False),
             ("change_latency_us.p99", "change latency p99 µs", False),
             ("elected_ms_median", "elected ms, median", False),
             ("resubscribe_ms_median", "re-subscribed ms, median", False),
             ("resubscribe_ms_max", "re-subscribed ms, max", False)],
}


def get(rec, field):
    v = rec
    for part in field.split("."):
        if not isinstance(v, dict):
            return None
        v = v.get(part)
    return v


def fmt(v):
    if v is None:
        return "–"
    if isinstance(v, str):
        return v
    if isinstance(v, float) and not v.is_integer():
        return f"{v:,.2f}" if abs(v) < 100 else f"{v:,.1f}"
    return f"{int(v):,}"


def ratio(rust, node, higher):
    if not isinstance(rust, (int, float)) or not isinstance(node, (int, float)):
        return "–"
    if rust == 0 or node == 0:
        return "–"
    x = rust / node if higher else node / rust
    return f"{x:.2f}×"


def load(path):
    """Records keyed by their parameters, each {impl: record}."""
    runs = {}
    errors = []
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line:
                continue
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if "error" in rec and "scenario" not in rec:
                errors.append(rec["error"])
                continue
            key = (rec.get("scenario"), rec.get("followers"), rec.get("depth"),
                   rec.get("payload"), rec.get("codec"), rec.get("keys_per_follower"))
            runs.setdefault(key, {})[rec.get("impl")] = rec
    return runs, errors


def table(title, point_name, rows):
    """rows: (scenario, point, {impl: record})."""
    out = [f"### {title}", "",
           f"| scenario | {point_name} | measure | Rust | Node | Rust vs Node |",
           "|---|---|---|---|---|---|"]
    for scenario, point, recs in rows:
        rust, node = recs.get("rust", {}), recs.get("node", {})
        for field, label, higher in MEASURES[scenario]:
            r, n = get(rust, field), get(node, field)
            if r is None and n is None:
                continue
            if "skipped" in node:
                n = "skipped"
            out.append(f"| {scenario} | {point} | {label} | {fmt(r)} | {fmt(n)} | "
                       f"{ratio(r, n, higher)} |")
    out.append("")
    return "\n".join(out)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: growth_table.py GROWTH.jsonl")
    runs, errors = load(sys.argv[1])

    def pick(pred, point):
        rows = [(k[0], point(k), v) for k, v in runs.items() if pred(k)]
        order = list(MEASURES)
        return sorted(rows, key=lambda r: (order.index(r[0]), r[1]))

    followers = pick(lambda k: k[0] in ("invoke", "fanout", "failover", "memory")
                     and k[3] == 16 and k[4] == "serialize-json" and k[2] == 1,
                     lambda k: k[1])
    keys = pick(lambda k: k[0] == "keys",
                lambda k: (k[1] * k[5], f"{k[1]} x {k[5]}"))
    keys = [(s, f"{p[0]:,} ({p[1]})", v) for s, p, v in keys]
    payload = pick(lambda k: (k[0] == "invoke" and k[1] == 1 and k[2] == 1)
                   or (k[0] == "fanout" and k[1] == 4),
                   lambda k: (k[4], k[3]))
    payload = [(s, f"{p[1]:,} B, {p[0]}", v) for s, p, v in payload]

    print(table("Growth with followers (16 B, serialize-json, depth 1)", "followers", followers))
    print(table("Growth with keys (K x N followers)", "keys in total", keys))
    print(table("Growth with payload (invoke: 1 follower, depth 1; fanout: 4 followers)",
                "payload, codec", payload))
    if errors:
        print("Failed runs: " + "; ".join(errors))


if __name__ == "__main__":
    main()
