//! One plugin call written down as JSON: the hook and its input, the merchant's config, the
//! operation's clock and seed, and the shop data the call may read. A developer writes
//! these by hand (`baseplate plugin run` / `test` read them from `fixtures/`), and the host
//! records them from production when a merchant turns diagnostics on (`baseplate plugin
//! replay`). Running a record again gives the same call: its clock and randomness come from
//! `now` and `seed`, and its reads from `data`.
//!
//! Records are forgiving where a person writes them: an order needs only what the test is
//! about (lines with a SKU, a quantity and a price; the rest is derived), a member only an
//! id. [`report`] turns a finished call and its effects into JSON, and [`mismatches`]
//! compares a report with what a record `expect`s (a subset: only what is named is checked).

use crate::data::MemoryData;
use crate::overlay::Effects;
use crate::types::{
    Actor, CallEnv, CallError, CallResult, Cart, CartLine, Event, Hook, HookOutput, OrderAction,
};
use base64::Engine as _;
use baseplate_domain::{Party, PriceStage};
use baseplate_store::catalog::{Product, Sku, SkuInfo};
use baseplate_store::members::Member;
use baseplate_store::orders::Order;
use baseplate_store::payments::Refund;
use baseplate_store::state::Entry;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use std::collections::BTreeMap;

/// The hooks a record can name, spelled as the contract exports them.
pub const HOOKS: [&str; 7] = [
    "validate-config",
    "price",
    "validate-checkout",
    "order-created",
    "handle-event",
    "handle-action",
    "fire-timer",
];

/// The clock a record runs at when it names none: 2023-11-14T22:13:20Z.
pub const DEFAULT_NOW: i64 = 1_700_000_000_000;

/// Bytes as JSON: text when it is UTF-8, `{"base64": …}` otherwise; any other JSON value
/// (an object, a number) stands for its own JSON text, as a plugin storing JSON writes it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Bytes {
    Text(String),
    Base64 { base64: String },
    Json(Value),
}

impl Bytes {
    pub fn of(bytes: &[u8]) -> Bytes {
        match std::str::from_utf8(bytes) {
            Ok(s) => Bytes::Text(s.to_string()),
            Err(_) => Bytes::Base64 {
                base64: base64::engine::general_purpose::STANDARD.encode(bytes),
            },
        }
    }

    pub fn to_vec(&self) -> Result<Vec<u8>, String> {
        match self {
            Bytes::Text(s) => Ok(s.clone().into_bytes()),
            Bytes::Base64 { base64 } => base64::engine::general_purpose::STANDARD
                .decode(base64)
                .map_err(|e| format!("bad base64: {e}")),
            Bytes::Json(v) => Ok(v.to_string().into_bytes()),
        }
    }
}

/// One line of a cart: a SKU, a quantity and a unit price are enough.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineRecord {
    /// The line's position (defaults to its place in the list).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<u32>,
    #[serde(default)]
    pub product_id: String,
    #[serde(default)]
    pub sku_id: String,
    #[serde(default = "one")]
    pub quantity: u32,
    pub unit_price: i64,
    /// The amount after earlier stages (defaults to quantity × unit price).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
}

fn one() -> u32 {
    1
}

/// A cart to price or validate.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CartRecord {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member_id: Option<String>,
    pub lines: Vec<LineRecord>,
}

/// A product and its SKUs, as `shop-data` reads them.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProductRecord {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    #[serde(default)]
    pub skus: Vec<SkuRecord>,
}

#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SkuRecord {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub price: i64,
    #[serde(default)]
    pub stock: i64,
}

/// A ledger balance a call may read (all of it available).
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BalanceRecord {
    pub party: Party,
    pub account: String,
    pub amount: i64,
}

