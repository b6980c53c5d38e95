//! `baseplate plugin …`: what a third-party developer runs — scaffold a plugin, check it,
//! run its hooks in the production sandbox, test, pack; make a signing key, sign up,
//! register the key, publish a signed version (with an upload progress bar), follow its
//! review; replay a call recorded in a shop.

use super::dev::{self, Project};
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
    /// Make a new plugin crate in DIR/NAME (its own workspace; builds with plain cargo).
    New {
        name: String,
        /// The folder to make it in.
        #[arg(long, default_value = ".")]
        dir: PathBuf,
        /// Depend on the SDK at this path (default: the SDK this binary was built with, if
        /// its sources are still there, else `baseplate-sdk = "0.2"`).
        #[arg(long)]
        sdk_path: Option<PathBuf>,
    },
    /// Run the registry's publish checks on the built component, locally.
    Check {
        #[command(flatten)]
        project: Project,
        /// Build the component first.
        #[arg(long)]
        build: bool,
    },
    /// Run one hook in the real sandbox, with the production limits, against a call record
    /// (fixture): prints the output, the effects, the logs, the time and memory used.
    Run {
        /// validate-config, price, validate-checkout, order-created, handle-event,
        /// handle-action or fire-timer.
        hook: String,
        /// The call record (JSON); see `fixtures/` of a new plugin.
        #[arg(long)]
        input: Option<PathBuf>,
        #[command(flatten)]
        project: Project,
        /// The merchant's config (JSON), instead of the record's.
        #[arg(long)]
        config: Option<String>,
        /// The call's clock (ms since epoch), instead of the record's.
        #[arg(long)]
        now: Option<i64>,
        /// The call's random seed, instead of the record's.
        #[arg(long)]
        seed: Option<u64>,
        /// Build the component first.
        #[arg(long)]
        build: bool,
    },
    /// `cargo test`, build, check, then run every fixtures/*.json and compare with its
    /// `expect`.
    Test {
        #[command(flatten)]
        project: Project,
        /// Skip `cargo test` (the native unit tests).
        #[arg(long)]
        no_cargo_test: bool,
    },
    /// Build reproducibly, check and sign into dist/: NAME-VERSION.wasm, .plugin.toml and
    /// .sig.json, ready for `publish --pack dist`.
    Pack {
        #[command(flatten)]
        project: Project,
        /// The secret signing key file.
        #[arg(long)]
        key: PathBuf,
        /// Where to write (default: <dir>/dist).
        #[arg(long)]
        out: Option<PathBuf>,
    },
    /// Fetch a call recorded in a shop (the merchant turns diagnostics on) and run it
    /// against this build, showing what changed. Needs the shop's staff token.
    Replay {
        /// The recorded call's id (`GET /api/v1/plugins/{name}/runs`).
        run: i64,
        #[command(flatten)]
        project: Project,
        /// Build the component first.
        #[arg(long)]
        build: bool,
        /// Run it again every time the component is rebuilt (until Ctrl-C).
        #[arg(long)]
        watch: bool,
        /// Save the record to this file (to add it to fixtures/).
        #[arg(long)]
        save: Option<PathBuf>,
    },
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
    /// Sign and publish a version for review: a pack (`--pack dist`), or a manifest and a
    /// component signed with `--key`.
    Publish {
        /// A folder `pack` wrote (signed already).
        #[arg(long, conflicts_with_all = ["manifest", "component"])]
        pack: Option<PathBuf>,
        /// The plugin's plugin.toml.
        #[arg(long, required_unless_present = "pack")]
        manifest: Option<PathBuf>,
        /// The component (.wasm) built for wasm32-wasip2.
        #[arg(long, required_unless_present = "pack")]
        component: Option<PathBuf>,
        /// The secret signing key file (with a pack: only to look up its id).
        #[arg(long)]
        key: Option<PathBuf>,
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
        Command::New {
            name,
            dir,
            sdk_path,
        } => {
            let made = dev::new(&name, &dir, sdk_path.as_deref())?;
            println!("made {}", made.display());
            eprintln!(
                "next: cd {} && baseplate plugin test   (unit tests, build, every fixture in the sandbox)",
                made.display()
            );
        }
        Command::Check { project, build } => {
            let project = if build {
                Project {
                    component: Some(project_build(&project)?),
                    ..project
                }
            } else {
                project
            };
            let rt = dev::runtime()?;
            let max = 16 << 20;
            let c = dev::check(&project, &rt, max)?;
            dev::print_check(&c);
        }
        Command::Run {
            hook,
            input,
            project,
            config,
            now,
            seed,
            build,
        } => dev::run(
            &project,
            dev::RunArgs {
                hook,
                input,
                config,
                now,
                seed,
                build,
            },
        )?,
        Command::Test {
            project,
            no_cargo_test,
        } => dev::test(&project, !no_cargo_test)?,
        Command::Pack { project, key, out } => {
            let key = read_key(&key)?;
            let packed = dev::pack(&project, &key, out)?;
            println!(
                "packed {}
  {}
  {}",
                packed.component.display(),
                packed.manifest.display(),
                packed.signature.display()
            );
            eprintln!(
                "next: baseplate plugin publish --pack {} --key <your key> --token <developer token>",
                packed.dir.display()
            );
        }
        Command::Replay {
            run,
            project,
            build,
            watch,
            save,
        } => replay(&client, &project, run, build, watch, save).await?,
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
            pack,
            manifest,
            component,
            key,
            key_id,
        } => {
            let signed = match (pack, manifest, component) {
                (Some(dir), _, _) => {
                    let pack = dev::read_pack(&dir)?;
                    Signed {
                        manifest: pack.manifest,
                        component: pack.component,
                        signature: pack.signature,
                        public: pack.public_key,
                    }
                }
                (None, Some(m), Some(c)) => {
                    let key_path = key.clone().ok_or_else(|| {
                        anyhow!(
                            "pass --key to sign, or --pack with what `baseplate plugin pack` wrote"
                        )
                    })?;
                    let manifest = std::fs::read_to_string(&m)
                        .with_context(|| format!("reading {}", m.display()))?;
                    let parsed =
                        Manifest::parse(&manifest).map_err(|e| anyhow!("{}: {e}", m.display()))?;
                    let component =
                        std::fs::read(&c).with_context(|| format!("reading {}", c.display()))?;
                    let k = read_key(&key_path)?;
                    Signed {
                        signature: k.sign(&parsed, &component).to_hex(),
                        public: k.public().to_hex(),
                        manifest,
                        component,
                    }
                }
                _ => bail!("pass --pack DIR, or --manifest and --component"),
            };
            publish(&client, signed, key_id).await?
        }
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

