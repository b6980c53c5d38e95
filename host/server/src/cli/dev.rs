//! `baseplate plugin new | check | run | test | pack | replay`: a plugin developer's local
//! loop. Nothing here needs a node except `replay`, which fetches a recorded call. `run`
//! and `test` call the component in the same sandbox a node uses (the same engine, the
//! production limits, the same WASI subset), against in-memory shop data, with the
//! record's clock and seed, so what passes here behaves the same in a shop.

use anyhow::{Context, anyhow, bail};
use baseplate_marketplace::{Manifest, PublisherKey};
use baseplate_runtime::fixture::{self, CallRecord};
use baseplate_runtime::{Capability, Grants, Limits, LoadedPlugin, Overlay, Runtime};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

/// Where a plugin's files are: its crate, its manifest and its built component.
#[derive(clap::Args, Clone, Debug)]
pub struct Project {
    /// The plugin's crate directory.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
    /// The manifest (default: `<dir>/plugin.toml`).
    #[arg(long)]
    pub manifest: Option<PathBuf>,
    /// The component (default: what `cargo build --release --target wasm32-wasip2` made).
    #[arg(long)]
    pub component: Option<PathBuf>,
}

impl Project {
    fn manifest_path(&self) -> PathBuf {
        self.manifest
            .clone()
            .unwrap_or_else(|| self.dir.join("plugin.toml"))
    }

