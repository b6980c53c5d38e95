//! Fair sharing of a scarce resource between shops: a semaphore whose waiters are served
//! round-robin by key (a shop id), with a cap on how many permits one key may hold and on
//! how many of its requests may wait. The SQLite writer, PostgreSQL connections and plugin
//! sandboxes are handed out through one of these, so a shop that floods the node queues
//! behind itself while every other shop keeps its turn.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use baseplate_fair::{FairGate, Share};
//! let gate = FairGate::new(Share { permits: 2, per_key: 1, queue_per_key: 8 });
//! let a = gate.acquire("shop-a").await.unwrap();
//! // shop-a holds its share; shop-b still gets the second permit at once.
//! let b = gate.acquire("shop-b").await.unwrap();
//! assert_eq!(gate.in_use(), 2);
//! drop((a, b));
//! # });
//! ```

use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::oneshot;

/// How a gate is shared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Share {
    /// Permits in all.
    pub permits: usize,
    /// Permits one key may hold at once (at least 1).
    pub per_key: usize,
    /// Requests of one key that may wait; more are refused at once.
    pub queue_per_key: usize,
}

/// The key's queue is full: the caller should answer "busy" instead of waiting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Busy {
    /// How many of the key's requests were already waiting.
    pub waiting: usize,
}

impl std::fmt::Display for Busy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} requests of this shop are already waiting",
            self.waiting
        )
    }
}

impl std::error::Error for Busy {}

struct Waiter {
    tx: oneshot::Sender<()>,
}

#[derive(Default)]
struct KeyState {
    holding: usize,
    waiting: VecDeque<Waiter>,
}

struct State {
    share: Share,
    in_use: usize,
    keys: HashMap<Arc<str>, KeyState>,
    /// Keys with waiters, in the order they get their next turn.
    turns: VecDeque<Arc<str>>,
}

/// A fair semaphore keyed by shop. Cheap to clone.
#[derive(Clone)]
pub struct FairGate {
    state: Arc<Mutex<State>>,
}

/// A held permit; dropping it hands it to the next key in turn.
pub struct Permit {
    gate: FairGate,
    key: Arc<str>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        self.gate.release(&self.key);
    }
}

impl Permit {
    /// The key the permit was granted to.
    pub fn key(&self) -> &str {
        &self.key
    }
}

impl FairGate {
    /// A gate with `share.permits` permits.
    pub fn new(share: Share) -> FairGate {
        let share = Share {
            permits: share.permits.max(1),
            per_key: share.per_key.clamp(1, share.permits.max(1)),
            queue_per_key: share.queue_per_key,
        };
        FairGate {
            state: Arc::new(Mutex::new(State {
                share,
                in_use: 0,
                keys: HashMap::new(),
                turns: VecDeque::new(),
            })),
        }
    }

    /// Permits held now.
    pub fn in_use(&self) -> usize {
        self.state.lock().in_use
    }

    /// Requests waiting now, all keys together.
    pub fn waiting(&self) -> usize {
        self.state
            .lock()
            .keys
            .values()
            .map(|k| k.waiting.len())
            .sum()
    }

    /// Whether anyone is waiting for a permit.
    pub fn has_waiters(&self) -> bool {
        !self.state.lock().turns.is_empty()
    }

    /// Waits for a permit for `key`, in turn with the other keys; `Busy` at once if the
    /// key already has its full queue waiting.
    pub async fn acquire(&self, key: &str) -> Result<Permit, Busy> {
        let rx = {
            let mut st = self.state.lock();
            let share = st.share;
            let free = st.in_use < share.permits;
            let ks = st.keys.entry(Arc::from(key)).or_default();
            if free && ks.holding < share.per_key && ks.waiting.is_empty() {
                ks.holding += 1;
                st.in_use += 1;
                return Ok(self.permit(key));
            }
            if ks.waiting.len() >= share.queue_per_key {
                return Err(Busy {
                    waiting: ks.waiting.len(),
                });
            }
            let (tx, rx) = oneshot::channel();
            ks.waiting.push_back(Waiter { tx });
            let key: Arc<str> = Arc::from(key);
            if !st.turns.contains(&key) {
                st.turns.push_back(key);
            }
            rx
        };
        // Dropping this future while waiting is safe: the sender fails to deliver and the
        // permit goes to the next waiter (see `hand_over`).
        let mut guard = CancelGuard {
            gate: self,
            key,
            rx: Some(rx),
        };
        let granted = guard.rx.as_mut().expect("set above").await.is_ok();
        guard.rx = None;
        if granted {
            Ok(self.permit(key))
        } else {
            // The gate was dropped with us waiting: nothing to hand out any more.
            Err(Busy { waiting: 0 })
        }
    }

    fn permit(&self, key: &str) -> Permit {
        Permit {
            gate: self.clone(),
            key: Arc::from(key),
        }
    }

    fn release(&self, key: &str) {
        let mut st = self.state.lock();
        st.in_use -= 1;
        if let Some(ks) = st.keys.get_mut(key) {
            ks.holding -= 1;
        }
        Self::hand_over(&mut st);
        Self::forget_idle(&mut st, key);
    }