/// What the shop holds for the call to read.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DataRecord {
    /// The plugin's state: key → value.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub state: BTreeMap<String, Bytes>,
    /// The plugin's pending timers: name → due time (ms).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub timers: BTreeMap<String, i64>,
    /// Orders, in the same forgiving form as `order`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub orders: Vec<Value>,
    /// Members (`{"id": …}` is enough).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Value>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub products: Vec<ProductRecord>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub balances: Vec<BalanceRecord>,
}

/// One call. Which fields a hook reads:
/// - `validate-config`: `config`, `previous_config`;
/// - `price`: `stage`, `cart`, `input` (what the buyer passed the plugin);
/// - `validate-checkout`: `cart`, `input`;
/// - `order-created`: `order`, `input`;
/// - `handle-event`: `event` and `order` (plus `refund` for `order-refunded`, `member`
///   for `member-joined`);
/// - `handle-action`: `action`, `actor`, `input`;
/// - `fire-timer`: `timer`, `payload`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallRecord {
    pub hook: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shop: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    /// The operation's clock (ms since the epoch).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now: Option<i64>,
    /// Seeds the call's randomness.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// The merchant's config (a JSON value, or JSON text as a string); the manifest's
    /// default when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous_config: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<PriceStage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cart: Option<CartRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order: Option<Value>,
    /// The buyer's input to the plugin (price, validate-checkout, order-created) or the
    /// action's input: any JSON value, passed as its JSON text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub member: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// `"system"`, `{"member": id}` or `{"staff": key id}` (the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<Bytes>,
    #[serde(default)]
    pub data: DataRecord,
    /// What the report must contain (checked by `baseplate plugin test`): any part of the
    /// report, e.g. `{"outcome": "ok", "output": {"adjustments": [...]}}`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<Value>,
}

/// A record made into a call.
pub struct Call {
    pub env: CallEnv,
    pub hook: Hook,
    pub data: MemoryData,
}

impl CallRecord {
    /// Parses a record, naming the field that is wrong.
    pub fn parse(text: &str) -> Result<CallRecord, String> {
        let de = &mut serde_json::Deserializer::from_str(text);
        let record: CallRecord = serde::Deserialize::deserialize(de).map_err(|e| e.to_string())?;
        if !HOOKS.contains(&record.hook.as_str()) {
            return Err(format!(
                "hook {:?} is not one of {}",
                record.hook,
                HOOKS.join(", ")
            ));
        }
        Ok(record)
    }