/// A version signed and ready to upload.
struct Signed {
    manifest: String,
    component: Vec<u8>,
    signature: String,
    /// The signer's public key (hex), to find its registered id.
    public: String,
}

fn project_build(p: &Project) -> anyhow::Result<PathBuf> {
    // `run --build` and `check --build` share the reproducible build `pack` uses.
    let checked = Project {
        component: None,
        ..p.clone()
    };
    dev::build(&checked)
}

async fn publish(client: &Client, signed: Signed, key_id: Option<String>) -> anyhow::Result<()> {
    let manifest = Manifest::parse(&signed.manifest).map_err(|e| anyhow!("the manifest: {e}"))?;
    let key_id = match key_id {
        Some(id) => id,
        None => {
            let me = client.get("/api/v1/developer").await?;
            me["signing_keys"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|k| k["public_key"] == signed.public.as_str() && k["revoked_at"].is_null())
                .and_then(|k| k["id"].as_str().map(str::to_string))
                .ok_or_else(|| {
                    anyhow!(
                        "the signing key {} is not an active registered key of yours; run `baseplate plugin register-key --key <file>` first",
                        signed.public
                    )
                })?
        }
    };
    let (manifest_text, component, signature) =
        (signed.manifest, signed.component, signed.signature);
    let body = serde_json::to_vec(&json!({
        "manifest": manifest_text,
        "component": base64::engine::general_purpose::STANDARD.encode(&component),
        "signature": signature,
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

async fn replay(
    client: &Client,
    project: &Project,
    run: i64,
    build: bool,
    watch: bool,
    save: Option<PathBuf>,
) -> anyhow::Result<()> {
    let manifest_path = project
        .manifest
        .clone()
        .unwrap_or_else(|| project.dir.join("plugin.toml"));
    let text = std::fs::read_to_string(&manifest_path)
        .with_context(|| format!("reading {}", manifest_path.display()))?;
    let name = Manifest::parse(&text)
        .map_err(|e| anyhow!("{}: {e}", manifest_path.display()))?
        .name;
    let v = client
        .get(&format!("/api/v1/plugins/{name}/runs/{run}"))
        .await?;
    let record_value = v["record"].clone();
    if let Some(path) = &save {
        std::fs::write(path, serde_json::to_string_pretty(&record_value)?)
            .with_context(|| format!("writing {}", path.display()))?;
        eprintln!("saved the record to {}", path.display());
    }
    let record: baseplate_runtime::fixture::CallRecord =
        serde_json::from_value(record_value).context("the recorded call")?;
    eprintln!(
        "recorded call {run}: {} of {}@{} at {} ({}, {} µs)",
        v["hook"].as_str().unwrap_or(""),
        name,
        v["version"].as_str().unwrap_or(""),
        v["created_at"],
        v["outcome"].as_str().unwrap_or(""),
        v["duration_us"]
    );
    let same = dev::replay(project, &record, build)?;
    if !watch {
        if !same {
            std::process::exit(1);
        }
        return Ok(());
    }
    let path = dev::component_path(project)?;
    let stamp = |p: &PathBuf| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let mut last = stamp(&path);
    eprintln!("watching {} (Ctrl-C to stop)", path.display());
    loop {
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
        let now = stamp(&path);
        if now != last {
            last = now;
            // Let the build finish writing.
            tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            if let Err(e) = dev::replay(project, &record, false) {
                eprintln!("error: {e:#}");
            }
        }
    }
}
