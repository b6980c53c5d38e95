//! Plugin installation per shop, plugin actions, and the record of plugin calls: faults are
//! written at once (with the circuit breaker's decision), successes are counted in memory
//! and written in bulk by the worker.

use crate::dispatch::{CallFailure, CallReport, Session};
use crate::{CoreError, Op, Platform, Result};
use baseplate_marketplace::{
    ActorKind, Capability as MarketCapability, CapabilityDiff, Manifest, Rollout, VersionState,
};
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
    /// Why the version's state last changed (the operator's yank or revoke reason).
    pub state_reason: Option<String>,
}

impl Installed {
    pub fn name(&self) -> &str {
        &self.installation.plugin
    }

    /// Runs for this shop now: enabled and its version not revoked.
    pub fn active(&self) -> bool {
        self.installation.enabled && self.package_state.runs()
    }

    /// Why it does not run (for a merchant, and for held deliveries); "" when it runs.
    pub fn not_running_reason(&self) -> String {
        if !self.package_state.runs() {
            format!(
                "{}@{} was {} by the platform operator: {}",
                self.installation.plugin,
                self.installation.version,
                self.package_state,
                self.state_reason.as_deref().unwrap_or("no reason given")
            )
        } else if !self.installation.enabled {
            "the plugin is disabled in this shop".to_string()
        } else {
            String::new()
        }
    }

    /// The capabilities the merchant accepted.
    pub fn accepted(&self) -> Vec<MarketCapability> {
        parse_accepted(&self.installation.accepted_capabilities)
    }

    /// What the linker gives it: what its manifest asks for and the merchant accepted.
    pub(crate) fn grants(&self) -> Grants {
        let accepted = self.accepted();
        Grants::of(
            self.manifest
                .capabilities
                .iter()
                .filter(|c| accepted.contains(c))
                .filter_map(|c| Capability::parse(c.as_str())),
        )
    }
}

/// The stored JSON list of accepted capabilities (unknown names are dropped: they grant
/// nothing).
pub(crate) fn parse_accepted(json: &str) -> Vec<MarketCapability> {
    let names: Vec<String> = serde_json::from_str(json).unwrap_or_default();
    let mut caps: Vec<MarketCapability> = names.iter().filter_map(|n| n.parse().ok()).collect();
    caps.sort();
    caps.dedup();
    caps
}

fn accepted_json(caps: &[MarketCapability]) -> String {
    serde_json::to_string(caps).unwrap_or_else(|_| "[]".into())
}

/// name, version, digest → the parsed manifest.
type ManifestCache =
    parking_lot::Mutex<std::collections::HashMap<(String, String, String), Arc<Manifest>>>;

/// Parsed manifests by name@version: a published version never changes, so each is parsed
/// once per process.
pub(crate) fn parse_manifest(p: &PackageRow) -> Result<Arc<Manifest>> {
    if let Some(m) = cached_manifest(p) {
        return Ok(m);
    }
    let key = (p.name.clone(), p.version.clone(), p.digest.clone());
    let m = Arc::new(Manifest::from_json(&p.manifest).map_err(|e| {
        CoreError::Internal(format!("stored manifest of {}@{}: {e}", p.name, p.version))
    })?);
    manifests().lock().insert(key, m.clone());
    Ok(m)
}

fn manifests() -> &'static ManifestCache {
    static CACHE: std::sync::OnceLock<ManifestCache> = std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

fn cached_manifest(p: &PackageRow) -> Option<Arc<Manifest>> {
    manifests()
        .lock()
        .get(&(p.name.clone(), p.version.clone(), p.digest.clone()))
        .cloned()
}

pub(crate) fn parse_state(s: &str) -> Result<VersionState> {
    s.parse()
        .map_err(|_| CoreError::Internal(format!("unknown package state {s:?}")))
}

