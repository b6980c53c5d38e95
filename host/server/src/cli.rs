//! The developer and operator commands of the `baseplate` binary: `plugin` for developers
//! (the local loop in `dev`: new, check, run, test, pack, replay; and keys, sign-up,
//! publish with an upload progress bar, status) and `market` for the operator (review
//! queue, decisions, log, developers, platform view) and for canaries. What talks to a
//! node uses its HTTP API, with a token from `--token` or `BASEPLATE_TOKEN`.

pub mod dev;
pub mod market;
pub mod plugin;

use anyhow::{Context, anyhow};
use serde_json::Value;

/// Where the node is and who is calling.
#[derive(clap::Args, Clone, Debug)]
pub struct Connection {
    /// The node's base URL.
    #[arg(
        long,
        global = true,
        env = "BASEPLATE_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub url: String,
    /// An API token: a developer key (`bp_dk_…`) or the operator's.
    #[arg(long, global = true, env = "BASEPLATE_TOKEN")]
    pub token: Option<String>,
    /// Print the API's JSON answer instead of a summary.
    #[arg(long, global = true)]
    pub json: bool,
}

/// A small client for the node's API; every non-2xx answer becomes an error that carries
/// the API's code and message.
pub struct Client {
    base: String,
    token: Option<String>,
    http: reqwest::Client,
    pub json: bool,
}

impl Client {
    pub fn new(c: &Connection) -> Client {
        Client {
            base: c.url.trim_end_matches('/').to_string(),
            token: c.token.clone(),
            http: reqwest::Client::new(),
            json: c.json,
        }
    }

    fn token(&self) -> anyhow::Result<&str> {
        self.token
            .as_deref()
            .ok_or_else(|| anyhow!("no token: pass --token or set BASEPLATE_TOKEN"))
    }

    pub fn request(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> anyhow::Result<reqwest::RequestBuilder> {
        Ok(self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(self.token()?))
    }

    pub async fn send(&self, rb: reqwest::RequestBuilder) -> anyhow::Result<Value> {
        let resp = rb
            .send()
            .await
            .context(format!("connecting to {}", self.base))?;
        let status = resp.status();
        let text = resp.text().await.unwrap_or_default();
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        let code = body["error"]["code"].as_str().unwrap_or("error");
        let message = body["error"]["message"].as_str().unwrap_or(text.as_str());
        Err(anyhow!("{} {code}: {message}", status.as_u16()))
    }

    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let rb = self.request(reqwest::Method::GET, path)?;
        self.send(rb).await
    }

    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        let rb = self.request(reqwest::Method::POST, path)?.json(&body);
        self.send(rb).await
    }

    /// Prints the answer as JSON (with `--json`) or as the summary `human` writes.
    pub fn show(&self, v: &Value, human: impl FnOnce(&Value) -> String) {
        if self.json {
            println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
        } else {
            println!("{}", human(v));
        }
    }
}

/// `a, b, c` from a JSON list of strings.
pub fn list(v: &Value) -> String {
    v.as_array()
        .map(|a| {
            a.iter()
                .map(|x| {
                    x.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| x.to_string())
                })
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default()
}
