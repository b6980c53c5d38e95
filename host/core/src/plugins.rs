//! Plugin installation per shop, and dispatch: every call goes through `call`, which checks
//! the circuit breaker, loads the compiled plugin, runs the hook inside the operation's
//! transaction, applies the order actions it asked for, and records the call.

use crate::{CoreError, Op, Platform, Result, Settings, operation};
use baseplate_marketplace::{ActorKind, Manifest, VersionState};
use baseplate_runtime::{
    CallEnv, CallError, Capability, Grants, Hook, HookOutput, OrderAction, wit,
};
use baseplate_store::plugins::{self as store, Installation, PackageRow};
use baseplate_store::{Tx, shops};
use std::sync::Arc;
use std::time::Duration;

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

    fn grants(&self) -> Grants {
        Grants::of(
            self.manifest
                .capabilities
                .iter()
                .filter_map(|c| Capability::parse(c.as_str())),
        )
    }
}

/// One plugin call, as recorded for the merchant.
#[derive(Clone, Debug)]
pub struct CallReport {
    pub shop: String,
    pub plugin: String,
    pub version: String,
    pub hook: &'static str,
    pub duration: Duration,
    /// (kind, message) of a fault; plugin refusals are not faults.
    pub failure: Option<(&'static str, String)>,
    /// The installation had a failure streak when the operation loaded it: a success
    /// must clear it.
    pub reset_streak: bool,
}

/// Parsed manifests by name@version: a published version never changes, so each is parsed
/// once per process.
/// name, version, digest → the parsed manifest.
type ManifestCache =
    parking_lot::Mutex<std::collections::HashMap<(String, String, String), Arc<Manifest>>>;

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

/// Every installation of the shop with its manifest, by plugin name.
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

/// Why a plugin call did not give a result.
#[derive(Debug)]
pub enum CallFailure {
    /// The plugin answered with a `plugin-error`.
    Refused(wit::PluginError),
    /// The plugin faulted, or is tripped off.
    Fault(String),
}

impl CallFailure {
    pub fn into_core(self, plugin: &str) -> CoreError {
        match self {
            CallFailure::Refused(e) => {
                let (code, message) = match e {
                    wit::PluginError::Invalid(m) => ("invalid", m),
                    wit::PluginError::Refused(m) => ("refused", m),
                    wit::PluginError::NotFound(m) => ("not_found", m),
                    wit::PluginError::Conflict(m) => ("conflict", m),
                    wit::PluginError::Internal(m) => ("internal", m),
                };
                if code == "internal" {
                    CoreError::PluginFailed {
                        plugin: plugin.to_string(),
                        message,
                    }
                } else {
                    CoreError::PluginRefused {
                        plugin: plugin.to_string(),
                        code,
                        message,
                    }
                }
            }
            CallFailure::Fault(message) => CoreError::PluginFailed {
                plugin: plugin.to_string(),
                message,
            },
        }
    }
}

impl Platform {
    /// Calls one hook of one plugin inside the operation. Database failures under the call
    /// fail the operation (so it can be retried); plugin failures come back as `CallFailure`.
    pub async fn call(
        &self,
        op: &mut Op,
        shop: &str,
        currency: &str,
        p: &Installed,
        hook: Hook,
    ) -> Result<std::result::Result<HookOutput, CallFailure>> {
        let hook_name = hook.name();
        if let Some(until) = p.installation.tripped_until
            && until > op.now
        {
            return Ok(Err(CallFailure::Fault(format!(
                "tripped off for this shop after repeated failures, until {until} (ms since epoch)"
            ))));
        }
        op.tx().lock_plugins(shop, &[p.name()]).await?;
        let loaded = self.load(op, p).await?;
        let loaded = match loaded {
            Ok(l) => l,
            Err(msg) => {
                op.reports.push(CallReport {
                    shop: shop.into(),
                    plugin: p.name().into(),
                    version: p.installation.version.clone(),
                    hook: hook_name,
                    duration: Duration::ZERO,
                    failure: Some(("instantiate", msg.clone())),
                    reset_streak: false,
                });
                return Ok(Err(CallFailure::Fault(msg)));
            }
        };
        let env = CallEnv {
            shop_id: shop.to_string(),
            currency: currency.to_string(),
            plugin: p.name().to_string(),
            version: p.installation.version.clone(),
            config: p.installation.config.clone(),
            now: op.now,
            seed: op.next_seed(),
        };
        let span = tracing::info_span!("plugin_call", shop, plugin = p.name(), version = %p.installation.version, hook = hook_name);
        let _enter = span.enter();
        let tx = op.take_tx();
        let (tx, result) = self.runtime.call(&loaded, env, tx, hook).await;
        op.put_tx(tx);
        let outcome = match result.outcome {
            Ok(out) => Ok(out),
            Err(CallError::Store(e)) => return Err(e.into()),
            Err(CallError::Plugin(e)) => Err(CallFailure::Refused(e)),
            Err(fault @ CallError::Fault { .. }) => Err(CallFailure::Fault(format!(
                "{} ({})",
                fault.message(),
                fault.kind().as_str()
            ))),
        };
        let failure = match &outcome {
            Err(CallFailure::Fault(m)) => Some((fault_kind(m), m.clone())),
            _ => None,
        };
        if let Some((_, m)) = &failure {
            tracing::warn!(
                shop,
                plugin = p.name(),
                hook = hook_name,
                "plugin call failed: {m}"
            );
        }
        op.reports.push(CallReport {
            shop: shop.into(),
            plugin: p.name().into(),
            version: p.installation.version.clone(),
            hook: hook_name,
            duration: result.duration,
            failure,
            reset_streak: p.installation.consecutive_failures > 0,
        });
        if outcome.is_ok() {
            for action in result.actions {
                op.order_actions += 1;
                self.apply_order_action(op, shop, p.name(), action).await?;
            }
        }
        Ok(outcome)
    }

