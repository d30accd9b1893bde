//! What a core carries into every new role: its subscriptions, its publications and the
//! oneway calls that have not reached a leader yet.
//!
//! Every new role gets everything: subscriptions are made again (the leader's side of a closed
//! connection forgot them), every remembered publication is sent again, at least once to every
//! leader (a Rust leader recognises the ones it already applied, so its real client gets each
//! once), and oneway calls queued or never written go first, all in the order they were made.

use std::sync::atomic::Ordering;

use super::{Core, Role, lock};
use crate::follower::CallFailure;
use crate::routing::ordered::Item;
use crate::service::Service;
use crate::subscription::CloseReason;

use super::locals::Attached;

impl<S: Service> Core<S> {
    /// Starts `role`: replays subscriptions and ordered calls into it, then publishes it, with
    /// both locks held, so nothing made meanwhile is missed or sent twice.
    pub(crate) fn enter(&self, role: Role<S>) {
        let mut locals = lock(&self.locals);
        let mut ordered = lock(&self.ordered);
        if self.shutdown.is_cancelled() {
            drop(ordered);
            drop(locals);
            return;
        }

        let mut refused = Vec::new();
        for (key, entry) in locals.keys.iter_mut() {
            if let Attached::Refused = self.attach(&role, key, entry) {
                refused.push(key.clone());
            }
        }
        let refused: Vec<_> = refused
            .into_iter()
            .filter_map(|key| locals.keys.remove(&key))
            .collect();
        for entry in &refused {
            entry.close(CloseReason::Refused);
        }

        let st = &mut *ordered;
        let mut items: Vec<Item> = st.unwritten();
        items.extend(st.queue.drain(..));
        items.retain(|item| matches!(item, Item::Oneway { .. }));
        items.extend(
            st.publications
                .in_order()
                .into_iter()
                .map(|(key, seq)| Item::Publication { seq, key }),
        );
        items.sort_unstable_by_key(Item::seq);

        let mut pump = false;
        match &role {
            Role::Following(conn) => {
                let mut rest = items.into_iter();
                while let Some(item) = rest.next() {
                    match self.send_remote(st, conn, item.clone()) {
                        Ok(()) => {}
                        Err(CallFailure::NotSent) => {
                            // The new connection is gone already: the next role gets these.
                            st.queue.push_back(item);
                            st.queue.extend(rest);
                            break;
                        }
                        Err(CallFailure::Failed(e)) => {
                            tracing::warn!(channel = %self.channel, error = ?e.to_string(), "a oneway call or publication could not be sent");
                        }
                    }
                }
            }
            Role::Leading { .. } => {
                st.queue.extend(items);
                if !st.queue.is_empty() && !st.pumping {
                    st.pumping = true;
                    pump = true;
                }
            }
            _ => st.queue.extend(items),
        }

        self.elections.fetch_add(1, Ordering::AcqRel);
        *lock(&self.last_election) = Some(std::time::SystemTime::now());
        crate::metrics::election(&self.channel);
        let old = self.swap_role(role);
        drop(ordered);
        drop(locals);
        // The old role may hold the last reference to a real client: dropped unlocked.
        drop(old);
        drop(refused);
        if pump {
            self.resume_pump();
        }
    }
}
