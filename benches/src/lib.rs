//! Nothing here: the benchmarks are `benches/codec.rs` and `benches/publish.rs`
//! (`cargo bench -p cluster-client-benches --bench codec`).
