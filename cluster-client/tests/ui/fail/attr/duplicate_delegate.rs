use cluster_client::cluster_client;

#[cluster_client]
pub trait Metrics: Send + Sync + 'static {
    #[delegate(invoke_oneway)]
    #[delegate(invoke_oneway)]
    fn report(&self, value: u64);
}

fn main() {}
