use cluster_client::cluster_client;

#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct MetricsError(String);

impl std::fmt::Display for MetricsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cluster_client]
pub trait Metrics: Send + Sync + 'static {
    #[delegate(invoke)]
    async fn total(&self, name: String) -> Result<u64, MetricsError>;
}

fn main() {}
