//! Load tool: real processes (one leader, N followers) sharing one channel.
//!
//! ```text
//! cargo run --profile perf --example bench -- SCENARIO [--followers N] [--depth D]
//!     [--payload 16|4096|65536|1048576] [--keys K] [--codec serialize-json|json] [--seconds S]
//!     [--vs-node]
//! ```
//!
//! Scenarios: `invoke`, `echo`, `fanout`, `failover`, `memory`, `keys`. Prints one JSON object per
//! measurement on stdout (progress goes to stderr). `--vs-node` also runs the scenario with the
//! Node package (`tests/interop/node/bench/bench_child.js`) and adds `vs_node` ratios to the
//! Rust object. The binary re-executes itself as the child processes (`--child ROLE`).

mod alloc_count;
mod child;
mod common;
mod driver;

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{Value, json};

use common::{Hist, mono_ns};
use driver::{Impl, Proc};

/// Counts allocations in every Rust process of the bench (parent and children).
#[global_allocator]
static ALLOCATOR: alloc_count::Counting = alloc_count::Counting;

#[derive(Debug, Clone)]
struct Config {
    scenario: String,
    followers: usize,
    depth: usize,
    payload: usize,
    codec: String,
    seconds: f64,
    /// `keys`: subscriptions per follower.
    keys: usize,
    vs_node: bool,
}

const USAGE: &str = "usage: bench SCENARIO [--followers N] [--depth D] \
[--payload 16|4096|65536|1048576] [--keys K] [--codec serialize-json|json] [--seconds S] [--vs-node]\n\
scenarios: invoke echo fanout failover memory keys\n\
--keys K: keys per follower (scenario keys; K x followers <= 100000)";

/// `keys`: the most subscriptions in one run (K x N).
const MAX_TOTAL_KEYS: usize = 100_000;

fn parse(args: &[String]) -> Result<Config, String> {
    let mut cfg = Config {
        scenario: String::new(),
        followers: 1,
        depth: 1,
        payload: 16,
        codec: "serialize-json".into(),
        seconds: 3.0,
        keys: 1000,
        vs_node: false,
    };
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = |name: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match a.as_str() {
            "--followers" => cfg.followers = num(&value(a)?, a)?,
            "--depth" => cfg.depth = num(&value(a)?, a)?,
            "--payload" => cfg.payload = num(&value(a)?, a)?,
            "--codec" => cfg.codec = value(a)?,
            "--seconds" => cfg.seconds = num(&value(a)?, a)?,
            "--keys" => cfg.keys = num(&value(a)?, a)?,
            "--vs-node" => cfg.vs_node = true,
            "-h" | "--help" => return Err(USAGE.into()),
            s if s.starts_with('-') => return Err(format!("unknown flag {s}\n{USAGE}")),
            s if cfg.scenario.is_empty() => cfg.scenario = s.to_owned(),
            s => return Err(format!("unexpected argument {s}\n{USAGE}")),
        }
    }
    if !["invoke", "echo", "fanout", "failover", "memory", "keys"].contains(&cfg.scenario.as_str())
    {
        return Err(USAGE.into());
    }
    if cluster_client::codec::PayloadCodec::from_name(&cfg.codec).is_none() {
        return Err(format!("unknown codec {}\n{USAGE}", cfg.codec));
    }
    if !common::PAYLOADS.contains(&cfg.payload) {
        return Err("--payload must be 16, 4096, 65536 or 1048576".into());
    }
    if cfg.keys == 0 || cfg.keys * cfg.followers > MAX_TOTAL_KEYS {
        return Err(format!(
            "--keys must be at least 1 and --keys x --followers at most {MAX_TOTAL_KEYS}"
        ));
    }
    if cfg.followers == 0 || cfg.followers > 64 || cfg.depth == 0 || cfg.depth > 4096 {
        return Err("--followers must be 1..=64 and --depth 1..=4096".into());
    }
    if !(cfg.seconds > 0.0 && cfg.seconds <= 600.0) {
        return Err("--seconds must be in (0, 600]".into());
    }
    Ok(cfg)
}

fn num<T: std::str::FromStr>(s: &str, name: &str) -> Result<T, String> {
    s.parse().map_err(|_| format!("{name}: not a number: {s}"))
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--child") {
        child::main(&args[..]);
        return;
    }
    let cfg = match parse(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let code = rt.block_on(async move {
        match run(&cfg).await {
            Ok(()) => 0,
            Err(e) => {
                eprintln!("bench: {e}");
                1
            }
        }
    });
    std::process::exit(code);
}

