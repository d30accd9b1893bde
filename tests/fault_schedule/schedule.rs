//! Schedules: a seed becomes the settings of a run and a list of steps, with no other input,
//! so a seed always means the same schedule.
//!
//! As in swarm testing (and in the VOPR and FoundationDB's simulator, which vary their fault
//! mix per seed), each seed weighs the kinds of step differently and switches some off, so the
//! seeds between them cover both "only kills" and "many stalls, no kills" runs. A generated
//! schedule tracks which participants are alive and which streams they hold, so it only asks
//! for things that make sense at that point (restart a dead slot, drop a stream it holds).

use std::fmt;

use crate::backend::{TOPICS, VALUES};

/// SplitMix64: small, fast, and the same on every platform.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed ^ 0x5DEE_CE66_D1CE_4E5B)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `lo..=hi`.
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo + 1)
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }

    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[(self.next_u64() % items.len() as u64) as usize]
    }
}

/// How a participant dies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kill {
    /// SIGKILL: its runtime is dropped where it stands; nothing of it runs again, its sockets
    /// close.
    Abort,
    /// The application drops its handle, streams and calls without closing; the process lives
    /// on, so the runtime's own teardown runs.
    Drop,
    /// The application awaits `close()` with calls in flight.
    Close,
}

/// Whom a fault hits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    Slot(usize),
    /// Whichever participant leads when the step runs (found at run time; when no participant
    /// answers as leader in time, the slot given here). A kill swaps the names of the two
    /// slots, so the named slot is the one that dies (see `run.rs`).
    Leader(usize),
}

/// What a participant does through its handle.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// A two-way call the real client answers after `slow_ms`.
    Invoke {
        slow_ms: u64,
    },
    Oneway,
    Publish {
        topic: u8,
        value: u8,
    },
    Subscribe {
        topic: u8,
    },
    /// `Handle::unsubscribe`: ends every stream of the topic in that participant.
    Unsubscribe {
        topic: u8,
    },
    /// Drops the oldest stream of the topic that participant holds.
    DropStream {
        topic: u8,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    /// The driver waits this long before the next step.
    Pause {
        ms: u64,
    },
    Op {
        who: usize,
        op: Op,
    },
    /// SIGSTOP for `ms`, then SIGCONT.
    Stall {
        target: Target,
        ms: u64,
    },
    Kill {
        target: Target,
        how: Kill,
    },
    /// A dead slot comes back as a new process (new scope, new publisher, no state).
    Restart {
        who: usize,
    },
    /// Another system writes the backend.
    External {
        topic: u8,
    },
}

/// Everything a seed decides.
#[derive(Debug, Clone)]
pub struct Plan {
    pub seed: u64,
    pub participants: usize,
    pub heartbeat_ms: u64,
    pub connect_timeout_ms: u64,
    /// Per slot: the response timeout of its handles.
    pub timeouts_ms: Vec<u64>,
    /// How long creating the real client takes.
    pub factory_delay_ms: u64,
    pub steps: Vec<Step>,
}

/// The weights of one seed's mix (0 switches a kind off).
struct Mix {
    pause: u64,
    invoke: u64,
    oneway: u64,
    publish: u64,
    subscribe: u64,
    unsubscribe: u64,
    drop_stream: u64,
    external: u64,
    stall: u64,
    kill: u64,
    restart: u64,
}

impl Mix {
    fn draw(rng: &mut Rng) -> Self {
        let mut maybe = |percent, lo, hi| {
            if rng.chance(percent) {
                rng.range(lo, hi)
            } else {
                0
            }
        };
        Self {
            pause: maybe(100, 3, 10),
            invoke: maybe(100, 2, 10),
            oneway: maybe(90, 1, 8),
            publish: maybe(90, 1, 8),
            subscribe: maybe(90, 1, 6),
            unsubscribe: maybe(50, 1, 3),
            drop_stream: maybe(50, 1, 3),
            external: maybe(50, 1, 3),
            stall: maybe(75, 1, 4),
            kill: maybe(85, 1, 4),
            restart: maybe(100, 2, 6),
        }
    }
}

/// What the generator knows of a slot.
#[derive(Clone, Default)]
struct SlotModel {
    alive: bool,
    /// Live streams per topic.
    streams: [u32; TOPICS as usize],
}

