//! A loop over the serialize-json codec on the ~4 KiB page of `codec.rs`, for profilers
//! (`valgrind --tool=cachegrind`, `perf record`): no criterion, no statistics.
//!
//! `cargo bench -p cluster-client-benches --bench codec_profile -- [encode|decode|both] [N]`

use std::hint::black_box;

use cluster_client::codec::PayloadCodec;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Record {
    id: u64,
    name: String,
    email: String,
    score: f64,
    active: bool,
    tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Page {
    service: String,
    version: u32,
    cursor: Option<String>,
    records: Vec<Record>,
}

/// The same page as `codec.rs`'s.
fn object() -> Page {
    let records = (0..32)
        .map(|i| Record {
            id: 1_000_000 + i * 7919,
            name: format!("user {i}"),
            email: format!("user{i}@example.com"),
            score: i as f64 * 1.25 + 0.5,
            active: i % 3 != 0,
            tags: vec!["alpha".into(), format!("group-{}", i % 4)],
        })
        .collect();
    Page {
        service: "demo.cluster-client".into(),
        version: 3,
        cursor: Some("eyJvZmZzZXQiOjMyfQ==".into()),
        records,
    }
}

fn main() {
    // `cargo bench` passes `--bench`; only the words after `--` matter here.
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let what = args.first().map_or("both", String::as_str);
    let n: u64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(10_000);
    let codec = PayloadCodec::SerializeJson;
    let page = object();
    let mut bytes = Vec::with_capacity(8192);
    codec.encode(&page, &mut bytes).expect("encodes");
    if what == "dump" {
        println!("{}", String::from_utf8_lossy(&bytes));
        return;
    }
    let start = std::time::Instant::now();
    for _ in 0..n {
        match what {
            "encode" => {
                bytes.clear();
                codec.encode(black_box(&page), &mut bytes).expect("encodes");
            }
            "decode" => {
                black_box(codec.decode::<Page>(black_box(&bytes)).expect("decodes"));
            }
            _ => {
                bytes.clear();
                codec.encode(black_box(&page), &mut bytes).expect("encodes");
                black_box(codec.decode::<Page>(&bytes).expect("decodes"));
            }
        }
    }
    let per = start.elapsed().as_nanos() as f64 / n as f64;
    eprintln!("{what}: {n} iterations, {per:.0} ns each");
}
