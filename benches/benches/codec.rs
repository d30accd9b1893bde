//! Payload codecs on a 16-byte string and a ~4 KiB JSON-like object: encode, decode, and both.
//!
//! `cargo bench -p cluster-client-benches --bench codec -- --warm-up-time 1 --measurement-time 3`

use std::hint::black_box;

use cluster_client::codec::PayloadCodec;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
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

/// About 4 KiB once encoded with serialize-json: a nested map of strings and numbers.
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

const SHORT: &str = "hello, world 16b";

fn bench_codec(c: &mut Criterion, codec: &PayloadCodec) {
    let page = object();
    let short = SHORT.to_string();
    let mut page_bytes = Vec::new();
    codec.encode(&page, &mut page_bytes).expect("encodes");
    let mut short_bytes = Vec::new();
    codec.encode(&short, &mut short_bytes).expect("encodes");
    assert_eq!(codec.decode::<Page>(&page_bytes).expect("decodes"), page);
    eprintln!(
        "{}: object {} bytes, string {} bytes",
        codec.name(),
        page_bytes.len(),
        short_bytes.len()
    );

    let mut group = c.benchmark_group("encode");
    group.throughput(Throughput::Bytes(page_bytes.len() as u64));
    group.bench_function(BenchmarkId::new(codec.name(), "object-4k"), |b| {
        let mut out = Vec::with_capacity(8192);
        b.iter(|| {
            out.clear();
            codec.encode(black_box(&page), &mut out).expect("encodes");
        })
    });
    group.bench_function(BenchmarkId::new(codec.name(), "string-16"), |b| {
        let mut out = Vec::with_capacity(64);
        b.iter(|| {
            out.clear();
            codec.encode(black_box(&short), &mut out).expect("encodes");
        })
    });
    group.finish();

    let mut group = c.benchmark_group("decode");
    group.throughput(Throughput::Bytes(page_bytes.len() as u64));
    group.bench_function(BenchmarkId::new(codec.name(), "object-4k"), |b| {
        b.iter(|| {
            codec
                .decode::<Page>(black_box(&page_bytes))
                .expect("decodes")
        })
    });
    group.bench_function(BenchmarkId::new(codec.name(), "string-16"), |b| {
        b.iter(|| {
            codec
                .decode::<String>(black_box(&short_bytes))
                .expect("decodes")
        })
    });
    group.finish();

    let mut group = c.benchmark_group("encode+decode");
    group.throughput(Throughput::Bytes(page_bytes.len() as u64));
    group.bench_function(BenchmarkId::new(codec.name(), "object-4k"), |b| {
        let mut out = Vec::with_capacity(8192);
        b.iter(|| {
            out.clear();
            codec.encode(black_box(&page), &mut out).expect("encodes");
            codec.decode::<Page>(&out).expect("decodes")
        })
    });
    group.bench_function(BenchmarkId::new(codec.name(), "string-16"), |b| {
        let mut out = Vec::with_capacity(64);
        b.iter(|| {
            out.clear();
            codec.encode(black_box(&short), &mut out).expect("encodes");
            codec.decode::<String>(&out).expect("decodes")
        })
    });
    group.finish();
}

fn codecs(c: &mut Criterion) {
    bench_codec(c, &PayloadCodec::SerializeJson);
    bench_codec(c, &PayloadCodec::Json);
}

criterion_group!(benches, codecs);
criterion_main!(benches);
