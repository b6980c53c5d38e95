//! The plugin registry's rules, free of I/O: what a `plugin.toml` manifest may say and how
//! it is validated, how a package (component bytes + manifest) is digested and signed by
//! its publisher with ed25519, which review states a version moves through and what each
//! allows, how a shop's semver requirement resolves to one installable version, where an
//! approved version is in its rollout (staged, canary, released, halted), what changed
//! between two versions' capabilities, which shops a percentage canary picks, and which
//! version numbers a publisher may still use. The first-party plugins compiled into the
//! binary are in `baseplate-first-party`.
//! Persistence of the registry lives in `baseplate-store`; the HTTP surface in
//! `baseplate-api`.

#![warn(missing_docs)]

/// Declares a closed set of names (capabilities, stages, ...) whose serde, `Display` and
/// `FromStr` spellings are one string per variant, so they cannot drift apart.
macro_rules! names {
    (
        $(#[$meta:meta])*
        pub enum $name:ident as $what:literal {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash,
            serde::Serialize, serde::Deserialize,
        )]
        pub enum $name {
            $( $(#[$vmeta])* #[serde(rename = $text)] $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [Self] = &[$(Self::$variant),+];

            /// The spelling used in `plugin.toml`, JSON and the database.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( Self::$variant => $text, )+
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::Error;

            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $( $text => Ok(Self::$variant), )+
                    _ => Err($crate::Error::UnknownName {
                        what: $what,
                        value: s.to_owned(),
                        expected: $crate::expected_list(Self::ALL),
                    }),
                }
            }
        }
    };
}

mod error;
mod manifest;
mod resolve;
mod review;
mod signing;
mod state;

pub use error::{Error, ManifestError, SignatureError};
pub use manifest::{
    ActionDecl, ActorKind, Capability, Category, ConfigDecl, EventKind, FailOpenHook, Hooks,
    InputHook, LATEST_WIT, Manifest, PriceStage, SUPPORTED_WIT,
};
pub use resolve::resolve;
pub use review::{CapabilityDiff, Rollout, canary_pick, check_next_version, same_capabilities};
pub use signing::{
    Digest, Package, PublisherId, PublisherKey, SIGNING_CONTEXT, Signature, digest,
    looks_like_component, signing_message,
};
pub use state::VersionState;

/// "`a`, `b`, `c`" — how error messages list what is allowed.
fn expected_list<T: std::fmt::Display>(values: impl IntoIterator<Item = T>) -> String {
    values
        .into_iter()
        .map(|v| format!("`{v}`"))
        .collect::<Vec<_>>()
        .join(", ")
}
