//! Builds the workspace's guest crates (first-party plugins, hostile test plugins) to
//! `wasm32-wasip2` components from build scripts, so `cargo build`/`cargo test` of a host
//! crate always embeds or loads components compiled from the current sources — the pattern
//! of wasmtime's `crates/test-programs/artifacts`. The guests are built by a nested
//! `cargo build --release --target wasm32-wasip2` into `<workspace>/target/wasm`, a target
//! directory of their own: the outer build holds the lock on its own target directory, and
//! every build script that needs the same guest shares one compiled copy.
//!
//! Guests are **reproducible**: the same sources give the same component, byte for byte,
//! on any machine and from any checkout directory. Rust embeds source paths in a binary
//! (panic locations, `file!()`), and cargo passes absolute paths for registry crates
//! (`$CARGO_HOME/registry/src/…`) and crates outside the workspace; the nested build
//! therefore gets [`reproducible_rustflags`] — `--remap-path-prefix` for the workspace
//! root, `CARGO_HOME` and the toolchain's sysroot — through `CARGO_ENCODED_RUSTFLAGS`.
//! A plugin author outside this repository builds the same way:
//!
//! ```sh
//! CARGO_ENCODED_RUSTFLAGS="$(printf '%s\x1f%s\x1f%s' \
//!     "--remap-path-prefix=$PWD=/plugin" \
//!     "--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo" \
//!     "--remap-path-prefix=$(rustc --print sysroot)=/rustc-sysroot")" \
//!   cargo build --release --target wasm32-wasip2
//! ```
//!
//! run from the plugin's workspace root (`baseplate plugin pack` will pass the same flags).
//!
//! ```no_run
//! // In build.rs: build the coupons component and tell the crate where it is.
//! match baseplate_wasm_build::build(&["baseplate-plugin-coupons"]) {
//!     Ok(artifacts) => {
//!         for artifact in artifacts {
//!             println!("cargo:rustc-env=COUPONS_WASM={}", artifact.path.display());
//!         }
//!     }
//!     Err(err) => {
//!         eprintln!("error: {err}");
//!         std::process::exit(1);
//!     }
//! }
//! ```

#![warn(missing_docs)]

use std::collections::BTreeSet;
use std::env;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde::Deserialize;

/// The target every guest is built for: WASI preview 2, whose `cdylib` output is a component.
pub const TARGET: &str = "wasm32-wasip2";

/// The cargo profile guests are built with (the workspace's `[profile.release]`).
pub const PROFILE: &str = "release";

/// A guest component built by [`build`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The cargo package name, e.g. `baseplate-plugin-coupons`.
    pub package: String,
    /// Absolute path of the built component (`.wasm`).
    pub path: PathBuf,
    /// Absolute path of the package's directory (where its `Cargo.toml` and, for plugins,
    /// its `plugin.toml` live).
    pub manifest_dir: PathBuf,
}

/// Why a guest build failed. The messages are written for someone reading a failed
/// build script's output.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A variable cargo sets for build scripts is missing.
    #[error(
        "environment variable {0} is not set; baseplate-wasm-build is meant to run from a build script"
    )]
    MissingEnv(&'static str),
    /// No ancestor of the starting directory holds a workspace manifest.
    #[error("no Cargo.toml with a [workspace] table in {} or any of its parents", start.display())]
    NoWorkspace {
        /// Where the search started.
        start: PathBuf,
    },
    /// Reading a file or starting a process failed.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// A manifest on the way to the workspace root is not valid TOML.
    #[error("{} is not valid TOML: {message}", path.display())]
    BadManifest {
        /// The manifest.
        path: PathBuf,
        /// The parser's message.
        message: String,
    },
    /// The wasm target is missing and could not be installed.
    #[error(
        "the {TARGET} target is not installed for this toolchain and `rustup target add {TARGET}` did not install it: {detail}\n\
         install it by hand with `rustup target add {TARGET}` (rust-toolchain.toml lists it too)"
    )]
    TargetMissing {
        /// What rustup (or the attempt to run it) said.
        detail: String,
    },
    /// A child process (`cargo build`, `cargo metadata`, `rustc`) failed; `stderr` is its
    /// error output, forwarded unchanged.
    #[error("`{command}` failed ({status}):\n{stderr}")]
    Command {
        /// The command line, for copying into a terminal.
        command: String,
        /// The exit status.
        status: String,
        /// The child's stderr.
        stderr: String,
    },
    /// `cargo metadata` printed something that is not its documented JSON.
    #[error("cannot read the output of `cargo metadata`: {0}")]
    Metadata(String),
    /// A requested package is not a workspace member.
    #[error(
        "package `{0}` is not a member of the workspace; add its folder to [workspace] members in the root Cargo.toml"
    )]
    UnknownPackage(String),
    /// A requested package has no `cdylib` library, so cargo would emit no component.
    #[error(
        "package `{package}` ({}) has no cdylib library target, so no component would be built; \
         add `[lib] crate-type = [\"cdylib\"]` to its Cargo.toml",
        manifest.display()
    )]
    NotCdylib {
        /// The package.
        package: String,
        /// Its `Cargo.toml`.
        manifest: PathBuf,
    },
    /// cargo reported success but the component is not where it should be.
    #[error("cargo built `{package}` but {} does not exist", path.display())]
    MissingArtifact {
        /// The package.
        package: String,
        /// Where the component was expected.
        path: PathBuf,
    },
}

