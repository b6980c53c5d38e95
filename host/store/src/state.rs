//! Plugin key-value state and durable timers, per (shop, plugin).
//!
//! Plugins run outside any write transaction: they read through snapshots and their writes
//! are buffered, then checked and applied here in the operation's write. Every value
//! carries a random version, changed by each write, so the check "is what the call read
//! still there, unchanged?" is one lookup per key (0 stands for "absent"). What each
//! (shop, plugin) keeps is counted in `plugin_usage` by the writes themselves, for the
//! quotas.

use crate::{Backend, Result, Tx, get_i64, get_opt_str, get_str, query};

/// A stored value and its version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    pub value: Vec<u8>,
    pub version: i64,
}

/// The version meaning "no such key".
pub const ABSENT: i64 = 0;

pub async fn get(tx: &mut Tx, shop: &str, plugin: &str, key: &str) -> Result<Option<Entry>> {
    let row = query(
        "SELECT value, version FROM plugin_state WHERE shop_id = $1 AND plugin = $2 AND key = $3",
    )
    .bind(shop)
    .bind(plugin)
    .bind(key)
    .fetch_optional(tx)
    .await?;
    row.map(|r| {
        Ok(Entry {
            value: crate::get_bytes(&r, "value")?,
            version: get_i64(&r, "version")?,
        })
    })
    .transpose()
}

/// Several keys in one statement, in the order asked.
pub async fn get_many(
    tx: &mut Tx,
    shop: &str,
    plugin: &str,
    keys: &[String],
) -> Result<Vec<Option<Entry>>> {
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let list: Vec<String> = (0..keys.len()).map(|i| format!("${}", i + 3)).collect();
    let mut q = query(format!(
        "SELECT key, value, version FROM plugin_state WHERE shop_id = $1 AND plugin = $2 AND key IN ({})",
        list.join(", ")
    ))
    .bind(shop)
    .bind(plugin);
    for k in keys {
        q = q.bind(k.as_str());
    }
    let rows = q.fetch_all(tx).await?;
    let mut found = std::collections::HashMap::with_capacity(rows.len());
    for r in &rows {
        found.insert(
            get_str(r, "key")?,
            Entry {
                value: crate::get_bytes(r, "value")?,
                version: get_i64(r, "version")?,
            },
        );
    }
    Ok(keys.iter().map(|k| found.get(k).cloned()).collect())
}

/// The current version of each key (`ABSENT` for missing ones), in the order asked.
pub async fn versions(tx: &mut Tx, shop: &str, plugin: &str, keys: &[&str]) -> Result<Vec<i64>> {
    let mut out = Vec::with_capacity(keys.len());
    for chunk in keys.chunks(100) {
        let list: Vec<String> = (0..chunk.len()).map(|i| format!("${}", i + 3)).collect();
        let lock = if tx.backend() == Backend::Postgres && !tx.is_read_only() {
            " FOR SHARE"
        } else {
            ""
        };
        let mut q = query(format!(
            "SELECT key, version FROM plugin_state WHERE shop_id = $1 AND plugin = $2 AND key IN ({}){lock}",
            list.join(", ")
        ))
        .bind(shop)
        .bind(plugin);
        for k in chunk {
            q = q.bind(*k);
        }
        let rows = q.fetch_all(tx).await?;
        let mut found = std::collections::HashMap::with_capacity(rows.len());
        for r in &rows {
            found.insert(get_str(r, "key")?, get_i64(r, "version")?);
        }
        out.extend(
            chunk
                .iter()
                .map(|k| found.get(*k).copied().unwrap_or(ABSENT)),
        );
    }
    Ok(out)
}

/// Writes `value` under `key` with a new `version`; returns the change in
/// (keys, bytes) the shop's usage moves by.
pub async fn put(
    tx: &mut Tx,
    shop: &str,
    plugin: &str,
    key: &str,
    value: &[u8],
    version: i64,
) -> Result<(i64, i64)> {
    let old = size_of(tx, shop, plugin, key).await?;
    query(
        "INSERT INTO plugin_state (shop_id, plugin, key, value, version) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (shop_id, plugin, key) DO UPDATE SET value = excluded.value, version = excluded.version",
    )
    .bind(shop)
    .bind(plugin)
    .bind(key)
    .bind(value)
    .bind(version)
    .execute(tx)
    .await?;
    let new = (key.len() + value.len()) as i64;
    Ok(match old {
        Some(old) => (0, new - old),
        None => (1, new),
    })
}

/// Removes `key`; returns the change in (keys, bytes).
pub async fn remove(tx: &mut Tx, shop: &str, plugin: &str, key: &str) -> Result<(i64, i64)> {
    let Some(old) = size_of(tx, shop, plugin, key).await? else {
        return Ok((0, 0));
    };
    query("DELETE FROM plugin_state WHERE shop_id = $1 AND plugin = $2 AND key = $3")
        .bind(shop)
        .bind(plugin)
        .bind(key)
        .execute(tx)
        .await?;
    Ok((-1, -old))
}

