use std::fmt;
use std::str::FromStr;

use ed25519_dalek::{Signer, SigningKey, VerifyingKey};
use semver::Version;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest as _, Sha256};

use crate::{Error, Manifest};

/// A sha256 digest of a component's bytes.
pub type Digest = [u8; 32];

/// Prefixes every signed message, so a publisher signature can never be mistaken for a
/// signature made for another purpose or another message format.
pub const SIGNING_CONTEXT: &[u8] = b"baseplate-plugin-v1\0";

/// The sha256 digest of `bytes`.
pub fn digest(bytes: &[u8]) -> Digest {
    Sha256::digest(bytes).into()
}

/// The exact bytes a publisher signs: [`SIGNING_CONTEXT`], the name, `\0`, the version,
/// `\0`, then the 32-byte digest. Binding the name and version means a signature cannot be
/// replayed onto another plugin or another version with the same bytes.
pub fn signing_message(name: &str, version: &Version, digest: &Digest) -> Vec<u8> {
    let version = version.to_string();
    let mut message =
        Vec::with_capacity(SIGNING_CONTEXT.len() + name.len() + version.len() + 2 + digest.len());
    message.extend_from_slice(SIGNING_CONTEXT);
    message.extend_from_slice(name.as_bytes());
    message.push(0);
    message.extend_from_slice(version.as_bytes());
    message.push(0);
    message.extend_from_slice(digest);
    message
}

/// Whether `bytes` start like a WebAssembly component (magic, version 0x0d, layer 1) rather
/// than a core module — a cheap check before a package is accepted for review.
pub fn looks_like_component(bytes: &[u8]) -> bool {
    bytes.starts_with(b"\0asm\x0d\0\x01\0")
}

/// A publisher's private signing key. Its `Debug` shows only the public half.
#[derive(Clone)]
pub struct PublisherKey(SigningKey);

impl PublisherKey {
    /// A new key from the operating system's random number generator.
    pub fn generate() -> Result<PublisherKey, Error> {
        let mut seed = [0u8; 32];
        getrandom::fill(&mut seed).map_err(|err| Error::Random(err.to_string()))?;
        Ok(PublisherKey(SigningKey::from_bytes(&seed)))
    }

    /// The key from its 64-hex-digit secret (as [`PublisherKey::to_hex`] writes it).
    pub fn from_hex(hex_text: &str) -> Result<PublisherKey, Error> {
        let seed = decode_hex::<32>("publisher key", hex_text)?;
        Ok(PublisherKey(SigningKey::from_bytes(&seed)))
    }

    /// The secret as 64 hex digits. Keep it secret.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }

    /// The public key that identifies the publisher.
    pub fn public(&self) -> PublisherId {
        PublisherId(self.0.verifying_key())
    }

    /// Signs the component `component` as `manifest`'s name and version.
    pub fn sign(&self, manifest: &Manifest, component: &[u8]) -> Signature {
        self.sign_digest(&manifest.name, &manifest.version, &digest(component))
    }

    /// Signs an already-computed digest as `name` at `version`.
    pub fn sign_digest(&self, name: &str, version: &Version, digest: &Digest) -> Signature {
        Signature(self.0.sign(&signing_message(name, version, digest)))
    }
}

impl fmt::Debug for PublisherKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublisherKey")
            .field("public", &self.public().to_hex())
            .finish_non_exhaustive()
    }
}

/// A publisher's identity: its ed25519 public key. Written as 64 hex digits (also in JSON).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct PublisherId(VerifyingKey);

impl PublisherId {
    /// The key from 64 hex digits; refuses bytes that are not a valid curve point.
    pub fn from_hex(hex_text: &str) -> Result<PublisherId, Error> {
        let bytes = decode_hex::<32>("public key", hex_text)?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublisherId)
            .map_err(|err| Error::Encoding {
                what: "public key",
                message: err.to_string(),
            })
    }

    /// The key as 64 hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.as_bytes())
    }

    /// Checks that `signature` is this publisher's signature of `component` as `manifest`'s
    /// name and version.
    pub fn verify(
        &self,
        manifest: &Manifest,
        component: &[u8],
        signature: &Signature,
    ) -> Result<(), Error> {
        self.verify_digest(
            &manifest.name,
            &manifest.version,
            &digest(component),
            signature,
        )
    }

    /// Checks a signature over an already-computed digest.
    pub fn verify_digest(
        &self,
        name: &str,
        version: &Version,
        digest: &Digest,
        signature: &Signature,
    ) -> Result<(), Error> {
        // Strict verification refuses small-order keys and non-canonical signatures, so
        // one package cannot carry two different valid signatures.
        self.0
            .verify_strict(&signing_message(name, version, digest), &signature.0)
            .map_err(|_| Error::BadSignature {
                name: name.to_owned(),
                version: version.to_string(),
                publisher: self.to_hex(),
            })
    }
}

