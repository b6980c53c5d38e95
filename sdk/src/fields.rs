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
///
/// ```
/// use baseplate_sdk::fields::{Fields, int_in};
/// let mut f = Fields::parse(r#"{"limit": 3}"#, &["limit"])?;
/// assert_eq!(f.get("limit", "an integer 1..=10", int_in(1..=10))?, Some(3));
/// f.finish()?;
/// # Ok::<(), baseplate_sdk::PluginError>(())
/// ```
pub struct Fields {
    path: String,
    map: Map<String, Value>,
    asked: Vec<&'static str>,
}

impl Fields {
    /// `text` as a JSON object with no keys outside `allowed`; empty text reads as `{}`.
    ///
    /// ```
    /// use baseplate_sdk::fields::Fields;
    /// let err = Fields::parse(r#"{"nme": 1}"#, &["name"]).err().unwrap();
    /// assert_eq!(err.message(), "unknown field `nme`; allowed: name");
    /// assert!(Fields::parse("", &[]).is_ok());
    /// ```
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
    ///
    /// ```
    /// use baseplate_sdk::fields::Fields;
    /// let err = Fields::object("discount", serde_json::json!(5), &[]).err().unwrap();
    /// assert_eq!(err.message(), "`discount` must be a JSON object");
    /// ```
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
    ///
    /// ```
    /// use baseplate_sdk::fields::Fields;
    /// let f = Fields::object("discount", serde_json::json!({}), &[])?;
    /// assert_eq!(f.name("off_bp"), "discount.off_bp");
    /// # Ok::<(), baseplate_sdk::PluginError>(())
    /// ```
    pub fn name(&self, key: &str) -> String {
        if self.path.is_empty() {
            key.into()
        } else {
            format!("{}.{key}", self.path)
        }
    }

    /// The field `key` read by `read`; `None` when absent or null. `allowed` completes
    /// "`key` must be …" when `read` rejects the value.
    ///
    /// ```
    /// use baseplate_sdk::fields::{Fields, boolean};
    /// let mut f = Fields::parse(r#"{"solo": "yes"}"#, &["solo"])?;
    /// let err = f.get("solo", "true or false", boolean).unwrap_err();
    /// assert_eq!(err.message(), "`solo` must be true or false");
    /// # Ok::<(), baseplate_sdk::PluginError>(())
    /// ```
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
    ///
    /// ```
    /// use baseplate_sdk::fields::{Fields, text};
    /// let mut f = Fields::parse("{}", &["name"])?;
    /// let err = f.req("name", "1..=40 characters", text(40)).unwrap_err();
    /// assert_eq!(err.message(), "`name` is required: 1..=40 characters");
    /// # Ok::<(), baseplate_sdk::PluginError>(())
    /// ```
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
    ///
    /// ```
    /// use baseplate_sdk::fields::{Fields, int_in};
    /// let mut f = Fields::parse(r#"{"cut": {"min": 5}}"#, &["cut"])?;
    /// let mut cut = f.req_object("cut", &["min", "max"])?;
    /// assert_eq!(cut.req("min", "an integer", int_in(1..=100))?, 5);
    /// # Ok::<(), baseplate_sdk::PluginError>(())
    /// ```
    pub fn req_object(&mut self, key: &'static str, allowed: &[&str]) -> Result<Fields> {
        let value = self.req(key, "an object", |v| v.is_object().then(|| v.clone()))?;
        Fields::object(&self.name(key), value, allowed)
    }

