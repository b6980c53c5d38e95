//! The open registry's rows: developer accounts, their API keys (hashed) and signing keys,
//! who owns which plugin name, the operator's review log, canaries and the shops that
//! consent to them, and the cross-shop figures of the platform view. The packages
//! themselves are in `plugins`.

use crate::{Result, Tx, get_i64, get_opt_i64, get_opt_str, get_str, query};
use serde::Serialize;

/// The developer the platform publishes its first-party plugins as.
pub const PLATFORM_DEVELOPER: &str = "dev_platform";

#[derive(Clone, Debug, Serialize)]
pub struct Developer {
    pub id: String,
    pub name: String,
    pub email: Option<String>,
    /// pending | approved | suspended
    pub status: String,
    pub created_at: i64,
    pub reviewed_at: Option<i64>,
    pub reviewed_by: Option<String>,
}

const DEV_COLS: &str = "id, name, email, status, created_at, reviewed_at, reviewed_by";

fn developer(r: &crate::Row) -> Result<Developer> {
    Ok(Developer {
        id: get_str(r, "id")?,
        name: get_str(r, "name")?,
        email: get_opt_str(r, "email")?,
        status: get_str(r, "status")?,
        created_at: get_i64(r, "created_at")?,
        reviewed_at: get_opt_i64(r, "reviewed_at")?,
        reviewed_by: get_opt_str(r, "reviewed_by")?,
    })
}

