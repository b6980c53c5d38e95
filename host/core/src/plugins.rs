//! Plugin installation per shop, plugin actions, and the record of plugin calls: faults are
//! written at once (with the circuit breaker's decision), successes are counted in memory
//! and written in bulk by the worker.

use crate::dispatch::{CallFailure, CallReport, Session};
use crate::{CoreError, Op, Platform, Result};
use baseplate_marketplace::{ActorKind, Manifest, VersionState};
use baseplate_runtime::{Actor, Capability, Grants, Hook, HookOutput};
use baseplate_store::Tx;
use baseplate_store::plugins::{self as store, Installation, PackageRow};
use baseplate_store::shops::{self, Shop};
use std::collections::HashMap;
use std::sync::Arc;

/// An enabled or disabled installation, with the manifest of the version it runs.
#[derive(Clone, Debug)]
pub struct Installed {
    pub installation: Installation,
    pub manifest: Arc<Manifest>,
    pub digest: String,
    pub package_state: VersionState,
}

impl Installed {
    pub fn name(&self) -> &str {
        &self.installation.plugin
    }

    /// Runs for this shop now: enabled and its version not revoked.
    pub fn active(&self) -> bool {
        self.installation.enabled && self.package_state.runs()
    }

    pub(crate) fn grants(&self) -> Grants {
        Grants::of(
            self.manifest
                .capabilities
                .iter()
                .filter_map(|c| Capability::parse(c.as_str())),
        )
    }
}

/// name, version, digest → the parsed manifest.
type ManifestCache =
    parking_lot::Mutex<std::collections::HashMap<(String, String, String), Arc<Manifest>>>;

/// Parsed manifests by name@version: a published version never changes, so each is parsed
/// once per process.
fn parse_manifest(p: &PackageRow) -> Result<Arc<Manifest>> {
    use std::sync::OnceLock;
    static CACHE: OnceLock<ManifestCache> = OnceLock::new();
    let key = (p.name.clone(), p.version.clone(), p.digest.clone());
    let cache = CACHE.get_or_init(Default::default);
    if let Some(m) = cache.lock().get(&key) {
        return Ok(m.clone());
    }
    let m = Arc::new(Manifest::from_json(&p.manifest).map_err(|e| {
        CoreError::Internal(format!("stored manifest of {}@{}: {e}", p.name, p.version))
    })?);
    cache.lock().insert(key, m.clone());
    Ok(m)
}

fn parse_state(s: &str) -> Result<VersionState> {
    s.parse()
        .map_err(|_| CoreError::Internal(format!("unknown package state {s:?}")))
}

/// Every installation of the shop with its manifest, in plugin-name order (the order
/// plugins run in within a stage).
pub async fn installed(tx: &mut Tx, shop: &str) -> Result<Vec<Installed>> {
    let rows = store::installed_packages(tx, shop).await?;
    rows.into_iter()
        .map(|r| {
            Ok(Installed {
                manifest: parse_manifest(&r.package)?,
                digest: r.package.digest.clone(),
                package_state: parse_state(&r.package.state)?,
                installation: r.installation,
            })
        })
        .collect()
}

pub async fn installed_one(tx: &mut Tx, shop: &str, plugin: &str) -> Result<Installed> {
    let inst = store::get_installation(tx, shop, plugin)
        .await?
        .ok_or_else(|| {
            CoreError::NotFound(format!("plugin {plugin} is not installed in this shop"))
        })?;
    let pkg = store::get_package(tx, plugin, &inst.version, false)
        .await?
        .ok_or_else(|| {
            CoreError::Internal(format!("package {plugin}@{} is missing", inst.version))
        })?;
    Ok(Installed {
        manifest: parse_manifest(&pkg)?,
        digest: pkg.digest.clone(),
        package_state: parse_state(&pkg.state)?,
        installation: inst,
    })
}

