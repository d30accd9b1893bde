//! A rest parameter and a method with more arguments than any tuple impl covers.
use cluster_client::cluster_client;
use cluster_client::codec::JsValue;

#[derive(Debug)]
pub struct Failure(String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<cluster_client::Error> for Failure {
    fn from(e: cluster_client::Error) -> Self {
        Failure(e.to_string())
    }
}

impl serde::Serialize for Failure {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Failure {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d).map(Failure)
    }
}

#[cluster_client(rename_all = "camelCase")]
pub trait Variadic: Send + Sync + 'static {
    #[delegate(invoke)]
    async fn echo_all(&self, #[rest] args: Vec<JsValue>) -> Result<Vec<JsValue>, Failure>;
    #[delegate(invoke_oneway)]
    fn log(&self, level: u8, #[rest] parts: Vec<String>);
    #[delegate(invoke)]
    #[allow(clippy::too_many_arguments)]
    async fn sixteen(
        &self,
        a: u8,
        b: u8,
        c: u8,
        d: u8,
        e: u8,
        f: u8,
        g: u8,
        h: u8,
        i: u8,
        j: u8,
        k: u8,
        l: u8,
        m: u8,
        n: u8,
        o: u8,
        p: u8,
    ) -> Result<u32, Failure>;
}

struct Real;

impl Variadic for Real {
    async fn echo_all(&self, args: Vec<JsValue>) -> Result<Vec<JsValue>, Failure> {
        Ok(args)
    }
    fn log(&self, _level: u8, _parts: Vec<String>) {}
    async fn sixteen(
        &self,
        a: u8,
        b: u8,
        c: u8,
        d: u8,
        e: u8,
        f: u8,
        g: u8,
        h: u8,
        i: u8,
        j: u8,
        k: u8,
        l: u8,
        m: u8,
        n: u8,
        o: u8,
        p: u8,
    ) -> Result<u32, Failure> {
        Ok([a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p]
            .iter()
            .map(|x| *x as u32)
            .sum())
    }
}

#[tokio::main(flavor = "current_thread")]
pub async fn main() {
    let handle = VariadicCluster::builder()
        .single_mode(true)
        .create(|| async { Ok::<_, String>(Real) })
        .await
        .unwrap();
    let got = handle
        .echo_all(vec![JsValue::Number(1.0), JsValue::Undefined])
        .await
        .unwrap();
    assert_eq!(got, vec![JsValue::Number(1.0), JsValue::Undefined]);
    handle.log(1, vec!["a".into(), "b".into()]);
    let sum = handle
        .sixteen(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16)
        .await
        .unwrap();
    assert_eq!(sum, 136);
    handle.close().await;
}
