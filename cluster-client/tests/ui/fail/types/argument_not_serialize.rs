use cluster_client::cluster_client;

pub struct Sample {
    pub value: u64,
}

#[cluster_client]
pub trait Metrics: Send + Sync + 'static {
    #[delegate(invoke_oneway)]
    fn report(&self, sample: Sample);
}

fn main() {}