/// Builds `packages` (workspace members with a `cdylib` library) to [`TARGET`] components
/// and returns where they are, in the order asked.
///
/// Meant for build scripts: it reads `CARGO_MANIFEST_DIR` and `CARGO`, prints
/// `cargo:rerun-if-changed` lines for the root `wit/`, `sdk/`, `Cargo.toml`, `Cargo.lock`
/// and every local package the guests are built from, installs the target with rustup if it
/// is missing, and runs one `cargo build` for all packages into `<workspace>/target/wasm`.
/// The outer build's flags, target and jobserver are not passed on (see [`leaks_into_guest_build`]).
pub fn build(packages: &[&str]) -> Result<Vec<Artifact>, Error> {
    let manifest_dir = env::var_os("CARGO_MANIFEST_DIR")
        .map(PathBuf::from)
        .ok_or(Error::MissingEnv("CARGO_MANIFEST_DIR"))?;
    let root = workspace_root(&manifest_dir)?;
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));

    let metadata = workspace_metadata(&cargo, &root)?;
    let plan = plan(&metadata, &root, packages)?;

    for path in &plan.watch {
        println!("cargo:rerun-if-changed={}", path.display());
    }
    if packages.is_empty() {
        return Ok(Vec::new());
    }

    compile(&cargo, &root, &target_dir(&root), packages)?;
    for artifact in &plan.artifacts {
        if !artifact.path.is_file() {
            return Err(Error::MissingArtifact {
                package: artifact.package.clone(),
                path: artifact.path.clone(),
            });
        }
    }
    Ok(plan.artifacts)
}

/// Builds `packages` of the workspace at `root` into `target_dir` with the reproducible
/// flags, as [`build`] does but without reading a build script's environment or printing
/// its directives; returns where the components are, in the order asked. For tools and
/// tests that build a workspace other than the one they run in.
pub fn build_workspace(
    root: &Path,
    target_dir: &Path,
    packages: &[&str],
) -> Result<Vec<Artifact>, Error> {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| OsString::from("cargo"));
    let metadata = workspace_metadata(&cargo, root)?;
    let plan = plan(&metadata, root, packages)?;
    compile(&cargo, root, target_dir, packages)?;
    let mut artifacts = plan.artifacts;
    for artifact in &mut artifacts {
        let file = artifact
            .path
            .file_name()
            .map(PathBuf::from)
            .unwrap_or_default();
        artifact.path = target_dir.join(TARGET).join(PROFILE).join(file);
        if !artifact.path.is_file() {
            return Err(Error::MissingArtifact {
                package: artifact.package.clone(),
                path: artifact.path.clone(),
            });
        }
    }
    Ok(artifacts)
}

