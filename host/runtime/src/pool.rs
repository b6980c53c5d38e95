//! The threads plugins run on, shared fairly between shops.
//!
//! Wasm never runs on the async runtime that serves HTTP: a job goes to one of a fixed set
//! of sandbox threads, handed out by a `FairGate` keyed by shop — a shop may use only its
//! share of them at once, its further calls queue behind its own (or are refused as busy
//! past a bound), and shops take turns. A call that runs longer than `demote_after` drops
//! its thread to the lowest CPU priority (`SCHED_IDLE`) for the rest of the call and
//! pauses it `runaway_pause` after each millisecond it runs, so a runaway guest only gets
//! a sliver of CPU time nobody else wants, and its thread is restored (or replaced) when
//! the call ends.

use crate::types::{CallError, FailureKind};
use baseplate_fair::{FairGate, Permit, Share};
use parking_lot::Mutex;
use std::cell::Cell;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, Sender, channel};
use std::time::Duration;

type Job = Box<dyn FnOnce() + Send>;

pub(crate) struct Pool {
    gate: FairGate,
    jobs: Mutex<Sender<Job>>,
}

thread_local! {
    /// Set on sandbox threads: only they may lower their own priority.
    static SANDBOX_THREAD: Cell<bool> = const { Cell::new(false) };
    /// This thread's priority was lowered and could not be raised again: retire it.
    static RETIRE: Cell<bool> = const { Cell::new(false) };
}

impl Pool {
    pub(crate) fn new(threads: usize, per_shop: usize, queue_per_shop: usize) -> Pool {
        let (tx, rx) = channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..threads.max(1) {
            spawn_worker(i, rx.clone());
        }
        Pool {
            gate: FairGate::new(Share {
                permits: threads.max(1),
                per_key: per_shop.max(1),
                queue_per_key: queue_per_shop,
            }),
            jobs: Mutex::new(tx),
        }
    }

    /// Runs `job` on a sandbox thread in `shop`'s turn. Waits at most `wait` for a thread.
    pub(crate) async fn run<R: Send + 'static>(
        &self,
        shop: &str,
        wait: Duration,
        job: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, CallError> {
        let permit = self.acquire(shop, wait).await?;
        self.run_with(permit, job).await
    }

    /// Waits up to `wait` for one of `shop`'s turns on a sandbox thread.
    pub(crate) async fn acquire(&self, shop: &str, wait: Duration) -> Result<Permit, CallError> {
        let busy = |why: String| CallError::Fault {
            kind: FailureKind::Busy,
            message: why,
        };
        match tokio::time::timeout(wait, self.gate.acquire(shop)).await {
            Ok(Ok(p)) => Ok(p),
            Ok(Err(b)) => Err(busy(format!(
                "this shop's plugin calls are queued ({b}); try again shortly"
            ))),
            Err(_) => Err(busy(format!(
                "no sandbox came free for this shop within {} ms: its own calls hold them",
                wait.as_millis()
            ))),
        }
    }

    /// Runs `job` on a sandbox thread in a turn already taken.
    pub(crate) async fn run_with<R: Send + 'static>(
        &self,
        permit: Permit,
        job: impl FnOnce() -> R + Send + 'static,
    ) -> Result<R, CallError> {
        let (tx, rx) = tokio::sync::oneshot::channel();
        let job: Job = Box::new(move || {
            // The permit is held until the job ends, even if the caller stopped waiting.
            let _permit = permit;
            let _ = tx.send(job());
        });
        if self.jobs.lock().send(job).is_err() {
            return Err(CallError::Fault {
                kind: FailureKind::Busy,
                message: "the sandbox threads are gone".into(),
            });
        }
        rx.await.map_err(|_| CallError::Fault {
            kind: FailureKind::Trap,
            message: "the sandbox thread stopped during the call".into(),
        })
    }
}

fn spawn_worker(i: usize, rx: Arc<Mutex<Receiver<Job>>>) {
    let spawned = std::thread::Builder::new()
        .name(format!("baseplate-sandbox-{i}"))
        .spawn(move || {
            SANDBOX_THREAD.with(|s| s.set(true));
            loop {
                let job = rx.lock().recv();
                let Ok(job) = job else { return };
                // A panic in host code fails this call (its caller sees the closed channel),
                // never the thread pool.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                if RETIRE.with(|r| r.get()) {
                    spawn_worker(i, rx.clone());
                    return;
                }
            }
        });
    if let Err(e) = spawned {
        tracing::error!("could not start a sandbox thread: {e}");
    }
}

/// Lowers the calling sandbox thread to the idle scheduling class. No-op elsewhere.
pub(crate) fn demote() -> bool {
    if !SANDBOX_THREAD.with(|s| s.get()) {
        return false;
    }
    set_idle(true)
}

/// Gives a demoted thread its normal priority back; if the OS refuses, the thread retires
/// after this job and a fresh one takes its place.
pub(crate) fn restore() {
    if !set_idle(false) {
        RETIRE.with(|r| r.set(true));
    }
}

#[cfg(target_os = "linux")]
fn set_idle(idle: bool) -> bool {
    let param = libc::sched_param { sched_priority: 0 };
    let policy = if idle {
        libc::SCHED_IDLE
    } else {
        libc::SCHED_OTHER
    };
    // SAFETY: pid 0 is the calling thread; `param` is a valid sched_param for either policy.
    let r = unsafe { libc::sched_setscheduler(0, policy, &param) };
    r == 0
}

#[cfg(not(target_os = "linux"))]
fn set_idle(_idle: bool) -> bool {
    // Elsewhere the deadline alone bounds a runaway call.
    true
}
