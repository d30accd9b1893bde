use cluster_client::cluster_client;
use futures::Stream;

#[cluster_client]
pub trait Registry: Send + Sync + 'static {
    #[delegate(subscribe)]
    fn watch(&self, service: String, zone: String) -> impl Stream<Item = Vec<String>> + Send + 'static;
}

fn main() {}
