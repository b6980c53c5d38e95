//! A plugin that tries to read the host's files: its component imports `wasi:filesystem`,
//! which the sandbox never links, so publishing must refuse it by name.

use baseplate_sdk::{Actor, CallContext, Plugin, Result};

struct EscapeFs;

impl Plugin for EscapeFs {
    fn handle_action(_ctx: &CallContext, _a: &Actor, _name: &str, _input: &str) -> Result<String> {
        let text = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
        Ok(format!("{}", text.len()))
    }
}

baseplate_sdk::register_plugin!(EscapeFs);
