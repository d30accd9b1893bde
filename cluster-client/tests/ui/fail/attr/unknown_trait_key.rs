use cluster_client::cluster_client;

#[cluster_client(channel = "metrics")]
pub trait Metrics: Send + Sync + 'static {
    #[delegate(invoke_oneway)]
    fn report(&self, value: u64);
}

fn main() {}
