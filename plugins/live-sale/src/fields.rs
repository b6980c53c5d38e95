//! Reading JSON objects field by field, so every error names the field (`live_price`) and
//! says what is allowed — serde's own type errors name neither. (The same reader the coupons
//! plugin uses, trimmed to what live sale needs.)

use baseplate_sdk::{PluginError, Result};
use serde_json::{Map, Value};
use std::ops::RangeInclusive;

pub struct Fields {
    path: String,
    map: Map<String, Value>,
    asked: Vec<&'static str>,
}

impl Fields {
    /// `text` as a JSON object with no keys outside `allowed`; empty text reads as `{}`.
    pub fn parse(text: &str, allowed: &[&str]) -> Result<Fields> {
        let value = if text.trim().is_empty() {
            Value::Object(Map::new())
        } else {
            serde_json::from_str(text)
                .map_err(|e| PluginError::invalid(format!("not valid JSON: {e}")))?
        };
        Fields::object("", value, allowed)
    }

    /// `value` (found at `path`) as an object with no keys outside `allowed`.
    pub fn object(path: &str, value: Value, allowed: &[&str]) -> Result<Fields> {
        let Value::Object(map) = value else {
            let what = if path.is_empty() { "the input" } else { path };
            return Err(PluginError::invalid(format!(
                "`{what}` must be a JSON object"
            )));
        };
        let fields = Fields {
            path: path.into(),
            map,
            asked: Vec::new(),
        };
        if let Some(key) = fields.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(PluginError::invalid(format!(
                "unknown field `{}`; allowed: {}",
                fields.name(key),
                allowed.join(", ")
            )));
        }
        Ok(fields)
    }

    fn name(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.into()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The field `key` read by `read`; `None` when absent or null. `allowed` completes
    /// "`key` must be …" when `read` rejects the value.
    pub fn get<T>(
        &mut self,
        key: &'static str,
        allowed: &str,
        read: impl FnOnce(&Value) -> Option<T>,
    ) -> Result<Option<T>> {
        self.asked.push(key);
        match self.map.remove(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => read(&v).map(Some).ok_or_else(|| {
                PluginError::invalid(format!("`{}` must be {allowed}", self.name(key)))
            }),
        }
    }

    /// Like [`Fields::get`], for a field that must be there.
    pub fn req<T>(
        &mut self,
        key: &'static str,
        allowed: &str,
        read: impl FnOnce(&Value) -> Option<T>,
    ) -> Result<T> {
        self.get(key, allowed, read)?.ok_or_else(|| {
            PluginError::invalid(format!("`{}` is required: {allowed}", self.name(key)))
        })
    }

    /// Fails on a key no getter asked for.
    pub fn finish(self) -> Result<()> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(key) => Err(PluginError::invalid(format!(
                "unknown field `{}`; allowed: {}",
                self.name(key),
                self.asked.join(", ")
            ))),
        }
    }
}

/// An integer within `range`.
pub fn int_in(range: RangeInclusive<i64>) -> impl FnOnce(&Value) -> Option<i64> {
    move |v| v.as_i64().filter(|n| range.contains(n))
}

/// A string of 1..=`max` characters (after trimming).
pub fn text(max: usize) -> impl FnOnce(&Value) -> Option<String> {
    move |v| {
        let s = v.as_str()?.trim();
        (!s.is_empty() && s.chars().count() <= max).then(|| s.to_string())
    }
}

/// A JSON boolean.
pub fn boolean(v: &Value) -> Option<bool> {
    v.as_bool()
}

/// An id we put into state keys: 1..=64 characters of `A-Z a-z 0-9 _ -`, so it can never
/// break out of its key segment (no `/`).
pub fn id(v: &Value) -> Option<String> {
    let s = v.as_str()?;
    let ok = !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    ok.then(|| s.to_string())
}
