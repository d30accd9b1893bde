use cluster_client::cluster_client;

#[cluster_client]
pub trait Registry: Send + Sync + 'static {
    #[delegate(publish)]
    fn register(&self, #[rest] addresses: Vec<String>);
}

fn main() {}
