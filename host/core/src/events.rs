//! The outbox and the timers. Events are written with the change that caused them, one
//! delivery per subscribed plugin; a delivery's effects commit with its "delivered" mark,
//! so each takes effect once per plugin. A failing delivery is retried with backoff and,
//! after the last attempt, left `dead` for the merchant to see and retry — it never undoes
//! the payment that caused it.
//!
//! Held events: every installed plugin subscribed to an event's kind gets a delivery, also
//! one that does not run now (its version revoked by the operator, or disabled by the
//! merchant). Such a delivery is *held*: it stays `pending`, uses no attempt, says why in
//! `last_error` (`held: …`), and is looked at again every minute; when the shop moves to a
//! running version (upgrade, rollback, a release or a halted canary moving it) or enables
//! the plugin, its held deliveries are made due at once and delivered in order. Only an
//! uninstalled plugin's deliveries are given up (`dead`).

use crate::plugins::{STALE_ATTEMPTS, installed, installed_one, random_seed};
use crate::{CoreError, Op, Platform, Result};
use baseplate_domain::EventId;
use baseplate_marketplace::EventKind;
use baseplate_runtime::{Event, Hook};
use baseplate_store::orders::Order;
use baseplate_store::payments::Refund;
use baseplate_store::state::Usage;
use baseplate_store::{events, shops, state};
use serde::Deserialize;

#[derive(Deserialize)]
struct Payload {
    order: Option<Order>,
    refund: Option<Refund>,
    member: Option<baseplate_store::members::Member>,
}

fn to_event(kind: &str, payload: &str) -> Result<Event> {
    let p: Payload = serde_json::from_str(payload)
        .map_err(|e| CoreError::Internal(format!("event payload: {e}")))?;
    let order = || {
        p.order
            .clone()
            .ok_or_else(|| CoreError::Internal(format!("{kind} without an order")))
    };
    Ok(match kind {
        "order-paid" => Event::OrderPaid(order()?),
        "order-closed" => Event::OrderClosed(order()?),
        "order-confirmed" => Event::OrderConfirmed(order()?),
        "order-completed" => Event::OrderCompleted(order()?),
        "order-refunded" => Event::OrderRefunded(
            order()?,
            p.refund
                .clone()
                .ok_or_else(|| CoreError::Internal("refund event without a refund".into()))?,
        ),
        "member-joined" => Event::MemberJoined(
            p.member
                .clone()
                .ok_or_else(|| CoreError::Internal("member event without a member".into()))?,
        ),
        other => return Err(CoreError::Internal(format!("unknown event kind {other}"))),
    })
}

/// How often a held delivery is looked at again when nothing wakes it.
const HOLD_RECHECK_MS: i64 = 60_000;

/// Deliveries and timers handled per tick, in all and per shop.
const TICK_LIMIT: i64 = 100;
const TICK_PER_SHOP: i64 = 10;

impl Platform {
    /// Writes an event and a delivery for every installed plugin subscribed to its kind —
    /// running or not: a plugin whose version was revoked, or that the merchant disabled,
    /// gets its deliveries held (pending) until it runs again, so no event is lost to it.
    pub(crate) async fn emit(
        &self,
        op: &mut Op<'_>,
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
            .filter(|p| p.manifest.handles_event(ek))
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
        op: &mut Op<'_>,
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
        let pending: Result<Vec<(String, String)>> = self
            .read(|tx| Box::pin(async move { Ok(events::pending_for_event(tx, event_id).await?) }))
            .await;
        for (event, plugin) in pending.unwrap_or_default() {
            if let Err(e) = self.deliver(&event, &plugin).await {
                tracing::warn!(event, plugin, "delivery failed: {e}");
            }
        }
    }