    /// The call for plugin `plugin`@`version`, whose manifest's default config is
    /// `default_config`.
    pub fn to_call(
        &self,
        plugin: &str,
        version: &str,
        default_config: &str,
    ) -> Result<Call, String> {
        let shop = self.shop.clone().unwrap_or_else(|| "shop_dev".into());
        let currency = self.currency.clone().unwrap_or_else(|| "CNY".into());
        let now = self.now.unwrap_or(DEFAULT_NOW);
        let ctx = Ctx {
            shop: &shop,
            currency: &currency,
            now,
        };
        let config = match &self.config {
            None => default_config.to_string(),
            Some(v) => json_text(v),
        };
        let input = self.input.as_ref().map(Value::to_string);
        let need = |what: &str| format!("hook {} needs `{what}`", self.hook);
        let order = |kind: &str| -> Result<Order, String> {
            let v = self.order.as_ref().ok_or_else(|| need("order"))?;
            order_of(v, &ctx, kind).map_err(|e| format!("order: {e}"))
        };
        let cart = || -> Result<Cart, String> {
            let c = self.cart.as_ref().ok_or_else(|| need("cart"))?;
            Ok(cart_of(c, input.clone()))
        };
        let hook = match self.hook.as_str() {
            "validate-config" => Hook::ValidateConfig {
                config: config.clone(),
                previous: self.previous_config.as_ref().map(json_text),
            },
            "price" => Hook::Price {
                stage: self.stage.ok_or_else(|| need("stage"))?,
                cart: cart()?,
            },
            "validate-checkout" => Hook::ValidateCheckout(cart()?),
            "order-created" => Hook::OrderCreated {
                order: order("created")?,
                input,
            },
            "handle-event" => {
                let kind = self.event.as_deref().ok_or_else(|| need("event"))?;
                Hook::Event(match kind {
                    "order-paid" => Event::OrderPaid(order(kind)?),
                    "order-closed" => Event::OrderClosed(order(kind)?),
                    "order-confirmed" => Event::OrderConfirmed(order(kind)?),
                    "order-completed" => Event::OrderCompleted(order(kind)?),
                    "order-refunded" => {
                        let o = order(kind)?;
                        let r = self.refund.as_ref().ok_or_else(|| need("refund"))?;
                        let r = refund_of(r, &o, &ctx).map_err(|e| format!("refund: {e}"))?;
                        Event::OrderRefunded(o, r)
                    }
                    "member-joined" => {
                        let m = self.member.as_ref().ok_or_else(|| need("member"))?;
                        Event::MemberJoined(member_of(m, &ctx).map_err(|e| format!("member: {e}"))?)
                    }
                    other => {
                        return Err(format!(
                            "event {other:?} is not one of order-paid, order-closed, order-refunded, order-confirmed, order-completed, member-joined"
                        ));
                    }
                })
            }
            "handle-action" => Hook::Action {
                actor: actor_of(self.actor.as_ref())?,
                name: self.action.clone().ok_or_else(|| need("action"))?,
                input: input.unwrap_or_else(|| "{}".into()),
            },
            "fire-timer" => Hook::Timer {
                name: self.timer.clone().ok_or_else(|| need("timer"))?,
                payload: match &self.payload {
                    Some(p) => p.to_vec().map_err(|e| format!("payload: {e}"))?,
                    None => Vec::new(),
                },
            },
            other => return Err(format!("unknown hook {other:?}")),
        };
        let data = self.data_of(&ctx)?;
        Ok(Call {
            env: CallEnv {
                shop_id: shop.clone(),
                currency: currency.clone(),
                plugin: plugin.to_string(),
                version: version.to_string(),
                config,
                now,
                seed: self.seed.unwrap_or(0),
                order_context: match &hook {
                    Hook::Event(e) => e.order_id().map(str::to_string),
                    _ => None,
                },
            },
            hook,
            data,
        })
    }

    fn data_of(&self, ctx: &Ctx) -> Result<MemoryData, String> {
        let d = &self.data;
        let mut data = MemoryData::default();
        for (k, v) in &d.state {
            let value = v.to_vec().map_err(|e| format!("data.state.{k}: {e}"))?;
            data.state.insert(k.clone(), Entry { value, version: 1 });
        }
        data.timers = d.timers.clone();
        for (i, o) in d.orders.iter().enumerate() {
            data.orders
                .push(order_of(o, ctx, "created").map_err(|e| format!("data.orders[{i}]: {e}"))?);
        }
        for (i, m) in d.members.iter().enumerate() {
            data.members
                .push(member_of(m, ctx).map_err(|e| format!("data.members[{i}]: {e}"))?);
        }
        for p in &d.products {
            let skus: Vec<Sku> = p
                .skus
                .iter()
                .map(|s| Sku {
                    id: s.id.clone(),
                    name: s.name.clone(),
                    price: s.price,
                    stock: s.stock,
                })
                .collect();
            for sku in &skus {
                data.skus.push(SkuInfo {
                    sku: sku.clone(),
                    product_id: p.id.clone(),
                    product_name: p.name.clone(),
                    tags: p.tags.clone(),
                });
            }
            data.products.push(Product {
                id: p.id.clone(),
                shop_id: ctx.shop.to_string(),
                name: p.name.clone(),
                tags: p.tags.clone(),
                skus,
                created_at: ctx.now,
            });
        }
        data.balances = d
            .balances
            .iter()
            .map(|b| (b.party.clone(), b.account.clone(), b.amount))
            .collect();
        Ok(data)
    }

