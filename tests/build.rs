//! Builds the components the end-to-end tests load — the hostile test plugin, the
//! first-party coupons plugin, and the registry tests' third-party plugins (two versions
//! of `tea-discount`, and `snoop`, which publishing must refuse) — with
//! baseplate-wasm-build, and tells `src/lib.rs` where they and their manifests are through
//! `cargo:rustc-env`.

/// (cargo package, prefix of the env vars `<PREFIX>_WASM` and `<PREFIX>_MANIFEST`).
const GUESTS: &[(&str, &str)] = &[
    ("baseplate-test-hostile", "BASEPLATE_HOSTILE"),
    ("baseplate-plugin-coupons", "BASEPLATE_COUPONS"),
    ("baseplate-test-escape-fs", "BASEPLATE_ESCAPE_FS"),
    ("baseplate-test-escape-net", "BASEPLATE_ESCAPE_NET"),
    ("baseplate-test-no-hooks", "BASEPLATE_NO_HOOKS"),
    ("baseplate-test-v010-fixture", "BASEPLATE_V010"),
    ("baseplate-test-tea-discount", "BASEPLATE_TEA"),
    ("baseplate-test-tea-discount-next", "BASEPLATE_TEA_NEXT"),
    ("baseplate-test-snoop", "BASEPLATE_SNOOP"),
];

fn main() {
    if let Err(message) = run() {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let packages: Vec<&str> = GUESTS.iter().map(|(package, _)| *package).collect();
    let artifacts = baseplate_wasm_build::build(&packages).map_err(|err| err.to_string())?;
    for (artifact, (_, prefix)) in artifacts.iter().zip(GUESTS) {
        let manifest = artifact.manifest_dir.join("plugin.toml");
        if !manifest.is_file() {
            return Err(format!(
                "{} is missing: every plugin the tests load ships a plugin.toml next to its Cargo.toml",
                manifest.display()
            ));
        }
        println!("cargo:rustc-env={prefix}_WASM={}", artifact.path.display());
        println!("cargo:rustc-env={prefix}_MANIFEST={}", manifest.display());
    }
    Ok(())
}