    /// One delivery attempt: the plugin's hook runs on a snapshot, and its effects commit
    /// with the "delivered" mark (or the failure is recorded and retried later). Another
    /// node delivering it meanwhile wins; this attempt then commits nothing.
    pub async fn deliver(&self, event_id: &str, plugin: &str) -> Result<bool> {
        let max = self.settings.max_delivery_attempts;
        let seed = random_seed();
        let now = self.now();
        let mut attempt = 0u32;
        loop {
            let found = self
                .read(|tx| {
                    Box::pin(async move {
                        let Some(d) = events::lock(tx, event_id, plugin).await? else {
                            return Ok(None);
                        };
                        let shop = shops::get(tx, &d.shop_id)
                            .await?
                            .ok_or_else(|| CoreError::Internal("event of a missing shop".into()))?;
                        let p = installed_one(tx, &d.shop_id, plugin).await.ok();
                        Ok(Some((d, shop, p)))
                    })
                })
                .await?;
            let Some((d, shop, p)) = found else {
                return Ok(false);
            };
            let p = match p {
                Some(p) if p.active() => p,
                // Installed but not running (revoked version, or disabled): held, not lost.
                // It stays pending without using an attempt, and is woken when the shop
                // moves to a running version or enables the plugin again.
                Some(p) => {
                    let reason = p.not_running_reason();
                    let reason = &reason;
                    self.write(&d.shop_id, |op| {
                        Box::pin(async move {
                            if events::lock(op.tx(), event_id, plugin).await?.is_some() {
                                let until = op.now + HOLD_RECHECK_MS;
                                events::hold(op.tx(), event_id, plugin, reason, until).await?;
                            }
                            Ok(())
                        })
                    })
                    .await?;
                    return Ok(false);
                }
                // Uninstalled since: the event no longer concerns it.
                None => {
                    self.write(&d.shop_id, |op| {
                        Box::pin(async move {
                            if events::lock(op.tx(), event_id, plugin).await?.is_some() {
                                events::mark_failed(
                                    op.tx(),
                                    event_id,
                                    plugin,
                                    "plugin not installed when delivered",
                                    None,
                                )
                                .await?;
                            }
                            Ok(())
                        })
                    })
                    .await?;
                    return Ok(false);
                }
            };
            let event = to_event(&d.kind, &d.payload)?;
            let _hot = self.hot_guards(&d.shop_id, &[plugin], attempt).await;
            let mut session = self
                .session(&d.shop_id, &shop.currency, vec![p], now, seed)
                .await?;
            session.order_context = event.order_id().map(str::to_string);
            let (session, outcome) = self
                .in_sandbox(session, move |s| s.call(0, Hook::Event(event)))
                .await?;
            let (session, outcome) = (&session, &outcome);
            let written = self
                .write(&d.shop_id, |op| {
                    Box::pin(async move {
                        if events::lock(op.tx(), event_id, plugin).await?.is_none() {
                            return Ok(false);
                        }
                        match &outcome {
                            Ok(_) => {
                                self.commit_effects(op, session.parts[0].overlay.effects())
                                    .await?;
                                let now = op.now;
                                events::mark_delivered(op.tx(), event_id, plugin, now).await?;
                                Ok(true)
                            }
                            Err(f) => {
                                let next = (d.attempts + 1 < max)
                                    .then(|| op.now + 1000 * (1i64 << d.attempts.min(10)));
                                events::mark_failed(op.tx(), event_id, plugin, f.message(), next)
                                    .await?;
                                Ok(false)
                            }
                        }
                    })
                })
                .await;
            self.record_calls(&session.reports).await;
            match written {
                Err(CoreError::Stale(_)) if attempt + 1 < STALE_ATTEMPTS => {
                    attempt += 1;
                    crate::backoff(attempt).await;
                }
                Err(e @ CoreError::PluginRefused { .. }) => {
                    // The effects broke a quota: a failed delivery, retried later.
                    let msg = e.to_string();
                    let msg = &msg;
                    self.write(&d.shop_id, |op| {
                        Box::pin(async move {
                            if events::lock(op.tx(), event_id, plugin).await?.is_some() {
                                let next = (d.attempts + 1 < max)
                                    .then(|| op.now + 1000 * (1i64 << d.attempts.min(10)));
                                events::mark_failed(op.tx(), event_id, plugin, msg, next).await?;
                            }
                            Ok(())
                        })
                    })
                    .await?;
                    return Ok(false);
                }
                other => return other,
            }
        }
    }

