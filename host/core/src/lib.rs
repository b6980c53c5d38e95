//! The platform's operations: shops, members, catalog, checkout with the pricing pipeline,
//! payments through the sandbox provider, refunds, the ledger, plugin installation and
//! dispatch, the event outbox and durable timers.
//!
//! An operation that needs no plugin is one write (`Platform::write`). One that calls
//! plugins runs in three steps: read what it needs from a snapshot, run the hooks on a
//! sandbox thread against the snapshot with their effects buffered (`dispatch`), then one
//! short write that checks the hooks' reads still hold and commits their effects with the
//! core change (`effects`) — or runs the whole again if a read went stale. No guest code
//! runs while the database writer is held. `api` puts HTTP in front of this; `server` runs
//! it and its background workers.

pub mod checkout;
pub mod clock;
mod data;
mod dispatch;
mod effects;
mod error;
pub mod events;
pub mod payments;
pub mod plugins;
pub mod registry;
pub mod shops;

pub use clock::Clock;
pub use error::{CoreError, Refusal};

use baseplate_runtime::Runtime;
use baseplate_store::{Db, Tx};
use std::sync::Arc;

pub type Result<T, E = CoreError> = std::result::Result<T, E>;

/// Settings of one platform node.
#[derive(Clone, Debug)]
pub struct Settings {
    /// HMAC secret of the sandbox payment provider's callbacks.
    pub payment_secret: String,
    /// Consecutive faults that trip a plugin off for a shop.
    pub breaker_threshold: i64,
    /// How long a tripped plugin stays off.
    pub breaker_cooldown_ms: i64,
    /// Event deliveries are retried this many times before they are marked dead.
    pub max_delivery_attempts: i64,
    /// The largest component the registry accepts for publishing.
    pub max_component_bytes: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            payment_secret: "sandbox-secret".into(),
            breaker_threshold: 5,
            breaker_cooldown_ms: 60_000,
            max_delivery_attempts: 8,
            max_component_bytes: 16 << 20,
        }
    }
}

/// The platform: database, plugin runtime, clock and settings.
#[derive(Clone)]
pub struct Platform {
    pub db: Db,
    pub runtime: Arc<Runtime>,
    pub clock: Clock,
    pub settings: Arc<Settings>,
    /// Events committed but not yet delivered by this node; see `flush_events`.
    pending_events: Arc<parking_lot::Mutex<Vec<String>>>,
    /// Wakes the background worker when events are waiting.
    pub events_ready: Arc<tokio::sync::Notify>,
    /// Recently resolved tokens (see `authenticate`).
    pub(crate) auth_cache: Arc<
        parking_lot::Mutex<
            std::collections::HashMap<String, (shops::Principal, std::time::Instant)>,
        >,
    >,
    /// Successful plugin calls counted in memory and written in bulk by the worker (see
    /// `plugins::CallStats`): a checkout never waits on a counter write.
    pub(crate) call_stats: Arc<parking_lot::Mutex<plugins::PendingStats>>,
    /// Taken by operations that keep losing races on the same (shop, plugin): they then run
    /// one at a time on this node instead of retrying against each other.
    pub(crate) hot_locks: Arc<[tokio::sync::Mutex<()>; 256]>,
}

/// One write operation: its transaction, the clock reading it runs at, and the events it
/// emitted (delivered once it committed). `'p` is the caller's borrow, so the operation's
/// closure may capture the caller's references (see `Platform::write`).
pub struct Op<'p> {
    tx: Option<Tx>,
    pub now: i64,
    pub(crate) events: Vec<String>,
    _caller: std::marker::PhantomData<&'p ()>,
}

/// A read snapshot handed to `Platform::read`'s closure; it derefs to the `Tx` the store's
/// functions take.
pub struct Snapshot<'p> {
    tx: Tx,
    _caller: std::marker::PhantomData<&'p ()>,
}

impl std::ops::Deref for Snapshot<'_> {
    type Target = Tx;
    fn deref(&self) -> &Tx {
        &self.tx
    }
}

impl std::ops::DerefMut for Snapshot<'_> {
    fn deref_mut(&mut self) -> &mut Tx {
        &mut self.tx
    }
}

/// The future an operation's closure returns. Boxed (and `Send`) because the futures of
/// async closures that borrow from their caller are not provably `Send` to today's rustc
/// ("implementation of `Send` is not general enough"), and axum needs `Send` handlers.
pub type OpFuture<'o, T> =
    std::pin::Pin<Box<dyn std::future::Future<Output = Result<T>> + Send + 'o>>;

