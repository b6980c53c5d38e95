//! Payments through the built-in sandbox provider, which behaves like a real one: payment
//! intents, callbacks signed with HMAC-SHA256 over `timestamp.body`, rejected when forged or
//! older than five minutes, applied at most once however often they arrive, amount checked;
//! a payment for a closed order is refunded automatically. Refunds are idempotent by the
//! caller's refund id and never exceed what was paid, per line and in total. Every money
//! movement is a balanced ledger posting.

use crate::{CoreError, Op, Platform, Result};
use baseplate_domain::{
    CloseReason, Money, OrderStatus, Party, PaymentDecision, PaymentId, PaymentStatus, Posting,
    PostingId, apportion,
};
use baseplate_store::orders::{self, Order};
use baseplate_store::payments::{self, Payment, Refund, RefundLine};
use baseplate_store::{catalog, ledger, members};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};

/// Callbacks older (or newer) than this are refused, so a captured one can't be replayed later.
pub const CALLBACK_TOLERANCE_SECS: i64 = 300;

/// What the sandbox provider POSTs to the platform.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Notification {
    /// The provider's event id: applying is idempotent by it.
    pub id: String,
    /// `payment.succeeded` or `payment.failed`.
    #[serde(rename = "type")]
    pub kind: String,
    pub payment_id: String,
    pub amount: i64,
    pub currency: String,
}

/// What happened to a callback.
#[derive(Clone, Debug, Serialize)]
pub struct CallbackOutcome {
    /// applied | duplicate | refunded_order_closed | ignored
    pub result: String,
    pub order_id: Option<String>,
}

pub struct RefundRequest {
    pub id: String,
    /// Either an amount spread over the lines by what is left on each, or explicit lines.
    pub amount: Option<i64>,
    pub lines: Vec<RefundLine>,
    pub reason: String,
}

