//! `baseplate plugin …`: what a third-party developer runs — make a signing key, sign up,
//! register the key, publish a signed version (with an upload progress bar), follow its
//! review.

use super::{Client, Connection, list};
use anyhow::{Context, anyhow, bail};
use base64::Engine as _;
use baseplate_marketplace::{Manifest, PublisherKey};
use futures::StreamExt as _;
use serde_json::json;
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    connection: Connection,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Make an ed25519 signing key: the secret goes to FILE, the public key is printed.
    Keygen {
        #[arg(long)]
        out: PathBuf,
    },
    /// Sign up as a developer (the operator approves the account); prints your API token.
    Signup {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: Option<String>,
    },
    /// Register the public half of a signing key with your account.
    RegisterKey {
        /// The secret key file `keygen` wrote.
        #[arg(long)]
        key: PathBuf,
        #[arg(long, default_value = "signing key")]
        name: String,
    },
    /// Replace a registered key by a new one (the old one signs nothing more).
    RotateKey {
        /// The id of the key to replace.
        #[arg(long)]
        old: String,
        /// The new secret key file.
        #[arg(long)]
        key: PathBuf,
        #[arg(long, default_value = "signing key")]
        name: String,
    },
    /// Sign and publish a version for review.
    Publish {
        /// The plugin's plugin.toml.
        #[arg(long)]
        manifest: PathBuf,
        /// The component (.wasm) built for wasm32-wasip2.
        #[arg(long)]
        component: PathBuf,
        /// The secret signing key file.
        #[arg(long)]
        key: PathBuf,
        /// The registered key's id (looked up from the key when left out).
        #[arg(long)]
        key_id: Option<String>,
    },
    /// Your account, keys and plugins with every version's review state.
    Status,
}

fn read_key(path: &PathBuf) -> anyhow::Result<PublisherKey> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the signing key {}", path.display()))?;
    PublisherKey::from_hex(text.trim()).map_err(|e| anyhow!("{}: {e}", path.display()))
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let client = Client::new(&args.connection);
    match args.command {
        Command::Keygen { out } => {
            if out.exists() {
                bail!("{} exists; refusing to overwrite a key", out.display());
            }
            let key = PublisherKey::generate()?;
            write_secret(&out, &key.to_hex())?;
            println!("{}", key.public().to_hex());
            eprintln!(
                "secret key written to {}; register the public key above with `baseplate plugin register-key --key {}`",
                out.display(),
                out.display()
            );
        }
        Command::Signup { name, email } => {
            let resp = reqwest::Client::new()
                .post(format!(
                    "{}/api/v1/developers",
                    args.connection.url.trim_end_matches('/')
                ))
                .json(&json!({ "name": name, "email": email }));
            let v = client.send(resp).await?;
            client.show(&v, |v| {
                format!(
                    "developer {} ({}) signed up: {}\nAPI token (shown once): {}",
                    v["developer"]["id"].as_str().unwrap_or(""),
                    v["developer"]["name"].as_str().unwrap_or(""),
                    v["developer"]["status"].as_str().unwrap_or(""),
                    v["api_key"]["token"].as_str().unwrap_or("")
                )
            });
        }
        Command::RegisterKey { key, name } => {
            let key = read_key(&key)?;
            let v = client
                .post(
                    "/api/v1/developer/signing-keys",
                    json!({ "name": name, "public_key": key.public().to_hex() }),
                )
                .await?;
            client.show(&v, |v| {
                format!(
                    "registered signing key {} ({})",
                    v["id"].as_str().unwrap_or(""),
                    v["public_key"].as_str().unwrap_or("")
                )
            });
        }
        Command::RotateKey { old, key, name } => {
            let key = read_key(&key)?;
            let v = client
                .post(
                    &format!("/api/v1/developer/signing-keys/{old}/rotate"),
                    json!({ "name": name, "public_key": key.public().to_hex() }),
                )
                .await?;
            client.show(&v, |v| {
                format!(
                    "registered signing key {}; {old} is revoked",
                    v["id"].as_str().unwrap_or("")
                )
            });
        }
        Command::Publish {
            manifest,
            component,
            key,
            key_id,
        } => publish(&client, &manifest, &component, &key, key_id).await?,
        Command::Status => {
            let v = client.get("/api/v1/developer/plugins").await?;
            client.show(&v, |v| {
                let mut out = String::new();
                for p in v["plugins"].as_array().into_iter().flatten() {
                    out.push_str(&format!(
                        "{} ({} installs)\n",
                        p["name"].as_str().unwrap_or(""),
                        p["installs"]
                    ));
                    for ver in p["versions"].as_array().into_iter().flatten() {
                        out.push_str(&format!(
                            "  {:<12} {:<10} {:<9} {}\n",
                            ver["version"].as_str().unwrap_or(""),
                            ver["state"].as_str().unwrap_or(""),
                            ver["rollout"].as_str().unwrap_or(""),
                            ver["state_reason"].as_str().unwrap_or("")
                        ));
                    }
                }
                if out.is_empty() {
                    out.push_str("no plugins yet");
                }
                out.trim_end().to_string()
            });
        }
    }
    Ok(())
}

