//! Committing what a plugin did during an operation (`baseplate_runtime::Effects`) in the
//! operation's write: first check that every read the plugin's decisions rest on still
//! holds — each state key at the version it saw, each scan page, timer, order version,
//! balance and points balance — then apply its state writes, timers, points, ledger
//! postings and order actions, and check the shop's quotas. A stale read makes the write
//! fail with `CoreError::Stale`, and the operation runs again from its reads.
//!
//! On PostgreSQL the (shop, plugin) lock is taken first, for this short write only, so no
//! other node's commit for the same plugin and shop can fall between check and apply.

use crate::{CoreError, Op, Platform, Result};
use baseplate_domain::{CloseReason, Posting};
use baseplate_runtime::{Effects, OrderAction, Quota};
use baseplate_store::members::{self, PointsEntry};
use baseplate_store::state::{self, Usage};
use baseplate_store::{Tx, ledger, orders};

fn stale(what: String) -> CoreError {
    CoreError::Stale(what)
}

/// A fresh random version for a written key.
fn new_version() -> i64 {
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).expect("the OS provides randomness");
    // Never 0 (absent) and never negative, so versions read well in a debugger.
    (i64::from_le_bytes(b) & i64::MAX).max(1)
}

impl Platform {
    /// Whether every read of the session's calls still holds, checked on one snapshot: a
    /// plugin's refusal is only an answer if what it read was one consistent state (its
    /// reads happen one by one, each on a fresh snapshot).
    pub(crate) async fn reads_hold(&self, session: &crate::dispatch::Session) -> Result<bool> {
        if session.parts.iter().all(|p| p.overlay.effects().is_empty()) {
            return Ok(true);
        }
        let held = self
            .read(|tx| {
                Box::pin(async move {
                    for p in &session.parts {
                        match check_reads(tx, p.overlay.effects()).await {
                            Ok(()) => {}
                            Err(CoreError::Stale(_)) => return Ok(false),
                            Err(e) => return Err(e),
                        }
                    }
                    Ok(true)
                })
            })
            .await?;
        Ok(held)
    }

    /// Checks and applies one plugin's effects in `op`.
    pub(crate) async fn commit_effects(&self, op: &mut Op<'_>, e: &Effects) -> Result<()> {
        if e.is_empty() {
            return Ok(());
        }
        let (shop, plugin) = (e.shop.as_str(), e.plugin.as_str());
        op.tx().lock_plugins(shop, &[plugin]).await?;
        check_reads(op.tx(), e).await?;
        if e.writes_nothing() {
            return Ok(());
        }
        let mut usage = Usage::default();
        for (key, value) in &e.state_writes {
            let (keys, bytes) = match value {
                Some(v) => state::put(op.tx(), shop, plugin, key, v, new_version()).await?,
                None => state::remove(op.tx(), shop, plugin, key).await?,
            };
            usage.state_keys += keys;
            usage.state_bytes += bytes;
        }
        for (name, t) in &e.timers {
            usage.timers += match t {
                Some((at, payload)) => {
                    state::schedule_timer(op.tx(), shop, plugin, name, *at, payload).await?
                }
                None => -(state::cancel_timer(op.tx(), shop, plugin, name).await? as i64),
            };
        }
        let now_usage = state::add_usage(op.tx(), shop, plugin, usage).await?;
        check_quota(&self.runtime.limits().quota, plugin, &now_usage, &usage)?;
        for p in &e.points {
            let mut entry = PointsEntry {
                id: p.id.clone(),
                member_id: p.member_id.clone(),
                delta: p.delta,
                balance: 0,
                reason: p.reason.clone(),
                source: format!("plugin:{plugin}"),
                reference: p.reference.clone(),
                created_at: op.now,
            };
            if members::adjust_points(op.tx(), shop, &mut entry)
                .await?
                .is_none()
            {
                return Err(stale(format!("member {}'s points changed", p.member_id)));
            }
        }
        for p in &e.postings {
            let posting = Posting::new(p.memo.clone(), p.entries.clone())
                .map_err(|err| CoreError::Internal(format!("a checked posting: {err}")))?;
            let now = op.now;
            ledger::post(
                op.tx(),
                shop,
                &p.id,
                &format!("plugin:{plugin}"),
                p.order_id.as_deref(),
                &posting,
                now,
            )
            .await?;
        }
        for action in &e.actions {
            self.apply_order_action(op, shop, plugin, action.clone())
                .await?;
        }
        Ok(())
    }

