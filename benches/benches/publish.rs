//! Publishing again the publication remembered last while N are remembered (a publication's
//! key is its whole value, as in Node): the bookkeeping must not grow with N.
//!
//! `cargo bench -p cluster-client-benches --bench publish`

use std::hint::black_box;
use std::sync::Arc;

use cluster_client::{BoxFuture, Builder, Call, InvokeError, Service};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use serde::Serialize;

/// A real client that accepts publications and does nothing with them.
struct Sink;

struct SinkService;

impl Service for SinkService {
    type Client = Sink;

    fn channel_name(&self) -> &str {
        "PublishBench"
    }

    fn invoke(
        &self,
        _client: Arc<Sink>,
        _call: Call,
    ) -> BoxFuture<'static, Result<Vec<u8>, InvokeError>> {
        Box::pin(std::future::ready(Ok(Vec::new())))
    }

    fn publish_method(&self) -> Option<&str> {
        Some("publish")
    }
}

#[derive(Serialize)]
struct Registration {
    service: String,
    address: String,
}

fn publish(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let _guard = runtime.enter();
    let mut group = c.benchmark_group("publish one key");
    for remembered in [1usize, 1_000, 60_000] {
        let handle = runtime.block_on(async {
            Builder::new(SinkService)
                .single_mode(true)
                .name(format!("PublishBench{remembered}"))
                .create(|| async { Ok::<_, String>(Sink) })
                .await
                .unwrap()
        });
        for i in 0..remembered {
            let reg = Registration {
                service: format!("service-{i}"),
                address: "10.0.0.1:80".into(),
            };
            handle.publish(&reg).unwrap();
        }
        let reg = Registration {
            service: format!("service-{}", remembered - 1),
            address: "10.0.0.1:80".into(),
        };
        group.bench_with_input(
            BenchmarkId::from_parameter(remembered),
            &remembered,
            |b, _| b.iter(|| handle.publish(black_box(&reg)).unwrap()),
        );
    }
    group.finish();
}

criterion_group!(benches, publish);
criterion_main!(benches);