    /// Fails on a key no getter asked for (e.g. `off_bp` on a fixed discount).
    ///
    /// ```
    /// use baseplate_sdk::fields::{Fields, int_in};
    /// let mut f = Fields::parse(r#"{"amount": 5, "off_bp": 1}"#, &["amount", "off_bp"])?;
    /// f.req("amount", "an integer", int_in(1..=100))?;
    /// assert_eq!(f.finish().unwrap_err().message(), "unknown field `off_bp`; allowed: amount");
    /// # Ok::<(), baseplate_sdk::PluginError>(())
    /// ```
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

/// Reads a plugin's configuration object field by field: parses `text` (empty reads as
/// `{}`) with no keys outside `allowed`, hands it to `read`, then refuses any allowed key
/// `read` did not ask for. Every error is [`PluginError::Invalid`] reading
/// `invalid config: …` and naming the field, which the merchant sees next to the form.
///
/// ```
/// use baseplate_sdk::fields::{int_in, read_config};
/// let read = |text: &str| read_config(text, &["max_coupons"], |f| {
///     Ok(f.get("max_coupons", "an integer 1..=3", int_in(1..=3))?.unwrap_or(3))
/// });
/// assert_eq!(read("{}")?, 3);
/// assert_eq!(read(r#"{"max_coupons": 9}"#).unwrap_err().message(),
///            "invalid config: `max_coupons` must be an integer 1..=3");
/// # Ok::<(), baseplate_sdk::PluginError>(())
/// ```
pub fn read_config<T>(
    text: &str,
    allowed: &[&str],
    read: impl FnOnce(&mut Fields) -> Result<T>,
) -> Result<T> {
    let run = || {
        let mut f = Fields::parse(text, allowed)?;
        let value = read(&mut f)?;
        f.finish()?;
        Ok(value)
    };
    run().map_err(|e: PluginError| PluginError::invalid(format!("invalid config: {}", e.message())))
}

/// An integer within `range`.
///
/// ```
/// use baseplate_sdk::fields::int_in;
/// assert_eq!(int_in(1..=3)(&serde_json::json!(2)), Some(2));
/// assert_eq!(int_in(1..=3)(&serde_json::json!(4)), None);
/// ```
pub fn int_in(range: RangeInclusive<i64>) -> impl FnOnce(&Value) -> Option<i64> {
    move |v| v.as_i64().filter(|n| range.contains(n))
}

/// A string of 1..=`max` characters (after trimming).
///
/// ```
/// use baseplate_sdk::fields::text;
/// assert_eq!(text(5)(&serde_json::json!(" tea ")), Some("tea".to_string()));
/// assert_eq!(text(5)(&serde_json::json!("  ")), None);
/// ```
pub fn text(max: usize) -> impl FnOnce(&Value) -> Option<String> {
    move |v| {
        let s = v.as_str()?.trim();
        (!s.is_empty() && s.chars().count() <= max).then(|| s.to_string())
    }
}

/// A JSON boolean.
///
/// ```
/// assert_eq!(baseplate_sdk::fields::boolean(&serde_json::json!(true)), Some(true));
/// ```
pub fn boolean(v: &Value) -> Option<bool> {
    v.as_bool()
}

/// A list of `count` ids, each 1..=64 bytes.
///
/// ```
/// use baseplate_sdk::fields::ids;
/// assert_eq!(ids(1..=3)(&serde_json::json!(["a", "b"])), Some(vec!["a".into(), "b".into()]));
/// assert_eq!(ids(1..=3)(&serde_json::json!([])), None);
/// ```
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
///
/// ```
/// use baseplate_sdk::fields::one_of;
/// assert_eq!(one_of(&["equal", "random"])(&serde_json::json!("equal")), Some("equal"));
/// ```
pub fn one_of(choices: &'static [&'static str]) -> impl FnOnce(&Value) -> Option<&'static str> {
    move |v| {
        let s = v.as_str()?;
        choices.iter().copied().find(|c| *c == s)
    }
}

/// An id that can be a segment of a state key: 1..=64 characters of `A-Z a-z 0-9 _ -`
/// (never `/`, so it can't break out of its segment).
///
/// ```
/// use baseplate_sdk::fields::id;
/// assert_eq!(id(&serde_json::json!("grp_1")), Some("grp_1".to_string()));
/// assert_eq!(id(&serde_json::json!("a/b")), None);
/// ```
pub fn id(v: &Value) -> Option<String> {
    let s = v.as_str()?;
    is_id(s).then(|| s.to_string())
}

/// Whether `s` is an [`id`].
///
/// ```
/// assert!(baseplate_sdk::fields::is_id("ls_0f") && !baseplate_sdk::fields::is_id(""));
/// ```
pub fn is_id(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}
