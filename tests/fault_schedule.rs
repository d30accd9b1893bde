//! Randomized fault schedules against the runtime core.
//!
//! Each seed becomes a schedule over 3 to 6 participants, each standing for a worker process
//! (its own OS thread, current-thread runtime and [`cluster_client::Scope`], over real loopback
//! sockets on a free port): two-way calls (some that the real client answers slowly), oneway
//! calls, publications, subscriptions, unsubscriptions and dropped streams, writes to the
//! backend by "another system", and faults: stalls (SIGSTOP/SIGCONT: the participant's thread
//! is blocked, so none of its tasks run), kills (SIGKILL: its runtime is dropped; or the
//! application drops its handle; or it closes it with calls in flight), often aimed at
//! whichever participant leads, and restarts (a dead slot comes back as a new process). See
//! `fault_schedule/participant.rs` for why these are faithful to processes.
//!
//! When the schedule is over, the faults stop, and the run must heal (liveness) and show no
//! trace of a broken guarantee (safety):
//! - exactly one live participant leads, and the calls of every live participant are answered
//!   by its real client;
//! - that real client holds every publication of every live publisher (publication keys are
//!   the JSON of the registration, as in Node);
//! - every live stream has delivered the latest value of its topic (and was not ended), every
//!   unsubscribed stream ended, and the real client has exactly one upstream subscription per
//!   topic some live stream holds;
//! - every call settled within its deadline plus a margin (plus the time its own process was
//!   stalled: a stopped process cannot settle anything), with an answer from a real client
//!   that ran it, or with a timeout or "leader lost" (or "closed", for a closed handle);
//! - no call, two-way or oneway, ran twice unless a kill happened while it was in flight;
//! - each real client got each participant's oneway calls and publications in the order they
//!   were made (numbered by the participant, recorded by the real client), a re-sent
//!   publication at most once, and none of them after a two-way call made later.
//!
//! The test's real client (`fault_schedule/backend.rs`) is a hand-written `Service` recording
//! everything each real client is handed into one backend shared by the run.
//!
//! # Deterministic simulation, and what this is not
//!
//! FoundationDB's simulator and TigerBeetle's VOPR run a whole cluster in one thread over a
//! simulated network, disk and clock, so a seed replays the exact execution; tokio's `turmoil`
//! does the same for tokio code written against its simulated network. From them this test
//! takes: everything from one seed (the settings, the fault mix, the steps, every value the
//! operations carry) so a seed always means the same schedule; swarm testing (each seed
//! weighs the kinds of step differently and switches some off, as the VOPR varies its fault
//! probabilities per seed); faults aimed at the role that matters (FoundationDB kills
//! coordinators on purpose); safety invariants checked over what happened and liveness checked
//! after the faults stop (the VOPR's two modes); and a failure report that is the seed, the
//! schedule, and the line that replays it.
//!
//! What it cannot take is deterministic execution. The runtime uses real tokio sockets and
//! real time (a turmoil-style network would need the runtime to be generic over its
//! transport), so these are NOT deterministic: OS scheduling and thread interleaving, socket
//! timing, who wins each bind, when a heartbeat is judged late, the runtime's own backoff
//! jitter, and which participant a "leader" target resolves to. These ARE: the participants,
//! their options, the order of steps for each participant, the pauses and stall lengths, and
//! every argument. Replaying a seed replays the schedule; a failure that needs one particular
//! interleaving may take a few replays (`FAULT_REPEAT`), and the report's timeline says what
//! the failing run actually did and when.
//!
//! # Running it
//!
//! - `cargo test --test fault_schedule`: seeds 0..200 (part of `cargo test --workspace`);
//! - `FAULT_SEEDS=1000`: seeds 0..1000 (`FAULT_SEED_START=K` starts at K);
//! - `FAULT_SEED=S`: exactly seed S, with its schedule and timeline printed
//!   (`FAULT_REPEAT=N` runs it N times; `RUST_LOG=cluster_client=debug` shows the runtime's logs);
//! - `FAULT_JOBS=N`: runs at once (default 8, each is mostly waiting; 1 for `FAULT_SEED`);
//! - `FAULT_MARGIN_MS=N`: the deadline margin (default 1000 ms).

mod support;

#[path = "fault_schedule/backend.rs"]
mod backend;
#[path = "fault_schedule/invariants.rs"]
mod invariants;
#[path = "fault_schedule/participant.rs"]
mod participant;
#[path = "fault_schedule/run.rs"]
mod run;
#[path = "fault_schedule/schedule.rs"]
mod schedule;

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use run::{Report, run_seed};

const DEFAULT_SEEDS: u64 = 200;
const DEFAULT_JOBS: usize = 8;
const DEFAULT_MARGIN_MS: u64 = 1000;