    fn manifest(&self) -> anyhow::Result<(Manifest, String)> {
        let path = self.manifest_path();
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading the manifest {}", path.display()))?;
        let m = Manifest::parse(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?;
        Ok((m, text))
    }

    /// The crate's package name and library name.
    fn names(&self) -> anyhow::Result<(String, String)> {
        let path = self.dir.join("Cargo.toml");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {} (pass --dir or --component)", path.display()))?;
        let doc: toml::Table = text
            .parse()
            .with_context(|| format!("parsing {}", path.display()))?;
        let package = doc
            .get("package")
            .and_then(|p| p.get("name"))
            .and_then(|n| n.as_str())
            .ok_or_else(|| anyhow!("{} has no [package] name", path.display()))?
            .to_string();
        let lib = doc
            .get("lib")
            .and_then(|l| l.get("name"))
            .and_then(|n| n.as_str())
            .unwrap_or(&package)
            .replace('-', "_");
        Ok((package, lib))
    }

    fn workspace_root(&self) -> anyhow::Result<PathBuf> {
        let dir = std::fs::canonicalize(&self.dir)
            .with_context(|| format!("no such directory {}", self.dir.display()))?;
        baseplate_wasm_build::workspace_root(&dir).map_err(|e| anyhow!("{e}"))
    }

    fn target_dir(&self) -> anyhow::Result<PathBuf> {
        Ok(match std::env::var_os("CARGO_TARGET_DIR") {
            Some(t) => PathBuf::from(t),
            None => self.workspace_root()?.join("target"),
        })
    }

    fn component_path(&self) -> anyhow::Result<PathBuf> {
        if let Some(c) = &self.component {
            return Ok(c.clone());
        }
        let (_, lib) = self.names()?;
        Ok(self
            .target_dir()?
            .join("wasm32-wasip2")
            .join("release")
            .join(baseplate_wasm_build::wasm_file_name(&lib)))
    }

    fn component(&self) -> anyhow::Result<(PathBuf, Vec<u8>)> {
        let path = self.component_path()?;
        let bytes = std::fs::read(&path).with_context(|| {
            format!(
                "reading the component {}; build it first (`cargo build --release --target wasm32-wasip2`, or pass --build)",
                path.display()
            )
        })?;
        Ok((path, bytes))
    }

    /// Builds the component reproducibly (no machine paths inside, so its sha256 is the
    /// same wherever it is built) and returns where it is.
    fn build(&self) -> anyhow::Result<PathBuf> {
        if self.component.is_some() {
            return self.component_path();
        }
        let (package, _) = self.names()?;
        let root = self.workspace_root()?;
        let target = self.target_dir()?;
        eprintln!("building {package} for wasm32-wasip2 …");
        let artifacts = baseplate_wasm_build::build_workspace(&root, &target, &[&package])
            .map_err(|e| anyhow!("building {package}: {e}"))?;
        artifacts
            .into_iter()
            .next()
            .map(|a| a.path)
            .ok_or_else(|| anyhow!("{package} built no component; is it a cdylib?"))
    }
}

// ---------------------------------------------------------------- new

const T_CARGO: &str = include_str!("template/Cargo.toml.tmpl");
const T_TOOLCHAIN: &str = include_str!("template/rust-toolchain.toml");
const T_GITIGNORE: &str = include_str!("template/gitignore");
const T_MANIFEST: &str = include_str!("template/plugin.toml");
const T_LIB: &str = include_str!("template/lib.rs");
const T_TESTS: &str = include_str!("template/tests.rs");
const T_README: &str = include_str!("template/README.md");
const T_FIX_PRICE: &str = include_str!("template/fixtures/price.json");
const T_FIX_BELOW: &str = include_str!("template/fixtures/below-minimum.json");

/// The SDK this binary was built with, when its sources are still where they were.
fn bundled_sdk() -> Option<PathBuf> {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk");
    std::fs::canonicalize(sdk)
        .ok()
        .filter(|p| p.join("Cargo.toml").is_file())
}

/// Scaffolds `<parent>/<name>`: a crate of its own that builds with plain cargo.
pub fn new(name: &str, parent: &Path, sdk_path: Option<&Path>) -> anyhow::Result<PathBuf> {
    let valid = name.len() >= 2
        && name.len() <= 40
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        bail!(
            "{name:?} is not a plugin name: 2–40 characters, a lowercase letter first, then lowercase letters, digits and '-'"
        );
    }
    let dir = parent.join(name);
    if dir.exists() {
        bail!("{} exists; pick another name or folder", dir.display());
    }
    let sdk_dir = match sdk_path {
        Some(p) => {
            Some(std::fs::canonicalize(p).with_context(|| format!("no SDK at {}", p.display()))?)
        }
        None => bundled_sdk(),
    };
    let sdk = match &sdk_dir {
        Some(p) => format!("{{ path = {:?} }}", p.display().to_string()),
        None => "\"0.2\"".to_string(),
    };
    // The versions the SDK was built and tested with, when its repository is at hand
    // (cargo drops what the plugin does not use).
    let lock = sdk_dir
        .as_ref()
        .and_then(|d| d.parent())
        .map(|root| root.join("Cargo.lock"))
        .filter(|l| l.is_file());
    let title = name
        .split('-')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join(" ");
    let type_name = title.replace(' ', "");
    let fill = |t: &str| {
        t.replace("{{name}}", name)
            .replace("{{title}}", &title)
            .replace("{{type}}", &type_name)
            .replace("{{sdk}}", &sdk)
    };
    let files: [(&str, &str); 9] = [
        ("Cargo.toml", T_CARGO),
        ("rust-toolchain.toml", T_TOOLCHAIN),
        (".gitignore", T_GITIGNORE),
        ("plugin.toml", T_MANIFEST),
        ("src/lib.rs", T_LIB),
        ("src/tests.rs", T_TESTS),
        ("README.md", T_README),
        ("fixtures/price.json", T_FIX_PRICE),
        ("fixtures/below-minimum.json", T_FIX_BELOW),
    ];
    for (path, template) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().expect("a file in a folder"))?;
        std::fs::write(&path, fill(template))
            .with_context(|| format!("writing {}", path.display()))?;
    }
    if let Some(lock) = lock {
        std::fs::copy(&lock, dir.join("Cargo.lock"))
            .with_context(|| format!("copying {}", lock.display()))?;
    }
    Ok(dir)
}

