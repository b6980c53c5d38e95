//! The plugin's key-value state, private to this plugin in this shop. Writes commit with the
//! hook's operation or not at all, and the host serializes one plugin's calls per shop, so a
//! read-check-write within one call is atomic.
//!
//! Limits (see [`limits`](crate::limits); the host traps on a violation, the mock host
//! panics): keys of 1..=[`MAX_KEY_BYTES`] bytes, values up to [`MAX_VALUE_BYTES`], at most
//! [`MAX_GET_MANY`](crate::limits::MAX_GET_MANY) keys per [`get_many`], scans return at most
//! [`MAX_SCAN_LIMIT`] entries. A shop's state per plugin is bounded too
//! ([`DEFAULT_MAX_STATE_KEYS`](crate::limits::DEFAULT_MAX_STATE_KEYS) keys and
//! [`DEFAULT_MAX_STATE_BYTES`](crate::limits::DEFAULT_MAX_STATE_BYTES) by default): a call
//! that would pass the bound ends with a `refused` error and none of its writes are kept.
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

pub use crate::limits::{MAX_KEY_BYTES, MAX_SCAN_LIMIT, MAX_VALUE_BYTES};

/// The bytes stored under `key`.
///
/// ```
/// let _host = baseplate_sdk::testing::MockHost::install();
/// baseplate_sdk::state::set("k", b"v");
/// assert_eq!(baseplate_sdk::state::get("k").as_deref(), Some(&b"v"[..]));
/// ```
pub fn get(key: &str) -> Option<Vec<u8>> {
    sys::state::get(key)
}

/// The values under `keys` in one host call, in the order asked (at most
/// [`MAX_GET_MANY`](crate::limits::MAX_GET_MANY) keys: more traps).
///
/// ```
/// use baseplate_sdk::state;
/// let _host = baseplate_sdk::testing::MockHost::install();
/// state::set("a", b"1");
/// assert_eq!(state::get_many(&["a", "b"]), vec![Some(b"1".to_vec()), None]);
/// ```
pub fn get_many(keys: &[&str]) -> Vec<Option<Vec<u8>>> {
    let keys: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
    sys::state::get_many(&keys)
}

/// Stores `value` under `key`, replacing what was there. Traps during `price`, which is
/// read-only.
///
/// ```
/// let _host = baseplate_sdk::testing::MockHost::install();
/// baseplate_sdk::state::set("greeting", b"hi");
/// ```
pub fn set(key: &str, value: &[u8]) {
    sys::state::set(key, value)
}

/// Removes `key`; true if it was there.
///
/// ```
/// use baseplate_sdk::state;
/// let _host = baseplate_sdk::testing::MockHost::install();
/// state::set("k", b"v");
/// assert!(state::delete("k") && !state::delete("k"));
/// ```
pub fn delete(key: &str) -> bool {
    sys::state::delete(key)
}

/// Entries whose key starts with `prefix`, in key order, after `start_after` if given, at
/// most `limit` (capped at [`MAX_SCAN_LIMIT`]). Page by passing the last key returned as
/// the next `start_after`.
///
/// ```
/// use baseplate_sdk::state;
/// let _host = baseplate_sdk::testing::MockHost::install();
/// for k in ["t/1", "t/2", "t/3", "u/1"] { state::set(k, b""); }
/// let page = state::scan("t/", Some("t/1"), 10);
/// assert_eq!(page.iter().map(|(k, _)| k.as_str()).collect::<Vec<_>>(), ["t/2", "t/3"]);
/// ```
pub fn scan(prefix: &str, start_after: Option<&str>, limit: u32) -> Vec<(String, Vec<u8>)> {
    sys::state::scan(prefix, start_after, limit)
}

/// Every entry whose key starts with `prefix`, paging through [`scan`]. Use it for prefixes
/// you know stay small.
///
/// ```
/// use baseplate_sdk::state;
/// let _host = baseplate_sdk::testing::MockHost::install();
/// for i in 0..1200 { state::set(&format!("n/{i:05}"), b""); }
/// assert_eq!(state::scan_all("n/").len(), 1200);
/// ```
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
///
/// ```
/// use baseplate_sdk::state;
/// let _host = baseplate_sdk::testing::MockHost::install();
/// state::set_json("count", &3u32)?;
/// assert_eq!(state::get_json::<u32>("count")?, Some(3));
/// # Ok::<(), baseplate_sdk::PluginError>(())
/// ```
pub fn get_json<T: DeserializeOwned>(key: &str) -> Result<Option<T>> {
    get(key).map(|bytes| decode(key, &bytes)).transpose()
}

/// The values under `keys` decoded from JSON, in one host call, in the order asked.
///
/// # Errors
/// [`PluginError::Internal`] if a stored value is not a `T`.
///
/// ```
/// use baseplate_sdk::state;
/// let _host = baseplate_sdk::testing::MockHost::install();
/// state::set_json("stock/a", &5)?;
/// assert_eq!(state::get_many_json::<i64>(&["stock/a", "stock/b"])?, vec![Some(5), None]);
/// # Ok::<(), baseplate_sdk::PluginError>(())
/// ```
pub fn get_many_json<T: DeserializeOwned>(keys: &[&str]) -> Result<Vec<Option<T>>> {
    get_many(keys)
        .into_iter()
        .zip(keys)
        .map(|(bytes, key)| bytes.map(|b| decode(key, &b)).transpose())
        .collect()
}

/// Stores `value` under `key` as JSON.
///
/// # Errors
/// [`PluginError::Internal`] if `value` cannot be encoded as JSON.
///
/// ```
/// let _host = baseplate_sdk::testing::MockHost::install();
/// baseplate_sdk::state::set_json("tpl/1", &serde_json::json!({"name": "10 off"}))?;
/// # Ok::<(), baseplate_sdk::PluginError>(())
/// ```
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
///
/// ```
/// use baseplate_sdk::state;
/// let _host = baseplate_sdk::testing::MockHost::install();
/// state::set_json("n/1", &1)?;
/// assert_eq!(state::scan_json::<i32>("n/", None, 10)?, vec![("n/1".to_string(), 1)]);
/// # Ok::<(), baseplate_sdk::PluginError>(())
/// ```
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
///
/// ```
/// use baseplate_sdk::state;
/// let _host = baseplate_sdk::testing::MockHost::install();
/// state::set_json("n/1", &1)?;
/// assert_eq!(state::scan_all_json::<i32>("n/")?.len(), 1);
/// # Ok::<(), baseplate_sdk::PluginError>(())
/// ```
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
    fn get_many_reads_in_order() {
        MockHost::install();
        set_json("a", &1).unwrap();
        set_json("c", &3).unwrap();
        assert_eq!(
            get_many_json::<i32>(&["c", "b", "a"]).unwrap(),
            vec![Some(3), None, Some(1)]
        );
    }

    #[test]
    #[should_panic(expected = "at most 100")]
    fn get_many_is_bounded() {
        MockHost::install();
        let keys: Vec<String> = (0..101).map(|i| i.to_string()).collect();
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        get_many(&keys);
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