    /// The data record of what a call read (for recording a production call).
    pub fn data_from(seen: &MemoryData) -> DataRecord {
        let mut products: Vec<ProductRecord> = seen
            .products
            .iter()
            .map(|p| ProductRecord {
                id: p.id.clone(),
                name: p.name.clone(),
                tags: p.tags.clone(),
                skus: p
                    .skus
                    .iter()
                    .map(|s| SkuRecord {
                        id: s.id.clone(),
                        name: s.name.clone(),
                        price: s.price,
                        stock: s.stock,
                    })
                    .collect(),
            })
            .collect();
        for s in &seen.skus {
            let sku = SkuRecord {
                id: s.sku.id.clone(),
                name: s.sku.name.clone(),
                price: s.sku.price,
                stock: s.sku.stock,
            };
            match products.iter_mut().find(|p| p.id == s.product_id) {
                Some(p) if p.skus.iter().any(|k| k.id == sku.id) => {}
                Some(p) => p.skus.push(sku),
                None => products.push(ProductRecord {
                    id: s.product_id.clone(),
                    name: s.product_name.clone(),
                    tags: s.tags.clone(),
                    skus: vec![sku],
                }),
            }
        }
        DataRecord {
            state: seen
                .state
                .iter()
                .map(|(k, e)| (k.clone(), Bytes::of(&e.value)))
                .collect(),
            timers: seen.timers.clone(),
            orders: seen.orders.iter().map(order_value).collect(),
            members: seen
                .members
                .iter()
                .map(|m| serde_json::to_value(m).expect("member serializes"))
                .collect(),
            products,
            balances: seen
                .balances
                .iter()
                .map(|(party, account, amount)| BalanceRecord {
                    party: party.clone(),
                    account: account.clone(),
                    amount: *amount,
                })
                .collect(),
        }
    }

    /// The record of a call the host is about to make (for diagnostics); `data` is added
    /// once the call has read it.
    pub fn of_call(env: &CallEnv, hook: &Hook) -> CallRecord {
        let mut r = CallRecord {
            hook: hook.name().to_string(),
            shop: Some(env.shop_id.clone()),
            currency: Some(env.currency.clone()),
            now: Some(env.now),
            seed: Some(env.seed),
            config: Some(Value::String(env.config.clone())),
            ..CallRecord::default()
        };
        let input_value = |s: &str| serde_json::from_str(s).unwrap_or(Value::String(s.into()));
        match hook {
            Hook::ValidateConfig { config, previous } => {
                r.config = Some(Value::String(config.clone()));
                r.previous_config = previous.clone().map(Value::String);
            }
            Hook::Price { stage, cart } => {
                r.stage = Some(*stage);
                r.cart = Some(cart_record(cart));
                r.input = cart.input.as_deref().map(input_value);
            }
            Hook::ValidateCheckout(cart) => {
                r.cart = Some(cart_record(cart));
                r.input = cart.input.as_deref().map(input_value);
            }
            Hook::OrderCreated { order, input } => {
                r.order = Some(order_value(order));
                r.input = input.as_deref().map(input_value);
            }
            Hook::Event(e) => {
                let (name, order) = match e {
                    Event::OrderPaid(o) => ("order-paid", Some(o)),
                    Event::OrderClosed(o) => ("order-closed", Some(o)),
                    Event::OrderConfirmed(o) => ("order-confirmed", Some(o)),
                    Event::OrderCompleted(o) => ("order-completed", Some(o)),
                    Event::OrderRefunded(o, refund) => {
                        r.refund = Some(serde_json::to_value(refund).expect("refund serializes"));
                        ("order-refunded", Some(o))
                    }
                    Event::MemberJoined(m) => {
                        r.member = Some(serde_json::to_value(m).expect("member serializes"));
                        ("member-joined", None)
                    }
                };
                r.event = Some(name.to_string());
                r.order = order.map(order_value);
            }
            Hook::Action { actor, name, input } => {
                r.action = Some(name.clone());
                r.actor = Some(match actor {
                    Actor::Member(id) => json!({ "member": id }),
                    Actor::Staff(id) => json!({ "staff": id }),
                    Actor::System => json!("system"),
                });
                r.input = Some(input_value(input));
            }
            Hook::Timer { name, payload } => {
                r.timer = Some(name.clone());
                r.payload = Some(Bytes::of(payload));
            }
        }
        r
    }
}