// ---------------------------------------------------------------- check

/// What `check` found: the component and the manifest agree and the registry would take it.
pub struct Checked {
    pub manifest: Manifest,
    pub manifest_text: String,
    pub path: PathBuf,
    pub bytes: Vec<u8>,
    pub digest: String,
    pub info: baseplate_runtime::ComponentInfo,
    pub warnings: Vec<String>,
}

/// The registry's publish checks, run locally: size, manifest, contract version, that the
/// bytes are a component exporting that version's hooks, and imports only of declared
/// capabilities and the allowed WASI subset.
pub fn check(p: &Project, rt: &Runtime, max_bytes: usize) -> anyhow::Result<Checked> {
    let (manifest, manifest_text) = p.manifest()?;
    let (path, bytes) = p.component()?;
    let shown = |e: baseplate_core::CoreError| anyhow!("{}: {e}", path.display());
    baseplate_core::registry::check_package_shape(&manifest, &bytes, max_bytes).map_err(shown)?;
    let info = baseplate_core::registry::inspect_component(rt, &bytes).map_err(shown)?;
    baseplate_core::registry::check_component_fits(&manifest, &info).map_err(shown)?;
    let mut warnings = Vec::new();
    for c in &manifest.capabilities {
        if !info.capabilities.iter().any(|i| i.name() == c.as_str()) {
            warnings.push(format!(
                "the manifest declares the {:?} capability but the component never imports it; merchants are asked to grant it for nothing",
                c.as_str()
            ));
        }
    }
    Ok(Checked {
        digest: Runtime::digest(&bytes),
        manifest,
        manifest_text,
        path,
        bytes,
        info,
        warnings,
    })
}

pub fn print_check(c: &Checked) {
    for w in &c.warnings {
        eprintln!("warning: {w}");
    }
    println!(
        "ok: {}@{} (contract {}), {} bytes, sha256 {}\n  capabilities: [{}]\n  wasi: [{}]",
        c.manifest.name,
        c.manifest.version,
        c.info.contract.as_str(),
        c.bytes.len(),
        c.digest,
        c.info
            .capabilities
            .iter()
            .map(|c| c.name())
            .collect::<Vec<_>>()
            .join(", "),
        c.info.wasi.join(", ")
    );
}

// ---------------------------------------------------------------- run

/// A runtime with the limits a node runs plugins under.
pub fn runtime() -> anyhow::Result<Runtime> {
    Runtime::new(Limits::default(), None).map_err(|e| anyhow!("starting the sandbox: {e}"))
}

fn load(rt: &Runtime, c: &Checked) -> anyhow::Result<Arc<LoadedPlugin>> {
    let grants = Grants::of(
        c.manifest
            .capabilities
            .iter()
            .filter_map(|cap| Capability::parse(cap.as_str())),
    );
    let bytes = c.bytes.clone();
    rt.load(&c.digest, grants, || Some(bytes))
        .map_err(|e| anyhow!("loading {}: {e}", c.path.display()))
}

/// Why the host would never make this call, if it would not (an undeclared stage, event,
/// action or hook): the manifest decides what a node calls.
fn not_declared(m: &Manifest, r: &CallRecord) -> Option<String> {
    let h = &m.hooks;
    match r.hook.as_str() {
        "validate-config" if !h.validate_config => {
            Some("the manifest does not set hooks.validate_config".into())
        }
        "price" => r.stage.and_then(|s| {
            (!h.price.iter().any(|p| p.as_str() == s.as_str()))
                .then(|| format!("the manifest's hooks.price does not list {:?}", s.as_str()))
        }),
        "validate-checkout" if !h.validate_checkout => {
            Some("the manifest does not set hooks.validate_checkout".into())
        }
        "order-created" if !h.order_created => {
            Some("the manifest does not set hooks.order_created".into())
        }
        "handle-event" => r.event.as_deref().and_then(|e| {
            (!h.events.iter().any(|k| k.as_str() == e))
                .then(|| format!("the manifest's hooks.events does not list {e:?}"))
        }),
        "handle-action" => r.action.as_deref().and_then(|a| {
            m.action(a)
                .is_none()
                .then(|| format!("the manifest declares no action {a:?}"))
        }),
        "fire-timer" if !h.timers => Some("the manifest does not set hooks.timers".into()),
        _ => None,
    }
}

