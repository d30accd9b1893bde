use cluster_client::cluster_client;

#[cluster_client]
pub trait Registry: Send + Sync + 'static {
    #[delegate(subscribe)]
    fn watch(&self, service: String) -> Vec<String>;
}

fn main() {}
