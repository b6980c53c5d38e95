//! What the platform hands the runtime and gets back: host-side types, independent of the
//! contract version a plugin was built against (each version's generated types stay inside
//! `contract`).

use baseplate_domain::PriceStage;
use baseplate_store::members::Member;
use baseplate_store::orders::Order;
use baseplate_store::payments::Refund;
use std::time::Duration;

/// The host-decided facts of one call. Nothing here comes from the plugin.
#[derive(Clone, Debug)]
pub struct CallEnv {
    pub shop_id: String,
    pub currency: String,
    pub plugin: String,
    pub version: String,
    /// The merchant's config (JSON).
    pub config: String,
    /// The operation's clock: `host.now`, WASI's wall clock and the base of its monotonic
    /// clock all read it, so a call (and its retry) sees one time.
    pub now: i64,
    /// Seeds the call's random generator (host.random and WASI random), so a call can be
    /// replayed and a retry is the same call.
    pub seed: u64,
    /// Booked as the order of ledger postings that name none (the order whose event is
    /// being handled).
    pub order_context: Option<String>,
}

/// Who asked for a plugin action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    Member(String),
    Staff(String),
    System,
}

/// One line of a cart being priced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CartLine {
    pub index: u32,
    pub product_id: String,
    pub sku_id: String,
    pub quantity: u32,
    pub unit_price: i64,
    /// The line's amount after the stages before this one.
    pub amount: i64,
    pub tags: Vec<String>,
}

/// A cart to price or validate.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cart {
    pub member_id: Option<String>,
    pub lines: Vec<CartLine>,
    /// What the buyer passed to this plugin at checkout, as JSON.
    pub input: Option<String>,
}

/// Something that happened in the shop.
#[derive(Clone, Debug)]
pub enum Event {
    OrderPaid(Order),
    OrderClosed(Order),
    OrderRefunded(Order, Refund),
    OrderConfirmed(Order),
    OrderCompleted(Order),
    MemberJoined(Member),
}

impl Event {
    /// The order it is about, if any.
    pub fn order_id(&self) -> Option<&str> {
        match self {
            Event::OrderPaid(o)
            | Event::OrderClosed(o)
            | Event::OrderRefunded(o, _)
            | Event::OrderConfirmed(o)
            | Event::OrderCompleted(o) => Some(&o.id),
            Event::MemberJoined(_) => None,
        }
    }
}

/// A hook invocation.
#[derive(Clone, Debug)]
pub enum Hook {
    ValidateConfig {
        config: String,
        previous: Option<String>,
    },
    Price {
        stage: PriceStage,
        cart: Cart,
    },
    ValidateCheckout(Cart),
    OrderCreated {
        order: Order,
        input: Option<String>,
    },
    Event(Event),
    Action {
        actor: Actor,
        name: String,
        input: String,
    },
    Timer {
        name: String,
        payload: Vec<u8>,
    },
}

impl Hook {
    pub fn name(&self) -> &'static str {
        match self {
            Hook::ValidateConfig { .. } => "validate-config",
            Hook::Price { .. } => "price",
            Hook::ValidateCheckout(_) => "validate-checkout",
            Hook::OrderCreated { .. } => "order-created",
            Hook::Event(_) => "handle-event",
            Hook::Action { .. } => "handle-action",
            Hook::Timer { .. } => "fire-timer",
        }
    }

    /// Hooks that may only read: a write during one is a contract violation.
    pub fn read_only(&self) -> bool {
        matches!(
            self,
            Hook::ValidateConfig { .. } | Hook::Price { .. } | Hook::ValidateCheckout(_)
        )
    }

    /// Bytes of caller-supplied input, checked against `max_io_bytes`.
    pub(crate) fn input_size(&self) -> usize {
        match self {
            Hook::ValidateConfig { config, previous } => {
                config.len() + previous.as_ref().map_or(0, String::len)
            }
            Hook::Price { cart, .. } | Hook::ValidateCheckout(cart) => {
                cart.input.as_ref().map_or(0, String::len) + cart.lines.len() * 128
            }
            Hook::OrderCreated { input, order } => {
                input.as_ref().map_or(0, String::len) + order.lines.len() * 256
            }
            Hook::Event(_) => 0,
            Hook::Action { input, name, .. } => input.len() + name.len(),
            Hook::Timer { payload, .. } => payload.len(),
        }
    }
}