/// Successful calls counted on this node and not yet written: (shop, plugin, hook) →
/// (calls, total µs).
pub(crate) type PendingStats = HashMap<(String, String, &'static str), (i64, i64)>;

/// The longest a tripped breaker stays open.
const MAX_TRIP_MS: i64 = 3_600_000;

impl Platform {
    /// Records an operation's plugin calls: metrics for all; faults (and the breaker's
    /// decision) in the database now; successes in memory, written by `flush_call_stats`.
    pub(crate) async fn record_calls(&self, reports: &[CallReport]) {
        let mut faults = Vec::new();
        let mut resets = Vec::new();
        {
            let mut pending = self.call_stats.lock();
            for r in reports {
                let outcome = match &r.failure {
                    Some((kind, _)) => kind.as_str(),
                    None => "ok",
                };
                metrics::counter!("baseplate_plugin_calls_total", "plugin" => r.plugin.clone(), "hook" => r.hook, "outcome" => outcome).increment(1);
                metrics::histogram!("baseplate_plugin_call_duration_seconds", "plugin" => r.plugin.clone(), "hook" => r.hook).record(r.duration.as_secs_f64());
                match &r.failure {
                    Some((kind, _)) if kind.is_plugin_fault() => faults.push(r),
                    Some(_) => {}
                    None => {
                        let e = pending
                            .entry((r.shop.clone(), r.plugin.clone(), r.hook))
                            .or_default();
                        e.0 += 1;
                        e.1 += r.duration.as_micros() as i64;
                        if r.reset_streak
                            && !resets
                                .iter()
                                .any(|(s, p): &(String, String)| *s == r.shop && *p == r.plugin)
                        {
                            resets.push((r.shop.clone(), r.plugin.clone()));
                        }
                    }
                }
            }
        }
        if faults.is_empty() && resets.is_empty() {
            return;
        }
        let shop = reports.first().map(|r| r.shop.clone()).unwrap_or_default();
        let settings = &self.settings;
        let (faults, resets) = (&faults, &resets);
        let written = self
            .write(&shop, |op| {
                Box::pin(async move {
                    for r in faults {
                        let (kind, message) = r.failure.as_ref().expect("a fault");
                        let us = r.duration.as_micros() as i64;
                        let now = op.now;
                        let streak = store::record_call(
                            op.tx(),
                            &r.shop,
                            &r.plugin,
                            &r.version,
                            r.hook,
                            1,
                            Some((kind.as_str(), message)),
                            false,
                            us,
                            now,
                        )
                        .await?;
                        if streak >= settings.breaker_threshold {
                            self.trip(op, r, streak, kind.as_str(), message).await?;
                        }
                    }
                    for (shop, plugin) in resets {
                        store::reset_streak(op.tx(), shop, plugin).await?;
                    }
                    Ok(())
                })
            })
            .await;
        if let Err(e) = written {
            tracing::warn!("recording plugin failures failed: {e}");
        }
    }

    /// Opens the breaker: each trip in a row lasts twice as long as the one before (the
    /// count resets after an hour without a trip), and the merchant reads why.
    async fn trip(
        &self,
        op: &mut Op<'_>,
        r: &CallReport,
        streak: i64,
        kind: &str,
        message: &str,
    ) -> Result<()> {
        let Some(inst) = store::get_installation(op.tx(), &r.shop, &r.plugin).await? else {
            return Ok(());
        };
        let recent = inst.tripped_until.is_some_and(|t| op.now - t < MAX_TRIP_MS);
        let trips = if recent { inst.trips + 1 } else { 1 };
        let ms = (self.settings.breaker_cooldown_ms << (trips - 1).min(16)).min(MAX_TRIP_MS);
        let reason = format!(
            "{streak} failures in a row in {} (last: {kind}: {})",
            r.hook,
            message.chars().take(200).collect::<String>()
        );
        let until = op.now + ms;
        store::trip(op.tx(), &r.shop, &r.plugin, until, trips, &reason).await?;
        tracing::warn!(shop = %r.shop, plugin = %r.plugin, trips, "plugin tripped off for {ms} ms: {reason}");
        Ok(())
    }

    /// Writes the successful calls counted in memory (the worker calls this).
    pub async fn flush_call_stats(&self) -> Result<()> {
        let pending = std::mem::take(&mut *self.call_stats.lock());
        if pending.is_empty() {
            return Ok(());
        }
        let now = self.now();
        let pending_ref = &pending;
        let r = self
            .write("", |op| {
                Box::pin(async move {
                    for ((shop, plugin, hook), (calls, us)) in pending_ref {
                        store::record_call(
                            op.tx(),
                            shop,
                            plugin,
                            "",
                            hook,
                            *calls,
                            None,
                            false,
                            *us,
                            now,
                        )
                        .await?;
                    }
                    Ok(())
                })
            })
            .await;
        if r.is_err() {
            // Keep them for the next flush.
            let mut p = self.call_stats.lock();
            for (k, (c, us)) in pending {
                let e = p.entry(k).or_default();
                e.0 += c;
                e.1 += us;
            }
        }
        r
    }

    /// Calls not yet written, for a shop's health view.
    pub(crate) fn unflushed_stats(&self, shop: &str) -> Vec<(String, &'static str, i64, i64)> {
        self.call_stats
            .lock()
            .iter()
            .filter(|((s, _, _), _)| s == shop)
            .map(|((_, p, h), (c, us))| (p.clone(), *h, *c, *us))
            .collect()
    }

    /// Takes, after a few lost races, a node-local lock per (shop, plugin) involved, so
    /// operations contending for the same state run one at a time here instead of
    /// invalidating each other's reads forever.
    pub(crate) async fn hot_guards(
        &self,
        shop: &str,
        plugins: &[&str],
        attempt: u32,
    ) -> Vec<tokio::sync::MutexGuard<'_, ()>> {
        if attempt < 2 {
            return Vec::new();
        }
        let mut stripes: Vec<usize> = plugins
            .iter()
            .map(|p| {
                use std::hash::{Hash, Hasher};
                let mut h = std::hash::DefaultHasher::new();
                (shop, p).hash(&mut h);
                (h.finish() % self.hot_locks.len() as u64) as usize
            })
            .collect();
        stripes.sort();
        stripes.dedup();
        let mut guards = Vec::with_capacity(stripes.len());
        for s in stripes {
            guards.push(self.hot_locks[s].lock().await);
        }
        guards
    }

    /// Runs a plugin action for an actor. The manifest must declare the action for that
    /// kind of actor.
    pub async fn plugin_action(
        &self,
        shop: &str,
        plugin: &str,
        action: &str,
        actor: Actor,
        input: serde_json::Value,
    ) -> Result<serde_json::Value> {
        let kind = match &actor {
            Actor::Member(_) => ActorKind::Member,
            Actor::Staff(_) => ActorKind::Staff,
            Actor::System => ActorKind::System,
        };
        let input = input.to_string();
        let seed = random_seed();
        let now = self.now();
        let mut attempt = 0u32;
        loop {
            let (shop_row, p) = self
                .read(|tx| {
                    Box::pin(async move {
                        let shop_row = shops::get(tx, shop)
                            .await?
                            .ok_or_else(|| CoreError::NotFound("shop not found".into()))?;
                        Ok((shop_row, installed_one(tx, shop, plugin).await?))
                    })
                })
                .await?;
            if !p.active() {
                return Err(CoreError::Conflict(format!(
                    "plugin {plugin} is disabled in this shop; enable it first"
                )));
            }
            let decl = p.manifest.action(action).ok_or_else(|| {
                CoreError::NotFound(format!("plugin {plugin} has no action {action:?}"))
            })?;
            if !decl.allows(kind) {
                return Err(CoreError::Forbidden(format!(
                    "action {action:?} of {plugin} is not open to {}",
                    kind.as_str()
                )));
            }
            if let Actor::Member(m) = &actor {
                self.ensure_member(shop, m).await?;
            }
            let _hot = self.hot_guards(shop, &[plugin], attempt).await;
            let session = self
                .session(shop, &shop_row.currency, vec![p], now, seed)
                .await?;
            let hook = Hook::Action {
                actor: actor.clone(),
                name: action.to_string(),
                input: input.clone(),
            };
            let (session, outcome) = self.in_sandbox(session, move |s| s.call(0, hook)).await?;
            let output = match outcome {
                Ok(HookOutput::Json(s)) => Ok(s),
                Ok(_) => Err(CoreError::Internal("unexpected hook output".into())),
                Err(f) => Err(f.into_core(plugin)),
            };
            let committed = match output {
                Ok(json) => self.commit_session(shop, &session).await.map(|()| json),
                Err(e) => self.refusal_or_stale(e, Some(&session)).await,
            };
            self.record_calls(&session.reports).await;
            match committed {
                Err(CoreError::Stale(_)) if attempt + 1 < STALE_ATTEMPTS => {
                    attempt += 1;
                    crate::backoff(attempt).await;
                }
                Err(e) => return Err(e),
                Ok(json) => {
                    return serde_json::from_str(&json).map_err(|e| CoreError::PluginFailed {
                        plugin: plugin.into(),
                        message: format!("output is not JSON: {e}"),
                    });
                }
            }
        }
    }

    /// A plugin's refusal stands only if its reads were consistent; otherwise the operation
    /// runs again (`Stale`).
    pub(crate) async fn refusal_or_stale<T>(
        &self,
        e: CoreError,
        session: Option<&Session>,
    ) -> Result<T> {
        let from_plugin = matches!(e, CoreError::PluginRefused { .. });
        match session {
            Some(s) if from_plugin && !self.reads_hold(s).await? => Err(CoreError::Stale(
                "a plugin refused on reads that changed meanwhile".into(),
            )),
            _ => Err(e),
        }
    }

    /// Commits a session's effects in one write.
    pub(crate) async fn commit_session(&self, shop: &str, session: &Session) -> Result<()> {
        if session.parts.iter().all(|p| p.overlay.effects().is_empty()) {
            return Ok(());
        }
        self.write(shop, |op| {
            Box::pin(async move {
                for p in &session.parts {
                    self.commit_effects(op, p.overlay.effects()).await?;
                }
                Ok(())
            })
        })
        .await
    }

    /// A member acting must exist in the shop (a stale token, or staff acting for a
    /// member id that is not one).
    pub(crate) async fn ensure_member(&self, shop: &str, member: &str) -> Result<()> {
        let found = self
            .read(|tx| {
                Box::pin(async move { Ok(baseplate_store::members::get(tx, shop, member).await?) })
            })
            .await?;
        if found.is_none() {
            return Err(CoreError::NotFound(format!(
                "member {member} not found in this shop"
            )));
        }
        Ok(())
    }
}

