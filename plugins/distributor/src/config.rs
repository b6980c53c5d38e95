//! The merchant's configuration, and the commission rates it defines.
//!
//! ```json
//! { "promoters": "everyone" | "approved",
//!   "binding": "first_touch" | "registration",
//!   "level1_bp": 1000, "level2_bp": 500,
//!   "overrides": { "<product_id>": { "type": "percent", "level1_bp": 2000, "level2_bp": 0 }
//!                | { "type": "fixed", "level1": 300, "level2": 100 } },
//!   "freeze_days": 7, "min_withdrawal": 100 }
//! ```
//!
//! Every field is optional; the defaults are those of `plugin.toml`'s default config.

use crate::fields::{Fields, int_in, is_id, one_of, read_config};
use baseplate_sdk::{CallContext, PluginError, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::collections::BTreeMap;

/// 100% in basis points.
pub const FULL_BP: i64 = 10_000;
/// The most products with their own rates.
pub const MAX_OVERRIDES: usize = 500;
/// The largest fixed commission per unit (10,000,000.00): keeps every product in i128 range
/// with room, and catches a typo in 分 vs 元 before it pays out.
pub const MAX_FIXED: i64 = 1_000_000_000;

const FIELDS: &[&str] = &[
    "promoters",
    "binding",
    "level1_bp",
    "level2_bp",
    "overrides",
    "freeze_days",
    "min_withdrawal",
];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Promoters {
    /// Any member who applies is approved at once.
    Everyone,
    /// Applications wait for staff.
    Approved,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BindingMode {
    /// A member binds to the first distributor whose share link they open (`bind`).
    FirstTouch,
    /// A member binds to their inviter when they join (the member-joined event).
    Registration,
}

/// What a product pays per level. Stored on each paid order, so a later config change
/// never re-prices a commission already booked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Rate {
    /// Basis points of what the buyer paid for the line.
    Percent { level1_bp: i64, level2_bp: i64 },
    /// 分 per unit.
    Fixed { level1: i64, level2: i64 },
}

impl Rate {
    /// The commission of (level 1, level 2) on a line of `quantity` units for which the
    /// buyer paid `final_amount`, of which `net` is still kept (after refunds).
    ///
    /// Rounding is always down, and always on the net, never per refund: the same net gives
    /// the same commission however many partial refunds led to it.
    /// - percent: `floor(net × bp / 10000)`;
    /// - fixed: `fixed × quantity` scaled to the share of the line still paid,
    ///   `floor(fixed × quantity × net / final_amount)`; a line the buyer paid nothing for
    ///   pays nothing. Level 1 is capped at `net` and level 2 at what level 1 left, so a
    ///   distributor never earns more than the buyer paid.
    pub fn split(&self, quantity: u32, final_amount: i64, net: i64) -> [i64; 2] {
        let net = net.clamp(0, final_amount.max(0));
        if net == 0 {
            return [0, 0];
        }
        let floor_of = |x: i128| -> i64 { i64::try_from(x).unwrap_or(i64::MAX) };
        match *self {
            Rate::Percent {
                level1_bp,
                level2_bp,
            } => {
                // Rounded down: the distributor never gets a fraction of a 分.
                let of = |bp: i64| floor_of(i128::from(net) * i128::from(bp) / i128::from(FULL_BP));
                [of(level1_bp), of(level2_bp)]
            }
            Rate::Fixed { level1, level2 } => {
                // Rounded down on the net share of the line.
                let of = |fixed: i64| {
                    floor_of(
                        i128::from(fixed) * i128::from(quantity) * i128::from(net)
                            / i128::from(final_amount),
                    )
                };
                let l1 = of(level1).min(net);
                let l2 = of(level2).min(net - l1);
                [l1, l2]
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub promoters: Promoters,
    pub binding: BindingMode,
    pub level1_bp: i64,
    pub level2_bp: i64,
    pub overrides: BTreeMap<String, Rate>,
    pub freeze_days: i64,
    pub min_withdrawal: i64,
}

impl Config {
    /// The merchant's config, with the defaults of `plugin.toml` for absent fields.
    pub fn parse(text: &str) -> Result<Config> {
        read_config(text, FIELDS, read)
    }

    pub fn from_ctx(ctx: &CallContext) -> Result<Config> {
        Config::parse(&ctx.config)
    }

    /// The rate of `product_id`: its override, or the shop-wide percentages.
    pub fn rate_for(&self, product_id: &str) -> Rate {
        self.overrides
            .get(product_id)
            .copied()
            .unwrap_or(Rate::Percent {
                level1_bp: self.level1_bp,
                level2_bp: self.level2_bp,
            })
    }
}

const BP: &str = "an integer 0..=10000 (basis points; 1000 = 10%)";

fn read(f: &mut Fields) -> Result<Config> {
    let promoters = match f
        .get(
            "promoters",
            "\"everyone\" or \"approved\"",
            one_of(&["everyone", "approved"]),
        )?
        .unwrap_or("approved")
    {
        "everyone" => Promoters::Everyone,
        _ => Promoters::Approved,
    };
    let binding = match f
        .get(
            "binding",
            "\"first_touch\" or \"registration\"",
            one_of(&["first_touch", "registration"]),
        )?
        .unwrap_or("first_touch")
    {
        "registration" => BindingMode::Registration,
        _ => BindingMode::FirstTouch,
    };
    let level1_bp = f.get("level1_bp", BP, int_in(0..=FULL_BP))?.unwrap_or(1000);
    let level2_bp = f.get("level2_bp", BP, int_in(0..=FULL_BP))?.unwrap_or(0);
    if level1_bp + level2_bp > FULL_BP {
        return Err(PluginError::invalid(
            "`level1_bp` + `level2_bp` must be at most 10000 (100% of what the buyer paid)",
        ));
    }
    let overrides = match f.get(
        "overrides",
        "an object of product id → rate",
        |v: &Value| v.as_object().cloned(),
    )? {
        None => BTreeMap::new(),
        Some(map) => {
            if map.len() > MAX_OVERRIDES {
                return Err(PluginError::invalid(format!(
                    "`overrides` must name at most {MAX_OVERRIDES} products"
                )));
            }
            let mut out = BTreeMap::new();
            for (product_id, rate) in map {
                if !is_id(&product_id) {
                    return Err(PluginError::invalid(format!(
                        "`overrides` keys must be product ids (1..=64 bytes, no '/' or spaces); got {product_id:?}"
                    )));
                }
                let rate = override_rate(&format!("overrides.{product_id}"), rate)?;
                out.insert(product_id, rate);
            }
            out
        }
    };
    let freeze_days = f
        .get("freeze_days", "an integer 0..=365 (days)", int_in(0..=365))?
        .unwrap_or(7);
    let min_withdrawal = f
        .get(
            "min_withdrawal",
            "an integer 1..=1000000000000 (分)",
            int_in(1..=1_000_000_000_000),
        )?
        .unwrap_or(100);
    Ok(Config {
        promoters,
        binding,
        level1_bp,
        level2_bp,
        overrides,
        freeze_days,
        min_withdrawal,
    })
}

fn override_rate(path: &str, value: Value) -> Result<Rate> {
    const ALL: &[&str] = &["type", "level1_bp", "level2_bp", "level1", "level2"];
    let mut f = Fields::object(path, value, ALL)?;
    let kind = f.req(
        "type",
        "\"percent\" or \"fixed\"",
        one_of(&["percent", "fixed"]),
    )?;
    let rate = if kind == "percent" {
        let level1_bp = f.req("level1_bp", BP, int_in(0..=FULL_BP))?;
        let level2_bp = f.get("level2_bp", BP, int_in(0..=FULL_BP))?.unwrap_or(0);
        if level1_bp + level2_bp > FULL_BP {
            return Err(PluginError::invalid(format!(
                "`{path}.level1_bp` + `{path}.level2_bp` must be at most 10000"
            )));
        }
        f.finish()?;
        Rate::Percent {
            level1_bp,
            level2_bp,
        }
    } else {
        let allowed = "an integer 0..=1000000000 (分 per unit)";
        let level1 = f.req("level1", allowed, int_in(0..=MAX_FIXED))?;
        let level2 = f
            .get("level2", allowed, int_in(0..=MAX_FIXED))?
            .unwrap_or(0);
        f.finish()?;
        Rate::Fixed { level1, level2 }
    };
    Ok(rate)
}
