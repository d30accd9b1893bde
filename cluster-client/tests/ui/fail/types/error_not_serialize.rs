use cluster_client::cluster_client;

#[derive(Debug)]
pub struct MetricsError(String);

impl std::fmt::Display for MetricsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<cluster_client::Error> for MetricsError {
    fn from(e: cluster_client::Error) -> Self {
        MetricsError(e.to_string())
    }
}

#[cluster_client]
pub trait Metrics: Send + Sync + 'static {
    #[delegate(invoke)]
    async fn total(&self, name: String) -> Result<u64, MetricsError>;
}

fn main() {}
