//! What one plugin does during one operation, held in memory: its reads (with the versions
//! they saw) and its effects (state writes, timers, ledger postings, points, order
//! actions). Reads go through to the shop's data once and are then served from here, so a
//! call sees its own writes and the several hooks of one operation share one view.
//!
//! Nothing here touches the database for writing. The platform commits `Effects` in the
//! operation's short write transaction: it checks that every read still holds (the key's
//! version, the order's version, the balance, the scan's page) and applies the effects — or
//! reruns the operation if a read went stale. That keeps invariant 3 (all-or-nothing with
//! the core change, no lost updates) without ever holding the writer across guest code.

use crate::data::{DataError, HostData};
use crate::types::OrderAction;
use baseplate_domain::{LedgerEntry, Party};
use baseplate_store::orders::Order;
use baseplate_store::state::{ABSENT, Entry, Usage};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

/// A scan as the call saw it from the database (before its own writes were merged in).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanRead {
    pub prefix: String,
    pub start_after: Option<String>,
    pub limit: u32,
    /// (key, version) of each row the database gave.
    pub rows: Vec<(String, i64)>,
}

/// A balance the call read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BalanceRead {
    pub party: Party,
    pub account: String,
    pub now: i64,
    pub seen: (i64, i64),
}

/// A ledger posting to book.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PostingIntent {
    pub id: String,
    pub memo: String,
    pub entries: Vec<LedgerEntry>,
    pub order_id: Option<String>,
}

/// A points change to book.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PointsIntent {
    pub id: String,
    pub member_id: String,
    pub delta: i64,
    pub reason: String,
    pub reference: Option<String>,
}

/// A plugin's effects in one operation, and the reads they depend on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    pub shop: String,
    pub plugin: String,
    /// key → version read from the database (`ABSENT` for a key that was not there).
    pub state_reads: BTreeMap<String, i64>,
    pub scans: Vec<ScanRead>,
    /// key → new value (None: deleted).
    pub state_writes: BTreeMap<String, Option<Vec<u8>>>,
    /// timer name → due time read (None: no pending timer).
    pub timer_reads: BTreeMap<String, Option<i64>>,
    /// timer name → Some((due, payload)) scheduled, None cancelled.
    pub timers: BTreeMap<String, Option<(i64, Vec<u8>)>>,
    /// order id → version read.
    pub order_reads: BTreeMap<String, i64>,
    pub balance_reads: Vec<BalanceRead>,
    /// member id → points read (before this operation's changes).
    pub points_reads: BTreeMap<String, i64>,
    pub points: Vec<PointsIntent>,
    pub postings: Vec<PostingIntent>,
    pub actions: Vec<OrderAction>,
}

impl Effects {
    /// Whether committing needs anything beyond checking reads.
    pub fn writes_nothing(&self) -> bool {
        self.state_writes.is_empty()
            && self.timers.is_empty()
            && self.points.is_empty()
            && self.postings.is_empty()
            && self.actions.is_empty()
    }