async fn run(cfg: &Config) -> Result<(), String> {
    if cfg.vs_node {
        driver::ensure_node_modules()?;
    }
    let ours = measure(cfg, Impl::Rust).await?;
    if !cfg.vs_node {
        common::emit(&ours);
        return Ok(());
    }
    let node = measure(cfg, Impl::Node).await?;
    common::emit(&node);
    let mut ours = ours;
    ours["vs_node"] = compare(&ours, &node);
    common::emit(&ours);
    Ok(())
}

/// Ratios as "times better than Node": ours/node where higher is better, node/ours where
/// lower is better.
fn compare(ours: &Value, node: &Value) -> Value {
    const HIGHER: &[&str] = &["ops_per_s", "deliveries_per_s", "max_rate_values_per_s"];
    const LOWER: &[&str] = &[
        "p50_us",
        "p99_us",
        "elected_ms_median",
        "calls_ms_median",
        "calls_ms_max",
        "subs_ms_median",
        "subs_ms_max",
        "leader_rss_kib",
        "follower_rss_kib",
        "leader_ready_ms",
        "follower_ready_ms",
        "leader_rss_per_key_bytes",
        "elected_ms_max",
        "resubscribe_ms_median",
        "resubscribe_ms_max",
    ];
    let mut out = serde_json::Map::new();
    for (keys, higher) in [(HIGHER, true), (LOWER, false)] {
        for k in keys {
            let (Some(a), Some(b)) = (ours[*k].as_f64(), node[*k].as_f64()) else {
                continue;
            };
            let x = if higher { a / b } else { b / a };
            if x.is_finite() {
                out.insert(
                    (*k).to_owned(),
                    json!({"rust": a, "node": b, "x": round(x, 2)}),
                );
            }
        }
    }
    Value::Object(out)
}

fn round(x: f64, digits: i32) -> f64 {
    let p = 10f64.powi(digits);
    (x * p).round() / p
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free loopback port")
}

fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn base(cfg: &Config, imp: Impl) -> Value {
    let mut v = json!({
        "scenario": cfg.scenario,
        "impl": imp.name(),
        "followers": cfg.followers,
        "depth": cfg.depth,
        "payload": cfg.payload,
        "codec": cfg.codec,
        "seconds": cfg.seconds,
        "loadavg": loadavg(),
    });
    if cfg.scenario == "keys" {
        v["keys_per_follower"] = json!(cfg.keys);
        v["keys_total"] = json!(cfg.keys * cfg.followers);
    }
    v
}

fn child_args(cfg: &Config, port: u16) -> Vec<String> {
    vec![
        "--port".into(),
        port.to_string(),
        "--codec".into(),
        cfg.codec.clone(),
        "--payload".into(),
        cfg.payload.to_string(),
        "--depth".into(),
        cfg.depth.to_string(),
    ]
}

async fn measure(cfg: &Config, imp: Impl) -> Result<Value, String> {
    eprintln!(
        "bench: {} ({}) followers={} depth={} payload={} codec={}",
        cfg.scenario,
        imp.name(),
        cfg.followers,
        cfg.depth,
        cfg.payload,
        cfg.codec
    );
    let mut out = base(cfg, imp);
    let fields = match cfg.scenario.as_str() {
        "invoke" => load(cfg, imp, false).await?,
        "echo" => load(cfg, imp, true).await?,
        "fanout" => fanout(cfg, imp).await?,
        "failover" => failover(cfg, imp).await?,
        "memory" => memory(cfg, imp).await?,
        "keys" => keys(cfg, imp).await?,
        _ => unreachable!(),
    };
    for (k, v) in fields.as_object().into_iter().flatten() {
        out[k] = v.clone();
    }
    Ok(out)
}

/// `allocs_per_call` and `alloc_bytes_per_call`: `{"leader": .., "follower": ..}` from the
/// (allocations, bytes) each side counted over `values` calls or delivered values; null where
/// nothing was counted (Node children, the raw echo floor).
fn per_value(
    leader: Option<(u64, u64)>,
    follower: Option<(u64, u64)>,
    values: u64,
) -> (Value, Value) {
    if leader.is_none() && follower.is_none() || values == 0 {
        return (Value::Null, Value::Null);
    }
    let per = |x: Option<u64>| x.map(|x| round(x as f64 / values as f64, 2));
    (
        json!({"leader": per(leader.map(|l| l.0)), "follower": per(follower.map(|f| f.0))}),
        json!({"leader": per(leader.map(|l| l.1)), "follower": per(follower.map(|f| f.1))}),
    )
}

fn us(ns: u64) -> f64 {
    round(ns as f64 / 1000.0, 1)
}

async fn stop_all(procs: Vec<Proc>) {
    futures::future::join_all(procs.into_iter().map(Proc::stop)).await;
}

