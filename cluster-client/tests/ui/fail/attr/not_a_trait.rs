use cluster_client::cluster_client;

#[cluster_client]
pub struct Metrics {
    pub port: u16,
}

fn main() {}
