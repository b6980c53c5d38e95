//! The open registry: developers publish signed versions, operators review them, and
//! approved versions roll out to shops — all at once, or first to a canary of consenting
//! shops that is then promoted or halted. Every install goes through it; the first-party
//! plugins too (the platform is developer `dev_platform`, and its versions are approved at
//! bootstrap). Every review and rollout action is written to the registry log.
//!
//! Rules that need no I/O (capability diffs, version order, canary picks, states) are in
//! `baseplate-marketplace`; this module applies them to the database and the shops.

use crate::plugins::{Move, parse_accepted, parse_manifest, parse_state};
use crate::{CoreError, Platform, Refusal, Result, hash_token, new_token};
use baseplate_domain::{DeveloperId, DeveloperKeyId, SigningKeyId};
use baseplate_marketplace::{
    Capability, CapabilityDiff, Category, Manifest, PublisherId, PublisherKey, Rollout, Signature,
    VersionState,
};
use baseplate_runtime::{ComponentInfo, Runtime, RuntimeError};
use baseplate_store::Tx;
use baseplate_store::plugins::{self as packages, PackageRow};
use baseplate_store::registry::{
    self as store, Canary, CanaryShop, Developer, DeveloperApiKey, LogEntry, NewLogEntry,
    PLATFORM_DEVELOPER, SigningKey,
};
use serde::Serialize;
use serde_json::{Value, json};

/// Developer API tokens start with this.
pub const DEVELOPER_TOKEN_PREFIX: &str = "bp_dk_";

/// Who does something in the registry, as the log records it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// The platform operator (by key id).
    Operator(String),
    /// A developer (by developer id).
    Developer(String),
    /// The platform itself (first-party bootstrap).
    System,
}

impl Actor {
    pub fn label(&self) -> String {
        match self {
            Actor::Operator(key) => format!("operator:{key}"),
            Actor::Developer(id) => format!("developer:{id}"),
            Actor::System => "system".to_string(),
        }
    }

    fn is_operator(&self) -> bool {
        matches!(self, Actor::Operator(_) | Actor::System)
    }
}

/// A review decision on a version.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Review {
    /// submitted → approved; released at once, or `staged` for a canary.
    Approve { staged: bool },
    /// submitted → rejected (a reason is required).
    Reject,
    /// approved → yanked: no new installs, pinned shops keep it (a reason is required).
    Yank,
    /// yanked → approved again.
    Unyank,
    /// approved | yanked → revoked: it runs nowhere (a reason is required).
    Revoke,
}

impl Review {
    fn target(self) -> VersionState {
        match self {
            Review::Approve { .. } | Review::Unyank => VersionState::Approved,
            Review::Reject => VersionState::Rejected,
            Review::Yank => VersionState::Yanked,
            Review::Revoke => VersionState::Revoked,
        }
    }

    fn action(self) -> &'static str {
        match self {
            Review::Approve { staged: false } => "approve",
            Review::Approve { staged: true } => "approve-staged",
            Review::Reject => "reject",
            Review::Yank => "yank",
            Review::Unyank => "unyank",
            Review::Revoke => "revoke",
        }
    }

    fn needs_reason(self) -> bool {
        matches!(self, Review::Reject | Review::Yank | Review::Revoke)
    }
}

/// What a canary runs in.
#[derive(Clone, Debug)]
pub enum CanaryTarget {
    /// These shops (each must have the plugin installed and have opted in to canaries).
    Shops(Vec<String>),
    /// This share (1..=100) of the shops that can take it and opted in.
    Percent(u8),
}

/// A publish request: the manifest, the component, and the developer's signature (hex)
/// over name, version and the component's sha256 with the registered key `key_id`.
pub struct PublishRequest {
    pub manifest: Manifest,
    pub component: Vec<u8>,
    pub signature: String,
    pub key_id: String,
}

/// A developer account with its keys and plugin names.
#[derive(Clone, Debug, Serialize)]
pub struct DeveloperAccount {
    pub developer: Developer,
    pub api_keys: Vec<DeveloperApiKey>,
    pub signing_keys: Vec<SigningKey>,
    pub plugins: Vec<String>,
}

/// One published version as the operator reviews it (and its developer follows it).
#[derive(Clone, Debug, Serialize)]
pub struct VersionView {
    pub name: String,
    pub version: String,
    pub state: VersionState,
    pub state_reason: Option<String>,
    pub state_changed_at: Option<i64>,
    pub rollout: String,
    pub wit: String,
    pub title: String,
    pub category: Category,
    pub capabilities: Vec<Capability>,
    pub manifest: Value,
    pub size: i64,
    pub digest: String,
    pub signature: String,
    pub signer: Value,
    pub published_at: i64,
    /// The highest lower version that was approved (still approved, yanked or revoked).
    pub previous_approved: Option<String>,
    /// These capabilities against `previous_approved`'s (all added when there is none).
    pub capability_diff: CapabilityDiff,
    pub installs: i64,
}

/// A running or ended canary with what its shops' calls did.
#[derive(Clone, Debug, Serialize)]
pub struct CanaryView {
    pub canary: Canary,
    pub rollout: String,
    pub shops: Vec<Value>,
    pub calls: i64,
    pub failures: i64,
    /// failures / calls (0 without calls).
    pub failure_rate: f64,
    /// Upper bound of the 99th-percentile call time, µs.
    pub p99_us: Option<i64>,
    /// What the last step did to each shop (start, promote, halt).
    pub moves: Vec<Value>,
}

fn invalid(code: &'static str, message: impl Into<String>) -> CoreError {
    CoreError::refused(Refusal::Invalid, code, message)
}

fn conflict(code: &'static str, message: impl Into<String>) -> CoreError {
    CoreError::refused(Refusal::Conflict, code, message)
}

fn forbidden(code: &'static str, message: impl Into<String>) -> CoreError {
    CoreError::refused(Refusal::Forbidden, code, message)
}

fn not_found(code: &'static str, message: impl Into<String>) -> CoreError {
    CoreError::refused(Refusal::NotFound, code, message)
}

fn check_text(what: &str, s: &str, max: usize) -> Result<()> {
    if s.trim().is_empty() || s.chars().count() > max {
        return Err(CoreError::Invalid(format!(
            "{what} must be 1..={max} characters"
        )));
    }
    Ok(())
}

fn reason_of(review: Review, reason: Option<&str>) -> Result<Option<String>> {
    let reason = reason.map(str::trim).filter(|r| !r.is_empty());
    if let Some(r) = reason
        && r.chars().count() > 2000
    {
        return Err(CoreError::Invalid("reason: at most 2000 characters".into()));
    }
    if review.needs_reason() && reason.is_none() {
        return Err(CoreError::Invalid(format!(
            "a reason is required to {}: say why, the developer and the merchants read it",
            review.action()
        )));
    }
    Ok(reason.map(str::to_string))
}

