//! The platform clock. Production reads the system clock; tests move a manual one, so
//! payment windows, coupon validity and timers can be tested without sleeping.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

/// Milliseconds since the Unix epoch, plus an offset tests can move.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
    frozen_at: Option<Arc<AtomicI64>>,
}

impl Clock {
    pub fn system() -> Clock {
        Clock::default()
    }

    /// A clock that stands still at `at` until moved.
    pub fn manual(at: i64) -> Clock {
        Clock {
            offset_ms: Arc::default(),
            frozen_at: Some(Arc::new(AtomicI64::new(at))),
        }
    }

    pub fn now(&self) -> i64 {
        let base = match &self.frozen_at {
            Some(t) => t.load(Ordering::SeqCst),
            None => std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_millis() as i64)
                .unwrap_or(0),
        };
        base + self.offset_ms.load(Ordering::SeqCst)
    }

    /// Moves the clock forward (tests, demos).
    pub fn advance(&self, ms: i64) {
        self.offset_ms.fetch_add(ms, Ordering::SeqCst);
    }
}