/// How often an operation whose plugin reads went stale runs again (after the second
/// time, one at a time on this node) before the caller is told to retry.
pub(crate) const STALE_ATTEMPTS: u32 = 10;

pub(crate) fn random_seed() -> u64 {
    let mut seed = [0u8; 8];
    getrandom::fill(&mut seed).expect("the OS provides randomness");
    u64::from_le_bytes(seed)
}

/// Install request: a semver requirement ("^0.1", "=0.1.2", "*") and an optional config.
pub struct InstallRequest {
    pub plugin: String,
    pub version_req: String,
    pub config: Option<serde_json::Value>,
}

impl Platform {
    /// Validates a config with the plugin's `validate-config` hook (if it declares one).
    async fn validate_config(
        &self,
        shop: &Shop,
        p: &Installed,
        config: &str,
        previous: Option<String>,
    ) -> Result<()> {
        if serde_json::from_str::<serde_json::Value>(config).is_err() {
            return Err(CoreError::Invalid("config must be JSON".into()));
        }
        if !p.manifest.hooks.validate_config {
            return Ok(());
        }
        let session = self
            .session(
                &shop.id,
                &shop.currency,
                vec![p.clone()],
                self.now(),
                random_seed(),
            )
            .await?;
        let hook = Hook::ValidateConfig {
            config: config.to_string(),
            previous,
        };
        let (session, outcome) = self.in_sandbox(session, move |s| s.call(0, hook)).await?;
        self.record_calls(&session.reports).await;
        match outcome {
            Ok(_) => Ok(()),
            Err(CallFailure::Refused(e)) => Err(CoreError::Invalid(format!(
                "config rejected by {}: {}",
                p.name(),
                e.message()
            ))),
            Err(f) => Err(f.into_core(p.name())),
        }
    }

