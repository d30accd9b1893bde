// Two real clients implement one trait in one module: `prefix` keeps the generated names
// apart, `name` the channels.
use cluster_client::cluster_client;

pub trait Metrics {
    fn report(&self, value: u64);
}

pub struct Primary;
pub struct Backup;

#[cluster_client(prefix = "Primary")]
impl Metrics for Primary {
    #[delegate(invoke_oneway)]
    fn report(&self, _value: u64) {}
}

#[cluster_client(prefix = "Backup", name = "BackupMetrics")]
impl Metrics for Backup {
    #[delegate(invoke_oneway)]
    fn report(&self, _value: u64) {}
}

fn report_to(metrics: &impl Metrics) {
    metrics.report(1);
}

#[tokio::main]
pub async fn main() {
    let primary: PrimaryMetricsCluster = PrimaryMetricsCluster::builder()
        .single_mode(true)
        .create(|| async { Ok::<_, String>(Primary) })
        .await
        .unwrap();
    let backup: BackupMetricsCluster = BackupMetricsCluster::builder()
        .single_mode(true)
        .create(|| async { Ok::<_, String>(Backup) })
        .await
        .unwrap();
    report_to(&primary);
    report_to(&backup);
    assert_eq!(primary.handle().channel(), "Metrics");
    assert_eq!(backup.handle().channel(), "BackupMetrics");
    let _service: PrimaryMetricsService = PrimaryMetricsService::new();
    let _builder: BackupMetricsBuilder = BackupMetricsCluster::builder();
}
