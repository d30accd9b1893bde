// An impl with an error still yields the handle and its trait impl, so code that uses them
// adds no errors of its own: the user sees the one mistake.
use cluster_client::cluster_client;

#[allow(async_fn_in_trait)]
pub trait Metrics {
    fn report(&self, value: u64);
    async fn total(&self) -> u64;
}

pub struct Real;

#[cluster_client]
impl Metrics for Real {
    #[delegate(invoke_oneway)]
    fn report(&self, _value: u64) {}

    #[delegate(invoke)]
    async fn total(&self) -> u64 {
        1
    }
}

pub async fn use_it(metrics: MetricsCluster) {
    metrics.report(1);
    let _total: u64 = metrics.total().await;
    let _leads: bool = metrics.is_leader();
}

fn main() {}
