use cluster_client::cluster_client;
use futures::Stream;

pub struct Inventory;

#[cluster_client]
impl Inventory {
    #[delegate(subscribe)]
    pub fn watch(&self, _item: String) -> impl Stream<Item = u32> + Send + 'static {
        futures::stream::empty()
    }

    #[delegate(subscribe)]
    pub fn watch_price(&self, _item: String) -> impl Stream<Item = u32> + Send + 'static {
        futures::stream::empty()
    }
}

fn main() {}
