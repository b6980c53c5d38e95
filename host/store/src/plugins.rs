//! Plugin packages (the registry's rows), per-shop installations, and per-shop plugin
//! health: call counters, recorded failures, and the circuit breaker's state.

use crate::{Result, Tx, get_i64, get_opt_i64, get_opt_str, get_str, query};
use serde::Serialize;

#[derive(Clone, Debug, Serialize)]
pub struct PackageRow {
    pub name: String,
    pub version: String,
    pub wit: String,
    /// The manifest as JSON.
    pub manifest: String,
    pub digest: String,
    #[serde(skip)]
    pub component: Vec<u8>,
    pub publisher_key: String,
    pub signature: String,
    pub state: String,
    pub created_at: i64,
    /// The developer who published it (`dev_platform` for first-party plugins).
    pub developer_id: String,
    /// The registered signing key it was signed with.
    pub key_id: Option<String>,
    /// Component size in bytes.
    pub size: i64,
    /// Why the state last changed (review reason, yank or revoke reason).
    pub state_reason: Option<String>,
    pub state_changed_at: Option<i64>,
    /// staged | canary | released | halted (meaningful once approved).
    pub rollout: String,
}

const PKG_COLS: &str = "name, version, wit, manifest, digest, publisher_key, signature, state, created_at, \
     developer_id, key_id, size, state_reason, state_changed_at, rollout";

fn pkg_from_row(r: &crate::Row, with_component: bool) -> Result<PackageRow> {
    Ok(PackageRow {
        name: get_str(r, "name")?,
        version: get_str(r, "version")?,
        wit: get_str(r, "wit")?,
        manifest: get_str(r, "manifest")?,
        digest: get_str(r, "digest")?,
        component: if with_component {
            crate::get_bytes(r, "component")?
        } else {
            Vec::new()
        },
        publisher_key: get_str(r, "publisher_key")?,
        signature: get_str(r, "signature")?,
        state: get_str(r, "state")?,
        created_at: get_i64(r, "created_at")?,
        developer_id: get_str(r, "developer_id")?,
        key_id: get_opt_str(r, "key_id")?,
        size: get_i64(r, "size")?,
        state_reason: get_opt_str(r, "state_reason")?,
        state_changed_at: get_opt_i64(r, "state_changed_at")?,
        rollout: get_str(r, "rollout")?,
    })
}

/// Inserts a package version; false if that name@version already exists (versions are
/// immutable once published).
pub async fn insert_package(tx: &mut Tx, p: &PackageRow) -> Result<bool> {
    let r = query(
        "INSERT INTO plugin_packages (name, version, wit, manifest, digest, component, publisher_key, signature, state, created_at, \
         developer_id, key_id, size, state_reason, state_changed_at, rollout) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) ON CONFLICT (name, version) DO NOTHING",
    )
    .bind(&p.name)
    .bind(&p.version)
    .bind(&p.wit)
    .bind(&p.manifest)
    .bind(&p.digest)
    .bind(&p.component)
    .bind(&p.publisher_key)
    .bind(&p.signature)
    .bind(&p.state)
    .bind(p.created_at)
    .bind(&p.developer_id)
    .bind(&p.key_id)
    .bind(p.size)
    .bind(&p.state_reason)
    .bind(p.state_changed_at)
    .bind(&p.rollout)
    .execute(tx)
    .await?;
    Ok(r.rows_affected() == 1)
}

pub async fn get_package(
    tx: &mut Tx,
    name: &str,
    version: &str,
    with_component: bool,
) -> Result<Option<PackageRow>> {
    let cols = if with_component {
        format!("{PKG_COLS}, component")
    } else {
        PKG_COLS.to_string()
    };
    let row = query(format!(
        "SELECT {cols} FROM plugin_packages WHERE name = $1 AND version = $2"
    ))
    .bind(name)
    .bind(version)
    .fetch_optional(tx)
    .await?;
    row.map(|r| pkg_from_row(&r, with_component)).transpose()
}

