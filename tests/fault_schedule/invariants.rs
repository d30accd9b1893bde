//! What must hold after a schedule, as functions of what the participants logged and what the
//! real clients were handed. Each returns the violations it finds, worded for a bug report.
//!
//! Two kinds: [`eventual`] ones must come true once the faults stop (the driver waits for them,
//! bounded), [`after_the_fact`] ones judge what already happened.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::{Duration, Instant};

use crate::backend::{BackendState, ClientId, Handed, Registration};
use crate::participant::{Log, Ordered, Outcome, StreamState, live_topics};
use crate::schedule::Kill;

/// How a participant ended the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    Live,
    /// Its handle was closed; the process lived on.
    Closed,
    /// Aborted, or the application dropped everything.
    Gone,
}

pub fn fate(log: &Log) -> Fate {
    match log.ended {
        None => Fate::Live,
        Some((_, Kill::Close)) if log.cut.is_none() => Fate::Closed,
        Some(_) => Fate::Gone,
    }
}

/// With the faults over and one leader agreed on (`client` is its real client): every live
/// publisher's publications are held by it, every stream delivers the latest value of its
/// topic or ended as it should, and it has exactly the upstream subscriptions still wanted.
pub fn eventual(backend: &BackendState, logs: &[&Log], client: ClientId) -> Vec<String> {
    let mut out = Vec::new();
    let final_client = &backend.clients[client];
    let mut wanted: BTreeMap<u8, usize> = BTreeMap::new();
    for log in logs {
        let fate = fate(log);
        if fate == Fate::Live {
            let mut missing: Vec<&Registration> = log
                .ordered
                .iter()
                .filter_map(|o| match &o.item {
                    Ordered::Publish(reg) => Some(reg),
                    Ordered::Note => None,
                })
                .filter(|reg| !final_client.publications.contains(*reg))
                .collect();
            missing.sort();
            missing.dedup();
            if !missing.is_empty() {
                out.push(format!(
                    "publications lost: the final real client #{client} does not hold {} of live publisher {}: {:?}",
                    missing.len(),
                    log.tag,
                    missing
                        .iter()
                        .map(|r| format!("t{}=v{}", r.topic, r.value))
                        .collect::<Vec<_>>()
                ));
            }
            for (topic, _) in live_topics(log) {
                *wanted.entry(topic).or_default() += 1;
            }
        }
        if fate == Fate::Gone {
            continue;
        }
        for (i, s) in log.streams.iter().enumerate() {
            let what = format!("{} stream #{i} of t{}", log.tag, s.topic);
            match (fate, s.state) {
                (Fate::Live, StreamState::Live) => {
                    if let Some(reason) = s.ended {
                        out.push(format!(
                            "{what} ended ({reason:?}) though it was never unsubscribed"
                        ));
                        continue;
                    }
                    let current = backend.value(s.topic);
                    if s.latest != current {
                        out.push(format!(
                            "{what} is stale after {} values: its latest is {:?}, the topic holds {:?}",
                            s.values, s.latest, current
                        ));
                    }
                }
                (_, StreamState::Unsubscribed) if s.ended.is_none() => {
                    out.push(format!("{what} was unsubscribed but did not end"));
                }
                (Fate::Closed, StreamState::Live) if s.ended.is_none() => {
                    out.push(format!("{what} did not end though its handle was closed"));
                }
                _ => {}
            }
        }
    }
    let open: BTreeMap<u8, usize> = final_client
        .upstreams
        .iter()
        .map(|(t, n)| (*t, *n))
        .collect();
    let expected: BTreeMap<u8, usize> = wanted.keys().map(|t| (*t, 1)).collect();
    if open != expected {
        out.push(format!(
            "upstream subscriptions of the final real client #{client}: open {open:?} (topic: count), but live streams want {:?}",
            wanted.keys().collect::<Vec<_>>()
        ));
    }
    out
}

/// Time the participant spent stalled within `from..to`.
fn stalled_within(log: &Log, from: Instant, to: Instant) -> Duration {
    let mut total = Duration::ZERO;
    for (start, end) in &log.stalls {
        let end = end.or(log.gone_at()).unwrap_or(to);
        let (a, b) = ((*start).max(from), end.min(to));
        if b > a {
            total += b - a;
        }
    }
    total
}