/// The checks on a package that need neither an account nor a compiler: its size, its
/// manifest, the contract version it targets, and that the bytes are a component. The
/// registry runs them first; `baseplate plugin check` runs them on a developer's machine.
pub fn check_package_shape(m: &Manifest, component: &[u8], max: usize) -> Result<()> {
    if component.len() > max {
        return Err(CoreError::refused(
            Refusal::TooLarge,
            "component_too_large",
            format!(
                "the component is {} bytes; the registry accepts at most {max} bytes",
                component.len()
            ),
        ));
    }
    m.validate()
        .map_err(|e| invalid("invalid_manifest", e.to_string()))?;
    if !m.targets_supported_wit() {
        return Err(invalid(
            "unsupported_contract",
            format!(
                "{}@{} targets contract (wit) {}, which this host does not serve; use one of {}",
                m.name,
                m.version,
                m.wit,
                baseplate_marketplace::SUPPORTED_WIT
                    .iter()
                    .map(|v| v.to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        ));
    }
    if !baseplate_marketplace::looks_like_component(component) {
        return Err(invalid(
            "not_a_component",
            "the bytes are not a WebAssembly component (a core module or something else); build with --target wasm32-wasip2",
        ));
    }
    Ok(())
}

/// What the compiled component is must agree with what its manifest says: the contract
/// version it exports, and no import of a capability the manifest does not declare.
pub fn check_component_fits(m: &Manifest, info: &ComponentInfo) -> Result<()> {
    if info.contract.as_str() != m.wit.to_string() {
        return Err(invalid(
            "contract_mismatch",
            format!(
                "{}@{}'s manifest says wit = \"{}\" but the component exports {}",
                m.name,
                m.version,
                m.wit,
                info.contract.hooks_export()
            ),
        ));
    }
    for cap in &info.capabilities {
        if !m.capabilities.iter().any(|c| c.as_str() == cap.name()) {
            return Err(invalid(
                "undeclared_capability",
                format!(
                    "{}@{} imports the {} interface but its manifest does not declare the {:?} capability; add it to `capabilities`",
                    m.name,
                    m.version,
                    cap.name(),
                    cap.name()
                ),
            ));
        }
    }
    Ok(())
}

/// Reads a component as the registry does and refuses it with the registry's code.
pub fn inspect_component(rt: &Runtime, bytes: &[u8]) -> Result<ComponentInfo> {
    rt.inspect(bytes).map_err(inspect_refusal)
}

fn version_of(text: &str) -> Result<semver::Version> {
    semver::Version::parse(text)
        .map_err(|e| CoreError::Invalid(format!("{text:?} is not a semver version: {e}")))
}

/// Reads what a component is, and refuses it with a code that says which rule it broke.
fn inspect_refusal(e: RuntimeError) -> CoreError {
    let code = match &e {
        RuntimeError::NotAComponent(_) => "not_a_component",
        RuntimeError::ForbiddenImport(_) | RuntimeError::NotGranted(_) => "forbidden_import",
        RuntimeError::NoHooks(_) | RuntimeError::BadExports(_) => "contract_mismatch",
        RuntimeError::Setup(_) => return CoreError::Internal(e.to_string()),
    };
    invalid(code, e.to_string())
}

async fn package(tx: &mut Tx, name: &str, version: &str) -> Result<PackageRow> {
    packages::get_package(tx, name, version, false)
        .await?
        .ok_or_else(|| {
            not_found(
                "no_such_version",
                format!("{name}@{version} is not published"),
            )
        })
}

/// The highest version below `version` that was ever approved.
fn previous_approved<'a>(
    all: &'a [PackageRow],
    version: &semver::Version,
) -> Option<&'a PackageRow> {
    all.iter()
        .filter(|p| matches!(p.state.as_str(), "approved" | "yanked" | "revoked"))
        .filter_map(|p| Some((p.version.parse::<semver::Version>().ok()?, p)))
        .filter(|(v, _)| v < version)
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, p)| p)
}

async fn version_view(tx: &mut Tx, pkg: &PackageRow) -> Result<VersionView> {
    let manifest = parse_manifest(pkg)?;
    let all = packages::list_packages(tx, Some(&pkg.name)).await?;
    let version = version_of(&pkg.version)?;
    let previous = previous_approved(&all, &version);
    let previous_caps = match previous {
        Some(p) => parse_manifest(p)?.capabilities.clone(),
        None => Vec::new(),
    };
    let developer = store::get_developer(tx, &pkg.developer_id).await?;
    let key = match &pkg.key_id {
        Some(id) => store::get_signing_key(tx, id).await?,
        None => None,
    };
    let installs = store::install_counts_by_version(tx, &pkg.name)
        .await?
        .into_iter()
        .find(|(v, _)| *v == pkg.version)
        .map_or(0, |(_, n)| n);
    Ok(VersionView {
        name: pkg.name.clone(),
        version: pkg.version.clone(),
        state: parse_state(&pkg.state)?,
        state_reason: pkg.state_reason.clone(),
        state_changed_at: pkg.state_changed_at,
        rollout: pkg.rollout.clone(),
        wit: pkg.wit.clone(),
        title: manifest.title.clone(),
        category: manifest.category,
        capabilities: manifest.capabilities.clone(),
        manifest: manifest.to_json(),
        size: pkg.size,
        digest: pkg.digest.clone(),
        signature: pkg.signature.clone(),
        signer: json!({
            "developer_id": pkg.developer_id,
            "developer": developer.map(|d| d.name),
            "key_id": pkg.key_id,
            "public_key": pkg.publisher_key,
            "key_revoked_at": key.and_then(|k| k.revoked_at),
        }),
        published_at: pkg.created_at,
        previous_approved: previous.map(|p| p.version.clone()),
        capability_diff: CapabilityDiff::between(&previous_caps, &manifest.capabilities),
        installs,
    })
}

impl Platform {
    // ---- developers ----------------------------------------------------------------------

    /// A developer account with its first API key (the token is returned once). The
    /// operator creates approved accounts; a sign-up (`by` None) waits for the operator.
    pub async fn create_developer(
        &self,
        by: Option<&Actor>,
        name: &str,
        email: Option<String>,
    ) -> Result<(Developer, DeveloperApiKey, String)> {
        check_text("developer name", name, 100)?;
        if let Some(e) = &email
            && (e.len() > 200 || !e.contains('@'))
        {
            return Err(CoreError::Invalid(
                "email must look like an email address".into(),
            ));
        }
        let token = new_token(DEVELOPER_TOKEN_PREFIX);
        let hash = hash_token(&token);
        let (hash, email) = (&hash, &email);
        let (dev, key) = self
            .write("", |op| {
                Box::pin(async move {
                    let now = op.now;
                    let r = op.random10();
                    let dev = Developer {
                        id: DeveloperId::generate(now, r).0,
                        name: name.trim().to_string(),
                        email: email.clone(),
                        status: if by.is_some() { "approved" } else { "pending" }.into(),
                        created_at: now,
                        reviewed_at: by.map(|_| now),
                        reviewed_by: by.map(Actor::label),
                    };
                    match store::insert_developer(op.tx(), &dev).await {
                        Err(e) if e.is_unique_violation() => {
                            return Err(conflict(
                                "developer_exists",
                                format!(
                                    "a developer named {:?} exists; pick another name",
                                    dev.name
                                ),
                            ));
                        }
                        r => r?,
                    }
                    let r = op.random10();
                    let key = DeveloperApiKey {
                        id: DeveloperKeyId::generate(now, r).0,
                        developer_id: dev.id.clone(),
                        name: "default".into(),
                        created_at: now,
                        revoked_at: None,
                    };
                    store::insert_api_key(op.tx(), &key, hash).await?;
                    let actor = by.map_or_else(|| format!("developer:{}", dev.id), Actor::label);
                    store::log(
                        op.tx(),
                        NewLogEntry {
                            actor: &actor,
                            action: if by.is_some() {
                                "create-developer"
                            } else {
                                "sign-up"
                            },
                            developer_id: Some(&dev.id),
                            ..Default::default()
                        },
                        now,
                    )
                    .await?;
                    Ok((dev, key))
                })
            })
            .await?;
        Ok((dev, key, token))
    }