/// One `cargo build --release --target wasm32-wasip2` of `packages`, with the outer
/// build's settings scrubbed and the reproducible flags set.
fn compile(cargo: &OsStr, root: &Path, target_dir: &Path, packages: &[&str]) -> Result<(), Error> {
    let sysroot = ensure_target(root)?;
    let cargo_home = cargo_home()?;
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .arg("build")
        .arg("--release")
        .arg("--target")
        .arg(TARGET)
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(target_dir);
    for package in packages {
        cmd.arg("-p").arg(package);
    }
    scrub_env(&mut cmd);
    let mut flags = reproducible_rustflags(root, &cargo_home, &sysroot);
    flags.extend(sandbox_rustflags());
    cmd.env("CARGO_ENCODED_RUSTFLAGS", encode_rustflags(&flags));
    run(&mut cmd)?;
    Ok(())
}

/// The rustc flags that keep the build machine's paths out of a component, so the same
/// sources give the same bytes (and sha256) wherever they are built:
///
/// - `--remap-path-prefix=<root>=/plugin`: the workspace (crates outside it, `file!()`,
///   `include_str!` of absolute paths; members are already relative to it);
/// - `--remap-path-prefix=<cargo_home>=/cargo`: registry and git dependencies
///   (`/cargo/registry/src/index.crates.io-<hash>/serde-1.0.229/…`; the index folder's
///   name is the same on every machine);
/// - `--remap-path-prefix=<sysroot>=/rustc-sysroot`: the toolchain's own sources, should a
///   `rust-src` component be installed (the standard library already embeds
///   `/rustc/<commit>/…`).
///
/// Later flags win where prefixes nest, so the more specific ones come last. Pass them as
/// `CARGO_ENCODED_RUSTFLAGS` ([`encode_rustflags`]) to `cargo build --release --target
/// wasm32-wasip2`, run from the workspace root.
///
/// ```
/// use std::path::Path;
/// let flags = baseplate_wasm_build::reproducible_rustflags(
///     Path::new("/home/ana/my-plugin"),
///     Path::new("/home/ana/.cargo"),
///     Path::new("/home/ana/.rustup/toolchains/stable-x86_64-unknown-linux-gnu"),
/// );
/// assert_eq!(flags, [
///     "--remap-path-prefix=/home/ana/my-plugin=/plugin",
///     "--remap-path-prefix=/home/ana/.cargo=/cargo",
///     "--remap-path-prefix=/home/ana/.rustup/toolchains/stable-x86_64-unknown-linux-gnu=/rustc-sysroot",
/// ]);
/// ```
pub fn reproducible_rustflags(root: &Path, cargo_home: &Path, sysroot: &Path) -> Vec<String> {
    [
        (root, "/plugin"),
        (cargo_home, "/cargo"),
        (sysroot, "/rustc-sysroot"),
    ]
    .iter()
    .map(|(from, to)| format!("--remap-path-prefix={}={to}", from.display()))
    .collect()
}

/// The shadow stack size guests are linked with: 128 KiB instead of Rust's 1 MiB default.
pub const GUEST_STACK_BYTES: usize = 128 << 10;

/// The rustc flags that fit a component to the sandbox: a 128 KiB shadow stack
/// ([`GUEST_STACK_BYTES`]) instead of 1 MiB keeps a plugin's linear memory small, so the
/// host resets it between calls with a `memcpy` instead of handing pages back to the OS
/// (system calls, TLB shootdowns and page faults on the next call). A plugin works without
/// them; it is just slower to call. A stack overflow still traps (Rust places the stack
/// first, below the data).
///
/// ```
/// assert_eq!(baseplate_wasm_build::sandbox_rustflags(), ["-Clink-arg=-zstack-size=131072"]);
/// ```
pub fn sandbox_rustflags() -> Vec<String> {
    vec![format!("-Clink-arg=-zstack-size={GUEST_STACK_BYTES}")]
}

/// `flags` as cargo reads `CARGO_ENCODED_RUSTFLAGS`: separated by the ASCII unit separator
/// (0x1f), so a path with spaces stays one flag.
///
/// ```
/// let encoded = baseplate_wasm_build::encode_rustflags(&["-a".into(), "-b c".into()]);
/// assert_eq!(encoded, "-a\x1f-b c");
/// ```
pub fn encode_rustflags(flags: &[String]) -> String {
    flags.join("\x1f")
}