/// Runs one recorded call in the sandbox and returns its report.
pub fn run_record(
    rt: &Runtime,
    plugin: &LoadedPlugin,
    m: &Manifest,
    record: &CallRecord,
) -> anyhow::Result<Value> {
    let call = record
        .to_call(&m.name, &m.version.to_string(), &m.config.default)
        .map_err(|e| anyhow!("the call record: {e}"))?;
    let data: Arc<dyn baseplate_runtime::HostData> = Arc::new(call.data);
    let mut overlay = Overlay::new(&call.env.shop_id, &call.env.plugin, data);
    let result = rt.call(plugin, &call.env, call.hook, &mut overlay);
    Ok(fixture::report(&result, overlay.effects()))
}

fn read_record(path: &Path) -> anyhow::Result<CallRecord> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    CallRecord::parse(&text).map_err(|e| anyhow!("{}: {e}", path.display()))
}

pub struct RunArgs {
    pub hook: String,
    pub input: Option<PathBuf>,
    pub config: Option<String>,
    pub now: Option<i64>,
    pub seed: Option<u64>,
    pub build: bool,
}

pub fn run(p: &Project, a: RunArgs) -> anyhow::Result<()> {
    let mut record = match &a.input {
        Some(path) => read_record(path)?,
        None => CallRecord {
            hook: a.hook.clone(),
            ..CallRecord::default()
        },
    };
    if record.hook != a.hook {
        bail!(
            "the record is a {} call but you asked to run {}",
            record.hook,
            a.hook
        );
    }
    if let Some(c) = a.config {
        record.config = Some(Value::String(c));
    }
    record.now = a.now.or(record.now);
    record.seed = a.seed.or(record.seed);
    let p = if a.build {
        Project {
            component: Some(p.build()?),
            ..p.clone()
        }
    } else {
        p.clone()
    };
    let rt = runtime()?;
    let c = check(&p, &rt, usize::MAX)?;
    if let Some(why) = not_declared(&c.manifest, &record) {
        eprintln!("warning: a node would not make this call: {why}");
    }
    let plugin = load(&rt, &c)?;
    let report = run_record(&rt, &plugin, &c.manifest, &record)?;
    print_logs(&report);
    println!("{}", serde_json::to_string_pretty(&report)?);
    eprintln!("{}", summary(&record.hook, &report));
    if let Some(expect) = &record.expect {
        let diffs = fixture::mismatches(expect, &report);
        if !diffs.is_empty() {
            bail!("not what the record expects:\n  {}", diffs.join("\n  "));
        }
        eprintln!("matches what the record expects");
    }
    Ok(())
}

/// A call's logs in full, on stderr: a local run never truncates them.
fn print_logs(report: &Value) {
    for l in report["logs"].as_array().into_iter().flatten() {
        eprintln!(
            "[{}] {}",
            l["level"].as_str().unwrap_or(""),
            l["message"].as_str().unwrap_or("")
        );
    }
}

fn summary(hook: &str, report: &Value) -> String {
    let outcome = match report["outcome"].as_str() {
        Some("ok") => "ok".to_string(),
        _ => format!(
            "{} {}: {}",
            report["error"]["kind"].as_str().unwrap_or(""),
            report["error"]["code"].as_str().unwrap_or(""),
            report["error"]["message"].as_str().unwrap_or("")
        ),
    };
    format!(
        "{hook}: {outcome} in {} µs, {:.1} MiB peak memory (limit {} MiB, deadline {} ms)",
        report["duration_us"],
        report["memory_peak_bytes"].as_f64().unwrap_or(0.0) / (1 << 20) as f64,
        Limits::default().memory_bytes >> 20,
        Limits::default().deadline.as_millis()
    )
}

