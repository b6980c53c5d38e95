//! The WASI subset a Rust `std` guest links (`wit/sandbox/world.wit`), implemented here so
//! that no call can block or observe the outside world:
//! - clocks are virtual: the wall clock reads the operation's clock, the monotonic clock
//!   starts at zero and only moves forward by what the guest waits for (a `sleep` returns
//!   at once, having "slept"), so a guest can neither stall the host nor tell two runs apart;
//! - randomness comes from the call's seed;
//! - stdin is empty, stdout and stderr lines become the call's log lines;
//! - environment, arguments and working directory are empty; `exit` ends the call as a
//!   trap.
//!
//! Sockets, the filesystem and HTTP are not linked at all; publishing refuses a component
//! that imports them.

use crate::sandbox::Sandbox;
use wasmtime::component::{HasSelf, Linker, Resource};

mod bindings {
    wasmtime::component::bindgen!({
        path: "wit/sandbox",
        world: "wasi",
        imports: { default: trappable },
        with: {
            "wasi:io/poll.pollable": super::Pollable,
            "wasi:io/streams.input-stream": super::InputStream,
            "wasi:io/streams.output-stream": super::OutputStream,
            "wasi:io/error.error": super::IoError,
            "wasi:cli/terminal-input.terminal-input": super::Terminal,
            "wasi:cli/terminal-output.terminal-output": super::Terminal,
        },
    });
}

use bindings::wasi::cli::{
    environment, exit, stderr, stdin, stdout, terminal_input, terminal_output, terminal_stderr,
    terminal_stdin, terminal_stdout,
};
use bindings::wasi::clocks::{monotonic_clock, wall_clock};
use bindings::wasi::io::{error, poll, streams};
use bindings::wasi::random::{insecure, insecure_seed, random};

/// Something a guest can wait on. Ready at once, or at a virtual monotonic time (ns).
pub struct Pollable {
    ready_at: u64,
}

/// stdin: always at its end.
pub struct InputStream;

/// stdout or stderr: lines go to the call's log.
pub struct OutputStream {
    level: &'static str,
}

/// Never made: no stream here fails with an error.
pub struct IoError;

/// Never made: there is no terminal.
pub struct Terminal;

/// Most bytes one `get-random-bytes` may ask for.
const MAX_RANDOM_BYTES: u64 = 1 << 20;

/// Links the WASI subset.
pub(crate) fn add_to_linker(linker: &mut Linker<Sandbox>) -> wasmtime::Result<()> {
    type H = HasSelf<Sandbox>;
    environment::add_to_linker::<Sandbox, H>(linker, |s| s)?;
    exit::add_to_linker::<Sandbox, H>(linker, |s| s)?;
    stdin::add_to_linker::<Sandbox, H>(linker, |s| s)?;
    stdout::add_to_linker::<Sandbox, H>(linker, |s| s)?;
    stderr::add_to_linker::<Sandbox, H>(linker, |s| s)?;
    terminal_input::add_to_linker::<Sandbox, H>(linker, |s| s)?;
    terminal_output::add_to_linker::<Sandbox, H>(linker, |s| s)?;
    terminal_stdin::add_to_linker::<Sandbox, H>(linker, |s| s)?;
    terminal_stdout::add_to_linker::<Sandbox, H>(linker, |s| s)?;
    terminal_stderr::add_to_linker::<Sandbox, H>(linker, |s| s)?;
    monotonic_clock::add_to_linker::<Sandbox, H>(linker, |s| s)?;
    wall_clock::add_to_linker::<Sandbox, H>(linker, |s| s)?;
    error::add_to_linker::<Sandbox, H>(linker, |s| s)?;
    poll::add_to_linker::<Sandbox, H>(linker, |s| s)?;
    streams::add_to_linker::<Sandbox, H>(linker, |s| s)?;
    random::add_to_linker::<Sandbox, H>(linker, |s| s)?;
    insecure::add_to_linker::<Sandbox, H>(linker, |s| s)?;
    insecure_seed::add_to_linker::<Sandbox, H>(linker, |s| s)?;
    Ok(())
}

