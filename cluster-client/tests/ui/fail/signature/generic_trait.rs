use cluster_client::cluster_client;

#[cluster_client]
pub trait Metrics<T>: Send + Sync + 'static {
    #[delegate(invoke_oneway)]
    fn report(&self, value: T);
}

fn main() {}