/// Bytes `key` takes (its key and value), None if absent.
async fn size_of(tx: &mut Tx, shop: &str, plugin: &str, key: &str) -> Result<Option<i64>> {
    let len = match tx.backend() {
        Backend::Sqlite => "length(value)",
        Backend::Postgres => "octet_length(value)",
    };
    let row = query(format!(
        "SELECT CAST({len} AS BIGINT) AS n FROM plugin_state WHERE shop_id = $1 AND plugin = $2 AND key = $3"
    ))
    .bind(shop)
    .bind(plugin)
    .bind(key)
    .fetch_optional(tx)
    .await?;
    row.map(|r| Ok(get_i64(&r, "n")? + key.len() as i64))
        .transpose()
}

/// Keys starting with `prefix`, after `start_after`, in byte order, with their versions.
pub async fn scan(
    tx: &mut Tx,
    shop: &str,
    plugin: &str,
    prefix: &str,
    start_after: Option<&str>,
    limit: i64,
) -> Result<Vec<(String, Entry)>> {
    // A prefix range instead of LIKE, so '%' and '_' in keys mean themselves; "\u{10FFFF}"
    // sorts after every key that starts with the prefix.
    let upper = format!("{prefix}\u{10FFFF}");
    let lower = match start_after {
        Some(s) if s >= prefix => s.to_string(),
        _ => String::new(),
    };
    let collate = if tx.backend() == Backend::Postgres {
        " COLLATE \"C\""
    } else {
        ""
    };
    let rows = query(format!(
        "SELECT key, value, version FROM plugin_state WHERE shop_id = $1 AND plugin = $2 AND key{collate} >= $3 AND key{collate} < $4 \
         AND key{collate} > $5 ORDER BY key{collate} LIMIT $6"
    ))
    .bind(shop)
    .bind(plugin)
    .bind(prefix)
    .bind(&upper)
    .bind(&lower)
    .bind(limit)
    .fetch_all(tx)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                get_str(r, "key")?,
                Entry {
                    value: crate::get_bytes(r, "value")?,
                    version: get_i64(r, "version")?,
                },
            ))
        })
        .collect()
}

/// What a (shop, plugin) keeps.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Usage {
    pub state_keys: i64,
    pub state_bytes: i64,
    pub timers: i64,
}

pub async fn usage(tx: &mut Tx, shop: &str, plugin: &str) -> Result<Usage> {
    let row = query(
        "SELECT state_keys, state_bytes, timers FROM plugin_usage WHERE shop_id = $1 AND plugin = $2",
    )
    .bind(shop)
    .bind(plugin)
    .fetch_optional(tx)
    .await?;
    row.map(|r| {
        Ok(Usage {
            state_keys: get_i64(&r, "state_keys")?,
            state_bytes: get_i64(&r, "state_bytes")?,
            timers: get_i64(&r, "timers")?,
        })
    })
    .transpose()
    .map(Option::unwrap_or_default)
}

/// Moves a (shop, plugin)'s usage by `delta`; returns the new usage.
pub async fn add_usage(tx: &mut Tx, shop: &str, plugin: &str, delta: Usage) -> Result<Usage> {
    if delta == Usage::default() {
        return usage(tx, shop, plugin).await;
    }
    query(
        "INSERT INTO plugin_usage (shop_id, plugin, state_keys, state_bytes, timers) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (shop_id, plugin) DO UPDATE SET state_keys = plugin_usage.state_keys + excluded.state_keys, \
         state_bytes = plugin_usage.state_bytes + excluded.state_bytes, timers = plugin_usage.timers + excluded.timers",
    )
    .bind(shop)
    .bind(plugin)
    .bind(delta.state_keys)
    .bind(delta.state_bytes)
    .bind(delta.timers)
    .execute(tx)
    .await?;
    usage(tx, shop, plugin).await
}

/// Schedules (or reschedules) a timer; returns 1 if it is a new pending timer, 0 if it
/// replaced one.
pub async fn schedule_timer(
    tx: &mut Tx,
    shop: &str,
    plugin: &str,
    name: &str,
    due_at: i64,
    payload: &[u8],
) -> Result<i64> {
    let existed = timer_due(tx, shop, plugin, name).await?.is_some();
    query(
        "INSERT INTO plugin_timers (shop_id, plugin, name, due_at, payload, attempts) VALUES ($1, $2, $3, $4, $5, 0) \
         ON CONFLICT (shop_id, plugin, name) DO UPDATE SET due_at = excluded.due_at, payload = excluded.payload, attempts = 0, last_error = NULL",
    )
    .bind(shop)
    .bind(plugin)
    .bind(name)
    .bind(due_at)
    .bind(payload)
    .execute(tx)
    .await?;
    Ok(if existed { 0 } else { 1 })
}