    /// The operator approves a pending (or suspended) developer, or suspends one.
    pub async fn review_developer(
        &self,
        actor: &Actor,
        id: &str,
        approve: bool,
        reason: Option<&str>,
    ) -> Result<Developer> {
        if id == PLATFORM_DEVELOPER {
            return Err(forbidden(
                "platform_developer",
                "the platform's own account cannot be reviewed",
            ));
        }
        if !approve && reason.is_none_or(|r| r.trim().is_empty()) {
            return Err(CoreError::Invalid(
                "a reason is required to suspend a developer".into(),
            ));
        }
        let dev = self
            .write("", |op| {
                Box::pin(async move {
                    let mut dev = store::get_developer(op.tx(), id).await?.ok_or_else(|| {
                        not_found("no_such_developer", format!("developer {id} not found"))
                    })?;
                    let to = if approve { "approved" } else { "suspended" };
                    if dev.status == to {
                        return Err(conflict(
                            "already_done",
                            format!("developer {id} is {to} already"),
                        ));
                    }
                    let now = op.now;
                    let label = actor.label();
                    store::set_developer_status(op.tx(), id, to, &label, now).await?;
                    store::log(
                        op.tx(),
                        NewLogEntry {
                            actor: &label,
                            action: if approve {
                                "approve-developer"
                            } else {
                                "suspend-developer"
                            },
                            developer_id: Some(id),
                            reason,
                            ..Default::default()
                        },
                        now,
                    )
                    .await?;
                    dev.status = to.into();
                    dev.reviewed_at = Some(now);
                    dev.reviewed_by = Some(label);
                    Ok(dev)
                })
            })
            .await?;
        // Tokens of this developer were cached with the old status.
        self.auth_cache.lock().clear();
        Ok(dev)
    }

    pub async fn list_developers(&self, status: Option<&str>) -> Result<Vec<Developer>> {
        if let Some(s) = status
            && !matches!(s, "pending" | "approved" | "suspended")
        {
            return Err(CoreError::Invalid(
                "status must be pending, approved or suspended".into(),
            ));
        }
        self.read(|tx| Box::pin(async move { Ok(store::list_developers(tx, status).await?) }))
            .await
    }

    pub async fn developer_account(&self, id: &str) -> Result<DeveloperAccount> {
        self.read(|tx| {
            Box::pin(async move {
                let developer = store::get_developer(tx, id).await?.ok_or_else(|| {
                    not_found("no_such_developer", format!("developer {id} not found"))
                })?;
                Ok(DeveloperAccount {
                    developer,
                    api_keys: store::list_api_keys(tx, id).await?,
                    signing_keys: store::list_signing_keys(tx, id).await?,
                    plugins: store::names_of(tx, id).await?,
                })
            })
        })
        .await
    }

    /// Another API key for a developer; the token is returned once.
    pub async fn create_developer_api_key(
        &self,
        developer: &str,
        name: &str,
    ) -> Result<(DeveloperApiKey, String)> {
        check_text("key name", name, 100)?;
        let token = new_token(DEVELOPER_TOKEN_PREFIX);
        let hash = hash_token(&token);
        let hash = &hash;
        let key = self
            .write("", |op| {
                Box::pin(async move {
                    let now = op.now;
                    let r = op.random10();
                    let key = DeveloperApiKey {
                        id: DeveloperKeyId::generate(now, r).0,
                        developer_id: developer.to_string(),
                        name: name.trim().to_string(),
                        created_at: now,
                        revoked_at: None,
                    };
                    store::insert_api_key(op.tx(), &key, hash).await?;
                    Ok(key)
                })
            })
            .await?;
        Ok((key, token))
    }

    pub async fn revoke_developer_api_key(&self, developer: &str, id: &str) -> Result<()> {
        let done = self
            .write("", |op| {
                Box::pin(async move {
                    let now = op.now;
                    Ok(store::revoke_api_key(op.tx(), developer, id, now).await?)
                })
            })
            .await?;
        self.auth_cache.lock().clear();
        if !done {
            return Err(CoreError::NotFound(format!("API key {id} not found")));
        }
        Ok(())
    }

    /// Registers an ed25519 public key (64 hex digits) the developer signs packages with;
    /// with `replaces`, the old key is revoked in the same step (a rotation).
    pub async fn add_signing_key(
        &self,
        developer: &str,
        name: &str,
        public_key: &str,
        replaces: Option<&str>,
    ) -> Result<SigningKey> {
        check_text("key name", name, 100)?;
        let public = PublisherId::from_hex(public_key)
            .map_err(|e| invalid("invalid_public_key", format!("public_key: {e}")))?
            .to_hex();
        let public = &public;
        self.write("", |op| {
            Box::pin(async move {
                let now = op.now;
                if store::find_signing_key_by_public(op.tx(), public)
                    .await?
                    .is_some()
                {
                    return Err(conflict(
                        "key_exists",
                        "this public key is registered already; generate a new key pair",
                    ));
                }
                let r = op.random10();
                let key = SigningKey {
                    id: SigningKeyId::generate(now, r).0,
                    developer_id: developer.to_string(),
                    name: name.trim().to_string(),
                    public_key: public.clone(),
                    created_at: now,
                    revoked_at: None,
                    replaced_by: None,
                };
                store::insert_signing_key(op.tx(), &key).await?;
                if let Some(old) = replaces
                    && !store::revoke_signing_key(op.tx(), developer, old, Some(&key.id), now).await?
                {
                    return Err(not_found(
                        "no_such_key",
                        format!("signing key {old} is not an active key of yours"),
                    ));
                }
                let actor = format!("developer:{developer}");
                store::log(
                    op.tx(),
                    NewLogEntry {
                        actor: &actor,
                        action: if replaces.is_some() { "rotate-key" } else { "add-key" },
                        developer_id: Some(developer),
                        detail: Some(json!({ "key_id": key.id, "public_key": key.public_key, "replaces": replaces })),
                        ..Default::default()
                    },
                    now,
                )
                .await?;
                Ok(key)
            })
        })
        .await
    }

    pub async fn revoke_signing_key(&self, developer: &str, id: &str) -> Result<()> {
        self.write("", |op| {
            Box::pin(async move {
                let now = op.now;
                if !store::revoke_signing_key(op.tx(), developer, id, None, now).await? {
                    return Err(not_found(
                        "no_such_key",
                        format!("signing key {id} is not an active key of yours"),
                    ));
                }
                let actor = format!("developer:{developer}");
                store::log(
                    op.tx(),
                    NewLogEntry {
                        actor: &actor,
                        action: "revoke-key",
                        developer_id: Some(developer),
                        detail: Some(json!({ "key_id": id })),
                        ..Default::default()
                    },
                    now,
                )
                .await?;
                Ok(())
            })
        })
        .await
    }

    // ---- publishing -------------------------------------------------------------------------