struct Ctx<'a> {
    shop: &'a str,
    currency: &'a str,
    now: i64,
}

/// A config value as the plugin receives it: a string is already JSON text.
fn json_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn cart_of(c: &CartRecord, input: Option<String>) -> Cart {
    Cart {
        member_id: c.member_id.clone(),
        lines: c
            .lines
            .iter()
            .enumerate()
            .map(|(i, l)| CartLine {
                index: l.index.unwrap_or(i as u32),
                product_id: l.product_id.clone(),
                sku_id: l.sku_id.clone(),
                quantity: l.quantity,
                unit_price: l.unit_price,
                amount: l
                    .amount
                    .unwrap_or_else(|| l.unit_price.saturating_mul(l.quantity as i64)),
                tags: l.tags.clone(),
            })
            .collect(),
        input,
    }
}

fn cart_record(c: &Cart) -> CartRecord {
    CartRecord {
        member_id: c.member_id.clone(),
        lines: c
            .lines
            .iter()
            .map(|l| LineRecord {
                index: Some(l.index),
                product_id: l.product_id.clone(),
                sku_id: l.sku_id.clone(),
                quantity: l.quantity,
                unit_price: l.unit_price,
                amount: Some(l.amount),
                tags: l.tags.clone(),
            })
            .collect(),
    }
}

fn order_value(o: &Order) -> Value {
    serde_json::to_value(o).expect("order serializes")
}

/// Fills what `given` leaves out of an object with `defaults`.
fn merged(defaults: Value, given: &Value) -> Result<Value, String> {
    let Value::Object(given) = given else {
        return Err("must be a JSON object".into());
    };
    let Value::Object(mut out) = defaults else {
        unreachable!("defaults are objects")
    };
    for (k, v) in given {
        out.insert(k.clone(), v.clone());
    }
    Ok(Value::Object(out))
}

fn int(m: &Map<String, Value>, key: &str) -> Option<i64> {
    m.get(key).and_then(Value::as_i64)
}

/// An order from what a person wrote: lines need a SKU (or product), a quantity and a
/// unit price; amounts and totals are derived; the status follows the event (`kind`).
fn order_of(v: &Value, ctx: &Ctx, kind: &str) -> Result<Order, String> {
    let Value::Object(given) = v else {
        return Err("must be a JSON object".into());
    };
    let mut lines = Vec::new();
    for (i, l) in given
        .get("lines")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let Value::Object(lm) = l else {
            return Err(format!("lines[{i}] must be a JSON object"));
        };
        let quantity = int(lm, "quantity").unwrap_or(1);
        let unit = int(lm, "unit_price").unwrap_or(0);
        let original = int(lm, "original_amount").unwrap_or(unit.saturating_mul(quantity));
        let discount = int(lm, "discount").unwrap_or_else(|| {
            lm.get("adjustments")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|a| a["amount"].as_i64())
                .sum()
        });
        lines.push(merged(
            json!({
                "id": format!("line_{}", i + 1),
                "index": i,
                "product_id": "",
                "sku_id": "",
                "quantity": quantity,
                "unit_price": unit,
                "original_amount": original,
                "discount": discount,
                "final_amount": original - discount,
                "refunded_amount": 0,
                "adjustments": [],
            }),
            l,
        )?);
    }
    let sum = |key: &str| -> i64 { lines.iter().filter_map(|l| l[key].as_i64()).sum() };
    let original = int(given, "original_amount").unwrap_or_else(|| sum("original_amount"));
    let discount = int(given, "discount").unwrap_or_else(|| sum("discount"));
    let payable = int(given, "payable_amount").unwrap_or(original - discount);
    let paid = !matches!(kind, "created" | "order-closed");
    let (status, payment) = match kind {
        "created" => ("pending_payment", "unpaid"),
        "order-closed" => ("closed", "unpaid"),
        "order-completed" => ("completed", "paid"),
        _ => ("to_ship", "paid"),
    };
    let refunded = int(given, "refunded_amount").unwrap_or(0);
    let mut out = merged(
        json!({
            "id": "order_1",
            "shop_id": ctx.shop,
            "member_id": null,
            "status": status,
            "payment_status": payment,
            "refund_state": if kind == "order-refunded" { "partial" } else { "none" },
            "close_reason": if kind == "order-closed" { json!("payment_timeout") } else { Value::Null },
            "currency": ctx.currency,
            "original_amount": original,
            "discount": discount,
            "payable_amount": payable,
            "paid_amount": if paid { payable } else { 0 },
            "refunded_amount": refunded,
            "attributes": [],
            "created_at": ctx.now,
            "expires_at": ctx.now + 30 * 60 * 1000,
            "paid_at": if paid { json!(ctx.now) } else { Value::Null },
            "closed_at": if kind == "order-closed" { json!(ctx.now) } else { Value::Null },
            "lines": [],
            "version": 1,
        }),
        v,
    )?;
    out["lines"] = Value::Array(lines);
    serde_json::from_value(out).map_err(|e| e.to_string())
}

