//! The outbox and the timers. Events are written with the change that caused them, one
//! delivery per subscribed plugin; a delivery's effects commit with its "delivered" mark,
//! so each takes effect once per plugin. A failing delivery is retried with backoff and,
//! after the last attempt, left `dead` for the merchant to see and retry — it never undoes
//! the payment that caused it.

use crate::plugins::{CallFailure, installed, installed_one};
use crate::{CoreError, Op, Platform, Result, operation};
use baseplate_domain::EventId;
use baseplate_marketplace::EventKind;
use baseplate_runtime::{Hook, member_to_wit, order_to_wit, refund_to_wit, wit};
use baseplate_store::orders::Order;
use baseplate_store::payments::Refund;
use baseplate_store::{events, shops, state};
use serde::Deserialize;

#[derive(Deserialize)]
struct Payload {
    order: Option<Order>,
    refund: Option<Refund>,
    member: Option<baseplate_store::members::Member>,
}

fn to_wit_event(kind: &str, payload: &str) -> Result<wit::Event> {
    let p: Payload = serde_json::from_str(payload)
        .map_err(|e| CoreError::Internal(format!("event payload: {e}")))?;
    let order = || {
        p.order
            .as_ref()
            .map(order_to_wit)
            .ok_or_else(|| CoreError::Internal(format!("{kind} without an order")))
    };
    Ok(match kind {
        "order-paid" => wit::Event::OrderPaid(order()?),
        "order-closed" => wit::Event::OrderClosed(order()?),
        "order-confirmed" => wit::Event::OrderConfirmed(order()?),
        "order-completed" => wit::Event::OrderCompleted(order()?),
        "order-refunded" => wit::Event::OrderRefunded(wit::OrderRefunded {
            order: order()?,
            refund: p
                .refund
                .as_ref()
                .map(refund_to_wit)
                .ok_or_else(|| CoreError::Internal("refund event without a refund".into()))?,
        }),
        "member-joined" => wit::Event::MemberJoined(
            p.member
                .as_ref()
                .map(member_to_wit)
                .ok_or_else(|| CoreError::Internal("member event without a member".into()))?,
        ),
        other => return Err(CoreError::Internal(format!("unknown event kind {other}"))),
    })
}

impl Platform {
    /// Writes an event and a delivery for every active plugin subscribed to its kind.
    pub(crate) async fn emit(
        &self,
        op: &mut Op,
        shop: &str,
        kind: &str,
        payload: String,
    ) -> Result<()> {
        let ek: EventKind = kind
            .parse()
            .map_err(|_| CoreError::Internal(format!("unknown event kind {kind}")))?;
        let subscribers: Vec<String> = installed(op.tx(), shop)
            .await?
            .into_iter()
            .filter(|p| p.active() && p.manifest.handles_event(ek))
            .map(|p| p.installation.plugin)
            .collect();
        let r = op.random10();
        let id = EventId::generate(op.now, r).0;
        let now = op.now;
        events::insert_event(op.tx(), &id, shop, kind, &payload, &subscribers, now).await?;
        if !subscribers.is_empty() {
            op.events.push(id);
        }
        Ok(())
    }

    pub(crate) async fn emit_order(
        &self,
        op: &mut Op,
        order: &Order,
        kind: &str,
        refund: Option<&Refund>,
    ) -> Result<()> {
        let payload = serde_json::json!({ "order": order, "refund": refund }).to_string();
        self.emit(op, &order.shop_id, kind, payload).await
    }

    /// Delivers an event's pending deliveries now (right after the change committed). What
    /// fails here stays pending for the worker.
    pub async fn deliver_event(&self, event_id: &str) {
        let pending: Result<Vec<(String, String)>> = async {
            operation!(self, |op| async {
                Ok(events::pending_for_event(op.tx(), event_id).await?)
            }
            .await)
        }
        .await;
        for (event, plugin) in pending.unwrap_or_default() {
            if let Err(e) = self.deliver(&event, &plugin).await {
                tracing::warn!(event, plugin, "delivery failed: {e}");
            }
        }
    }

