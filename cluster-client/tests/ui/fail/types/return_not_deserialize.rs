use cluster_client::cluster_client;

// Serializable but not deserializable: the leader can send it, the follower cannot read it.
#[derive(serde::Serialize)]
pub struct Total {
    pub value: u64,
}

#[cluster_client]
pub trait Metrics: Send + Sync + 'static {
    #[delegate(invoke)]
    async fn total(&self, name: String) -> Result<Total, cluster_client::Error>;
}

fn main() {}
