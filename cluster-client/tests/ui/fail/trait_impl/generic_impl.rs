use cluster_client::cluster_client;

pub trait Metrics {
    fn report(&self, value: u64);
}

pub struct Client<T>(T);

#[cluster_client]
impl<T: Send + Sync + 'static> Metrics for Client<T> {
    #[delegate(invoke_oneway)]
    fn report(&self, _value: u64) {}
}

fn main() {}
