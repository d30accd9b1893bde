use cluster_client::cluster_client;

#[cluster_client]
pub trait Metrics: Send + Sync + 'static {
    #[delegate(invoke)]
    async fn total(&self, name: String) -> u64;
}

fn main() {}
