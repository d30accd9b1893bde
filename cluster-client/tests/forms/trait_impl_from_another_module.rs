// The trait comes from elsewhere (here a module standing in for an SDK crate) and carries no
// attribute: #[cluster_client] goes on the application's impl of it. The handle implements the
// same trait, with the impl's associated type; a method the impl keeps local gets the trait's
// default body on the handle.
use cluster_client::cluster_client;

mod sdk {
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    pub struct SdkError(pub String);

    impl std::fmt::Display for SdkError {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(&self.0)
        }
    }

    impl From<cluster_client::Error> for SdkError {
        fn from(e: cluster_client::Error) -> Self {
            SdkError(e.to_string())
        }
    }

    /// The SDK's trait: plain `async fn`s, no `Send` promised.
    #[allow(async_fn_in_trait)]
    pub trait Registry {
        type Error;
        async fn get(&self, key: String) -> Result<Option<String>, Self::Error>;
        fn register(&self, key: String, value: String);
        fn describe(&self) -> String {
            "an sdk registry".into()
        }
    }
}

pub struct MyRegistry;

#[cluster_client]
impl sdk::Registry for MyRegistry {
    type Error = sdk::SdkError;

    #[delegate(invoke)]
    async fn get(&self, key: String) -> Result<Option<String>, Self::Error> {
        match key.as_str() {
            "bad" => Err(sdk::SdkError("bad key".into())),
            _ => Ok(Some(key.to_uppercase())),
        }
    }

    #[delegate(invoke_oneway)]
    fn register(&self, _key: String, _value: String) {}

    fn describe(&self) -> String {
        "my registry".into()
    }
}

fn assert_send<T: Send>(t: T) -> T {
    t
}

#[tokio::main]
pub async fn main() {
    use sdk::Registry as _;
    let registry: RegistryCluster = RegistryCluster::builder()
        .single_mode(true)
        .create(|| async { Ok::<_, String>(MyRegistry) })
        .await
        .unwrap();
    assert_eq!(
        assert_send(registry.get("a".into())).await,
        Ok(Some("A".into()))
    );
    assert_eq!(
        registry.get("bad".into()).await,
        Err(sdk::SdkError("bad key".into()))
    );
    registry.register("k".into(), "v".into());
    assert_eq!(MyRegistry.describe(), "my registry");
    assert_eq!(registry.describe(), "an sdk registry");
    assert_eq!(registry.handle().channel(), "Registry");
    registry.close().await;
}
