use cluster_client::cluster_client;

#[cluster_client]
pub trait Registry: Send + Sync + 'static {
    #[delegate(close)]
    async fn close(&self);

    #[delegate(close)]
    async fn shutdown(&self);
}

fn main() {}
