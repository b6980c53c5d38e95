//! Durable timers: the host fires [`Plugin::fire_timer`](crate::Plugin::fire_timer) once,
//! at or after the given time, even across restarts.
//!
//! Names are 1..=[`MAX_TIMER_NAME_BYTES`](crate::limits::MAX_TIMER_NAME_BYTES) bytes and
//! payloads up to [`MAX_VALUE_BYTES`](crate::limits::MAX_VALUE_BYTES) (more traps); a shop
//! holds at most [`DEFAULT_MAX_PENDING_TIMERS`](crate::limits::DEFAULT_MAX_PENDING_TIMERS)
//! pending timers per plugin by default (past it the call ends `refused`).
//!
//! ```no_run
//! use baseplate_sdk::{timers, CallContext};
//! # let ctx: CallContext = unimplemented!();
//! // Expire group grp_1 in two hours; scheduling the same name again moves it.
//! timers::schedule("expire/grp_1", ctx.now + 2 * 3_600_000, b"grp_1");
//! # Ok::<(), baseplate_sdk::PluginError>(())
//! ```

use crate::{Timestamp, sys};

/// Fires `fire_timer(name, payload)` at or after `at`, replacing a pending timer of the
/// same name.
///
/// ```
/// use baseplate_sdk::{timers, testing::MockHost};
/// let host = MockHost::install();
/// timers::schedule("expire/g_1", host.now() + 1000, b"g_1");
/// assert_eq!(host.timers()[0].name, "expire/g_1");
/// ```
pub fn schedule(name: &str, at: Timestamp, payload: &[u8]) {
    sys::timers::schedule(name, at, payload)
}

/// Cancels the pending timer `name`; true if there was one.
///
/// ```
/// use baseplate_sdk::{timers, testing::MockHost};
/// let _host = MockHost::install();
/// timers::schedule("t", 0, b"");
/// assert!(timers::cancel("t") && !timers::cancel("t"));
/// ```
pub fn cancel(name: &str) -> bool {
    sys::timers::cancel(name)
}