fn member_of(v: &Value, ctx: &Ctx) -> Result<Member, String> {
    let m = merged(
        json!({
            "id": "member_1",
            "shop_id": ctx.shop,
            "name": "",
            "phone": null,
            "level": 0,
            "points": 0,
            "tags": [],
            "inviter_id": null,
            "paid_orders": 0,
            "joined_at": ctx.now,
        }),
        v,
    )?;
    serde_json::from_value(m).map_err(|e| e.to_string())
}

fn refund_of(v: &Value, order: &Order, ctx: &Ctx) -> Result<Refund, String> {
    let Value::Object(given) = v else {
        return Err("must be a JSON object".into());
    };
    let lines = given.get("lines").cloned().unwrap_or_else(|| {
        json!(
            order
                .lines
                .iter()
                .map(|l| json!({ "line_id": l.id, "amount": l.final_amount }))
                .collect::<Vec<_>>()
        )
    });
    let amount = lines
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["amount"].as_i64())
        .sum::<i64>();
    let r = merged(
        json!({
            "id": "refund_1",
            "shop_id": ctx.shop,
            "order_id": order.id,
            "amount": amount,
            "lines": lines,
            "reason": "",
            "created_at": ctx.now,
        }),
        v,
    )?;
    serde_json::from_value(r).map_err(|e| e.to_string())
}

fn actor_of(v: Option<&Value>) -> Result<Actor, String> {
    match v {
        None => Ok(Actor::Staff("key_dev".into())),
        Some(Value::String(s)) if s == "system" => Ok(Actor::System),
        Some(Value::Object(m)) if m.len() == 1 => match m.iter().next() {
            Some((k, Value::String(id))) if k == "member" => Ok(Actor::Member(id.clone())),
            Some((k, Value::String(id))) if k == "staff" => Ok(Actor::Staff(id.clone())),
            _ => Err(actor_help()),
        },
        Some(_) => Err(actor_help()),
    }
}

fn actor_help() -> String {
    r#"actor must be "system", {"member": "<member id>"} or {"staff": "<key id>"}"#.into()
}

