//! Builds a real guest (the `hello-discount` example on the SDK) the way the build scripts
//! do, and checks what came out: a component that exports the SDK's `hooks`, imports only
//! the interfaces its manifest declares, and is the same byte for byte when built from two
//! different checkout directories — no path of the build machine inside.
//!
//! Both builds share one target directory (`target/wasm-repro`), so only the guest crates
//! and their dependencies are compiled twice; the proc macros are built once.

use std::path::{Path, PathBuf};

use baseplate_wasm_build::{build_workspace, workspace_root};
use sha2::{Digest, Sha256};

/// What a guest needs to build outside the repository: the SDK (with its own WIT) and the
/// example, in a workspace of their own.
const COPY: &[&str] = &[
    "sdk/Cargo.toml",
    "sdk/README.md",
    "sdk/src",
    "sdk/wit",
    "examples/hello-discount",
];

fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy(from, to).unwrap();
    }
}

/// A throwaway workspace at `dir` holding the SDK and the example, with the repository's
/// lock file so the same dependency versions are used.
fn workspace_at(repo: &Path, dir: &Path) -> PathBuf {
    let _ = std::fs::remove_dir_all(dir);
    for rel in COPY {
        copy_tree(&repo.join(rel), &dir.join(rel));
    }
    std::fs::copy(repo.join("Cargo.lock"), dir.join("Cargo.lock")).unwrap();
    std::fs::write(
        dir.join("Cargo.toml"),
        r#"[workspace]
resolver = "3"
members = ["sdk", "examples/hello-discount"]

[workspace.package]
version = "0.1.0"
edition = "2024"
rust-version = "1.95"
license = "Apache-2.0"
publish = false

[workspace.dependencies]
baseplate-sdk = { path = "sdk" }

[workspace.lints.rust]
unused_must_use = "deny"

[profile.release]
overflow-checks = true
incremental = true
debug = false
"#,
    )
    .unwrap();
    dir.to_path_buf()
}

fn build(root: &Path, target: &Path) -> Vec<u8> {
    let artifacts = build_workspace(root, target, &["baseplate-hello-discount"])
        .unwrap_or_else(|e| panic!("{e}"));
    std::fs::read(&artifacts[0].path).unwrap()
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    !needle.is_empty()
        && haystack
            .windows(needle.len())
            .any(|w| w == needle.as_bytes())
}

#[test]
fn guests_are_reproducible_components_exporting_the_sdk_hooks() {
    let repo = workspace_root(Path::new(env!("CARGO_MANIFEST_DIR"))).unwrap();
    let scratch = std::env::temp_dir().join(format!("baseplate-repro-{}", std::process::id()));
    let a = workspace_at(&repo, &scratch.join("a"));
    let b = workspace_at(&repo, &scratch.join("elsewhere/much/deeper/b"));
    let target = repo.join("target").join("wasm-repro");

    let first = build(&a, &target);
    let second = build(&b, &target);
    let _ = std::fs::remove_dir_all(&scratch);

    // No path of this machine: the checkouts, cargo's home, the toolchain, the home dir.
    let sysroot = std::process::Command::new("rustc")
        .args(["--print", "sysroot"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    let home = std::env::var("HOME").unwrap_or_default();
    let cargo_home = std::env::var("CARGO_HOME").unwrap_or_else(|_| format!("{home}/.cargo"));
    for path in [
        a.display().to_string(),
        b.display().to_string(),
        scratch.display().to_string(),
        repo.display().to_string(),
        cargo_home,
        sysroot,
        format!("{home}/"),
    ] {
        if path.len() > 1 {
            assert!(!contains(&first, &path), "the component embeds {path}");
        }
    }
    let digest = |bytes: &[u8]| hex::encode(Sha256::digest(bytes));
    assert_eq!(
        digest(&first),
        digest(&second),
        "the same sources built in two directories differ"
    );

    // The SDK exports the hooks; the plugin imports nothing its manifest does not declare
    // (hello-discount declares no capability at all).
    let decoded = wit_component::decode(&first).expect("a component");
    let wit_component::DecodedWasm::Component(resolve, world) = decoded else {
        panic!("the guest is a WIT package, not a component");
    };
    let world = &resolve.worlds[world];
    let exports: Vec<String> = world
        .exports
        .keys()
        .map(|k| resolve.name_world_key(k))
        .collect();
    let imports: Vec<String> = world
        .imports
        .keys()
        .map(|k| resolve.name_world_key(k))
        .collect();
    assert!(
        exports.iter().any(|e| e == "baseplate:plugin/hooks@0.2.0"),
        "exports: {exports:?}"
    );
    let baseplate: Vec<&String> = imports
        .iter()
        .filter(|i| i.starts_with("baseplate:plugin/"))
        .collect();
    assert!(
        baseplate
            .iter()
            .all(|i| *i == "baseplate:plugin/types@0.2.0"),
        "hello-discount imports {baseplate:?}"
    );
}
