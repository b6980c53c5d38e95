//! `baseplate market …`: the operator's registry commands — the review queue, one
//! version's details, decisions with reasons, the log, developer accounts, the platform
//! view — and the canary commands, which the plugin's developer may run too.

use super::{Client, Connection, list};
use serde_json::{Value, json};

#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    command: Command,
    #[command(flatten)]
    connection: Connection,
}

#[derive(clap::Args)]
struct Target {
    /// The plugin's name.
    name: String,
    /// The version.
    version: String,
}

#[derive(clap::Subcommand)]
enum Command {
    /// Versions waiting for review, with size, signer and capability changes.
    Queue,
    /// One version: manifest, digest, signer, capability diff, artifact check, log.
    Show(Target),
    /// Approve a submitted version (released at once, or --staged for a canary).
    Approve {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        reason: Option<String>,
        #[arg(long)]
        staged: bool,
    },
    /// Reject a submitted version.
    Reject {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        reason: String,
    },
    /// No new installs of a version; shops that have it keep it.
    Yank {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        reason: String,
    },
    /// Make a yanked version installable again.
    Unyank {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Disable a version in every shop at once (security); its events are held.
    Revoke {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        reason: String,
    },
    /// The registry log: who did what, when, and why.
    Log {
        #[arg(long)]
        plugin: Option<String>,
        #[arg(long)]
        version: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: i64,
    },
    /// Developer accounts (`--status pending` for sign-ups to approve).
    Developers {
        #[arg(long)]
        status: Option<String>,
    },
    /// Create an approved developer account; prints its API token once.
    CreateDeveloper {
        #[arg(long)]
        name: String,
        #[arg(long)]
        email: Option<String>,
    },
    /// Approve a developer who signed up.
    ApproveDeveloper { id: String },
    /// Suspend a developer: their keys stop working.
    SuspendDeveloper {
        id: String,
        #[arg(long)]
        reason: String,
    },
    /// Plugins by installs, with failure rate and p99 call time across shops.
    Stats,
    /// Roll a staged version out to some shops first (operator or the plugin's developer).
    Canary {
        #[command(flatten)]
        target: Target,
        /// Shop ids, comma-separated.
        #[arg(long, value_delimiter = ',', conflicts_with = "percent")]
        shops: Option<Vec<String>>,
        /// A share of the consenting shops, 1..=100.
        #[arg(long)]
        percent: Option<u8>,
    },
    /// A canary's shops, calls, failure rate and p99.
    CanaryStatus(Target),
    /// Release a canary's version to everyone.
    Promote(Target),
    /// Stop a canary: its shops go back to their previous version.
    Halt {
        #[command(flatten)]
        target: Target,
        #[arg(long)]
        reason: String,
    },
}

fn version_path(t: &Target) -> String {
    format!("/api/v1/registry/plugins/{}/versions/{}", t.name, t.version)
}

fn version_line(v: &Value) -> String {
    format!(
        "{}@{}  {}  {} bytes  sha256 {}  signed by {} ({})  capabilities [{}]  vs {}: +[{}] -[{}]",
        v["name"].as_str().unwrap_or(""),
        v["version"].as_str().unwrap_or(""),
        v["state"].as_str().unwrap_or(""),
        v["size"],
        v["digest"].as_str().unwrap_or(""),
        v["signer"]["developer"].as_str().unwrap_or(""),
        v["signer"]["key_id"].as_str().unwrap_or(""),
        list(&v["capabilities"]),
        v["previous_approved"]
            .as_str()
            .unwrap_or("nothing approved before"),
        list(&v["capability_diff"]["added"]),
        list(&v["capability_diff"]["removed"]),
    )
}

fn decided(v: &Value) -> String {
    format!(
        "{}@{} is now {} ({}){}",
        v["name"].as_str().unwrap_or(""),
        v["version"].as_str().unwrap_or(""),
        v["state"].as_str().unwrap_or(""),
        v["rollout"].as_str().unwrap_or(""),
        v["state_reason"]
            .as_str()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    )
}

fn canary_summary(v: &Value) -> String {
    let mut out = format!(
        "canary {}@{} {} (rollout {}): {} calls, {} failures ({:.1}%), p99 ≤ {} µs",
        v["canary"]["plugin"].as_str().unwrap_or(""),
        v["canary"]["version"].as_str().unwrap_or(""),
        v["canary"]["status"].as_str().unwrap_or(""),
        v["rollout"].as_str().unwrap_or(""),
        v["calls"],
        v["failures"],
        v["failure_rate"].as_f64().unwrap_or(0.0) * 100.0,
        v["p99_us"]
    );
    for s in v["shops"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\n  {}  now {}  (was {})  {} calls, {} failures",
            s["shop_id"].as_str().unwrap_or(""),
            s["current_version"].as_str().unwrap_or("-"),
            s["previous_version"].as_str().unwrap_or(""),
            s["calls"],
            s["failures"]
        ));
    }
    for m in v["moves"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "\n  {} {}",
            m["shop_id"].as_str().unwrap_or(""),
            if m["moved"] == true {
                "moved".to_string()
            } else {
                format!("not moved: {}", m["why"].as_str().unwrap_or(""))
            }
        ));
    }
    out
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let c = Client::new(&args.connection);
    match args.command {
        Command::Queue => {
            let v = c.get("/api/v1/registry/queue").await?;
            c.show(&v, |v| {
                let lines: Vec<String> = v["queue"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(version_line)
                    .collect();
                if lines.is_empty() {
                    "the review queue is empty".into()
                } else {
                    lines.join("\n")
                }
            });
        }
        Command::Show(t) => {
            let v = c.get(&version_path(&t)).await?;
            c.show(&v, |v| {
                let mut out = version_line(v);
                out.push_str(&format!(
                    "\n  rollout {}, {} installs, artifact {}",
                    v["rollout"].as_str().unwrap_or(""),
                    v["installs"],
                    if v["artifact_intact"] == true {
                        "intact"
                    } else {
                        "ALTERED (stored bytes do not match the digest)"
                    }
                ));
                out.push_str(&format!(
                    "\n  manifest: {}",
                    serde_json::to_string(&v["manifest"]).unwrap_or_default()
                ));
                for e in v["log"].as_array().into_iter().flatten() {
                    out.push_str(&format!("\n  {}", log_line(e)));
                }
                out
            });
        }
        Command::Approve {
            target,
            reason,
            staged,
        } => {
            let v = c
                .post(
                    &format!("{}/approve", version_path(&target)),
                    json!({ "reason": reason, "staged": staged }),
                )
                .await?;
            c.show(&v, decided);
        }
        Command::Reject { target, reason } => decide(&c, &target, "reject", Some(reason)).await?,
        Command::Yank { target, reason } => decide(&c, &target, "yank", Some(reason)).await?,
        Command::Unyank { target, reason } => decide(&c, &target, "unyank", reason).await?,
        Command::Revoke { target, reason } => decide(&c, &target, "revoke", Some(reason)).await?,
        Command::Log {
            plugin,
            version,
            limit,
        } => {
            let mut q = format!("/api/v1/registry/log?limit={limit}");
            if let Some(p) = plugin {
                q.push_str(&format!("&plugin={p}"));
            }
            if let Some(v) = version {
                q.push_str(&format!("&version={v}"));
            }
            let v = c.get(&q).await?;
            c.show(&v, |v| {
                v["log"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(log_line)
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::Developers { status } => {
            let q = match status {
                Some(s) => format!("/api/v1/registry/developers?status={s}"),
                None => "/api/v1/registry/developers".into(),
            };
            let v = c.get(&q).await?;
            c.show(&v, |v| {
                v["developers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|d| {
                        format!(
                            "{}  {:<10} {}",
                            d["id"].as_str().unwrap_or(""),
                            d["status"].as_str().unwrap_or(""),
                            d["name"].as_str().unwrap_or("")
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        Command::CreateDeveloper { name, email } => {
            let v = c
                .post(
                    "/api/v1/registry/developers",
                    json!({ "name": name, "email": email }),
                )
                .await?;
            c.show(&v, |v| {
                format!(
                    "developer {} ({}) created, approved\nAPI token (shown once): {}",
                    v["developer"]["id"].as_str().unwrap_or(""),
                    v["developer"]["name"].as_str().unwrap_or(""),
                    v["api_key"]["token"].as_str().unwrap_or("")
                )
            });
        }
        Command::ApproveDeveloper { id } => {
            let v = c
                .post(
                    &format!("/api/v1/registry/developers/{id}/approve"),
                    json!({}),
                )
                .await?;
            c.show(&v, |v| {
                format!(
                    "developer {} is {}",
                    v["id"].as_str().unwrap_or(""),
                    v["status"].as_str().unwrap_or("")
                )
            });
        }
        Command::SuspendDeveloper { id, reason } => {
            let v = c
                .post(
                    &format!("/api/v1/registry/developers/{id}/suspend"),
                    json!({ "reason": reason }),
                )
                .await?;
            c.show(&v, |v| {
                format!(
                    "developer {} is {}",
                    v["id"].as_str().unwrap_or(""),
                    v["status"].as_str().unwrap_or("")
                )
            });
        }
        Command::Stats => {
            let v = c.get("/api/v1/registry/stats").await?;
            c.show(&v, |v| {
                let mut out = format!(
                    "{:<20} {:>8} {:>10} {:>9} {:>12}",
                    "plugin", "installs", "calls", "failures", "p99 (µs) ≤"
                );
                for p in v["plugins"].as_array().into_iter().flatten() {
                    out.push_str(&format!(
                        "\n{:<20} {:>8} {:>10} {:>8.2}% {:>12}",
                        p["name"].as_str().unwrap_or(""),
                        p["installs"].as_i64().unwrap_or(0),
                        p["calls"].as_i64().unwrap_or(0),
                        p["failure_rate"].as_f64().unwrap_or(0.0) * 100.0,
                        p["p99_us"]
                            .as_i64()
                            .map_or_else(|| "-".to_string(), |us| us.to_string())
                    ));
                }
                out
            });
        }
        Command::Canary {
            target,
            shops,
            percent,
        } => {
            let body = match (shops, percent) {
                (Some(s), None) => json!({ "shops": s }),
                (None, Some(p)) => json!({ "percent": p }),
                _ => anyhow::bail!("give --shops a,b or --percent N"),
            };
            let v = c
                .post(&format!("{}/canary", version_path(&target)), body)
                .await?;
            c.show(&v, canary_summary);
        }
        Command::CanaryStatus(t) => {
            let v = c.get(&format!("{}/canary", version_path(&t))).await?;
            c.show(&v, canary_summary);
        }
        Command::Promote(t) => {
            let v = c
                .post(&format!("{}/promote", version_path(&t)), json!({}))
                .await?;
            c.show(&v, canary_summary);
        }
        Command::Halt { target, reason } => {
            let v = c
                .post(
                    &format!("{}/halt", version_path(&target)),
                    json!({ "reason": reason }),
                )
                .await?;
            c.show(&v, canary_summary);
        }
    }
    Ok(())
}

async fn decide(
    c: &Client,
    t: &Target,
    action: &str,
    reason: Option<String>,
) -> anyhow::Result<()> {
    let v = c
        .post(
            &format!("{}/{action}", version_path(t)),
            json!({ "reason": reason }),
        )
        .await?;
    c.show(&v, decided);
    Ok(())
}

fn log_line(e: &Value) -> String {
    format!(
        "#{} at {} {} {} {}{}{}",
        e["id"],
        e["created_at"],
        e["actor"].as_str().unwrap_or(""),
        e["action"].as_str().unwrap_or(""),
        e["plugin"].as_str().unwrap_or(""),
        e["version"]
            .as_str()
            .map(|v| format!("@{v}"))
            .unwrap_or_default(),
        e["reason"]
            .as_str()
            .map(|r| format!(": {r}"))
            .unwrap_or_default()
    )
}
