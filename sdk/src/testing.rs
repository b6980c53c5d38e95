//! Native testing without a server. On non-wasm targets every helper module ([`state`],
//! [`timers`], [`shop`], [`orders`], [`ledger`], [`log`], [`host`]) talks to a thread-local
//! [`MockHost`] instead of the real host, so a plugin's hooks are plain functions a
//! `#[test]` calls. Each test runs on its own thread and so gets its own host;
//! [`MockHost::install`] starts from a clean one.
//!
//! The mock enforces the limits the real host enforces: keys up to 256 bytes and values up
//! to 64 KiB (the host traps; the mock panics), scans capped at 1000 entries, ledger
//! postings checked like the host checks them.
//!
//! ```
//! use baseplate_sdk::{state, testing::{self, MockHost}};
//!
//! let host = MockHost::install();
//! host.set_now(1_000);
//! host.add_member(testing::member("m_1"));
//! state::set("greeting", b"hi");
//! assert_eq!(host.state_snapshot()["greeting"], b"hi");
//! let ctx = host.context("{}"); // a CallContext at the mock's clock, for calling hooks
//! assert_eq!(ctx.now, 1_000);
//! ```
//!
//! [`state`]: crate::state
//! [`timers`]: crate::timers
//! [`shop`]: crate::shop
//! [`orders`]: crate::orders
//! [`ledger`]: crate::ledger
//! [`log`]: crate::log
//! [`host`]: crate::host

use crate::log::Level;
use crate::state::{MAX_KEY_BYTES, MAX_SCAN_LIMIT, MAX_VALUE_BYTES};
use crate::{
    CallContext, Cart, CartLine, LedgerEntry, Member, Money, Order, OrderLine, OrderStatus,
    PaymentStatus, PluginError, Product, RefundState, Result, Sku, Timestamp,
};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::marker::PhantomData;

/// The clock a fresh mock host starts at (2023-11-14T22:13:20Z).
pub const DEFAULT_NOW: Timestamp = 1_700_000_000_000;
/// The random seed a fresh mock host starts with.
pub const DEFAULT_SEED: u64 = 0x5eed;

thread_local! {
    static HOST: RefCell<Inner> = RefCell::new(Inner::default());
}

fn with<R>(f: impl FnOnce(&mut Inner) -> R) -> R {
    HOST.with(|h| f(&mut h.borrow_mut()))
}

/// A handle to this thread's in-memory host. It is a token, not the host itself: copies
/// all see the same host, and it cannot leave the thread.
#[derive(Clone, Copy, Debug)]
pub struct MockHost {
    _this_thread: PhantomData<*const ()>,
}

/// A timer the plugin scheduled and the mock has not fired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduledTimer {
    /// The name passed to [`timers::schedule`](crate::timers::schedule).
    pub name: String,
    /// When it is due.
    pub at: Timestamp,
    /// The payload `fire_timer` will receive.
    pub payload: Vec<u8>,
}

/// A log line the plugin wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogRecord {
    /// Its level.
    pub level: Level,
    /// Its message.
    pub message: String,
}

/// An order action the plugin took successfully.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OrderAction {
    /// [`orders::hold`](crate::orders::hold).
    Hold {
        /// The order held.
        order_id: String,
    },
    /// [`orders::confirm`](crate::orders::confirm).
    Confirm {
        /// The order confirmed.
        order_id: String,
    },
    /// [`orders::cancel`](crate::orders::cancel).
    Cancel {
        /// The order cancelled.
        order_id: String,
        /// The reason given.
        reason: String,
    },
}

/// A ledger posting the plugin booked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Posting {
    /// The id [`ledger::post`](crate::ledger::post) returned.
    pub id: String,
    /// Its memo.
    pub memo: String,
    /// Its entries (they sum to zero).
    pub entries: Vec<LedgerEntry>,
    /// The mock clock when it was booked.
    pub at: Timestamp,
}

#[derive(Clone)]
struct Effects {
    state: BTreeMap<String, Vec<u8>>,
    timers: BTreeMap<String, ScheduledTimer>,
    orders: BTreeMap<String, Order>,
    order_actions: Vec<OrderAction>,
    postings: Vec<Posting>,
}

