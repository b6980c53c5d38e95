//! The first-party plugins, compiled from `plugins/` by this crate's build script and
//! embedded in the `baseplate` binary, which publishes them into the registry at startup.
//! Kept apart from `baseplate-marketplace` so a plugin change rebuilds only this crate and
//! the binary, not everything that uses manifests.

use baseplate_marketplace::{Digest, Error, Manifest, digest};

/// A first-party plugin compiled into the binary: its `plugin.toml` and its component,
/// built from `plugins/` by this crate's build script.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuiltinPlugin {
    /// The cargo package it was built from, e.g. `baseplate-plugin-coupons`.
    pub package: &'static str,
    /// The parsed, validated manifest.
    pub manifest: Manifest,
    /// The manifest as written in `plugins/<dir>/plugin.toml`.
    pub manifest_toml: &'static str,
    /// The component's bytes.
    pub component: &'static [u8],
}

impl BuiltinPlugin {
    /// sha256 of the component.
    pub fn digest(&self) -> Digest {
        digest(self.component)
    }
}

/// One entry of the generated table.
struct Source {
    package: &'static str,
    manifest_toml: &'static str,
    component: &'static [u8],
}

// Defines `SOURCES: &[Source]`, one entry per package in build.rs's FIRST_PARTY, and
// `EXAMPLE_SOURCES` for its EXAMPLES.
include!(concat!(env!("OUT_DIR"), "/first_party.rs"));

/// The first-party plugins, with their manifests parsed. An error means a plugin in
/// `plugins/` ships a manifest the marketplace would refuse — a bug in this build.
pub fn first_party() -> Result<Vec<BuiltinPlugin>, Error> {
    parse(SOURCES)
}

/// The teaching examples from `examples/` (hello-discount, loyalty-points, free-gift),
/// built on the public SDK only; `baseplate demo` publishes them for its demo shop.
pub fn examples() -> Result<Vec<BuiltinPlugin>, Error> {
    parse(EXAMPLE_SOURCES)
}

fn parse(sources: &[Source]) -> Result<Vec<BuiltinPlugin>, Error> {
    let mut plugins: Vec<BuiltinPlugin> = Vec::with_capacity(sources.len());
    for source in sources {
        let fail = |err: Error| Error::FirstParty {
            package: source.package,
            source: Box::new(err),
        };
        let manifest = Manifest::parse(source.manifest_toml).map_err(fail)?;
        if !manifest.targets_supported_wit() {
            return Err(fail(Error::InvalidManifest {
                field: "wit".to_owned(),
                message: format!("is {}, which this host does not serve", manifest.wit),
            }));
        }
        if let Some(other) = plugins.iter().find(|p| p.manifest.name == manifest.name) {
            return Err(fail(Error::InvalidManifest {
                field: "name".to_owned(),
                message: format!(
                    "`{}` is also the name of `{}`",
                    manifest.name, other.package
                ),
            }));
        }
        plugins.push(BuiltinPlugin {
            package: source.package,
            manifest,
            manifest_toml: source.manifest_toml,
            component: source.component,
        });
    }
    Ok(plugins)
}

#[cfg(test)]
mod tests {
    use super::*;
    use baseplate_marketplace::looks_like_component;

    #[test]
    fn first_party_plugins_load() {
        let plugins = first_party().unwrap();
        assert_eq!(plugins.len(), SOURCES.len());
        for plugin in &plugins {
            assert!(
                looks_like_component(plugin.component),
                "{} is not a component",
                plugin.package
            );
            assert!(plugin.manifest.targets_supported_wit());
            assert_eq!(plugin.digest(), digest(plugin.component));
        }
        assert!(
            plugins
                .iter()
                .any(|p| p.package == "baseplate-plugin-coupons"),
            "coupons is built in"
        );
    }
}
