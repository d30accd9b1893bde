// A trait with an error still yields the handle and its trait impl, so code that uses them
// adds no errors of its own: the user sees the one mistake.
use cluster_client::cluster_client;

#[cluster_client]
pub trait Metrics: Send + Sync + 'static {
    #[delegate(invoke_oneway)]
    fn report(&self, value: u64);

    #[delegate(invoke)]
    async fn total(&self) -> u64;
}

pub async fn use_it<C: Metrics>(metrics: MetricsCluster<C>) {
    metrics.report(1);
    let _total: u64 = metrics.total().await;
    let _leads: bool = metrics.is_leader();
}

fn main() {}
