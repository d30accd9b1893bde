//! Counters and latency histograms through the `metrics` facade, with the `metrics` cargo
//! feature (the application installs whatever exporter it likes); nothing without it.
//!
//! - `cluster_client_calls_total` (counter; labels `channel`, `role`, `outcome`): two-way
//!   calls, `role` being where they ran (`leader`: this process's real client, `follower`:
//!   over the wire, `none`: no leader in time) and `outcome` `ok` or the error's code;
//! - `cluster_client_call_seconds` (histogram; labels `channel`, `role`): their latency;
//! - `cluster_client_elections_total` (counter; label `channel`): roles started.

use std::time::Duration;

/// One finished two-way call.
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn call(channel: &str, role: &'static str, outcome: &'static str, took: Duration) {
    #[cfg(feature = "metrics")]
    {
        let channel = channel.to_owned();
        metrics::counter!("cluster_client_calls_total", "channel" => channel.clone(), "role" => role, "outcome" => outcome)
            .increment(1);
        metrics::histogram!("cluster_client_call_seconds", "channel" => channel, "role" => role)
            .record(took.as_secs_f64());
    }
}

/// A role started (an election completed).
#[cfg_attr(not(feature = "metrics"), allow(unused_variables))]
pub(crate) fn election(channel: &str) {
    #[cfg(feature = "metrics")]
    metrics::counter!("cluster_client_elections_total", "channel" => channel.to_owned())
        .increment(1);
}