    /// One pass of the background work: close expired unpaid orders, deliver due events,
    /// fire due timers (a few of each shop's per pass, shops in turn), write the call
    /// counters. Returns how many things it did.
    pub async fn tick(&self) -> Result<usize> {
        let mut done = self.close_expired_orders().await?;
        let now = self.now();
        let due = self
            .read(|tx| {
                Box::pin(async move { Ok(events::due(tx, now, TICK_PER_SHOP, TICK_LIMIT).await?) })
            })
            .await?;
        for (event, plugin) in due {
            if self.deliver(&event, &plugin).await.unwrap_or(false) {
                done += 1;
            }
        }
        let timers = self
            .read(|tx| {
                Box::pin(
                    async move { Ok(state::due_timers(tx, now, TICK_PER_SHOP, TICK_LIMIT).await?) },
                )
            })
            .await?;
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
        if let Err(e) = self.flush_call_stats().await {
            tracing::warn!("writing plugin call counters failed: {e}");
        }
        if let Ok((events, timers)) = self
            .read(|tx| Box::pin(async move { Ok(events::backlog(tx, now).await?) }))
            .await
        {
            metrics::gauge!("baseplate_outbox_pending").set(events as f64);
            metrics::gauge!("baseplate_timers_due").set(timers as f64);
        }
        Ok(done)
    }

    /// Fires one timer: the hook runs on a snapshot, and its effects commit with the timer's
    /// removal, so it fires once even when two workers (or two nodes) see it due.
    async fn fire(&self, t: &state::Timer) -> Result<bool> {
        let seed = random_seed();
        let now = self.now();
        let mut attempt = 0u32;
        loop {
            let found = self
                .read(|tx| {
                    Box::pin(async move {
                        let Some(t) = state::lock_timer(tx, t, now).await? else {
                            return Ok(None);
                        };
                        let shop = shops::get(tx, &t.shop_id)
                            .await?
                            .ok_or_else(|| CoreError::Internal("timer of a missing shop".into()))?;
                        let p = installed_one(tx, &t.shop_id, &t.plugin).await.ok();
                        Ok(Some((t, shop, p)))
                    })
                })
                .await?;
            let Some((t, shop, p)) = found else {
                return Ok(false);
            };
            let t = &t;
            let p = match p {
                Some(p) if p.active() && p.manifest.hooks.timers => p,
                _ => {
                    // Not active: keep the timer and look again in a minute.
                    self.write(&t.shop_id, |op| {
                        Box::pin(async move {
                            if state::lock_timer(op.tx(), t, now).await?.is_some() {
                                state::retry_timer(op.tx(), t, now + 60_000, "plugin not active")
                                    .await?;
                            }
                            Ok(())
                        })
                    })
                    .await?;
                    return Ok(false);
                }
            };
            let _hot = self.hot_guards(&t.shop_id, &[&t.plugin], attempt).await;
            let session = self
                .session(&t.shop_id, &shop.currency, vec![p], now, seed)
                .await?;
            let hook = Hook::Timer {
                name: t.name.clone(),
                payload: t.payload.clone(),
            };
            let (session, outcome) = self.in_sandbox(session, move |s| s.call(0, hook)).await?;
            let (session, outcome) = (&session, &outcome);
            let written = self
                .write(&t.shop_id, |op| {
                    Box::pin(async move {
                        if state::lock_timer(op.tx(), t, now).await?.is_none() {
                            return Ok(false);
                        }
                        match &outcome {
                            Ok(_) => {
                                self.commit_effects(op, session.parts[0].overlay.effects())
                                    .await?;
                                let gone = state::finish_timer(op.tx(), t).await?;
                                state::add_usage(
                                    op.tx(),
                                    &t.shop_id,
                                    &t.plugin,
                                    Usage {
                                        timers: gone,
                                        ..Usage::default()
                                    },
                                )
                                .await?;
                                Ok(true)
                            }
                            Err(f) => {
                                let next = op.now + 1000 * (1i64 << t.attempts.min(10));
                                state::retry_timer(op.tx(), t, next, f.message()).await?;
                                Ok(false)
                            }
                        }
                    })
                })
                .await;
            self.record_calls(&session.reports).await;
            match written {
                Err(CoreError::Stale(_)) if attempt + 1 < STALE_ATTEMPTS => {
                    attempt += 1;
                    crate::backoff(attempt).await;
                }
                Err(e @ CoreError::PluginRefused { .. }) => {
                    let msg = e.to_string();
                    let msg = &msg;
                    self.write(&t.shop_id, |op| {
                        Box::pin(async move {
                            if state::lock_timer(op.tx(), t, now).await?.is_some() {
                                let next = op.now + 1000 * (1i64 << t.attempts.min(10));
                                state::retry_timer(op.tx(), t, next, msg).await?;
                            }
                            Ok(())
                        })
                    })
                    .await?;
                    return Ok(false);
                }
                other => return other,
            }
        }
    }