/// Where cargo keeps registry sources: `CARGO_HOME`, else `$HOME/.cargo`.
fn cargo_home() -> Result<PathBuf, Error> {
    if let Some(home) = env::var_os("CARGO_HOME") {
        return Ok(PathBuf::from(home));
    }
    env::var_os("HOME")
        .map(|home| PathBuf::from(home).join(".cargo"))
        .ok_or(Error::MissingEnv("CARGO_HOME (or HOME)"))
}

/// The nearest ancestor of `start` (or `start` itself) whose `Cargo.toml` has a
/// `[workspace]` table.
pub fn workspace_root(start: &Path) -> Result<PathBuf, Error> {
    for dir in start.ancestors() {
        let manifest = dir.join("Cargo.toml");
        let text = match std::fs::read_to_string(&manifest) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => {
                return Err(Error::Io {
                    context: format!("reading {}", manifest.display()),
                    source,
                });
            }
        };
        let table: toml::Table =
            text.parse()
                .map_err(|err: toml::de::Error| Error::BadManifest {
                    path: manifest.clone(),
                    message: err.message().to_owned(),
                })?;
        if table.get("workspace").is_some_and(toml::Value::is_table) {
            return Ok(dir.to_path_buf());
        }
    }
    Err(Error::NoWorkspace {
        start: start.to_path_buf(),
    })
}

/// The target directory guests are built into: `<root>/target/wasm`.
pub fn target_dir(root: &Path) -> PathBuf {
    root.join("target").join("wasm")
}

/// The file name cargo gives a `wasm32` `cdylib`: the library's crate name (dashes become
/// underscores) plus `.wasm`. `baseplate-plugin-coupons` → `baseplate_plugin_coupons.wasm`.
pub fn wasm_file_name(lib_name: &str) -> String {
    format!("{}.wasm", lib_name.replace('-', "_"))
}

/// Where the component of a library named `lib_name` lands under `root`'s guest target dir.
pub fn artifact_path(root: &Path, lib_name: &str) -> PathBuf {
    target_dir(root)
        .join(TARGET)
        .join(PROFILE)
        .join(wasm_file_name(lib_name))
}

/// Whether an environment variable of the outer build would leak into the nested guest
/// build. Cargo hands build scripts the outer build's rustflags, target, profile, jobserver
/// and wrappers; a native `-C target-cpu`, a coverage flag or clippy's workspace wrapper
/// would break or slow the wasm build, and the jobserver's file descriptors are not open
/// in the child.
pub fn leaks_into_guest_build(key: &str) -> bool {
    const EXACT: &[&str] = &[
        "CARGO_ENCODED_RUSTFLAGS",
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTDOCFLAGS",
        "RUSTDOCFLAGS",
        "CARGO_MAKEFLAGS",
        "MAKEFLAGS",
        "MFLAGS",
        "CARGO_PRIMARY_PACKAGE",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_LINKER",
        "TARGET",
        "HOST",
        "PROFILE",
        "OPT_LEVEL",
        "DEBUG",
        "NUM_JOBS",
        "OUT_DIR",
    ];
    // CARGO_TARGET_ covers CARGO_TARGET_DIR and per-triple runner/linker/rustflags;
    // CARGO_BUILD_ covers CARGO_BUILD_TARGET, _RUSTFLAGS and _TARGET_DIR; __CARGO_ are
    // cargo's private hand-offs (e.g. `cargo fix`).
    const PREFIXES: &[&str] = &[
        "CARGO_TARGET_",
        "CARGO_BUILD_",
        "CARGO_PROFILE_",
        "CARGO_CFG_",
        "CARGO_FEATURE_",
        "CARGO_PKG_",
        "CARGO_MANIFEST_",
        "DEP_",
        "__CARGO",
    ];
    EXACT.contains(&key) || PREFIXES.iter().any(|prefix| key.starts_with(prefix))
}

fn scrub_env(cmd: &mut Command) {
    for (key, _) in env::vars_os() {
        if key.to_str().is_some_and(leaks_into_guest_build) {
            cmd.env_remove(key);
        }
    }
}

