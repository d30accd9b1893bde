use cluster_client::cluster_client;

#[cluster_client]
pub trait Registry: Send + Sync + 'static {
    #[delegate(unsubscribe)]
    fn unwatch(&self, service: String);
}

fn main() {}
