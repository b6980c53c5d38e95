//! Every limit the sandbox enforces, in one place. Node operators override the per-call
//! and per-shop ones through `Limits`; the contract-level ones (key sizes, scan pages, …)
//! are constants the SDK's mock host mirrors (`baseplate_sdk::limits`), and a test keeps
//! the two equal.

use std::time::Duration;

/// Longest state key, in bytes.
pub const MAX_KEY_BYTES: usize = 256;
/// Largest state value (and timer payload), in bytes.
pub const MAX_VALUE_BYTES: usize = 64 << 10;
/// Most entries one `state.scan` returns.
pub const MAX_SCAN: u32 = 1000;
/// Most keys one `state.get-many` reads.
pub const MAX_GET_MANY: usize = 100;
/// Longest timer name, in bytes.
pub const MAX_TIMER_NAME: usize = 128;
/// Log lines kept per call; longer lines are cut at `MAX_LOG_BYTES`.
pub const MAX_LOG_LINES: usize = 100;
pub const MAX_LOG_BYTES: usize = 2048;
/// Attributes one `order-created` may return, and their sizes.
pub const MAX_ATTRIBUTES: usize = 32;
pub const MAX_ATTRIBUTE_KEY: usize = 64;
pub const MAX_ATTRIBUTE_VALUE: usize = 1024;
/// Adjustments one `price` may return.
pub const MAX_ADJUSTMENTS: usize = 1000;
/// Longest order-cancel reason, points reason, ledger memo.
pub const MAX_REASON_BYTES: usize = 200;
/// Entries one ledger posting may have.
pub const MAX_POSTING_ENTRIES: usize = 50;
/// Bound on every amount a plugin (or the API) supplies, in minor units: 10^15 分 is ten
/// trillion yuan, far above any real amount and far below where sums could overflow.
pub const MAX_AMOUNT: i64 = baseplate_domain::Money::MAX;

/// The limits of one node's sandboxes.
#[derive(Clone, Debug)]
pub struct Limits {
    /// Wall-clock budget of one call, instantiation and host calls included. A call
    /// returns within this plus a few milliseconds, whatever the guest does.
    pub deadline: Duration,
    /// Linear memory of one instance.
    pub memory_bytes: usize,
    pub table_elements: usize,
    pub max_wasm_stack: usize,
    /// Host calls one call may make.
    pub max_host_calls: u32,
    /// Size of a JSON input or output (action payloads, config, cart input).
    pub max_io_bytes: usize,
    /// Threads running sandboxes on this node.
    pub sandbox_threads: usize,
    /// Of those, how many one shop may use at once; its further calls wait behind it.
    pub sandboxes_per_shop: usize,
    /// Calls of one shop that may wait for a sandbox; more are refused at once as busy.
    pub queue_per_shop: usize,
    /// A call that has run this long loses its thread's CPU priority, so a runaway guest
    /// only uses CPU nobody else wants until its deadline.
    pub demote_after: Duration,
    /// A demoted call also pauses this long after each millisecond it runs: a runaway
    /// guest gets at most 1 / (1 + pause in ms) of a core (a tenth) until its deadline,
    /// even when a core looks idle between another shop's requests. A legitimate call
    /// rarely runs past `demote_after`; one that does still ends by its deadline.
    pub runaway_pause: Duration,
    /// Linear memory kept resident between calls and reset with memset/memcpy instead of
    /// being given back to the OS: a reset that takes no syscall, no TLB shootdown and no
    /// page faults on the next call, for memories up to this size.
    pub memory_keep_resident: usize,
    /// Quotas per (shop, plugin).
    pub quota: Quota,
}

/// What one plugin may keep in one shop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quota {
    pub state_keys: i64,
    pub state_bytes: i64,
    pub timers: i64,
}

impl Default for Quota {
    fn default() -> Self {
        Quota {
            state_keys: 100_000,
            state_bytes: 64 << 20,
            timers: 10_000,
        }
    }
}

impl Default for Limits {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Limits {
            deadline: Duration::from_millis(500),
            memory_bytes: 32 << 20,
            table_elements: 20_000,
            max_wasm_stack: 512 << 10,
            max_host_calls: 10_000,
            max_io_bytes: 256 << 10,
            sandbox_threads: (cores * 4).max(8),
            sandboxes_per_shop: (cores).max(2),
            queue_per_shop: 256,
            demote_after: Duration::from_millis(5),
            runaway_pause: Duration::from_millis(9),
            memory_keep_resident: 512 << 10,
            quota: Quota::default(),
        }
    }
}
