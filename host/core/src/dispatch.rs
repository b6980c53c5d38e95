//! Calling plugins: every hook goes through a `Session`, which holds the operation's
//! participating plugins (compiled, with their per-operation overlay), checks the circuit
//! breaker, runs the hook on the current sandbox thread, and records the call.
//!
//! A session is built on the async side (`Platform::session`: installations and compiled
//! code), moved onto a sandbox thread to run its hooks (`Platform::in_sandbox`), and comes
//! back with the plugins' buffered effects for the operation's write to commit.

use crate::plugins::Installed;
use crate::{CoreError, Platform, Result};
use baseplate_runtime::fixture::{self, CallRecord};
use baseplate_runtime::{
    CallEnv, CallError, FailureKind, Hook, HookOutput, HostData, LoadedPlugin, Overlay,
    PluginError, Recording, Runtime,
};
use std::sync::Arc;
use std::time::Duration;

/// One plugin of an operation, ready to call.
pub(crate) struct Participant {
    pub installed: Installed,
    loaded: std::result::Result<Arc<LoadedPlugin>, String>,
    pub overlay: Overlay,
    /// The plugin's instance in this operation, shared by its hooks (never kept longer).
    /// In a mutex only so a session can be shared (`Sync`) once its hooks have run.
    warm: std::sync::Mutex<Option<baseplate_runtime::Warm>>,
    /// What the calls read, when the merchant turned diagnostics on for this plugin.
    recorder: Option<Arc<Recording>>,
}

/// One plugin call, as recorded for the merchant and the metrics.
#[derive(Clone, Debug)]
pub struct CallReport {
    pub shop: String,
    pub plugin: String,
    pub version: String,
    pub hook: &'static str,
    pub duration: Duration,
    /// A fault (refusals are not faults).
    pub failure: Option<(FailureKind, String)>,
    /// The installation had a failure streak when the operation loaded it: a success
    /// clears it.
    pub reset_streak: bool,
    /// The call as a replayable record, when diagnostics are on.
    pub run: Option<Arc<RecordedRun>>,
}

/// A call recorded for replay (`baseplate plugin replay`).
#[derive(Debug)]
pub struct RecordedRun {
    /// `ok`, or the refusal's or fault's code.
    pub outcome: String,
    /// The `CallRecord` as JSON text, what the call did in its `expect`.
    pub record: String,
}

/// Why a plugin call did not give a result.
#[derive(Debug)]
pub enum CallFailure {
    /// The plugin (or the host for it: a quota) said no.
    Refused(PluginError),
    /// The plugin faulted, is tripped off, or no sandbox was free in time.
    Fault(FailureKind, String),
    /// Reading the shop's data failed under the call.
    Data(String),
}

impl CallFailure {
    pub fn message(&self) -> &str {
        match self {
            CallFailure::Refused(e) => e.message(),
            CallFailure::Fault(_, m) | CallFailure::Data(m) => m,
        }
    }

    pub fn into_core(self, plugin: &str) -> CoreError {
        match self {
            CallFailure::Refused(PluginError::Internal(message)) => CoreError::PluginFailed {
                plugin: plugin.to_string(),
                message,
            },
            CallFailure::Refused(e) => CoreError::PluginRefused {
                plugin: plugin.to_string(),
                code: e.code(),
                message: e.message().to_string(),
            },
            CallFailure::Fault(FailureKind::Busy, message) => CoreError::Busy(message),
            CallFailure::Fault(kind, message) => CoreError::PluginFailed {
                plugin: plugin.to_string(),
                message: format!("{message} ({})", kind.as_str()),
            },
            CallFailure::Data(m) => CoreError::Unavailable(m),
        }
    }
}

/// The plugins of one operation and what their calls did.
pub(crate) struct Session {
    runtime: Arc<Runtime>,
    pub shop: String,
    pub currency: String,
    pub now: i64,
    seed: u64,
    seq: u64,
    pub parts: Vec<Participant>,
    pub reports: Vec<CallReport>,
    /// Booked as the order of ledger postings that name none.
    pub order_context: Option<String>,
}