/// Every version of every package (without component bytes), by name then creation.
pub async fn list_packages(tx: &mut Tx, name: Option<&str>) -> Result<Vec<PackageRow>> {
    let rows = query(format!(
        "SELECT {PKG_COLS} FROM plugin_packages WHERE ($1 = '' OR name = $1) ORDER BY name, created_at, version"
    ))
    .bind(name.unwrap_or(""))
    .fetch_all(tx)
    .await?;
    rows.iter().map(|r| pkg_from_row(r, false)).collect()
}

/// Moves a version from state `from` to `to` with the reason; false if it was no longer
/// in `from` (a concurrent review won).
pub async fn set_package_state(
    tx: &mut Tx,
    name: &str,
    version: &str,
    from: &str,
    to: &str,
    reason: Option<&str>,
    now: i64,
) -> Result<bool> {
    let r = query(
        "UPDATE plugin_packages SET state = $4, state_reason = $5, state_changed_at = $6 \
         WHERE name = $1 AND version = $2 AND state = $3",
    )
    .bind(name)
    .bind(version)
    .bind(from)
    .bind(to)
    .bind(reason)
    .bind(now)
    .execute(tx)
    .await?;
    Ok(r.rows_affected() == 1)
}

/// Sets where an approved version is in its rollout.
pub async fn set_rollout(tx: &mut Tx, name: &str, version: &str, rollout: &str) -> Result<()> {
    query("UPDATE plugin_packages SET rollout = $3 WHERE name = $1 AND version = $2")
        .bind(name)
        .bind(version)
        .bind(rollout)
        .execute(tx)
        .await?;
    Ok(())
}

/// The stored component bytes of a version, for an integrity check.
pub async fn package_component(tx: &mut Tx, name: &str, version: &str) -> Result<Option<Vec<u8>>> {
    let row = query("SELECT component FROM plugin_packages WHERE name = $1 AND version = $2")
        .bind(name)
        .bind(version)
        .fetch_optional(tx)
        .await?;
    row.map(|r| crate::get_bytes(&r, "component")).transpose()
}

#[derive(Clone, Debug, Serialize)]
pub struct Installation {
    pub shop_id: String,
    pub plugin: String,
    pub version_req: String,
    pub version: String,
    pub pinned: bool,
    pub previous_version: Option<String>,
    /// The merchant's config as JSON text.
    pub config: String,
    pub enabled: bool,
    pub consecutive_failures: i64,
    pub tripped_until: Option<i64>,
    pub installed_at: i64,
    pub updated_at: i64,
    /// How often the breaker tripped lately: each trip lasts twice as long as the last.
    pub trips: i64,
    /// Why the breaker last tripped, for the merchant.
    pub tripped_reason: Option<String>,
    /// The capabilities the merchant accepted, as a JSON list: an upgrade asking for more
    /// needs a new acceptance.
    pub accepted_capabilities: String,
    /// Calls are recorded for replay until then (ms since epoch); set apart from the rest
    /// (`set_diagnostics`), never by `upsert_installation`.
    pub diagnostics_until: Option<i64>,
}

impl Installation {
    /// Whether calls made at `now` are recorded.
    pub fn records_at(&self, now: i64) -> bool {
        self.diagnostics_until.is_some_and(|until| until > now)
    }
}

const INST_COLS: &str = "shop_id, plugin, version_req, version, pinned, previous_version, config, enabled, consecutive_failures, tripped_until, installed_at, updated_at, trips, tripped_reason, accepted_capabilities";

fn inst_from_row(r: &crate::Row) -> Result<Installation> {
    Ok(Installation {
        shop_id: get_str(r, "shop_id")?,
        plugin: get_str(r, "plugin")?,
        version_req: get_str(r, "version_req")?,
        version: get_str(r, "version")?,
        pinned: get_i64(r, "pinned")? != 0,
        previous_version: get_opt_str(r, "previous_version")?,
        config: get_str(r, "config")?,
        enabled: get_i64(r, "enabled")? != 0,
        consecutive_failures: get_i64(r, "consecutive_failures")?,
        tripped_until: get_opt_i64(r, "tripped_until")?,
        installed_at: get_i64(r, "installed_at")?,
        updated_at: get_i64(r, "updated_at")?,
        trips: get_i64(r, "trips")?,
        tripped_reason: get_opt_str(r, "tripped_reason")?,
        accepted_capabilities: get_str(r, "accepted_capabilities")?,
        diagnostics_until: get_opt_i64(r, "diagnostics_until")?,
    })
}

