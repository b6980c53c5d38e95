//! A plugin that tries to read the host's files. `std::fs` on wasm32-wasip2 imports
//! `wasi:filesystem`, which the sandbox never links: publishing must refuse it, naming the
//! import. Never publish it anywhere else.

use baseplate_sdk::{Adjustment, CallContext, Cart, Plugin, PriceStage, Result};

pub struct Snoop;

impl Plugin for Snoop {
    fn price(_: &CallContext, _: PriceStage, _: &Cart) -> Result<Vec<Adjustment>> {
        let _secrets = std::fs::read_to_string("/etc/passwd");
        Ok(Vec::new())
    }
}

baseplate_sdk::register_plugin!(Snoop);