impl Session {
    /// Calls one hook of participant `i`, here, on the sandbox thread.
    pub fn call(&mut self, i: usize, hook: Hook) -> std::result::Result<HookOutput, CallFailure> {
        let hook_name = hook.name();
        self.seq += 1;
        let seed = self.seed ^ self.seq.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        let p = &mut self.parts[i];
        let inst = &p.installed.installation;
        if let Some(until) = inst.tripped_until
            && until > self.now
        {
            let why = inst
                .tripped_reason
                .as_deref()
                .unwrap_or("repeated failures");
            return Err(CallFailure::Fault(
                FailureKind::Trap,
                format!(
                    "tripped off in this shop until {until} (ms since epoch) after {why}; the shop owner can re-enable it"
                ),
            ));
        }
        let report = |duration, failure| CallReport {
            shop: self.shop.clone(),
            plugin: inst.plugin.clone(),
            version: inst.version.clone(),
            hook: hook_name,
            duration,
            failure,
            reset_streak: inst.consecutive_failures > 0,
            run: None,
        };
        let loaded = match &p.loaded {
            Ok(l) => l.clone(),
            Err(msg) => {
                let r = report(
                    Duration::ZERO,
                    Some((FailureKind::Instantiate, msg.clone())),
                );
                self.reports.push(r);
                return Err(CallFailure::Fault(FailureKind::Instantiate, msg.clone()));
            }
        };
        let env = CallEnv {
            shop_id: self.shop.clone(),
            currency: self.currency.clone(),
            plugin: inst.plugin.clone(),
            version: inst.version.clone(),
            config: inst.config.clone(),
            now: self.now,
            seed,
            order_context: self.order_context.clone(),
        };
        let recording = p.recorder.as_ref().map(|r| {
            (
                r.clone(),
                CallRecord::of_call(&env, &hook),
                p.overlay.effects().clone(),
            )
        });
        let warm = p.warm.get_mut().unwrap_or_else(|e| e.into_inner());
        let result = self
            .runtime
            .call_in(&loaded, &env, hook, &mut p.overlay, warm);
        let run = recording.map(|(recorder, mut record, before)| {
            let mut report = fixture::report(&result, &p.overlay.effects().since(&before));
            if let Some(m) = report.as_object_mut() {
                m.remove("duration_us");
                m.remove("memory_peak_bytes");
            }
            let outcome = match &result.outcome {
                Ok(_) => "ok".to_string(),
                Err(_) => report["error"]["code"]
                    .as_str()
                    .unwrap_or("error")
                    .to_string(),
            };
            record.data = CallRecord::data_from(&recorder.seen());
            record.expect = Some(report);
            Arc::new(RecordedRun {
                outcome,
                record: serde_json::to_string(&record).expect("a record serializes"),
            })
        });
        let outcome = match result.outcome {
            Ok(out) => Ok(out),
            Err(CallError::Plugin(e)) => Err(CallFailure::Refused(e)),
            Err(CallError::Fault { kind, message }) => Err(CallFailure::Fault(kind, message)),
            Err(CallError::Data(m)) => Err(CallFailure::Data(m)),
        };
        let failure = match &outcome {
            Err(CallFailure::Fault(kind, m)) => Some((*kind, m.clone())),
            _ => None,
        };
        if let Some((kind, m)) = &failure {
            tracing::warn!(
                shop = %self.shop,
                plugin = %inst.plugin,
                hook = hook_name,
                kind = kind.as_str(),
                "plugin call failed: {m}"
            );
        }
        let r = CallReport {
            run,
            ..report(result.duration, failure)
        };
        self.reports.push(r);
        outcome
    }
}