// ---------------------------------------------------------------- test

/// `cargo test`, the component built, `check`, then every `fixtures/*.json` run in the
/// sandbox and compared with what it expects. Fails if anything does.
pub fn test(p: &Project, cargo_test: bool) -> anyhow::Result<()> {
    if cargo_test {
        eprintln!("cargo test …");
        let mut cmd = Command::new(std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into()));
        cmd.arg("test").current_dir(&p.dir);
        scrub(&mut cmd);
        let status = cmd.status().context("running cargo test")?;
        if !status.success() {
            bail!("cargo test failed");
        }
    }
    let p = Project {
        component: Some(p.build()?),
        ..p.clone()
    };
    let rt = runtime()?;
    let c = check(&p, &rt, usize::MAX)?;
    print_check(&c);
    let plugin = load(&rt, &c)?;
    let dir = p.dir.join("fixtures");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|f| f.extension().is_some_and(|x| x == "json"))
        .collect();
    files.sort();
    let (mut passed, mut failed) = (0, 0);
    for f in &files {
        let name = f.file_name().unwrap_or_default().to_string_lossy();
        let outcome = read_record(f).and_then(|r| {
            let report = run_record(&rt, &plugin, &c.manifest, &r)?;
            let mut problems = Vec::new();
            if let Some(why) = not_declared(&c.manifest, &r) {
                problems.push(format!("a node would not make this call: {why}"));
            }
            match &r.expect {
                Some(e) => problems.extend(fixture::mismatches(e, &report)),
                None => problems.push("it expects nothing; add an \"expect\"".into()),
            }
            Ok((report, problems))
        });
        match outcome {
            Ok((report, problems)) if problems.is_empty() => {
                passed += 1;
                println!("PASS {name}  ({} µs)", report["duration_us"]);
            }
            Ok((report, problems)) => {
                failed += 1;
                println!("FAIL {name}\n  {}", problems.join("\n  "));
                for l in report["logs"].as_array().into_iter().flatten() {
                    println!(
                        "  log [{}] {}",
                        l["level"].as_str().unwrap_or(""),
                        l["message"].as_str().unwrap_or("")
                    );
                }
            }
            Err(e) => {
                failed += 1;
                println!("FAIL {name}\n  {e:#}");
            }
        }
    }
    println!("{passed} fixture(s) passed, {failed} failed");
    if files.is_empty() {
        bail!("no fixtures in {}", dir.display());
    }
    if failed > 0 {
        bail!("{failed} fixture(s) failed");
    }
    Ok(())
}

fn scrub(cmd: &mut Command) {
    for (key, _) in std::env::vars_os() {
        if key
            .to_str()
            .is_some_and(baseplate_wasm_build::leaks_into_guest_build)
        {
            cmd.env_remove(key);
        }
    }
}

// ---------------------------------------------------------------- pack

/// What `pack` wrote.
pub struct Packed {
    pub dir: PathBuf,
    pub component: PathBuf,
    pub manifest: PathBuf,
    pub signature: PathBuf,
}