/// `invoke` (through the runtime) and `echo` (raw frames): every follower keeps `depth` calls
/// outstanding; the windows of all followers coincide.
async fn load(cfg: &Config, imp: Impl, raw: bool) -> Result<Value, String> {
    let port = free_port();
    let args = child_args(cfg, port);
    let (lrole, frole) = if raw {
        ("echo-server", "echo-client")
    } else {
        ("leader", "follower")
    };
    let (leader, _, _) = Proc::spawn(imp, "leader", lrole, &args).await?;
    let mut followers = Vec::new();
    for i in 0..cfg.followers {
        followers.push(
            Proc::spawn(imp, &format!("follower{i}"), frole, &args)
                .await?
                .0,
        );
    }
    let warmup_ms = (cfg.seconds * 300.0).clamp(200.0, 1000.0) as u64;
    let ms = (cfg.seconds * 1000.0) as u64;
    let run = json!({"cmd": "run", "warmup_ms": warmup_ms, "ms": ms});
    let mut leader = leader;
    let count_leader = imp == Impl::Rust && !raw;
    if count_leader {
        leader
            .send(&json!({"cmd": "alloc_window", "warmup_ms": warmup_ms, "ms": ms}))
            .await?;
    }
    for f in followers.iter_mut() {
        f.send(&run).await?;
    }
    let mut follower_allocs: Option<(u64, u64)> = Some((0, 0));
    let mut hist = Hist::default();
    let mut errors = 0;
    let mut ops = 0.0;
    let timeout = Duration::from_millis(warmup_ms + ms + 30_000);
    for f in followers.iter_mut() {
        let r = f.wait(|e| e["event"] == "result", timeout).await?;
        let h = Hist::from_json(&r["hist"]);
        ops += h.count() as f64 / r["secs"].as_f64().unwrap_or(1.0);
        errors += r["errors"].as_u64().unwrap_or(0);
        hist.merge(&h);
        follower_allocs = follower_allocs
            .zip(r["allocs"].as_u64().zip(r["alloc_bytes"].as_u64()))
            .map(|((a, b), (x, y))| (a + x, b + y));
    }
    let leader_allocs = if count_leader {
        let w = leader
            .wait(|e| e["event"] == "alloc_window", Duration::from_secs(10))
            .await?;
        w["allocs"].as_u64().zip(w["alloc_bytes"].as_u64())
    } else {
        None
    };
    let (allocs, alloc_bytes) = per_value(leader_allocs, follower_allocs, hist.count());
    followers.push(leader);
    stop_all(followers).await;
    Ok(json!({
        "ops_per_s": ops.round(),
        "p50_us": us(hist.quantile(0.5)),
        "p99_us": us(hist.quantile(0.99)),
        "errors": errors,
        "calls": hist.count(),
        "allocs_per_call": allocs,
        "alloc_bytes_per_call": alloc_bytes,
    }))
}

