//! `logging`: structured log lines, kept with the call's record.

use crate::contract::{v0_1, v0_2};
use crate::sandbox::Sandbox;

fn level_v2(l: v0_2::baseplate::plugin::logging::Level) -> &'static str {
    use v0_2::baseplate::plugin::logging::Level;
    match l {
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}

fn level_v1(l: v0_1::baseplate::plugin::logging::Level) -> &'static str {
    use v0_1::baseplate::plugin::logging::Level;
    match l {
        Level::Debug => "debug",
        Level::Info => "info",
        Level::Warn => "warn",
        Level::Error => "error",
    }
}

impl v0_2::baseplate::plugin::logging::Host for Sandbox {
    fn log(
        &mut self,
        level: v0_2::baseplate::plugin::logging::Level,
        message: String,
    ) -> wasmtime::Result<()> {
        self.tick()?;
        self.log(level_v2(level), message);
        Ok(())
    }
}

impl v0_1::baseplate::plugin::logging::Host for Sandbox {
    fn log(
        &mut self,
        level: v0_1::baseplate::plugin::logging::Level,
        message: String,
    ) -> wasmtime::Result<()> {
        self.tick()?;
        self.log(level_v1(level), message);
        Ok(())
    }
}
