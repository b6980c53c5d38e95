//! Reading JSON objects field by field, so every error names the field
//! (`discount.off_bp`) and says what is allowed — serde's own type errors name neither.
//! Plugins read their config and action inputs with it, so a merchant or a buyer always
//! learns which field to fix.
//!
//! ```
//! use baseplate_sdk::fields::{Fields, int_in, text};
//!
//! let mut f = Fields::parse(r#"{"name": "VIP", "limit": 0}"#, &["name", "limit"]).unwrap();
//! let name = f.req("name", "1..=40 characters", text(40)).unwrap();
//! assert_eq!(name, "VIP");
//! let err = f.get("limit", "an integer 1..=10", int_in(1..=10)).unwrap_err();
//! assert_eq!(err.message(), "`limit` must be an integer 1..=10");
//! f.finish().unwrap();
//! ```

use crate::{PluginError, Result};
use serde_json::{Map, Value};
use std::ops::RangeInclusive;

/// A JSON object being read, with the path it was found at.
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
                listing(allowed)
            )));
        }
        Ok(fields)
    }

    /// The full name of field `key`, e.g. `discount.off_bp`.
    pub fn name(&self, key: &str) -> String {
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

    /// The nested object `key`, with no keys outside `allowed`.
    pub fn req_object(&mut self, key: &'static str, allowed: &[&str]) -> Result<Fields> {
        let value = self.req(key, "an object", |v| v.is_object().then(|| v.clone()))?;
        Fields::object(&self.name(key), value, allowed)
    }

    /// Fails on a key no getter asked for (e.g. `off_bp` on a fixed discount).
    pub fn finish(self) -> Result<()> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(key) => Err(PluginError::invalid(format!(
                "unknown field `{}`; allowed: {}",
                self.name(key),
                listing(&self.asked)
            ))),
        }
    }
}

fn listing(names: &[&str]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names.join(", ")
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

/// A list of `count` ids, each 1..=64 bytes.
pub fn ids(count: RangeInclusive<usize>) -> impl FnOnce(&Value) -> Option<Vec<String>> {
    move |v| {
        let ids: Vec<String> = v
            .as_array()?
            .iter()
            .map(|id| {
                id.as_str()
                    .filter(|s| !s.is_empty() && s.len() <= 64)
                    .map(String::from)
            })
            .collect::<Option<_>>()?;
        count.contains(&ids.len()).then_some(ids)
    }
}

/// One of `choices`.
pub fn one_of(choices: &'static [&'static str]) -> impl FnOnce(&Value) -> Option<&'static str> {
    move |v| {
        let s = v.as_str()?;
        choices.iter().copied().find(|c| *c == s)
    }
}

/// An id that can be a segment of a state key: 1..=64 characters of `A-Z a-z 0-9 _ -`
/// (never `/`, so it can't break out of its segment).
pub fn id(v: &Value) -> Option<String> {
    let s = v.as_str()?;
    is_id(s).then(|| s.to_string())
}

/// Whether `s` is an [`id`].
pub fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
