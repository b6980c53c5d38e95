//! Reading JSON objects field by field, so every error names the field (`overrides.p1.level1`)
//! and says what is allowed — serde's own type errors name neither.

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
    pub fn parse(text: &str, allowed: &[&'static str]) -> Result<Fields> {
        let value = if text.trim().is_empty() {
            Value::Object(Map::new())
        } else {
            serde_json::from_str(text)
                .map_err(|e| PluginError::invalid(format!("not valid JSON: {e}")))?
        };
        Fields::object("", value, allowed)
    }

    /// `value` (found at `path`) as an object with no keys outside `allowed`.
    pub fn object(path: &str, value: Value, allowed: &[&'static str]) -> Result<Fields> {
        let Value::Object(map) = value else {
            let what = if path.is_empty() { "the input" } else { path };
            return Err(PluginError::invalid(format!(
                "`{what}` must be a JSON object"
            )));
        };
        let fields = Fields {
            path: path.into(),
            map,
            asked: allowed.to_vec(),
        };
        if let Some(key) = fields.map.keys().find(|k| !allowed.contains(&k.as_str())) {
            return Err(fields.unknown(key));
        }
        Ok(fields)
    }

    fn unknown(&self, key: &str) -> PluginError {
        let allowed = if self.asked.is_empty() {
            "none".to_string()
        } else {
            self.asked.join(", ")
        };
        PluginError::invalid(format!(
            "unknown field `{}`; allowed: {allowed}",
            self.name(key)
        ))
    }

    /// The full name of field `key`, e.g. `overrides.p1.type`.
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

    /// Fails on a key no getter took (e.g. `level1_bp` on a fixed override), naming the
    /// fields that were allowed in this position.
    pub fn finish(self, allowed: &[&'static str]) -> Result<()> {
        match self.map.keys().next() {
            None => Ok(()),
            Some(key) => Err(Fields {
                path: self.path.clone(),
                map: Map::new(),
                asked: allowed.to_vec(),
            }
            .unknown(key)),
        }
    }
}

/// An integer within `range`.
pub fn int_in(range: RangeInclusive<i64>) -> impl FnOnce(&Value) -> Option<i64> {
    move |v| v.as_i64().filter(|n| range.contains(n))
}

/// An id: a string of 1..=64 bytes without `/` (ids are parts of state keys) or spaces.
pub fn id(v: &Value) -> Option<String> {
    let s = v.as_str()?;
    is_id(s).then(|| s.to_string())
}

/// Whether `s` can be used as an id in a state key.
pub fn is_id(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && !s.contains('/') && !s.chars().any(char::is_whitespace)
}

/// A string of 1..=`max` characters (after trimming).
pub fn text(max: usize) -> impl FnOnce(&Value) -> Option<String> {
    move |v| {
        let s = v.as_str()?.trim();
        (!s.is_empty() && s.chars().count() <= max).then(|| s.to_string())
    }
}

/// One of `choices`.
pub fn one_of(choices: &'static [&'static str]) -> impl FnOnce(&Value) -> Option<&'static str> {
    move |v| {
        let s = v.as_str()?;
        choices.iter().copied().find(|c| *c == s)
    }
}
