//! The shop's data as a plugin call reads it (`baseplate_runtime::HostData`), over database
//! snapshots. Built per (shop, plugin) by the host, so every read is scoped to the shop of
//! the call whatever the plugin passes.
//!
//! The calls run on sandbox threads, not async ones. On SQLite a read completes on the
//! spot (a WAL snapshot on a pooled read connection); on PostgreSQL the thread waits for a
//! pooled connection's answer, bounded by the call's deadline. No connection is held
//! between reads, so a stalled guest holds none.

use baseplate_domain::Party;
use baseplate_runtime::data::{DataError, DataResult, HostData};
use baseplate_store::catalog::{self, Product, SkuInfo};
use baseplate_store::members::{self, Member};
use baseplate_store::orders::{self, Order};
use baseplate_store::state::{self, Entry, Usage};
use baseplate_store::{Db, Tx, ledger};
use std::time::Instant;

pub(crate) struct ShopData {
    pub db: Db,
    pub shop: String,
    pub plugin: String,
    pub handle: tokio::runtime::Handle,
}

impl ShopData {
    fn read<T>(
        &self,
        until: Instant,
        f: impl AsyncFnOnce(&mut Tx) -> baseplate_store::Result<T>,
    ) -> DataResult<T> {
        let fail =
            |e: baseplate_store::StoreError| DataError(format!("reading the shop's data: {e}"));
        match self.db.backend() {
            baseplate_store::Backend::Sqlite => self
                .db
                .read_now(f)
                .expect("SQLite reads complete at once")
                .map_err(fail),
            baseplate_store::Backend::Postgres => {
                let left = until.saturating_duration_since(Instant::now());
                let db = self.db.clone();
                // The timer is made inside `block_on`, where the runtime is entered.
                self.handle
                    .block_on(async move {
                        tokio::time::timeout(left, async move {
                            let mut tx = db.read().await?;
                            f(&mut tx).await
                        })
                        .await
                    })
                    .map_err(|_| {
                        DataError("reading the shop's data took past the call's deadline".into())
                    })?
                    .map_err(fail)
            }
        }
    }
}

impl HostData for ShopData {
    fn state_get(&self, key: &str, until: Instant) -> DataResult<Option<Entry>> {
        self.read(until, async |tx| {
            state::get(tx, &self.shop, &self.plugin, key).await
        })
    }

    fn state_get_many(&self, keys: &[String], until: Instant) -> DataResult<Vec<Option<Entry>>> {
        self.read(until, async |tx| {
            state::get_many(tx, &self.shop, &self.plugin, keys).await
        })
    }

    fn state_scan(
        &self,
        prefix: &str,
        start_after: Option<&str>,
        limit: u32,
        until: Instant,
    ) -> DataResult<Vec<(String, Entry)>> {
        self.read(until, async |tx| {
            state::scan(
                tx,
                &self.shop,
                &self.plugin,
                prefix,
                start_after,
                limit as i64,
            )
            .await
        })
    }

    fn timer_due(&self, name: &str, until: Instant) -> DataResult<Option<i64>> {
        self.read(until, async |tx| {
            state::timer_due(tx, &self.shop, &self.plugin, name).await
        })
    }

    fn usage(&self, until: Instant) -> DataResult<Usage> {
        self.read(until, async |tx| {
            state::usage(tx, &self.shop, &self.plugin).await
        })
    }

    fn order(&self, id: &str, until: Instant) -> DataResult<Option<Order>> {
        self.read(until, async |tx| {
            orders::get(tx, &self.shop, id, false).await
        })
    }

    fn member(&self, id: &str, until: Instant) -> DataResult<Option<Member>> {
        self.read(until, async |tx| members::get(tx, &self.shop, id).await)
    }

    fn product(&self, id: &str, until: Instant) -> DataResult<Option<Product>> {
        self.read(until, async |tx| {
            catalog::get_product(tx, &self.shop, id).await
        })
    }

    fn sku(&self, id: &str, until: Instant) -> DataResult<Option<SkuInfo>> {
        self.read(until, async |tx| catalog::get_sku(tx, &self.shop, id).await)
    }

    fn balance(
        &self,
        party: &Party,
        account: &str,
        now: i64,
        until: Instant,
    ) -> DataResult<(i64, i64)> {
        self.read(until, async |tx| {
            ledger::balance(tx, &self.shop, party, account, now).await
        })
    }
}