pub struct Context<'a> {
    pub backend: &'a BackendState,
    /// Every incarnation of every slot.
    pub logs: Vec<&'a Log>,
    /// When each kill (of any kind) happened.
    pub kills: &'a [Instant],
    pub margin: Duration,
    /// When the driver stopped waiting for calls to settle.
    pub now: Instant,
}

impl Context<'_> {
    fn kill_within(&self, from: Instant, to: Instant) -> bool {
        self.kills.iter().any(|k| *k >= from && *k <= to)
    }
}

fn short(h: &Handed) -> String {
    match h {
        Handed::Call { seq, .. } => format!("call #{seq}"),
        Handed::Oneway { seq, .. } => format!("oneway #{seq}"),
        Handed::Publish(r) => format!("t{}=v{}", r.topic, r.value),
    }
}

/// Calls settle within their deadline, answers come from a real client that ran the call, no
/// call not in flight at a kill ran twice, and each real client got each participant's oneway
/// calls and publications in the order they were made, with no two-way call overtaking one.
pub fn after_the_fact(cx: &Context<'_>) -> Vec<String> {
    let mut out = Vec::new();
    for log in &cx.logs {
        out.extend(log.problems.iter().map(|p| format!("{}: {p}", log.tag)));
        check_calls(cx, log, &mut out);
    }
    check_oneway_duplicates(cx, &mut out);
    let by_tag: HashMap<&str, &Log> = cx.logs.iter().map(|l| (l.tag.as_str(), *l)).collect();
    for (client, c) in cx.backend.clients.iter().enumerate() {
        let mut publishers: Vec<&str> = c.handed.iter().map(|(_, h)| h.who()).collect();
        publishers.sort_unstable();
        publishers.dedup();
        for who in publishers {
            let Some(log) = by_tag.get(who) else {
                out.push(format!(
                    "real client #{client} was handed something from unknown participant {who}"
                ));
                continue;
            };
            let items = c.handed.iter().map(|(_, h)| h).filter(|h| h.who() == who);
            if let Some(v) = check_order(items.clone(), log) {
                let got: Vec<String> = items.map(short).collect();
                let made: Vec<String> = log
                    .ordered
                    .iter()
                    .map(|o| match &o.item {
                        Ordered::Note => format!("oneway #{}", o.seq),
                        Ordered::Publish(r) => format!("#{} t{}=v{}", o.seq, r.topic, r.value),
                    })
                    .collect();
                out.push(format!(
                    "order: real client #{client} (leader {}) got {who}'s calls out of order: {v}; it got {got:?}; {who} made {made:?}",
                    c.made_by
                ));
            }
        }
    }
    out
}

fn check_calls(cx: &Context<'_>, log: &Log, out: &mut Vec<String>) {
    let fate = fate(log);
    for call in &log.calls {
        let what = format!(
            "{} call #{} (real client takes {}ms)",
            log.tag, call.seq, call.slow_ms
        );
        let end = match &call.settled {
            Some((at, _)) => *at,
            None => log.gone_at().unwrap_or(cx.now).min(cx.now),
        };
        let took = end.saturating_duration_since(call.started);
        let stalled = stalled_within(log, call.started, end);
        let allowed = log.timeout + cx.margin + stalled;
        if took > allowed {
            let how = if call.settled.is_some() {
                "settled"
            } else {
                "was still unsettled"
            };
            out.push(format!(
                "deadline: {what} {how} after {}ms: timeout {}ms + margin {}ms + {}ms stalled",
                took.as_millis(),
                log.timeout.as_millis(),
                cx.margin.as_millis(),
                stalled.as_millis()
            ));
        }
        let runs = cx
            .backend
            .executions
            .get(&(log.tag.clone(), call.seq))
            .map_or(&[][..], |v| v.as_slice());
        if runs.len() > 1 && !cx.kill_within(call.started, end) {
            out.push(format!(
                "{what} ran {} times (on real clients {runs:?}) though no process was killed while it was in flight",
                runs.len()
            ));
        }
        match &call.settled {
            Some((_, Outcome::Ok(reply)))
                if reply.who != log.tag
                    || reply.seq != call.seq
                    || !runs.contains(&reply.client) =>
            {
                out.push(format!(
                    "{what} was answered {reply:?}, which no real client ran (runs: {runs:?})"
                ));
            }
            Some((_, Outcome::Ok(_))) => {}
            Some((_, Outcome::Timeout | Outcome::LeaderLost)) => {}
            Some((_, Outcome::Closed)) if fate != Fate::Live => {}
            Some((_, Outcome::Closed)) => {
                out.push(format!(
                    "{what} failed with Closed, though its handle is open"
                ));
            }
            Some((_, Outcome::Other(error))) => {
                out.push(format!("{what} failed with an unexpected error: {error}"));
            }
            None if fate == Fate::Gone => {}
            None => {} // reported above as a deadline violation when it mattered
        }
    }
}

