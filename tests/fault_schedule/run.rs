//! Runs one seed: starts the participants, plays the schedule against them, lets the faults
//! stop, and checks the invariants.
//!
//! The driver is one task on a current-thread runtime of its own. Steps run one after the
//! other; ops and faults are commands to the participants (which run them in the order sent),
//! so a stalled participant runs the ops sent to it once it resumes, as a stopped process
//! would. Targets named "leader" are resolved when the step runs by asking every participant
//! (a stalled one cannot answer, so a stalled leader is not found); the slot names of the
//! leader and of the slot the schedule named are then swapped, so the slot the schedule names
//! is the one that dies and the generator's view of who is alive stays exact.

use std::sync::{Arc, Mutex, MutexGuard, Once};
use std::time::{Duration, Instant};

use futures::future::join_all;
use tokio::sync::watch;

use crate::backend::{Backend, ClientId};
use crate::invariants::{self, Context, Fate, Tally};
use crate::participant::{Command, Config, Log, Participant};
use crate::schedule::{Kill, Plan, Step, Target};

/// How long the participants get, once the faults stop, to agree on one leader.
const CONVERGE_WITHIN: Duration = Duration::from_secs(10);
/// How long the eventual invariants get once a leader is agreed on.
const SETTLE_WITHIN: Duration = Duration::from_secs(5);

pub struct Report {
    pub plan: Plan,
    pub port: u16,
    pub violations: Vec<String>,
    /// What actually happened, step by step, with times from the start.
    pub timeline: Vec<String>,
    pub elapsed: Duration,
    pub tally: Tally,
}

pub fn run_seed(plan: Plan, margin: Duration) -> Report {
    let started = Instant::now();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime for the driver");
    let mut world = World::new(&plan, margin);
    let mut violations = rt.block_on(world.run());
    violations.extend(world.teardown());
    violations.extend(panics_of(plan.seed));
    let (port, tally) = (world.port, world.tally);
    let timeline = std::mem::take(&mut world.timeline);
    drop(world);
    Report {
        plan,
        port,
        violations,
        timeline,
        elapsed: started.elapsed(),
        tally,
    }
}

struct World<'p> {
    plan: &'p Plan,
    margin: Duration,
    port: u16,
    signal: Arc<watch::Sender<u64>>,
    backend: Arc<Backend>,
    /// The current incarnation of each slot.
    slots: Vec<Participant>,
    /// Earlier incarnations (all dead).
    retired: Vec<Participant>,
    incarnations: Vec<u32>,
    /// When the driver killed someone.
    kills: Vec<Instant>,
    timeline: Vec<String>,
    t0: Instant,
    tally: Tally,
}

impl<'p> World<'p> {
    fn new(plan: &'p Plan, margin: Duration) -> Self {
        let signal = Arc::new(watch::Sender::new(0));
        let backend = Backend::new(signal.clone());
        let mut world = Self {
            plan,
            margin,
            port: crate::support::free_port(),
            signal,
            backend,
            slots: Vec::new(),
            retired: Vec::new(),
            incarnations: vec![0; plan.participants],
            kills: Vec::new(),
            timeline: Vec::new(),
            t0: Instant::now(),
            tally: Tally::default(),
        };
        world.slots = (0..plan.participants).map(|i| world.spawn(i)).collect();
        world
    }

    fn spawn(&self, slot: usize) -> Participant {
        Participant::start(Config {
            seed: self.plan.seed,
            tag: format!("p{slot}.{}", self.incarnations[slot]),
            port: self.port,
            heartbeat: Duration::from_millis(self.plan.heartbeat_ms),
            response_timeout: Duration::from_millis(self.plan.timeouts_ms[slot]),
            connect_timeout: Duration::from_millis(self.plan.connect_timeout_ms),
            factory_delay: Duration::from_millis(self.plan.factory_delay_ms),
            backend: self.backend.clone(),
            signal: self.signal.clone(),
        })
    }

    fn live(&self) -> impl Iterator<Item = (usize, &Participant)> {
        self.slots.iter().enumerate().filter(|(_, p)| !p.dead)
    }

    fn all(&self) -> impl Iterator<Item = &Participant> {
        self.slots.iter().chain(self.retired.iter())
    }

    /// The slot whose participant says it leads (asking all at once, each for at most 100 ms).
    async fn leader(&self) -> Option<usize> {
        let live: Vec<(usize, &Participant)> = self.live().collect();
        let answers = join_all(
            live.iter()
                .map(|(_, p)| p.query(Duration::from_millis(100))),
        )
        .await;
        live.iter()
            .zip(answers)
            .find(|(_, a)| *a == Some(true))
            .map(|((i, _), _)| *i)
    }

