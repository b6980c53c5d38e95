//! What the tests over the real binary share: a node in its own process, the CLI, HTTP.
#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const OPERATOR: &str = "bp_op_cli_test";

pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn scratch(tag: &str) -> PathBuf {
    let mut r = [0u8; 6];
    getrandom::fill(&mut r).unwrap();
    let dir = std::env::temp_dir().join(format!("baseplate-cli-{tag}-{}", hex::encode(r)));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Starts `baseplate serve` and returns it with its base URL.
pub fn serve(dir: &Path, database_url: &str) -> (Killed, String) {
    let child = Command::new(env!("CARGO_BIN_EXE_baseplate"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--operator-token",
            OPERATOR,
        ])
        .arg("--database-url")
        .arg(database_url)
        .arg("--cache-dir")
        .arg(dir.join("cache"))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("the binary starts");
    let mut child = Killed(child);
    let mut lines = BufReader::new(child.0.stdout.take().unwrap()).lines();
    let started = Instant::now();
    loop {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "the node did not start"
        );
        match lines.next() {
            Some(Ok(l)) if l.contains("listening on ") => {
                let base = l.split("listening on ").nth(1).unwrap();
                let base = base.split_whitespace().next().unwrap().to_string();
                // Keep draining stdout so the node never blocks on a full pipe.
                std::thread::spawn(move || for _ in lines.by_ref() {});
                return (child, base);
            }
            Some(Ok(_)) => {}
            _ => panic!("the node exited early"),
        }
    }
}

/// Runs `baseplate <args>` and returns its stdout; it must succeed.
pub fn run(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_baseplate"))
        .args(args)
        .env_remove("BASEPLATE_TOKEN")
        .env_remove("BASEPLATE_URL")
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "baseplate {args:?} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// Runs `baseplate <args>` expecting failure; returns its stdout and stderr.
pub fn run_fails(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_baseplate"))
        .args(args)
        .env_remove("BASEPLATE_TOKEN")
        .env("RUST_LOG", "warn")
        .output()
        .expect("the binary runs");
    assert!(!out.status.success(), "baseplate {args:?} should fail");
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

pub fn json_of(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: not JSON:\n{text}"))
}

pub struct Http {
    pub base: String,
    pub client: reqwest::Client,
}

impl Http {
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Value,
    ) -> (u16, Value) {
        let mut rb = self
            .client
            .request(method, format!("{}{path}", self.base))
            .json(&body);
        if let Some(t) = token {
            rb = rb.bearer_auth(t);
        }
        let r = rb.send().await.unwrap();
        let st = r.status().as_u16();
        (st, r.json().await.unwrap_or(Value::Null))
    }
}
