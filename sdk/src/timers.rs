//! Durable timers: the host fires [`Plugin::fire_timer`](crate::Plugin::fire_timer) once,
//! at or after the given time, even across restarts.
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
pub fn schedule(name: &str, at: Timestamp, payload: &[u8]) {
    sys::timers::schedule(name, at, payload)
}

/// Cancels the pending timer `name`; true if there was one.
pub fn cancel(name: &str) -> bool {
    sys::timers::cancel(name)
}
