use crate::VersionState;

/// Everything the marketplace rules can refuse. Every variant is a caller's mistake or a
/// refused request (a 4xx at the API), except [`Error::Random`].
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `plugin.toml` is not valid TOML or does not have the manifest's shape (unknown or
    /// missing key, wrong type, a value outside an enum). The message names the line, the
    /// key and what is allowed.
    #[error("invalid plugin.toml: {0}")]
    Syntax(String),
    /// A JSON manifest does not have the manifest's shape.
    #[error("manifest JSON: {0}")]
    Json(String),
    /// A manifest field has a value the rules do not allow.
    #[error("invalid manifest: `{field}` {message}")]
    InvalidManifest {
        /// The field, as written in `plugin.toml` (e.g. `hooks.fail_open`, `actions[1].name`).
        field: String,
        /// What is wrong and what is allowed.
        message: String,
    },
    /// A name (capability, state, ...) parsed from a string is not one of the known values.
    #[error("unknown {what} `{value}`; expected one of {expected}")]
    UnknownName {
        /// Which kind of name.
        what: &'static str,
        /// What was given.
        value: String,
        /// The allowed spellings.
        expected: String,
    },
    /// A publisher key, public key or signature is not well-formed (hex of the right
    /// length, a valid curve point).
    #[error("invalid {what}: {message}")]
    Encoding {
        /// `publisher key`, `public key` or `signature`.
        what: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The component bytes do not hash to the digest the package claims.
    #[error("the component's sha256 digest is {actual}, not the package's {claimed}")]
    DigestMismatch {
        /// The digest carried by the package (hex).
        claimed: String,
        /// The digest of the bytes (hex).
        actual: String,
    },
    /// The signature is not the publisher's signature over this name, version and digest:
    /// wrong key, altered bytes, or a signature taken from another name or version.
    #[error(
        "signature does not verify for {name}@{version} with publisher key {publisher}; \
         sign the exact component bytes of this name and version with that key"
    )]
    BadSignature {
        /// The manifest name that was checked.
        name: String,
        /// The manifest version that was checked.
        version: String,
        /// The publisher's public key (hex).
        publisher: String,
    },
    /// A review-state change the lifecycle does not allow.
    #[error("a {from} version cannot become {to}; allowed from {from}: {allowed}")]
    Transition {
        /// The current state.
        from: VersionState,
        /// The requested state.
        to: VersionState,
        /// The states reachable from `from`.
        allowed: String,
    },
    /// This name@version was published before; versions are immutable.
    #[error("version {version} is already published; bump the version in plugin.toml")]
    VersionExists {
        /// The version asked for.
        version: String,
    },
    /// The version is lower than the latest published (not rejected) version.
    #[error(
        "version {version} is lower than the latest published version {latest}; publish a higher version"
    )]
    VersionNotNewer {
        /// The version asked for.
        version: String,
        /// The highest version published so far (rejected ones aside).
        latest: String,
    },
    /// The OS random number generator failed (key generation only).
    #[error("no randomness from the operating system: {0}")]
    Random(String),
    /// A first-party plugin compiled into the binary is broken — a build bug.
    #[error("first-party plugin `{package}`: {source}")]
    FirstParty {
        /// The cargo package it was built from.
        package: &'static str,
        /// What is wrong with it.
        #[source]
        source: Box<Error>,
    },
}

/// The error of [`Manifest::parse`](crate::Manifest::parse) and validation: the crate's one
/// [`Error`] enum, named for the call site.
pub type ManifestError = Error;

/// The error of signature and digest checks: the crate's one [`Error`] enum, named for the
/// call site.
pub type SignatureError = Error;
