use cluster_client::cluster_client;
use futures::Stream;

pub struct Feed;

#[cluster_client]
impl Feed {
    #[delegate(subscribe)]
    fn watch(&self, #[rest] topics: Vec<String>) -> impl Stream<Item = String> + Send + 'static {
        let _ = topics;
        futures::stream::empty()
    }
}

fn main() {}
