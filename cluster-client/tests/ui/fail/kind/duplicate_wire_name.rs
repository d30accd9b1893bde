use cluster_client::cluster_client;

#[cluster_client]
pub trait Metrics: Send + Sync + 'static {
    #[delegate(invoke_oneway, name = "report")]
    fn report_count(&self, value: u64);

    #[delegate(invoke_oneway, name = "report")]
    fn report_gauge(&self, value: f64);
}

fn main() {}
