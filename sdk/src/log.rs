//! Structured logs, recorded per shop and plugin and shown to the merchant.
//!
//! ```no_run
//! baseplate_sdk::log::info("coupon cpn_1 used by order o_1");
//! ```

use crate::sys;

pub use crate::bindings::baseplate::plugin::logging::Level;

/// Logs `message` at `level`.
pub fn log(level: Level, message: &str) {
    sys::logging::log(level, message)
}

/// Logs at [`Level::Debug`].
pub fn debug(message: &str) {
    log(Level::Debug, message)
}

/// Logs at [`Level::Info`].
pub fn info(message: &str) {
    log(Level::Info, message)
}

/// Logs at [`Level::Warn`].
pub fn warn(message: &str) {
    log(Level::Warn, message)
}

/// Logs at [`Level::Error`].
pub fn error(message: &str) {
    log(Level::Error, message)
}
