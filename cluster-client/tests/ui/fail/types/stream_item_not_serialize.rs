use cluster_client::cluster_client;
use futures::Stream;

pub struct Reading {
    pub value: f64,
}

#[cluster_client]
pub trait Sensors: Send + Sync + 'static {
    #[delegate(subscribe)]
    fn watch(&self, sensor: String) -> impl Stream<Item = Reading> + Send + 'static;
}

fn main() {}