/// A finished call and its effects as JSON: `outcome` (`ok` or `error`), `output`, `error`
/// (`kind`, `code`, `message`), `effects`, `logs`, `duration_us`, `memory_peak_bytes`.
pub fn report(result: &CallResult, effects: &Effects) -> Value {
    let mut out = Map::new();
    match &result.outcome {
        Ok(output) => {
            out.insert("outcome".into(), json!("ok"));
            out.insert(
                "output".into(),
                match output {
                    HookOutput::Unit => Value::Null,
                    HookOutput::Adjustments(adj) => json!({
                        "adjustments": adj.iter().map(|a| {
                            let mut v = json!({ "line": a.line, "amount": a.amount, "label": a.label });
                            if let Some(r) = &a.reference {
                                v["reference"] = json!(r);
                            }
                            v
                        }).collect::<Vec<_>>()
                    }),
                    HookOutput::Attributes(attrs) => json!({
                        "attributes": attrs.iter().map(|(k, v)| (k.clone(), json!(v))).collect::<Map<_, _>>()
                    }),
                    HookOutput::Json(text) => json!({
                        "json": serde_json::from_str::<Value>(text).unwrap_or(Value::String(text.clone()))
                    }),
                },
            );
        }
        Err(e) => {
            out.insert("outcome".into(), json!("error"));
            let (kind, code) = match e {
                CallError::Plugin(p) => ("plugin", p.code()),
                CallError::Fault { kind, .. } => ("fault", kind.as_str()),
                CallError::Data(_) => ("data", "data"),
            };
            out.insert(
                "error".into(),
                json!({ "kind": kind, "code": code, "message": e.message() }),
            );
        }
    }
    out.insert("effects".into(), effects_value(effects));
    out.insert(
        "logs".into(),
        json!(
            result
                .logs
                .iter()
                .map(|l| json!({ "level": l.level, "message": l.message }))
                .collect::<Vec<_>>()
        ),
    );
    out.insert(
        "duration_us".into(),
        json!(result.duration.as_micros() as u64),
    );
    out.insert("memory_peak_bytes".into(), json!(result.memory_peak));
    Value::Object(out)
}

/// What a call would write: state, timers, ledger postings, points and order actions.
pub fn effects_value(e: &Effects) -> Value {
    let bytes = |b: &[u8]| serde_json::to_value(Bytes::of(b)).expect("bytes serialize");
    json!({
        "state": e.state_writes.iter().map(|(k, v)| {
            (k.clone(), v.as_deref().map_or(Value::Null, bytes))
        }).collect::<Map<_, _>>(),
        "timers": e.timers.iter().map(|(k, v)| {
            (k.clone(), v.as_ref().map_or(Value::Null, |(due, payload)| json!({ "due": due, "payload": bytes(payload) })))
        }).collect::<Map<_, _>>(),
        "postings": e.postings.iter().map(|p| json!({
            "memo": p.memo,
            "order_id": p.order_id,
            "entries": p.entries,
        })).collect::<Vec<_>>(),
        "points": e.points.iter().map(|p| json!({
            "member_id": p.member_id,
            "delta": p.delta,
            "reason": p.reason,
            "reference": p.reference,
        })).collect::<Vec<_>>(),
        "actions": e.actions.iter().map(|a| match a {
            OrderAction::Hold { order_id } => json!({ "hold": order_id }),
            OrderAction::Confirm { order_id } => json!({ "confirm": order_id }),
            OrderAction::Cancel { order_id, reason } => json!({ "cancel": order_id, "reason": reason }),
        }).collect::<Vec<_>>(),
    })
}

/// Where `actual` differs from `expected`, as `path: expected X, got Y` lines. Objects
/// match when every key `expected` names matches (others are ignored); arrays match
/// element by element and must be as long; anything else must be equal.
pub fn mismatches(expected: &Value, actual: &Value) -> Vec<String> {
    let mut out = Vec::new();
    diff("", expected, actual, &mut out);
    out
}

