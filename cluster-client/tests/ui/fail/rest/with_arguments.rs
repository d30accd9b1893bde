use cluster_client::cluster_client;

#[cluster_client]
pub trait Log: Send + Sync + 'static {
    #[delegate(invoke_oneway)]
    fn log(&self, #[rest(min = 1)] parts: Vec<String>);
}

fn main() {}