/// Builds reproducibly, checks, and signs: `<out>/<name>-<version>.wasm`, `.plugin.toml`
/// and `.sig.json` (digest, signature, public key), ready for `publish --pack`.
pub fn pack(p: &Project, key: &PublisherKey, out: Option<PathBuf>) -> anyhow::Result<Packed> {
    let p = Project {
        component: Some(p.build()?),
        ..p.clone()
    };
    let rt = runtime()?;
    let c = check(&p, &rt, usize::MAX)?;
    print_check(&c);
    let out = out.unwrap_or_else(|| p.dir.join("dist"));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let stem = format!("{}-{}", c.manifest.name, c.manifest.version);
    let signature = key.sign(&c.manifest, &c.bytes);
    let packed = Packed {
        component: out.join(format!("{stem}.wasm")),
        manifest: out.join(format!("{stem}.plugin.toml")),
        signature: out.join(format!("{stem}.sig.json")),
        dir: out,
    };
    std::fs::write(&packed.component, &c.bytes)?;
    std::fs::write(&packed.manifest, &c.manifest_text)?;
    std::fs::write(
        &packed.signature,
        serde_json::to_string_pretty(&json!({
            "name": c.manifest.name,
            "version": c.manifest.version.to_string(),
            "sha256": c.digest,
            "signature": signature.to_hex(),
            "public_key": key.public().to_hex(),
        }))?,
    )?;
    Ok(packed)
}

/// A pack as `pack` wrote it, its files checked against each other.
pub struct Pack {
    pub manifest: String,
    pub component: Vec<u8>,
    pub signature: String,
    /// The signer's public key (hex), to find its registered id.
    pub public_key: String,
}

/// Reads the newest pack in `dir`.
pub fn read_pack(dir: &Path) -> anyhow::Result<Pack> {
    let sig = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|f| f.to_string_lossy().ends_with(".sig.json"))
        .max()
        .ok_or_else(|| {
            anyhow!(
                "no .sig.json in {}; run `baseplate plugin pack`",
                dir.display()
            )
        })?;
    let stem = sig
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".sig.json"))
        .expect("named .sig.json")
        .to_string();
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&sig)?)
        .with_context(|| format!("parsing {}", sig.display()))?;
    let manifest = std::fs::read_to_string(dir.join(format!("{stem}.plugin.toml")))?;
    let component = std::fs::read(dir.join(format!("{stem}.wasm")))?;
    if s["sha256"].as_str() != Some(Runtime::digest(&component).as_str()) {
        bail!("{stem}.wasm does not match the digest in {stem}.sig.json; pack again",);
    }
    let field = |name: &str| {
        s[name]
            .as_str()
            .map(str::to_string)
            .ok_or_else(|| anyhow!("{} has no {name}", sig.display()))
    };
    Ok(Pack {
        signature: field("signature")?,
        public_key: field("public_key")?,
        manifest,
        component,
    })
}

// ---------------------------------------------------------------- replay

/// Runs a recorded production call against this build and prints what changed.
pub fn replay(p: &Project, record: &CallRecord, build: bool) -> anyhow::Result<bool> {
    let p = if build {
        Project {
            component: Some(p.build()?),
            ..p.clone()
        }
    } else {
        p.clone()
    };
    let rt = runtime()?;
    let c = check(&p, &rt, usize::MAX)?;
    let plugin = load(&rt, &c)?;
    let report = run_record(&rt, &plugin, &c.manifest, record)?;
    print_logs(&report);
    let recorded = record.expect.clone().unwrap_or(Value::Null);
    let mut diffs = Vec::new();
    for key in ["outcome", "output", "error", "effects"] {
        let (was, now) = (&recorded[key], &report[key]);
        if was != now {
            diffs.push(format!(
                "{key}:\n    recorded {}\n    now      {}",
                was, now
            ));
        }
    }
    eprintln!("{}", summary(&record.hook, &report));
    if diffs.is_empty() {
        println!("same result as recorded");
    } else {
        println!("differs from the recorded call:\n  {}", diffs.join("\n  "));
    }
    Ok(diffs.is_empty())
}

/// Builds the project's component reproducibly; returns where it is.
pub fn build(p: &Project) -> anyhow::Result<PathBuf> {
    p.build()
}

/// Where the project's component is (built or not).
pub fn component_path(p: &Project) -> anyhow::Result<PathBuf> {
    p.component_path()
}
