//! Streams over tokio channels, for the demo clients.

use futures::Stream;
use tokio::sync::broadcast;

/// Every value sent on the channel after `rx` was made; a receiver that lagged skips what it
/// missed. Ends when the sender is gone.
pub fn from_broadcast<T: Clone + Send + 'static>(
    rx: broadcast::Receiver<T>,
) -> impl Stream<Item = T> + Send + 'static {
    futures::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(v) => return Some((v, rx)),
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    })
}