fn write_secret(path: &PathBuf, hex: &str) -> anyhow::Result<()> {
    use std::io::Write as _;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    writeln!(f, "{hex}")?;
    Ok(())
}

async fn publish(
    client: &Client,
    manifest_path: &PathBuf,
    component_path: &PathBuf,
    key_path: &PathBuf,
    key_id: Option<String>,
) -> anyhow::Result<()> {
    let manifest_text = std::fs::read_to_string(manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    let manifest =
        Manifest::parse(&manifest_text).map_err(|e| anyhow!("{}: {e}", manifest_path.display()))?;
    let component = std::fs::read(component_path)
        .with_context(|| format!("reading {}", component_path.display()))?;
    let key = read_key(key_path)?;
    let key_id = match key_id {
        Some(id) => id,
        None => {
            let me = client.get("/api/v1/developer").await?;
            let public = key.public().to_hex();
            me["signing_keys"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|k| k["public_key"] == public.as_str() && k["revoked_at"].is_null())
                .and_then(|k| k["id"].as_str().map(str::to_string))
                .ok_or_else(|| {
                    anyhow!(
                        "the key in {} is not an active registered key of yours; run `baseplate plugin register-key --key {}` first",
                        key_path.display(),
                        key_path.display()
                    )
                })?
        }
    };
    let signature = key.sign(&manifest, &component);
    let body = serde_json::to_vec(&json!({
        "manifest": manifest_text,
        "component": base64::engine::general_purpose::STANDARD.encode(&component),
        "signature": signature.to_hex(),
        "key_id": key_id,
    }))?;
    let total = body.len() as u64;
    let bar = indicatif::ProgressBar::new(total);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "uploading {msg} [{bar:30}] {bytes}/{total_bytes} ({bytes_per_sec})",
        )
        .map_err(|e| anyhow!("{e}"))?
        .progress_chars("=> "),
    );
    bar.set_message(format!("{}@{}", manifest.name, manifest.version));
    let chunks: Vec<Vec<u8>> = body.chunks(64 << 10).map(<[u8]>::to_vec).collect();
    let progress = bar.clone();
    let stream = futures::stream::iter(chunks).map(move |chunk| {
        progress.inc(chunk.len() as u64);
        Ok::<_, std::io::Error>(chunk)
    });
    let rb = client
        .request(reqwest::Method::POST, "/api/v1/developer/packages")?
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header(reqwest::header::CONTENT_LENGTH, total)
        .body(reqwest::Body::wrap_stream(stream));
    let result = client.send(rb).await;
    bar.finish_and_clear();
    let v = result?;
    client.show(&v, |v| {
        format!(
            "published {}@{} for review: {} ({} bytes, sha256 {}), capabilities: [{}]",
            v["name"].as_str().unwrap_or(""),
            v["version"].as_str().unwrap_or(""),
            v["state"].as_str().unwrap_or(""),
            v["size"],
            v["digest"].as_str().unwrap_or(""),
            list(&v["capabilities"])
        )
    });
    Ok(())
}
