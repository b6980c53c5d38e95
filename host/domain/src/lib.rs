//! The Baseplate domain: ids, money, the order and payment state machines, the pricing
//! pipeline and ledger postings. Pure logic with no I/O, so every rule here is unit-tested
//! without a database, a sandbox or an HTTP server; `store`, `runtime` and `api` build on it.

pub mod ids;
pub mod ledger;
pub mod money;
pub mod order;
pub mod pricing;

pub use ids::*;
pub use ledger::{LedgerEntry, LedgerError, Party, Posting};
pub use money::{Money, MoneyError, apportion};
pub use order::{
    CloseReason, OrderState, OrderStatus, PaymentDecision, PaymentStatus, RefundState,
    TransitionError,
};
pub use pricing::{LineAdjustment, PriceStage, PricedLine, PricingError, ProposedAdjustment};

/// Milliseconds since the Unix epoch, as the host clock says.
pub type Timestamp = i64;
