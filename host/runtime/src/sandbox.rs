//! The per-call store data: who is calling (fixed by the host), the operation's overlay,
//! the call's clock, randomness and budgets, and how the call broke a rule if it did.

use crate::limits::{MAX_LOG_BYTES, MAX_LOG_LINES};
use crate::overlay::Overlay;
use crate::types::{CallEnv, CallError, FailureKind, LogLine, PluginError};
use crate::{Limits, Quota};
use std::time::{Duration, Instant};
use wasmtime::component::ResourceTable;

pub struct Sandbox {
    pub(crate) env: CallEnv,
    pub(crate) overlay: Overlay,
    pub(crate) table: ResourceTable,
    pub(crate) caps: Caps,
    pub(crate) quota: Quota,
    rng: u64,
    /// The virtual monotonic clock (ns), see `wasi`.
    pub(crate) monotonic_ns: u64,
    host_calls: u32,
    max_host_calls: u32,
    pub(crate) started: Instant,
    pub(crate) deadline: Duration,
    pub(crate) until: Instant,
    pub(crate) read_only: bool,
    pub(crate) hook: &'static str,
    pub(crate) logs: Vec<LogLine>,
    /// Partial stdout/stderr lines.
    pending_output: Vec<u8>,
    /// How the call broke a rule, so its trap is reported as that.
    violation: Option<(FailureKind, String)>,
    /// A refusal the host made for the plugin (a quota), reported as its `refused` error.
    pub(crate) refusal: Option<PluginError>,
    data_error: Option<String>,
    pub(crate) demoted: bool,
}

/// Memory and table caps; records a hit so the trap reads as "memory limit".
pub(crate) struct Caps {
    memory: usize,
    table_elements: usize,
    hit: Option<String>,
    /// Bytes of linear memory the instance holds now, and the most it has held.
    pub(crate) in_use: usize,
    pub(crate) peak: usize,
}

#[derive(Debug)]
struct LimitHit;

impl std::fmt::Display for LimitHit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("resource limit hit")
    }
}

impl std::error::Error for LimitHit {}

impl wasmtime::ResourceLimiter for Caps {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory {
            self.hit = Some(format!(
                "memory would grow to {desired} bytes, over the {}-byte limit",
                self.memory
            ));
            return Err(wasmtime::Error::new(LimitHit));
        }
        self.in_use = self.in_use.saturating_sub(current) + desired;
        self.peak = self.peak.max(self.in_use);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.table_elements {
            self.hit = Some(format!(
                "a table would grow to {desired} elements, over the {} limit",
                self.table_elements
            ));
            return Err(wasmtime::Error::new(LimitHit));
        }
        Ok(true)
    }

    fn instances(&self) -> usize {
        50
    }

    fn tables(&self) -> usize {
        10
    }

    fn memories(&self) -> usize {
        4
    }
}

/// The trap a host import raises when the plugin breaks a rule.
#[derive(Debug)]
pub(crate) struct Violation;

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the plugin broke a rule of the sandbox")
    }
}

impl std::error::Error for Violation {}

/// The trap the epoch callback raises past the deadline.
#[derive(Debug)]
pub(crate) struct DeadlineExceeded;

impl std::fmt::Display for DeadlineExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("the plugin ran past its deadline")
    }
}

impl std::error::Error for DeadlineExceeded {}

/// Marks an error raised while instantiating.
#[derive(Debug)]
pub(crate) struct Instantiating;

impl std::fmt::Display for Instantiating {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("instantiating the plugin")
    }
}

impl std::error::Error for Instantiating {}

impl Sandbox {
    pub(crate) fn new(
        env: CallEnv,
        overlay: Overlay,
        limits: &Limits,
        hook: &'static str,
        read_only: bool,
        started: Instant,
    ) -> Sandbox {
        Sandbox {
            rng: env.seed ^ 0x9E37_79B9_7F4A_7C15,
            env,
            overlay,
            table: ResourceTable::new(),
            caps: Caps {
                memory: limits.memory_bytes,
                table_elements: limits.table_elements,
                hit: None,
                in_use: 0,
                peak: 0,
            },
            quota: limits.quota,
            monotonic_ns: 0,
            host_calls: 0,
            max_host_calls: limits.max_host_calls,
            started,
            deadline: limits.deadline,
            until: started + limits.deadline,
            read_only,
            hook,
            logs: Vec::new(),
            pending_output: Vec::new(),
            violation: None,
            refusal: None,
            data_error: None,
            demoted: false,
        }
    }

    /// Makes a kept instance's state ready for the next hook of the same operation: a new
    /// call's clock, budgets and seed; the guest's resources (stdout handles its `std` may
    /// have cached) stay in the table.
    pub(crate) fn reset(
        &mut self,
        env: CallEnv,
        overlay: Overlay,
        limits: &Limits,
        hook: &'static str,
        read_only: bool,
        started: Instant,
    ) {
        self.rng = env.seed ^ 0x9E37_79B9_7F4A_7C15;
        self.env = env;
        self.overlay = overlay;
        self.caps.hit = None;
        self.host_calls = 0;
        self.started = started;
        self.until = started + limits.deadline;
        self.read_only = read_only;
        self.hook = hook;
        self.logs.clear();
        self.pending_output.clear();
        self.violation = None;
        self.refusal = None;
        self.data_error = None;
        self.demoted = false;
    }