    /// Publishes a version for review (`submitted`), after every check a reviewer should
    /// not have to do by hand: size, contract version, the signature with a registered,
    /// unrevoked key of this developer, the name's owner, the version's order, and what the
    /// component really is (a component exporting the declared contract's hooks, importing
    /// only declared capabilities and the WASI subset).
    pub async fn publish_version(
        &self,
        developer: &str,
        req: PublishRequest,
    ) -> Result<VersionView> {
        let m = &req.manifest;
        // The limit bounds uploads; the platform's own plugins ship inside the binary.
        let max = if developer == PLATFORM_DEVELOPER {
            usize::MAX
        } else {
            self.settings.max_component_bytes
        };
        check_package_shape(m, &req.component, max)?;
        let signature = Signature::from_hex(&req.signature)
            .map_err(|e| invalid("bad_signature", e.to_string()))?;
        let digest = baseplate_marketplace::digest(&req.component);
        let key_id = req.key_id.as_str();

        // Who may publish this, with which key: cheap checks before compiling anything.
        let key = self
            .read(|tx| {
                Box::pin(async move {
                    let dev = store::get_developer(tx, developer)
                        .await?
                        .ok_or_else(|| forbidden("no_such_developer", "unknown developer"))?;
                    if dev.status != "approved" {
                        return Err(forbidden(
                            "developer_not_approved",
                            format!(
                                "your developer account is {}; the operator must approve it before you publish",
                                dev.status
                            ),
                        ));
                    }
                    let key = store::get_signing_key(tx, key_id)
                        .await?
                        .filter(|k| k.developer_id == developer)
                        .ok_or_else(|| {
                            invalid(
                                "unknown_key",
                                format!("signing key {key_id:?} is not one of your registered keys; register it first"),
                            )
                        })?;
                    if let Some(at) = key.revoked_at {
                        return Err(invalid(
                            "revoked_key",
                            format!("signing key {key_id} was revoked at {at} (ms since epoch); sign with an active key"),
                        ));
                    }
                    Ok(key)
                })
            })
            .await?;
        let public = PublisherId::from_hex(&key.public_key)
            .map_err(|e| CoreError::Internal(format!("stored public key: {e}")))?;
        public
            .verify_digest(&m.name, &m.version, &digest, &signature)
            .map_err(|e| invalid("bad_signature", e.to_string()))?;
        self.check_name_and_version(developer, m).await?;

        let rt = self.runtime.clone();
        let bytes = req.component.clone();
        let info = tokio::task::spawn_blocking(move || rt.inspect(&bytes))
            .await
            .map_err(|e| CoreError::Internal(e.to_string()))?
            .map_err(inspect_refusal)?;
        check_component_fits(m, &info)?;

        let now = self.now();
        let row = PackageRow {
            name: m.name.clone(),
            version: m.version.to_string(),
            wit: m.wit.to_string(),
            manifest: m.to_json().to_string(),
            digest: hex::encode(digest),
            component: req.component,
            publisher_key: public.to_hex(),
            signature: signature.to_hex(),
            state: VersionState::Submitted.as_str().to_string(),
            created_at: now,
            developer_id: developer.to_string(),
            key_id: Some(key.id.clone()),
            size: 0,
            state_reason: None,
            state_changed_at: Some(now),
            rollout: Rollout::Staged.as_str().to_string(),
        };
        let row = PackageRow {
            size: row.component.len() as i64,
            ..row
        };
        let row = &row;
        self.write("", |op| {
            Box::pin(async move {
                let now = op.now;
                // Checked again under the write: two publishes may race for a name.
                let owner = store::claim_name(op.tx(), &row.name, developer, now).await?;
                if owner != developer {
                    return Err(name_taken(&row.name, &owner));
                }
                let all = packages::list_packages(op.tx(), Some(&row.name)).await?;
                check_version_order(&row.version, &all)?;
                if !packages::insert_package(op.tx(), row).await? {
                    return Err(conflict(
                        "version_exists",
                        format!(
                            "{}@{} is already published; bump the version",
                            row.name, row.version
                        ),
                    ));
                }
                let actor = format!("developer:{developer}");
                store::log(
                    op.tx(),
                    NewLogEntry {
                        actor: &actor,
                        action: "publish",
                        plugin: Some(&row.name),
                        version: Some(&row.version),
                        developer_id: Some(developer),
                        detail: Some(
                            json!({ "digest": row.digest, "size": row.size, "key_id": row.key_id }),
                        ),
                        ..Default::default()
                    },
                    now,
                )
                .await?;
                version_view(op.tx(), row).await
            })
        })
        .await
    }

    /// The name is free or the developer's, and the version is new and not lower than the
    /// latest.
    async fn check_name_and_version(&self, developer: &str, m: &Manifest) -> Result<()> {
        self.read(|tx| {
            Box::pin(async move {
                if let Some(owner) = store::name_owner(tx, &m.name).await?
                    && owner != developer
                {
                    return Err(name_taken(&m.name, &owner));
                }
                let all = packages::list_packages(tx, Some(&m.name)).await?;
                check_version_order(&m.version.to_string(), &all)
            })
        })
        .await
    }

    /// Publishes the first-party plugins shipped in the binary through the registry, as
    /// the platform developer with `key`, and approves them (released). Versions already
    /// in the registry are left as they are.
    pub async fn bootstrap_first_party(
        &self,
        key: &PublisherKey,
        plugins: Vec<(Manifest, Vec<u8>)>,
    ) -> Result<()> {
        let public = key.public().to_hex();
        let public_ref = &public;
        let key_id = self
            .write("", |op| {
                Box::pin(async move {
                    if let Some(k) = store::find_signing_key_by_public(op.tx(), public_ref).await? {
                        return Ok(k.id);
                    }
                    let now = op.now;
                    let k = SigningKey {
                        id: format!("sk_platform_{}", &public_ref[..12]),
                        developer_id: PLATFORM_DEVELOPER.into(),
                        name: "first-party".into(),
                        public_key: public_ref.clone(),
                        created_at: now,
                        revoked_at: None,
                        replaced_by: None,
                    };
                    store::insert_signing_key(op.tx(), &k).await?;
                    Ok(k.id)
                })
            })
            .await?;
        for (manifest, component) in plugins {
            let (name, version) = (manifest.name.clone(), manifest.version.to_string());
            let (n, v) = (&name, &version);
            let exists = self
                .read(|tx| {
                    Box::pin(
                        async move { Ok(packages::get_package(tx, n, v, false).await?.is_some()) },
                    )
                })
                .await?;
            if exists {
                continue;
            }
            // Reserve the name for the platform before anything else can take it.
            self.write("", |op| {
                Box::pin(async move {
                    let now = op.now;
                    store::claim_name(op.tx(), n, PLATFORM_DEVELOPER, now).await?;
                    Ok(())
                })
            })
            .await?;
            let signature = key.sign(&manifest, &component).to_hex();
            let published = self
                .publish_version(
                    PLATFORM_DEVELOPER,
                    PublishRequest {
                        manifest,
                        component,
                        signature,
                        key_id: key_id.clone(),
                    },
                )
                .await;
            match published {
                Ok(_) => {}
                Err(CoreError::Refused {
                    code: "version_not_newer",
                    message,
                    ..
                }) => {
                    tracing::warn!("first-party {name}@{version} not published: {message}");
                    continue;
                }
                Err(e) => return Err(e),
            }
            self.review(
                &Actor::System,
                &name,
                &version,
                Review::Approve { staged: false },
                Some("first-party plugin shipped in the binary"),
            )
            .await?;
        }
        Ok(())
    }

    // ---- review ---------------------------------------------------------------------------------

    /// Submitted versions, oldest first, each with what a reviewer needs.
    pub async fn review_queue(&self) -> Result<Vec<VersionView>> {
        self.read(|tx| {
            Box::pin(async move {
                let mut out = Vec::new();
                for p in packages::list_packages(tx, None).await? {
                    if p.state == "submitted" {
                        out.push(version_view(tx, &p).await?);
                    }
                }
                out.sort_by_key(|v| v.published_at);
                Ok(out)
            })
        })
        .await
    }

