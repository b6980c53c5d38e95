//! Building a plugin into a reproducible component.
//!
//! A plugin crate is a `cdylib` (plus `rlib`, so `cargo test` runs its hooks natively):
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib", "rlib"]
//!
//! [dependencies]
//! baseplate-sdk = "0.2"
//! ```
//!
//! `cargo build --release --target wasm32-wasip2` then writes the component to
//! `target/wasm32-wasip2/release/<crate_name>.wasm`; it exports
//! `baseplate:plugin/hooks@0.2.0` (the SDK implements the export and forwards to the type
//! [`register_plugin!`](crate::register_plugin) registered) and imports only the
//! interfaces the plugin's code calls, which must be the `capabilities` of its
//! [`manifest`](crate::manifest).
//!
//! # Same source, same sha256
//!
//! The marketplace signs and pins a component by its sha256, so the same sources should give
//! the same bytes on every machine. Rust embeds source paths in a binary (panic locations,
//! `file!()`), and cargo gives rustc absolute paths for dependencies — under `CARGO_HOME`
//! for crates.io ones like this SDK, and under your checkout for path dependencies outside
//! the workspace. Remap them with three flags, passed through `CARGO_ENCODED_RUSTFLAGS`
//! (separated by the 0x1f byte, so paths with spaces survive), from the plugin's
//! workspace root:
//!
//! ```sh
//! CARGO_ENCODED_RUSTFLAGS="$(printf '%s\x1f%s\x1f%s' \
//!     "--remap-path-prefix=$PWD=/plugin" \
//!     "--remap-path-prefix=${CARGO_HOME:-$HOME/.cargo}=/cargo" \
//!     "--remap-path-prefix=$(rustc --print sysroot)=/rustc-sysroot")" \
//!   cargo build --release --target wasm32-wasip2
//! ```
//!
//! - `--remap-path-prefix=<workspace root>=/plugin`
//! - `--remap-path-prefix=<CARGO_HOME>=/cargo` (registry folders are named the same on
//!   every machine: `/cargo/registry/src/index.crates.io-1949cf8c6b5b557f/…`)
//! - `--remap-path-prefix=<rustc --print sysroot>=/rustc-sysroot` (the standard library
//!   already embeds `/rustc/<commit>/…`; this covers a local `rust-src`)
//!
//! Keep the rest equal too: the same toolchain (pin it in `rust-toolchain.toml`), the same
//! `Cargo.lock`, and the same `[profile.release]`. This repository's build scripts pass
//! exactly these flags (`baseplate_wasm_build::reproducible_rustflags`), and its test builds
//! a guest from two different directories and compares the digests; `baseplate plugin
//! pack` will pass them for you.
//!
//! ```
//! // The flags, as the repository's build helper spells them.
//! let flags = [
//!     "--remap-path-prefix=/home/ana/loyalty=/plugin",
//!     "--remap-path-prefix=/home/ana/.cargo=/cargo",
//!     "--remap-path-prefix=/home/ana/.rustup/toolchains/stable-x86_64-unknown-linux-gnu=/rustc-sysroot",
//! ];
//! assert!(flags.iter().all(|f| f.starts_with("--remap-path-prefix=")));
//! ```