    /// Installs (or re-installs at another version) a plugin for a shop: resolves the
    /// highest approved version matching the requirement, validates the config, and
    /// enables it.
    pub async fn install(&self, shop: &str, req: InstallRequest) -> Result<Installation> {
        let version_req = semver::VersionReq::parse(&req.version_req).map_err(|e| {
            CoreError::Invalid(format!(
                "version {:?} is not a semver requirement: {e}",
                req.version_req
            ))
        })?;
        let now = self.now();
        let (shop_row, p, previous) = self
            .read(|tx| {
                Box::pin(async move {
                    let shop_row = shops::get(tx, shop)
                        .await?
                        .ok_or_else(|| CoreError::NotFound("shop not found".into()))?;
                    let versions = store::list_packages(tx, Some(&req.plugin)).await?;
                    if versions.is_empty() {
                        return Err(CoreError::NotFound(format!(
                            "no plugin named {:?} in the marketplace",
                            req.plugin
                        )));
                    }
                    let candidates: Vec<_> = versions
                        .iter()
                        .filter_map(|v| {
                            Some((
                                v.version.parse().ok()?,
                                parse_state(&v.state).ok()?,
                                v.wit.parse().ok()?,
                            ))
                        })
                        .collect();
                    let version = baseplate_marketplace::resolve(
                        &version_req,
                        &candidates,
                        baseplate_marketplace::SUPPORTED_WIT,
                    )
                    .ok_or_else(|| {
                        CoreError::Conflict(format!(
                            "no approved version of {} matches {}",
                            req.plugin, req.version_req
                        ))
                    })?;
                    let pkg = versions
                        .iter()
                        .find(|v| v.version == version.to_string())
                        .expect("resolved from this list");
                    let manifest = parse_manifest(pkg)?;
                    let existing = store::get_installation(tx, shop, &req.plugin).await?;
                    let config = match &req.config {
                        Some(c) => c.to_string(),
                        None => existing
                            .as_ref()
                            .map(|e| e.config.clone())
                            .unwrap_or_else(|| manifest.config.default.clone()),
                    };
                    let inst = Installation {
                        shop_id: shop.to_string(),
                        plugin: req.plugin.clone(),
                        version_req: req.version_req.clone(),
                        version: version.to_string(),
                        pinned: req.version_req.starts_with('='),
                        previous_version: existing
                            .as_ref()
                            .filter(|e| e.version != version.to_string())
                            .map(|e| e.version.clone())
                            .or(existing.as_ref().and_then(|e| e.previous_version.clone())),
                        config,
                        enabled: true,
                        consecutive_failures: 0,
                        tripped_until: None,
                        installed_at: existing.as_ref().map(|e| e.installed_at).unwrap_or(now),
                        updated_at: now,
                        trips: existing.as_ref().map(|e| e.trips).unwrap_or(0),
                        tripped_reason: None,
                    };
                    let p = Installed {
                        installation: inst,
                        manifest,
                        digest: pkg.digest.clone(),
                        package_state: parse_state(&pkg.state)?,
                    };
                    Ok((shop_row, p, existing.map(|e| e.config)))
                })
            })
            .await?;
        let config = p.installation.config.clone();
        self.validate_config(&shop_row, &p, &config, previous)
            .await?;
        let inst = p.installation;
        let inst_ref = &inst;
        self.write(shop, |op| {
            Box::pin(async move {
                store::upsert_installation(op.tx(), inst_ref).await?;
                Ok(())
            })
        })
        .await?;
        Ok(inst)
    }