    /// One version with its log; `viewer` must be the operator or the name's owner.
    pub async fn version_details(
        &self,
        viewer: &Actor,
        name: &str,
        version: &str,
    ) -> Result<(VersionView, Vec<LogEntry>, bool)> {
        self.check_may_manage(viewer, name).await?;
        let (view, log) = self
            .read(|tx| {
                Box::pin(async move {
                    let pkg = package(tx, name, version).await?;
                    Ok((
                        version_view(tx, &pkg).await?,
                        store::read_log(tx, Some(name), Some(version), 100).await?,
                    ))
                })
            })
            .await?;
        let intact = self.artifact_intact(name, version).await?;
        Ok((view, log, intact))
    }

    /// Whether the stored component still hashes to its recorded digest.
    pub async fn artifact_intact(&self, name: &str, version: &str) -> Result<bool> {
        self.read(|tx| {
            Box::pin(async move {
                let pkg = package(tx, name, version).await?;
                let bytes = packages::package_component(tx, name, version)
                    .await?
                    .unwrap_or_default();
                Ok(hex::encode(baseplate_marketplace::digest(&bytes)) == pkg.digest)
            })
        })
        .await
    }

    /// Applies a review decision (operator only), logs it with its reason, and — for an
    /// approval that is not staged — releases the version to every shop whose requirement
    /// it matches and whose accepted capabilities cover it.
    pub async fn review(
        &self,
        actor: &Actor,
        name: &str,
        version: &str,
        review: Review,
        reason: Option<&str>,
    ) -> Result<VersionView> {
        if !actor.is_operator() {
            return Err(forbidden(
                "operator_only",
                "only the platform operator reviews versions",
            ));
        }
        let reason = reason_of(review, reason)?;
        let reason = reason.as_deref();
        let view = self
            .write("", |op| {
                Box::pin(async move {
                    let pkg = package(op.tx(), name, version).await?;
                    let from = parse_state(&pkg.state)?;
                    let to = from
                        .transition(review.target())
                        .map_err(|e| conflict("bad_transition", e.to_string()))?;
                    let now = op.now;
                    if !packages::set_package_state(
                        op.tx(),
                        name,
                        version,
                        from.as_str(),
                        to.as_str(),
                        reason,
                        now,
                    )
                    .await?
                    {
                        return Err(CoreError::Retry);
                    }
                    if let Review::Approve { staged } = review {
                        let rollout = if staged {
                            Rollout::Staged
                        } else {
                            Rollout::Released
                        };
                        packages::set_rollout(op.tx(), name, version, rollout.as_str()).await?;
                    }
                    if review == Review::Revoke
                        && let Some(c) = store::get_canary(op.tx(), name, version).await?
                        && c.status == "running"
                    {
                        store::end_canary(op.tx(), name, version, "halted", now).await?;
                    }
                    let label = actor.label();
                    store::log(
                        op.tx(),
                        NewLogEntry {
                            actor: &label,
                            action: review.action(),
                            plugin: Some(name),
                            version: Some(version),
                            developer_id: Some(&pkg.developer_id),
                            reason,
                            detail: Some(json!({ "from": from, "to": to })),
                        },
                        now,
                    )
                    .await?;
                    let pkg = package(op.tx(), name, version).await?;
                    version_view(op.tx(), &pkg).await
                })
            })
            .await?;
        if review == (Review::Approve { staged: false }) {
            self.roll_forward(actor, name, version).await?;
        }
        Ok(view)
    }

    /// Moves every installation of `name` that follows releases (not pinned, requirement
    /// matching, on a lower version, capabilities accepted) to `version`. Shops whose
    /// acceptance does not cover it, or whose config the new version refuses, stay and see
    /// the upgrade offered instead. Returns what happened to each shop.
    async fn roll_forward(&self, actor: &Actor, name: &str, version: &str) -> Result<Vec<Value>> {
        let (pkg, installs) = self
            .read(|tx| {
                Box::pin(async move {
                    Ok((
                        package(tx, name, version).await?,
                        store::installations_of(tx, name).await?,
                    ))
                })
            })
            .await?;
        let target = version_of(version)?;
        let asks = parse_manifest(&pkg)?.capabilities.clone();
        let mut moves = Vec::new();
        for (inst, _) in installs {
            let why_not = follows(&inst, &target, &asks);
            if let Some(why) = why_not {
                if why != "up to date" {
                    moves.push(json!({ "shop_id": inst.shop_id, "moved": false, "why": why }));
                }
                continue;
            }
            let moved = self
                .move_to(
                    &inst.shop_id,
                    &pkg,
                    Move {
                        version_req: inst.version_req.clone(),
                        pinned: false,
                        config: None,
                        accept: None,
                    },
                )
                .await;
            moves.push(match moved {
                Ok(_) => json!({ "shop_id": inst.shop_id, "moved": true, "from": inst.version }),
                Err(e) => json!({ "shop_id": inst.shop_id, "moved": false, "why": e.to_string() }),
            });
        }
        if !moves.is_empty() {
            let label = actor.label();
            let (label, moves_ref) = (&label, &moves);
            self.write("", |op| {
                Box::pin(async move {
                    let now = op.now;
                    store::log(
                        op.tx(),
                        NewLogEntry {
                            actor: label,
                            action: "roll-forward",
                            plugin: Some(name),
                            version: Some(version),
                            detail: Some(json!({ "shops": moves_ref })),
                            ..Default::default()
                        },
                        now,
                    )
                    .await?;
                    Ok(())
                })
            })
            .await?;
        }
        Ok(moves)
    }

    /// The registry log, newest first.
    pub async fn registry_log(
        &self,
        plugin: Option<&str>,
        version: Option<&str>,
        limit: i64,
    ) -> Result<Vec<LogEntry>> {
        self.read(|tx| {
            Box::pin(async move { Ok(store::read_log(tx, plugin, version, limit).await?) })
        })
        .await
    }

    /// The operator, or the developer who owns the name.
    pub async fn check_may_manage(&self, actor: &Actor, name: &str) -> Result<()> {
        let Actor::Developer(dev) = actor else {
            return Ok(());
        };
        let owner = self
            .read(|tx| Box::pin(async move { Ok(store::name_owner(tx, name).await?) }))
            .await?;
        match owner {
            Some(o) if o == *dev => Ok(()),
            Some(_) => Err(forbidden(
                "not_your_plugin",
                format!("{name} belongs to another developer"),
            )),
            None => Err(not_found(
                "no_such_plugin",
                format!("no plugin named {name:?}"),
            )),
        }
    }

    /// A developer's plugins: every version with its review state and rollout, and the
    /// installs of each.
    pub async fn developer_plugins(&self, developer: &str) -> Result<Vec<Value>> {
        self.read(|tx| {
            Box::pin(async move {
                let mut out = Vec::new();
                for name in store::names_of(tx, developer).await? {
                    let counts = store::install_counts_by_version(tx, &name).await?;
                    let mut versions = Vec::new();
                    for p in packages::list_packages(tx, Some(&name)).await? {
                        let canary = store::get_canary(tx, &name, &p.version).await?;
                        versions.push(json!({
                            "version": p.version,
                            "state": p.state,
                            "state_reason": p.state_reason,
                            "rollout": p.rollout,
                            "canary": canary.map(|c| c.status),
                            "size": p.size,
                            "digest": p.digest,
                            "published_at": p.created_at,
                            "installs": counts.iter().find(|(v, _)| *v == p.version).map_or(0, |(_, n)| *n),
                        }));
                    }
                    out.push(json!({
                        "name": name,
                        "installs": counts.iter().map(|(_, n)| n).sum::<i64>(),
                        "versions": versions,
                    }));
                }
                Ok(out)
            })
        })
        .await
    }

