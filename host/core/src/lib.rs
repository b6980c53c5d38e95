//! The platform's operations: shops, members, catalog, checkout with the pricing pipeline,
//! payments through the sandbox provider, refunds, the ledger, plugin installation and
//! dispatch, the event outbox and durable timers. Each operation is one database
//! transaction (retried on a serialization conflict); the plugins it calls run inside it.
//! `api` puts HTTP in front of this; `server` runs it and its background workers.

pub mod checkout;
pub mod clock;
mod error;
pub mod events;
pub mod payments;
pub mod plugins;
pub mod shops;

pub use clock::Clock;
pub use error::CoreError;

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
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            payment_secret: "sandbox-secret".into(),
            breaker_threshold: 5,
            breaker_cooldown_ms: 60_000,
            max_delivery_attempts: 8,
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
}

/// One operation: a transaction, the clock reading it runs at, and what it did that must
/// be reported after it ends (plugin calls, events to deliver).
pub struct Op {
    tx: Option<Tx>,
    pub now: i64,
    seed: u64,
    seq: u64,
    pub(crate) reports: Vec<plugins::CallReport>,
    pub(crate) events: Vec<String>,
    /// Order actions plugins applied in this operation.
    pub(crate) order_actions: u32,
}

impl Op {
    pub fn tx(&mut self) -> &mut Tx {
        self.tx
            .as_mut()
            .expect("an operation holds its transaction")
    }

    pub(crate) fn take_tx(&mut self) -> Tx {
        self.tx.take().expect("an operation holds its transaction")
    }

    pub(crate) fn put_tx(&mut self, tx: Tx) {
        self.tx = Some(tx);
    }

    pub(crate) fn next_seed(&mut self) -> u64 {
        self.seq += 1;
        self.seed ^ self.seq.wrapping_mul(0x9E37_79B9_7F4A_7C15)
    }

    /// Random bytes for a new id.
    pub fn random10(&mut self) -> [u8; 10] {
        let mut b = [0u8; 10];
        getrandom::fill(&mut b).expect("the OS provides randomness");
        b
    }
}

/// Runs `$body` (an expression using `$op: &mut Op`) as one operation: commits on Ok,
/// rolls back on Err, retries a serialization conflict a few times, records plugin calls
/// and delivers the events it emitted once it committed.
#[macro_export]
macro_rules! operation {
    ($platform:expr, |$op:ident| $body:expr) => {{
        let platform: &$crate::Platform = $platform;
        let mut attempt = 0u32;
        loop {
            let mut op_value = platform.begin().await?;
            let $op = &mut op_value;
            let result = $body;
            match platform.end(op_value, result, attempt).await {
                $crate::Ended::Done(r) => break r,
                $crate::Ended::Retry => {
                    attempt += 1;
                    continue;
                }
            }
        }
    }};
}

#[doc(hidden)]
pub enum Ended<T> {
    Done(Result<T>),
    Retry,
}

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

    #[doc(hidden)]
    pub async fn begin(&self) -> Result<Op> {
        let tx = self.db.begin().await?;
        let mut seed = [0u8; 8];
        getrandom::fill(&mut seed).expect("the OS provides randomness");
        Ok(Op {
            tx: Some(tx),
            now: self.now(),
            seed: u64::from_le_bytes(seed),
            seq: 0,
            reports: Vec::new(),
            events: Vec::new(),
            order_actions: 0,
        })
    }

    #[doc(hidden)]
    pub async fn end<T>(&self, mut op: Op, result: Result<T>, attempt: u32) -> Ended<T> {
        let reports = std::mem::take(&mut op.reports);
        let events = std::mem::take(&mut op.events);
        let tx = op.take_tx();
        match result {
            Ok(v) => {
                let mut tx = tx;
                let recorded =
                    plugins::record_reports(&mut tx, &reports, op.now, &self.settings, true).await;
                let committed = match recorded {
                    Ok(()) => tx.commit().await.map_err(CoreError::from),
                    Err(e) => Err(e),
                };
                match committed {
                    Ok(()) => {
                        if !events.is_empty() {
                            self.pending_events.lock().extend(events);
                            self.events_ready.notify_one();
                        }
                        Ended::Done(Ok(v))
                    }
                    Err(e) => self.failed(e, attempt, reports).await,
                }
            }
            Err(e) => {
                let _ = tx.rollback().await;
                self.failed(e, attempt, reports).await
            }
        }
    }

    async fn failed<T>(
        &self,
        e: CoreError,
        attempt: u32,
        reports: Vec<plugins::CallReport>,
    ) -> Ended<T> {
        // The operation rolled back; its plugin faults still happened and are recorded.
        if reports.iter().any(|r| r.failure.is_some())
            && let Ok(mut tx) = self.db.begin().await
        {
            let now = self.now();
            if plugins::record_reports(&mut tx, &reports, now, &self.settings, false)
                .await
                .is_ok()
            {
                let _ = tx.commit().await;
            }
        }
        if e.is_retryable() && attempt < 8 {
            let jitter = {
                let mut b = [0u8; 2];
                getrandom::fill(&mut b).expect("the OS provides randomness");
                u16::from_le_bytes(b) as u64 % 20
            };
            tokio::time::sleep(std::time::Duration::from_millis(
                5 * (attempt as u64 + 1) + jitter,
            ))
            .await;
            return Ended::Retry;
        }
        Ended::Done(Err(e))
    }
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