/// A publisher's ed25519 signature over [`signing_message`]. Written as 128 hex digits.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Signature(ed25519_dalek::Signature);

impl Signature {
    /// The signature from 128 hex digits.
    pub fn from_hex(hex_text: &str) -> Result<Signature, Error> {
        let bytes = decode_hex::<64>("signature", hex_text)?;
        Ok(Signature(ed25519_dalek::Signature::from_bytes(&bytes)))
    }

    /// The signature as 128 hex digits.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.to_bytes())
    }
}

fn decode_hex<const N: usize>(what: &'static str, hex_text: &str) -> Result<[u8; N], Error> {
    let mut bytes = [0u8; N];
    hex::decode_to_slice(hex_text.trim(), &mut bytes).map_err(|err| Error::Encoding {
        what,
        message: format!("expected {} hex digits: {err}", N * 2),
    })?;
    Ok(bytes)
}

macro_rules! hex_text {
    ($ty:ident) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.to_hex())
            }
        }

        impl fmt::Debug for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, "{}({})", stringify!($ty), self.to_hex())
            }
        }

        impl FromStr for $ty {
            type Err = Error;

            fn from_str(s: &str) -> Result<Self, Error> {
                $ty::from_hex(s)
            }
        }

        impl Serialize for $ty {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(&self.to_hex())
            }
        }

        impl<'de> Deserialize<'de> for $ty {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let text = String::deserialize(deserializer)?;
                $ty::from_hex(&text).map_err(serde::de::Error::custom)
            }
        }
    };
}

hex_text!(PublisherId);
hex_text!(Signature);

/// A plugin package as published: the component, its manifest, the digest of the
/// component, and the publisher's key and signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Package {
    /// The validated manifest.
    pub manifest: Manifest,
    /// The component's bytes.
    pub component: Vec<u8>,
    /// sha256 of `component`.
    pub digest: Digest,
    /// Who published it.
    pub publisher: PublisherId,
    /// The publisher's signature over name, version and digest.
    pub signature: Signature,
}

impl Package {
    /// Packages and signs `component` as `manifest` with `key`.
    pub fn sign(manifest: Manifest, component: Vec<u8>, key: &PublisherKey) -> Package {
        let digest = digest(&component);
        let signature = key.sign_digest(&manifest.name, &manifest.version, &digest);
        Package {
            manifest,
            component,
            digest,
            publisher: key.public(),
            signature,
        }
    }

    /// Checks the manifest's rules, that the digest is the component's, and that the
    /// signature is the publisher's over this name, version and digest.
    pub fn verify(&self) -> Result<(), Error> {
        self.manifest.validate()?;
        let actual = digest(&self.component);
        if actual != self.digest {
            return Err(Error::DigestMismatch {
                claimed: hex::encode(self.digest),
                actual: hex::encode(actual),
            });
        }
        self.publisher.verify_digest(
            &self.manifest.name,
            &self.manifest.version,
            &self.digest,
            &self.signature,
        )
    }

