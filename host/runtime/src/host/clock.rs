//! `host`: the operation's clock and the call's seeded randomness, so a call can be
//! replayed (and a retry is the same call).

use crate::contract::{v0_1, v0_2};
use crate::sandbox::Sandbox;

impl v0_2::baseplate::plugin::host::Host for Sandbox {
    fn now(&mut self) -> wasmtime::Result<i64> {
        self.tick()?;
        Ok(self.env.now)
    }

    fn random(&mut self) -> wasmtime::Result<u64> {
        self.tick()?;
        Ok(self.next_random())
    }
}

impl v0_1::baseplate::plugin::host::Host for Sandbox {
    fn now(&mut self) -> wasmtime::Result<i64> {
        self.tick()?;
        Ok(self.env.now)
    }

    fn random(&mut self) -> wasmtime::Result<u64> {
        self.tick()?;
        Ok(self.next_random())
    }
}
