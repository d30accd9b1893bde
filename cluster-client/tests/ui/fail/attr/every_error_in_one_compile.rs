// Independent mistakes in one trait are all reported by one compile.
use cluster_client::cluster_client;

#[cluster_client]
pub trait Metrics: Send + Sync + 'static {
    #[delegate(fetch)]
    fn report(&self, value: u64);

    fn flush(&self);

    #[delegate(invoke_oneway)]
    fn reset(&mut self);
}

fn main() {}
