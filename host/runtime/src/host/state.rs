//! `state`: the plugin's key-value state in this shop. Reads go through the overlay (once
//! per key per operation); writes are buffered there and checked against the quota.

use crate::contract::{v0_1, v0_2};
use crate::limits::{MAX_GET_MANY, MAX_KEY_BYTES, MAX_SCAN, MAX_VALUE_BYTES};
use crate::sandbox::Sandbox;

impl Sandbox {
    fn check_key(&mut self, key: &str) -> wasmtime::Result<()> {
        if key.is_empty() || key.len() > MAX_KEY_BYTES {
            return self.violate(
                crate::FailureKind::Violation,
                format!(
                    "state key must be 1..={MAX_KEY_BYTES} bytes, got {}",
                    key.len()
                ),
            );
        }
        Ok(())
    }

    pub(crate) fn state_get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        self.tick()?;
        self.check_key(&key)?;
        let until = self.until;
        let r = self.overlay.get(&key, until);
        self.data(r)
    }

    pub(crate) fn state_get_many(
        &mut self,
        keys: Vec<String>,
    ) -> wasmtime::Result<Vec<Option<Vec<u8>>>> {
        self.tick()?;
        if keys.len() > MAX_GET_MANY {
            return self.violate(
                crate::FailureKind::Violation,
                format!("get-many of {} keys (at most {MAX_GET_MANY})", keys.len()),
            );
        }
        for k in &keys {
            self.check_key(k)?;
        }
        let until = self.until;
        let r = self.overlay.get_many(&keys, until);
        self.data(r)
    }

    pub(crate) fn state_set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<()> {
        self.tick()?;
        self.writable("state.set")?;
        self.check_key(&key)?;
        if value.len() > MAX_VALUE_BYTES {
            return self.violate(
                crate::FailureKind::Violation,
                format!(
                    "state value of {} bytes is over the {MAX_VALUE_BYTES}-byte limit",
                    value.len()
                ),
            );
        }
        self.overlay.set(&key, value);
        self.check_quota()
    }

    pub(crate) fn state_delete(&mut self, key: String) -> wasmtime::Result<bool> {
        self.tick()?;
        self.writable("state.delete")?;
        self.check_key(&key)?;
        let until = self.until;
        let r = self.overlay.delete(&key, until);
        self.data(r)
    }

    pub(crate) fn state_scan(
        &mut self,
        prefix: String,
        start_after: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<Vec<(String, Vec<u8>)>> {
        self.tick()?;
        if prefix.len() > MAX_KEY_BYTES {
            return self.violate(
                crate::FailureKind::Violation,
                format!("scan prefix must be at most {MAX_KEY_BYTES} bytes"),
            );
        }
        let until = self.until;
        let r = self
            .overlay
            .scan(&prefix, start_after.as_deref(), limit.min(MAX_SCAN), until);
        self.data(r)
    }

    /// Ends the call with `refused` if its pending writes would take the plugin past its
    /// quota in this shop.
    pub(crate) fn check_quota(&mut self) -> wasmtime::Result<()> {
        let (quota, until) = (self.quota, self.until);
        let r = self.overlay.projected_usage(&quota, until);
        let u = self.data(r)?;
        if u.state_keys > quota.state_keys {
            return self.refuse(format!(
                "state quota: this plugin may keep {} keys in this shop; the call would make {}",
                quota.state_keys, u.state_keys
            ));
        }
        if u.state_bytes > quota.state_bytes {
            return self.refuse(format!(
                "state quota: this plugin may keep {} bytes in this shop; the call would make {}",
                quota.state_bytes, u.state_bytes
            ));
        }
        if u.timers > quota.timers {
            return self.refuse(format!(
                "timer quota: this plugin may have {} pending timers in this shop; the call would make {}",
                quota.timers, u.timers
            ));
        }
        Ok(())
    }
}

impl v0_2::baseplate::plugin::state::Host for Sandbox {
    fn get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        self.state_get(key)
    }

    fn get_many(&mut self, keys: Vec<String>) -> wasmtime::Result<Vec<Option<Vec<u8>>>> {
        self.state_get_many(keys)
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<()> {
        self.state_set(key, value)
    }

    fn delete(&mut self, key: String) -> wasmtime::Result<bool> {
        self.state_delete(key)
    }

    fn scan(
        &mut self,
        prefix: String,
        start_after: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<Vec<(String, Vec<u8>)>> {
        self.state_scan(prefix, start_after, limit)
    }
}

impl v0_1::baseplate::plugin::state::Host for Sandbox {
    fn get(&mut self, key: String) -> wasmtime::Result<Option<Vec<u8>>> {
        self.state_get(key)
    }

    fn set(&mut self, key: String, value: Vec<u8>) -> wasmtime::Result<()> {
        self.state_set(key, value)
    }

    fn delete(&mut self, key: String) -> wasmtime::Result<bool> {
        self.state_delete(key)
    }

    fn scan(
        &mut self,
        prefix: String,
        start_after: Option<String>,
        limit: u32,
    ) -> wasmtime::Result<Vec<(String, Vec<u8>)>> {
        self.state_scan(prefix, start_after, limit)
    }
}