    // ---- canaries ---------------------------------------------------------------------------------

    /// A shop opts in to (or out of) running canary versions of the plugins it installed.
    pub async fn set_canary_consent(&self, shop: &str, opt_in: bool) -> Result<Option<i64>> {
        self.write(shop, |op| {
            Box::pin(async move {
                let now = op.now;
                store::set_consent(op.tx(), shop, opt_in, now).await?;
                Ok(store::consent(op.tx(), shop).await?)
            })
        })
        .await
    }

    pub async fn canary_consent(&self, shop: &str) -> Result<Option<i64>> {
        self.read(|tx| Box::pin(async move { Ok(store::consent(tx, shop).await?) }))
            .await
    }

    /// Rolls a staged (or halted) approved version out to a canary: the listed shops, or a
    /// share of the consenting shops that can take it (installed, not pinned, requirement
    /// matching, capabilities accepted). Their installations move to it; everyone else's
    /// requirement still resolves as before.
    pub async fn start_canary(
        &self,
        actor: &Actor,
        name: &str,
        version: &str,
        target: CanaryTarget,
    ) -> Result<CanaryView> {
        self.check_may_manage(actor, name).await?;
        let target_version = version_of(version)?;
        let (pkg, installs) = self
            .read(|tx| {
                Box::pin(async move {
                    Ok((
                        package(tx, name, version).await?,
                        store::installations_of(tx, name).await?,
                    ))
                })
            })
            .await?;
        if pkg.state != "approved" {
            return Err(conflict(
                "not_approved",
                format!(
                    "{name}@{version} is {}; only an approved version can go to a canary",
                    pkg.state
                ),
            ));
        }
        let rollout: Rollout = pkg
            .rollout
            .parse()
            .map_err(|_| CoreError::Internal(format!("rollout {:?}", pkg.rollout)))?;
        if !rollout.can_start_canary() {
            return Err(conflict(
                "not_staged",
                format!(
                    "{name}@{version} is {rollout}; a canary starts from a staged (approve with \"staged\": true) or halted version"
                ),
            ));
        }
        let asks = parse_manifest(&pkg)?.capabilities.clone();
        let why_not = |inst: &baseplate_store::plugins::Installation, consents: bool| {
            if !consents {
                return Some("the shop has not opted in to canaries".to_string());
            }
            follows(inst, &target_version, &asks)
        };
        let picked: Vec<String> = match &target {
            CanaryTarget::Shops(shops) => {
                if shops.is_empty() {
                    return Err(CoreError::Invalid("shops: list at least one shop".into()));
                }
                let mut refused = Vec::new();
                for shop in shops {
                    match installs.iter().find(|(i, _)| i.shop_id == *shop) {
                        None => refused.push(json!({ "shop_id": shop, "why": format!("{name} is not installed there") })),
                        Some((i, consents)) => {
                            if let Some(why) = why_not(i, *consents) {
                                refused.push(json!({ "shop_id": shop, "why": why }));
                            }
                        }
                    }
                }
                if !refused.is_empty() {
                    return Err(CoreError::Refused {
                        kind: Refusal::Conflict,
                        code: "shops_not_eligible",
                        message: format!(
                            "these shops cannot take {name}@{version} as a canary: {}",
                            refused
                                .iter()
                                .map(|r| format!(
                                    "{} ({})",
                                    r["shop_id"].as_str().unwrap_or(""),
                                    r["why"].as_str().unwrap_or("")
                                ))
                                .collect::<Vec<_>>()
                                .join("; ")
                        ),
                        details: Some(json!({ "shops": refused })),
                    });
                }
                let mut s = shops.clone();
                s.sort();
                s.dedup();
                s
            }
            CanaryTarget::Percent(p) => {
                if !(1..=100).contains(p) {
                    return Err(CoreError::Invalid("percent must be 1..=100".into()));
                }
                let eligible: Vec<String> = installs
                    .iter()
                    .filter(|(i, c)| why_not(i, *c).is_none())
                    .map(|(i, _)| i.shop_id.clone())
                    .collect();
                baseplate_marketplace::canary_pick(&eligible, *p, name, &target_version)
            }
        };
        if picked.is_empty() {
            return Err(conflict(
                "no_eligible_shops",
                format!(
                    "no shop can take {name}@{version} as a canary (none opted in, or none can upgrade to it)"
                ),
            ));
        }
        let label = actor.label();
        let percent = match target {
            CanaryTarget::Percent(p) => Some(i64::from(p)),
            CanaryTarget::Shops(_) => None,
        };
        let (label_ref, picked_ref) = (&label, &picked);
        self.write("", |op| {
            Box::pin(async move {
                let now = op.now;
                store::upsert_canary(
                    op.tx(),
                    &Canary {
                        plugin: name.into(),
                        version: version.into(),
                        status: "running".into(),
                        percent,
                        started_by: label_ref.clone(),
                        started_at: now,
                        ended_at: None,
                    },
                )
                .await?;
                packages::set_rollout(op.tx(), name, version, Rollout::Canary.as_str()).await?;
                store::log(
                    op.tx(),
                    NewLogEntry {
                        actor: label_ref,
                        action: "canary",
                        plugin: Some(name),
                        version: Some(version),
                        detail: Some(json!({ "shops": picked_ref, "percent": percent })),
                        ..Default::default()
                    },
                    now,
                )
                .await?;
                Ok(())
            })
        })
        .await?;
        let mut moves = Vec::new();
        for shop in &picked {
            let Some((inst, _)) = installs.iter().find(|(i, _)| i.shop_id == *shop) else {
                continue;
            };
            let moved = self
                .move_to(
                    shop,
                    &pkg,
                    Move {
                        version_req: inst.version_req.clone(),
                        pinned: false,
                        config: None,
                        accept: None,
                    },
                )
                .await;
            match moved {
                Ok(_) => {
                    let row = CanaryShop {
                        shop_id: shop.clone(),
                        previous_version: inst.version.clone(),
                        joined_at: self.now(),
                    };
                    let row = &row;
                    self.write("", |op| {
                        Box::pin(async move {
                            Ok(store::add_canary_shop(op.tx(), name, version, row).await?)
                        })
                    })
                    .await?;
                    moves.push(json!({ "shop_id": shop, "moved": true, "from": inst.version }));
                }
                Err(e) => {
                    moves.push(json!({ "shop_id": shop, "moved": false, "why": e.to_string() }))
                }
            }
        }
        let mut view = self.canary_view(actor, name, version).await?;
        view.moves = moves;
        Ok(view)
    }