impl Op<'_> {
    pub fn tx(&mut self) -> &mut Tx {
        self.tx
            .as_mut()
            .expect("an operation holds its transaction")
    }

    /// Random bytes for a new id.
    pub fn random10(&mut self) -> [u8; 10] {
        let mut b = [0u8; 10];
        getrandom::fill(&mut b).expect("the OS provides randomness");
        b
    }
}

/// How often a write that lost a race (a serialization failure, a plugin's stale read) is
/// run again before the caller is told to retry.
const MAX_ATTEMPTS: u32 = 12;

impl Platform {
    pub async fn new(
        db: Db,
        runtime: Arc<Runtime>,
        clock: Clock,
        settings: Settings,
    ) -> Result<Platform> {
        Ok(Platform {
            db,
            runtime,
            clock,
            settings: Arc::new(settings),
            pending_events: Arc::default(),
            events_ready: Arc::new(tokio::sync::Notify::new()),
            auth_cache: Arc::default(),
            call_stats: Arc::default(),
            hot_locks: Arc::new(std::array::from_fn(|_| tokio::sync::Mutex::new(()))),
        })
    }

    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// Delivers the events committed so far (and those their deliveries cause). The API
    /// calls this after each request so a caller sees the plugins' reactions; the worker
    /// calls it too, and whatever fails stays queued in the database for retries.
    pub async fn flush_events(&self) {
        for _ in 0..16 {
            let batch = std::mem::take(&mut *self.pending_events.lock());
            if batch.is_empty() {
                return;
            }
            for id in batch {
                self.deliver_event(&id).await;
            }
        }
    }

    /// Runs `f` as one write for `shop` (the key the database is shared fairly by; "" for
    /// platform-wide work): commits on `Ok` — returning once the commit is durable — and
    /// rolls back on `Err`. A lost race with a concurrent write is retried.
    pub async fn write<'p, T>(
        &'p self,
        shop: &'p str,
        mut f: impl for<'o> FnMut(&'o mut Op<'p>) -> OpFuture<'o, T>,
    ) -> Result<T> {
        let now = self.now();
        let mut attempt = 0u32;
        loop {
            let mut op = Op {
                tx: Some(self.db.write(shop).await?),
                now,
                events: Vec::new(),
                _caller: std::marker::PhantomData,
            };
            let result = match f(&mut op).await {
                Ok(v) => {
                    let tx = op.tx.take().expect("an operation holds its transaction");
                    tx.commit().await.map(|()| v).map_err(CoreError::from)
                }
                Err(e) => Err(e),
            };
            drop(op.tx.take());
            match result {
                Ok(v) => {
                    if !op.events.is_empty() {
                        self.pending_events.lock().extend(op.events);
                        self.events_ready.notify_one();
                    }
                    return Ok(v);
                }
                Err(e) if e.is_retryable() && attempt + 1 < MAX_ATTEMPTS => {
                    attempt += 1;
                    backoff(attempt).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Whether the database answers (a cheap read), for readiness probes.
    pub async fn ping(&self) -> Result<()> {
        self.read(|tx| {
            Box::pin(async move {
                baseplate_store::keys::count_operators(tx).await?;
                Ok(())
            })
        })
        .await
    }

    /// Runs `f` on a read snapshot (never waiting for the writer).
    pub async fn read<'p, T>(
        &'p self,
        f: impl for<'o> FnOnce(&'o mut Snapshot<'p>) -> OpFuture<'o, T>,
    ) -> Result<T> {
        let mut snap = Snapshot {
            tx: self.db.read().await?,
            _caller: std::marker::PhantomData,
        };
        f(&mut snap).await
    }
}

/// Waits a little longer after each lost race, with jitter, so racers spread out.
pub(crate) async fn backoff(attempt: u32) {
    let jitter = {
        let mut b = [0u8; 2];
        getrandom::fill(&mut b).expect("the OS provides randomness");
        u16::from_le_bytes(b) as u64 % (2 + 2 * attempt as u64)
    };
    tokio::time::sleep(std::time::Duration::from_millis(
        attempt.min(6) as u64 + jitter,
    ))
    .await;
}

/// A token's stored form: sha256, hex.
pub fn hash_token(token: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(token.as_bytes()))
}

/// A fresh secret token with a readable prefix (`bp_sk_…`).
pub fn new_token(prefix: &str) -> String {
    let mut b = [0u8; 24];
    getrandom::fill(&mut b).expect("the OS provides randomness");
    format!("{prefix}{}", hex::encode(b))
}