/// A discount a plugin proposes on one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Adjustment {
    pub line: u32,
    pub amount: i64,
    pub label: String,
    pub reference: Option<String>,
}

/// What a hook returned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HookOutput {
    Unit,
    Adjustments(Vec<Adjustment>),
    /// (key without the plugin prefix, value).
    Attributes(Vec<(String, String)>),
    Json(String),
}

/// A plugin's expected failure: its words go back to the caller as a 4xx.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PluginError {
    Invalid(String),
    Refused(String),
    NotFound(String),
    Conflict(String),
    Internal(String),
}

impl PluginError {
    pub fn message(&self) -> &str {
        match self {
            PluginError::Invalid(m)
            | PluginError::Refused(m)
            | PluginError::NotFound(m)
            | PluginError::Conflict(m)
            | PluginError::Internal(m) => m,
        }
    }

    /// `invalid`, `refused`, `not_found`, `conflict` or `internal`.
    pub fn code(&self) -> &'static str {
        match self {
            PluginError::Invalid(_) => "invalid",
            PluginError::Refused(_) => "refused",
            PluginError::NotFound(_) => "not_found",
            PluginError::Conflict(_) => "conflict",
            PluginError::Internal(_) => "internal",
        }
    }
}

/// How a plugin misbehaved. Recorded for the merchant, counted by the breaker.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FailureKind {
    Trap,
    Timeout,
    MemoryLimit,
    HostCallLimit,
    /// Broke a rule of the contract (a write in a read-only hook, a bad argument).
    Violation,
    BadOutput,
    Instantiate,
    /// The node had no sandbox for this shop in time (its own calls were queued).
    Busy,
}

impl FailureKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Trap => "trap",
            FailureKind::Timeout => "timeout",
            FailureKind::MemoryLimit => "memory_limit",
            FailureKind::HostCallLimit => "host_call_limit",
            FailureKind::Violation => "violation",
            FailureKind::BadOutput => "bad_output",
            FailureKind::Instantiate => "instantiate",
            FailureKind::Busy => "busy",
        }
    }

    /// Whether this counts against the plugin (the breaker): a busy node is not its fault.
    pub fn is_plugin_fault(self) -> bool {
        !matches!(self, FailureKind::Busy)
    }
}

/// Why a call did not produce a result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CallError {
    /// The plugin said no (refused, invalid input, …), or the host refused for it (a
    /// quota): its words go back to the caller.
    Plugin(PluginError),
    /// The plugin misbehaved: trapped, ran out of time or memory, broke a limit.
    Fault { kind: FailureKind, message: String },
    /// Reading the shop's data failed under the call; the operation may be retried.
    Data(String),
}

impl CallError {
    pub fn message(&self) -> &str {
        match self {
            CallError::Plugin(e) => e.message(),
            CallError::Fault { message, .. } => message,
            CallError::Data(m) => m,
        }
    }
}

/// An order action a plugin asked for; checked during the call, applied by the platform in
/// the operation's write.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderAction {
    Hold { order_id: String },
    Confirm { order_id: String },
    Cancel { order_id: String, reason: String },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogLine {
    pub level: &'static str,
    pub message: String,
}

/// A finished call.
#[derive(Debug)]
pub struct CallResult {
    pub outcome: Result<HookOutput, CallError>,
    pub logs: Vec<LogLine>,
    pub duration: Duration,
    /// The most linear memory the instance held (bytes), its start included.
    pub memory_peak: usize,
}
