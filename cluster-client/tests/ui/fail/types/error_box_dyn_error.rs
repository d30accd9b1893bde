use cluster_client::cluster_client;

#[cluster_client]
pub trait Metrics: Send + Sync + 'static {
    #[delegate(invoke)]
    async fn total(&self, name: String) -> Result<u64, Box<dyn std::error::Error>>;
}

fn main() {}