/// Every installation of the shop with its manifest, in plugin-name order (the order
/// plugins run in within a stage).
pub async fn installed(tx: &mut Tx, shop: &str) -> Result<Vec<Installed>> {
    // The rows come without manifests (kilobytes each, read on every checkout); a version's
    // manifest never changes, so it is read once per process.
    let rows = store::installed_packages(tx, shop).await?;
    let mut out = Vec::with_capacity(rows.len());
    for mut r in rows {
        let manifest = match cached_manifest(&r.package) {
            Some(m) => m,
            None => {
                let full = store::get_package(tx, &r.package.name, &r.package.version, false)
                    .await?
                    .ok_or_else(|| {
                        CoreError::Internal(format!(
                            "package {}@{} is missing",
                            r.package.name, r.package.version
                        ))
                    })?;
                r.package.manifest = full.manifest;
                parse_manifest(&r.package)?
            }
        };
        out.push(Installed {
            manifest,
            digest: r.package.digest.clone(),
            package_state: parse_state(&r.package.state)?,
            state_reason: r.package.state_reason.clone(),
            installation: r.installation,
        });
    }
    Ok(out)
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
        state_reason: pkg.state_reason.clone(),
        installation: inst,
    })
}

/// Calls counted on this node and not yet written: successes per (shop, plugin, version,
/// hook) → (calls, total µs), and every call's duration per (plugin, version, bucket).
#[derive(Default)]
pub(crate) struct PendingStats {
    calls: HashMap<(String, String, String, &'static str), (i64, i64)>,
    histogram: HashMap<(String, String, i64), i64>,
}

/// Upper bounds (µs) of the call-duration histogram's buckets, 1-2-5 steps; the last one
/// also holds anything slower.
pub const DURATION_BUCKETS_US: [i64; 20] = [
    10, 20, 50, 100, 200, 500, 1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 200_000,
    500_000, 1_000_000, 2_000_000, 5_000_000, 10_000_000, 60_000_000,
];

/// The histogram bucket of a duration.
pub fn duration_bucket(us: i64) -> i64 {
    DURATION_BUCKETS_US
        .iter()
        .copied()
        .find(|b| us <= *b)
        .unwrap_or(DURATION_BUCKETS_US[DURATION_BUCKETS_US.len() - 1])
}

/// The 99th percentile from (bucket, calls) pairs: the upper bound of the bucket the 99th
/// percentile call falls in (None without calls).
pub fn p99_from_histogram(buckets: &[(i64, i64)]) -> Option<i64> {
    let total: i64 = buckets.iter().map(|(_, n)| n).sum();
    if total <= 0 {
        return None;
    }
    let mut sorted = buckets.to_vec();
    sorted.sort();
    // The smallest rank r with r >= 0.99 × total, in integers.
    let rank = (total * 99 + 99) / 100;
    let mut seen = 0;
    for (bucket, n) in sorted {
        seen += n;
        if seen >= rank {
            return Some(bucket);
        }
    }
    None
}

/// The longest a tripped breaker stays open.
const MAX_TRIP_MS: i64 = 3_600_000;

/// Recorded calls kept per shop and plugin, and for how long at most.
pub const RUNS_KEPT: i64 = 200;
pub const RUNS_MAX_AGE_MS: i64 = 7 * 24 * 3_600_000;
/// How long diagnostics stay on when the merchant names no time, and at most.
pub const DIAGNOSTICS_DEFAULT_MS: i64 = 24 * 3_600_000;
pub const DIAGNOSTICS_MAX_MS: i64 = 7 * 24 * 3_600_000;

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
                let us = r.duration.as_micros() as i64;
                *pending
                    .histogram
                    .entry((r.plugin.clone(), r.version.clone(), duration_bucket(us)))
                    .or_default() += 1;
                match &r.failure {
                    Some((kind, _)) if kind.is_plugin_fault() => faults.push(r),
                    Some(_) => {}
                    None => {
                        let e = pending
                            .calls
                            .entry((r.shop.clone(), r.plugin.clone(), r.version.clone(), r.hook))
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
        let runs: Vec<&CallReport> = reports.iter().filter(|r| r.run.is_some()).collect();
        if faults.is_empty() && resets.is_empty() && runs.is_empty() {
            return;
        }
        let runs = &runs;
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
                        store::record_version_calls(
                            op.tx(),
                            &r.plugin,
                            &r.version,
                            &r.shop,
                            1,
                            1,
                            us,
                        )
                        .await?;
                        if streak >= settings.breaker_threshold {
                            self.trip(op, r, streak, kind.as_str(), message).await?;
                        }
                    }
                    for (shop, plugin) in resets {
                        store::reset_streak(op.tx(), shop, plugin).await?;
                    }
                    let now = op.now;
                    for r in runs {
                        let run = r.run.as_ref().expect("recorded");
                        store::insert_run(
                            op.tx(),
                            &store::NewRun {
                                shop: &r.shop,
                                plugin: &r.plugin,
                                version: &r.version,
                                hook: r.hook,
                                outcome: &run.outcome,
                                duration_us: r.duration.as_micros() as i64,
                                record: &run.record,
                            },
                            now,
                            RUNS_KEPT,
                            now - RUNS_MAX_AGE_MS,
                        )
                        .await?;
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
        if pending.calls.is_empty() && pending.histogram.is_empty() {
            return Ok(());
        }
        let now = self.now();
        let pending_ref = &pending;
        let r = self
            .write("", |op| {
                Box::pin(async move {
                    for ((shop, plugin, version, hook), (calls, us)) in &pending_ref.calls {
                        store::record_call(
                            op.tx(),
                            shop,
                            plugin,
                            version,
                            hook,
                            *calls,
                            None,
                            false,
                            *us,
                            now,
                        )
                        .await?;
                        store::record_version_calls(op.tx(), plugin, version, shop, *calls, 0, *us)
                            .await?;
                    }
                    for ((plugin, version, bucket), calls) in &pending_ref.histogram {
                        store::record_histogram(op.tx(), plugin, version, *bucket, *calls).await?;
                    }
                    Ok(())
                })
            })
            .await;
        if r.is_err() {
            // Keep them for the next flush.
            let mut p = self.call_stats.lock();
            for (k, (c, us)) in pending.calls {
                let e = p.calls.entry(k).or_default();
                e.0 += c;
                e.1 += us;
            }
            for (k, n) in pending.histogram {
                *p.histogram.entry(k).or_default() += n;
            }
        }
        r
    }

    /// Calls not yet written, for a shop's health view.
    pub(crate) fn unflushed_stats(&self, shop: &str) -> Vec<(String, &'static str, i64, i64)> {
        self.call_stats
            .lock()
            .calls
            .iter()
            .filter(|((s, _, _, _), _)| s == shop)
            .map(|((_, p, _, h), (c, us))| (p.clone(), *h, *c, *us))
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
            // The shop's turn first: a shop flooding its own actions waits (or is refused
            // as busy) here, before it reads, so the flood costs other shops no database
            // work.
            let turn = self.sandbox_turn(shop).await?;
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
            let (session, outcome) = self
                .in_sandbox_turn(Some(turn), session, move |s| s.call(0, hook))
                .await?;
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

/// Install request: a semver requirement ("^0.1", "=0.1.2", "*"), an optional config, and
/// the capabilities the merchant accepts — they must be exactly what the resolved version
/// asks for, unless the shop already accepted all of them.
pub struct InstallRequest {
    pub plugin: String,
    pub version_req: String,
    pub config: Option<serde_json::Value>,
    pub accept_capabilities: Option<Vec<String>>,
}

/// How an installation moves to a version.
pub(crate) struct Move {
    pub version_req: String,
    pub pinned: bool,
    /// A new config (JSON text); None keeps the current one (or the manifest's default).
    pub config: Option<String>,
    /// What the merchant accepted with this request.
    pub accept: Option<Vec<MarketCapability>>,
}

/// What an upgrade would change, for the merchant to read before accepting it.
#[derive(Clone, Debug, serde::Serialize)]
pub struct UpgradePreview {
    pub plugin: String,
    pub current_version: String,
    pub current_state: VersionState,
    pub version_req: String,
    pub pinned: bool,
    pub accepted_capabilities: Vec<MarketCapability>,
    /// The version the requirement resolves to now, if it is not the current one.
    pub available: Option<AvailableUpgrade>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct AvailableUpgrade {
    pub version: String,
    pub capabilities: Vec<MarketCapability>,
    /// Against what the shop accepted: `added` must be accepted to upgrade.
    pub diff: CapabilityDiff,
    pub needs_acceptance: bool,
    /// Send this as `accept_capabilities` to upgrade.
    pub accept_capabilities: Vec<MarketCapability>,
}

/// The versions of `plugin` that `shop` may newly resolve to: approved and released, or in
/// a running canary that includes the shop; each with its state and contract.
async fn candidates_for_shop(
    tx: &mut Tx,
    shop: &str,
    versions: &[PackageRow],
) -> Result<Vec<(semver::Version, VersionState, semver::Version)>> {
    let Some(first) = versions.first() else {
        return Ok(Vec::new());
    };
    let canary = baseplate_store::registry::canary_versions_for_shop(tx, &first.name, shop).await?;
    Ok(versions
        .iter()
        .filter(|v| {
            v.rollout
                .parse::<Rollout>()
                .is_ok_and(|r| r.resolves_for_everyone())
                || canary.contains(&v.version)
        })
        .filter_map(|v| {
            Some((
                v.version.parse().ok()?,
                parse_state(&v.state).ok()?,
                v.wit.parse().ok()?,
            ))
        })
        .collect())
}

/// The package `requirement` resolves to for `shop`.
pub(crate) async fn resolve_for_shop(
    tx: &mut Tx,
    shop: &str,
    plugin: &str,
    requirement: &str,
) -> Result<PackageRow> {
    let version_req = semver::VersionReq::parse(requirement).map_err(|e| {
        CoreError::Invalid(format!(
            "version {requirement:?} is not a semver requirement: {e}"
        ))
    })?;
    let versions = store::list_packages(tx, Some(plugin)).await?;
    if versions.is_empty() {
        return Err(CoreError::NotFound(format!(
            "no plugin named {plugin:?} in the marketplace"
        )));
    }
    let candidates = candidates_for_shop(tx, shop, &versions).await?;
    let Some(version) = baseplate_marketplace::resolve(
        &version_req,
        &candidates,
        baseplate_marketplace::SUPPORTED_WIT,
    ) else {
        // Say why an exact version the merchant named is not installable.
        let named = versions.iter().find(|v| {
            v.version.parse::<semver::Version>().is_ok_and(|ver| {
                version_req.matches(&ver) && requirement.trim_start().starts_with('=')
            })
        });
        let why = match named {
            Some(v) if v.state == "yanked" => format!(
                "; {plugin}@{} is yanked (no new installs): {}",
                v.version,
                v.state_reason.as_deref().unwrap_or("no reason given")
            ),
            Some(v) if v.state != "approved" => {
                format!("; {plugin}@{} is {}", v.version, v.state)
            }
            Some(v) => format!(
                "; {plugin}@{} is not released yet ({})",
                v.version, v.rollout
            ),
            None => String::new(),
        };
        return Err(CoreError::refused(
            crate::Refusal::Conflict,
            "no_installable_version",
            format!("no approved version of {plugin} matches {requirement}{why}"),
        ));
    };
    let version = version.to_string();
    Ok(versions
        .into_iter()
        .find(|v| v.version == version)
        .expect("resolved from this list"))
}

fn capability_names(caps: &[MarketCapability]) -> Vec<&'static str> {
    caps.iter().map(|c| c.as_str()).collect()
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
    /// highest approved, released version matching the requirement (or one of a canary the
    /// shop is in), checks the merchant accepted its capabilities, validates the config, and
    /// enables it.
    pub async fn install(&self, shop: &str, req: InstallRequest) -> Result<Installation> {
        let accept = match &req.accept_capabilities {
            None => None,
            Some(names) => Some(
                names
                    .iter()
                    .map(|n| {
                        n.parse::<MarketCapability>()
                            .map_err(|e| CoreError::Invalid(format!("accept_capabilities: {e}")))
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
        };
        let requirement = req.version_req.trim().to_string();
        let plugin = req.plugin.as_str();
        let requirement_ref = requirement.as_str();
        let pkg = self
            .read(|tx| {
                Box::pin(async move {
                    shops::get(tx, shop)
                        .await?
                        .ok_or_else(|| CoreError::NotFound("shop not found".into()))?;
                    resolve_for_shop(tx, shop, plugin, requirement_ref).await
                })
            })
            .await?;
        self.move_to(
            shop,
            &pkg,
            Move {
                pinned: requirement.starts_with('='),
                version_req: requirement,
                config: req.config.as_ref().map(|c| c.to_string()),
                accept,
            },
        )
        .await
    }

    /// Moves the shop's installation of `pkg.name` to `pkg` (installing it if absent):
    /// checks the capabilities against what the merchant accepted, validates the config
    /// with the target version, writes it, and wakes the deliveries held while the plugin
    /// did not run.
    pub(crate) async fn move_to(
        &self,
        shop: &str,
        pkg: &PackageRow,
        m: Move,
    ) -> Result<Installation> {
        let now = self.now();
        let manifest = parse_manifest(pkg)?;
        let (shop_row, existing) = self
            .read(|tx| {
                Box::pin(async move {
                    let shop_row = shops::get(tx, shop)
                        .await?
                        .ok_or_else(|| CoreError::NotFound("shop not found".into()))?;
                    let existing = store::get_installation(tx, shop, &pkg.name).await?;
                    Ok((shop_row, existing))
                })
            })
            .await?;
        let accepted_before = existing
            .as_ref()
            .map(|e| parse_accepted(&e.accepted_capabilities))
            .unwrap_or_default();
        let asks = &manifest.capabilities;
        let diff = CapabilityDiff::between(&accepted_before, asks);
        let accepted = match &m.accept {
            Some(accept) if baseplate_marketplace::same_capabilities(accept, asks) => {
                let mut all = accepted_before.clone();
                all.extend(asks.iter().copied());
                all.sort();
                all.dedup();
                all
            }
            Some(accept) => {
                return Err(CoreError::Refused {
                    kind: crate::Refusal::Conflict,
                    code: "capabilities_not_accepted",
                    message: format!(
                        "{}@{} asks for the capabilities {:?}; accept_capabilities was {:?}: send exactly the list it asks for",
                        pkg.name,
                        pkg.version,
                        capability_names(asks),
                        capability_names(accept)
                    ),
                    details: Some(serde_json::json!({
                        "plugin": pkg.name, "version": pkg.version,
                        "capabilities": asks, "added": diff.added,
                    })),
                });
            }
            None if diff.widens() => {
                return Err(CoreError::Refused {
                    kind: crate::Refusal::Conflict,
                    code: "capabilities_not_accepted",
                    message: format!(
                        "{}@{} asks for the capabilities {:?} ({:?} not accepted yet in this shop); \
                         send \"accept_capabilities\": {} to accept them",
                        pkg.name,
                        pkg.version,
                        capability_names(asks),
                        capability_names(&diff.added),
                        serde_json::to_string(&capability_names(asks)).unwrap_or_default()
                    ),
                    details: Some(serde_json::json!({
                        "plugin": pkg.name, "version": pkg.version,
                        "capabilities": asks, "added": diff.added,
                    })),
                });
            }
            None => accepted_before.clone(),
        };
        let version = pkg.version.clone();
        let config = match &m.config {
            Some(c) => c.clone(),
            None => existing
                .as_ref()
                .map(|e| e.config.clone())
                .unwrap_or_else(|| manifest.config.default.clone()),
        };
        let moved = existing.as_ref().is_some_and(|e| e.version != version);
        let inst = Installation {
            shop_id: shop.to_string(),
            plugin: pkg.name.clone(),
            version_req: m.version_req,
            version: version.clone(),
            pinned: m.pinned,
            previous_version: if moved {
                existing.as_ref().map(|e| e.version.clone())
            } else {
                existing.as_ref().and_then(|e| e.previous_version.clone())
            },
            config,
            enabled: true,
            consecutive_failures: 0,
            tripped_until: None,
            installed_at: existing.as_ref().map(|e| e.installed_at).unwrap_or(now),
            updated_at: now,
            trips: existing.as_ref().map(|e| e.trips).unwrap_or(0),
            tripped_reason: None,
            accepted_capabilities: accepted_json(&accepted),
            diagnostics_until: existing.as_ref().and_then(|e| e.diagnostics_until),
        };
        let p = Installed {
            installation: inst,
            manifest,
            digest: pkg.digest.clone(),
            package_state: parse_state(&pkg.state)?,
            state_reason: pkg.state_reason.clone(),
        };
        let previous_config = existing.as_ref().map(|e| e.config.clone());
        let config = p.installation.config.clone();
        self.validate_config(&shop_row, &p, &config, previous_config)
            .await?;
        let runs = p.active();
        let inst = p.installation;
        let inst_ref = &inst;
        self.write(shop, |op| {
            Box::pin(async move {
                store::upsert_installation(op.tx(), inst_ref).await?;
                if runs {
                    let now = op.now;
                    let woken =
                        baseplate_store::events::wake_held(op.tx(), shop, &inst_ref.plugin, now)
                            .await?;
                    op.events.extend(woken);
                }
                Ok(())
            })
        })
        .await?;
        Ok(inst)
    }

    /// What upgrading would do: the version the shop's requirement (or `requirement`)
    /// resolves to now, and its capabilities against what the shop accepted.
    pub async fn upgrade_preview(
        &self,
        shop: &str,
        plugin: &str,
        requirement: Option<&str>,
    ) -> Result<UpgradePreview> {
        self.read(|tx| {
            Box::pin(async move {
                let p = installed_one(tx, shop, plugin).await?;
                let req = requirement
                    .map(str::to_string)
                    .unwrap_or_else(|| p.installation.version_req.clone());
                let accepted = p.accepted();
                let available = match resolve_for_shop(tx, shop, plugin, &req).await {
                    Ok(pkg) if pkg.version != p.installation.version => {
                        let m = parse_manifest(&pkg)?;
                        let diff = CapabilityDiff::between(&accepted, &m.capabilities);
                        Some(AvailableUpgrade {
                            version: pkg.version.clone(),
                            capabilities: m.capabilities.clone(),
                            needs_acceptance: diff.widens(),
                            diff,
                            accept_capabilities: m.capabilities.clone(),
                        })
                    }
                    Ok(_) | Err(CoreError::Refused { .. }) => None,
                    Err(e) => return Err(e),
                };
                Ok(UpgradePreview {
                    plugin: plugin.to_string(),
                    current_version: p.installation.version.clone(),
                    current_state: p.package_state,
                    version_req: p.installation.version_req.clone(),
                    pinned: p.installation.pinned,
                    accepted_capabilities: accepted,
                    available,
                })
            })
        })
        .await
    }

    /// Upgrades to what `requirement` (default: the installation's own, unless pinned)
    /// resolves to, accepting `accept` if the new version asks for more.
    pub async fn upgrade(
        &self,
        shop: &str,
        plugin: &str,
        requirement: Option<String>,
        accept_capabilities: Option<Vec<String>>,
    ) -> Result<Installation> {
        let current = self
            .read(|tx| Box::pin(async move { installed_one(tx, shop, plugin).await }))
            .await?;
        let version_req = match requirement {
            Some(r) => r,
            None if current.installation.pinned => {
                return Err(CoreError::Conflict(format!(
                    "{plugin} is pinned at {} ({}); pass a version requirement (e.g. \"version\": \"*\") to upgrade",
                    current.installation.version, current.installation.version_req
                )));
            }
            None => current.installation.version_req.clone(),
        };
        self.install(
            shop,
            InstallRequest {
                plugin: plugin.to_string(),
                version_req,
                config: None,
                accept_capabilities,
            },
        )
        .await
    }

    /// Pins the installation at the version it runs: releases no longer move it.
    pub async fn pin(&self, shop: &str, plugin: &str) -> Result<Installation> {
        self.write(shop, |op| {
            Box::pin(async move {
                let mut inst = installed_one(op.tx(), shop, plugin).await?.installation;
                inst.version_req = format!("={}", inst.version);
                inst.pinned = true;
                inst.updated_at = op.now;
                store::upsert_installation(op.tx(), &inst).await?;
                Ok(inst)
            })
        })
        .await
    }

    /// Unpins: the installation follows `requirement` (default `^<its version>`), which must
    /// match the version it runs; releases then move it forward.
    pub async fn unpin(
        &self,
        shop: &str,
        plugin: &str,
        requirement: Option<String>,
    ) -> Result<Installation> {
        let requirement = &requirement;
        self.write(shop, |op| {
            Box::pin(async move {
                let mut inst = installed_one(op.tx(), shop, plugin).await?.installation;
                let req = requirement
                    .clone()
                    .unwrap_or_else(|| format!("^{}", inst.version));
                let parsed = semver::VersionReq::parse(&req).map_err(|e| {
                    CoreError::Invalid(format!("version {req:?} is not a semver requirement: {e}"))
                })?;
                let current: semver::Version = inst.version.parse().map_err(|_| {
                    CoreError::Internal(format!("installed version {:?}", inst.version))
                })?;
                if !parsed.matches(&current) || req.trim_start().starts_with('=') {
                    return Err(CoreError::Invalid(format!(
                        "version {req:?} must match the running version {} and not pin it (e.g. \"^{}\")",
                        inst.version, inst.version
                    )));
                }
                inst.version_req = req;
                inst.pinned = false;
                inst.updated_at = op.now;
                store::upsert_installation(op.tx(), &inst).await?;
                Ok(inst)
            })
        })
        .await
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
    /// count of recent trips stays, so a plugin that trips again stays off longer) and
    /// delivers the events held while it was off.
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
                if p.active() {
                    let now = op.now;
                    let woken =
                        baseplate_store::events::wake_held(op.tx(), shop, plugin, now).await?;
                    op.events.extend(woken);
                }
                Ok(p.installation)
            })
        })
        .await
    }

    /// Goes back to the version that ran before the last upgrade, pinned there. A yanked
    /// version may be rolled back to (shops that had it keep it); a revoked one may not.
    pub async fn rollback(&self, shop: &str, plugin: &str) -> Result<Installation> {
        let pkg = self
            .read(|tx| {
                Box::pin(async move {
                    let p = installed_one(tx, shop, plugin).await?;
                    let prev = p.installation.previous_version.clone().ok_or_else(|| {
                        CoreError::Conflict(format!(
                            "{plugin} has no earlier version to roll back to"
                        ))
                    })?;
                    let pkg = store::get_package(tx, plugin, &prev, false)
                        .await?
                        .ok_or_else(|| {
                            CoreError::Internal(format!("package {plugin}@{prev} is missing"))
                        })?;
                    if !parse_state(&pkg.state)?.runs() {
                        return Err(CoreError::Conflict(format!(
                            "{plugin}@{prev} is {} and cannot run; upgrade instead",
                            pkg.state
                        )));
                    }
                    Ok(pkg)
                })
            })
            .await?;
        self.move_to(
            shop,
            &pkg,
            Move {
                version_req: format!("={}", pkg.version),
                pinned: true,
                config: None,
                accept: None,
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

    /// The marketplace as merchants see it: every released version that can be installed
    /// or still runs somewhere (yanked), with its manifest and state. Staged, canary and
    /// halted versions are not offered.
    pub async fn marketplace(&self) -> Result<Vec<serde_json::Value>> {
        let rows = self
            .read(|tx| Box::pin(async move { Ok(store::list_packages(tx, None).await?) }))
            .await?;
        Ok(rows
            .into_iter()
            .filter(|r| {
                r.rollout == Rollout::Released.as_str()
                    && matches!(r.state.as_str(), "approved" | "yanked")
            })
            .map(|r| {
                serde_json::json!({
                    "name": r.name,
                    "version": r.version,
                    "state": r.state,
                    "wit": r.wit,
                    "digest": r.digest,
                    "publisher": r.publisher_key,
                    "developer_id": r.developer_id,
                    "manifest": serde_json::from_str::<serde_json::Value>(&r.manifest).unwrap_or(serde_json::Value::Null),
                })
            })
            .collect())
    }
}