    pub async fn configure(
        &self,
        shop: &str,
        plugin: &str,
        config: serde_json::Value,
    ) -> Result<Installation> {
        let config = config.to_string();
        let (shop_row, p) = self
            .read(|tx| {
                Box::pin(async move {
                    let shop_row = shops::get(tx, shop)
                        .await?
                        .ok_or_else(|| CoreError::NotFound("shop not found".into()))?;
                    Ok((shop_row, installed_one(tx, shop, plugin).await?))
                })
            })
            .await?;
        let previous = Some(p.installation.config.clone());
        self.validate_config(&shop_row, &p, &config, previous)
            .await?;
        let now = self.now();
        let config = &config;
        self.write(shop, |op| {
            Box::pin(async move {
                // Re-read: only the config changes, whatever else happened meanwhile.
                let mut inst = installed_one(op.tx(), shop, plugin).await?.installation;
                inst.config = config.clone();
                inst.updated_at = now;
                store::upsert_installation(op.tx(), &inst).await?;
                Ok(inst)
            })
        })
        .await
    }

    /// Enables or disables a plugin for a shop. Enabling also closes its breaker (the
    /// count of recent trips stays, so a plugin that trips again stays off longer).
    pub async fn set_enabled(
        &self,
        shop: &str,
        plugin: &str,
        enabled: bool,
    ) -> Result<Installation> {
        self.write(shop, |op| {
            Box::pin(async move {
                let mut p = installed_one(op.tx(), shop, plugin).await?;
                p.installation.enabled = enabled;
                if enabled {
                    p.installation.tripped_until = None;
                    p.installation.consecutive_failures = 0;
                }
                p.installation.updated_at = op.now;
                store::upsert_installation(op.tx(), &p.installation).await?;
                Ok(p.installation)
            })
        })
        .await
    }