    /// A canary with its shops and what their calls of this version did.
    pub async fn canary_view(
        &self,
        actor: &Actor,
        name: &str,
        version: &str,
    ) -> Result<CanaryView> {
        self.check_may_manage(actor, name).await?;
        self.read(|tx| {
            Box::pin(async move {
                let canary = store::get_canary(tx, name, version).await?.ok_or_else(|| {
                    not_found("no_canary", format!("{name}@{version} has no canary"))
                })?;
                let pkg = package(tx, name, version).await?;
                let calls = store::version_calls(tx, Some(name), Some(version)).await?;
                let mut shops = Vec::new();
                for s in store::canary_shops(tx, name, version).await? {
                    let current = packages::get_installation(tx, &s.shop_id, name)
                        .await?
                        .map(|i| i.version);
                    let c = calls.iter().find(|c| c.shop_id == s.shop_id);
                    shops.push(json!({
                        "shop_id": s.shop_id,
                        "previous_version": s.previous_version,
                        "current_version": current,
                        "joined_at": s.joined_at,
                        "calls": c.map_or(0, |c| c.calls),
                        "failures": c.map_or(0, |c| c.failures),
                    }));
                }
                let total: i64 = calls.iter().map(|c| c.calls).sum();
                let failures: i64 = calls.iter().map(|c| c.failures).sum();
                let buckets: Vec<(i64, i64)> = store::histogram(tx, Some(name))
                    .await?
                    .into_iter()
                    .filter(|(_, v, _, _)| v == version)
                    .map(|(_, _, b, n)| (b, n))
                    .collect();
                Ok(CanaryView {
                    canary,
                    rollout: pkg.rollout,
                    shops,
                    calls: total,
                    failures,
                    failure_rate: if total > 0 {
                        failures as f64 / total as f64
                    } else {
                        0.0
                    },
                    p99_us: crate::plugins::p99_from_histogram(&buckets),
                    moves: Vec::new(),
                })
            })
        })
        .await
    }

    /// Ends a canary by releasing its version: it becomes what every requirement resolves
    /// to, and the shops that follow releases move to it.
    pub async fn promote(&self, actor: &Actor, name: &str, version: &str) -> Result<CanaryView> {
        self.check_may_manage(actor, name).await?;
        let label = actor.label();
        let label_ref = &label;
        self.write("", |op| {
            Box::pin(async move {
                let pkg = package(op.tx(), name, version).await?;
                let canary = store::get_canary(op.tx(), name, version).await?;
                if pkg.state != "approved" || canary.as_ref().is_none_or(|c| c.status != "running")
                {
                    return Err(conflict(
                        "no_running_canary",
                        format!(
                            "{name}@{version} has no running canary to promote ({}, {})",
                            pkg.state, pkg.rollout
                        ),
                    ));
                }
                let now = op.now;
                packages::set_rollout(op.tx(), name, version, Rollout::Released.as_str()).await?;
                store::end_canary(op.tx(), name, version, "promoted", now).await?;
                store::log(
                    op.tx(),
                    NewLogEntry {
                        actor: label_ref,
                        action: "promote",
                        plugin: Some(name),
                        version: Some(version),
                        ..Default::default()
                    },
                    now,
                )
                .await?;
                Ok(())
            })
        })
        .await?;
        let moves = self.roll_forward(actor, name, version).await?;
        let mut view = self.canary_view(actor, name, version).await?;
        view.moves = moves;
        Ok(view)
    }

    /// Stops a canary: its shops still on the version go back to the version they had, and
    /// the version resolves for nobody until a new canary or a promotion.
    pub async fn halt(
        &self,
        actor: &Actor,
        name: &str,
        version: &str,
        reason: Option<&str>,
    ) -> Result<CanaryView> {
        self.check_may_manage(actor, name).await?;
        let reason = reason
            .map(str::trim)
            .filter(|r| !r.is_empty())
            .ok_or_else(|| CoreError::Invalid("a reason is required to halt a canary".into()))?;
        let label = actor.label();
        let label_ref = &label;
        let cohort = self
            .write("", |op| {
                Box::pin(async move {
                    let canary = store::get_canary(op.tx(), name, version).await?;
                    if canary.as_ref().is_none_or(|c| c.status != "running") {
                        return Err(conflict(
                            "no_running_canary",
                            format!("{name}@{version} has no running canary to halt"),
                        ));
                    }
                    let now = op.now;
                    packages::set_rollout(op.tx(), name, version, Rollout::Halted.as_str()).await?;
                    store::end_canary(op.tx(), name, version, "halted", now).await?;
                    store::log(
                        op.tx(),
                        NewLogEntry {
                            actor: label_ref,
                            action: "halt",
                            plugin: Some(name),
                            version: Some(version),
                            reason: Some(reason),
                            ..Default::default()
                        },
                        now,
                    )
                    .await?;
                    Ok(store::canary_shops(op.tx(), name, version).await?)
                })
            })
            .await?;
        let mut moves = Vec::new();
        for s in cohort {
            let (shop, prev) = (&s.shop_id, &s.previous_version);
            let found = self
                .read(|tx| {
                    Box::pin(async move {
                        Ok((
                            packages::get_installation(tx, shop, name).await?,
                            packages::get_package(tx, name, prev, false).await?,
                        ))
                    })
                })
                .await?;
            let (Some(inst), Some(prev_pkg)) = found else {
                continue;
            };
            if inst.version != version {
                continue;
            }
            let moved = self
                .move_to(
                    shop,
                    &prev_pkg,
                    Move {
                        version_req: inst.version_req.clone(),
                        pinned: inst.pinned,
                        config: None,
                        accept: None,
                    },
                )
                .await;
            moves.push(match moved {
                Ok(_) => json!({ "shop_id": shop, "moved": true, "to": prev }),
                Err(e) => json!({ "shop_id": shop, "moved": false, "why": e.to_string() }),
            });
        }
        let mut view = self.canary_view(actor, name, version).await?;
        view.moves = moves;
        Ok(view)
    }

    // ---- merchants and the platform view ---------------------------------------------------------

