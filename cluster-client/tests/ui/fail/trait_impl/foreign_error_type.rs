use cluster_client::cluster_client;

mod sdk {
    pub trait Registry: Send + Sync + 'static {
        type Error;
        fn lookup(&self, key: crate::Key) -> impl std::future::Future<Output = Result<Vec<String>, Self::Error>> + Send;
    }
}

pub struct Key(pub String);
pub struct MyRegistry;

#[cluster_client]
impl sdk::Registry for MyRegistry {
    type Error = std::io::Error;

    #[delegate(invoke)]
    async fn lookup(&self, key: Key) -> Result<Vec<String>, Self::Error> {
        Ok(vec![key.0])
    }
}

fn main() {}
