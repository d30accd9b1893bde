//! Plumbing shared by the worker processes the tests spawn: JSON lines on stdout, flags,
//! RUST_LOG-driven logs on stderr.

use std::io::Write;

use serde_json::Value;

/// Writes one JSON line to stdout and flushes it (the driver reads line by line).
pub fn emit(v: Value) {
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// The value after `name` in `args` (`--port 7777`).
pub fn flag(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

/// Logs to stderr, filtered by `RUST_LOG` (nothing by default), so stdout stays JSON lines.
pub fn init_logs() {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
}
