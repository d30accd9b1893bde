use cluster_client::cluster_client;

#[cluster_client]
pub trait Registry: Send + Sync + 'static {
    #[delegate(publish)]
    fn register(&self, address: String) -> u64;
}

fn main() {}
