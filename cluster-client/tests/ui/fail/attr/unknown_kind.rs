use cluster_client::cluster_client;

#[cluster_client]
pub trait Metrics: Send + Sync + 'static {
    #[delegate(fetch)]
    fn report(&self, value: u64);
}

fn main() {}