pub async fn insert_developer(tx: &mut Tx, d: &Developer) -> Result<()> {
    query(format!(
        "INSERT INTO developers ({DEV_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    ))
    .bind(&d.id)
    .bind(&d.name)
    .bind(&d.email)
    .bind(&d.status)
    .bind(d.created_at)
    .bind(d.reviewed_at)
    .bind(&d.reviewed_by)
    .execute(tx)
    .await?;
    Ok(())
}

pub async fn get_developer(tx: &mut Tx, id: &str) -> Result<Option<Developer>> {
    let row = query(format!("SELECT {DEV_COLS} FROM developers WHERE id = $1"))
        .bind(id)
        .fetch_optional(tx)
        .await?;
    row.as_ref().map(developer).transpose()
}

/// Developers, optionally of one status, oldest first.
pub async fn list_developers(tx: &mut Tx, status: Option<&str>) -> Result<Vec<Developer>> {
    let rows = query(format!(
        "SELECT {DEV_COLS} FROM developers WHERE ($1 = '' OR status = $1) ORDER BY created_at, id"
    ))
    .bind(status.unwrap_or(""))
    .fetch_all(tx)
    .await?;
    rows.iter().map(developer).collect()
}

/// Sets a developer's status (the caller checked the move is allowed).
pub async fn set_developer_status(
    tx: &mut Tx,
    id: &str,
    to: &str,
    by: &str,
    now: i64,
) -> Result<bool> {
    let r = query(
        "UPDATE developers SET status = $2, reviewed_at = $3, reviewed_by = $4 WHERE id = $1",
    )
    .bind(id)
    .bind(to)
    .bind(now)
    .bind(by)
    .execute(tx)
    .await?;
    Ok(r.rows_affected() == 1)
}

#[derive(Clone, Debug, Serialize)]
pub struct DeveloperApiKey {
    pub id: String,
    pub developer_id: String,
    pub name: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

fn api_key(r: &crate::Row) -> Result<DeveloperApiKey> {
    Ok(DeveloperApiKey {
        id: get_str(r, "id")?,
        developer_id: get_str(r, "developer_id")?,
        name: get_str(r, "name")?,
        created_at: get_i64(r, "created_at")?,
        revoked_at: get_opt_i64(r, "revoked_at")?,
    })
}

pub async fn insert_api_key(tx: &mut Tx, k: &DeveloperApiKey, token_hash: &str) -> Result<()> {
    query("INSERT INTO developer_api_keys (id, developer_id, name, token_hash, created_at) VALUES ($1, $2, $3, $4, $5)")
        .bind(&k.id)
        .bind(&k.developer_id)
        .bind(&k.name)
        .bind(token_hash)
        .bind(k.created_at)
        .execute(tx)
        .await?;
    Ok(())
}

/// The key with this token hash, with its developer's status.
pub async fn find_api_key(
    tx: &mut Tx,
    token_hash: &str,
) -> Result<Option<(DeveloperApiKey, String)>> {
    let row = query(
        "SELECT k.id, k.developer_id, k.name, k.created_at, k.revoked_at, d.status \
         FROM developer_api_keys k JOIN developers d ON d.id = k.developer_id WHERE k.token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(tx)
    .await?;
    row.map(|r| Ok((api_key(&r)?, get_str(&r, "status")?)))
        .transpose()
}

pub async fn list_api_keys(tx: &mut Tx, developer: &str) -> Result<Vec<DeveloperApiKey>> {
    let rows = query("SELECT id, developer_id, name, created_at, revoked_at FROM developer_api_keys WHERE developer_id = $1 ORDER BY created_at, id")
        .bind(developer)
        .fetch_all(tx)
        .await?;
    rows.iter().map(api_key).collect()
}

pub async fn revoke_api_key(tx: &mut Tx, developer: &str, id: &str, now: i64) -> Result<bool> {
    let r = query("UPDATE developer_api_keys SET revoked_at = $3 WHERE developer_id = $1 AND id = $2 AND revoked_at IS NULL")
        .bind(developer)
        .bind(id)
        .bind(now)
        .execute(tx)
        .await?;
    Ok(r.rows_affected() == 1)
}

#[derive(Clone, Debug, Serialize)]
pub struct SigningKey {
    pub id: String,
    pub developer_id: String,
    pub name: String,
    /// ed25519 public key, 64 hex digits.
    pub public_key: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
    /// The key that replaced it, when it was rotated.
    pub replaced_by: Option<String>,
}

const SK_COLS: &str = "id, developer_id, name, public_key, created_at, revoked_at, replaced_by";

fn signing_key(r: &crate::Row) -> Result<SigningKey> {
    Ok(SigningKey {
        id: get_str(r, "id")?,
        developer_id: get_str(r, "developer_id")?,
        name: get_str(r, "name")?,
        public_key: get_str(r, "public_key")?,
        created_at: get_i64(r, "created_at")?,
        revoked_at: get_opt_i64(r, "revoked_at")?,
        replaced_by: get_opt_str(r, "replaced_by")?,
    })
}

pub async fn insert_signing_key(tx: &mut Tx, k: &SigningKey) -> Result<()> {
    query(format!(
        "INSERT INTO signing_keys ({SK_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
    ))
    .bind(&k.id)
    .bind(&k.developer_id)
    .bind(&k.name)
    .bind(&k.public_key)
    .bind(k.created_at)
    .bind(k.revoked_at)
    .bind(&k.replaced_by)
    .execute(tx)
    .await?;
    Ok(())
}

pub async fn get_signing_key(tx: &mut Tx, id: &str) -> Result<Option<SigningKey>> {
    let row = query(format!("SELECT {SK_COLS} FROM signing_keys WHERE id = $1"))
        .bind(id)
        .fetch_optional(tx)
        .await?;
    row.as_ref().map(signing_key).transpose()
}

pub async fn find_signing_key_by_public(tx: &mut Tx, public: &str) -> Result<Option<SigningKey>> {
    let row = query(format!(
        "SELECT {SK_COLS} FROM signing_keys WHERE public_key = $1"
    ))
    .bind(public)
    .fetch_optional(tx)
    .await?;
    row.as_ref().map(signing_key).transpose()
}

pub async fn list_signing_keys(tx: &mut Tx, developer: &str) -> Result<Vec<SigningKey>> {
    let rows = query(format!(
        "SELECT {SK_COLS} FROM signing_keys WHERE developer_id = $1 ORDER BY created_at, id"
    ))
    .bind(developer)
    .fetch_all(tx)
    .await?;
    rows.iter().map(signing_key).collect()
}

pub async fn revoke_signing_key(
    tx: &mut Tx,
    developer: &str,
    id: &str,
    replaced_by: Option<&str>,
    now: i64,
) -> Result<bool> {
    let r = query("UPDATE signing_keys SET revoked_at = $3, replaced_by = $4 WHERE developer_id = $1 AND id = $2 AND revoked_at IS NULL")
        .bind(developer)
        .bind(id)
        .bind(now)
        .bind(replaced_by)
        .execute(tx)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// Who owns a plugin name.
pub async fn name_owner(tx: &mut Tx, name: &str) -> Result<Option<String>> {
    let row = query("SELECT developer_id FROM plugin_names WHERE name = $1")
        .bind(name)
        .fetch_optional(tx)
        .await?;
    row.map(|r| get_str(&r, "developer_id")).transpose()
}

/// Claims a name for a developer if nobody owns it; returns the owner afterwards.
pub async fn claim_name(tx: &mut Tx, name: &str, developer: &str, now: i64) -> Result<String> {
    query("INSERT INTO plugin_names (name, developer_id, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .bind(developer)
        .bind(now)
        .execute(tx)
        .await?;
    Ok(name_owner(tx, name)
        .await?
        .unwrap_or_else(|| developer.to_string()))
}

pub async fn names_of(tx: &mut Tx, developer: &str) -> Result<Vec<String>> {
    let rows = query("SELECT name FROM plugin_names WHERE developer_id = $1 ORDER BY name")
        .bind(developer)
        .fetch_all(tx)
        .await?;
    rows.iter().map(|r| get_str(r, "name")).collect()
}

/// One entry of the review log.
#[derive(Clone, Debug, Serialize)]
pub struct LogEntry {
    pub id: i64,
    /// `operator:<key id>`, `developer:<id>` or `system`.
    pub actor: String,
    pub action: String,
    pub plugin: Option<String>,
    pub version: Option<String>,
    pub developer_id: Option<String>,
    pub reason: Option<String>,
    pub detail: serde_json::Value,
    pub created_at: i64,
}

/// What a new log entry says.
#[derive(Clone, Debug, Default)]
pub struct NewLogEntry<'a> {
    pub actor: &'a str,
    pub action: &'a str,
    pub plugin: Option<&'a str>,
    pub version: Option<&'a str>,
    pub developer_id: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub detail: Option<serde_json::Value>,
}

pub async fn log(tx: &mut Tx, e: NewLogEntry<'_>, now: i64) -> Result<()> {
    query("INSERT INTO registry_log (actor, action, plugin, version, developer_id, reason, detail, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)")
        .bind(e.actor)
        .bind(e.action)
        .bind(e.plugin)
        .bind(e.version)
        .bind(e.developer_id)
        .bind(e.reason)
        .bind(e.detail.unwrap_or_else(|| serde_json::json!({})).to_string())
        .bind(now)
        .execute(tx)
        .await?;
    Ok(())
}

/// The log, newest first, optionally for one plugin (and one version).
pub async fn read_log(
    tx: &mut Tx,
    plugin: Option<&str>,
    version: Option<&str>,
    limit: i64,
) -> Result<Vec<LogEntry>> {
    let rows = query(
        "SELECT id, actor, action, plugin, version, developer_id, reason, detail, created_at FROM registry_log \
         WHERE ($1 = '' OR plugin = $1) AND ($2 = '' OR version = $2) ORDER BY id DESC LIMIT $3",
    )
    .bind(plugin.unwrap_or(""))
    .bind(version.unwrap_or(""))
    .bind(limit)
    .fetch_all(tx)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(LogEntry {
                id: get_i64(r, "id")?,
                actor: get_str(r, "actor")?,
                action: get_str(r, "action")?,
                plugin: get_opt_str(r, "plugin")?,
                version: get_opt_str(r, "version")?,
                developer_id: get_opt_str(r, "developer_id")?,
                reason: get_opt_str(r, "reason")?,
                detail: crate::get_json(r, "detail")?,
                created_at: get_i64(r, "created_at")?,
            })
        })
        .collect()
}

#[derive(Clone, Debug, Serialize)]
pub struct Canary {
    pub plugin: String,
    pub version: String,
    /// running | promoted | halted
    pub status: String,
    pub percent: Option<i64>,
    pub started_by: String,
    pub started_at: i64,
    pub ended_at: Option<i64>,
}

#[derive(Clone, Debug, Serialize)]
pub struct CanaryShop {
    pub shop_id: String,
    pub previous_version: String,
    pub joined_at: i64,
}

/// Starts (or restarts, after a halt) a canary.
pub async fn upsert_canary(tx: &mut Tx, c: &Canary) -> Result<()> {
    query(
        "INSERT INTO canaries (plugin, version, status, percent, started_by, started_at, ended_at) VALUES ($1, $2, $3, $4, $5, $6, $7) \
         ON CONFLICT (plugin, version) DO UPDATE SET status = excluded.status, percent = excluded.percent, \
         started_by = excluded.started_by, started_at = excluded.started_at, ended_at = excluded.ended_at",
    )
    .bind(&c.plugin)
    .bind(&c.version)
    .bind(&c.status)
    .bind(c.percent)
    .bind(&c.started_by)
    .bind(c.started_at)
    .bind(c.ended_at)
    .execute(tx)
    .await?;
    Ok(())
}

pub async fn get_canary(tx: &mut Tx, plugin: &str, version: &str) -> Result<Option<Canary>> {
    let row = query("SELECT plugin, version, status, percent, started_by, started_at, ended_at FROM canaries WHERE plugin = $1 AND version = $2")
        .bind(plugin)
        .bind(version)
        .fetch_optional(tx)
        .await?;
    row.map(|r| {
        Ok(Canary {
            plugin: get_str(&r, "plugin")?,
            version: get_str(&r, "version")?,
            status: get_str(&r, "status")?,
            percent: get_opt_i64(&r, "percent")?,
            started_by: get_str(&r, "started_by")?,
            started_at: get_i64(&r, "started_at")?,
            ended_at: get_opt_i64(&r, "ended_at")?,
        })
    })
    .transpose()
}

pub async fn end_canary(
    tx: &mut Tx,
    plugin: &str,
    version: &str,
    status: &str,
    now: i64,
) -> Result<()> {
    query("UPDATE canaries SET status = $3, ended_at = $4 WHERE plugin = $1 AND version = $2")
        .bind(plugin)
        .bind(version)
        .bind(status)
        .bind(now)
        .execute(tx)
        .await?;
    Ok(())
}

pub async fn add_canary_shop(
    tx: &mut Tx,
    plugin: &str,
    version: &str,
    shop: &CanaryShop,
) -> Result<()> {
    query(
        "INSERT INTO canary_shops (plugin, version, shop_id, previous_version, joined_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (plugin, version, shop_id) DO UPDATE SET previous_version = excluded.previous_version, joined_at = excluded.joined_at",
    )
    .bind(plugin)
    .bind(version)
    .bind(&shop.shop_id)
    .bind(&shop.previous_version)
    .bind(shop.joined_at)
    .execute(tx)
    .await?;
    Ok(())
}

pub async fn canary_shops(tx: &mut Tx, plugin: &str, version: &str) -> Result<Vec<CanaryShop>> {
    let rows = query("SELECT shop_id, previous_version, joined_at FROM canary_shops WHERE plugin = $1 AND version = $2 ORDER BY shop_id")
        .bind(plugin)
        .bind(version)
        .fetch_all(tx)
        .await?;
    rows.iter()
        .map(|r| {
            Ok(CanaryShop {
                shop_id: get_str(r, "shop_id")?,
                previous_version: get_str(r, "previous_version")?,
                joined_at: get_i64(r, "joined_at")?,
            })
        })
        .collect()
}

/// The versions of `plugin` in a running canary that includes `shop`.
pub async fn canary_versions_for_shop(
    tx: &mut Tx,
    plugin: &str,
    shop: &str,
) -> Result<Vec<String>> {
    let rows = query(
        "SELECT s.version FROM canary_shops s JOIN canaries c ON c.plugin = s.plugin AND c.version = s.version \
         WHERE s.plugin = $1 AND s.shop_id = $2 AND c.status = 'running'",
    )
    .bind(plugin)
    .bind(shop)
    .fetch_all(tx)
    .await?;
    rows.iter().map(|r| get_str(r, "version")).collect()
}

pub async fn set_consent(tx: &mut Tx, shop: &str, opt_in: bool, now: i64) -> Result<()> {
    if opt_in {
        query("INSERT INTO canary_consent (shop_id, opted_in_at) VALUES ($1, $2) ON CONFLICT (shop_id) DO NOTHING")
            .bind(shop)
            .bind(now)
            .execute(tx)
            .await?;
    } else {
        query("DELETE FROM canary_consent WHERE shop_id = $1")
            .bind(shop)
            .execute(tx)
            .await?;
    }
    Ok(())
}

pub async fn consent(tx: &mut Tx, shop: &str) -> Result<Option<i64>> {
    let row = query("SELECT opted_in_at FROM canary_consent WHERE shop_id = $1")
        .bind(shop)
        .fetch_optional(tx)
        .await?;
    row.map(|r| get_i64(&r, "opted_in_at")).transpose()
}

/// Every installation of a plugin across shops, with whether the shop consents to canaries.
pub async fn installations_of(
    tx: &mut Tx,
    plugin: &str,
) -> Result<Vec<(crate::plugins::Installation, bool)>> {
    let shops = query(
        "SELECT i.shop_id, (SELECT count(*) FROM canary_consent c WHERE c.shop_id = i.shop_id) AS consents \
         FROM installations i WHERE i.plugin = $1 ORDER BY i.shop_id",
    )
    .bind(plugin)
    .fetch_all(tx)
    .await?;
    let mut out = Vec::with_capacity(shops.len());
    for r in &shops {
        let shop = get_str(r, "shop_id")?;
        let consents = get_i64(r, "consents")? > 0;
        if let Some(i) = crate::plugins::get_installation(tx, &shop, plugin).await? {
            out.push((i, consents));
        }
    }
    Ok(out)
}

/// Installations per plugin name.
pub async fn install_counts(tx: &mut Tx) -> Result<Vec<(String, i64)>> {
    let rows =
        query("SELECT plugin, count(*) AS n FROM installations GROUP BY plugin ORDER BY plugin")
            .fetch_all(tx)
            .await?;
    rows.iter()
        .map(|r| Ok((get_str(r, "plugin")?, get_i64(r, "n")?)))
        .collect()
}

/// Installations per version of one plugin.
pub async fn install_counts_by_version(tx: &mut Tx, plugin: &str) -> Result<Vec<(String, i64)>> {
    let rows = query("SELECT version, count(*) AS n FROM installations WHERE plugin = $1 GROUP BY version ORDER BY version")
        .bind(plugin)
        .fetch_all(tx)
        .await?;
    rows.iter()
        .map(|r| Ok((get_str(r, "version")?, get_i64(r, "n")?)))
        .collect()
}

/// Calls of one version, per shop: (shop, calls, failures, total µs).
#[derive(Clone, Debug, Serialize)]
pub struct VersionCalls {
    pub plugin: String,
    pub version: String,
    pub shop_id: String,
    pub calls: i64,
    pub failures: i64,
    pub total_us: i64,
}

pub async fn version_calls(
    tx: &mut Tx,
    plugin: Option<&str>,
    version: Option<&str>,
) -> Result<Vec<VersionCalls>> {
    let rows = query(
        "SELECT plugin, version, shop_id, calls, failures, total_us FROM plugin_version_calls \
         WHERE ($1 = '' OR plugin = $1) AND ($2 = '' OR version = $2) ORDER BY plugin, version, shop_id",
    )
    .bind(plugin.unwrap_or(""))
    .bind(version.unwrap_or(""))
    .fetch_all(tx)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(VersionCalls {
                plugin: get_str(r, "plugin")?,
                version: get_str(r, "version")?,
                shop_id: get_str(r, "shop_id")?,
                calls: get_i64(r, "calls")?,
                failures: get_i64(r, "failures")?,
                total_us: get_i64(r, "total_us")?,
            })
        })
        .collect()
}

/// The duration histogram of every version of `plugin` (all plugins when None):
/// (plugin, version, bucket upper bound µs, calls).
pub async fn histogram(
    tx: &mut Tx,
    plugin: Option<&str>,
) -> Result<Vec<(String, String, i64, i64)>> {
    let rows = query(
        "SELECT plugin, version, bucket, calls FROM plugin_call_histogram WHERE ($1 = '' OR plugin = $1) ORDER BY plugin, version, bucket",
    )
    .bind(plugin.unwrap_or(""))
    .fetch_all(tx)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                get_str(r, "plugin")?,
                get_str(r, "version")?,
                get_i64(r, "bucket")?,
                get_i64(r, "calls")?,
            ))
        })
        .collect()
}

/// Recent failures of one plugin across shops (the operator's view), newest first.
pub async fn failures_across_shops(
    tx: &mut Tx,
    plugin: &str,
    version: Option<&str>,
    limit: i64,
) -> Result<Vec<(String, crate::plugins::Failure)>> {
    let rows = query(
        "SELECT id, shop_id, plugin, version, hook, kind, message, duration_us, created_at FROM plugin_failures \
         WHERE plugin = $1 AND ($2 = '' OR version = $2) ORDER BY id DESC LIMIT $3",
    )
    .bind(plugin)
    .bind(version.unwrap_or(""))
    .bind(limit)
    .fetch_all(tx)
    .await?;
    rows.iter()
        .map(|r| {
            Ok((
                get_str(r, "shop_id")?,
                crate::plugins::Failure {
                    id: get_i64(r, "id")?,
                    plugin: get_str(r, "plugin")?,
                    version: get_str(r, "version")?,
                    hook: get_str(r, "hook")?,
                    kind: get_str(r, "kind")?,
                    message: get_str(r, "message")?,
                    duration_us: get_i64(r, "duration_us")?,
                    created_at: get_i64(r, "created_at")?,
                },
            ))
        })
        .collect()
}