    /// Goes back to the version that ran before the last upgrade, pinned there.
    pub async fn rollback(&self, shop: &str, plugin: &str) -> Result<Installation> {
        let prev = self
            .read(|tx| {
                Box::pin(async move {
                    let p = installed_one(tx, shop, plugin).await?;
                    p.installation.previous_version.clone().ok_or_else(|| {
                        CoreError::Conflict(format!(
                            "{plugin} has no earlier version to roll back to"
                        ))
                    })
                })
            })
            .await?;
        self.install(
            shop,
            InstallRequest {
                plugin: plugin.into(),
                version_req: format!("={prev}"),
                config: None,
            },
        )
        .await
    }

    pub async fn uninstall(&self, shop: &str, plugin: &str) -> Result<()> {
        self.write(shop, |op| {
            Box::pin(async move {
                if !store::delete_installation(op.tx(), shop, plugin).await? {
                    return Err(CoreError::NotFound(format!(
                        "plugin {plugin} is not installed in this shop"
                    )));
                }
                Ok(())
            })
        })
        .await
    }

    pub async fn list_installed(&self, shop: &str) -> Result<Vec<Installed>> {
        self.read(|tx| Box::pin(async move { installed(tx, shop).await }))
            .await
    }

    /// Publishes a package version into the registry after checking its signature, its
    /// manifest, and what the component really is: a component, exporting the hooks of the
    /// contract version its manifest names, importing only that version's interfaces its
    /// manifest declares and the WASI subset the sandbox links.
    pub async fn publish(
        &self,
        package: &baseplate_marketplace::Package,
        state: VersionState,
    ) -> Result<bool> {
        package
            .verify()
            .map_err(|e| CoreError::Invalid(format!("package signature: {e}")))?;
        let m = &package.manifest;
        m.validate()
            .map_err(|e| CoreError::Invalid(e.to_string()))?;
        if !m.targets_supported_wit() {
            return Err(CoreError::Invalid(format!(
                "{}@{} targets WIT {}, which this host does not serve",
                m.name, m.version, m.wit
            )));
        }
        let rt = self.runtime.clone();
        let bytes = package.component.clone();
        let info = tokio::task::spawn_blocking(move || rt.inspect(&bytes))
            .await
            .map_err(|e| CoreError::Internal(e.to_string()))?
            .map_err(|e| CoreError::Invalid(e.to_string()))?;
        if info.contract.as_str() != m.wit.to_string() {
            return Err(CoreError::Invalid(format!(
                "{}@{}'s manifest says wit = \"{}\" but the component exports {}",
                m.name,
                m.version,
                m.wit,
                info.contract.hooks_export()
            )));
        }
        for cap in &info.capabilities {
            if !m.capabilities.iter().any(|c| c.as_str() == cap.name()) {
                return Err(CoreError::Invalid(format!(
                    "{}@{} imports the {} interface but its manifest does not declare the {:?} capability",
                    m.name,
                    m.version,
                    cap.name(),
                    cap.name()
                )));
            }
        }
        let row = PackageRow {
            name: m.name.clone(),
            version: m.version.to_string(),
            wit: m.wit.to_string(),
            manifest: m.to_json().to_string(),
            digest: package.digest_hex(),
            component: package.component.clone(),
            publisher_key: package.publisher.to_hex(),
            signature: package.signature.to_hex(),
            state: state.as_str().to_string(),
            created_at: self.now(),
        };
        let row = &row;
        self.write("", |op| {
            Box::pin(async move { Ok(store::insert_package(op.tx(), row).await?) })
        })
        .await
    }

    /// The marketplace as merchants see it: every published version that can be installed
    /// or still runs somewhere, with its manifest and state.
    pub async fn marketplace(&self) -> Result<Vec<serde_json::Value>> {
        let rows = self
            .read(|tx| Box::pin(async move { Ok(store::list_packages(tx, None).await?) }))
            .await?;
        Ok(rows
            .into_iter()
            .filter(|r| matches!(r.state.as_str(), "approved" | "yanked"))
            .map(|r| {
                serde_json::json!({
                    "name": r.name,
                    "version": r.version,
                    "state": r.state,
                    "wit": r.wit,
                    "digest": r.digest,
                    "publisher": r.publisher_key,
                    "manifest": serde_json::from_str::<serde_json::Value>(&r.manifest).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect())
    }
}
