//! A deliberately bad plugin for the host's sandbox tests: each action misbehaves in one
//! way (CPU, memory, stack, traps after writes, oversized output) so a test can check the
//! host stops it cleanly, records the failure, commits none of its writes, and stays up.
//! `write-ok` and `echo` are the well-behaved controls.

use baseplate_sdk::{
    Actor, Adjustment, CallContext, Cart, Plugin, PluginError, PriceStage, Result, state,
};
use std::hint::black_box;

struct Hostile;

impl Plugin for Hostile {
    fn price(_ctx: &CallContext, stage: PriceStage, cart: &Cart) -> Result<Vec<Adjustment>> {
        let input = cart.input.as_deref().map(str::trim);
        if stage == PriceStage::Item && matches!(input, Some("spin" | "\"spin\"")) {
            spin();
        }
        Ok(Vec::new())
    }

    fn handle_action(
        _ctx: &CallContext,
        _actor: &Actor,
        name: &str,
        input: &str,
    ) -> Result<String> {
        match name {
            "spin" => spin(),
            "alloc" => alloc(),
            "recurse" => Ok(recurse(0).to_string()),
            "write-then-trap" => {
                for i in 0..3 {
                    state::set(&format!("trap/{i}"), input.as_bytes());
                }
                panic!("hostile: trapping after writing state");
            }
            "write-ok" => {
                state::set("ok", input.as_bytes());
                Ok(input.to_string())
            }
            // A JSON string, so only the size is wrong with it.
            "big-output" => Ok(big_json_string(10 << 20)),
            "echo" => Ok(input.to_string()),
            _ => Err(PluginError::not_found(format!("unknown action `{name}`"))),
        }
    }
}

/// A JSON string of `len` x's built in one allocation, so it fits the memory cap and the
/// host's output-size check is what stops it.
fn big_json_string(len: usize) -> String {
    let mut s = String::with_capacity(len + 2);
    s.push('"');
    s.extend(std::iter::repeat_n('x', len));
    s.push('"');
    s
}

/// Burns CPU until the host's deadline interrupts it.
fn spin() -> ! {
    let mut n: u64 = 0;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

/// Allocates and touches 1 MiB blocks until the memory cap stops it.
fn alloc() -> ! {
    let mut blocks: Vec<Vec<u8>> = Vec::new();
    loop {
        blocks.push(vec![black_box(0xa5u8); 1 << 20]);
        black_box(&blocks);
    }
}

/// Recurses until the stack cap stops it; black_box keeps the optimizer from turning it
/// into a loop or proving it never returns.
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth; 16]);
    if black_box(depth) == u64::MAX {
        return 0;
    }
    recurse(depth + 1).wrapping_add(frame[black_box(3)])
}

baseplate_sdk::register_plugin!(Hostile);