    async fn run(&mut self) -> Vec<String> {
        for (i, step) in self.plan.steps.iter().enumerate() {
            let at = self.t0.elapsed().as_millis();
            let note = self.step(*step).await;
            self.timeline
                .push(format!("{at:>6}ms {i:>3}. {step}{note}"));
        }
        self.finish().await
    }

    /// Runs one step; returns what the timeline should add about it.
    async fn step(&mut self, step: Step) -> String {
        match step {
            Step::Pause { ms } => {
                tokio::time::sleep(Duration::from_millis(ms)).await;
                String::new()
            }
            Step::External { topic } => {
                self.backend.external_write(topic);
                String::new()
            }
            Step::Op { who, op } => {
                let p = &self.slots[who];
                if p.dead {
                    return " (skipped: dead)".into();
                }
                p.send(Command::Op(op));
                format!(" [{}]", p.tag)
            }
            Step::Stall { target, ms } => {
                let who = match target {
                    Target::Slot(who) => who,
                    Target::Leader(who) => self.leader().await.unwrap_or(who),
                };
                let p = &self.slots[who];
                if p.dead {
                    return " (skipped: dead)".into();
                }
                p.send(Command::Stall(Duration::from_millis(ms)));
                format!(" [{}]", p.tag)
            }
            Step::Kill { target, how } => {
                let mut note = String::new();
                let who = match target {
                    Target::Slot(who) => who,
                    Target::Leader(who) => {
                        match self.leader().await {
                            Some(l) if l != who => {
                                self.slots.swap(l, who);
                                note = format!(
                                    " (the leader was p{l}: names p{l} and p{who} swapped)"
                                );
                            }
                            Some(_) => {}
                            None => note = " (no leader answered)".into(),
                        }
                        who
                    }
                };
                let p = &mut self.slots[who];
                if p.dead {
                    return " (skipped: dead)".into();
                }
                p.dead = true;
                let now = Instant::now();
                self.kills.push(now);
                // Recorded here, since a participant may be aborted (restarted) before it runs
                // a drop or close; it records the moment it does.
                p.shared.update(|log| log.ended = Some((now, how)));
                match how {
                    Kill::Abort => p.abort(),
                    Kill::Drop => p.send(Command::Drop),
                    Kill::Close => p.send(Command::Close),
                }
                format!(" [{}]{note}", p.tag)
            }
            Step::Restart { who } => {
                if !self.slots[who].dead {
                    return " (skipped: alive)".into();
                }
                self.incarnations[who] += 1;
                let new = self.spawn(who);
                let tag = new.tag.clone();
                let old = std::mem::replace(&mut self.slots[who], new);
                // Whatever was left of the old process (after a drop or close) ends now.
                old.abort();
                let now = Instant::now();
                old.shared.update(|log| {
                    if log.cut.is_none() {
                        log.cut = Some(now);
                    }
                });
                self.retired.push(old);
                format!(" [{tag}]")
            }
        }
    }

    /// The faults are over: wait for the system to heal, then check everything.
    async fn finish(&mut self) -> Vec<String> {
        let mut violations = Vec::new();
        let at = self.t0.elapsed().as_millis();
        self.timeline
            .push(format!("{at:>6}ms       the schedule is over"));

        // Every live participant answers once its stall is over.
        let live: Vec<&Participant> = self.live().map(|(_, p)| p).collect();
        let answers = join_all(live.iter().map(|p| p.query(Duration::from_secs(7)))).await;
        for (p, answer) in live.iter().zip(answers) {
            if answer.is_none() {
                violations.push(format!("{} stopped answering its commands", p.tag));
            }
        }

        // Calls settle (the deadline check judges how long they took).
        let longest = self.plan.timeouts_ms.iter().max().copied().unwrap_or(0);
        let bound = Duration::from_millis(longest) + self.margin + Duration::from_secs(2);
        let participants: Vec<&Participant> = self.all().collect();
        wait_until(&self.signal, bound, || {
            participants.iter().any(|p| {
                let log = p.shared.log();
                invariants::fate(&log) != Fate::Gone
                    && log.calls.iter().any(|c| c.settled.is_none())
            })
        })
        .await;
        let calls_done = Instant::now();
        let at = self.t0.elapsed().as_millis();
        self.timeline
            .push(format!("{at:>6}ms       calls settled (or given up on)"));

        // Exactly one leader, whose real client answers everybody.
        match self.converge().await {
            Ok((leader, client)) => {
                let at = self.t0.elapsed().as_millis();
                self.timeline.push(format!(
                    "{at:>6}ms       converged: {leader} leads with real client #{client}"
                ));
                let participants: Vec<&Participant> = self.all().collect();
                let backend = self.backend.clone();
                let check = || {
                    let guards: Vec<MutexGuard<'_, Log>> =
                        participants.iter().map(|p| p.shared.log()).collect();
                    let logs: Vec<&Log> = guards.iter().map(|g| &**g).collect();
                    invariants::eventual(&backend.state(), &logs, client)
                };
                wait_until(&self.signal, SETTLE_WITHIN, || !check().is_empty()).await;
                violations.extend(check());
                let made_by = self.backend.state().clients[client].made_by.clone();
                if made_by != leader {
                    violations.push(format!(
                        "everybody is answered by real client #{client}, made by {made_by}, but {leader} leads"
                    ));
                }
            }
            Err(e) => violations.push(e),
        }

        let guards: Vec<MutexGuard<'_, Log>> = self.all().map(|p| p.shared.log()).collect();
        let logs: Vec<&Log> = guards.iter().map(|g| &**g).collect();
        let mut kills = self.kills.clone();
        kills.extend(logs.iter().filter_map(|l| l.ended.map(|(at, _)| at)));
        kills.extend(logs.iter().filter_map(|l| l.cut));
        let backend = self.backend.state();
        let tally = Tally::of(&backend, &logs);
        violations.extend(invariants::after_the_fact(&Context {
            backend: &backend,
            logs: logs.clone(),
            kills: &kills,
            margin: self.margin,
            now: calls_done,
        }));
        drop(backend);
        drop(logs);
        drop(guards);
        self.tally = tally;
        violations
    }

