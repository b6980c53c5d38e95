//! The shop's data as a call reads it, behind a trait: the platform implements it over
//! database snapshots (scoped to one shop and one plugin when it builds it, so nothing a
//! plugin passes can reach another shop), and the runtime's unit tests over memory.
//!
//! Reads are short: each is one lookup on a snapshot, never a held transaction, so a guest
//! that stalls holds no database connection. `until` is the call's deadline; an
//! implementation gives up by then.

use baseplate_domain::Party;
use baseplate_store::catalog::{Product, SkuInfo};
use baseplate_store::members::Member;
use baseplate_store::orders::Order;
use baseplate_store::state::{Entry, Usage};
use std::time::Instant;

/// A read that could not be done (the database failed or was too slow).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DataError(pub String);

pub type DataResult<T> = Result<T, DataError>;

/// One shop's data for one plugin's calls.
pub trait HostData: Send + Sync {
    fn state_get(&self, key: &str, until: Instant) -> DataResult<Option<Entry>>;
    fn state_get_many(&self, keys: &[String], until: Instant) -> DataResult<Vec<Option<Entry>>>;
    fn state_scan(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: u32,
        until: Instant,
    ) -> DataResult<Vec<(String, Entry)>>;
    /// The due time of the plugin's pending timer `name`.
    fn timer_due(&self, name: &str, until: Instant) -> DataResult<Option<i64>>;
    /// What the plugin keeps in the shop now.
    fn usage(&self, until: Instant) -> DataResult<Usage>;
    fn order(&self, id: &str, until: Instant) -> DataResult<Option<Order>>;
    fn member(&self, id: &str, until: Instant) -> DataResult<Option<Member>>;
    fn product(&self, id: &str, until: Instant) -> DataResult<Option<Product>>;
    fn sku(&self, id: &str, until: Instant) -> DataResult<Option<SkuInfo>>;
    /// (total, available at `now`).
    fn balance(
        &self,
        party: &Party,
        account: &str,
        now: i64,
        until: Instant,
    ) -> DataResult<(i64, i64)>;
}

/// Data kept in memory: for tests, and for running a hook against fixtures.
#[derive(Default, Clone, Debug)]
pub struct MemoryData {
    pub state: std::collections::BTreeMap<String, Entry>,
    pub timers: std::collections::BTreeMap<String, i64>,
    pub orders: Vec<Order>,
    pub members: Vec<Member>,
    pub products: Vec<Product>,
    pub skus: Vec<SkuInfo>,
    /// (party, account) → total; all available.
    pub balances: Vec<(Party, String, i64)>,
}

impl HostData for MemoryData {
    fn state_get(&self, key: &str, _: Instant) -> DataResult<Option<Entry>> {
        Ok(self.state.get(key).cloned())
    }

    fn state_get_many(&self, keys: &[String], _: Instant) -> DataResult<Vec<Option<Entry>>> {
        Ok(keys.iter().map(|k| self.state.get(k).cloned()).collect())
    }

    fn state_scan(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: u32,
        _: Instant,
    ) -> DataResult<Vec<(String, Entry)>> {
        Ok(self
            .state
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .filter(|(k, _)| start_after.is_none_or(|s| k.as_str() > s))
            .take(limit as usize)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect())
    }

    fn timer_due(&self, name: &str, _: Instant) -> DataResult<Option<i64>> {
        Ok(self.timers.get(name).copied())
    }

    fn usage(&self, _: Instant) -> DataResult<Usage> {
        Ok(Usage {
            state_keys: self.state.len() as i64,
            state_bytes: self
                .state
                .iter()
                .map(|(k, v)| (k.len() + v.value.len()) as i64)
                .sum(),
            timers: self.timers.len() as i64,
        })
    }

    fn order(&self, id: &str, _: Instant) -> DataResult<Option<Order>> {
        Ok(self.orders.iter().find(|o| o.id == id).cloned())
    }

    fn member(&self, id: &str, _: Instant) -> DataResult<Option<Member>> {
        Ok(self.members.iter().find(|m| m.id == id).cloned())
    }

    fn product(&self, id: &str, _: Instant) -> DataResult<Option<Product>> {
        Ok(self.products.iter().find(|p| p.id == id).cloned())
    }

    fn sku(&self, id: &str, _: Instant) -> DataResult<Option<SkuInfo>> {
        Ok(self.skus.iter().find(|s| s.sku.id == id).cloned())
    }