/// `fanout`: the leader's real client emits; (1) latency until every follower has a value, at
/// 1,000 values/s; (2) the highest rate at which every follower gets every value with p99
/// under 50 ms, found by doubling then bisecting.
async fn fanout(cfg: &Config, imp: Impl) -> Result<Value, String> {
    let port = free_port();
    let args = child_args(cfg, port);
    let (mut leader, _, _) = Proc::spawn(imp, "leader", "leader", &args).await?;
    let mut followers = Vec::new();
    for i in 0..cfg.followers {
        let mut f = Proc::spawn(imp, &format!("follower{i}"), "follower", &args)
            .await?
            .0;
        f.send(&json!({"cmd": "subscribe"})).await?;
        followers.push(f);
    }
    // Prime: emit until every follower's subscription delivered something.
    let mut primed = vec![false; followers.len()];
    for _ in 0..200 {
        leader
            .ask(
                &json!({"cmd": "emit", "phase": 0, "rate": 200, "ms": 50}),
                "emitted",
                Duration::from_secs(10),
            )
            .await?;
        for (i, f) in followers.iter_mut().enumerate() {
            primed[i] |= f.take(|e| e["event"] == "primed").is_some();
        }
        if primed.iter().all(|p| *p) {
            break;
        }
    }
    if !primed.iter().all(|p| *p) {
        return Err("fanout: a follower's subscription never delivered".into());
    }

    // (1) Latency at a low rate (1,000 values/s; fewer above 4 KiB: at most 64 MiB/s).
    let lat_rate = fanout_latency_rate(cfg.payload);
    let lat_ms = (cfg.seconds * 1000.0 / 3.0).clamp(200.0, 1000.0) as u64;
    let emitted = leader
        .ask(
            &json!({"cmd": "emit", "phase": 1, "rate": lat_rate, "ms": lat_ms}),
            "emitted",
            Duration::from_secs(30),
        )
        .await?;
    let sent = emitted["count"].as_u64().unwrap_or(0);
    let leader_allocs = emitted["allocs"]
        .as_u64()
        .zip(emitted["alloc_bytes"].as_u64());
    // Followers count from their first to their last value of the phase.
    let mut follower_allocs: Option<(u64, u64)> = Some((0, 0));
    let mut follower_values = 0;
    let mut all: HashMap<u64, (usize, u64)> = HashMap::new();
    let mut lost = 0;
    for f in followers.iter_mut() {
        let r = f
            .ask(
                &json!({"cmd": "report", "phase": 1, "expect": sent, "wait_ms": 2000}),
                "report",
                Duration::from_secs(10),
            )
            .await?;
        lost += sent.saturating_sub(r["count"].as_u64().unwrap_or(0));
        follower_values += r["alloc_values"].as_u64().unwrap_or(0);
        follower_allocs = follower_allocs
            .zip(r["allocs"].as_u64().zip(r["alloc_bytes"].as_u64()))
            .map(|((a, b), (x, y))| (a + x, b + y));
        for pair in r["lat"].as_array().into_iter().flatten() {
            let (s, l) = (pair[0].as_u64().unwrap_or(0), pair[1].as_u64().unwrap_or(0));
            let e = all.entry(s).or_insert((0, 0));
            e.0 += 1;
            e.1 = e.1.max(l);
        }
    }
    // Per delivered value: the leader's over sent x N, the followers' over what they counted.
    let (leader_per, leader_bytes_per) =
        per_value(leader_allocs, None, sent * followers.len() as u64);
    let (follower_per, follower_bytes_per) = per_value(None, follower_allocs, follower_values);
    let side = |v: &Value, k: &str| v.get(k).cloned().unwrap_or(Value::Null);
    let (allocs, alloc_bytes) = if imp == Impl::Rust {
        (
            json!({"leader": side(&leader_per, "leader"), "follower": side(&follower_per, "follower")}),
            json!({"leader": side(&leader_bytes_per, "leader"),
                "follower": side(&follower_bytes_per, "follower")}),
        )
    } else {
        (Value::Null, Value::Null)
    };
    let mut lat = Hist::default();
    for (n, l) in all.values() {
        if *n == followers.len() {
            lat.record(*l);
        }
    }

    // (2) Highest sustained rate.
    let step_ms = (cfg.seconds * 1000.0 / 3.0).clamp(300.0, 1000.0) as u64;
    let mut phase = 2u64;
    let mut steps = Vec::new();
    let mut try_rate = async |rate: f64,
                              leader: &mut Proc,
                              followers: &mut Vec<Proc>|
           -> Result<(bool, f64), String> {
        let em = leader
            .ask(
                &json!({"cmd": "emit", "phase": phase, "rate": rate, "ms": step_ms}),
                "emitted",
                Duration::from_secs(60),
            )
            .await?;
        let n = em["count"].as_u64().unwrap_or(0);
        let achieved = n as f64 / em["secs"].as_f64().unwrap_or(1.0).max(1e-9);
        let mut step_lost = 0;
        let mut hist = Hist::default();
        for f in followers.iter_mut() {
            let r = f
                .ask(
                    &json!({"cmd": "report", "phase": phase, "expect": n, "wait_ms": 1000}),
                    "report",
                    Duration::from_secs(10),
                )
                .await?;
            step_lost += n.saturating_sub(r["count"].as_u64().unwrap_or(0));
            hist.merge(&Hist::from_json(&r["hist"]));
        }
        let p99 = hist.quantile(0.99);
        let ok = step_lost == 0 && achieved >= 0.9 * rate && p99 <= 50_000_000;
        eprintln!(
            "bench:   rate {rate:.0}/s: achieved {achieved:.0}/s, lost {step_lost}, p99 {} us -> {}",
            us(p99),
            if ok { "ok" } else { "no" }
        );
        steps.push(
            json!({"rate": rate, "achieved": achieved.round(), "lost": step_lost,
            "p99_us": us(p99), "ok": ok}),
        );
        phase += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok((ok, achieved))
    };
    let mut good = (0.0, 0.0);
    let mut bad = None;
    let mut rate = fanout_start_rate(cfg.payload);
    while rate <= 4_000_000.0 {
        let (ok, achieved) = try_rate(rate, &mut leader, &mut followers).await?;
        if ok {
            good = (rate, achieved);
            rate *= 2.0;
        } else {
            bad = Some(rate);
            break;
        }
    }
    if let Some(mut hi) = bad {
        let mut lo = good.0;
        for _ in 0..3 {
            let mid = ((lo + hi) / 2.0).round();
            let (ok, achieved) = try_rate(mid, &mut leader, &mut followers).await?;
            if ok {
                lo = mid;
                good = (mid, achieved);
            } else {
                hi = mid;
            }
        }
    }
    followers.push(leader);
    stop_all(followers).await;
    let deliveries = good.1 * cfg.followers as f64;
    Ok(json!({
        "ops_per_s": deliveries.round(),
        "deliveries_per_s": deliveries.round(),
        "max_rate_values_per_s": good.1.round(),
        "p50_us": us(lat.quantile(0.5)),
        "p99_us": us(lat.quantile(0.99)),
        "latency_values": lat.count(),
        "latency_rate_values_per_s": lat_rate,
        "allocs_per_call": allocs,
        "alloc_bytes_per_call": alloc_bytes,
        "errors": lost,
        "lost": lost,
        "steps": steps,
    }))
}

