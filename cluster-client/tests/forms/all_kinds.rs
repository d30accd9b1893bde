// All six kinds in one trait; the real client implements it with plain `async fn`s, and the
// generated handle, dispatch and builder are usable with it.
use cluster_client::cluster_client;
use futures::Stream;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Topic {
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct RegistryError(String);

impl std::fmt::Display for RegistryError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<cluster_client::Error> for RegistryError {
    fn from(e: cluster_client::Error) -> Self {
        RegistryError(e.to_string())
    }
}

#[cluster_client]
pub trait Registry: Send + Sync + 'static {
    #[delegate(invoke)]
    async fn get_data(&self, id: String, limit: u32) -> Result<Vec<String>, RegistryError>;
    #[delegate(invoke)]
    fn ping(&self) -> impl std::future::Future<Output = Result<(), RegistryError>> + Send;
    #[delegate(invoke_oneway)]
    fn report(&self, stat: u64);
    #[delegate(subscribe)]
    fn subscribe(&self, topic: Topic) -> impl Stream<Item = Vec<String>> + Send + 'static;
    #[delegate(unsubscribe)]
    fn unsubscribe(&self, topic: Topic);
    #[delegate(publish)]
    fn publish(&self, topic: Topic);
    #[delegate(close)]
    async fn close(&self);
}

pub struct Real;

impl Registry for Real {
    async fn get_data(&self, id: String, limit: u32) -> Result<Vec<String>, RegistryError> {
        Ok(vec![id; limit as usize])
    }
    async fn ping(&self) -> Result<(), RegistryError> {
        Ok(())
    }
    fn report(&self, _stat: u64) {}
    fn subscribe(&self, topic: Topic) -> impl Stream<Item = Vec<String>> + Send + 'static {
        futures::stream::iter(vec![vec![topic.name]])
    }
    fn unsubscribe(&self, _topic: Topic) {}
    fn publish(&self, _topic: Topic) {}
    async fn close(&self) {}
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

pub async fn use_it(registry: &RegistryCluster<Real>) -> Result<Vec<String>, RegistryError> {
    // The generated futures are `Send`, so they can be spawned on a multi-threaded runtime.
    let data = assert_send(registry.get_data("svc".into(), 2)).await?;
    registry.report(1);
    let _values = assert_send(registry.subscribe(Topic { name: "t".into() }));
    registry.unsubscribe(Topic { name: "t".into() });
    registry.publish(Topic { name: "t".into() });
    registry.ping().await?;
    let _leads: bool = registry.is_leader();
    Registry::close(registry).await;
    Ok(data)
}

#[tokio::main]
pub async fn main() {
    // Single mode: no networking, this process serves itself.
    let registry = RegistryCluster::builder()
        .single_mode(true)
        .create(|| async { Ok::<_, String>(Real) })
        .await
        .unwrap();
    assert!(registry.is_leader());
    assert_eq!(
        use_it(&registry).await.unwrap(),
        vec!["svc".to_owned(), "svc".to_owned()]
    );
}
