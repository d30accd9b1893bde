use cluster_client::cluster_client;

#[cluster_client]
pub trait Metrics: Send + Sync + 'static {
    #[delegate(invoke)]
    fn total(&self, name: String) -> Result<u64, String>;
}

fn main() {}