/// Cancels a pending timer; true if there was one.
pub async fn cancel_timer(tx: &mut Tx, shop: &str, plugin: &str, name: &str) -> Result<bool> {
    let r = query("DELETE FROM plugin_timers WHERE shop_id = $1 AND plugin = $2 AND name = $3")
        .bind(shop)
        .bind(plugin)
        .bind(name)
        .execute(tx)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// The due time of a pending timer, if there is one.
pub async fn timer_due(tx: &mut Tx, shop: &str, plugin: &str, name: &str) -> Result<Option<i64>> {
    let row =
        query("SELECT due_at FROM plugin_timers WHERE shop_id = $1 AND plugin = $2 AND name = $3")
            .bind(shop)
            .bind(plugin)
            .bind(name)
            .fetch_optional(tx)
            .await?;
    row.map(|r| get_i64(&r, "due_at")).transpose()
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct Timer {
    pub shop_id: String,
    pub plugin: String,
    pub name: String,
    pub due_at: i64,
    #[serde(skip)]
    pub payload: Vec<u8>,
    pub attempts: i64,
    pub last_error: Option<String>,
}

const TIMER_COLS: &str = "shop_id, plugin, name, due_at, payload, attempts, last_error";

fn timer_from_row(r: &crate::Row) -> Result<Timer> {
    Ok(Timer {
        shop_id: get_str(r, "shop_id")?,
        plugin: get_str(r, "plugin")?,
        name: get_str(r, "name")?,
        due_at: get_i64(r, "due_at")?,
        payload: crate::get_bytes(r, "payload")?,
        attempts: get_i64(r, "attempts")?,
        last_error: get_opt_str(r, "last_error")?,
    })
}

/// Due timers, at most `per_shop` of each shop and `limit` in all, so one shop's backlog
/// never holds another shop's timer back: each shop's oldest come first, and shops take
/// turns. Read only; each is then fired and removed in its own write (`lock_timer`).
pub async fn due_timers(tx: &mut Tx, now: i64, per_shop: i64, limit: i64) -> Result<Vec<Timer>> {
    let rows = query(format!(
        "SELECT {TIMER_COLS} FROM (\
           SELECT {TIMER_COLS}, ROW_NUMBER() OVER (PARTITION BY shop_id ORDER BY due_at, name) AS turn \
           FROM plugin_timers WHERE due_at <= $1\
         ) AS due WHERE turn <= $2 ORDER BY turn, due_at LIMIT $3"
    ))
    .bind(now)
    .bind(per_shop)
    .bind(limit)
    .fetch_all(tx)
    .await?;
    rows.iter().map(timer_from_row).collect()
}

/// Locks one timer if it is still due and unchanged (fired elsewhere or rescheduled
/// otherwise).
pub async fn lock_timer(tx: &mut Tx, t: &Timer, now: i64) -> Result<Option<Timer>> {
    let lock = if tx.backend() == Backend::Postgres && !tx.is_read_only() {
        " FOR UPDATE SKIP LOCKED"
    } else {
        ""
    };
    let row = query(format!(
        "SELECT {TIMER_COLS} FROM plugin_timers \
         WHERE shop_id = $1 AND plugin = $2 AND name = $3 AND due_at = $4 AND attempts = $5 AND due_at <= $6{lock}"
    ))
    .bind(&t.shop_id)
    .bind(&t.plugin)
    .bind(&t.name)
    .bind(t.due_at)
    .bind(t.attempts)
    .bind(now)
    .fetch_optional(tx)
    .await?;
    row.as_ref().map(timer_from_row).transpose()
}

/// Removes a fired timer — unless the firing rescheduled it (same name, new due time);
/// returns the change in pending timers.
pub async fn finish_timer(tx: &mut Tx, t: &Timer) -> Result<i64> {
    let r = query("DELETE FROM plugin_timers WHERE shop_id = $1 AND plugin = $2 AND name = $3 AND due_at = $4 AND attempts = $5")
        .bind(&t.shop_id)
        .bind(&t.plugin)
        .bind(&t.name)
        .bind(t.due_at)
        .bind(t.attempts)
        .execute(tx)
        .await?;
    Ok(-(r.rows_affected() as i64))
}

/// A failed firing: try again later.
pub async fn retry_timer(tx: &mut Tx, t: &Timer, next_due: i64, error: &str) -> Result<()> {
    query(
        "UPDATE plugin_timers SET due_at = $5, attempts = attempts + 1, last_error = $6 \
         WHERE shop_id = $1 AND plugin = $2 AND name = $3 AND due_at = $4",
    )
    .bind(&t.shop_id)
    .bind(&t.plugin)
    .bind(&t.name)
    .bind(t.due_at)
    .bind(next_due)
    .bind(error)
    .execute(tx)
    .await?;
    Ok(())
}

pub async fn list_timers(tx: &mut Tx, shop: &str, plugin: &str) -> Result<Vec<Timer>> {
    let rows = query(format!(
        "SELECT {TIMER_COLS} FROM plugin_timers WHERE shop_id = $1 AND plugin = $2 ORDER BY due_at, name"
    ))
    .bind(shop)
    .bind(plugin)
    .fetch_all(tx)
    .await?;
    rows.iter().map(timer_from_row).collect()
}