/// Installs [`TARGET`] with rustup when the toolchain's sysroot lacks it; returns the
/// sysroot.
fn ensure_target(root: &Path) -> Result<PathBuf, Error> {
    let rustc = env::var_os("RUSTC").unwrap_or_else(|| OsString::from("rustc"));
    let mut cmd = Command::new(&rustc);
    cmd.current_dir(root).arg("--print").arg("sysroot");
    let output = run(&mut cmd)?;
    let sysroot = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    let target_lib = sysroot.join("lib").join("rustlib").join(TARGET);
    if target_lib.is_dir() {
        return Ok(sysroot);
    }

    let mut rustup = Command::new("rustup");
    rustup
        .current_dir(root)
        .arg("target")
        .arg("add")
        .arg(TARGET);
    match rustup.stdin(Stdio::null()).output() {
        Err(err) => Err(Error::TargetMissing {
            detail: format!("could not run rustup: {err}"),
        }),
        Ok(out) if !out.status.success() => Err(Error::TargetMissing {
            detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        }),
        Ok(_) if !target_lib.is_dir() => Err(Error::TargetMissing {
            detail: format!(
                "rustup succeeded but {} is still missing (is RUSTC a toolchain rustup does not manage?)",
                target_lib.display()
            ),
        }),
        Ok(_) => Ok(sysroot),
    }
}

