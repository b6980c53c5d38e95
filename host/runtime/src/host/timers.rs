//! `timers`: durable timers of the plugin in this shop, buffered until the operation
//! commits.

use crate::contract::{v0_1, v0_2};
use crate::limits::{MAX_TIMER_NAME, MAX_VALUE_BYTES};
use crate::sandbox::Sandbox;

impl Sandbox {
    pub(crate) fn timer_schedule(
        &mut self,
        name: String,
        at: i64,
        payload: Vec<u8>,
    ) -> wasmtime::Result<()> {
        self.tick()?;
        self.writable("timers.schedule")?;
        if name.is_empty() || name.len() > MAX_TIMER_NAME {
            return self.violate(
                crate::FailureKind::Violation,
                format!("timer name must be 1..={MAX_TIMER_NAME} bytes"),
            );
        }
        if payload.len() > MAX_VALUE_BYTES {
            return self.violate(
                crate::FailureKind::Violation,
                format!("timer payload is over the {MAX_VALUE_BYTES}-byte limit"),
            );
        }
        self.overlay.schedule(&name, at, payload);
        self.check_quota()
    }

    pub(crate) fn timer_cancel(&mut self, name: String) -> wasmtime::Result<bool> {
        self.tick()?;
        self.writable("timers.cancel")?;
        let until = self.until;
        let r = self.overlay.cancel(&name, until);
        self.data(r)
    }
}

impl v0_2::baseplate::plugin::timers::Host for Sandbox {
    fn schedule(&mut self, name: String, at: i64, payload: Vec<u8>) -> wasmtime::Result<()> {
        self.timer_schedule(name, at, payload)
    }

    fn cancel(&mut self, name: String) -> wasmtime::Result<bool> {
        self.timer_cancel(name)
    }
}

impl v0_1::baseplate::plugin::timers::Host for Sandbox {
    fn schedule(&mut self, name: String, at: i64, payload: Vec<u8>) -> wasmtime::Result<()> {
        self.timer_schedule(name, at, payload)
    }

    fn cancel(&mut self, name: String) -> wasmtime::Result<bool> {
        self.timer_cancel(name)
    }
}
