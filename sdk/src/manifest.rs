//! The `plugin.toml` reference: every field, its allowed values, and examples.
//!
#![doc = include_str!("manifest.md")]