/// What an installation is read with: what `upsert_installation` writes and the
/// diagnostics window.
fn inst_read_cols(prefix: &str) -> String {
    INST_COLS
        .split(", ")
        .chain(["diagnostics_until"])
        .map(|c| format!("{prefix}{c}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Inserts or replaces the shop's installation of a plugin.
pub async fn upsert_installation(tx: &mut Tx, i: &Installation) -> Result<()> {
    query(format!(
        "INSERT INTO installations ({INST_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) \
         ON CONFLICT (shop_id, plugin) DO UPDATE SET version_req = excluded.version_req, version = excluded.version, \
         pinned = excluded.pinned, previous_version = excluded.previous_version, config = excluded.config, enabled = excluded.enabled, \
         consecutive_failures = excluded.consecutive_failures, tripped_until = excluded.tripped_until, updated_at = excluded.updated_at, \
         trips = excluded.trips, tripped_reason = excluded.tripped_reason, accepted_capabilities = excluded.accepted_capabilities"
    ))
    .bind(&i.shop_id)
    .bind(&i.plugin)
    .bind(&i.version_req)
    .bind(&i.version)
    .bind(i.pinned as i64)
    .bind(&i.previous_version)
    .bind(&i.config)
    .bind(i.enabled as i64)
    .bind(i.consecutive_failures)
    .bind(i.tripped_until)
    .bind(i.installed_at)
    .bind(i.updated_at)
    .bind(i.trips)
    .bind(&i.tripped_reason)
    .bind(&i.accepted_capabilities)
    .execute(tx)
    .await?;
    Ok(())
}

pub async fn get_installation(
    tx: &mut Tx,
    shop: &str,
    plugin: &str,
) -> Result<Option<Installation>> {
    let row = query(format!(
        "SELECT {} FROM installations WHERE shop_id = $1 AND plugin = $2",
        inst_read_cols("")
    ))
    .bind(shop)
    .bind(plugin)
    .fetch_optional(tx)
    .await?;
    row.as_ref().map(inst_from_row).transpose()
}

pub async fn list_installations(tx: &mut Tx, shop: &str) -> Result<Vec<Installation>> {
    let rows = query(format!(
        "SELECT {} FROM installations WHERE shop_id = $1 ORDER BY plugin",
        inst_read_cols("")
    ))
    .bind(shop)
    .fetch_all(tx)
    .await?;
    rows.iter().map(inst_from_row).collect()
}

pub async fn delete_installation(tx: &mut Tx, shop: &str, plugin: &str) -> Result<bool> {
    let r = query("DELETE FROM installations WHERE shop_id = $1 AND plugin = $2")
        .bind(shop)
        .bind(plugin)
        .execute(tx)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Records `calls` calls' outcome: counters, the failure row, and the breaker's streak
/// (a success clears it when `reset_streak`, i.e. when the caller saw a streak). Returns
/// the consecutive-failure count afterwards.
#[allow(clippy::too_many_arguments)]
pub async fn record_call(
    tx: &mut Tx,
    shop: &str,
    plugin: &str,
    version: &str,
    hook: &str,
    calls: i64,
    failure: Option<(&str, &str)>,
    reset_streak: bool,
    duration_us: i64,
    now: i64,
) -> Result<i64> {
    let failed = failure.is_some() as i64;
    query(
        "INSERT INTO plugin_calls (shop_id, plugin, hook, calls, failures, total_us) VALUES ($1, $2, $3, $6, $4, $5) \
         ON CONFLICT (shop_id, plugin, hook) DO UPDATE SET calls = plugin_calls.calls + excluded.calls, \
         failures = plugin_calls.failures + excluded.failures, total_us = plugin_calls.total_us + excluded.total_us",
    )
    .bind(shop)
    .bind(plugin)
    .bind(hook)
    .bind(failed)
    .bind(duration_us)
    .bind(calls)
    .execute(tx)
    .await?;
    if let Some((kind, message)) = failure {
        query(
            "INSERT INTO plugin_failures (shop_id, plugin, version, hook, kind, message, duration_us, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        )
        .bind(shop)
        .bind(plugin)
        .bind(version)
        .bind(hook)
        .bind(kind)
        .bind(message)
        .bind(duration_us)
        .bind(now)
        .execute(tx)
        .await?;
        query("UPDATE installations SET consecutive_failures = consecutive_failures + 1 WHERE shop_id = $1 AND plugin = $2")
            .bind(shop)
            .bind(plugin)
            .execute(tx)
            .await?;
    } else if reset_streak {
        query("UPDATE installations SET consecutive_failures = 0 WHERE shop_id = $1 AND plugin = $2 AND consecutive_failures <> 0")
            .bind(shop)
            .bind(plugin)
            .execute(tx)
            .await?;
    }
    if failure.is_none() {
        return Ok(0);
    }
    let row =
        query("SELECT consecutive_failures FROM installations WHERE shop_id = $1 AND plugin = $2")
            .bind(shop)
            .bind(plugin)
            .fetch_optional(tx)
            .await?;
    Ok(match row {
        Some(r) => get_i64(&r, "consecutive_failures")?,
        None => 0,
    })
}

/// Clears a failure streak after a success.
pub async fn reset_streak(tx: &mut Tx, shop: &str, plugin: &str) -> Result<()> {
    query("UPDATE installations SET consecutive_failures = 0 WHERE shop_id = $1 AND plugin = $2 AND consecutive_failures <> 0")
        .bind(shop)
        .bind(plugin)
        .execute(tx)
        .await?;
    Ok(())
}

/// Trips the breaker until `until`, as the `trips`-th trip in a row, with the reason the
/// merchant reads.
pub async fn trip(
    tx: &mut Tx,
    shop: &str,
    plugin: &str,
    until: i64,
    trips: i64,
    reason: &str,
) -> Result<()> {
    query("UPDATE installations SET tripped_until = $3, consecutive_failures = 0, trips = $4, tripped_reason = $5 WHERE shop_id = $1 AND plugin = $2")
        .bind(shop)
        .bind(plugin)
        .bind(until)
        .bind(trips)
        .bind(reason)
        .execute(tx)
        .await?;
    Ok(())
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct Failure {
    pub id: i64,
    pub plugin: String,
    pub version: String,
    pub hook: String,
    pub kind: String,
    pub message: String,
    pub duration_us: i64,
    pub created_at: i64,
}

pub async fn list_failures(
    tx: &mut Tx,
    shop: &str,
    plugin: Option<&str>,
    limit: i64,
) -> Result<Vec<Failure>> {
    let rows = query(
        "SELECT id, plugin, version, hook, kind, message, duration_us, created_at FROM plugin_failures \
         WHERE shop_id = $1 AND ($2 = '' OR plugin = $2) ORDER BY id DESC LIMIT $3",
    )
    .bind(shop)
    .bind(plugin.unwrap_or(""))
    .bind(limit)
    .fetch_all(tx)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(Failure {
                id: get_i64(r, "id")?,
                plugin: get_str(r, "plugin")?,
                version: get_str(r, "version")?,
                hook: get_str(r, "hook")?,
                kind: get_str(r, "kind")?,
                message: get_str(r, "message")?,
                duration_us: get_i64(r, "duration_us")?,
                created_at: get_i64(r, "created_at")?,
            })
        })
        .collect()
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct CallStats {
    pub plugin: String,
    pub hook: String,
    pub calls: i64,
    pub failures: i64,
    pub total_us: i64,
}

pub async fn call_stats(tx: &mut Tx, shop: &str) -> Result<Vec<CallStats>> {
    let rows = query("SELECT plugin, hook, calls, failures, total_us FROM plugin_calls WHERE shop_id = $1 ORDER BY plugin, hook")
        .bind(shop)
        .fetch_all(tx)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(CallStats {
                plugin: get_str(r, "plugin")?,
                hook: get_str(r, "hook")?,
                calls: get_i64(r, "calls")?,
                failures: get_i64(r, "failures")?,
                total_us: get_i64(r, "total_us")?,
            })
        })
        .collect()
}

/// An installation with the package row it runs (without component bytes or manifest).
#[derive(Clone, Debug)]
pub struct InstalledPackage {
    pub installation: Installation,
    pub package: PackageRow,
}

/// The shop's installations joined with their packages, by plugin name.
pub async fn installed_packages(tx: &mut Tx, shop: &str) -> Result<Vec<InstalledPackage>> {
    // One query on the checkout path instead of one per plugin.
    let cols = inst_read_cols("i.");
    let rows = query(format!(
        "SELECT {cols}, p.name, p.version AS pversion, p.wit, p.digest, p.publisher_key, p.signature, p.state, \
         p.created_at AS pcreated_at, p.developer_id, p.key_id, p.size, p.state_reason, p.state_changed_at, p.rollout \
         FROM installations i JOIN plugin_packages p ON p.name = i.plugin AND p.version = i.version \
         WHERE i.shop_id = $1 ORDER BY i.plugin"
    ))
    .bind(shop)
    .fetch_all(tx)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(InstalledPackage {
                installation: inst_from_row(r)?,
                package: PackageRow {
                    name: get_str(r, "name")?,
                    version: get_str(r, "pversion")?,
                    wit: get_str(r, "wit")?,
                    // Not read here (kilobytes on every checkout): `get_package` has it.
                    manifest: String::new(),
                    digest: get_str(r, "digest")?,
                    component: Vec::new(),
                    publisher_key: get_str(r, "publisher_key")?,
                    signature: get_str(r, "signature")?,
                    state: get_str(r, "state")?,
                    created_at: get_i64(r, "pcreated_at")?,
                    developer_id: get_str(r, "developer_id")?,
                    key_id: get_opt_str(r, "key_id")?,
                    size: get_i64(r, "size")?,
                    state_reason: get_opt_str(r, "state_reason")?,
                    state_changed_at: get_opt_i64(r, "state_changed_at")?,
                    rollout: get_str(r, "rollout")?,
                },
            })
        })
        .collect()
}

pub async fn get_setting(tx: &mut Tx, name: &str) -> Result<Option<String>> {
    let row = query("SELECT value FROM settings WHERE name = $1")
        .bind(name)
        .fetch_optional(tx)
        .await?;
    row.map(|r| get_str(&r, "value")).transpose()
}

/// Sets a setting unless it exists; returns the value that is stored.
pub async fn init_setting(tx: &mut Tx, name: &str, value: &str) -> Result<String> {
    query("INSERT INTO settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(value)
        .execute(tx)
        .await?;
    Ok(get_setting(tx, name)
        .await?
        .unwrap_or_else(|| value.to_string()))
}

/// Adds calls of one plugin version in one shop (the canary's failure rate and the
/// platform view read these).
pub async fn record_version_calls(
    tx: &mut Tx,
    plugin: &str,
    version: &str,
    shop: &str,
    calls: i64,
    failures: i64,
    total_us: i64,
) -> Result<()> {
    query(
        "INSERT INTO plugin_version_calls (plugin, version, shop_id, calls, failures, total_us) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (plugin, version, shop_id) DO UPDATE SET calls = plugin_version_calls.calls + excluded.calls, \
         failures = plugin_version_calls.failures + excluded.failures, total_us = plugin_version_calls.total_us + excluded.total_us",
    )
    .bind(plugin)
    .bind(version)
    .bind(shop)
    .bind(calls)
    .bind(failures)
    .bind(total_us)
    .execute(tx)
    .await?;
    Ok(())
}

/// Adds `calls` calls to a duration bucket (`bucket` is the bucket's upper bound in µs).
pub async fn record_histogram(
    tx: &mut Tx,
    plugin: &str,
    version: &str,
    bucket: i64,
    calls: i64,
) -> Result<()> {
    query(
        "INSERT INTO plugin_call_histogram (plugin, version, bucket, calls) VALUES ($1, $2, $3, $4) \
         ON CONFLICT (plugin, version, bucket) DO UPDATE SET calls = plugin_call_histogram.calls + excluded.calls",
    )
    .bind(plugin)
    .bind(version)
    .bind(bucket)
    .bind(calls)
    .execute(tx)
    .await?;
    Ok(())
}

/// Turns recording of a plugin's calls in a shop on until `until` (None: off). False if the
/// plugin is not installed.
pub async fn set_diagnostics(
    tx: &mut Tx,
    shop: &str,
    plugin: &str,
    until: Option<i64>,
) -> Result<bool> {
    let n =
        query("UPDATE installations SET diagnostics_until = $3 WHERE shop_id = $1 AND plugin = $2")
            .bind(shop)
            .bind(plugin)
            .bind(until)
            .execute(tx)
            .await?;
    Ok(n.rows_affected() > 0)
}

/// A recorded call, without its record.
#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct RunSummary {
    pub id: i64,
    pub plugin: String,
    pub version: String,
    pub hook: String,
    /// `ok`, or the refusal's or the fault's code.
    pub outcome: String,
    pub duration_us: i64,
    pub created_at: i64,
}

/// A recorded call to keep.
pub struct NewRun<'a> {
    pub shop: &'a str,
    pub plugin: &'a str,
    pub version: &'a str,
    pub hook: &'a str,
    pub outcome: &'a str,
    pub duration_us: i64,
    pub record: &'a str,
}