    /// Waits until exactly one live participant leads and every live participant's calls are
    /// answered by its real client; returns the leader and the client.
    async fn converge(&self) -> Result<(String, ClientId), String> {
        let deadline = Instant::now() + CONVERGE_WITHIN;
        loop {
            let live: Vec<&Participant> = self.live().map(|(_, p)| p).collect();
            let roles = join_all(live.iter().map(|p| p.query(Duration::from_millis(500)))).await;
            let leaders: Vec<&str> = live
                .iter()
                .zip(&roles)
                .filter(|(_, r)| **r == Some(true))
                .map(|(p, _)| p.tag.as_str())
                .collect();
            let seen = if let [leader] = leaders[..] {
                let probes = join_all(live.iter().map(|p| p.probe(Duration::from_secs(3)))).await;
                let first = probes.first().cloned().flatten();
                let agreed = match first {
                    Some(Ok(client)) if probes.iter().all(|p| *p == Some(Ok(client))) => {
                        Some(client)
                    }
                    _ => None,
                };
                if let Some(client) = agreed {
                    return Ok((leader.to_owned(), client));
                }
                let answers: Vec<String> = live
                    .iter()
                    .zip(&probes)
                    .map(|(p, a)| format!("{}: {a:?}", p.tag))
                    .collect();
                format!("{leader} leads; real clients answering: {answers:?}")
            } else {
                format!("leaders {leaders:?}")
            };
            if Instant::now() >= deadline {
                return Err(format!(
                    "no single leader agreed on within {}s once the faults stopped; last seen: {seen}",
                    CONVERGE_WITHIN.as_secs()
                ));
            }
            // Roles change without an event a test can await: look again shortly.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Ends every participant's thread; reports threads that panicked or would not end.
    fn teardown(&mut self) -> Vec<String> {
        let mut out = Vec::new();
        for p in self.slots.iter().chain(self.retired.iter()) {
            p.abort();
        }
        for p in self.slots.iter_mut().chain(self.retired.iter_mut()) {
            let deadline = Instant::now() + Duration::from_secs(10);
            while !p.is_finished() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(1));
            }
            if !p.is_finished() {
                out.push(format!(
                    "{}'s thread did not end within 10 s of SIGKILL",
                    p.tag
                ));
                continue;
            }
            if let Err(panic) = p.join() {
                out.push(format!("{}'s thread panicked: {panic}", p.tag));
            }
        }
        out
    }
}

/// Waits, for at most `bound`, while `pending` holds, re-checking on every change a
/// participant or the backend reports.
async fn wait_until(
    signal: &watch::Sender<u64>,
    bound: Duration,
    mut pending: impl FnMut() -> bool,
) {
    let mut rx = signal.subscribe();
    let deadline = tokio::time::Instant::now() + bound;
    loop {
        rx.borrow_and_update();
        if !pending() {
            return;
        }
        match tokio::time::timeout_at(deadline, rx.changed()).await {
            Ok(Ok(())) => {}
            _ => return,
        }
    }
}

/// Panics anywhere in a participant's thread, tasks of its runtime included (tokio catches
/// those, so a test would not otherwise see them).
static PANICS: Mutex<Vec<(String, String)>> = Mutex::new(Vec::new());

pub fn record_panics() {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current().name().unwrap_or("?").to_owned();
            let message = format!("{info}");
            PANICS
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push((thread, message));
            previous(info);
        }));
    });
}

fn panics_of(seed: u64) -> Vec<String> {
    let prefix = format!("s{seed}/");
    PANICS
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .iter()
        .filter(|(thread, _)| thread.starts_with(&prefix))
        .map(|(thread, message)| format!("a panic in {thread}: {message}"))
        .collect()
}