/// Runs `cmd` with its output captured — a build script's stdout is read by cargo as
/// directives, so nothing of the child may reach it — and turns failure into
/// [`Error::Command`] carrying the child's stderr.
fn run(cmd: &mut Command) -> Result<Output, Error> {
    let command = describe(cmd);
    let output = cmd
        .stdin(Stdio::null())
        .output()
        .map_err(|source| Error::Io {
            context: format!("starting `{command}`"),
            source,
        })?;
    if output.status.success() {
        Ok(output)
    } else {
        Err(Error::Command {
            command,
            status: output.status.to_string(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        })
    }
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(OsStr::to_string_lossy)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The part of `cargo metadata --no-deps --format-version 1` this crate reads.
#[derive(Debug, Deserialize)]
struct Metadata {
    packages: Vec<MetaPackage>,
}

#[derive(Debug, Deserialize)]
struct MetaPackage {
    name: String,
    manifest_path: PathBuf,
    targets: Vec<MetaTarget>,
    dependencies: Vec<MetaDependency>,
}

#[derive(Debug, Deserialize)]
struct MetaTarget {
    name: String,
    crate_types: Vec<String>,
}

#[derive(Debug, Deserialize)]
struct MetaDependency {
    /// Set for path dependencies only.
    #[serde(default)]
    path: Option<PathBuf>,
    /// `null` for normal, `"dev"` or `"build"`.
    #[serde(default)]
    kind: Option<String>,
}

fn workspace_metadata(cargo: &OsStr, root: &Path) -> Result<Metadata, Error> {
    let mut cmd = Command::new(cargo);
    cmd.current_dir(root)
        .arg("metadata")
        .arg("--no-deps")
        .arg("--format-version")
        .arg("1")
        .arg("--manifest-path")
        .arg(root.join("Cargo.toml"));
    scrub_env(&mut cmd);
    let output = run(&mut cmd)?;
    serde_json::from_slice(&output.stdout).map_err(|err| Error::Metadata(err.to_string()))
}

/// What [`build`] will produce and which paths should trigger a rebuild.
#[derive(Debug)]
struct Plan {
    artifacts: Vec<Artifact>,
    watch: BTreeSet<PathBuf>,
}

fn plan(metadata: &Metadata, root: &Path, packages: &[&str]) -> Result<Plan, Error> {
    let mut watch: BTreeSet<PathBuf> = ["wit", "sdk", "Cargo.toml", "Cargo.lock"]
        .iter()
        .map(|p| root.join(p))
        .collect();
    let mut artifacts = Vec::with_capacity(packages.len());
    let mut pending = Vec::new();
    for &name in packages {
        let package = metadata
            .packages
            .iter()
            .find(|p| p.name == name)
            .ok_or_else(|| Error::UnknownPackage(name.to_owned()))?;
        let lib = package
            .targets
            .iter()
            .find(|t| t.crate_types.iter().any(|c| c == "cdylib"))
            .ok_or_else(|| Error::NotCdylib {
                package: name.to_owned(),
                manifest: package.manifest_path.clone(),
            })?;
        let dir = package_dir(package);
        let path = artifact_path(root, &lib.name);
        // Watching the output too means a deleted or replaced component is rebuilt
        // rather than leaving `include_bytes!` of a missing file.
        watch.insert(path.clone());
        artifacts.push(Artifact {
            package: name.to_owned(),
            path,
            manifest_dir: dir.clone(),
        });
        pending.push(dir);
    }

    // A guest is rebuilt when any local crate it is compiled from changes, not only its
    // own folder (wit/ and sdk/ are listed anyway, but a plugin may use another path crate).
    let mut visited = BTreeSet::new();
    while let Some(dir) = pending.pop() {
        if !visited.insert(dir.clone()) {
            continue;
        }
        watch.insert(dir.clone());
        let Some(package) = metadata.packages.iter().find(|p| package_dir(p) == dir) else {
            continue;
        };
        for dep in &package.dependencies {
            if dep.kind.as_deref() == Some("dev") {
                continue;
            }
            if let Some(path) = &dep.path {
                pending.push(path.clone());
            }
        }
    }
    Ok(Plan { artifacts, watch })
}

fn package_dir(package: &MetaPackage) -> PathBuf {
    package
        .manifest_path
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A scratch directory removed on drop, unique per test and process.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Self {
            let dir = env::temp_dir().join(format!(
                "baseplate-wasm-build-{}-{name}",
                std::process::id()
            ));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn write(&self, rel: &str, text: &str) -> PathBuf {
            let path = self.0.join(rel);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            path
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn finds_the_workspace_above_a_member_that_inherits_from_it() {
        let scratch = Scratch::new("root");
        scratch.write("ws/Cargo.toml", "[workspace]\nmembers = [\"a/b\"]\n");
        // `version.workspace = true` is a `workspace` key, not a [workspace] table.
        scratch.write(
            "ws/a/b/Cargo.toml",
            "[package]\nname = \"b\"\nversion.workspace = true\n",
        );
        std::fs::create_dir_all(scratch.0.join("ws/a/b/src")).unwrap();
        let root = workspace_root(&scratch.0.join("ws/a/b/src")).unwrap();
        assert_eq!(root, scratch.0.join("ws"));
        assert_eq!(workspace_root(&scratch.0.join("ws")).unwrap(), root);
    }

    #[test]
    fn no_workspace_is_an_error_naming_the_start() {
        let scratch = Scratch::new("none");
        scratch.write("lonely/Cargo.toml", "[package]\nname = \"lonely\"\n");
        // The scratch dir lives under the system temp dir, which holds no workspace.
        let err = workspace_root(&scratch.0.join("lonely")).unwrap_err();
        assert!(matches!(err, Error::NoWorkspace { .. }), "{err}");
        assert!(err.to_string().contains("lonely"), "{err}");
    }

    #[test]
    fn a_broken_manifest_on_the_way_up_is_reported() {
        let scratch = Scratch::new("broken");
        let path = scratch.write("x/Cargo.toml", "[package\n");
        let err = workspace_root(&scratch.0.join("x")).unwrap_err();
        match err {
            Error::BadManifest { path: p, .. } => assert_eq!(p, path),
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn this_repository_root_is_found() {
        let root = workspace_root(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
        assert!(
            root.join("wit").join("v0.1.0").join("plugin.wit").is_file(),
            "{}",
            root.display()
        );
        assert!(Path::new(env!("CARGO_MANIFEST_DIR")).starts_with(&root));
    }

    #[test]
    fn artifact_names_follow_cargo() {
        assert_eq!(
            wasm_file_name("baseplate-plugin-coupons"),
            "baseplate_plugin_coupons.wasm"
        );
        assert_eq!(
            wasm_file_name("baseplate_test_hostile"),
            "baseplate_test_hostile.wasm"
        );
        assert_eq!(
            artifact_path(Path::new("/ws"), "baseplate-plugin-coupons"),
            Path::new("/ws/target/wasm/wasm32-wasip2/release/baseplate_plugin_coupons.wasm")
        );
    }

    #[test]
    fn outer_build_settings_are_scrubbed_and_user_settings_kept() {
        for key in [
            "CARGO_ENCODED_RUSTFLAGS",
            "RUSTFLAGS",
            "CARGO_TARGET_DIR",
            "CARGO_BUILD_TARGET",
            "CARGO_BUILD_RUSTFLAGS",
            "CARGO_MAKEFLAGS",
            "MAKEFLAGS",
            "MFLAGS",
            "CARGO_PRIMARY_PACKAGE",
            "RUSTC_WORKSPACE_WRAPPER",
            "CARGO_PROFILE_RELEASE_DEBUG",
            "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUNNER",
            "TARGET",
            "PROFILE",
            "OPT_LEVEL",
            "__CARGO_FIX_PLZ",
        ] {
            assert!(leaks_into_guest_build(key), "{key} should be removed");
        }
        for key in [
            "PATH",
            "HOME",
            "CARGO",
            "CARGO_HOME",
            "RUSTC",
            "RUSTUP_TOOLCHAIN",
            "RUSTC_WRAPPER",
            "CARGO_NET_OFFLINE",
        ] {
            assert!(!leaks_into_guest_build(key), "{key} should be kept");
        }
    }

    fn metadata(json: &str) -> Metadata {
        serde_json::from_str(json).unwrap()
    }

    const METADATA: &str = r#"{
        "packages": [
            {
                "name": "baseplate-plugin-coupons",
                "manifest_path": "/ws/plugins/coupons/Cargo.toml",
                "targets": [{"name": "baseplate_plugin_coupons", "kind": ["cdylib"], "crate_types": ["cdylib"]}],
                "dependencies": [
                    {"name": "baseplate-sdk", "kind": null, "path": "/ws/sdk"},
                    {"name": "serde", "kind": null},
                    {"name": "fixtures", "kind": "dev", "path": "/ws/fixtures"}
                ]
            },
            {
                "name": "baseplate-sdk",
                "manifest_path": "/ws/sdk/Cargo.toml",
                "targets": [{"name": "baseplate_sdk", "kind": ["lib"], "crate_types": ["lib"]}],
                "dependencies": [{"name": "helper", "kind": "build", "path": "/ws/helper"}]
            }
        ],
        "workspace_members": []
    }"#;

    #[test]
    fn plan_names_artifacts_and_watches_local_dependencies() {
        let meta = metadata(METADATA);
        let root = Path::new("/ws");
        let plan = plan(&meta, root, &["baseplate-plugin-coupons"]).unwrap();
        assert_eq!(
            plan.artifacts,
            vec![Artifact {
                package: "baseplate-plugin-coupons".into(),
                path: artifact_path(root, "baseplate_plugin_coupons"),
                manifest_dir: PathBuf::from("/ws/plugins/coupons"),
            }]
        );
        let watched: Vec<_> = plan.watch.iter().map(|p| p.to_str().unwrap()).collect();
        for expected in [
            "/ws/wit",
            "/ws/sdk",
            "/ws/Cargo.toml",
            "/ws/Cargo.lock",
            "/ws/plugins/coupons",
            "/ws/helper",
            "/ws/target/wasm/wasm32-wasip2/release/baseplate_plugin_coupons.wasm",
        ] {
            assert!(watched.contains(&expected), "{expected} not in {watched:?}");
        }
        assert!(
            !watched.contains(&"/ws/fixtures"),
            "dev-dependencies are not built"
        );
    }

    #[test]
    fn plan_rejects_unknown_and_non_cdylib_packages() {
        let meta = metadata(METADATA);
        let err = plan(&meta, Path::new("/ws"), &["nope"]).unwrap_err();
        assert!(
            matches!(&err, Error::UnknownPackage(p) if p == "nope"),
            "{err}"
        );
        let err = plan(&meta, Path::new("/ws"), &["baseplate-sdk"]).unwrap_err();
        assert!(matches!(&err, Error::NotCdylib { .. }), "{err}");
        assert!(
            err.to_string().contains("crate-type = [\"cdylib\"]"),
            "{err}"
        );
    }

    #[test]
    fn command_failures_carry_the_childs_stderr() {
        let mut cmd = Command::new("sh");
        cmd.arg("-c")
            .arg("echo out; echo 'error[E0425]: boom' >&2; exit 3");
        let err = run(&mut cmd).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("error[E0425]: boom"), "{text}");
        assert!(text.contains("sh -c"), "{text}");
        assert!(!text.contains("out\n"), "stdout is not forwarded: {text}");
    }
}