    /// Applies an order action a plugin asked for, in the same operation.
    pub(crate) async fn apply_order_action(
        &self,
        op: &mut Op<'_>,
        shop: &str,
        plugin: &str,
        action: OrderAction,
    ) -> Result<()> {
        match action {
            OrderAction::Hold { order_id } => self.hold_order(op, shop, &order_id).await,
            OrderAction::Confirm { order_id } => self.confirm_order(op, shop, &order_id).await,
            OrderAction::Cancel { order_id, reason } => {
                let reason = CloseReason::Plugin {
                    plugin: plugin.to_string(),
                    reason,
                };
                self.cancel_order_in(op, shop, &order_id, reason).await
            }
        }
    }
}

/// Fails with `Stale` unless every read the plugin's call rests on still holds in `tx`.
async fn check_reads(tx: &mut Tx, e: &Effects) -> Result<()> {
    let (shop, plugin) = (e.shop.as_str(), e.plugin.as_str());
    if !e.state_reads.is_empty() {
        let keys: Vec<&str> = e.state_reads.keys().map(String::as_str).collect();
        let now = state::versions(tx, shop, plugin, &keys).await?;
        for ((key, seen), current) in e.state_reads.iter().zip(now) {
            if *seen != current {
                return Err(stale(format!("{plugin} state key {key:?} changed")));
            }
        }
    }
    for s in &e.scans {
        let rows = state::scan(
            tx,
            shop,
            plugin,
            &s.prefix,
            s.start_after.as_deref(),
            s.limit as i64,
        )
        .await?;
        let now: Vec<(&str, i64)> = rows.iter().map(|(k, v)| (k.as_str(), v.version)).collect();
        let seen: Vec<(&str, i64)> = s.rows.iter().map(|(k, v)| (k.as_str(), *v)).collect();
        if now != seen {
            return Err(stale(format!(
                "{plugin} state under {:?} changed",
                s.prefix
            )));
        }
    }
    for (name, seen) in &e.timer_reads {
        if state::timer_due(tx, shop, plugin, name).await? != *seen {
            return Err(stale(format!("{plugin} timer {name:?} changed")));
        }
    }
    for (id, seen) in &e.order_reads {
        if orders::version(tx, shop, id).await? != Some(*seen) {
            return Err(stale(format!("order {id} changed")));
        }
    }
    for b in &e.balance_reads {
        let now = ledger::balance(tx, shop, &b.party, &b.account, b.now).await?;
        if now != b.seen {
            return Err(stale(format!("the balance of {:?} changed", b.party)));
        }
    }
    for (member, seen) in &e.points_reads {
        let now = members::get(tx, shop, member).await?.map(|m| m.points);
        if now != Some(*seen) {
            return Err(stale(format!("member {member}'s points changed")));
        }
    }
    Ok(())
}

/// Refuses a commit that takes the plugin past a quota — unless the commit shrank that
/// measure (a plugin over quota, e.g. after the quota was lowered, may still clean up).
fn check_quota(q: &Quota, plugin: &str, now: &Usage, delta: &Usage) -> Result<()> {
    let over = |what: &str, have: i64, max: i64, grew: i64| {
        if have > max && grew > 0 {
            Err(CoreError::PluginRefused {
                plugin: plugin.to_string(),
                code: "refused",
                message: format!(
                    "{what} quota: this plugin may keep {max} in this shop; the change would make {have}"
                ),
            })
        } else {
            Ok(())
        }
    };
    over("state keys", now.state_keys, q.state_keys, delta.state_keys)?;
    over(
        "state bytes",
        now.state_bytes,
        q.state_bytes,
        delta.state_bytes,
    )?;
    over("pending timers", now.timers, q.timers, delta.timers)?;
    Ok(())
}