/// The emit rate of fanout's latency phase: 1,000 values/s up to 4 KiB, then at most 64 MiB/s.
fn fanout_latency_rate(payload: usize) -> f64 {
    if payload <= 4096 {
        1000.0
    } else {
        (64.0 * 1_048_576.0 / payload as f64).min(1000.0)
    }
}

/// The first rate fanout's search tries: 20,000 values/s up to 4 KiB, then the same bytes per
/// second as 20,000 values of 4 KiB (1,250/s for 64 KiB, 78/s for 1 MiB).
fn fanout_start_rate(payload: usize) -> f64 {
    if payload <= 4096 {
        20_000.0
    } else {
        (20_000.0 * 4096.0 / payload as f64).round().max(1.0)
    }
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn ms(ns: u64) -> f64 {
    round(ns as f64 / 1e6, 2)
}

/// `failover`: N followers and a leader all subscribe and call; the leader is SIGKILLed, five
/// times (a fresh process replaces each victim).
async fn failover(cfg: &Config, imp: Impl) -> Result<Value, String> {
    const ROUNDS: usize = 5;
    const HUNG_MS: u64 = 4000;
    let port = free_port();
    let args = child_args(cfg, port);
    let mut members: Vec<Proc> = Vec::new();
    let mut spawned = 0;
    let mut leader_pid = 0;
    for _ in 0..=cfg.followers {
        let (p, ready, _) = Proc::spawn(imp, &format!("member{spawned}"), "member", &args).await?;
        spawned += 1;
        if ready["leader"] == true {
            leader_pid = p.pid;
        }
        members.push(p);
    }
    for m in members.iter_mut() {
        m.wait(|e| e["event"] == "sub_ok", Duration::from_secs(10))
            .await?;
        m.wait(|e| e["event"] == "call_ok", Duration::from_secs(10))
            .await?;
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut rounds = Vec::new();
    let (mut elected_v, mut calls_v, mut subs_v) = (Vec::new(), Vec::new(), Vec::new());
    let (mut errors, mut hung, mut subs_lost) = (0u64, 0u64, 0u64);
    for round_no in 1..=ROUNDS {
        let i = members
            .iter()
            .position(|m| m.pid == leader_pid)
            .ok_or("failover: no known leader")?;
        let mut dead = members.remove(i);
        // Forget events from before this round.
        for m in members.iter_mut() {
            while m.take(|e| e["event"] == "leader").is_some() {}
        }
        let t0 = mono_ns();
        dead.sigkill();
        dead.wait_exit().await;
        let report = json!({"cmd": "report", "t0": t0, "dead": dead.pid, "hung_ms": HUNG_MS});
        let deadline = t0 + 10_000_000_000;
        let mut last: Vec<Value>;
        loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            last = Vec::new();
            for m in members.iter_mut() {
                last.push(m.ask(&report, "report", Duration::from_secs(10)).await?);
            }
            let recovered = last
                .iter()
                .all(|r| r["call_t"].is_u64() && r["sub_t"].is_u64());
            let settled = last
                .iter()
                .all(|r| r["inflight_oldest_ns"].as_u64().unwrap_or(0) < 50_000_000);
            let now = mono_ns();
            if (recovered && settled)
                || now > deadline
                || (recovered && now > t0 + (HUNG_MS + 500) * 1_000_000)
            {
                break;
            }
        }
        let mut elected = None;
        for m in members.iter_mut() {
            if let Some(e) = m.take(|e| e["event"] == "leader") {
                leader_pid = m.pid;
                elected = e["t"].as_u64();
            }
        }
        let calls = last
            .iter()
            .map(|r| r["call_t"].as_u64())
            .collect::<Option<Vec<_>>>();
        let subs_ok = last.iter().filter(|r| r["sub_t"].is_u64()).count();
        let subs = last.iter().filter_map(|r| r["sub_t"].as_u64()).max();
        let r_err: u64 = last.iter().map(|r| r["errors"].as_u64().unwrap_or(0)).sum();
        let r_hung: u64 = last.iter().map(|r| r["hung"].as_u64().unwrap_or(0)).sum();
        let r_lost = (last.len() - subs_ok) as u64;
        let calls_ms = calls.map(|c| ms(c.into_iter().max().unwrap_or(t0) - t0));
        let subs_ms = subs.map(|s| ms(s - t0));
        let elected_ms = elected.map(|e| ms(e.saturating_sub(t0)));
        eprintln!(
            "bench:   round {round_no}: elected {elected_ms:?} ms, calls {calls_ms:?} ms, subs {subs_ms:?} ms, errors {r_err}, hung {r_hung}"
        );
        elected_v.extend(elected_ms);
        calls_v.extend(calls_ms);
        subs_v.extend(subs_ms);
        errors += r_err;
        hung += r_hung;
        subs_lost += r_lost;
        rounds.push(
            json!({"elected_ms": elected_ms, "calls_ms": calls_ms, "subs_ms": subs_ms,
            "errors": r_err, "hung": r_hung, "subs_lost": r_lost}),
        );
        if elected.is_none() {
            return Err(format!("failover round {round_no}: no new leader"));
        }
        // Replace the victim so N followers and a leader remain.
        let (mut p, _, _) = Proc::spawn(imp, &format!("member{spawned}"), "member", &args).await?;
        spawned += 1;
        p.wait(|e| e["event"] == "sub_ok", Duration::from_secs(10))
            .await?;
        p.wait(|e| e["event"] == "call_ok", Duration::from_secs(10))
            .await?;
        members.push(p);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    stop_all(members).await;
    let calls_max = calls_v.iter().cloned().fold(f64::NAN, f64::max);
    let subs_max = subs_v.iter().cloned().fold(f64::NAN, f64::max);
    let calls_med = median(&mut calls_v);
    Ok(json!({
        "ops_per_s": null,
        "p50_us": round(calls_med * 1000.0, 0),
        "p99_us": round(calls_max * 1000.0, 0),
        "errors": errors,
        "hung": hung,
        "subscriptions_lost": subs_lost,
        "elected_ms_median": median(&mut elected_v),
        "calls_ms_median": calls_med,
        "calls_ms_max": calls_max,
        "subs_ms_median": median(&mut subs_v),
        "subs_ms_max": subs_max,
        "rounds": rounds,
    }))
}

/// `memory`: RSS at idle after ready, and spawn → ready.
async fn memory(cfg: &Config, imp: Impl) -> Result<Value, String> {
    let port = free_port();
    let args = child_args(cfg, port);
    let (leader, _, leader_ready) = Proc::spawn(imp, "leader", "leader", &args).await?;
    let mut followers = Vec::new();
    let mut ready = Vec::new();
    for i in 0..cfg.followers {
        let (f, _, took) = Proc::spawn(imp, &format!("follower{i}"), "follower", &args).await?;
        ready.push(took.as_secs_f64() * 1000.0);
        followers.push(f);
    }
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let leader_rss = leader.rss_kib();
    let rss: Vec<u64> = followers.iter().filter_map(Proc::rss_kib).collect();
    let follower_rss = rss.iter().copied().max();
    let anon = followers
        .iter()
        .filter_map(|f| f.proc_kib("status", "RssAnon:"))
        .max();
    let pss = followers
        .iter()
        .filter_map(|f| f.proc_kib("smaps_rollup", "Pss:"))
        .max();
    let leader_anon = leader.proc_kib("status", "RssAnon:");
    let mut sorted = ready.clone();
    let follower_ready = median(&mut sorted);
    followers.push(leader);
    stop_all(followers).await;
    Ok(json!({
        "ops_per_s": null,
        "p50_us": round(follower_ready * 1000.0, 0),
        "p99_us": round(ready.iter().cloned().fold(f64::NAN, f64::max) * 1000.0, 0),
        "errors": 0,
        "leader_rss_kib": leader_rss,
        "follower_rss_kib": follower_rss,
        "follower_rss_all_kib": rss,
        "leader_rss_anon_kib": leader_anon,
        "follower_rss_anon_kib": anon,
        "follower_pss_kib": pss,
        "leader_ready_ms": round(leader_ready.as_secs_f64() * 1000.0, 2),
        "follower_ready_ms": round(follower_ready, 2),
        "follower_ready_all_ms": ready.iter().map(|r| round(*r, 2)).collect::<Vec<_>>(),
    }))
}

/// `keys`: at most this many subscriptions (K x N) for Node children; above it the Node run
/// reports `"skipped"` (the package subscribes one key per packet and listener).
const NODE_MAX_TOTAL_KEYS: usize = 10_000;

/// A `keys-member` process and the number that names its keys (`k/<index>/<i>`).
struct KeysMember {
    proc: Proc,
    index: u64,
}

/// Starts `keys-member` number `index`; with `subscribe`, has it subscribe to its K keys and
/// waits until each delivered its first value.
async fn keys_member(
    cfg: &Config,
    imp: Impl,
    port: u16,
    index: u64,
    subscribe: bool,
) -> Result<(KeysMember, Value), String> {
    let mut args = child_args(cfg, port);
    args.extend(["--index".into(), index.to_string()]);
    let (mut proc, ready, _) =
        Proc::spawn(imp, &format!("member{index}"), "keys-member", &args).await?;
    if subscribe {
        keys_subscribe(cfg, &mut proc).await?;
    }
    Ok((KeysMember { proc, index }, ready))
}

/// Has `proc` subscribe to its K keys; waits (bounded) until each delivered a value.
async fn keys_subscribe(cfg: &Config, proc: &mut Proc) -> Result<(), String> {
    proc.send(&json!({"cmd": "subscribe", "k": cfg.keys}))
        .await?;
    keys_wait_subscribed(cfg, proc).await
}

async fn keys_wait_subscribed(cfg: &Config, proc: &mut Proc) -> Result<(), String> {
    // 30 s plus 1 ms per key: far above what a healthy run needs.
    let timeout = Duration::from_millis(30_000 + (cfg.keys * cfg.followers) as u64);
    let e = proc
        .wait(
            |e| e["event"] == "subscribed" || e["event"] == "error",
            timeout,
        )
        .await
        .map_err(|e| format!("keys: waiting for every subscription's first value: {e}"))?;
    if e["event"] == "error" {
        return Err(format!("keys: {}: {}", proc.name, e["message"]));
    }
    Ok(())
}

fn rss_pair(p: &Proc) -> (Option<u64>, Option<u64>) {
    (p.rss_kib(), p.proc_kib("status", "RssAnon:"))
}

/// `keys`: N followers each subscribe to K distinct keys; the leader's real client answers each
/// new subscription with the key's value at once. Measures (a) the leader's RSS before and after
/// all K x N subscriptions delivered, (b) the latency of one changed key to its follower, 200
/// times, (c) over 3 SIGKILLs of the leader, the time until every surviving follower has a value
/// from the new leader for every one of its keys.
async fn keys(cfg: &Config, imp: Impl) -> Result<Value, String> {
    const ROUNDS: usize = 3;
    const CHANGES: usize = 200;
    let total = cfg.keys * cfg.followers;
    if imp == Impl::Node && total > NODE_MAX_TOTAL_KEYS {
        return Ok(json!({
            "skipped": format!("Node runs are capped at {NODE_MAX_TOTAL_KEYS} keys in total \
                (K x N = {total})"),
        }));
    }
    let port = free_port();
    let mut members: Vec<KeysMember> = Vec::new();
    let mut spawned = 0u64;
    let mut leader_pid = 0;
    for _ in 0..=cfg.followers {
        let (m, ready) = keys_member(cfg, imp, port, spawned, false).await?;
        spawned += 1;
        if ready["leader"] == true {
            leader_pid = m.proc.pid;
        }
        members.push(m);
    }
    if leader_pid == 0 {
        return Err("keys: no member became the leader".into());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let leader_at =
        |members: &[KeysMember], pid: u32| members.iter().position(|m| m.proc.pid == pid);
    let li = leader_at(&members, leader_pid).ok_or("keys: leader lost")?;
    let (rss_before, anon_before) = rss_pair(&members[li].proc);

    // (a) Every follower subscribes; all at once, then wait for each.
    let t_sub = std::time::Instant::now();
    for m in members.iter_mut().filter(|m| m.proc.pid != leader_pid) {
        m.proc
            .send(&json!({"cmd": "subscribe", "k": cfg.keys}))
            .await?;
    }
    for m in members.iter_mut().filter(|m| m.proc.pid != leader_pid) {
        keys_wait_subscribed(cfg, &mut m.proc).await?;
    }
    let subscribe_ms = t_sub.elapsed().as_secs_f64() * 1000.0;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (rss_after, anon_after) = rss_pair(&members[li].proc);
    let per_key = |a: Option<u64>, b: Option<u64>| {
        a.zip(b)
            .map(|(a, b)| round((a as f64 - b as f64) * 1024.0 / total as f64, 1))
    };

    // (b) Change one random key at a time; its follower reports the latency.
    let mut rng = mono_ns() | 1;
    let mut next = move |n: usize| {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        (rng % n as u64) as usize
    };
    let mut change_lat = Hist::default();
    for c in 0..CHANGES {
        let followers: Vec<usize> = (0..members.len())
            .filter(|i| members[*i].proc.pid != leader_pid)
            .collect();
        let fi = followers[next(followers.len())];
        let i = next(cfg.keys);
        let key = format!("k/{}/{i}", members[fi].index);
        members[li]
            .proc
            .send(&json!({"cmd": "change", "key": key}))
            .await?;
        let e = members[fi]
            .proc
            .wait(
                |e| e["event"] == "changed" && e["i"] == i,
                Duration::from_secs(5),
            )
            .await
            .map_err(|e| format!("keys: change {c} of {key}: {e}"))?;
        change_lat.record(e["lat_ns"].as_u64().unwrap_or(0));
        tokio::time::sleep(Duration::from_millis(5)).await;
    }

    // (c) Failover: kill the leader, time until every survivor has the new leader's values.
    let (mut elected_v, mut resub_v, mut rounds) = (Vec::new(), Vec::new(), Vec::new());
    for round_no in 1..=ROUNDS {
        let i = leader_at(&members, leader_pid).ok_or("keys: no known leader")?;
        let mut dead = members.remove(i);
        for m in members.iter_mut() {
            while m.proc.take(|e| e["event"] == "leader").is_some() {}
        }
        let t0 = mono_ns();
        dead.proc.sigkill();
        dead.proc.wait_exit().await;
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        let report = json!({"cmd": "report", "t0": t0, "dead": dead.proc.pid});
        let (mut elected, mut new_leader) = (None, None);
        let (resub, survivors) = loop {
            tokio::time::sleep(Duration::from_millis(20)).await;
            for m in members.iter_mut() {
                if let Some(e) = m.proc.take(|e| e["event"] == "leader") {
                    new_leader = Some(m.proc.pid);
                    elected = e["t"].as_u64();
                }
            }
            let mut missing = 0;
            let mut done = Some(t0);
            let mut survivors = 0;
            if let Some(nl) = new_leader {
                for m in members.iter_mut().filter(|m| m.proc.pid != nl) {
                    survivors += 1;
                    let r = m
                        .proc
                        .ask(&report, "keys_report", Duration::from_secs(10))
                        .await?;
                    missing += r["missing"].as_u64().unwrap_or(0);
                    done = done.zip(r["done_t"].as_u64()).map(|(a, b)| a.max(b));
                }
                if missing == 0 {
                    break (done, survivors);
                }
            }
            if std::time::Instant::now() > deadline {
                return Err(match new_leader {
                    None => format!("keys failover round {round_no}: no new leader after 60 s"),
                    Some(_) => format!(
                        "keys failover round {round_no}: after 60 s, {missing} keys of \
                         {survivors} survivors still had no value from the new leader"
                    ),
                });
            }
        };
        leader_pid = new_leader.unwrap_or(0);
        let elected_ms = elected.map(|e| ms(e.saturating_sub(t0)));
        let resub_ms = resub.filter(|_| survivors > 0).map(|d| ms(d - t0));
        eprintln!(
            "bench:   round {round_no}: elected {elected_ms:?} ms, all survivors' keys again \
             {resub_ms:?} ms ({survivors} survivors)"
        );
        elected_v.extend(elected_ms);
        resub_v.extend(resub_ms);
        rounds.push(json!({"elected_ms": elected_ms, "resubscribe_ms": resub_ms,
            "survivors": survivors}));
        // Replace the victim so N followers and a leader remain.
        let (m, _) = keys_member(cfg, imp, port, spawned, true).await?;
        spawned += 1;
        members.push(m);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    stop_all(members.into_iter().map(|m| m.proc).collect()).await;
    let max = |v: &[f64]| v.iter().cloned().fold(f64::NAN, f64::max);
    let (elected_max, resub_max) = (max(&elected_v), max(&resub_v));
    Ok(json!({
        "ops_per_s": null,
        "p50_us": us(change_lat.quantile(0.5)),
        "p99_us": us(change_lat.quantile(0.99)),
        "errors": 0,
        "leader_rss_before_kib": rss_before,
        "leader_rss_after_kib": rss_after,
        "leader_rss_anon_before_kib": anon_before,
        "leader_rss_anon_after_kib": anon_after,
        "leader_rss_per_key_bytes": per_key(rss_after, rss_before),
        "leader_rss_anon_per_key_bytes": per_key(anon_after, anon_before),
        "subscribe_all_ms": round(subscribe_ms, 1),
        "change_latency_us": {"p50": us(change_lat.quantile(0.5)),
            "p99": us(change_lat.quantile(0.99)), "count": change_lat.count()},
        "elected_ms_median": median(&mut elected_v),
        "elected_ms_max": elected_max,
        "resubscribe_ms_median": median(&mut resub_v),
        "resubscribe_ms_max": resub_max,
        "rounds": rounds,
    }))
}