pub fn generate(seed: u64) -> Plan {
    let mut rng = Rng::new(seed);
    let participants = rng.range(3, 6) as usize;
    let heartbeat_ms = rng.pick(&[100, 150, 200, 300]);
    let connect_timeout_ms = rng.pick(&[1000, 1500, 2000]);
    let timeouts_ms = (0..participants)
        .map(|_| rng.pick(&[500, 800, 1000, 1500]))
        .collect();
    let factory_delay_ms = rng.pick(&[0, 0, 5, 20]);
    let mix = Mix::draw(&mut rng);
    let len = rng.range(20, 50) as usize;
    // How often a step is a burst: one participant making several calls in a row.
    let bursts = rng.pick(&[0, 10, 25]);

    let mut slots = vec![
        SlotModel {
            alive: true,
            ..SlotModel::default()
        };
        participants
    ];
    let mut steps = Vec::with_capacity(len + participants);
    while steps.len() < len {
        if rng.chance(bursts) {
            let live: Vec<usize> = (0..participants).filter(|i| slots[*i].alive).collect();
            if let Some(&who) = pick_from(&mut rng, &live) {
                steps.extend(burst(&mut rng, &mix, who));
                continue;
            }
        }
        if let Some(step) = draw_step(&mut rng, &mix, &mut slots, heartbeat_ms) {
            steps.push(step);
        }
    }
    // Finish with at least two live participants, so a leader and a follower are checked.
    for who in 0..participants {
        if slots.iter().filter(|s| s.alive).count() >= 2 {
            break;
        }
        if !slots[who].alive {
            slots[who] = SlotModel {
                alive: true,
                ..SlotModel::default()
            };
            steps.push(Step::Restart { who });
        }
    }
    Plan {
        seed,
        participants,
        heartbeat_ms,
        connect_timeout_ms,
        timeouts_ms,
        factory_delay_ms,
        steps,
    }
}

/// Two to eight calls, oneway calls and publications of one participant, with no pause.
fn burst(rng: &mut Rng, mix: &Mix, who: usize) -> Vec<Step> {
    let weights = [mix.invoke, mix.oneway, mix.publish];
    let total: u64 = weights.iter().sum::<u64>().max(1);
    (0..rng.range(2, 8))
        .map(|_| {
            let roll = rng.range(0, total - 1);
            let op = if roll < mix.invoke {
                Op::Invoke {
                    slow_ms: if rng.chance(20) {
                        rng.range(20, 300)
                    } else {
                        0
                    },
                }
            } else if roll < mix.invoke + mix.oneway {
                Op::Oneway
            } else {
                Op::Publish {
                    topic: rng.range(0, TOPICS as u64 - 1) as u8,
                    value: rng.range(0, VALUES as u64 - 1) as u8,
                }
            };
            Step::Op { who, op }
        })
        .collect()
}

/// One step drawn from the mix, or `None` when the drawn kind does not apply right now.
fn draw_step(rng: &mut Rng, mix: &Mix, slots: &mut [SlotModel], heartbeat_ms: u64) -> Option<Step> {
    let weights = [
        mix.pause,
        mix.invoke,
        mix.oneway,
        mix.publish,
        mix.subscribe,
        mix.unsubscribe,
        mix.drop_stream,
        mix.external,
        mix.stall,
        mix.kill,
        mix.restart,
    ];
    let total: u64 = weights.iter().sum();
    let mut roll = rng.range(0, total - 1);
    let kind = weights
        .iter()
        .position(|w| {
            if roll < *w {
                true
            } else {
                roll -= w;
                false
            }
        })
        .unwrap_or(0);

    let live: Vec<usize> = (0..slots.len()).filter(|i| slots[*i].alive).collect();
    let dead: Vec<usize> = (0..slots.len()).filter(|i| !slots[*i].alive).collect();
    let topic = rng.range(0, TOPICS as u64 - 1) as u8;
    if kind == 0 {
        let ms = match rng.range(0, 99) {
            0..=69 => rng.range(0, 20),
            70..=94 => rng.range(20, 100),
            _ => rng.range(150, 400),
        };
        return Some(Step::Pause { ms });
    }
    if kind == 7 {
        return Some(Step::External { topic });
    }
    if kind == 10 {
        let who = *pick_from(rng, &dead)?;
        slots[who] = SlotModel {
            alive: true,
            ..SlotModel::default()
        };
        return Some(Step::Restart { who });
    }
    let who = *pick_from(rng, &live)?;
    let target = if rng.chance(50) {
        Target::Leader(who)
    } else {
        Target::Slot(who)
    };
    let op = match kind {
        1 => Op::Invoke {
            slow_ms: if rng.chance(30) {
                rng.range(20, 700)
            } else {
                0
            },
        },
        2 => Op::Oneway,
        3 => Op::Publish {
            topic,
            value: rng.range(0, VALUES as u64 - 1) as u8,
        },
        4 => {
            slots[who].streams[topic as usize] += 1;
            Op::Subscribe { topic }
        }
        5 => {
            if slots[who].streams[topic as usize] == 0 && rng.chance(80) {
                return None;
            }
            slots[who].streams[topic as usize] = 0;
            Op::Unsubscribe { topic }
        }
        6 => {
            let held = &mut slots[who].streams[topic as usize];
            if *held == 0 {
                return None;
            }
            *held -= 1;
            Op::DropStream { topic }
        }
        8 => {
            let ms = if rng.chance(50) {
                rng.range(5, 80)
            } else {
                rng.range(heartbeat_ms * 2, (heartbeat_ms * 5).min(1200))
            };
            return Some(Step::Stall { target, ms });
        }
        9 => {
            let how = match rng.range(0, 9) {
                0..=5 => Kill::Abort,
                6..=7 => Kill::Drop,
                _ => Kill::Close,
            };
            // A leader target that resolves to another slot swaps the two slots' names at run
            // time (see `run.rs`), so the slot named here is the one that dies either way.
            slots[who].alive = false;
            return Some(Step::Kill { target, how });
        }
        _ => unreachable!("kind {kind}"),
    };
    Some(Step::Op { who, op })
}