/// Whether an import name is part of the WASI this host links (any 0.2.x version).
pub fn is_linked(import: &str) -> bool {
    const LINKED: &[&str] = &[
        "wasi:cli/environment",
        "wasi:cli/exit",
        "wasi:cli/stdin",
        "wasi:cli/stdout",
        "wasi:cli/stderr",
        "wasi:cli/terminal-input",
        "wasi:cli/terminal-output",
        "wasi:cli/terminal-stdin",
        "wasi:cli/terminal-stdout",
        "wasi:cli/terminal-stderr",
        "wasi:clocks/monotonic-clock",
        "wasi:clocks/wall-clock",
        "wasi:io/error",
        "wasi:io/poll",
        "wasi:io/streams",
        "wasi:random/random",
        "wasi:random/insecure",
        "wasi:random/insecure-seed",
    ];
    let Some((name, version)) = import.split_once('@') else {
        return false;
    };
    version.starts_with("0.2.") && LINKED.contains(&name)
}

impl environment::Host for Sandbox {
    fn get_environment(&mut self) -> wasmtime::Result<Vec<(String, String)>> {
        self.tick()?;
        Ok(Vec::new())
    }

    fn get_arguments(&mut self) -> wasmtime::Result<Vec<String>> {
        self.tick()?;
        Ok(Vec::new())
    }

    fn initial_cwd(&mut self) -> wasmtime::Result<Option<String>> {
        self.tick()?;
        Ok(None)
    }
}

impl exit::Host for Sandbox {
    fn exit(&mut self, status: Result<(), ()>) -> wasmtime::Result<()> {
        self.violate(
            crate::FailureKind::Trap,
            format!(
                "the plugin called exit ({})",
                if status.is_ok() { "success" } else { "failure" }
            ),
        )
    }

    fn exit_with_code(&mut self, code: u8) -> wasmtime::Result<()> {
        self.violate(
            crate::FailureKind::Trap,
            format!("the plugin called exit with code {code}"),
        )
    }
}

impl stdin::Host for Sandbox {
    fn get_stdin(&mut self) -> wasmtime::Result<Resource<InputStream>> {
        self.tick()?;
        Ok(self.table.push(InputStream)?)
    }
}

impl stdout::Host for Sandbox {
    fn get_stdout(&mut self) -> wasmtime::Result<Resource<OutputStream>> {
        self.tick()?;
        Ok(self.table.push(OutputStream { level: "stdout" })?)
    }
}

impl stderr::Host for Sandbox {
    fn get_stderr(&mut self) -> wasmtime::Result<Resource<OutputStream>> {
        self.tick()?;
        Ok(self.table.push(OutputStream { level: "stderr" })?)
    }
}

impl terminal_input::Host for Sandbox {}
impl terminal_input::HostTerminalInput for Sandbox {
    fn drop(&mut self, r: Resource<Terminal>) -> wasmtime::Result<()> {
        self.table.delete(r)?;
        Ok(())
    }
}
impl terminal_output::Host for Sandbox {}
impl terminal_output::HostTerminalOutput for Sandbox {
    fn drop(&mut self, r: Resource<Terminal>) -> wasmtime::Result<()> {
        self.table.delete(r)?;
        Ok(())
    }
}
impl terminal_stdin::Host for Sandbox {
    fn get_terminal_stdin(&mut self) -> wasmtime::Result<Option<Resource<Terminal>>> {
        Ok(None)
    }
}
impl terminal_stdout::Host for Sandbox {
    fn get_terminal_stdout(&mut self) -> wasmtime::Result<Option<Resource<Terminal>>> {
        Ok(None)
    }
}
impl terminal_stderr::Host for Sandbox {
    fn get_terminal_stderr(&mut self) -> wasmtime::Result<Option<Resource<Terminal>>> {
        Ok(None)
    }
}

impl monotonic_clock::Host for Sandbox {
    fn now(&mut self) -> wasmtime::Result<u64> {
        self.tick()?;
        // Moves on a little with every reading, so "wait until" loops end.
        self.monotonic_ns += 1_000;
        Ok(self.monotonic_ns)
    }

    fn resolution(&mut self) -> wasmtime::Result<u64> {
        Ok(1_000)
    }

    fn subscribe_instant(&mut self, when: u64) -> wasmtime::Result<Resource<Pollable>> {
        self.tick()?;
        Ok(self.table.push(Pollable { ready_at: when })?)
    }