    /// Gives free permits to waiters, one key at a time in turn, skipping keys at their
    /// cap and waiters that gave up.
    fn hand_over(st: &mut State) {
        let mut passes = st.turns.len();
        while st.in_use < st.share.permits && passes > 0 {
            let Some(key) = st.turns.pop_front() else {
                return;
            };
            passes -= 1;
            let per_key = st.share.per_key;
            // Its waiters all gave up and it was forgotten: the turn goes.
            let Some(ks) = st.keys.get_mut(&key) else {
                continue;
            };
            if ks.holding >= per_key {
                st.turns.push_back(key);
                continue;
            }
            let mut granted = false;
            while let Some(w) = ks.waiting.pop_front() {
                if w.tx.send(()).is_ok() {
                    granted = true;
                    break;
                }
            }
            if granted {
                ks.holding += 1;
                st.in_use += 1;
                passes = st.turns.len() + 1;
            }
            if !ks.waiting.is_empty() {
                st.turns.push_back(key);
            }
        }
    }

    fn forget_idle(st: &mut State, key: &str) {
        if let Some(ks) = st.keys.get(key)
            && ks.holding == 0
            && ks.waiting.is_empty()
        {
            st.keys.remove(key);
            st.turns.retain(|k| &**k != key);
        }
    }
}

struct CancelGuard<'a> {
    gate: &'a FairGate,
    key: &'a str,
    rx: Option<oneshot::Receiver<()>>,
}

impl Drop for CancelGuard<'_> {
    fn drop(&mut self) {
        let Some(mut rx) = self.rx.take() else {
            return;
        };
        // Cancelled while waiting. If the permit was granted in the meantime, give it back.
        rx.close();
        if rx.try_recv().is_ok() {
            self.gate.release(self.key);
        } else {
            let mut st = self.gate.state.lock();
            if let Some(ks) = st.keys.get_mut(self.key) {
                ks.waiting.retain(|w| !w.tx.is_closed());
            }
            FairGate::forget_idle(&mut st, self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn gate(permits: usize, per_key: usize, queue: usize) -> FairGate {
        FairGate::new(Share {
            permits,
            per_key,
            queue_per_key: queue,
        })
    }

    #[tokio::test]
    async fn a_flooding_key_waits_behind_itself() {
        let g = gate(2, 2, 100);
        let a1 = g.acquire("a").await.unwrap();
        let a2 = g.acquire("a").await.unwrap();
        // Ten more requests of a queue up first.
        let mut queued = Vec::new();
        for _ in 0..10 {
            let g = g.clone();
            queued.push(tokio::spawn(async move {
                let p = g.acquire("a").await.unwrap();
                tokio::time::sleep(Duration::from_millis(5)).await;
                drop(p);
            }));
        }
        tokio::task::yield_now().await;
        let g2 = g.clone();
        let b = tokio::spawn(async move { g2.acquire("b").await.map(|_| ()) });
        tokio::task::yield_now().await;
        drop(a1);
        // b gets the first free permit although ten of a's came earlier.
        tokio::time::timeout(Duration::from_millis(50), b)
            .await
            .expect("b is served in its turn")
            .unwrap()
            .unwrap();
        drop(a2);
        for q in queued {
            q.await.unwrap();
        }
        assert_eq!(g.in_use(), 0);
        assert_eq!(g.waiting(), 0);
    }

    #[tokio::test]
    async fn per_key_cap_leaves_room_for_others() {
        let g = gate(4, 1, 10);
        let _a = g.acquire("a").await.unwrap();
        let g2 = g.clone();
        let second_a = tokio::spawn(async move { g2.acquire("a").await.map(|_| ()) });
        tokio::task::yield_now().await;
        assert!(!second_a.is_finished(), "a may hold one permit only");
        let _b = g.acquire("b").await.unwrap();
        let _c = g.acquire("c").await.unwrap();
        assert_eq!(g.in_use(), 3);
        second_a.abort();
    }

    #[tokio::test]
    async fn a_full_queue_is_refused_at_once() {
        let g = gate(1, 1, 2);
        let _p = g.acquire("a").await.unwrap();
        let mut waiters = Vec::new();
        for _ in 0..2 {
            let g = g.clone();
            waiters.push(tokio::spawn(
                async move { g.acquire("a").await.map(|_| ()) },
            ));
        }
        tokio::task::yield_now().await;
        assert_eq!(g.acquire("a").await.err(), Some(Busy { waiting: 2 }));
        for w in waiters {
            w.abort();
        }
    }

    #[tokio::test]
    async fn a_cancelled_waiter_does_not_leak_its_permit() {
        let g = gate(1, 1, 10);
        let p = g.acquire("a").await.unwrap();
        let g2 = g.clone();
        let w = tokio::spawn(async move { g2.acquire("b").await.map(|_| ()) });
        tokio::task::yield_now().await;
        w.abort();
        let _ = w.await;
        drop(p);
        assert_eq!(g.in_use(), 0);
        let _again = tokio::time::timeout(Duration::from_millis(50), g.acquire("c"))
            .await
            .expect("the permit came back")
            .unwrap();
    }
}