fn env_u64(name: &str) -> Option<u64> {
    let raw = std::env::var(name).ok()?;
    Some(
        raw.trim()
            .parse()
            .unwrap_or_else(|_| panic!("{name}={raw:?} is not a number")),
    )
}

fn replay_line(seed: u64) -> String {
    format!("FAULT_SEED={seed} cargo test --test fault_schedule -- --nocapture")
}

fn describe(report: &Report) -> String {
    let mut out = format!(
        "seed {} ({} ms, port {}):\n",
        report.plan.seed,
        report.elapsed.as_millis(),
        report.port
    );
    out.push_str(&format!("  {}\n", report.tally));
    if report.violations.is_empty() {
        out.push_str("  all invariants hold\n");
    }
    for v in report.violations.iter().take(30) {
        out.push_str(&format!("  VIOLATION: {v}\n"));
    }
    if report.violations.len() > 30 {
        out.push_str(&format!(
            "  ... and {} more\n",
            report.violations.len() - 30
        ));
    }
    out.push_str(&format!("schedule of {}", report.plan));
    out.push_str("what happened:\n");
    for line in &report.timeline {
        out.push_str(&format!("  {line}\n"));
    }
    out.push_str(&format!(
        "replay: {}\n  (timing is not replayed: if it passes, try FAULT_REPEAT=40 FAULT_JOBS=4)\n",
        replay_line(report.plan.seed)
    ));
    out
}

#[test]
fn random_fault_schedules_keep_the_invariants() {
    run::record_panics();
    if let Ok(spec) = std::env::var("RUST_LOG") {
        use tracing_subscriber::layer::SubscriberExt;
        use tracing_subscriber::util::SubscriberInitExt;
        let filter: tracing_subscriber::filter::Targets =
            spec.parse().expect("RUST_LOG: target=level pairs");
        let _ = tracing_subscriber::registry()
            .with(
                tracing_subscriber::fmt::layer()
                    .with_thread_names(true)
                    .with_test_writer(),
            )
            .with(filter)
            .try_init();
    }
    let single = env_u64("FAULT_SEED");
    let seeds: Vec<u64> = match single {
        Some(seed) => vec![seed; env_u64("FAULT_REPEAT").unwrap_or(1).max(1) as usize],
        None => {
            let start = env_u64("FAULT_SEED_START").unwrap_or(0);
            let count = env_u64("FAULT_SEEDS").unwrap_or(DEFAULT_SEEDS);
            (start..start + count).collect()
        }
    };
    let jobs = match (env_u64("FAULT_JOBS"), single) {
        (Some(n), _) => n.max(1) as usize,
        (None, Some(_)) => 1,
        (None, None) => DEFAULT_JOBS,
    };
    let margin = Duration::from_millis(env_u64("FAULT_MARGIN_MS").unwrap_or(DEFAULT_MARGIN_MS));

    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let reports: Mutex<Vec<Report>> = Mutex::new(Vec::new());
    std::thread::scope(|s| {
        for _ in 0..jobs.min(seeds.len()) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&seed) = seeds.get(i) else { return };
                    let plan = schedule::generate(seed);
                    let report = match std::panic::catch_unwind(|| run_seed(plan.clone(), margin)) {
                        Ok(report) => report,
                        Err(panic) => Report {
                            plan,
                            port: 0,
                            violations: vec![format!(
                                "the harness panicked: {}",
                                participant::panic_message(&*panic)
                            )],
                            timeline: Vec::new(),
                            elapsed: Duration::ZERO,
                            tally: Default::default(),
                        },
                    };
                    if single.is_some() {
                        eprintln!("{}", describe(&report));
                    }
                    reports
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .push(report);
                }
            });
        }
    });

    let mut reports = reports.into_inner().unwrap_or_else(|p| p.into_inner());
    reports.sort_by_key(|r| r.plan.seed);
    let failed: Vec<&Report> = reports
        .iter()
        .filter(|r| !r.violations.is_empty())
        .collect();
    let slowest = reports.iter().map(|r| r.elapsed).max().unwrap_or_default();
    let mut total = invariants::Tally::default();
    for r in &reports {
        total.add(&r.tally);
    }
    eprintln!(
        "fault schedules: {} runs, {} failed, {:.1}s in all ({jobs} at once, slowest seed {:.1}s)",
        reports.len(),
        failed.len(),
        started.elapsed().as_secs_f64(),
        slowest.as_secs_f64()
    );
    eprintln!("fault schedules, all runs together: {total}");
    if failed.is_empty() {
        return;
    }
    if single.is_none() {
        for report in &failed {
            eprintln!("{}", describe(report));
        }
    }
    let seeds: Vec<u64> = failed.iter().map(|r| r.plan.seed).collect();
    panic!(
        "{} of {} fault schedules broke an invariant; failing seeds: {seeds:?} (replay one with `{}`)",
        failed.len(),
        reports.len(),
        replay_line(seeds[0])
    );
}