/// Keeps a recorded call, and of the plugin's records in the shop only the newest `keep`
/// and none older than `oldest`.
pub async fn insert_run(
    tx: &mut Tx,
    run: &NewRun<'_>,
    now: i64,
    keep: i64,
    oldest: i64,
) -> Result<()> {
    query(
        "INSERT INTO plugin_runs (shop_id, plugin, version, hook, outcome, duration_us, created_at, record) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(run.shop)
    .bind(run.plugin)
    .bind(run.version)
    .bind(run.hook)
    .bind(run.outcome)
    .bind(run.duration_us)
    .bind(now)
    .bind(run.record)
    .execute(&mut *tx)
    .await?;
    query(
        "DELETE FROM plugin_runs WHERE shop_id = $1 AND plugin = $2 AND (created_at < $3 OR id <= \
         (SELECT id FROM plugin_runs WHERE shop_id = $1 AND plugin = $2 ORDER BY id DESC LIMIT 1 OFFSET $4))",
    )
    .bind(run.shop)
    .bind(run.plugin)
    .bind(oldest)
    .bind(keep)
    .execute(tx)
    .await?;
    Ok(())
}

fn run_from_row(r: &crate::Row) -> Result<RunSummary> {
    Ok(RunSummary {
        id: get_i64(r, "id")?,
        plugin: get_str(r, "plugin")?,
        version: get_str(r, "version")?,
        hook: get_str(r, "hook")?,
        outcome: get_str(r, "outcome")?,
        duration_us: get_i64(r, "duration_us")?,
        created_at: get_i64(r, "created_at")?,
    })
}

/// The shop's recorded calls of a plugin, newest first.
pub async fn list_runs(
    tx: &mut Tx,
    shop: &str,
    plugin: &str,
    limit: i64,
) -> Result<Vec<RunSummary>> {
    let rows = query(
        "SELECT id, plugin, version, hook, outcome, duration_us, created_at FROM plugin_runs \
         WHERE shop_id = $1 AND plugin = $2 ORDER BY id DESC LIMIT $3",
    )
    .bind(shop)
    .bind(plugin)
    .bind(limit)
    .fetch_all(tx)
    .await?;
    rows.iter().map(run_from_row).collect()
}

/// One recorded call of the shop's, with its record (JSON text).
pub async fn get_run(
    tx: &mut Tx,
    shop: &str,
    plugin: &str,
    id: i64,
) -> Result<Option<(RunSummary, String)>> {
    let row = query(
        "SELECT id, plugin, version, hook, outcome, duration_us, created_at, record FROM plugin_runs \
         WHERE shop_id = $1 AND plugin = $2 AND id = $3",
    )
    .bind(shop)
    .bind(plugin)
    .bind(id)
    .fetch_optional(tx)
    .await?;
    row.map(|r| Ok((run_from_row(&r)?, get_str(&r, "record")?)))
        .transpose()
}
