//! Arguments keep JavaScript's meaning on a Rust leader, as a Node leader passes them to the
//! real method: a missing trailing argument is `undefined`, extra ones are ignored, and a rest
//! parameter takes all that remain. Callers here are raw followers sending any count, as Node
//! followers do.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use cluster_client::codec::JsValue;
use cluster_client::protocol::ArgsWriter;
use cluster_client::{Error, Scope, cluster_client};
use serde::{Deserialize, Serialize};
use support::*;

#[derive(Debug, Serialize, Deserialize)]
pub struct Failure(String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure(e.to_string())
    }
}

#[cluster_client(rename_all = "camelCase")]
pub trait Loose: Send + Sync + 'static {
    #[delegate(invoke)]
    async fn echo(&self, x: JsValue) -> Result<JsValue, Failure>;
    #[delegate(invoke)]
    async fn echo_all(&self, #[rest] args: Vec<JsValue>) -> Result<Vec<JsValue>, Failure>;
    #[delegate(invoke)]
    async fn add(&self, a: f64, b: Option<f64>) -> Result<f64, Failure>;
    #[delegate(invoke)]
    async fn greet(&self, name: String) -> Result<String, Failure>;
    #[delegate(invoke_oneway)]
    fn log(&self, level: u8, #[rest] parts: Vec<String>);
}

type Logged = Arc<Mutex<Vec<(u8, Vec<String>)>>>;

struct Real {
    logged: Logged,
}

impl Loose for Real {
    async fn echo(&self, x: JsValue) -> Result<JsValue, Failure> {
        Ok(x)
    }
    async fn echo_all(&self, args: Vec<JsValue>) -> Result<Vec<JsValue>, Failure> {
        Ok(args)
    }
    async fn add(&self, a: f64, b: Option<f64>) -> Result<f64, Failure> {
        // JavaScript: 1 + undefined is NaN.
        Ok(b.map_or(f64::NAN, |b| a + b))
    }
    async fn greet(&self, name: String) -> Result<String, Failure> {
        Ok(format!("hello {name}"))
    }
    fn log(&self, level: u8, parts: Vec<String>) {
        self.logged.lock().unwrap().push((level, parts));
    }
}

/// A leader in one scope and a follower in another, on a free port, and what the leader's
/// real client logged.
async fn pair() -> (LooseCluster<Real>, LooseCluster<Real>, Logged) {
    let port = free_port();
    let logged = Logged::default();
    let start = |scope: Scope| {
        let logged = logged.clone();
        LooseCluster::<Real>::builder()
            .port(port)
            .scope(scope)
            .create(move || {
                let logged = logged.clone();
                async move { Ok::<_, String>(Real { logged }) }
            })
    };
    let leader = start(Scope::new()).await.unwrap();
    let follower = start(Scope::new()).await.unwrap();
    assert!(leader.is_leader() && !follower.is_leader());
    (leader, follower, logged)
}

/// Calls `method` through `handle` with exactly `args` on the wire, as any peer may.
async fn raw(
    handle: &LooseCluster<Real>,
    method: &str,
    args: &[JsValue],
) -> Result<JsValue, Error> {
    let h = handle.handle();
    let codec = h.codec().clone();
    let mut payload = Vec::new();
    let mut w = ArgsWriter::new(&mut payload);
    for a in args {
        w.push(|out| codec.encode(a, out)).unwrap();
    }
    let bytes = h
        .invoke_raw(method, payload.into(), args.len() as u32)
        .await?;
    Ok(codec.decode(&bytes).unwrap())
}

fn n(x: f64) -> JsValue {
    JsValue::Number(x)
}

#[tokio::test]
async fn a_missing_argument_is_undefined_and_extra_ones_are_ignored() {
    let (_leader, follower, _) = pair().await;
    assert_eq!(
        raw(&follower, "echo", &[]).await.unwrap(),
        JsValue::Undefined
    );
    assert_eq!(
        raw(&follower, "echo", &[n(1.0), n(2.0)]).await.unwrap(),
        n(1.0)
    );
    assert_eq!(
        raw(&follower, "add", &[n(1.0), n(2.0)]).await.unwrap(),
        n(3.0)
    );
    let JsValue::Number(sum) = raw(&follower, "add", &[n(1.0)]).await.unwrap() else {
        panic!("add answers a number");
    };
    assert!(sum.is_nan(), "1 + undefined");
}

#[tokio::test]
async fn a_missing_argument_that_cannot_be_undefined_is_an_error_naming_it() {
    let (_leader, follower, _) = pair().await;
    let err = raw(&follower, "greet", &[]).await.unwrap_err();
    let Error::Remote { error, .. } = &err else {
        panic!("expected the leader's error, got {err:?}");
    };
    assert_eq!(error.code.as_deref(), Some("ERR_CLUSTER_BAD_ARGS"));
    assert!(
        error.message.contains("argument 0 (`name`) is missing"),
        "{error}"
    );
    assert!(error.message.contains("String"), "{error}");
    // A wrong type names the argument too.
    let err = raw(&follower, "greet", &[n(3.0)]).await.unwrap_err();
    let Error::Remote { error, .. } = &err else {
        panic!("expected the leader's error, got {err:?}");
    };
    assert!(error.message.contains("argument 0 (`name`)"), "{error}");
}

#[tokio::test]
async fn a_rest_parameter_takes_every_remaining_argument() {
    let (leader, follower, logged) = pair().await;
    let thirteen: Vec<JsValue> = (0..13).map(|i| n(i as f64)).collect();
    assert_eq!(
        raw(&follower, "echoAll", &thirteen).await.unwrap(),
        JsValue::Array(thirteen.clone())
    );
    assert_eq!(
        raw(&follower, "echoAll", &[]).await.unwrap(),
        JsValue::Array(vec![])
    );
    // Through the generated methods, in both roles: each element is one wire argument.
    for handle in [&leader, &follower] {
        assert_eq!(handle.echo_all(thirteen.clone()).await.unwrap(), thirteen);
    }
    follower.log(2, vec!["a".into(), "b".into(), "c".into()]);
    leader.log(1, vec![]);
    eventually("both oneway calls", Duration::from_secs(5), || {
        logged.lock().unwrap().len() == 2
    })
    .await;
    let mut got = logged.lock().unwrap().clone();
    got.sort();
    assert_eq!(
        got,
        vec![(1, vec![]), (2, vec!["a".into(), "b".into(), "c".into()])]
    );
}