fn diff(path: &str, expected: &Value, actual: &Value, out: &mut Vec<String>) {
    let here = |p: &str| {
        if p.is_empty() {
            "(report)".to_string()
        } else {
            p.to_string()
        }
    };
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, ev) in e {
                let p = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                match a.get(k) {
                    Some(av) => diff(&p, ev, av, out),
                    None if ev.is_null() => {}
                    None => out.push(format!("{p}: expected {ev}, got nothing")),
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                out.push(format!(
                    "{}: expected {} item(s) {expected}, got {} {actual}",
                    here(path),
                    e.len(),
                    a.len()
                ));
                return;
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                diff(&format!("{path}[{i}]"), ev, av, out);
            }
        }
        (e, a) if e == a => {}
        (e, a) => out.push(format!("{}: expected {e}, got {a}", here(path))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_short_order_is_filled_in() {
        let r = CallRecord::parse(
            r#"{"hook": "handle-event", "event": "order-paid",
                "order": {"id": "o1", "member_id": "m1",
                          "lines": [{"sku_id": "s1", "quantity": 2, "unit_price": 1500}]}}"#,
        )
        .unwrap();
        let call = r.to_call("p", "0.1.0", "{}").unwrap();
        let Hook::Event(Event::OrderPaid(o)) = call.hook else {
            panic!("an order-paid event")
        };
        assert_eq!(o.payable_amount, 3000);
        assert_eq!(o.paid_amount, 3000);
        assert_eq!(o.lines[0].final_amount, 3000);
        assert_eq!(o.lines[0].id, "line_1");
        assert_eq!(call.env.order_context.as_deref(), Some("o1"));
    }

    #[test]
    fn a_record_names_what_is_missing_or_unknown() {
        let e = CallRecord::parse(r#"{"hook": "price", "cart": {"lines": []}}"#)
            .unwrap()
            .to_call("p", "0.1.0", "{}")
            .err()
            .unwrap();
        assert!(e.contains("needs `stage`"), "{e}");
        let e = CallRecord::parse(r#"{"hook": "price", "stgae": "order"}"#).unwrap_err();
        assert!(e.contains("unknown field `stgae`"), "{e}");
        let e = CallRecord::parse(r#"{"hook": "pricing"}"#).unwrap_err();
        assert!(e.contains("not one of"), "{e}");
    }

    #[test]
    fn a_recorded_call_reads_back_as_the_same_call() {
        let r = CallRecord::parse(
            r#"{"hook": "handle-action", "action": "claim", "actor": {"member": "m1"},
                "input": {"template_id": "t1"}, "seed": 7, "now": 5,
                "data": {"state": {"a": "1", "b": {"x": 1}}}}"#,
        )
        .unwrap();
        let call = r.to_call("p", "0.1.0", "{}").unwrap();
        let again = CallRecord::of_call(&call.env, &call.hook);
        let call2 = again.to_call("p", "0.1.0", "{}").unwrap();
        let (
            Hook::Action { actor, name, input },
            Hook::Action {
                actor: a2,
                name: n2,
                input: i2,
            },
        ) = (&call.hook, &call2.hook)
        else {
            panic!("actions")
        };
        assert_eq!((actor, name, input), (a2, n2, i2));
        assert_eq!((call2.env.now, call2.env.seed), (5, 7));
        assert_eq!(call.data.state["b"].value, br#"{"x":1}"#);
        let seen = CallRecord::data_from(&call.data);
        assert_eq!(seen.state["b"], Bytes::Text(r#"{"x":1}"#.into()));
    }

    #[test]
    fn expectations_check_only_what_they_name() {
        let actual = json!({"outcome": "ok", "output": {"adjustments": [{"line": 0, "amount": 5, "label": "x"}]}, "logs": []});
        assert!(mismatches(&json!({"outcome": "ok"}), &actual).is_empty());
        assert!(
            mismatches(
                &json!({"output": {"adjustments": [{"line": 0, "amount": 5}]}}),
                &actual
            )
            .is_empty()
        );
        let m = mismatches(
            &json!({"output": {"adjustments": [{"line": 0, "amount": 6}]}}),
            &actual,
        );
        assert_eq!(m, ["output.adjustments[0].amount: expected 6, got 5"]);
        assert_eq!(
            mismatches(&json!({"output": {"adjustments": []}}), &actual).len(),
            1
        );
    }
}