    /// The digest as 64 hex digits.
    pub fn digest_hex(&self) -> String {
        hex::encode(self.digest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r#"
name = "coupons"
version = "1.0.0"
wit = "0.1.0"
title = "Coupons"
description = "Coupons."
category = "marketing"
capabilities = ["state"]
"#;

    fn manifest(name: &str, version: &str) -> Manifest {
        Manifest::parse(
            &MANIFEST
                .replace("\"coupons\"", &format!("{name:?}"))
                .replace("\"1.0.0\"", &format!("{version:?}")),
        )
        .unwrap()
    }

    const COMPONENT: &[u8] = b"\0asm\x0d\0\x01\0 pretend component";

    #[test]
    fn digest_is_sha256() {
        assert_eq!(
            hex::encode(digest(b"abc")),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn message_binds_context_name_version_and_digest() {
        let d = [7u8; 32];
        let m = signing_message("coupons", &Version::new(1, 2, 3), &d);
        let mut expected = b"baseplate-plugin-v1\0coupons\x001.2.3\0".to_vec();
        expected.extend_from_slice(&d);
        assert_eq!(m, expected);
    }

    #[test]
    fn a_signature_verifies_with_the_publishers_key() {
        let key = PublisherKey::generate().unwrap();
        let m = manifest("coupons", "1.0.0");
        let sig = key.sign(&m, COMPONENT);
        key.public().verify(&m, COMPONENT, &sig).unwrap();
        let package = Package::sign(m, COMPONENT.to_vec(), &key);
        package.verify().unwrap();
        assert_eq!(package.signature, sig, "ed25519 signing is deterministic");
    }

    #[test]
    fn a_wrong_key_fails() {
        let key = PublisherKey::generate().unwrap();
        let other = PublisherKey::generate().unwrap();
        let m = manifest("coupons", "1.0.0");
        let sig = key.sign(&m, COMPONENT);
        let err = other.public().verify(&m, COMPONENT, &sig).unwrap_err();
        assert!(matches!(err, Error::BadSignature { .. }), "{err}");
        assert!(err.to_string().contains(&other.public().to_hex()), "{err}");
    }

    #[test]
    fn tampered_bytes_fail() {
        let key = PublisherKey::generate().unwrap();
        let m = manifest("coupons", "1.0.0");
        let sig = key.sign(&m, COMPONENT);
        let mut tampered = COMPONENT.to_vec();
        tampered.push(0);
        assert!(key.public().verify(&m, &tampered, &sig).is_err());

        // A package whose bytes were swapped after signing fails on the digest first...
        let mut package = Package::sign(m, COMPONENT.to_vec(), &key);
        package.component = tampered.clone();
        assert!(matches!(
            package.verify(),
            Err(Error::DigestMismatch { .. })
        ));
        // ...and with a recomputed digest, on the signature.
        package.digest = digest(&tampered);
        assert!(matches!(package.verify(), Err(Error::BadSignature { .. })));
    }

    #[test]
    fn a_signature_cannot_be_replayed_onto_another_name_or_version() {
        let key = PublisherKey::generate().unwrap();
        let original = manifest("coupons", "1.0.0");
        let sig = key.sign(&original, COMPONENT);
        for (name, version) in [
            ("coupons-pro", "1.0.0"),
            ("coupons", "1.0.1"),
            ("coupons", "1.0.0-rc.1"),
        ] {
            let other = manifest(name, version);
            let err = key.public().verify(&other, COMPONENT, &sig).unwrap_err();
            assert!(
                err.to_string().contains(&format!("{name}@{version}")),
                "{err}"
            );

            let mut package = Package::sign(original.clone(), COMPONENT.to_vec(), &key);
            package.manifest = other;
            assert!(package.verify().is_err(), "{name}@{version}");
        }
    }

    #[test]
    fn keys_and_signatures_round_trip_through_hex_and_json() {
        let key = PublisherKey::generate().unwrap();
        let again = PublisherKey::from_hex(&key.to_hex()).unwrap();
        assert_eq!(again.public(), key.public());

        let id: PublisherId = key.public().to_hex().parse().unwrap();
        assert_eq!(id, key.public());
        let sig = key.sign(&manifest("coupons", "1.0.0"), COMPONENT);
        assert_eq!(Signature::from_hex(&sig.to_hex()).unwrap(), sig);

        let json = serde_json::to_string(&(id, sig)).unwrap();
        assert_eq!(json, format!("[\"{}\",\"{}\"]", id.to_hex(), sig.to_hex()));
        let back: (PublisherId, Signature) = serde_json::from_str(&json).unwrap();
        assert_eq!(back, (id, sig));
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let key = PublisherKey::generate().unwrap();
        let shown = format!("{key:?}");
        assert!(!shown.contains(&key.to_hex()), "{shown}");
        assert!(shown.contains(&key.public().to_hex()), "{shown}");
    }

    #[test]
    fn malformed_encodings_are_refused() {
        for bad in ["", "zz", &"ab".repeat(31), &"ab".repeat(33)] {
            let err = PublisherId::from_hex(bad).unwrap_err().to_string();
            assert!(
                err.contains("invalid public key") && err.contains("64 hex digits"),
                "{err}"
            );
            assert!(PublisherKey::from_hex(bad).is_err());
        }
        assert!(Signature::from_hex(&"00".repeat(32)).is_err());
        assert!(serde_json::from_str::<PublisherId>("\"nothex\"").is_err());
    }

    #[test]
    fn component_header_is_recognised() {
        assert!(looks_like_component(COMPONENT));
        assert!(!looks_like_component(b"\0asm\x01\0\0\0core module"));
        assert!(!looks_like_component(b"\0as"));
    }
}
