//! What a caller on another process sees of an invoke's error: a Node follower reads `name`,
//! `message`, `code` and `stack` of the error object, a Rust follower gets the error value
//! itself; the real client's factory failing reaches followers the same way.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use cluster_client::{Error, ErrorObject, RemoteError, Scope, cluster_client};
use serde::{Deserialize, Serialize};
use support::*;

/// An error type that chooses its name and code.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub enum LookupError {
    NotFound(String),
    Runtime(String),
}

impl std::fmt::Display for LookupError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LookupError::NotFound(key) => write!(f, "no entry for {key}"),
            LookupError::Runtime(e) => f.write_str(e),
        }
    }
}

impl From<Error> for LookupError {
    fn from(e: Error) -> Self {
        LookupError::Runtime(e.to_string())
    }
}

impl ErrorObject for LookupError {
    fn name(&self) -> String {
        "Error".into()
    }
    fn code(&self) -> Option<String> {
        match self {
            LookupError::NotFound(_) => Some("E_NOT_FOUND".into()),
            LookupError::Runtime(_) => None,
        }
    }
}

/// An error type with no `ErrorObject`: the defaults apply.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
pub struct PlainError(String);

impl std::fmt::Display for PlainError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<Error> for PlainError {
    fn from(e: Error) -> Self {
        PlainError(e.to_string())
    }
}

#[cluster_client]
pub trait Lookup: Send + Sync + 'static {
    #[delegate(invoke)]
    async fn find(&self, key: String) -> Result<String, LookupError>;
    #[delegate(invoke)]
    async fn plain(&self) -> Result<(), PlainError>;
    #[delegate(invoke)]
    async fn runtime(&self) -> Result<u8, Error>;
}

struct Real;

impl Lookup for Real {
    async fn find(&self, key: String) -> Result<String, LookupError> {
        Err(LookupError::NotFound(key))
    }
    async fn plain(&self) -> Result<(), PlainError> {
        Err(PlainError("plainly wrong".into()))
    }
    async fn runtime(&self) -> Result<u8, Error> {
        Err(Error::Usage {
            channel: "Backend".into(),
            message: "the backend is read-only".into(),
        })
    }
}

async fn pair() -> (LookupCluster<Real>, LookupCluster<Real>) {
    let port = free_port();
    let start = |scope: Scope| {
        LookupCluster::<Real>::builder()
            .port(port)
            .scope(scope)
            .create(|| async { Ok::<_, String>(Real) })
    };
    let leader = start(Scope::new()).await.unwrap();
    let follower = start(Scope::new()).await.unwrap();
    (leader, follower)
}

/// The error object of a call, as a peer that is not Rust reads it.
async fn error_object(handle: &LookupCluster<Real>, method: &str, args: &[&str]) -> RemoteError {
    let h = handle.handle();
    let codec = h.codec().clone();
    let mut payload = Vec::new();
    let mut w = cluster_client::protocol::ArgsWriter::new(&mut payload);
    for a in args {
        w.push(|out| codec.encode(a, out)).unwrap();
    }
    match h
        .invoke_raw(method, payload.into(), args.len() as u32)
        .await
    {
        Err(e) => e
            .remote()
            .cloned()
            .unwrap_or_else(|| panic!("not a remote error: {e}")),
        Ok(bytes) => panic!("{method} succeeded: {bytes:?}"),
    }
}

#[tokio::test]
async fn an_error_type_names_its_own_name_and_code_and_the_stack_says_where_it_came_from() {
    let (_leader, follower) = pair().await;
    let e = error_object(&follower, "find", &["svc"]).await;
    assert_eq!(e.name, "Error");
    assert_eq!(e.code.as_deref(), Some("E_NOT_FOUND"));
    assert_eq!(e.message, "no entry for svc");
    assert!(
        e.stack.starts_with("Error: no entry for svc\n    at find"),
        "{}",
        e.stack
    );
    // A Rust follower gets the value itself.
    assert_eq!(
        follower.find("svc".into()).await,
        Err(LookupError::NotFound("svc".into()))
    );
}

#[tokio::test]
async fn without_an_error_object_the_name_is_the_types_and_there_is_still_a_stack() {
    let (_leader, follower) = pair().await;
    let e = error_object(&follower, "plain", &[]).await;
    assert_eq!(e.name, "PlainError");
    assert_eq!(e.code, None);
    assert!(
        e.stack.starts_with("PlainError: plainly wrong\n"),
        "{}",
        e.stack
    );
}

#[tokio::test]
async fn the_runtimes_error_can_be_an_invoke_error_in_every_role() {
    let (leader, follower) = pair().await;
    let e = error_object(&follower, "runtime", &[]).await;
    assert_eq!(e.code.as_deref(), Some("ERR_CLUSTER_USAGE"));
    assert!(e.message.contains("the backend is read-only"), "{e}");
    let remote = follower.runtime().await.unwrap_err();
    let Error::Remote {
        channel,
        method,
        error,
        ..
    } = &remote
    else {
        panic!("a follower gets the leader's error as Remote, got {remote:?}");
    };
    assert_eq!((channel.as_str(), method.as_str()), ("Lookup", "runtime"));
    assert_eq!(error.code.as_deref(), Some("ERR_CLUSTER_USAGE"));
    let local = leader.runtime().await.unwrap_err();
    assert_eq!(local.code(), "ERR_CLUSTER_USAGE");
}

#[tokio::test]
async fn a_factorys_error_reaches_followers_with_its_code_and_a_stack() {
    let port = free_port();
    let failing = || async {
        Err::<Real, _>(RemoteError::new("Error", "backend unreachable").with_code("E_BROKEN"))
    };
    let leader = LookupCluster::<Real>::builder()
        .port(port)
        .scope(Scope::new())
        .build(failing)
        .unwrap();
    let err = LookupCluster::<Real>::builder()
        .port(port)
        .scope(Scope::new())
        .is_leader(false)
        .create(failing)
        .await
        .unwrap_err();
    let remote = err
        .remote()
        .unwrap_or_else(|| panic!("not the leader's error: {err}"));
    assert_eq!(remote.code.as_deref(), Some("E_BROKEN"));
    assert_eq!(remote.message, "backend unreachable");
    assert!(
        remote.stack.starts_with("Error: backend unreachable\n"),
        "{}",
        remote.stack
    );
    // A plain message gets the runtime's code.
    let plain = LookupCluster::<Real>::builder()
        .single_mode(true)
        .name("PlainFactory")
        .create(|| async { Err::<Real, _>("no config") })
        .await
        .unwrap_err();
    assert_eq!(
        plain.remote().and_then(|r| r.code.as_deref()),
        Some("ERR_CLUSTER_CLIENT_CREATE")
    );
    leader.close().await;
}

#[tokio::test(start_paused = true)]
async fn factory_attempts_bounds_the_retries_of_a_failing_factory() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let handle = LookupCluster::<Real>::builder()
        .single_mode(true)
        .name("BoundedFactory")
        .factory_attempts(3)
        .build(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            async { Err::<Real, _>("still down") }
        })
        .unwrap();
    // Time is paused: an hour of retries, if there were any, passes at once.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(calls.load(Ordering::SeqCst), 3);
    let err = handle.ready().await.unwrap_err();
    assert!(matches!(err, Error::LeaderNotReady { .. }), "{err}");
    handle.close().await;
}