    fn subscribe_duration(&mut self, duration: u64) -> wasmtime::Result<Resource<Pollable>> {
        self.tick()?;
        let ready_at = self.monotonic_ns.saturating_add(duration);
        Ok(self.table.push(Pollable { ready_at })?)
    }
}

impl wall_clock::Host for Sandbox {
    fn now(&mut self) -> wasmtime::Result<wall_clock::Datetime> {
        self.tick()?;
        let ns = (self.env.now.max(0) as u128) * 1_000_000 + self.monotonic_ns as u128;
        Ok(wall_clock::Datetime {
            seconds: (ns / 1_000_000_000) as u64,
            nanoseconds: (ns % 1_000_000_000) as u32,
        })
    }

    fn resolution(&mut self) -> wasmtime::Result<wall_clock::Datetime> {
        Ok(wall_clock::Datetime {
            seconds: 0,
            nanoseconds: 1_000_000,
        })
    }
}

impl error::Host for Sandbox {}
impl error::HostError for Sandbox {
    fn to_debug_string(&mut self, _: Resource<IoError>) -> wasmtime::Result<String> {
        Ok(String::new())
    }

    fn drop(&mut self, r: Resource<IoError>) -> wasmtime::Result<()> {
        self.table.delete(r)?;
        Ok(())
    }
}

impl Sandbox {
    /// Waits (virtually) until one of the pollables is ready: the monotonic clock jumps to
    /// the earliest of them. Never blocks.
    fn wait_for(&mut self, ready_at: &[u64]) -> Vec<u32> {
        let earliest = ready_at.iter().copied().min().unwrap_or(self.monotonic_ns);
        if earliest > self.monotonic_ns {
            self.monotonic_ns = earliest;
        }
        ready_at
            .iter()
            .enumerate()
            .filter(|(_, t)| **t <= self.monotonic_ns)
            .map(|(i, _)| i as u32)
            .collect()
    }
}

impl poll::Host for Sandbox {
    fn poll(&mut self, list: Vec<Resource<Pollable>>) -> wasmtime::Result<Vec<u32>> {
        self.tick()?;
        if list.is_empty() {
            return self.violate(
                crate::FailureKind::Violation,
                "poll with an empty list would wait forever".into(),
            );
        }
        let mut times = Vec::with_capacity(list.len());
        for p in &list {
            times.push(self.table.get(p)?.ready_at);
        }
        Ok(self.wait_for(&times))
    }
}

impl poll::HostPollable for Sandbox {
    fn ready(&mut self, p: Resource<Pollable>) -> wasmtime::Result<bool> {
        self.tick()?;
        Ok(self.table.get(&p)?.ready_at <= self.monotonic_ns)
    }

    fn block(&mut self, p: Resource<Pollable>) -> wasmtime::Result<()> {
        self.tick()?;
        let t = self.table.get(&p)?.ready_at;
        self.wait_for(&[t]);
        Ok(())
    }

    fn drop(&mut self, p: Resource<Pollable>) -> wasmtime::Result<()> {
        self.table.delete(p)?;
        Ok(())
    }
}

impl streams::Host for Sandbox {}

impl streams::HostInputStream for Sandbox {
    fn read(
        &mut self,
        _: Resource<InputStream>,
        _: u64,
    ) -> wasmtime::Result<Result<Vec<u8>, streams::StreamError>> {
        self.tick()?;
        Ok(Err(streams::StreamError::Closed))
    }

    fn blocking_read(
        &mut self,
        _: Resource<InputStream>,
        _: u64,
    ) -> wasmtime::Result<Result<Vec<u8>, streams::StreamError>> {
        self.tick()?;
        Ok(Err(streams::StreamError::Closed))
    }

    fn skip(
        &mut self,
        _: Resource<InputStream>,
        _: u64,
    ) -> wasmtime::Result<Result<u64, streams::StreamError>> {
        self.tick()?;
        Ok(Err(streams::StreamError::Closed))
    }

    fn blocking_skip(
        &mut self,
        _: Resource<InputStream>,
        _: u64,
    ) -> wasmtime::Result<Result<u64, streams::StreamError>> {
        self.tick()?;
        Ok(Err(streams::StreamError::Closed))
    }

    fn subscribe(&mut self, _: Resource<InputStream>) -> wasmtime::Result<Resource<Pollable>> {
        self.tick()?;
        Ok(self.table.push(Pollable { ready_at: 0 })?)
    }