    /// The marketplace for merchants: one entry per plugin with a released approved
    /// version, matching the text `q` (name, title, description) and `category`.
    pub async fn catalog(&self, q: Option<&str>, category: Option<&str>) -> Result<Vec<Value>> {
        let category = match category {
            Some(c) => Some(
                c.parse::<Category>()
                    .map_err(|e| CoreError::Invalid(format!("category: {e}")))?,
            ),
            None => None,
        };
        let q = q.map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty());
        let q = &q;
        self.read(|tx| {
            Box::pin(async move {
                let all = packages::list_packages(tx, None).await?;
                let counts = store::install_counts(tx).await?;
                let mut names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
                names.dedup();
                let mut out = Vec::new();
                for name in names {
                    let versions: Vec<&PackageRow> =
                        all.iter().filter(|p| p.name == name).collect();
                    let Some(entry) = catalog_entry(tx, &versions, &counts).await? else {
                        continue;
                    };
                    if category.is_some_and(|c| entry["category"] != c.as_str()) {
                        continue;
                    }
                    if let Some(q) = q {
                        let text = format!(
                            "{} {} {}",
                            entry["name"].as_str().unwrap_or(""),
                            entry["title"].as_str().unwrap_or(""),
                            entry["description"].as_str().unwrap_or("")
                        )
                        .to_lowercase();
                        if !text.contains(q.as_str()) {
                            continue;
                        }
                    }
                    out.push(entry);
                }
                out.sort_by(|a, b| {
                    b["installs"]
                        .as_i64()
                        .cmp(&a["installs"].as_i64())
                        .then_with(|| a["name"].as_str().cmp(&b["name"].as_str()))
                });
                Ok(out)
            })
        })
        .await
    }

    /// One plugin of the marketplace.
    pub async fn catalog_plugin(&self, name: &str) -> Result<Value> {
        self.read(|tx| {
            Box::pin(async move {
                let all = packages::list_packages(tx, Some(name)).await?;
                let counts = store::install_counts(tx).await?;
                let versions: Vec<&PackageRow> = all.iter().collect();
                catalog_entry(tx, &versions, &counts).await?.ok_or_else(|| {
                    CoreError::NotFound(format!("no plugin named {name:?} in the marketplace"))
                })
            })
        })
        .await
    }

    /// The platform view: every plugin with its installs, calls, failure rate and p99 call
    /// time across shops, by install count, with the same per version.
    pub async fn platform_stats(&self) -> Result<Vec<Value>> {
        self.read(|tx| {
            Box::pin(async move {
                let all = packages::list_packages(tx, None).await?;
                let counts = store::install_counts(tx).await?;
                let calls = store::version_calls(tx, None, None).await?;
                let hist = store::histogram(tx, None).await?;
                let mut names: Vec<&str> = all.iter().map(|p| p.name.as_str()).collect();
                names.dedup();
                let mut out = Vec::new();
                for name in names {
                    let installs = counts.iter().find(|(n, _)| n == name).map_or(0, |(_, n)| *n);
                    let by_version = store::install_counts_by_version(tx, name).await?;
                    let mut versions = Vec::new();
                    let (mut total, mut failed) = (0i64, 0i64);
                    let mut merged: Vec<(i64, i64)> = Vec::new();
                    for p in all.iter().filter(|p| p.name == name) {
                        let c: Vec<_> = calls.iter().filter(|c| c.plugin == name && c.version == p.version).collect();
                        let vc: i64 = c.iter().map(|c| c.calls).sum();
                        let vf: i64 = c.iter().map(|c| c.failures).sum();
                        let buckets: Vec<(i64, i64)> = hist
                            .iter()
                            .filter(|(n, v, _, _)| n == name && *v == p.version)
                            .map(|(_, _, b, k)| (*b, *k))
                            .collect();
                        for (b, k) in &buckets {
                            match merged.iter_mut().find(|(mb, _)| mb == b) {
                                Some(m) => m.1 += k,
                                None => merged.push((*b, *k)),
                            }
                        }
                        total += vc;
                        failed += vf;
                        versions.push(json!({
                            "version": p.version,
                            "state": p.state,
                            "rollout": p.rollout,
                            "installs": by_version.iter().find(|(v, _)| *v == p.version).map_or(0, |(_, n)| *n),
                            "calls": vc,
                            "failures": vf,
                            "failure_rate": rate(vf, vc),
                            "p99_us": crate::plugins::p99_from_histogram(&buckets),
                        }));
                    }
                    out.push(json!({
                        "name": name,
                        "installs": installs,
                        "calls": total,
                        "failures": failed,
                        "failure_rate": rate(failed, total),
                        "p99_us": crate::plugins::p99_from_histogram(&merged),
                        "versions": versions,
                    }));
                }
                out.sort_by(|a, b| {
                    b["installs"]
                        .as_i64()
                        .cmp(&a["installs"].as_i64())
                        .then_with(|| a["name"].as_str().cmp(&b["name"].as_str()))
                });
                Ok(out)
            })
        })
        .await
    }

    /// Recent failures of a plugin in every shop (the operator's view).
    pub async fn failures_across_shops(
        &self,
        name: &str,
        version: Option<&str>,
    ) -> Result<Vec<Value>> {
        self.read(|tx| {
            Box::pin(async move {
                Ok(store::failures_across_shops(tx, name, version, 100)
                    .await?
                    .into_iter()
                    .map(|(shop, f)| {
                        let mut v = serde_json::to_value(&f).unwrap_or(Value::Null);
                        v["shop_id"] = json!(shop);
                        v
                    })
                    .collect())
            })
        })
        .await
    }
}

fn rate(failures: i64, calls: i64) -> f64 {
    if calls > 0 {
        failures as f64 / calls as f64
    } else {
        0.0
    }
}

fn name_taken(name: &str, owner: &str) -> CoreError {
    if owner == PLATFORM_DEVELOPER {
        forbidden(
            "name_reserved",
            format!("the name {name:?} is reserved for a first-party plugin; pick another name"),
        )
    } else {
        forbidden(
            "name_taken",
            format!("the name {name:?} belongs to another developer; pick another name"),
        )
    }
}

fn check_version_order(version: &str, all: &[PackageRow]) -> Result<()> {
    let version = version_of(version)?;
    let published: Vec<(semver::Version, VersionState)> = all
        .iter()
        .filter_map(|p| Some((p.version.parse().ok()?, parse_state(&p.state).ok()?)))
        .collect();
    baseplate_marketplace::check_next_version(&version, &published).map_err(|e| match e {
        baseplate_marketplace::Error::VersionExists { .. } => {
            conflict("version_exists", e.to_string())
        }
        _ => conflict("version_not_newer", e.to_string()),
    })
}

/// Why an installation does not follow a release of `target` asking for `asks` (None: it
/// does). "up to date" when it is already at or past it.
fn follows(
    inst: &baseplate_store::plugins::Installation,
    target: &semver::Version,
    asks: &[Capability],
) -> Option<String> {
    if inst.pinned {
        return Some(format!("pinned at {}", inst.version));
    }
    match inst.version.parse::<semver::Version>() {
        Ok(v) if v >= *target => return Some("up to date".into()),
        Ok(_) => {}
        Err(_) => {
            return Some(format!(
                "installed version {:?} is not semver",
                inst.version
            ));
        }
    }
    match semver::VersionReq::parse(&inst.version_req) {
        Ok(req) if req.matches(target) => {}
        _ => {
            return Some(format!(
                "its requirement {} does not match {target}",
                inst.version_req
            ));
        }
    }
    let diff = CapabilityDiff::between(&parse_accepted(&inst.accepted_capabilities), asks);
    if diff.widens() {
        return Some(format!(
            "it asks for capabilities the shop has not accepted: {}",
            diff.added
                .iter()
                .map(|c| c.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ));
    }
    None
}

/// A plugin as merchants browse it: its newest released approved version's description
/// and capabilities, its installable versions, and its install count. None when nothing of
/// it is installable.
async fn catalog_entry(
    tx: &mut Tx,
    versions: &[&PackageRow],
    counts: &[(String, i64)],
) -> Result<Option<Value>> {
    let listed: Vec<&&PackageRow> = versions
        .iter()
        .filter(|p| p.state == "approved" && p.rollout == "released")
        .collect();
    let Some(latest) = listed
        .iter()
        .filter_map(|p| Some((p.version.parse::<semver::Version>().ok()?, **p)))
        .max_by(|a, b| a.0.cmp(&b.0))
        .map(|(_, p)| p)
    else {
        return Ok(None);
    };
    let m = parse_manifest(latest)?;
    let developer = store::get_developer(tx, &latest.developer_id).await?;
    let mut vs = Vec::new();
    for p in &listed {
        let pm = parse_manifest(p)?;
        vs.push(json!({
            "version": p.version,
            "wit": p.wit,
            "capabilities": pm.capabilities,
            "published_at": p.created_at,
            "size": p.size,
        }));
    }
    Ok(Some(json!({
        "name": m.name,
        "title": m.title,
        "description": m.description,
        "category": m.category,
        "latest": latest.version,
        "capabilities": m.capabilities,
        "hooks": m.hooks,
        "actions": m.actions,
        "publisher": developer.map(|d| json!({ "id": d.id, "name": d.name })),
        "first_party": latest.developer_id == PLATFORM_DEVELOPER,
        "installs": counts.iter().find(|(n, _)| *n == m.name).map_or(0, |(_, n)| *n),
        "versions": vs,
    })))
}