/// A oneway call reaches real clients at most once (unless a kill happened while it was on its
/// way: the brief's "in flight at a kill").
fn check_oneway_duplicates(cx: &Context<'_>, out: &mut Vec<String>) {
    let mut seen: HashMap<(&str, u64), Vec<(ClientId, Instant)>> = HashMap::new();
    for (client, c) in cx.backend.clients.iter().enumerate() {
        for (at, h) in &c.handed {
            if let Handed::Oneway { who, seq } = h {
                seen.entry((who.as_str(), *seq))
                    .or_default()
                    .push((client, *at));
            }
        }
    }
    let made: HashMap<(&str, u64), Instant> = cx
        .logs
        .iter()
        .flat_map(|l| {
            l.ordered
                .iter()
                .map(move |o| ((l.tag.as_str(), o.seq), o.made))
        })
        .collect();
    for ((who, seq), runs) in seen {
        if runs.len() < 2 {
            continue;
        }
        let last = runs.iter().map(|(_, at)| *at).max().unwrap_or(cx.now);
        let from = made.get(&(who, seq)).copied().unwrap_or(last);
        if !cx.kill_within(from, last) {
            out.push(format!(
                "{who} oneway #{seq} ran {} times (on real clients {:?}) with no kill in between",
                runs.len(),
                runs.iter().map(|(c, _)| *c).collect::<Vec<_>>()
            ));
        }
    }
}

/// Checks one real client's items from one participant, in the order it got them: oneway calls
/// and publications in strictly increasing order of the participant's numbering (so none
/// twice), and none made before a two-way call arriving after it.
///
/// A publication names its registration, not its number, and a registration may have been
/// published several times, so each one is matched with the earliest publication of it that
/// keeps the order (greedy: the least number that fits leaves the most room for what follows,
/// so the order check fails only when no matching exists).
fn check_order<'a>(items: impl Iterator<Item = &'a Handed>, log: &Log) -> Option<String> {
    let mut publications: HashMap<&Registration, Vec<u64>> = HashMap::new();
    let mut notes = HashSet::new();
    for o in &log.ordered {
        match &o.item {
            Ordered::Publish(reg) => publications.entry(reg).or_default().push(o.seq),
            Ordered::Note => {
                notes.insert(o.seq);
            }
        }
    }
    let mut floor = 0;
    let mut after = "the start".to_owned();
    for item in items {
        match item {
            Handed::Call { seq, .. } => {
                if *seq > floor {
                    floor = *seq;
                    after = format!("call #{seq}");
                }
            }
            Handed::Oneway { seq, .. } => {
                if !notes.contains(seq) {
                    return Some(format!("oneway #{seq}, which it never made"));
                }
                if *seq <= floor {
                    return Some(format!("oneway #{seq} after {after}"));
                }
                floor = *seq;
                after = format!("oneway #{seq}");
            }
            Handed::Publish(reg) => {
                let Some(seqs) = publications.get(reg) else {
                    return Some(format!("publication {reg:?}, which it never made"));
                };
                match seqs.iter().find(|s| **s > floor) {
                    Some(s) => {
                        floor = *s;
                        after = format!("publication #{s} (t{}=v{})", reg.topic, reg.value);
                    }
                    None => {
                        return Some(format!(
                            "publication t{}=v{} (made as #{seqs:?}) after {after}: handed twice or overtaken",
                            reg.topic, reg.value
                        ));
                    }
                }
            }
        }
    }
    None
}

/// What a run did, to show a schedule really exercised the core.
#[derive(Debug, Default, Clone, Copy)]
pub struct Tally {
    pub real_clients: usize,
    pub calls: usize,
    pub ok: usize,
    pub timeout: usize,
    pub leader_lost: usize,
    pub closed: usize,
    pub oneways: usize,
    pub publications: usize,
    pub stalls: usize,
    pub kills: usize,
}

