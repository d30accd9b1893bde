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
///
/// `RUST_LOG` takes `target=level` pairs and a bare default level, e.g.
/// `cluster_client=debug,info` (the `env_logger` form, without span filters). A value that
/// does not parse is reported on stderr and logs nothing.
pub fn init_logs() {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = match std::env::var("RUST_LOG") {
        Ok(spec) => spec.parse().unwrap_or_else(|e| {
            eprintln!("RUST_LOG={spec:?} ignored: {e}");
            tracing_subscriber::filter::Targets::new()
        }),
        Err(_) => tracing_subscriber::filter::Targets::new(),
    };
    tracing_subscriber::registry()
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .with(filter)
        .init();
}

/// Reads a child process's stdout as JSON lines, in a task of its own: each parsed line goes to
/// the returned channel, any other line to stderr, prefixed with `[label]`. The channel closes
/// when the child's stdout does.
pub fn json_lines(
    stdout: tokio::process::ChildStdout,
    label: &str,
) -> tokio::sync::mpsc::UnboundedReceiver<Value> {
    use tokio::io::AsyncBufReadExt;
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    let label = label.to_owned();
    tokio::spawn(async move {
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            match serde_json::from_str::<Value>(&line) {
                Ok(v) => {
                    let _ = tx.send(v);
                }
                Err(_) => eprintln!("[{label}] {line}"),
            }
        }
    });
    rx
}