    pub(crate) fn out_of_time(&self) -> bool {
        Instant::now() >= self.until
    }

    /// Counts a host call and checks the budgets before doing it.
    pub(crate) fn tick(&mut self) -> wasmtime::Result<()> {
        self.host_calls += 1;
        if self.host_calls > self.max_host_calls {
            return self.violate(
                FailureKind::HostCallLimit,
                format!("more than {} host calls in one call", self.max_host_calls),
            );
        }
        if self.out_of_time() {
            return Err(wasmtime::Error::new(DeadlineExceeded));
        }
        Ok(())
    }

    /// Refuses a write during a read-only hook.
    pub(crate) fn writable(&mut self, what: &str) -> wasmtime::Result<()> {
        if self.read_only {
            return self.violate(
                FailureKind::Violation,
                format!("{what} during {}: this hook may only read", self.hook),
            );
        }
        Ok(())
    }

    pub(crate) fn violate<T>(&mut self, kind: FailureKind, message: String) -> wasmtime::Result<T> {
        self.violation = Some((kind, message));
        Err(wasmtime::Error::new(Violation))
    }

    /// Ends the call with a `refused` error the host gives for the plugin (a quota).
    pub(crate) fn refuse<T>(&mut self, message: String) -> wasmtime::Result<T> {
        self.refusal = Some(PluginError::Refused(message));
        Err(wasmtime::Error::new(Violation))
    }

    /// A read of the shop's data failed: the call fails, the operation may be retried.
    pub(crate) fn data<T>(&mut self, r: Result<T, crate::data::DataError>) -> wasmtime::Result<T> {
        r.map_err(|e| {
            self.data_error = Some(e.0.clone());
            wasmtime::Error::msg(e.0)
        })
    }

    pub(crate) fn next_random(&mut self) -> u64 {
        // splitmix64: deterministic from the call's seed, so a call can be replayed.
        self.rng = self.rng.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A fresh id from the call's randomness and clock (so a retry makes the same ids).
    pub(crate) fn new_id(&mut self, prefix: &str) -> String {
        let mut random = [0u8; 10];
        random[..8].copy_from_slice(&self.next_random().to_le_bytes());
        random[8..].copy_from_slice(&self.next_random().to_le_bytes()[..2]);
        baseplate_domain::new_id(prefix, self.env.now, random)
    }

    pub(crate) fn log(&mut self, level: &'static str, mut message: String) {
        if message.len() > MAX_LOG_BYTES {
            let mut cut = MAX_LOG_BYTES;
            while !message.is_char_boundary(cut) {
                cut -= 1;
            }
            message.truncate(cut);
        }
        tracing::debug!(target: "baseplate::plugin", shop = %self.env.shop_id, plugin = %self.env.plugin, level, "{message}");
        if self.logs.len() < MAX_LOG_LINES {
            self.logs.push(crate::types::LogLine { level, message });
        }
    }

    /// stdout/stderr bytes: whole lines become log lines.
    pub(crate) fn capture(&mut self, level: &'static str, bytes: &[u8]) {
        if self.logs.len() >= MAX_LOG_LINES {
            return;
        }
        self.pending_output.extend_from_slice(bytes);
        while let Some(i) = self.pending_output.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending_output.drain(..=i).collect();
            let text = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            self.log(level, text);
        }
        if self.pending_output.len() > MAX_LOG_BYTES {
            let rest = std::mem::take(&mut self.pending_output);
            self.log(level, String::from_utf8_lossy(&rest).into_owned());
        }
    }

    pub(crate) fn flush_output(&mut self) {
        if !self.pending_output.is_empty() {
            let rest = std::mem::take(&mut self.pending_output);
            self.log("stderr", String::from_utf8_lossy(&rest).into_owned());
        }
    }

    /// Turns a trap into the failure the merchant reads.
    pub(crate) fn classify(&mut self, e: wasmtime::Error) -> CallError {
        if let Some(m) = self.data_error.take() {
            return CallError::Data(m);
        }
        if let Some(r) = self.refusal.take() {
            return CallError::Plugin(r);
        }
        if e.downcast_ref::<DeadlineExceeded>().is_some() || self.out_of_time() {
            return CallError::Fault {
                kind: FailureKind::Timeout,
                message: format!(
                    "the plugin ran past its {} ms deadline",
                    self.deadline.as_millis()
                ),
            };
        }
        if let Some(msg) = self.caps.hit.take() {
            return CallError::Fault {
                kind: FailureKind::MemoryLimit,
                message: msg,
            };
        }
        if let Some((kind, message)) = self.violation.take() {
            return CallError::Fault { kind, message };
        }
        if e.downcast_ref::<Instantiating>().is_some() {
            return CallError::Fault {
                kind: FailureKind::Instantiate,
                message: format!("{e:#}"),
            };
        }
        let message = match e.downcast_ref::<wasmtime::Trap>() {
            Some(trap) => format!("trap: {trap}"),
            None => format!("{e:#}"),
        };
        CallError::Fault {
            kind: FailureKind::Trap,
            message,
        }
    }
}
