//! Support for the code `#[cluster_client]` generates. Not a public API: it changes with the
//! macro, which is locked to this crate's exact version.
