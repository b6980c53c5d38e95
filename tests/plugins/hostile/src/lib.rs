//! A deliberately bad plugin for the host's sandbox tests: each action misbehaves in one
//! way (CPU, memory, stack, traps after writes, oversized output, blocking sleeps, state and
//! timer floods, ledger overflow) so a test can check the host stops it cleanly, records the
//! failure, commits none of its writes, and stays up. `write-ok` and `echo` are the
//! well-behaved controls.

use baseplate_sdk::{
    Actor, Adjustment, CallContext, Cart, LedgerEntry, Party, Plugin, PluginError, PriceStage,
    Result, ledger, state, timers,
};
use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct Flood {
    /// How many keys (or timers).
    count: u32,
    /// Bytes per value.
    size: usize,
    /// Distinguishes runs.
    prefix: String,
}

struct Hostile;

impl Plugin for Hostile {
    fn price(_ctx: &CallContext, stage: PriceStage, cart: &Cart) -> Result<Vec<Adjustment>> {
        let input = cart.input.as_deref().map(str::trim);
        if stage == PriceStage::Item && matches!(input, Some("spin" | "\"spin\"")) {
            spin();
        }
        if stage == PriceStage::Item && matches!(input, Some("sleep" | "\"sleep\"")) {
            // A guest blocking on a WASI clock pollable for 3 s.
            std::thread::sleep(Duration::from_secs(3));
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
            // Blocks on a WASI clock for a minute, then says how long it thinks it slept.
            "sleep" => {
                let started = Instant::now();
                std::thread::sleep(Duration::from_secs(60));
                let slept = started.elapsed().as_millis();
                state::set("slept", slept.to_string().as_bytes());
                Ok(format!("{{\"slept_ms\": {slept}}}"))
            }
            // Sleeps in a loop forever: only the deadline ends it.
            "sleep-loop" => loop {
                std::thread::sleep(Duration::from_millis(1));
            },
            // What the guest's clocks say: the host's operation clock, not the real one.
            "clocks" => {
                let wall = SystemTime::now()
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map(|d| d.as_millis())
                    .unwrap_or(0);
                let mut seed = [0u8; 8];
                getrandom_bytes(&mut seed);
                Ok(format!(
                    "{{\"wall_ms\": {wall}, \"random\": \"{}\"}}",
                    seed.iter().map(|b| format!("{b:02x}")).collect::<String>()
                ))
            }
            // Writes `count` keys of `size` bytes.
            "fill" => {
                let f: Flood = baseplate_sdk::parse_json(input)?;
                let value = vec![b'x'; f.size];
                for i in 0..f.count {
                    state::set(&format!("fill/{}/{i}", f.prefix), &value);
                }
                Ok(format!("{{\"written\": {}}}", f.count))
            }
            // Schedules `count` timers, due now.
            "schedule" => {
                let f: Flood = baseplate_sdk::parse_json(input)?;
                let now = baseplate_sdk::host::now();
                for i in 0..f.count {
                    timers::schedule(&format!("t/{}/{i}", f.prefix), now, b"");
                }
                Ok(format!("{{\"scheduled\": {}}}", f.count))
            }
            // Two postings that each balance but whose amounts overflow any sum.
            "poison-ledger" => {
                let entries = |sign: i64| {
                    vec![
                        LedgerEntry {
                            party: Party::Shop,
                            account: "poison".into(),
                            amount: sign * i64::MAX,
                            available_at: None,
                        },
                        LedgerEntry {
                            party: Party::Platform,
                            account: "poison".into(),
                            amount: -sign * i64::MAX,
                            available_at: None,
                        },
                    ]
                };
                ledger::post("overflow", &entries(1), None)?;
                ledger::post("overflow", &entries(1), None)?;
                Ok("{}".into())
            }
            _ => Err(PluginError::not_found(format!("unknown action `{name}`"))),
        }
    }

    fn fire_timer(_ctx: &CallContext, name: &str, _payload: &[u8]) -> Result<()> {
        // Records each firing, so a test can see which timers ran.
        state::set(&format!("fired/{name}"), b"1");
        Ok(())
    }
}

/// Random bytes through WASI (std's HashMap seeds come from here too).
fn getrandom_bytes(out: &mut [u8]) {
    use std::hash::{BuildHasher, Hasher};
    for chunk in out.chunks_mut(8) {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u8(0);
        let v = h.finish().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
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
