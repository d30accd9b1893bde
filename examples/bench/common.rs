//! What the parent and the Rust children share: the clock, the latency histogram, the payloads
//! and JSON-line output. `tests/interop/node/bench/bench_child.js` mirrors each of them.

use std::io::Write;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// `CLOCK_MONOTONIC` in nanoseconds: the clock Node's `process.hrtime.bigint()` reads, so
/// timestamps taken in different processes (Rust or Node) compare.
pub fn mono_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Writes one JSON line to stdout and flushes it.
pub fn emit(v: &Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// A log-linear latency histogram over nanoseconds: exact below 128 ns, then 64 buckets per
/// power of two (under 1.6 % error). Bucket indices are the same in `bench_child.js`, so
/// histograms from both implementations merge and report alike.
#[derive(Clone)]
pub struct Hist {
    counts: Vec<u64>,
}

const BUCKETS: usize = 128 + 57 * 64;

impl Default for Hist {
    fn default() -> Self {
        Self {
            counts: vec![0; BUCKETS],
        }
    }
}

impl Hist {
    pub fn index(ns: u64) -> usize {
        if ns < 128 {
            return ns as usize;
        }
        let e = 63 - ns.leading_zeros() as usize;
        let m = (ns >> (e - 6)) as usize;
        128 + (e - 7) * 64 + (m - 64)
    }

    /// The middle of a bucket, in nanoseconds.
    pub fn value(idx: usize) -> u64 {
        if idx < 128 {
            return idx as u64;
        }
        let e = (idx - 128) / 64 + 7;
        let m = ((idx - 128) % 64 + 64) as u64;
        (m << (e - 6)) + ((1u64 << (e - 6)) >> 1)
    }

    pub fn record(&mut self, ns: u64) {
        self.counts[Self::index(ns)] += 1;
    }

    pub fn count(&self) -> u64 {
        self.counts.iter().sum()
    }

    pub fn merge(&mut self, other: &Hist) {
        for (a, b) in self.counts.iter_mut().zip(&other.counts) {
            *a += b;
        }
    }

    /// The quantile `q` (0..=1) in nanoseconds, 0 when empty.
    pub fn quantile(&self, q: f64) -> u64 {
        let total = self.count();
        if total == 0 {
            return 0;
        }
        let target = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= target {
                return Self::value(i);
            }
        }
        0
    }

    /// Sparse `[[index, count], ...]`.
    pub fn to_json(&self) -> Value {
        Value::Array(
            self.counts
                .iter()
                .enumerate()
                .filter(|(_, c)| **c > 0)
                .map(|(i, c)| serde_json::json!([i, c]))
                .collect(),
        )
    }

    pub fn from_json(v: &Value) -> Hist {
        let mut h = Hist::default();
        for pair in v.as_array().into_iter().flatten() {
            let i = pair[0].as_u64().unwrap_or(0) as usize;
            if i < BUCKETS {
                h.counts[i] += pair[1].as_u64().unwrap_or(0);
            }
        }
        h
    }
}

/// The JSON-like object of the payloads above 16 bytes (`--payload 4096|65536|1048576`), built
/// identically by `bench_child.js`; only the number of items grows with the requested size.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Big {
    pub kind: String,
    pub version: u32,
    pub owner: Owner,
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Owner {
    pub name: String,
    pub region: String,
    pub id: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Item {
    pub id: u32,
    pub name: String,
    pub host: String,
    pub port: u32,
    pub weight: f64,
    pub labels: Labels,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Labels {
    pub zone: String,
    pub tier: String,
}

/// Items in [`big`] per 4,096 requested bytes: the 4096 object's plain JSON text is 4,0xx bytes.
pub const BIG_ITEMS: u32 = 38;

/// The payload sizes `--payload` accepts, in bytes (approximate encoded size).
pub const PAYLOADS: [usize; 4] = [16, 4096, 65536, 1_048_576];

/// Items in the object of `--payload bytes` (38 for 4096, 608 for 65536, 9728 for 1048576).
pub fn big_items(bytes: usize) -> u32 {
    (bytes as u64 * u64::from(BIG_ITEMS) / 4096).max(1) as u32
}

/// The object with `items` items (see [`big_items`]).
pub fn big(items: u32) -> Big {
    Big {
        kind: "bench".into(),
        version: 1,
        owner: Owner {
            name: "cluster-client".into(),
            region: "loopback".into(),
            id: 42,
        },
        items: (0..items)
            .map(|i| Item {
                id: i,
                name: format!("item-{i}"),
                host: format!("10.0.{i}.{}", (i * 7) % 256),
                port: 8000 + i,
                weight: f64::from(i) * 0.25,
                labels: Labels {
                    zone: format!("z{}", i % 3),
                    tier: "backend".into(),
                },
            })
            .collect(),
    }
}

/// The 16-byte payload: a 16-character string.
pub fn small() -> String {
    "x".repeat(16)
}

/// A fanout value: phase, sequence number, emit time (`mono_ns`) and the payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Fan<D> {
    pub p: u32,
    pub s: u64,
    pub t: u64,
    pub d: D,
}

/// Either payload, as `--payload` chose it (serialises as the bare string or object).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Payload {
    Small(String),
    Big(Big),
}

/// The payload of `--payload bytes`: [`small`] for 16, else [`big`].
pub fn payload(bytes: usize) -> Payload {
    if bytes <= 16 {
        Payload::Small(small())
    } else {
        Payload::Big(big(big_items(bytes)))
    }
}

/// A `keys` value: the emitting leader's pid, the key's version, the emit time (`mono_ns`),
/// `c` = 1 for a change pushed by `change` (0 for the value answering a subscription), and the
/// payload.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyVal<D> {
    pub p: u32,
    pub s: u64,
    pub t: u64,
    pub c: u8,
    pub d: D,
}

/// A failover tick: the emitting leader's pid and a sequence number.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Tick {
    pub p: u32,
    pub s: u64,
}

/// Reads `--name value` from `args`.
pub fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}
