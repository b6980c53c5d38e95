//! A plugin that tries to open a socket: its component imports `wasi:sockets`, which the
//! sandbox never links, so publishing must refuse it by name.

use baseplate_sdk::{Actor, CallContext, Plugin, Result};

struct EscapeNet;

impl Plugin for EscapeNet {
    fn handle_action(_ctx: &CallContext, _a: &Actor, _name: &str, _input: &str) -> Result<String> {
        let ok = std::net::TcpStream::connect("127.0.0.1:5432").is_ok();
        Ok(ok.to_string())
    }
}

baseplate_sdk::register_plugin!(EscapeNet);
