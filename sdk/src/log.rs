//! Structured logs, recorded per shop and plugin and shown to the merchant (the `logging`
//! capability). The host keeps the first [`MAX_LOG_LINES`](crate::limits::MAX_LOG_LINES)
//! lines of a call, each cut to [`MAX_LOG_LINE_BYTES`](crate::limits::MAX_LOG_LINE_BYTES).
//!
//! ```
//! # let host = baseplate_sdk::testing::MockHost::install();
//! baseplate_sdk::log::info("coupon cpn_1 used by order o_1");
//! # assert_eq!(host.logs().len(), 1);
//! ```

use crate::sys;

/// A log line's level: debug, info, warn or error.
///
/// ```
/// use baseplate_sdk::log::{self, Level};
/// # let _host = baseplate_sdk::testing::MockHost::install();
/// log::log(Level::Warn, "stock is low");
/// ```
#[doc(inline)]
pub use crate::bindings::baseplate::plugin::logging::Level;

/// Logs `message` at `level`.
///
/// ```
/// # let host = baseplate_sdk::testing::MockHost::install();
/// baseplate_sdk::log::log(baseplate_sdk::log::Level::Info, "hello");
/// # assert_eq!(host.logs()[0].message, "hello");
/// ```
pub fn log(level: Level, message: &str) {
    sys::logging::log(level, message)
}

/// Logs at [`Level::Debug`].
///
/// ```
/// # let host = baseplate_sdk::testing::MockHost::install();
/// baseplate_sdk::log::debug("message");
/// # assert_eq!(host.logs()[0].level, baseplate_sdk::log::Level::Debug);
/// ```
pub fn debug(message: &str) {
    log(Level::Debug, message)
}

/// Logs at [`Level::Info`].
///
/// ```
/// # let host = baseplate_sdk::testing::MockHost::install();
/// baseplate_sdk::log::info("message");
/// # assert_eq!(host.logs()[0].level, baseplate_sdk::log::Level::Info);
/// ```
pub fn info(message: &str) {
    log(Level::Info, message)
}

/// Logs at [`Level::Warn`].
///
/// ```
/// # let host = baseplate_sdk::testing::MockHost::install();
/// baseplate_sdk::log::warn("message");
/// # assert_eq!(host.logs()[0].level, baseplate_sdk::log::Level::Warn);
/// ```
pub fn warn(message: &str) {
    log(Level::Warn, message)
}

/// Logs at [`Level::Error`].
///
/// ```
/// # let host = baseplate_sdk::testing::MockHost::install();
/// baseplate_sdk::log::error("message");
/// # assert_eq!(host.logs()[0].level, baseplate_sdk::log::Level::Error);
/// ```
pub fn error(message: &str) {
    log(Level::Error, message)
}