    /// The shop's event deliveries (optionally one status), newest first.
    pub async fn deliveries(
        &self,
        shop: &str,
        status: Option<&str>,
        limit: i64,
    ) -> Result<Vec<events::Delivery>> {
        self.read(|tx| Box::pin(async move { Ok(events::list(tx, shop, status, limit).await?) }))
            .await
    }

    /// Puts a dead delivery back in the queue and tries it now.
    pub async fn retry_delivery(&self, shop: &str, event_id: &str, plugin: &str) -> Result<bool> {
        let requeued = self
            .write(shop, |op| {
                Box::pin(async move {
                    let now = op.now;
                    Ok(events::requeue(op.tx(), shop, event_id, plugin, now).await?)
                })
            })
            .await?;
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
        let (mut stats, failures) = self
            .read(|tx| {
                Box::pin(async move {
                    Ok((
                        baseplate_store::plugins::call_stats(tx, shop).await?,
                        baseplate_store::plugins::list_failures(tx, shop, plugin, limit).await?,
                    ))
                })
            })
            .await?;
        // Successes this node counted but has not written yet.
        for (p, hook, calls, us) in self.unflushed_stats(shop) {
            match stats.iter_mut().find(|s| s.plugin == p && s.hook == hook) {
                Some(s) => {
                    s.calls += calls;
                    s.total_us += us;
                }
                None => stats.push(baseplate_store::plugins::CallStats {
                    plugin: p,
                    hook: hook.to_string(),
                    calls,
                    failures: 0,
                    total_us: us,
                }),
            }
        }
        Ok((stats, failures))
    }

    /// What a plugin keeps in the shop, next to its quota.
    pub async fn plugin_usage(
        &self,
        shop: &str,
        plugin: &str,
    ) -> Result<(Usage, baseplate_runtime::Quota)> {
        let usage = self
            .read(|tx| Box::pin(async move { Ok(state::usage(tx, shop, plugin).await?) }))
            .await?;
        Ok((usage, self.runtime.limits().quota))
    }

    /// Records the plugin's calls in this shop for replay, for `ms` from now (at most
    /// seven days), or stops recording (`None`). Returns until when it records.
    pub async fn set_diagnostics(
        &self,
        shop: &str,
        plugin: &str,
        ms: Option<i64>,
    ) -> Result<Option<i64>> {
        if let Some(ms) = ms
            && !(1..=crate::plugins::DIAGNOSTICS_MAX_MS).contains(&ms)
        {
            return Err(CoreError::Invalid(format!(
                "diagnostics can stay on from 1 ms to {} hours",
                crate::plugins::DIAGNOSTICS_MAX_MS / 3_600_000
            )));
        }
        self.write(shop, |op| {
            Box::pin(async move {
                let until = ms.map(|ms| op.now + ms);
                if !baseplate_store::plugins::set_diagnostics(op.tx(), shop, plugin, until).await? {
                    return Err(CoreError::NotFound(format!(
                        "plugin {plugin} is not installed"
                    )));
                }
                Ok(until)
            })
        })
        .await
    }

    /// The plugin's recorded calls in this shop, newest first.
    pub async fn list_runs(
        &self,
        shop: &str,
        plugin: &str,
        limit: i64,
    ) -> Result<Vec<baseplate_store::plugins::RunSummary>> {
        self.read(|tx| {
            Box::pin(async move {
                Ok(baseplate_store::plugins::list_runs(tx, shop, plugin, limit).await?)
            })
        })
        .await
    }

    /// One recorded call with its record.
    pub async fn get_run(
        &self,
        shop: &str,
        plugin: &str,
        id: i64,
    ) -> Result<(baseplate_store::plugins::RunSummary, serde_json::Value)> {
        let (run, text) = self
            .read(|tx| {
                Box::pin(async move {
                    Ok(baseplate_store::plugins::get_run(tx, shop, plugin, id).await?)
                })
            })
            .await?
            .ok_or_else(|| {
                CoreError::NotFound(format!("no recorded call {id} of {plugin} in this shop"))
            })?;
        let record = serde_json::from_str(&text)
            .map_err(|e| CoreError::Internal(format!("recorded call {id}: {e}")))?;
        Ok((run, record))
    }
}
