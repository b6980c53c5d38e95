//! End-to-end tests of Baseplate over the real HTTP API, the real runtime and compiled
//! plugins. The tests live in `tests/`; this library holds what they share, starting with
//! [`artifacts`]: the components `build.rs` compiles from the current sources.

/// The compiled guest components and their manifests. `build.rs` rebuilds them whenever
/// their sources, the SDK or the WIT contract change, so a test never loads a stale plugin.
pub mod artifacts {
    /// Absolute path of the hostile test plugin's component (`tests/plugins/hostile`).
    pub const HOSTILE_WASM: &str = env!("BASEPLATE_HOSTILE_WASM");

    /// Absolute path of the first-party coupons plugin's component (`plugins/coupons`).
    pub const COUPONS_WASM: &str = env!("BASEPLATE_COUPONS_WASM");

    /// The hostile test plugin's component bytes.
    pub fn hostile_wasm() -> Vec<u8> {
        read(HOSTILE_WASM)
    }

    /// The hostile test plugin's `plugin.toml`.
    pub fn hostile_manifest() -> &'static str {
        include_str!(env!("BASEPLATE_HOSTILE_MANIFEST"))
    }

    /// The coupons plugin's component bytes.
    pub fn coupons_wasm() -> Vec<u8> {
        read(COUPONS_WASM)
    }

    /// The coupons plugin's `plugin.toml`.
    pub fn coupons_manifest() -> &'static str {
        include_str!(env!("BASEPLATE_COUPONS_MANIFEST"))
    }

    fn read(path: &str) -> Vec<u8> {
        std::fs::read(path).unwrap_or_else(|err| {
            panic!("reading {path}: {err} (tests/build.rs builds it; was target/wasm removed?)")
        })
    }
}