    fn balance(&self, party: &Party, account: &str, _: i64, _: Instant) -> DataResult<(i64, i64)> {
        let t = self
            .balances
            .iter()
            .filter(|(p, a, _)| p == party && a == account)
            .map(|(_, _, v)| v)
            .sum();
        Ok((t, t))
    }
}

/// Data that remembers what was read through it, for recording a call (diagnostics): what
/// it saw is a `MemoryData` the call can be replayed against.
pub struct Recording {
    inner: std::sync::Arc<dyn HostData>,
    seen: parking_lot::Mutex<MemoryData>,
}

impl Recording {
    pub fn new(inner: std::sync::Arc<dyn HostData>) -> Recording {
        Recording {
            inner,
            seen: parking_lot::Mutex::new(MemoryData::default()),
        }
    }

    /// What the calls read so far.
    pub fn seen(&self) -> MemoryData {
        self.seen.lock().clone()
    }
}

/// Keeps the latest copy of a record read, in place of an earlier one.
fn remember<T: Clone>(seen: &mut Vec<T>, item: &T, same: impl Fn(&T) -> bool) {
    seen.retain(|x| !same(x));
    seen.push(item.clone());
}

impl HostData for Recording {
    fn state_get(&self, key: &str, until: Instant) -> DataResult<Option<Entry>> {
        let v = self.inner.state_get(key, until)?;
        if let Some(e) = &v {
            self.seen.lock().state.insert(key.to_string(), e.clone());
        }
        Ok(v)
    }

    fn state_get_many(&self, keys: &[String], until: Instant) -> DataResult<Vec<Option<Entry>>> {
        let v = self.inner.state_get_many(keys, until)?;
        let mut seen = self.seen.lock();
        for (k, e) in keys.iter().zip(&v) {
            if let Some(e) = e {
                seen.state.insert(k.clone(), e.clone());
            }
        }
        Ok(v)
    }

    fn state_scan(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: u32,
        until: Instant,
    ) -> DataResult<Vec<(String, Entry)>> {
        let v = self.inner.state_scan(prefix, start_after, limit, until)?;
        let mut seen = self.seen.lock();
        for (k, e) in &v {
            seen.state.insert(k.clone(), e.clone());
        }
        Ok(v)
    }

    fn timer_due(&self, name: &str, until: Instant) -> DataResult<Option<i64>> {
        let v = self.inner.timer_due(name, until)?;
        if let Some(due) = v {
            self.seen.lock().timers.insert(name.to_string(), due);
        }
        Ok(v)
    }

    fn usage(&self, until: Instant) -> DataResult<Usage> {
        self.inner.usage(until)
    }

    fn order(&self, id: &str, until: Instant) -> DataResult<Option<Order>> {
        let v = self.inner.order(id, until)?;
        if let Some(o) = &v {
            remember(&mut self.seen.lock().orders, o, |x| x.id == o.id);
        }
        Ok(v)
    }

    fn member(&self, id: &str, until: Instant) -> DataResult<Option<Member>> {
        let v = self.inner.member(id, until)?;
        if let Some(m) = &v {
            remember(&mut self.seen.lock().members, m, |x| x.id == m.id);
        }
        Ok(v)
    }

    fn product(&self, id: &str, until: Instant) -> DataResult<Option<Product>> {
        let v = self.inner.product(id, until)?;
        if let Some(p) = &v {
            remember(&mut self.seen.lock().products, p, |x| x.id == p.id);
        }
        Ok(v)
    }

    fn sku(&self, id: &str, until: Instant) -> DataResult<Option<SkuInfo>> {
        let v = self.inner.sku(id, until)?;
        if let Some(s) = &v {
            remember(&mut self.seen.lock().skus, s, |x| x.sku.id == s.sku.id);
        }
        Ok(v)
    }

    fn balance(
        &self,
        party: &Party,
        account: &str,
        now: i64,
        until: Instant,
    ) -> DataResult<(i64, i64)> {
        let v = self.inner.balance(party, account, now, until)?;
        let mut seen = self.seen.lock();
        seen.balances
            .retain(|(p, a, _)| !(p == party && a == account));
        // Replayed as all available: the part available now is what the call could use.
        seen.balances
            .push((party.clone(), account.to_string(), v.1));
        Ok(v)
    }
}