    /// One delivery attempt, in one transaction with its effects.
    pub async fn deliver(&self, event_id: &str, plugin: &str) -> Result<bool> {
        let max = self.settings.max_delivery_attempts;
        operation!(self, |op| async {
            let Some(d) = events::lock(op.tx(), event_id, plugin).await? else {
                return Ok(false);
            };
            let shop = shops::get(op.tx(), &d.shop_id)
                .await?
                .ok_or_else(|| CoreError::Internal("event of a missing shop".into()))?;
            let p = match installed_one(op.tx(), &d.shop_id, plugin).await {
                Ok(p) if p.active() => p,
                // Uninstalled or disabled since: the event no longer concerns it.
                _ => {
                    events::mark_failed(
                        op.tx(),
                        event_id,
                        plugin,
                        "plugin not active when delivered",
                        None,
                    )
                    .await?;
                    return Ok(false);
                }
            };
            let event = to_wit_event(&d.kind, &d.payload)?;
            match self
                .call(op, &d.shop_id, &shop.currency, &p, Hook::Event(event))
                .await?
            {
                Ok(_) => {
                    let now = op.now;
                    events::mark_delivered(op.tx(), event_id, plugin, now).await?;
                    Ok(true)
                }
                Err(f) => {
                    let msg = match f {
                        CallFailure::Refused(e) => {
                            baseplate_runtime::plugin_error_message(&e).to_string()
                        }
                        CallFailure::Fault(m) => m,
                    };
                    let next = (d.attempts + 1 < max)
                        .then(|| op.now + 1000 * (1i64 << d.attempts.min(10)));
                    events::mark_failed(op.tx(), event_id, plugin, &msg, next).await?;
                    Ok(false)
                }
            }
        }
        .await)
    }

    /// One pass of the background work: close expired unpaid orders, deliver due events,
    /// fire due timers. Returns how many things it did.
    pub async fn tick(&self) -> Result<usize> {
        let mut done = self.close_expired_orders().await?;
        let now = self.now();
        let due = operation!(self, |op| async {
            Ok(events::due(op.tx(), now, 100).await?)
        }
        .await)?;
        for (event, plugin) in due {
            if self.deliver(&event, &plugin).await.unwrap_or(false) {
                done += 1;
            }
        }
        let timers = operation!(self, |op| async {
            Ok(state::claim_due_timers(op.tx(), now, 100).await?)
        }
        .await)?;
        for t in timers {
            match self.fire(&t).await {
                Ok(true) => done += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!(
                    shop = t.shop_id,
                    plugin = t.plugin,
                    timer = t.name,
                    "timer failed: {e}"
                ),
            }
        }
        Ok(done)
    }

    /// Fires one timer: its effects commit with its removal, so it fires once even when
    /// two workers (or two nodes) see it due.
    async fn fire(&self, t: &state::Timer) -> Result<bool> {
        operation!(self, |op| async {
            let now = op.now;
            let Some(t) = state::lock_timer(op.tx(), t, now).await? else {
                return Ok(false);
            };
            let shop = shops::get(op.tx(), &t.shop_id)
                .await?
                .ok_or_else(|| CoreError::Internal("timer of a missing shop".into()))?;
            let p = match installed_one(op.tx(), &t.shop_id, &t.plugin).await {
                Ok(p) if p.active() && p.manifest.hooks.timers => p,
                _ => {
                    // Not active: keep the timer and look again in a minute.
                    let now = op.now;
                    state::retry_timer(op.tx(), &t, now + 60_000, "plugin not active").await?;
                    return Ok(false);
                }
            };
            let hook = Hook::Timer {
                name: t.name.clone(),
                payload: t.payload.clone(),
            };
            match self.call(op, &t.shop_id, &shop.currency, &p, hook).await? {
                Ok(_) => {
                    state::finish_timer(op.tx(), &t).await?;
                    Ok(true)
                }
                Err(f) => {
                    let msg = match f {
                        CallFailure::Refused(e) => {
                            baseplate_runtime::plugin_error_message(&e).to_string()
                        }
                        CallFailure::Fault(m) => m,
                    };
                    let now = op.now;
                    state::retry_timer(
                        op.tx(),
                        &t,
                        now + 1000 * (1i64 << t.attempts.min(10)),
                        &msg,
                    )
                    .await?;
                    Ok(false)
                }
            }
        }
        .await)
    }

    /// The shop's event deliveries (optionally one status), newest first.
    pub async fn deliveries(
        &self,
        shop: &str,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<events::Delivery>> {
        operation!(self, |op| async {
            Ok(events::list(op.tx(), shop, status, limit).await?)
        }
        .await)
    }

    /// Puts a dead delivery back in the queue and tries it now.
    pub async fn retry_delivery(&self, shop: &str, event_id: &str, plugin: &str) -> Result<bool> {
        let requeued = operation!(self, |op| async {
            let now = op.now;
            Ok(events::requeue(op.tx(), shop, event_id, plugin, now).await?)
        }
        .await)?;
        if !requeued {
            return Err(CoreError::NotFound(format!(
                "no dead delivery of event {event_id} to {plugin}"
            )));
        }
        self.deliver(event_id, plugin).await
    }

    /// Plugin health for the merchant: call counters and recent failures.
    pub async fn plugin_health(
        &self,
        shop: &str,
        plugin: Option<&str>,
        limit: i64,
    ) -> Result<(
        Vec<baseplate_store::plugins::CallStats>,
        Vec<baseplate_store::plugins::Failure>,
    )> {
        operation!(self, |op| async {
            Ok((
                baseplate_store::plugins::call_stats(op.tx(), shop).await?,
                baseplate_store::plugins::list_failures(op.tx(), shop, plugin, limit).await?,
            ))
        }
        .await)
    }
}