impl Tally {
    pub fn of(backend: &BackendState, logs: &[&Log]) -> Self {
        let mut t = Tally {
            real_clients: backend.clients.len(),
            ..Tally::default()
        };
        for log in logs {
            t.stalls += log.stalls.len();
            t.kills += usize::from(log.ended.is_some());
            t.calls += log.calls.len();
            for call in &log.calls {
                match &call.settled {
                    Some((_, Outcome::Ok(_))) => t.ok += 1,
                    Some((_, Outcome::Timeout)) => t.timeout += 1,
                    Some((_, Outcome::LeaderLost)) => t.leader_lost += 1,
                    Some((_, Outcome::Closed)) => t.closed += 1,
                    _ => {}
                }
            }
            for o in &log.ordered {
                match o.item {
                    Ordered::Note => t.oneways += 1,
                    Ordered::Publish(_) => t.publications += 1,
                }
            }
        }
        t
    }

    pub fn add(&mut self, o: &Tally) {
        self.real_clients += o.real_clients;
        self.calls += o.calls;
        self.ok += o.ok;
        self.timeout += o.timeout;
        self.leader_lost += o.leader_lost;
        self.closed += o.closed;
        self.oneways += o.oneways;
        self.publications += o.publications;
        self.stalls += o.stalls;
        self.kills += o.kills;
    }
}

impl std::fmt::Display for Tally {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} real clients (leaders), {} kills, {} stalls; {} calls: {} ok, {} timed out, {} leader lost, {} closed; {} oneways, {} publications",
            self.real_clients,
            self.kills,
            self.stalls,
            self.calls,
            self.ok,
            self.timeout,
            self.leader_lost,
            self.closed,
            self.oneways,
            self.publications
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::participant::OrderedRec;

    fn publisher(made: &[(u64, Option<(u8, u8)>)]) -> Log {
        let now = Instant::now();
        Log {
            tag: "p0.0".into(),
            timeout: Duration::from_secs(1),
            calls: Vec::new(),
            ordered: made
                .iter()
                .map(|(seq, publication)| OrderedRec {
                    seq: *seq,
                    made: now,
                    item: match publication {
                        Some((topic, value)) => Ordered::Publish(reg(*topic, *value)),
                        None => Ordered::Note,
                    },
                })
                .collect(),
            streams: Vec::new(),
            stalls: Vec::new(),
            ended: None,
            cut: None,
            problems: Vec::new(),
        }
    }

    fn reg(topic: u8, value: u8) -> Registration {
        Registration {
            who: "p0.0".into(),
            topic,
            value,
        }
    }

    fn note(seq: u64) -> Handed {
        Handed::Oneway {
            who: "p0.0".into(),
            seq,
        }
    }

    fn call(seq: u64) -> Handed {
        Handed::Call {
            who: "p0.0".into(),
            seq,
        }
    }

    fn publish(topic: u8, value: u8) -> Handed {
        Handed::Publish(reg(topic, value))
    }

    #[test]
    fn a_republished_key_is_matched_with_the_publication_that_keeps_the_order() {
        // #1 publishes t0=v0, #2 is a oneway call, #3 publishes t0=v0 again.
        let log = publisher(&[(1, Some((0, 0))), (2, None), (3, Some((0, 0)))]);
        let ok = |items: &[Handed]| check_order(items.iter(), &log);
        assert_eq!(
            ok(&[note(2), publish(0, 0)]),
            None,
            "the second publication"
        );
        assert_eq!(ok(&[publish(0, 0), note(2), publish(0, 0)]), None, "both");
        assert_eq!(
            ok(&[call(5), call(4)]),
            None,
            "two-way calls among themselves"
        );
        assert!(
            ok(&[publish(0, 0), publish(0, 0), publish(0, 0)]).is_some(),
            "one too many"
        );
        assert!(ok(&[note(2), note(2)]).is_some(), "a oneway call twice");
    }

    #[test]
    fn nothing_made_before_a_two_way_call_may_arrive_after_it() {
        let log = publisher(&[(1, None), (3, Some((1, 2)))]);
        let order = |items: &[Handed]| check_order(items.iter(), &log);
        assert!(order(&[call(2), note(1)]).is_some());
        assert_eq!(order(&[note(1), call(2), publish(1, 2)]), None);
        // A two-way call may arrive after later ones (it was retried), not the other way round.
        assert_eq!(order(&[note(1), publish(1, 2), call(2)]), None);
        assert!(order(&[call(4), publish(1, 2)]).is_some());
    }
}
