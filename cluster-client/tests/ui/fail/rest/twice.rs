use cluster_client::cluster_client;

#[cluster_client]
pub trait Log: Send + Sync + 'static {
    #[delegate(invoke_oneway)]
    fn log(&self, #[rest] #[rest] parts: Vec<String>);
}

fn main() {}