/// `v1=<hex hmac-sha256(secret, "<timestamp>.<body>")>`.
pub fn sign_callback(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("hmac takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn verify_signature(secret: &str, timestamp: i64, body: &[u8], header: &str) -> bool {
    let Some(sig) = header.strip_prefix("v1=").and_then(|h| hex::decode(h).ok()) else {
        return false;
    };
    let mut mac =
        Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("hmac takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.verify_slice(&sig).is_ok()
}

impl Platform {
    /// A payment intent for the order's payable amount.
    pub async fn create_payment(&self, shop: &str, order_id: &str) -> Result<Payment> {
        self.write(shop, |op| {
            Box::pin(async move {
                let order = orders::get(op.tx(), shop, order_id, true)
                    .await?
                    .ok_or_else(|| CoreError::NotFound(format!("order {order_id} not found")))?;
                if order.status != OrderStatus::PendingPayment
                    || order.payment_status != PaymentStatus::Unpaid
                {
                    return Err(CoreError::Conflict(format!(
                        "order {order_id} is {}, not awaiting payment",
                        order.status.as_str()
                    )));
                }
                if order.payable_amount <= 0 {
                    return Err(CoreError::Conflict("the order has nothing to pay".into()));
                }
                let r = op.random10();
                let p = Payment {
                    id: PaymentId::generate(op.now, r).0,
                    shop_id: shop.into(),
                    order_id: order_id.into(),
                    amount: order.payable_amount,
                    currency: order.currency.clone(),
                    status: "pending".into(),
                    created_at: op.now,
                    settled_at: None,
                };
                payments::insert(op.tx(), &p).await?;
                Ok(p)
            })
        })
        .await
    }

    pub async fn get_payment(&self, shop: &str, id: &str) -> Result<Payment> {
        self.read(|tx| {
            Box::pin(async move {
                payments::get(tx, id, false)
                    .await?
                    .filter(|p| p.shop_id == shop)
                    .ok_or_else(|| CoreError::NotFound(format!("payment {id} not found")))
            })
        })
        .await
    }

    /// The sandbox provider's side: the buyer paid; the provider signs a notification as a
    /// real one would. Returns (timestamp, signature, body) for the callback endpoint.
    pub async fn sandbox_pay(
        &self,
        shop: &str,
        payment_id: &str,
        payer: Option<&str>,
    ) -> Result<(i64, String, Vec<u8>)> {
        let p = self.get_payment(shop, payment_id).await?;
        if let Some(member) = payer {
            let order = self.get_order(shop, &p.order_id).await?;
            if order.member_id.as_deref() != Some(member) {
                return Err(CoreError::NotFound(format!(
                    "payment {payment_id} not found"
                )));
            }
        }
        let mut r = [0u8; 8];
        getrandom::fill(&mut r).expect("the OS provides randomness");
        let n = Notification {
            id: format!("evt_{}", hex::encode(r)),
            kind: "payment.succeeded".into(),
            payment_id: p.id,
            amount: p.amount,
            currency: p.currency,
        };
        let body = serde_json::to_vec(&n).map_err(|e| CoreError::Internal(e.to_string()))?;
        let ts = self.now() / 1000;
        Ok((
            ts,
            sign_callback(&self.settings.payment_secret, ts, &body),
            body,
        ))
    }

    /// Verifies and applies a provider callback.
    pub async fn payment_callback(
        &self,
        timestamp: &str,
        signature: &str,
        body: &[u8],
    ) -> Result<CallbackOutcome> {
        let ts: i64 = timestamp
            .trim()
            .parse()
            .map_err(|_| CoreError::Invalid("Sandbox-Timestamp must be unix seconds".into()))?;
        if !verify_signature(&self.settings.payment_secret, ts, body, signature.trim()) {
            return Err(CoreError::Forbidden(
                "callback signature does not verify".into(),
            ));
        }
        if (self.now() / 1000 - ts).abs() > CALLBACK_TOLERANCE_SECS {
            return Err(CoreError::Forbidden(format!(
                "callback timestamp is more than {CALLBACK_TOLERANCE_SECS} s from now; refusing a replay"
            )));
        }
        let n: Notification = serde_json::from_slice(body)
            .map_err(|e| CoreError::Invalid(format!("callback body: {e}")))?;
        let n = &n;
        self.write("", |op| {
            Box::pin(async move {
                // Lock the payment first: a concurrent duplicate waits here, then finds the first
                // one's notification row below and changes nothing.
                let p = payments::get(op.tx(), &n.payment_id, true)
                    .await?
                    .ok_or_else(|| {
                        CoreError::NotFound(format!("payment {} not found", n.payment_id))
                    })?;
                if let Some(outcome) = payments::notification_outcome(op.tx(), &n.id).await? {
                    return Ok(CallbackOutcome {
                        result: if outcome == "applied" {
                            "duplicate".into()
                        } else {
                            outcome
                        },
                        order_id: Some(p.order_id.clone()),
                    });
                }
                if n.amount != p.amount || n.currency != p.currency {
                    return Err(CoreError::Invalid(format!(
                        "callback amount {} {} does not match the payment's {} {}",
                        n.amount, n.currency, p.amount, p.currency
                    )));
                }
                let result = match (n.kind.as_str(), p.status.as_str()) {
                    // A success after a failure (out of order, or the buyer retried at the
                    // provider) is money received: apply it, or refund it if the order closed.
                    ("payment.succeeded", "pending" | "failed") => {
                        self.apply_payment(op, &p).await?
                    }
                    ("payment.failed", "pending") => {
                        let now = op.now;
                        payments::set_status(op.tx(), &p.id, "failed", Some(now)).await?;
                        "failed".to_string()
                    }
                    // Late or out-of-order news about a payment that already settled.
                    ("payment.succeeded" | "payment.failed", _) => "ignored".to_string(),
                    (other, _) => {
                        return Err(CoreError::Invalid(format!(
                            "unknown callback type {other:?}"
                        )));
                    }
                };
                let recorded = if result == "duplicate" {
                    "applied"
                } else {
                    result.as_str()
                };
                let now = op.now;
                payments::record_notification(op.tx(), &n.id, &p.id, &n.kind, recorded, now)
                    .await?;
                Ok(CallbackOutcome {
                    result,
                    order_id: Some(p.order_id.clone()),
                })
            })
        })
        .await
    }

    async fn apply_payment(&self, op: &mut Op<'_>, p: &Payment) -> Result<String> {
        let shop = p.shop_id.clone();
        let mut order = orders::get(op.tx(), &shop, &p.order_id, true)
            .await?
            .ok_or_else(|| CoreError::Internal("payment for a missing order".into()))?;
        let money_in = Posting::transfer(
            "payment received",
            (Party::External, "payments"),
            (Party::Shop, "sales"),
            Money(p.amount),
            None,
        )
        .map_err(|e| CoreError::Internal(e.to_string()))?;
        self.post(op, &shop, Some(&order.id), &money_in).await?;
        match order.state().decide_payment(Money(p.amount)) {
            Ok(PaymentDecision::Apply { status }) => {
                order.status = status;
                order.payment_status = PaymentStatus::Paid;
                order.paid_amount = p.amount;
                order.paid_at = Some(op.now);
                orders::update_state(op.tx(), &order).await?;
                let now = op.now;
                payments::set_status(op.tx(), &p.id, "succeeded", Some(now)).await?;
                if let Some(m) = &order.member_id {
                    members::count_paid_order(op.tx(), &shop, m).await?;
                }
                self.emit_order(op, &order, "order-paid", None).await?;
                Ok("applied".into())
            }
            Ok(PaymentDecision::RefundClosedOrder) | Err(_) => {
                // The order closed (or was already paid by another intent) before this money
                // arrived: keep nothing, send it back.
                let back = Posting::transfer(
                    "payment refunded: order not payable",
                    (Party::Shop, "sales"),
                    (Party::External, "payments"),
                    Money(p.amount),
                    None,
                )
                .map_err(|e| CoreError::Internal(e.to_string()))?;
                self.post(op, &shop, Some(&order.id), &back).await?;
                let now = op.now;
                payments::set_status(op.tx(), &p.id, "refunded_order_closed", Some(now)).await?;
                Ok("refunded_order_closed".into())
            }
        }
    }

    pub(crate) async fn post(
        &self,
        op: &mut Op<'_>,
        shop: &str,
        order: Option<&str>,
        p: &Posting,
    ) -> Result<()> {
        let r = op.random10();
        let id = PostingId::generate(op.now, r).0;
        let now = op.now;
        ledger::post(op.tx(), shop, &id, "core", order, p, now).await?;
        Ok(())
    }

    /// A refund, idempotent by `req.id`: the same id and body returns the first refund; the
    /// same id with a different body is refused.
    pub async fn refund(&self, shop: &str, order_id: &str, req: RefundRequest) -> Result<Refund> {
        if req.id.is_empty() || req.id.len() > 64 {
            return Err(CoreError::Invalid(
                "refund id must be 1..=64 characters".into(),
            ));
        }
        if req.reason.chars().count() > 200 {
            return Err(CoreError::Invalid(
                "reason is at most 200 characters".into(),
            ));
        }
        if req.amount.is_some() != req.lines.is_empty() {
            return Err(CoreError::Invalid(
                "give either amount or lines (each {line_id, amount}), not both".into(),
            ));
        }
        if req.amount.is_some_and(|a| a <= 0) || req.lines.iter().any(|l| l.amount <= 0) {
            return Err(CoreError::Invalid("refund amounts must be positive".into()));
        }
        let hash = format!(
            "{}|{:?}|{:?}|{}",
            order_id, req.amount, req.lines, req.reason
        );
        let req = &req;
        let hash = &hash;
        self.write(shop, |op| {
            Box::pin(async move {
                // Lock the order first so a concurrent retry of this refund id waits, then finds it.
                orders::get(op.tx(), shop, order_id, true)
                    .await?
                    .ok_or_else(|| CoreError::NotFound(format!("order {order_id} not found")))?;
                if let Some(prev) = payments::get_refund(op.tx(), shop, &req.id).await? {
                    if prev.request_hash != *hash {
                        return Err(CoreError::Conflict(format!(
                            "refund id {:?} was already used for a different refund",
                            req.id
                        )));
                    }
                    return Ok(prev);
                }
                self.refund_in(op, shop, order_id, req, hash).await
            })
        })
        .await
    }

    async fn refund_in(
        &self,
        op: &mut Op<'_>,
        shop: &str,
        order_id: &str,
        req: &RefundRequest,
        hash: &str,
    ) -> Result<Refund> {
        let mut order = orders::get(op.tx(), shop, order_id, true)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("order {order_id} not found")))?;
        let lines: Vec<RefundLine> = match req.amount {
            Some(amount) => {
                let left: Vec<i64> = order
                    .lines
                    .iter()
                    .map(|l| l.final_amount - l.refunded_amount)
                    .collect();
                let total_left: i64 = left.iter().sum();
                if amount > total_left {
                    return Err(CoreError::Conflict(format!(
                        "refund of {amount} exceeds the refundable {total_left}"
                    )));
                }
                apportion(amount, &left)
                    .into_iter()
                    .zip(&order.lines)
                    .filter(|(a, _)| *a > 0)
                    .map(|(a, l)| RefundLine {
                        line_id: l.id.clone(),
                        amount: a,
                    })
                    .collect()
            }
            None => req.lines.clone(),
        };
        let mut total = 0i64;
        for rl in &lines {
            let line = order
                .lines
                .iter_mut()
                .find(|l| l.id == rl.line_id)
                .ok_or_else(|| {
                    CoreError::NotFound(format!("line {} is not in order {order_id}", rl.line_id))
                })?;
            let left = line.final_amount - line.refunded_amount;
            if rl.amount > left {
                return Err(CoreError::Conflict(format!(
                    "refund of {} on line {} exceeds its refundable {left}",
                    rl.amount, rl.line_id
                )));
            }
            line.refunded_amount += rl.amount;
            total = total
                .checked_add(rl.amount)
                .ok_or_else(|| CoreError::Invalid("amount overflow".into()))?;
        }
        let mut state = order.state();
        let (refund_state, closes) = state.apply_refund(Money(total))?;
        let was = order.status;
        order.refund_state = refund_state;
        order.refunded_amount = state.refunded.0;
        order.status = state.status;
        if closes {
            order
                .close_reason
                .get_or_insert_with(|| CloseReason::Refunded.to_db());
            order.closed_at = Some(op.now);
            if matches!(was, OrderStatus::ToShip | OrderStatus::AwaitingConfirmation) {
                for l in &order.lines {
                    catalog::return_stock(op.tx(), shop, &l.sku_id, l.quantity as i64).await?;
                }
            }
        }
        for rl in &lines {
            orders::add_line_refund(op.tx(), shop, &rl.line_id, rl.amount).await?;
        }
        orders::update_state(op.tx(), &order).await?;
        let refund = Refund {
            id: req.id.clone(),
            shop_id: shop.into(),
            order_id: order_id.into(),
            amount: total,
            lines,
            reason: req.reason.clone(),
            request_hash: hash.to_string(),
            created_at: op.now,
        };
        payments::insert_refund(op.tx(), &refund).await?;
        let out = Posting::transfer(
            format!("refund {}", req.id),
            (Party::Shop, "sales"),
            (Party::External, "payments"),
            Money(total),
            None,
        )
        .map_err(|e| CoreError::Internal(e.to_string()))?;
        self.post(op, shop, Some(order_id), &out).await?;
        self.emit_order(op, &order, "order-refunded", Some(&refund))
            .await?;
        Ok(refund)
    }

    pub async fn list_refunds(&self, shop: &str, order_id: &str) -> Result<Vec<Refund>> {
        self.read(|tx| {
            Box::pin(async move {
                if orders::version(tx, shop, order_id).await?.is_none() {
                    return Err(CoreError::NotFound(format!("order {order_id} not found")));
                }
                Ok(payments::refunds_for_order(tx, shop, order_id).await?)
            })
        })
        .await
    }

    /// Cancels an order: an unpaid one closes and releases its stock and reservations; a
    /// paid one that has not completed is refunded in full.
    pub async fn cancel_order(&self, shop: &str, order_id: &str) -> Result<Order> {
        self.write(shop, |op| {
            Box::pin(async move {
                self.cancel_order_in(op, shop, order_id, CloseReason::Cancelled)
                    .await?;
                orders::get(op.tx(), shop, order_id, false)
                    .await?
                    .ok_or_else(|| CoreError::Internal("order vanished".into()))
            })
        })
        .await
    }

    pub(crate) async fn cancel_order_in(
        &self,
        op: &mut Op<'_>,
        shop: &str,
        order_id: &str,
        reason: CloseReason,
    ) -> Result<()> {
        let order = orders::get(op.tx(), shop, order_id, true)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("order {order_id} not found")))?;
        match (order.status, order.payment_status) {
            (OrderStatus::PendingPayment, PaymentStatus::Unpaid) => {
                self.close_unpaid(op, order, reason).await
            }
            (OrderStatus::Closed, _) => Ok(()),
            (OrderStatus::Completed, _) => Err(CoreError::Conflict(format!(
                "order {order_id} is completed; use a refund instead"
            ))),
            (_, PaymentStatus::Paid) => {
                let left = order.paid_amount - order.refunded_amount;
                let reason_text = reason.to_db();
                // Fixed id: a retried cancel (or a plugin asking twice) refunds once.
                let req = RefundRequest {
                    id: format!("cancel-{order_id}"),
                    amount: Some(left),
                    lines: Vec::new(),
                    reason: reason_text.clone(),
                };
                if payments::get_refund(op.tx(), shop, &req.id)
                    .await?
                    .is_some()
                    || left == 0
                {
                    return Ok(());
                }
                let hash = format!("cancel|{order_id}");
                let mut o = orders::get(op.tx(), shop, order_id, true)
                    .await?
                    .expect("locked above");
                o.close_reason = Some(reason_text);
                orders::update_state(op.tx(), &o).await?;
                self.refund_in(op, shop, order_id, &req, &hash)
                    .await
                    .map(|_| ())
            }
            (s, p) => Err(CoreError::Conflict(format!(
                "order {order_id} is {} / {}",
                s.as_str(),
                p.as_str()
            ))),
        }
    }

    async fn close_unpaid(
        &self,
        op: &mut Op<'_>,
        mut order: Order,
        reason: CloseReason,
    ) -> Result<()> {
        order.state().check_close_unpaid()?;
        order.status = OrderStatus::Closed;
        order.close_reason = Some(reason.to_db());
        order.closed_at = Some(op.now);
        orders::update_state(op.tx(), &order).await?;
        for l in &order.lines {
            catalog::return_stock(op.tx(), &order.shop_id, &l.sku_id, l.quantity as i64).await?;
        }
        self.emit_order(op, &order, "order-closed", None).await
    }

    pub(crate) async fn hold_order(
        &self,
        op: &mut Op<'_>,
        shop: &str,
        order_id: &str,
    ) -> Result<()> {
        let mut order = orders::get(op.tx(), shop, order_id, true)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("order {order_id} not found")))?;
        order.hold = true;
        if order.status == OrderStatus::ToShip && order.payment_status == PaymentStatus::Paid {
            order.status = OrderStatus::AwaitingConfirmation;
        }
        orders::update_state(op.tx(), &order).await?;
        Ok(())
    }

    pub(crate) async fn confirm_order(
        &self,
        op: &mut Op<'_>,
        shop: &str,
        order_id: &str,
    ) -> Result<()> {
        let mut order = orders::get(op.tx(), shop, order_id, true)
            .await?
            .ok_or_else(|| CoreError::NotFound(format!("order {order_id} not found")))?;
        match order.status {
            OrderStatus::AwaitingConfirmation => {
                let mut st = order.state();
                st.confirm()?;
                order.status = st.status;
                order.hold = false;
                orders::update_state(op.tx(), &order).await?;
                self.emit_order(op, &order, "order-confirmed", None).await
            }
            OrderStatus::PendingPayment => {
                order.hold = false;
                orders::update_state(op.tx(), &order).await?;
                Ok(())
            }
            _ => Ok(()),
        }
    }

    /// The merchant marks a shipped order completed (the after-sale clock starts).
    pub async fn complete_order(&self, shop: &str, order_id: &str) -> Result<Order> {
        self.write(shop, |op| {
            Box::pin(async move {
                let mut order = orders::get(op.tx(), shop, order_id, true)
                    .await?
                    .ok_or_else(|| CoreError::NotFound(format!("order {order_id} not found")))?;
                if order.status != OrderStatus::ToShip {
                    return Err(CoreError::Conflict(format!(
                        "order {order_id} is {}; only orders to ship can be completed",
                        order.status.as_str()
                    )));
                }
                order.status = OrderStatus::Completed;
                orders::update_state(op.tx(), &order).await?;
                self.emit_order(op, &order, "order-completed", None).await?;
                Ok(order)
            })
        })
        .await
    }

    /// Closes unpaid orders whose payment window has passed; returns how many closed.
    pub async fn close_expired_orders(&self) -> Result<usize> {
        let now = self.now();
        let due = self
            .read(|tx| Box::pin(async move { Ok(orders::expired_unpaid(tx, now, 100).await?) }))
            .await?;
        let mut closed = 0;
        for (shop, id) in due {
            let (shop, id) = (&shop, &id);
            let done = self
                .write(shop, |op| {
                    Box::pin(async move {
                        let Some(order) = orders::get(op.tx(), shop, id, true).await? else {
                            return Ok(false);
                        };
                        if order.status != OrderStatus::PendingPayment || order.expires_at > op.now
                        {
                            return Ok(false);
                        }
                        self.close_unpaid(op, order, CloseReason::PaymentTimeout)
                            .await?;
                        Ok(true)
                    })
                })
                .await;
            match done {
                Ok(true) => closed += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!(shop, order = id, "closing an expired order failed: {e}"),
            }
        }
        Ok(closed)
    }

    /// The shop's ledger, newest first, and the balance check.
    pub async fn ledger(
        &self,
        shop: &str,
        limit: i64,
    ) -> Result<(Vec<ledger::PostingRecord>, i64)> {
        self.read(|tx| {
            Box::pin(async move {
                Ok((
                    ledger::list(tx, shop, limit).await?,
                    ledger::imbalance(tx, shop).await?,
                ))
            })
        })
        .await
    }

    pub async fn balance(&self, shop: &str, party: &Party, account: &str) -> Result<(i64, i64)> {
        self.read(|tx| {
            Box::pin(async move {
                if let Party::Member(m) = party
                    && members::get(tx, shop, m).await?.is_none()
                {
                    return Err(CoreError::NotFound(format!(
                        "member {m} not found in this shop"
                    )));
                }
                let now = self.now();
                Ok(ledger::balance(tx, shop, party, account, now).await?)
            })
        })
        .await
    }
}