fn pick_from<'a>(rng: &mut Rng, items: &'a [usize]) -> Option<&'a usize> {
    if items.is_empty() {
        return None;
    }
    items.get((rng.next_u64() % items.len() as u64) as usize)
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Slot(i) => write!(f, "p{i}"),
            Target::Leader(i) => write!(f, "leader (else p{i})"),
        }
    }
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Pause { ms } => write!(f, "pause {ms}ms"),
            Step::Op { who, op } => match op {
                Op::Invoke { slow_ms } => {
                    write!(f, "p{who} invoke (real client takes {slow_ms}ms)")
                }
                Op::Oneway => write!(f, "p{who} oneway"),
                Op::Publish { topic, value } => write!(f, "p{who} publish t{topic}=v{value}"),
                Op::Subscribe { topic } => write!(f, "p{who} subscribe t{topic}"),
                Op::Unsubscribe { topic } => write!(f, "p{who} unsubscribe t{topic}"),
                Op::DropStream { topic } => write!(f, "p{who} drop a stream of t{topic}"),
            },
            Step::Stall { target, ms } => write!(f, "stall {target} for {ms}ms"),
            Step::Kill { target, how } => write!(f, "kill {target} ({how:?})"),
            Step::Restart { who } => write!(f, "restart p{who}"),
            Step::External { topic } => write!(f, "external write to t{topic}"),
        }
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "seed {}: {} participants, heartbeat {}ms, connect timeout {}ms, response timeouts {:?}ms, real client created in {}ms",
            self.seed,
            self.participants,
            self.heartbeat_ms,
            self.connect_timeout_ms,
            self.timeouts_ms,
            self.factory_delay_ms
        )?;
        for (i, step) in self.steps.iter().enumerate() {
            writeln!(f, "  {i:>3}. {step}")?;
        }
        Ok(())
    }
}

#[test]
fn a_seed_always_means_the_same_schedule() {
    for seed in [0, 37, 1 << 40] {
        assert_eq!(
            format!("{:?}", generate(seed)),
            format!("{:?}", generate(seed))
        );
    }
    assert_ne!(
        format!("{:?}", generate(1).steps),
        format!("{:?}", generate(2).steps)
    );
}

#[test]
fn schedules_kill_only_the_living_restart_only_the_dead_and_end_with_two_alive() {
    for seed in 0..2000 {
        let plan = generate(seed);
        assert!((3..=6).contains(&plan.participants));
        let mut alive = vec![true; plan.participants];
        for step in &plan.steps {
            match *step {
                Step::Kill { target, .. } => {
                    let (Target::Slot(who) | Target::Leader(who)) = target;
                    assert!(alive[who], "seed {seed}: kills dead p{who}");
                    alive[who] = false;
                }
                Step::Restart { who } => {
                    assert!(!alive[who], "seed {seed}: restarts live p{who}");
                    alive[who] = true;
                }
                Step::Op { who, .. } => assert!(alive[who], "seed {seed}: p{who} is dead"),
                _ => {}
            }
        }
        assert!(alive.iter().filter(|a| **a).count() >= 2, "seed {seed}");
    }
}