    async fn load(
        &self,
        op: &mut Op,
        p: &Installed,
    ) -> Result<std::result::Result<Arc<baseplate_runtime::LoadedPlugin>, String>> {
        let grants = p.grants();
        if let Some(l) = self.runtime.cached(&p.digest, grants) {
            return Ok(Ok(l));
        }
        let bytes = store::get_package(op.tx(), p.name(), &p.installation.version, true)
            .await?
            .map(|r| r.component);
        let rt = self.runtime.clone();
        let digest = p.digest.clone();
        let loaded = tokio::task::spawn_blocking(move || rt.load(&digest, grants, move || bytes))
            .await
            .map_err(|e| CoreError::Internal(format!("compiling the plugin panicked: {e}")))?;
        Ok(loaded.map_err(|e| e.to_string()))
    }

    /// Runs a plugin action for an actor. The manifest must declare the action for that
    /// kind of actor.
    pub async fn plugin_action(
        &self,
        shop: &str,
        plugin: &str,
        action: &str,
        actor: wit::Actor,
        input: serde_json::Value,
    ) -> Result<serde_json::Value> {
        let kind = match &actor {
            wit::Actor::Member(_) => ActorKind::Member,
            wit::Actor::Staff(_) => ActorKind::Staff,
            wit::Actor::System => ActorKind::System,
        };
        let input = input.to_string();
        operation!(self, |op| async {
            let shop_row = shops::get(op.tx(), shop)
                .await?
                .ok_or_else(|| CoreError::NotFound("shop not found".into()))?;
            let p = installed_one(op.tx(), shop, plugin).await?;
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
            let hook = Hook::Action {
                actor: actor.clone(),
                name: action.to_string(),
                input: input.clone(),
            };
            match self.call(op, shop, &shop_row.currency, &p, hook).await? {
                Ok(HookOutput::Json(s)) => {
                    serde_json::from_str(&s).map_err(|e| CoreError::PluginFailed {
                        plugin: plugin.into(),
                        message: format!("output is not JSON: {e}"),
                    })
                }
                Ok(_) => Err(CoreError::Internal("unexpected hook output".into())),
                Err(f) => Err(f.into_core(plugin)),
            }
        }
        .await)
    }
}

fn fault_kind(message: &str) -> &'static str {
    for k in [
        "timeout",
        "memory_limit",
        "host_call_limit",
        "bad_output",
        "instantiate",
    ] {
        if message.ends_with(&format!("({k})")) {
            return k;
        }
    }
    "trap"
}

