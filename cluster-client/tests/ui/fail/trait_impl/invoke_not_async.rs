use cluster_client::cluster_client;

pub trait Metrics {
    fn total(&self) -> Result<u64, String>;
}

pub struct Real;

#[cluster_client]
impl Metrics for Real {
    #[delegate(invoke)]
    fn total(&self) -> Result<u64, String> {
        Ok(1)
    }
}

fn main() {}