impl Platform {
    /// Gathers the plugins an operation calls: their compiled code (compiling on first use,
    /// off the async threads) and a fresh overlay each.
    pub(crate) async fn session(
        &self,
        shop: &str,
        currency: &str,
        plugins: Vec<Installed>,
        now: i64,
        seed: u64,
    ) -> Result<Session> {
        let mut parts = Vec::with_capacity(plugins.len());
        for p in plugins {
            let loaded = self.load(&p).await?;
            let mut data: Arc<dyn HostData> = Arc::new(crate::data::ShopData {
                db: self.db.clone(),
                shop: shop.to_string(),
                plugin: p.name().to_string(),
                handle: tokio::runtime::Handle::current(),
            });
            let recorder = p.installation.records_at(now).then(|| {
                let r = Arc::new(Recording::new(data.clone()));
                data = r.clone();
                r
            });
            parts.push(Participant {
                overlay: Overlay::new(shop, p.name(), data),
                installed: p,
                loaded,
                warm: std::sync::Mutex::new(None),
                recorder,
            });
        }
        Ok(Session {
            runtime: self.runtime.clone(),
            shop: shop.to_string(),
            currency: currency.to_string(),
            now,
            seed,
            seq: 0,
            parts,
            reports: Vec::new(),
            order_context: None,
        })
    }

    async fn load(&self, p: &Installed) -> Result<std::result::Result<Arc<LoadedPlugin>, String>> {
        let grants = p.grants();
        if let Some(l) = self.runtime.cached(&p.digest, grants) {
            return Ok(Ok(l));
        }
        let (name, version) = (p.name().to_string(), p.installation.version.clone());
        let bytes = self
            .read(|tx| {
                Box::pin(async move {
                    Ok(
                        baseplate_store::plugins::get_package(tx, &name, &version, true)
                            .await?
                            .map(|r| r.component),
                    )
                })
            })
            .await?;
        let rt = self.runtime.clone();
        let digest = p.digest.clone();
        let loaded = tokio::task::spawn_blocking(move || rt.load(&digest, grants, move || bytes))
            .await
            .map_err(|e| CoreError::Internal(format!("compiling the plugin panicked: {e}")))?;
        Ok(loaded.map_err(|e| e.to_string()))
    }

    /// Runs `job` with the session on a sandbox thread, in the shop's turn, and gives the
    /// session back with what its calls did. Busy if the shop's own calls hold its share.
    pub(crate) async fn in_sandbox<T: Send + 'static>(
        &self,
        session: Session,
        job: impl FnOnce(&mut Session) -> T + Send + 'static,
    ) -> Result<(Session, T)> {
        self.in_sandbox_turn(None, session, job).await
    }

    /// `in_sandbox`, in a turn the operation took before it read anything (or, with None,
    /// taking one now).
    pub(crate) async fn in_sandbox_turn<T: Send + 'static>(
        &self,
        turn: Option<baseplate_runtime::SandboxTurn>,
        mut session: Session,
        job: impl FnOnce(&mut Session) -> T + Send + 'static,
    ) -> Result<(Session, T)> {
        let turn = match turn {
            Some(t) => t,
            None => self.sandbox_turn(&session.shop).await?,
        };
        self.runtime
            .sandboxed_in(turn, move || {
                let out = job(&mut session);
                // Instances live for the operation's hooks only.
                for p in &mut session.parts {
                    *p.warm.get_mut().unwrap_or_else(|e| e.into_inner()) = None;
                }
                (session, out)
            })
            .await
            .map_err(busy)
    }

    /// One of the shop's turns on a sandbox thread; busy if its own calls hold them all
    /// past the deadline.
    pub(crate) async fn sandbox_turn(&self, shop: &str) -> Result<baseplate_runtime::SandboxTurn> {
        self.runtime.turn(shop).await.map_err(busy)
    }
}

fn busy(e: CallError) -> CoreError {
    match e {
        CallError::Fault { message, .. } => CoreError::Busy(message),
        other => CoreError::Internal(other.message().to_string()),
    }
}
