//! Owned tasks: every task the runtime spawns is ended by whatever owns it.
//!
//! [`OwnedTask`] aborts its task when dropped; [`TaskSet`] owns a changing group of tasks (the
//! calls of one connection, the upstream subscriptions of one leader) and aborts them all when
//! dropped. Nothing here outlives its owner unless the owner says so ([`OwnedTask::detach`]).

use std::future::Future;
use std::sync::Mutex;

use tokio::task::{AbortHandle, JoinHandle, JoinSet};

/// A spawned task that is aborted when this value is dropped.
#[derive(Debug)]
pub(crate) struct OwnedTask {
    handle: Option<JoinHandle<()>>,
}

impl OwnedTask {
    /// Spawns `fut` on the current runtime.
    pub(crate) fn spawn(fut: impl Future<Output = ()> + Send + 'static) -> Self {
        Self {
            handle: Some(tokio::spawn(fut)),
        }
    }

    /// Spawns `fut` on `runtime`.
    pub(crate) fn spawn_on(
        runtime: &tokio::runtime::Handle,
        fut: impl Future<Output = ()> + Send + 'static,
    ) -> Self {
        Self {
            handle: Some(runtime.spawn(fut)),
        }
    }

    /// Waits for the task to end on its own.
    pub(crate) async fn join(mut self) {
        if let Some(handle) = self.handle.take() {
            let _ = handle.await;
        }
    }

    /// Lets the task run to its end without an owner. Only for a task that has already been
    /// told to stop and is finishing its teardown (see the handle's `Drop`).
    pub(crate) fn detach(mut self) {
        self.handle.take();
    }
}

impl Drop for OwnedTask {
    fn drop(&mut self) {
        if let Some(handle) = &self.handle {
            handle.abort();
        }
    }
}

/// A group of tasks that all end when the set is dropped (or [`TaskSet::abort_all`] is called).
/// Finished tasks are reaped as new ones are added, so the set holds only live tasks.
#[derive(Debug, Default)]
pub(crate) struct TaskSet {
    tasks: Mutex<JoinSet<()>>,
}

impl TaskSet {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    fn tasks(&self) -> std::sync::MutexGuard<'_, JoinSet<()>> {
        self.tasks.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Spawns `fut` into the set; `None` (and `fut` is dropped) outside a tokio runtime.
    pub(crate) fn spawn(
        &self,
        fut: impl Future<Output = ()> + Send + 'static,
    ) -> Option<AbortHandle> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let mut tasks = self.tasks();
        while tasks.try_join_next().is_some() {}
        Some(tasks.spawn_on(fut, &runtime))
    }

    /// How many tasks are still running (finished ones not yet reaped are not counted).
    pub(crate) fn len(&self) -> usize {
        let mut tasks = self.tasks();
        while tasks.try_join_next().is_some() {}
        tasks.len()
    }

    /// Aborts every task of the set.
    pub(crate) fn abort_all(&self) {
        // Aborted futures are dropped by the runtime, not here, so no task's state is dropped
        // under this lock.
        self.tasks().abort_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }

    #[tokio::test]
    async fn dropping_an_owned_task_ends_it() {
        let ended = Arc::new(AtomicBool::new(false));
        let guard = SetOnDrop(ended.clone());
        let task = OwnedTask::spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        tokio::task::yield_now().await;
        drop(task);
        for _ in 0..100 {
            if ended.load(Ordering::SeqCst) {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("the task outlived its owner");
    }

    #[tokio::test]
    async fn a_task_set_reaps_finished_tasks_and_aborts_the_rest() {
        let set = TaskSet::new();
        for _ in 0..10 {
            set.spawn(async {});
        }
        let ended = Arc::new(AtomicBool::new(false));
        let guard = SetOnDrop(ended.clone());
        set.spawn(async move {
            let _guard = guard;
            std::future::pending::<()>().await;
        });
        for _ in 0..100 {
            if set.len() == 1 {
                break;
            }
            tokio::task::yield_now().await;
        }
        assert_eq!(set.len(), 1);
        set.abort_all();
        for _ in 0..100 {
            if ended.load(Ordering::SeqCst) {
                return;
            }
            tokio::task::yield_now().await;
        }
        panic!("abort_all left a task running");
    }
}