    fn drop(&mut self, r: Resource<InputStream>) -> wasmtime::Result<()> {
        self.table.delete(r)?;
        Ok(())
    }
}

/// What a stream accepts per write.
const WRITE_BUDGET: u64 = 4096;

impl streams::HostOutputStream for Sandbox {
    fn check_write(
        &mut self,
        _: Resource<OutputStream>,
    ) -> wasmtime::Result<Result<u64, streams::StreamError>> {
        self.tick()?;
        Ok(Ok(WRITE_BUDGET))
    }

    fn write(
        &mut self,
        s: Resource<OutputStream>,
        contents: Vec<u8>,
    ) -> wasmtime::Result<Result<(), streams::StreamError>> {
        self.tick()?;
        let level = self.table.get(&s)?.level;
        self.capture(level, &contents);
        Ok(Ok(()))
    }

    fn blocking_write_and_flush(
        &mut self,
        s: Resource<OutputStream>,
        contents: Vec<u8>,
    ) -> wasmtime::Result<Result<(), streams::StreamError>> {
        self.write(s, contents)
    }

    fn flush(
        &mut self,
        _: Resource<OutputStream>,
    ) -> wasmtime::Result<Result<(), streams::StreamError>> {
        self.tick()?;
        Ok(Ok(()))
    }

    fn blocking_flush(
        &mut self,
        _: Resource<OutputStream>,
    ) -> wasmtime::Result<Result<(), streams::StreamError>> {
        self.tick()?;
        Ok(Ok(()))
    }

    fn subscribe(&mut self, _: Resource<OutputStream>) -> wasmtime::Result<Resource<Pollable>> {
        self.tick()?;
        Ok(self.table.push(Pollable { ready_at: 0 })?)
    }

    fn write_zeroes(
        &mut self,
        _: Resource<OutputStream>,
        _: u64,
    ) -> wasmtime::Result<Result<(), streams::StreamError>> {
        self.tick()?;
        Ok(Ok(()))
    }

    fn blocking_write_zeroes_and_flush(
        &mut self,
        _: Resource<OutputStream>,
        _: u64,
    ) -> wasmtime::Result<Result<(), streams::StreamError>> {
        self.tick()?;
        Ok(Ok(()))
    }

    fn splice(
        &mut self,
        _: Resource<OutputStream>,
        _: Resource<InputStream>,
        _: u64,
    ) -> wasmtime::Result<Result<u64, streams::StreamError>> {
        self.tick()?;
        Ok(Err(streams::StreamError::Closed))
    }

    fn blocking_splice(
        &mut self,
        _: Resource<OutputStream>,
        _: Resource<InputStream>,
        _: u64,
    ) -> wasmtime::Result<Result<u64, streams::StreamError>> {
        self.tick()?;
        Ok(Err(streams::StreamError::Closed))
    }

    fn drop(&mut self, r: Resource<OutputStream>) -> wasmtime::Result<()> {
        self.table.delete(r)?;
        Ok(())
    }
}

impl random::Host for Sandbox {
    fn get_random_bytes(&mut self, len: u64) -> wasmtime::Result<Vec<u8>> {
        self.tick()?;
        if len > MAX_RANDOM_BYTES {
            return self.violate(
                crate::FailureKind::Violation,
                format!("asked for {len} random bytes (at most {MAX_RANDOM_BYTES})"),
            );
        }
        let mut out = Vec::with_capacity(len as usize);
        while out.len() < len as usize {
            out.extend_from_slice(&self.next_random().to_le_bytes());
        }
        out.truncate(len as usize);
        Ok(out)
    }

    fn get_random_u64(&mut self) -> wasmtime::Result<u64> {
        self.tick()?;
        Ok(self.next_random())
    }
}

impl insecure::Host for Sandbox {
    fn get_insecure_random_bytes(&mut self, len: u64) -> wasmtime::Result<Vec<u8>> {
        random::Host::get_random_bytes(self, len)
    }

    fn get_insecure_random_u64(&mut self) -> wasmtime::Result<u64> {
        random::Host::get_random_u64(self)
    }
}

impl insecure_seed::Host for Sandbox {
    fn insecure_seed(&mut self) -> wasmtime::Result<(u64, u64)> {
        self.tick()?;
        Ok((self.next_random(), self.next_random()))
    }
}