struct Inner {
    effects: Effects,
    members: BTreeMap<String, Member>,
    products: BTreeMap<String, Product>,
    logs: Vec<LogRecord>,
    now: Timestamp,
    rng: u64,
}

impl Default for Inner {
    fn default() -> Self {
        Inner {
            effects: Effects {
                state: BTreeMap::new(),
                timers: BTreeMap::new(),
                orders: BTreeMap::new(),
                order_actions: Vec::new(),
                postings: Vec::new(),
            },
            members: BTreeMap::new(),
            products: BTreeMap::new(),
            logs: Vec::new(),
            now: DEFAULT_NOW,
            rng: DEFAULT_SEED,
        }
    }
}

impl Inner {
    /// splitmix64: tiny, seedable, and good enough for tests.
    fn next_random(&mut self) -> u64 {
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

impl MockHost {
    /// Replaces this thread's host with a fresh one (empty, clock at [`DEFAULT_NOW`], seed
    /// [`DEFAULT_SEED`]) and returns a handle to it. Call it first in every test.
    pub fn install() -> MockHost {
        let host = MockHost::current();
        host.reset();
        host
    }

    /// A handle to this thread's host as it is (helpers called before any `install` use a
    /// fresh default host).
    pub fn current() -> MockHost {
        MockHost {
            _this_thread: PhantomData,
        }
    }

    /// Forgets everything: state, timers, fixtures, logs, actions, postings, clock, seed.
    pub fn reset(&self) {
        with(|h| *h = Inner::default());
    }

    /// A [`CallContext`] for calling hooks: shop `shop_test`, plugin `plugin`, version
    /// `0.1.0`, currency `CNY`, the given `config` JSON and the mock's clock.
    pub fn context(&self, config: &str) -> CallContext {
        CallContext {
            shop_id: "shop_test".into(),
            plugin: "plugin".into(),
            version: "0.1.0".into(),
            config: config.into(),
            now: self.now(),
            currency: "CNY".into(),
        }
    }

    /// Runs `hook` like the host runs a hook: if it returns an error, every effect it had
    /// (state, timers, order changes and actions, postings) is rolled back. Logs stay.
    ///
    /// ```
    /// use baseplate_sdk::{state, PluginError, testing::MockHost};
    /// let host = MockHost::install();
    /// let r: Result<(), _> = host.atomic(|| {
    ///     state::set("half-done", b"1");
    ///     Err(PluginError::refused("sold out"))
    /// });
    /// assert!(r.is_err() && state::get("half-done").is_none());
    /// ```
    pub fn atomic<T>(&self, hook: impl FnOnce() -> Result<T>) -> Result<T> {
        let before = with(|h| h.effects.clone());
        let result = hook();
        if result.is_err() {
            with(|h| h.effects = before);
        }
        result
    }

    /// The mock clock, what [`host::now`](crate::host::now) returns.
    pub fn now(&self) -> Timestamp {
        with(|h| h.now)
    }

    /// Sets the mock clock.
    pub fn set_now(&self, now: Timestamp) {
        with(|h| h.now = now);
    }

    /// Moves the mock clock forward by `ms`.
    pub fn advance(&self, ms: i64) {
        with(|h| h.now += ms);
    }

    /// Reseeds the generator behind [`host::random`](crate::host::random); the same seed
    /// gives the same sequence.
    pub fn set_seed(&self, seed: u64) {
        with(|h| h.rng = seed);
    }

    /// Adds (or replaces) an order that [`shop::order`](crate::shop::order) returns and
    /// the order actions act on.
    pub fn add_order(&self, order: Order) {
        with(|h| h.effects.orders.insert(order.id.clone(), order));
    }

    /// The order `id` as it is now, after any order actions.
    pub fn order(&self, id: &str) -> Option<Order> {
        with(|h| h.effects.orders.get(id).cloned())
    }

    /// Adds (or replaces) a member that [`shop::member`](crate::shop::member) returns.
    pub fn add_member(&self, member: Member) {
        with(|h| h.members.insert(member.id.clone(), member));
    }

    /// Adds (or replaces) a product that [`shop::product`](crate::shop::product) returns.
    pub fn add_product(&self, product: Product) {
        with(|h| h.products.insert(product.id.clone(), product));
    }

    /// A copy of the plugin's whole key-value state.
    pub fn state_snapshot(&self) -> BTreeMap<String, Vec<u8>> {
        with(|h| h.effects.state.clone())
    }

    /// The pending timers, earliest first.
    pub fn timers(&self) -> Vec<ScheduledTimer> {
        let mut timers: Vec<_> = with(|h| h.effects.timers.values().cloned().collect());
        timers.sort_by_key(|t| t.at);
        timers
    }

    /// Removes and returns the timers due at the mock clock, earliest first, for the test to
    /// pass to `fire_timer`.
    pub fn take_due_timers(&self) -> Vec<ScheduledTimer> {
        let now = self.now();
        let due: Vec<_> = self.timers().into_iter().filter(|t| t.at <= now).collect();
        with(|h| {
            due.iter()
                .for_each(|t| drop(h.effects.timers.remove(&t.name)))
        });
        due
    }

    /// Everything the plugin logged, in order.
    pub fn logs(&self) -> Vec<LogRecord> {
        with(|h| h.logs.clone())
    }

    /// The postings the plugin booked, in order.
    pub fn ledger_postings(&self) -> Vec<Posting> {
        with(|h| h.effects.postings.clone())
    }

    /// The order actions the plugin took successfully, in order.
    pub fn order_actions(&self) -> Vec<OrderAction> {
        with(|h| h.effects.order_actions.clone())
    }
}

/// A cart line fixture: SKU `<product_id>-sku`, no tags, `amount` = `unit_price × quantity`.
///
/// ```
/// let line = baseplate_sdk::testing::cart_line(0, "p_tea", 2, 1500);
/// assert_eq!(line.amount, 3000);
/// ```
pub fn cart_line(index: u32, product_id: &str, quantity: u32, unit_price: Money) -> CartLine {
    CartLine {
        index,
        product_id: product_id.into(),
        sku_id: format!("{product_id}-sku"),
        quantity,
        unit_price,
        amount: unit_price * i64::from(quantity),
        tags: Vec::new(),
    }
}

/// A cart fixture.
pub fn cart(member_id: Option<&str>, lines: Vec<CartLine>, input: Option<&str>) -> Cart {
    Cart {
        member_id: member_id.map(Into::into),
        lines,
        input: input.map(Into::into),
    }
}

/// An order fixture created from priced cart `lines` at the mock clock: pending payment,
/// unpaid, no refunds; each line's final amount is the cart line's `amount`.
pub fn order(id: &str, member_id: Option<&str>, lines: &[CartLine]) -> Order {
    let lines: Vec<OrderLine> = lines
        .iter()
        .map(|l| {
            let original = l.unit_price * i64::from(l.quantity);
            OrderLine {
                id: format!("{id}-{}", l.index),
                index: l.index,
                product_id: l.product_id.clone(),
                sku_id: l.sku_id.clone(),
                quantity: l.quantity,
                unit_price: l.unit_price,
                original_amount: original,
                discount: original - l.amount,
                final_amount: l.amount,
                refunded_amount: 0,
                adjustments: Vec::new(),
            }
        })
        .collect();
    let original: Money = lines.iter().map(|l| l.original_amount).sum();
    let payable: Money = lines.iter().map(|l| l.final_amount).sum();
    Order {
        id: id.into(),
        member_id: member_id.map(Into::into),
        status: OrderStatus::PendingPayment,
        payment_status: PaymentStatus::Unpaid,
        refund_state: RefundState::None,
        close_reason: None,
        currency: "CNY".into(),
        original_amount: original,
        discount: original - payable,
        payable_amount: payable,
        paid_amount: 0,
        refunded_amount: 0,
        lines,
        attributes: Vec::new(),
        created_at: with(|h| h.now),
        paid_at: None,
    }
}

/// A member fixture: name = id, level 1, no points, tags or inviter, joined at the mock
/// clock.
pub fn member(id: &str) -> Member {
    Member {
        id: id.into(),
        name: id.into(),
        level: 1,
        points: 0,
        tags: Vec::new(),
        joined_at: with(|h| h.now),
        inviter_id: None,
        paid_orders: 0,
    }
}

/// A product fixture with one SKU `<id>-sku` at `price`, stock 100.
pub fn product(id: &str, price: Money) -> Product {
    Product {
        id: id.into(),
        name: id.into(),
        tags: Vec::new(),
        skus: vec![Sku {
            id: format!("{id}-sku"),
            name: id.into(),
            price,
            stock: 100,
        }],
    }
}

/// Mirrors the host's posting rules so a plugin's bad posting fails in its unit tests too.
fn check_posting(memo: &str, entries: &[LedgerEntry]) -> Result<()> {
    let invalid = |m: &str| Err(PluginError::invalid(m));
    if memo.chars().count() > 200 {
        return invalid("memo is at most 200 characters");
    }
    if entries.len() < 2 {
        return invalid("a posting needs at least two entries");
    }
    if entries.len() > 50 {
        return invalid("a posting has at most 50 entries");
    }
    let mut sum: i64 = 0;
    for e in entries {
        if e.amount == 0 {
            return invalid("an entry's amount must not be zero");
        }
        let account_ok = !e.account.is_empty()
            && e.account.len() <= 64
            && e.account
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-_:".contains(&b));
        if !account_ok {
            return invalid("account names are 1..=64 characters of a-z, 0-9, '-', '_' or ':'");
        }
        let Some(next) = sum.checked_add(e.amount) else {
            return invalid("amount overflow");
        };
        sum = next;
    }
    if sum != 0 {
        return Err(PluginError::invalid(format!(
            "entries sum to {sum}, not zero: a posting must balance"
        )));
    }
    Ok(())
}

/// The mock implementations of the WIT imports, with the generated signatures.
pub(crate) mod imports {
    pub mod state {
        use super::super::{MAX_KEY_BYTES, MAX_SCAN_LIMIT, MAX_VALUE_BYTES, with};

        fn check_key(key: &str) {
            assert!(
                key.len() <= MAX_KEY_BYTES,
                "state key is {} bytes; the host traps above {MAX_KEY_BYTES}",
                key.len()
            );
        }

        pub fn get(key: &str) -> Option<Vec<u8>> {
            check_key(key);
            with(|h| h.effects.state.get(key).cloned())
        }

        pub fn set(key: &str, value: &[u8]) {
            check_key(key);
            assert!(
                value.len() <= MAX_VALUE_BYTES,
                "state value is {} bytes; the host traps above {MAX_VALUE_BYTES}",
                value.len()
            );
            with(|h| h.effects.state.insert(key.into(), value.into()));
        }

        pub fn delete(key: &str) -> bool {
            check_key(key);
            with(|h| h.effects.state.remove(key).is_some())
        }

        pub fn scan(prefix: &str, start_after: Option<&str>, limit: u32) -> Vec<(String, Vec<u8>)> {
            let limit = limit.min(MAX_SCAN_LIMIT) as usize;
            with(|h| {
                h.effects
                    .state
                    .range(prefix.to_string()..)
                    .take_while(|(k, _)| k.starts_with(prefix))
                    .filter(|(k, _)| start_after.is_none_or(|after| k.as_str() > after))
                    .take(limit)
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            })
        }
    }

    pub mod timers {
        use super::super::{ScheduledTimer, with};
        use crate::Timestamp;

        pub fn schedule(name: &str, at: Timestamp, payload: &[u8]) {
            let timer = ScheduledTimer {
                name: name.into(),
                at,
                payload: payload.into(),
            };
            with(|h| h.effects.timers.insert(name.into(), timer));
        }

        pub fn cancel(name: &str) -> bool {
            with(|h| h.effects.timers.remove(name).is_some())
        }
    }

    pub mod shop_data {
        use super::super::with;
        use crate::{Member, Order, Product};

        pub fn get_order(id: &str) -> Option<Order> {
            with(|h| h.effects.orders.get(id).cloned())
        }

        pub fn get_member(id: &str) -> Option<Member> {
            with(|h| h.members.get(id).cloned())
        }

        pub fn get_product(id: &str) -> Option<Product> {
            with(|h| h.products.get(id).cloned())
        }
    }

    /// A small model of the host's order state machine: enough for a plugin's tests to see
    /// its actions land and to hit the obvious refusals.
    pub mod order_control {
        use super::super::{OrderAction, with};
        use crate::{Order, OrderStatus, PaymentStatus, PluginError, RefundState, Result};

        fn act(
            order_id: &str,
            action: OrderAction,
            change: impl FnOnce(&mut Order) -> Result<()>,
        ) -> Result<()> {
            with(|h| {
                let order = h.effects.orders.get_mut(order_id).ok_or_else(|| {
                    PluginError::not_found(format!("order {order_id} does not exist"))
                })?;
                change(order)?;
                h.effects.order_actions.push(action);
                Ok(())
            })
        }

        fn refuse(order: &Order, what: &str) -> Result<()> {
            Err(PluginError::conflict(format!(
                "order {} is {:?}; cannot {what} it",
                order.id, order.status
            )))
        }

        pub fn hold_order(order_id: &str) -> Result<()> {
            act(
                order_id,
                OrderAction::Hold {
                    order_id: order_id.into(),
                },
                |o| match o.status {
                    // Like the host: an unpaid order is marked to wait once it is paid.
                    OrderStatus::PendingPayment => Ok(()),
                    OrderStatus::ToShip | OrderStatus::AwaitingConfirmation
                        if o.payment_status == PaymentStatus::Paid =>
                    {
                        o.status = OrderStatus::AwaitingConfirmation;
                        Ok(())
                    }
                    _ => refuse(o, "hold"),
                },
            )
        }

        pub fn confirm_order(order_id: &str) -> Result<()> {
            act(
                order_id,
                OrderAction::Confirm {
                    order_id: order_id.into(),
                },
                |o| match o.status {
                    OrderStatus::AwaitingConfirmation => {
                        o.status = OrderStatus::ToShip;
                        Ok(())
                    }
                    // Like the host: confirming ahead of payment, or twice, changes nothing.
                    OrderStatus::PendingPayment | OrderStatus::ToShip => Ok(()),
                    _ => refuse(o, "confirm"),
                },
            )
        }

        pub fn cancel_order(order_id: &str, reason: &str) -> Result<()> {
            let action = OrderAction::Cancel {
                order_id: order_id.into(),
                reason: reason.into(),
            };
            act(order_id, action, |o| match o.status {
                OrderStatus::Completed | OrderStatus::Closed => refuse(o, "cancel"),
                _ => {
                    if o.payment_status == PaymentStatus::Paid {
                        o.refunded_amount = o.paid_amount;
                        o.refund_state = RefundState::Full;
                    }
                    o.status = OrderStatus::Closed;
                    o.close_reason = Some(reason.into());
                    Ok(())
                }
            })
        }
    }

    pub mod ledger {
        use super::super::{Posting, check_posting, with};
        use crate::{Balance, LedgerEntry, Party, Result};

        pub fn post(memo: &str, entries: &[LedgerEntry]) -> Result<String> {
            check_posting(memo, entries)?;
            with(|h| {
                let id = format!("pst_{}", h.effects.postings.len() + 1);
                h.effects.postings.push(Posting {
                    id: id.clone(),
                    memo: memo.into(),
                    entries: entries.to_vec(),
                    at: h.now,
                });
                Ok(id)
            })
        }

        pub fn get_balance(party: &Party, account: &str) -> Balance {
            with(|h| {
                let entries = h
                    .effects
                    .postings
                    .iter()
                    .flat_map(|p| &p.entries)
                    .filter(|e| &e.party == party && e.account == account);
                let mut balance = Balance {
                    total: 0,
                    available: 0,
                };
                for e in entries {
                    balance.total += e.amount;
                    if e.available_at.is_none_or(|t| t <= h.now) {
                        balance.available += e.amount;
                    }
                }
                balance
            })
        }
    }

    pub mod logging {
        use super::super::{LogRecord, with};
        pub use crate::log::Level;

        pub fn log(level: Level, message: &str) {
            with(|h| {
                h.logs.push(LogRecord {
                    level,
                    message: message.into(),
                })
            });
        }
    }

    pub mod host {
        use super::super::with;
        use crate::Timestamp;

        pub fn now() -> Timestamp {
            with(|h| h.now)
        }

        pub fn random() -> u64 {
            with(|h| h.next_random())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Party, ledger, log, orders, shop, timers};

    fn entry(
        party: Party,
        account: &str,
        amount: Money,
        available_at: Option<Timestamp>,
    ) -> LedgerEntry {
        LedgerEntry {
            party,
            account: account.into(),
            amount,
            available_at,
        }
    }

    #[test]
    fn ledger_checks_postings_and_computes_balances() {
        let host = MockHost::install();
        let emp = Party::Employee("e1".into());
        let later = DEFAULT_NOW + 1000;
        let id = ledger::post(
            "reward",
            &[
                entry(Party::Shop, "sales", -500, None),
                entry(emp.clone(), "reward", 500, Some(later)),
            ],
        )
        .unwrap();
        assert_eq!(id, "pst_1");
        assert_eq!(
            ledger::balance(&emp, "reward"),
            crate::Balance {
                total: 500,
                available: 0
            }
        );
        host.advance(1000);
        assert_eq!(ledger::balance(&emp, "reward").available, 500);
        let unbalanced = [
            entry(Party::Shop, "a", -5, None),
            entry(emp.clone(), "b", 4, None),
        ];
        assert!(
            ledger::post("x", &unbalanced)
                .unwrap_err()
                .message()
                .contains("sum to -1")
        );
        let single = [entry(Party::Shop, "a", 0, None)];
        assert!(
            ledger::post("x", &single)
                .unwrap_err()
                .message()
                .contains("two entries")
        );
        assert_eq!(host.ledger_postings().len(), 1);
    }

    #[test]
    fn order_actions_follow_the_state_machine() {
        let host = MockHost::install();
        let mut o = order("o1", Some("m1"), &[cart_line(0, "p", 1, 100)]);
        o.payment_status = PaymentStatus::Paid;
        o.paid_amount = 100;
        o.status = OrderStatus::ToShip;
        host.add_order(o);
        orders::hold("o1").unwrap();
        assert_eq!(
            shop::order("o1").unwrap().status,
            OrderStatus::AwaitingConfirmation
        );
        orders::confirm("o1").unwrap();
        // Confirming again is a no-op, as on the host.
        orders::confirm("o1").unwrap();
        assert_eq!(shop::order("o1").unwrap().status, OrderStatus::ToShip);
        orders::cancel("o1", "group failed").unwrap();
        assert_eq!(orders::confirm("o1").unwrap_err().kind(), "conflict");
        let o = host.order("o1").unwrap();
        assert_eq!(
            (o.status, o.refund_state, o.refunded_amount),
            (OrderStatus::Closed, RefundState::Full, 100)
        );
        assert_eq!(orders::hold("nope").unwrap_err().kind(), "not-found");
        assert_eq!(host.order_actions().len(), 4);
    }

    #[test]
    fn timers_logs_fixtures_and_rollback() {
        let host = MockHost::install();
        timers::schedule("b", DEFAULT_NOW + 10, b"2");
        timers::schedule("a", DEFAULT_NOW + 5, b"1");
        timers::schedule("b", DEFAULT_NOW + 20, b"3");
        assert_eq!(
            host.timers()
                .iter()
                .map(|t| t.at - DEFAULT_NOW)
                .collect::<Vec<_>>(),
            [5, 20]
        );
        host.advance(5);
        assert_eq!(host.take_due_timers()[0].name, "a");
        assert!(host.take_due_timers().is_empty());
        assert!(timers::cancel("b") && !timers::cancel("b"));
        log::warn("careful");
        assert_eq!(
            host.logs(),
            [LogRecord {
                level: Level::Warn,
                message: "careful".into()
            }]
        );
        host.add_member(member("m1"));
        host.add_product(product("p1", 990));
        assert_eq!(shop::member("m1").unwrap().joined_at, DEFAULT_NOW + 5);
        assert_eq!(shop::product("p1").unwrap().skus[0].price, 990);
        let r = host.atomic(|| {
            timers::schedule("x", 0, b"");
            crate::state::set("k", b"v");
            Err::<(), _>(PluginError::refused("no"))
        });
        assert!(r.is_err() && host.timers().is_empty() && host.state_snapshot().is_empty());
        host.reset();
        assert!(host.logs().is_empty() && shop::member("m1").is_none());
    }
}