    /// The writes made since `before` (an earlier copy of these effects): what one call
    /// of an operation did, for its record.
    pub fn since(&self, before: &Effects) -> Effects {
        Effects {
            shop: self.shop.clone(),
            plugin: self.plugin.clone(),
            state_writes: self
                .state_writes
                .iter()
                .filter(|(k, v)| before.state_writes.get(*k) != Some(*v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            timers: self
                .timers
                .iter()
                .filter(|(k, v)| before.timers.get(*k) != Some(*v))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            points: self.points[before.points.len().min(self.points.len())..].to_vec(),
            postings: self.postings[before.postings.len().min(self.postings.len())..].to_vec(),
            actions: self.actions[before.actions.len().min(self.actions.len())..].to_vec(),
            ..Effects::default()
        }
    }

    /// Whether there is anything at all to check or write.
    pub fn is_empty(&self) -> bool {
        self.writes_nothing()
            && self.state_reads.is_empty()
            && self.scans.is_empty()
            && self.timer_reads.is_empty()
            && self.order_reads.is_empty()
            && self.balance_reads.is_empty()
            && self.points_reads.is_empty()
    }
}

/// The write half of `Effects`, to undo a failed call's writes.
#[derive(Clone)]
pub(crate) struct Mark {
    state_writes: BTreeMap<String, Option<Vec<u8>>>,
    timers: BTreeMap<String, Option<(i64, Vec<u8>)>>,
    points: usize,
    postings: usize,
    actions: usize,
}

/// One plugin's view of one shop during one operation.
pub struct Overlay {
    pub(crate) effects: Effects,
    data: Arc<dyn HostData>,
    /// Values read from the database, by key (None: absent).
    cache: BTreeMap<String, Option<Vec<u8>>>,
    /// Usage when the first write was checked against the quota.
    usage: Option<Usage>,
    /// Orders this operation made and the database does not have yet (checkout).
    local_orders: Vec<Order>,
}

impl Overlay {
    pub fn new(shop: &str, plugin: &str, data: Arc<dyn HostData>) -> Overlay {
        Overlay {
            effects: Effects {
                shop: shop.to_string(),
                plugin: plugin.to_string(),
                ..Effects::default()
            },
            data,
            cache: BTreeMap::new(),
            usage: None,
            local_orders: Vec::new(),
        }
    }

    pub fn shop(&self) -> &str {
        &self.effects.shop
    }

    pub fn plugin(&self) -> &str {
        &self.effects.plugin
    }

    /// Lets the calls see an order this operation is creating.
    pub fn add_local_order(&mut self, order: Order) {
        self.local_orders.retain(|o| o.id != order.id);
        self.local_orders.push(order);
    }

    pub fn effects(&self) -> &Effects {
        &self.effects
    }

    pub fn into_effects(self) -> Effects {
        self.effects
    }

    pub(crate) fn data(&self) -> &dyn HostData {
        &*self.data
    }

    pub(crate) fn mark(&self) -> Mark {
        Mark {
            state_writes: self.effects.state_writes.clone(),
            timers: self.effects.timers.clone(),
            points: self.effects.points.len(),
            postings: self.effects.postings.len(),
            actions: self.effects.actions.len(),
        }
    }

    /// Undoes the writes since `mark` (a call that failed); its reads stay recorded.
    pub(crate) fn undo(&mut self, mark: Mark) {
        self.effects.state_writes = mark.state_writes;
        self.effects.timers = mark.timers;
        self.effects.points.truncate(mark.points);
        self.effects.postings.truncate(mark.postings);
        self.effects.actions.truncate(mark.actions);
    }

    // ---- state ----------------------------------------------------------------------

    fn remember(&mut self, key: &str, entry: Option<Entry>) -> Option<Vec<u8>> {
        let version = entry.as_ref().map_or(ABSENT, |e| e.version);
        self.effects
            .state_reads
            .entry(key.to_string())
            .or_insert(version);
        let value = entry.map(|e| e.value);
        self.cache.insert(key.to_string(), value.clone());
        value
    }

    pub(crate) fn get(&mut self, key: &str, until: Instant) -> Result<Option<Vec<u8>>, DataError> {
        if let Some(v) = self.effects.state_writes.get(key) {
            return Ok(v.clone());
        }
        if let Some(v) = self.cache.get(key) {
            return Ok(v.clone());
        }
        let entry = self.data.state_get(key, until)?;
        Ok(self.remember(key, entry))
    }

    pub(crate) fn get_many(
        &mut self,
        keys: &[String],
        until: Instant,
    ) -> Result<Vec<Option<Vec<u8>>>, DataError> {
        let missing: Vec<String> = keys
            .iter()
            .filter(|k| !self.effects.state_writes.contains_key(*k) && !self.cache.contains_key(*k))
            .cloned()
            .collect();
        if !missing.is_empty() {
            let entries = self.data.state_get_many(&missing, until)?;
            for (k, e) in missing.iter().zip(entries) {
                self.remember(k, e);
            }
        }
        keys.iter().map(|k| self.get(k, until)).collect()
    }

    pub(crate) fn set(&mut self, key: &str, value: Vec<u8>) {
        self.effects
            .state_writes
            .insert(key.to_string(), Some(value));
    }

    /// Deletes `key`; whether it was there (a read, recorded).
    pub(crate) fn delete(&mut self, key: &str, until: Instant) -> Result<bool, DataError> {
        let existed = self.get(key, until)?.is_some();
        self.effects.state_writes.insert(key.to_string(), None);
        Ok(existed)
    }

    pub(crate) fn scan(
        &mut self,
        prefix: &str,
        start_after: Option<&str>,
        limit: u32,
        until: Instant,
    ) -> Result<Vec<(String, Vec<u8>)>, DataError> {
        let in_range = |k: &str| k.starts_with(prefix) && start_after.is_none_or(|s| k > s);
        // Keys this operation deleted may hide rows of the page: ask for that many more.
        let hidden = self
            .effects
            .state_writes
            .iter()
            .filter(|(k, v)| v.is_none() && in_range(k))
            .count() as u32;
        let db_limit = limit.saturating_add(hidden);
        let rows = self.data.state_scan(prefix, start_after, db_limit, until)?;
        self.effects.scans.push(ScanRead {
            prefix: prefix.to_string(),
            start_after: start_after.map(str::to_string),
            limit: db_limit,
            rows: rows.iter().map(|(k, e)| (k.clone(), e.version)).collect(),
        });
        let mut merged: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        let complete = rows.len() < db_limit as usize;
        let last = rows.last().map(|(k, _)| k.clone());
        for (k, e) in rows {
            self.cache.entry(k.clone()).or_insert(Some(e.value.clone()));
            merged.insert(k, e.value);
        }
        for (k, v) in &self.effects.state_writes {
            // A written key past the database page's end may belong to a later page.
            let within = complete || last.as_ref().is_some_and(|l| k <= l);
            if in_range(k) && within {
                match v {
                    Some(v) => {
                        merged.insert(k.clone(), v.clone());
                    }
                    None => {
                        merged.remove(k);
                    }
                }
            }
        }
        Ok(merged.into_iter().take(limit as usize).collect())
    }

    /// Usage if the pending writes commit, for the quota check. Exact for keys the call
    /// read; keys written blind are looked up (in one read) only when the estimate comes
    /// near the quota.
    pub(crate) fn projected_usage(
        &mut self,
        quota: &crate::Quota,
        until: Instant,
    ) -> Result<Usage, DataError> {
        let base = match self.usage {
            Some(u) => u,
            None => {
                let u = self.data.usage(until)?;
                self.usage = Some(u);
                u
            }
        };
        let estimate = |me: &Self| {
            let mut u = base;
            for (k, v) in &me.effects.state_writes {
                let old = me.cache.get(k);
                let old_size = match old {
                    Some(Some(old)) => Some((k.len() + old.len()) as i64),
                    Some(None) => None,
                    // Unknown: assume new (over-counts, never under-counts).
                    None => None,
                };
                match (old_size, v) {
                    (Some(o), Some(n)) => u.state_bytes += (k.len() + n.len()) as i64 - o,
                    (Some(o), None) => {
                        u.state_keys -= 1;
                        u.state_bytes -= o;
                    }
                    (None, Some(n)) => {
                        u.state_keys += 1;
                        u.state_bytes += (k.len() + n.len()) as i64;
                    }
                    (None, None) => {}
                }
            }
            for (name, t) in &me.effects.timers {
                let existed = me
                    .effects
                    .timer_reads
                    .get(name)
                    .copied()
                    .flatten()
                    .is_some();
                match (existed, t) {
                    (false, Some(_)) => u.timers += 1,
                    (true, None) => u.timers -= 1,
                    _ => {}
                }
            }
            u
        };
        let u = estimate(self);
        let near = u.state_keys > quota.state_keys
            || u.state_bytes > quota.state_bytes
            || u.timers > quota.timers;
        if !near {
            return Ok(u);
        }
        let blind: Vec<String> = self
            .effects
            .state_writes
            .keys()
            .filter(|k| !self.cache.contains_key(*k))
            .cloned()
            .collect();
        for chunk in blind.chunks(crate::limits::MAX_GET_MANY) {
            let entries = self.data.state_get_many(chunk, until)?;
            for (k, e) in chunk.iter().zip(entries) {
                self.remember(k, e);
            }
        }
        let unknown_timers: Vec<String> = self
            .effects
            .timers
            .keys()
            .filter(|n| !self.effects.timer_reads.contains_key(*n))
            .cloned()
            .collect();
        for name in unknown_timers {
            let due = self.data.timer_due(&name, until)?;
            self.effects.timer_reads.insert(name, due);
        }
        Ok(estimate(self))
    }

    // ---- timers ---------------------------------------------------------------------

    pub(crate) fn schedule(&mut self, name: &str, at: i64, payload: Vec<u8>) {
        self.effects
            .timers
            .insert(name.to_string(), Some((at, payload)));
    }

    /// Cancels a timer; whether one was pending (a read, recorded).
    pub(crate) fn cancel(&mut self, name: &str, until: Instant) -> Result<bool, DataError> {
        let pending = match self.effects.timers.get(name) {
            Some(t) => t.is_some(),
            None => self.timer_due(name, until)?.is_some(),
        };
        self.effects.timers.insert(name.to_string(), None);
        Ok(pending)
    }

    fn timer_due(&mut self, name: &str, until: Instant) -> Result<Option<i64>, DataError> {
        if let Some(d) = self.effects.timer_reads.get(name) {
            return Ok(*d);
        }
        let due = self.data.timer_due(name, until)?;
        self.effects.timer_reads.insert(name.to_string(), due);
        Ok(due)
    }

    // ---- orders, members, balances --------------------------------------------------

    /// An order of the shop as the operation sees it: one it is creating, or the stored
    /// one (its version recorded, so a decision taken on it commits only if it held).
    pub(crate) fn order(&mut self, id: &str, until: Instant) -> Result<Option<Order>, DataError> {
        if let Some(o) = self.local_orders.iter().find(|o| o.id == id) {
            return Ok(Some(o.clone()));
        }
        let order = self.data.order(id, until)?;
        if let Some(o) = &order {
            self.effects
                .order_reads
                .entry(id.to_string())
                .or_insert(o.version);
        }
        Ok(order)
    }

    pub(crate) fn balance(
        &mut self,
        party: &Party,
        account: &str,
        now: i64,
        until: Instant,
    ) -> Result<(i64, i64), DataError> {
        let seen = self.data.balance(party, account, now, until)?;
        // This operation's own postings count too.
        let own: i64 = self
            .effects
            .postings
            .iter()
            .flat_map(|p| &p.entries)
            .filter(|e| &e.party == party && e.account == account)
            .map(|e| e.amount.0)
            .sum();
        let own_available: i64 = self
            .effects
            .postings
            .iter()
            .flat_map(|p| &p.entries)
            .filter(|e| &e.party == party && e.account == account)
            .filter(|e| e.available_at.is_none_or(|t| t <= now))
            .map(|e| e.amount.0)
            .sum();
        self.effects.balance_reads.push(BalanceRead {
            party: party.clone(),
            account: account.to_string(),
            now,
            seen,
        });
        Ok((
            seen.0.saturating_add(own),
            seen.1.saturating_add(own_available),
        ))
    }

    /// A member's points now, counting this operation's changes (None: no such member).
    pub(crate) fn points(
        &mut self,
        member: &str,
        until: Instant,
    ) -> Result<Option<i64>, DataError> {
        let base = match self.effects.points_reads.get(member) {
            Some(p) => *p,
            None => match self.data.member(member, until)? {
                Some(m) => {
                    self.effects
                        .points_reads
                        .insert(member.to_string(), m.points);
                    m.points
                }
                None => return Ok(None),
            },
        };
        let own: i64 = self
            .effects
            .points
            .iter()
            .filter(|p| p.member_id == member)
            .map(|p| p.delta)
            .sum();
        Ok(Some(base + own))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Quota;
    use crate::data::MemoryData;
    use std::time::Duration;

    fn until() -> Instant {
        Instant::now() + Duration::from_secs(5)
    }

    fn entry(value: &str, version: i64) -> Entry {
        Entry {
            value: value.as_bytes().to_vec(),
            version,
        }
    }

    fn data(keys: &[(&str, &str, i64)]) -> MemoryData {
        let mut d = MemoryData::default();
        for (k, v, ver) in keys {
            d.state.insert(k.to_string(), entry(v, *ver));
        }
        d
    }

    fn overlay(d: MemoryData) -> Overlay {
        Overlay::new("shop_1", "p", Arc::new(d))
    }

    fn order(id: &str, version: i64) -> Order {
        use baseplate_domain::{OrderStatus, PaymentStatus, RefundState};
        Order {
            id: id.into(),
            shop_id: "shop_1".into(),
            member_id: None,
            status: OrderStatus::PendingPayment,
            payment_status: PaymentStatus::Unpaid,
            refund_state: RefundState::None,
            close_reason: None,
            hold: false,
            currency: "CNY".into(),
            original_amount: 0,
            discount: 0,
            payable_amount: 0,
            paid_amount: 0,
            refunded_amount: 0,
            attributes: vec![],
            plugin_inputs: BTreeMap::new(),
            created_at: 0,
            expires_at: 0,
            paid_at: None,
            closed_at: None,
            lines: vec![],
            version,
        }
    }

    #[test]
    fn reads_record_the_version_they_saw_and_writes_stay_in_memory() {
        let d = data(&[("a", "1", 7)]);
        let mut o = overlay(d.clone());
        assert_eq!(o.get("a", until()).unwrap(), Some(b"1".to_vec()));
        assert_eq!(o.get("missing", until()).unwrap(), None);
        o.set("a", b"2".to_vec());
        // Read-your-writes, and the read keeps the version it first saw.
        assert_eq!(o.get("a", until()).unwrap(), Some(b"2".to_vec()));
        let e = o.effects();
        assert_eq!(e.state_reads.get("a"), Some(&7));
        assert_eq!(e.state_reads.get("missing"), Some(&ABSENT));
        assert_eq!(e.state_writes.get("a"), Some(&Some(b"2".to_vec())));
        // The data behind the overlay is untouched: nothing is written until commit.
        assert_eq!(d.state["a"].value, b"1");
        assert!(!e.writes_nothing());
    }

    #[test]
    fn a_failed_call_is_undone_but_its_reads_stay() {
        let mut o = overlay(data(&[("a", "1", 3)]));
        o.set("kept", b"x".to_vec());
        let mark = o.mark();
        assert_eq!(o.get("a", until()).unwrap(), Some(b"1".to_vec()));
        o.set("a", b"2".to_vec());
        o.schedule("t", 10, vec![]);
        o.undo(mark);
        let e = o.effects();
        assert!(e.state_writes.contains_key("kept"));
        assert!(!e.state_writes.contains_key("a"));
        assert!(e.timers.is_empty());
        assert_eq!(e.state_reads.get("a"), Some(&3));
    }

    #[test]
    fn scans_merge_own_writes_and_hide_own_deletes() {
        let mut o = overlay(data(&[
            ("k/1", "a", 1),
            ("k/2", "b", 1),
            ("k/3", "c", 1),
            ("z", "", 1),
        ]));
        o.delete("k/2", until()).unwrap();
        o.set("k/4", b"d".to_vec());
        o.set("other", b"e".to_vec());
        let page: Vec<String> = o
            .scan("k/", None, 10, until())
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(page, ["k/1", "k/3", "k/4"]);
        // A limited page asks the store for one more row per deleted key in range, so the
        // page is still full.
        let page = o.scan("k/", None, 2, until()).unwrap();
        assert_eq!(page.len(), 2);
        assert_eq!(o.effects().scans.last().unwrap().limit, 3);
    }

    #[test]
    fn a_written_key_past_a_full_page_waits_for_its_page() {
        let mut o = overlay(data(&[("k/1", "a", 1), ("k/2", "b", 1)]));
        o.set("k/9", b"z".to_vec());
        let page: Vec<String> = o
            .scan("k/", None, 2, until())
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(page, ["k/1", "k/2"]);
        let next: Vec<String> = o
            .scan("k/", Some("k/2"), 2, until())
            .unwrap()
            .into_iter()
            .map(|(k, _)| k)
            .collect();
        assert_eq!(next, ["k/9"]);
    }

    #[test]
    fn projected_usage_counts_pending_writes_exactly() {
        let mut d = data(&[("a", "12345", 1)]);
        d.timers.insert("t1".into(), 100);
        let mut o = overlay(d);
        let quota = Quota::default();
        o.get("a", until()).unwrap();
        o.set("a", b"1".to_vec()); // 4 bytes smaller
        o.set("b", b"xy".to_vec()); // a new key: 1 + 2 bytes
        o.cancel("t1", until()).unwrap();
        o.schedule("t2", 5, vec![]);
        o.schedule("t3", 5, vec![]);
        let u = o.projected_usage(&quota, until()).unwrap();
        assert_eq!(u.state_keys, 2);
        assert_eq!(u.state_bytes, (1 + 5) - 4 + 3);
        assert_eq!(u.timers, 2);
    }

    #[test]
    fn near_the_quota_blind_writes_are_looked_up_before_refusing() {
        // Overwriting an existing key without reading it first must not count as a new
        // key when the shop is exactly at its quota.
        let d = data(&[("a", "1", 1), ("b", "1", 1)]);
        let mut o = overlay(d);
        let quota = Quota {
            state_keys: 2,
            ..Quota::default()
        };
        o.set("a", b"2".to_vec());
        let u = o.projected_usage(&quota, until()).unwrap();
        assert_eq!(u.state_keys, 2);
        assert_eq!(o.effects().state_reads.get("a"), Some(&1));
        o.set("c", b"3".to_vec());
        assert_eq!(o.projected_usage(&quota, until()).unwrap().state_keys, 3);
    }

    #[test]
    fn balances_and_points_count_the_operations_own_changes() {
        let mut d = MemoryData::default();
        let party = Party::Member("m1".into());
        d.balances.push((party.clone(), "commission".into(), 1_000));
        d.members.push(baseplate_store::members::Member {
            id: "m1".into(),
            shop_id: "shop_1".into(),
            name: "m1".into(),
            phone: None,
            level: 1,
            points: 0,
            tags: vec![],
            inviter_id: None,
            paid_orders: 0,
            joined_at: 0,
        });
        let mut o = overlay(d);
        o.effects.postings.push(PostingIntent {
            id: "p".into(),
            memo: "m".into(),
            entries: vec![LedgerEntry {
                party: party.clone(),
                account: "commission".into(),
                amount: baseplate_domain::Money(500),
                available_at: Some(i64::MAX),
            }],
            order_id: None,
        });
        assert_eq!(
            o.balance(&party, "commission", 0, until()).unwrap(),
            (1_500, 1_000)
        );
        assert_eq!(o.effects().balance_reads[0].seen, (1_000, 1_000));
        o.effects.points.push(PointsIntent {
            id: "x".into(),
            member_id: "m1".into(),
            delta: 30,
            reason: "r".into(),
            reference: None,
        });
        assert_eq!(o.points("m1", until()).unwrap(), Some(30));
        assert_eq!(o.points("ghost", until()).unwrap(), None);
    }

    #[test]
    fn orders_being_created_are_visible_and_stored_ones_record_their_version() {
        let mut d = MemoryData::default();
        d.orders.push(order("o_stored", 4));
        let mut o = overlay(d);
        o.add_local_order(order("o_new", 0));
        assert!(o.order("o_new", until()).unwrap().is_some());
        assert!(o.effects().order_reads.is_empty());
        assert!(o.order("o_stored", until()).unwrap().is_some());
        assert_eq!(o.effects().order_reads.get("o_stored"), Some(&4));
    }
}