/// Writes call counters, failures and the breaker's state. Successful operations record
/// in their own transaction; failed ones in a fresh one (only the faults).
pub(crate) async fn record_reports(
    tx: &mut Tx,
    reports: &[CallReport],
    now: i64,
    settings: &Settings,
    include_ok: bool,
) -> Result<()> {
    // Successes of one hook in one operation are counted in one write.
    let mut ok: Vec<(&CallReport, i64, i64, bool)> = Vec::new();
    for r in reports {
        if r.failure.is_some() {
            let failure = r.failure.as_ref().map(|(k, m)| (*k, m.as_str()));
            let us = r.duration.as_micros() as i64;
            let streak = store::record_call(
                tx, &r.shop, &r.plugin, &r.version, r.hook, 1, failure, false, us, now,
            )
            .await?;
            if streak >= settings.breaker_threshold {
                store::trip(tx, &r.shop, &r.plugin, now + settings.breaker_cooldown_ms).await?;
                tracing::warn!(shop = %r.shop, plugin = %r.plugin, "plugin tripped off after {streak} consecutive failures");
            }
        } else if include_ok {
            let us = r.duration.as_micros() as i64;
            match ok
                .iter_mut()
                .find(|(o, ..)| o.shop == r.shop && o.plugin == r.plugin && o.hook == r.hook)
            {
                Some((_, n, total, reset)) => {
                    *n += 1;
                    *total += us;
                    *reset |= r.reset_streak;
                }
                None => ok.push((r, 1, us, r.reset_streak)),
            }
        }
    }
    for (r, n, us, reset) in ok {
        store::record_call(
            tx, &r.shop, &r.plugin, &r.version, r.hook, n, None, reset, us, now,
        )
        .await?;
    }
    Ok(())
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
        op: &mut Op,
        shop: &str,
        currency: &str,
        p: &Installed,
        config: &str,
    ) -> Result<()> {
        if serde_json::from_str::<serde_json::Value>(config).is_err() {
            return Err(CoreError::Invalid("config must be JSON".into()));
        }
        if !p.manifest.hooks.validate_config {
            return Ok(());
        }
        match self
            .call(
                op,
                shop,
                currency,
                p,
                Hook::ValidateConfig(config.to_string()),
            )
            .await?
        {
            Ok(_) => Ok(()),
            Err(CallFailure::Refused(e)) => Err(CoreError::Invalid(format!(
                "config rejected by {}: {}",
                p.name(),
                baseplate_runtime::plugin_error_message(&e)
            ))),
            Err(f) => Err(f.into_core(p.name())),
        }
    }

    /// Installs (or re-installs at another version) a plugin for a shop: resolves the
    /// highest approved version matching the requirement, checks the component links with
    /// the manifest's grants, validates the config, and enables it.
    pub async fn install(&self, shop: &str, req: InstallRequest) -> Result<Installation> {
        let version_req = semver::VersionReq::parse(&req.version_req).map_err(|e| {
            CoreError::Invalid(format!(
                "version {:?} is not a semver requirement: {e}",
                req.version_req
            ))
        })?;
        operation!(self, |op| async {
            let shop_row = shops::get(op.tx(), shop)
                .await?
                .ok_or_else(|| CoreError::NotFound("shop not found".into()))?;
            let versions = store::list_packages(op.tx(), Some(&req.plugin)).await?;
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
            let existing = store::get_installation(op.tx(), shop, &req.plugin).await?;
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
                config: config.clone(),
                enabled: true,
                consecutive_failures: 0,
                tripped_until: None,
                installed_at: existing.as_ref().map(|e| e.installed_at).unwrap_or(op.now),
                updated_at: op.now,
            };
            let p = Installed {
                installation: inst.clone(),
                manifest,
                digest: pkg.digest.clone(),
                package_state: parse_state(&pkg.state)?,
            };
            self.validate_config(op, shop, &shop_row.currency, &p, &config)
                .await?;
            store::upsert_installation(op.tx(), &inst).await?;
            Ok(inst)
        }
        .await)
    }

    pub async fn configure(
        &self,
        shop: &str,
        plugin: &str,
        config: serde_json::Value,
    ) -> Result<Installation> {
        let config = config.to_string();
        operation!(self, |op| async {
            let shop_row = shops::get(op.tx(), shop)
                .await?
                .ok_or_else(|| CoreError::NotFound("shop not found".into()))?;
            let mut p = installed_one(op.tx(), shop, plugin).await?;
            self.validate_config(op, shop, &shop_row.currency, &p, &config)
                .await?;
            p.installation.config = config.clone();
            p.installation.updated_at = op.now;
            store::upsert_installation(op.tx(), &p.installation).await?;
            Ok(p.installation)
        }
        .await)
    }

    /// Enables or disables a plugin for a shop. Enabling also resets its breaker.
    pub async fn set_enabled(
        &self,
        shop: &str,
        plugin: &str,
        enabled: bool,
    ) -> Result<Installation> {
        operation!(self, |op| async {
            let mut p = installed_one(op.tx(), shop, plugin).await?;
            p.installation.enabled = enabled;
            if enabled {
                p.installation.tripped_until = None;
                p.installation.consecutive_failures = 0;
            }
            p.installation.updated_at = op.now;
            store::upsert_installation(op.tx(), &p.installation).await?;
            Ok(p.installation)
        }
        .await)
    }

    /// Goes back to the version that ran before the last upgrade, pinned there.
    pub async fn rollback(&self, shop: &str, plugin: &str) -> Result<Installation> {
        let prev = operation!(self, |op| async {
            let p = installed_one(op.tx(), shop, plugin).await?;
            p.installation.previous_version.clone().ok_or_else(|| {
                CoreError::Conflict(format!("{plugin} has no earlier version to roll back to"))
            })
        }
        .await)?;
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
        operation!(self, |op| async {
            if !store::delete_installation(op.tx(), shop, plugin).await? {
                return Err(CoreError::NotFound(format!(
                    "plugin {plugin} is not installed in this shop"
                )));
            }
            Ok(())
        }
        .await)
    }

    pub async fn list_installed(&self, shop: &str) -> Result<Vec<Installed>> {
        operation!(self, |op| installed(op.tx(), shop).await)
    }

    /// Publishes a package version into the registry after checking its signature, its
    /// manifest, and that the component imports exactly what the manifest declares.
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
        let imports = tokio::task::spawn_blocking(move || rt.imported_capabilities(&bytes))
            .await
            .map_err(|e| CoreError::Internal(e.to_string()))?
            .map_err(|e| CoreError::Invalid(e.to_string()))?;
        for cap in imports {
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
        operation!(self, |op| async {
            Ok(store::insert_package(op.tx(), &row).await?)
        }
        .await)
    }
}

impl Platform {
    /// Applies an order action a plugin asked for, in the same operation.
    pub(crate) async fn apply_order_action(
        &self,
        op: &mut Op,
        shop: &str,
        plugin: &str,
        action: OrderAction,
    ) -> Result<()> {
        match action {
            OrderAction::Hold { order_id } => self.hold_order(op, shop, &order_id).await,
            OrderAction::Confirm { order_id } => self.confirm_order(op, shop, &order_id).await,
            OrderAction::Cancel { order_id, reason } => {
                let reason = baseplate_domain::CloseReason::Plugin {
                    plugin: plugin.to_string(),
                    reason,
                };
                self.cancel_order_in(op, shop, &order_id, reason).await
            }
        }
    }
}

impl Platform {
    /// The marketplace as merchants see it: every published version that can be installed
    /// or still runs somewhere, with its manifest and state.
    pub async fn marketplace(&self) -> Result<Vec<serde_json::Value>> {
        let rows = operation!(self, |op| async {
            Ok(store::list_packages(op.tx(), None).await?)
        }
        .await)?;
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
