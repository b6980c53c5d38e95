//! Every limit the host enforces on a plugin, in one place: the mock host
//! ([`testing::MockHost`](crate::testing::MockHost)) enforces exactly these, and the
//! host's own test compares them with the values the runtime uses, so a plugin that passes
//! its unit tests does not trip over a limit in production.
//!
//! What happens past a limit differs, as on the host:
//! - **trap** (a bug: the call fails, nothing it wrote is kept; the mock panics): state
//!   keys, values, `get-many` batches and scan prefixes over their size, timer names and
//!   payloads over theirs, any write during `price`;
//! - **`refused` error** (the call ends with [`PluginError::Refused`](crate::PluginError)
//!   and nothing it wrote is kept): the per-shop quotas on state and pending timers;
//! - **cut short** (nothing fails): log lines past [`MAX_LOG_LINES`] per call are dropped
//!   and a message is cut to [`MAX_LOG_LINE_BYTES`];
//! - **`invalid` error** returned by the import: ledger postings, cancel reasons and
//!   points changes that break their rules.
//!
//! ```
//! use baseplate_sdk::limits;
//! // Keep a per-member index small enough to read back in one scan.
//! let page = limits::MAX_SCAN_LIMIT;
//! assert_eq!(page, 1000);
//! assert!(limits::MAX_KEY_BYTES >= "member/m_1/cpn_0123456789abcdef".len());
//! ```

/// The longest state key, in bytes (keys are 1..=256 bytes; an empty key traps too).
///
/// ```
/// assert_eq!(baseplate_sdk::limits::MAX_KEY_BYTES, 256);
/// ```
pub const MAX_KEY_BYTES: usize = 256;

/// The largest state value or timer payload, in bytes (64 KiB).
///
/// ```
/// assert_eq!(baseplate_sdk::limits::MAX_VALUE_BYTES, 65_536);
/// ```
pub const MAX_VALUE_BYTES: usize = 64 * 1024;

/// The most entries one `state.scan` returns, whatever `limit` asks for.
///
/// ```
/// assert_eq!(baseplate_sdk::limits::MAX_SCAN_LIMIT, 1000);
/// ```
pub const MAX_SCAN_LIMIT: u32 = 1000;

/// The most keys one `state.get-many` call reads.
///
/// ```
/// assert_eq!(baseplate_sdk::limits::MAX_GET_MANY, 100);
/// ```
pub const MAX_GET_MANY: usize = 100;

/// The longest timer name, in bytes (names are 1..=128 bytes).
///
/// ```
/// assert_eq!(baseplate_sdk::limits::MAX_TIMER_NAME_BYTES, 128);
/// ```
pub const MAX_TIMER_NAME_BYTES: usize = 128;

/// The most log lines kept from one call; later lines are dropped.
///
/// ```
/// assert_eq!(baseplate_sdk::limits::MAX_LOG_LINES, 100);
/// ```
pub const MAX_LOG_LINES: usize = 100;

/// The longest log message kept, in bytes (2 KiB); a longer one is cut at a character
/// boundary.
///
/// ```
/// assert_eq!(baseplate_sdk::limits::MAX_LOG_LINE_BYTES, 2048);
/// ```
pub const MAX_LOG_LINE_BYTES: usize = 2048;

/// The default bound on a plugin's keys in one shop (a node may set another).
///
/// ```
/// assert_eq!(baseplate_sdk::limits::DEFAULT_MAX_STATE_KEYS, 100_000);
/// ```
pub const DEFAULT_MAX_STATE_KEYS: usize = 100_000;

/// The default bound on a plugin's state in one shop, keys and values together, in bytes
/// (64 MiB).
///
/// ```
/// assert_eq!(baseplate_sdk::limits::DEFAULT_MAX_STATE_BYTES, 64 << 20);
/// ```
pub const DEFAULT_MAX_STATE_BYTES: usize = 64 * 1024 * 1024;

/// The default bound on a plugin's pending timers in one shop.
///
/// ```
/// assert_eq!(baseplate_sdk::limits::DEFAULT_MAX_PENDING_TIMERS, 10_000);
/// ```
pub const DEFAULT_MAX_PENDING_TIMERS: usize = 10_000;

/// The most attributes one `order-created` call returns.
///
/// ```
/// assert_eq!(baseplate_sdk::limits::MAX_ATTRIBUTES, 32);
/// ```
pub const MAX_ATTRIBUTES: usize = 32;

/// The longest attribute key a plugin returns, in bytes, before the host prefixes it with
/// `<plugin>.`.
///
/// ```
/// assert_eq!(baseplate_sdk::limits::MAX_ATTRIBUTE_KEY_BYTES, 64);
/// ```
pub const MAX_ATTRIBUTE_KEY_BYTES: usize = 64;

/// The longest attribute value, in bytes (1 KiB).
///
/// ```
/// assert_eq!(baseplate_sdk::limits::MAX_ATTRIBUTE_VALUE_BYTES, 1024);
/// ```
pub const MAX_ATTRIBUTE_VALUE_BYTES: usize = 1024;

/// The most adjustments one `price` call returns.
///
/// ```
/// assert_eq!(baseplate_sdk::limits::MAX_ADJUSTMENTS, 1000);
/// ```
pub const MAX_ADJUSTMENTS: usize = 1000;

/// The longest adjustment label, in characters (labels are 1..=200 characters).
///
/// ```
/// assert_eq!(baseplate_sdk::limits::MAX_LABEL_CHARS, 200);
/// ```
pub const MAX_LABEL_CHARS: usize = 200;

/// The most entries in one ledger posting (at least two).
///
/// ```
/// assert_eq!(baseplate_sdk::limits::MAX_POSTING_ENTRIES, 50);
/// ```
pub const MAX_POSTING_ENTRIES: usize = 50;

/// The longest posting memo, in characters.
///
/// ```
/// assert_eq!(baseplate_sdk::limits::MAX_MEMO_CHARS, 200);
/// ```
pub const MAX_MEMO_CHARS: usize = 200;

/// The largest amount of one ledger entry, either sign (10^15 分).
///
/// ```
/// assert_eq!(baseplate_sdk::limits::MAX_ENTRY_AMOUNT, 1_000_000_000_000_000);
/// ```
pub const MAX_ENTRY_AMOUNT: i64 = 1_000_000_000_000_000;

/// The longest ledger account name, in bytes (`a-z`, `0-9`, `-`, `_`, `:`).
///
/// ```
/// assert_eq!(baseplate_sdk::limits::MAX_ACCOUNT_BYTES, 64);
/// ```
pub const MAX_ACCOUNT_BYTES: usize = 64;

/// The longest reason, in bytes, for `order-control.cancel-order` and `points.adjust`
/// (reasons are 1..=200 bytes).
///
/// ```
/// assert_eq!(baseplate_sdk::limits::MAX_REASON_BYTES, 200);
/// ```
pub const MAX_REASON_BYTES: usize = 200;
