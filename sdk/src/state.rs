//! The plugin's key-value state, private to this plugin in this shop. Writes commit with the
//! hook's operation or not at all, and the host serializes one plugin's calls per shop, so a
//! read-check-write within one call is atomic.
//!
//! Limits (the host traps on a violation; the mock host panics): keys up to
//! [`MAX_KEY_BYTES`], values up to [`MAX_VALUE_BYTES`], scans return at most
//! [`MAX_SCAN_LIMIT`] entries.
//!
//! ```no_run
//! use baseplate_sdk::state;
//! state::set_json("tpl/tpl_1", &serde_json::json!({"name": "10 off"}))?;
//! let templates = state::scan_all_json::<serde_json::Value>("tpl/")?;
//! # Ok::<(), baseplate_sdk::PluginError>(())
//! ```

use crate::{PluginError, Result, sys};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The longest key, in bytes.
pub const MAX_KEY_BYTES: usize = 256;
/// The largest value, in bytes.
pub const MAX_VALUE_BYTES: usize = 64 * 1024;
/// The most entries one [`scan`] returns, whatever `limit` asks for.
pub const MAX_SCAN_LIMIT: u32 = 1000;

/// The bytes stored under `key`.
pub fn get(key: &str) -> Option<Vec<u8>> {
    sys::state::get(key)
}

/// Stores `value` under `key`, replacing what was there.
pub fn set(key: &str, value: &[u8]) {
    sys::state::set(key, value)
}

/// Removes `key`; true if it was there.
pub fn delete(key: &str) -> bool {
    sys::state::delete(key)
}

/// Entries whose key starts with `prefix`, in key order, after `start_after` if given, at
/// most `limit` (capped at [`MAX_SCAN_LIMIT`]). Page by passing the last key returned as
/// the next `start_after`.
pub fn scan(prefix: &str, start_after: Option<&str>, limit: u32) -> Vec<(String, Vec<u8>)> {
    sys::state::scan(prefix, start_after, limit)
}

/// Every entry whose key starts with `prefix`, paging through [`scan`]. Use it for prefixes
/// you know stay small.
pub fn scan_all(prefix: &str) -> Vec<(String, Vec<u8>)> {
    let mut all: Vec<(String, Vec<u8>)> = Vec::new();
    loop {
        let after = all.last().map(|(k, _)| k.clone());
        let page = scan(prefix, after.as_deref(), MAX_SCAN_LIMIT);
        let done = page.len() < MAX_SCAN_LIMIT as usize;
        all.extend(page);
        if done {
            return all;
        }
    }
}

/// The value under `key`, decoded from JSON.
///
/// # Errors
/// [`PluginError::Internal`] if the stored bytes are not a `T`.
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>> {
    get(key).map(|bytes| decode(key, &bytes)).transpose()
}

/// Stores `value` under `key` as JSON.
///
/// # Errors
/// [`PluginError::Internal`] if `value` cannot be encoded as JSON.
pub fn set_json<T: Serialize + ?Sized>(key: &str, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec(value)
        .map_err(|e| PluginError::internal(format!("cannot encode state `{key}`: {e}")))?;
    set(key, &bytes);
    Ok(())
}

/// [`scan`], decoding each value from JSON.
///
/// # Errors
/// [`PluginError::Internal`] if a stored value is not a `T`.
pub fn scan_json<T: DeserializeOwned>(
    prefix: &str,
    start_after: Option<&str>,
    limit: u32,
) -> Result<Vec<(String, T)>> {
    decode_all(scan(prefix, start_after, limit))
}

/// [`scan_all`], decoding each value from JSON.
///
/// # Errors
/// [`PluginError::Internal`] if a stored value is not a `T`.
pub fn scan_all_json<T: DeserializeOwned>(prefix: &str) -> Result<Vec<(String, T)>> {
    decode_all(scan_all(prefix))
}

fn decode<T: DeserializeOwned>(key: &str, bytes: &[u8]) -> Result<T> {
    serde_json::from_slice(bytes)
        .map_err(|e| PluginError::internal(format!("corrupt state `{key}`: {e}")))
}

fn decode_all<T: DeserializeOwned>(entries: Vec<(String, Vec<u8>)>) -> Result<Vec<(String, T)>> {
    entries
        .into_iter()
        .map(|(k, v)| decode(&k, &v).map(|t| (k, t)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::MockHost;

    #[test]
    fn roundtrip_and_scan_pages() {
        MockHost::install();
        for i in 0..1500 {
            set_json(&format!("n/{i:05}"), &i).unwrap();
        }
        set("other", b"x");
        assert_eq!(get_json::<u32>("n/00042").unwrap(), Some(42));
        assert_eq!(scan("n/", None, 5000).len(), 1000);
        let page = scan_json::<u32>("n/", Some("n/01497"), 10).unwrap();
        assert_eq!(
            page,
            vec![("n/01498".to_string(), 1498), ("n/01499".to_string(), 1499)]
        );
        assert_eq!(scan_all_json::<u32>("n/").unwrap().len(), 1500);
        assert!(delete("other"));
        assert!(!delete("other"));
        set("bad", b"{");
        assert_eq!(get_json::<u32>("bad").unwrap_err().kind(), "internal");
    }

    #[test]
    #[should_panic(expected = "256")]
    fn long_key_traps() {
        MockHost::install();
        set(&"k".repeat(257), b"");
    }

    #[test]
    #[should_panic(expected = "65536")]
    fn big_value_traps() {
        MockHost::install();
        set("k", &vec![0; MAX_VALUE_BYTES + 1]);
    }
}
