//! Checkout: the pricing pipeline over the shop's plugins, checkout validation, atomic
//! stock, the order with per-line discounts, and the plugins' order-created hooks — the
//! order and everything the plugins did for it committed in one write, idempotent by the
//! caller's key.
//!
//! The plugins run before the write, on a sandbox thread against a snapshot, with the new
//! order visible to them (order-created); the write then takes the stock, inserts the order
//! and commits their effects if their reads still hold. Without plugins the write is all.

use crate::dispatch::{CallFailure, Session};
use crate::plugins::{Installed, STALE_ATTEMPTS, installed, random_seed};
use crate::{CoreError, Platform, Result};
use baseplate_domain::pricing::{ProposedAdjustment, apply_adjustments, totals};
use baseplate_domain::{
    Money, OrderId, OrderLineId, OrderStatus, PaymentStatus, PriceStage, PricedLine, RefundState,
};
use baseplate_marketplace::{FailOpenHook, InputHook, PriceStage as ManifestStage};
use baseplate_runtime::{Cart, CartLine, Hook, HookOutput};
use baseplate_store::catalog::{self, SkuInfo};
use baseplate_store::members;
use baseplate_store::orders::{self, Attribute, Order, OrderLine};
use baseplate_store::shops::{self, IdempotentResponse, Shop};
use serde::Serialize;
use std::collections::BTreeMap;

pub const MAX_LINES: usize = 100;
pub const MAX_QUANTITY: u32 = 999;

#[derive(Clone, Debug)]
pub struct LineRequest {
    pub sku_id: String,
    pub quantity: u32,
}

#[derive(Clone, Debug)]
pub struct CheckoutRequest {
    pub member_id: Option<String>,
    pub lines: Vec<LineRequest>,
    /// What the buyer passes to each plugin, by plugin name.
    pub plugins: BTreeMap<String, serde_json::Value>,
}

/// A checkout's `Idempotency-Key`, scoped to the caller that sent it (as Stripe scopes keys
/// per API key): two members using the same key never see each other's orders.
#[derive(Clone, Debug)]
pub struct Idempotency {
    pub key: String,
    /// A hash of the request body: the same key with another body is refused.
    pub request_hash: String,
    /// Who sent it, e.g. `member:<id>` or `staff:<key id>`.
    pub caller: String,
}

impl Idempotency {
    fn scope(&self) -> String {
        format!("checkout:{}", self.caller)
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Quote {
    pub currency: String,
    pub lines: Vec<PricedLine>,
    pub original_amount: i64,
    pub discount: i64,
    pub payable_amount: i64,
}

fn manifest_stage(s: PriceStage) -> ManifestStage {
    match s {
        PriceStage::Item => ManifestStage::Item,
        PriceStage::Order => ManifestStage::Order,
        PriceStage::Coupon => ManifestStage::Coupon,
    }
}

/// What checkout reads before anything runs.
struct Snapshot {
    shop: Shop,
    lines: Vec<PricedLine>,
    tags: Vec<Vec<String>>,
    plugins: Vec<Installed>,
}

/// The cart a plugin sees: the lines as priced so far, with their products' tags, and the
/// buyer's input for that plugin.
fn cart(
    req: &CheckoutRequest,
    lines: &[PricedLine],
    tags: &[Vec<String>],
    input: Option<String>,
) -> Cart {
    Cart {
        member_id: req.member_id.clone(),
        lines: lines
            .iter()
            .zip(tags)
            .map(|(l, t)| CartLine {
                index: l.index,
                product_id: l.product_id.clone(),
                sku_id: l.sku_id.clone(),
                quantity: l.quantity,
                unit_price: l.unit_price.0,
                amount: l.amount.0,
                tags: t.clone(),
            })
            .collect(),
        input,
    }
}

/// Runs the pricing stages in order (within a stage, plugins in name order), on the
/// sandbox thread. A pricing fault fails open only if the manifest says so and the buyer
/// gave that plugin no input.
fn price(
    s: &mut Session,
    req: &CheckoutRequest,
    mut lines: Vec<PricedLine>,
    tags: &[Vec<String>],
) -> Result<Vec<PricedLine>> {
    for stage in PriceStage::ALL {
        for i in 0..s.parts.len() {
            let p = &s.parts[i].installed;
            let input = req.plugins.get(p.name()).map(|v| v.to_string());
            if !p.manifest.prices_at(manifest_stage(stage))
                || !p
                    .manifest
                    .runs_without_input(InputHook::Price, input.is_some())
            {
                continue;
            }
            let name = p.name().to_string();
            let fails_open = p.manifest.fails_open(FailOpenHook::Price);
            let hook = Hook::Price {
                stage,
                cart: cart(req, &lines, tags, input.clone()),
            };
            match s.call(i, hook) {
                Ok(HookOutput::Adjustments(adjs)) => {
                    let proposals = adjs
                        .into_iter()
                        .map(|a| ProposedAdjustment {
                            line: a.line,
                            amount: a.amount,
                            label: a.label,
                            reference: a.reference,
                        })
                        .collect();
                    if let Err(e) = apply_adjustments(&mut lines, &name, stage, proposals) {
                        // A plugin's bad output is its fault, never the buyer's.
                        if input.is_some() || !fails_open {
                            return Err(CoreError::PluginFailed {
                                plugin: name,
                                message: format!("bad pricing output: {e}"),
                            });
                        }
                    }
                }
                Ok(_) => return Err(CoreError::Internal("unexpected hook output".into())),
                Err(CallFailure::Fault(kind, m)) if input.is_none() && fails_open => {
                    tracing::warn!(plugin = %name, kind = kind.as_str(), "pricing failed open: {m}");
                }
                Err(f) => return Err(f.into_core(&name)),
            }
        }
    }
    Ok(lines)
}

/// Whether `p` has a hook that runs for this request (at quote time, only pricing runs):
/// plugins that sit out cost no sandbox trip at all.
fn takes_part(p: &Installed, req: &CheckoutRequest, quote_only: bool) -> bool {
    let m = &p.manifest;
    let has_input = req.plugins.contains_key(p.name());
    let prices = !m.hooks.price.is_empty() && m.runs_without_input(InputHook::Price, has_input);
    if quote_only {
        return prices;
    }
    prices
        || (m.hooks.validate_checkout
            && m.runs_without_input(InputHook::ValidateCheckout, has_input))
        || (m.hooks.order_created && m.runs_without_input(InputHook::OrderCreated, has_input))
}

/// What the plugins made of a checkout.
struct Planned {
    order: Order,
}

impl Platform {
    fn check_request(&self, req: &CheckoutRequest) -> Result<()> {
        if req.lines.is_empty() || req.lines.len() > MAX_LINES {
            return Err(CoreError::Invalid(format!(
                "an order needs 1..={MAX_LINES} lines"
            )));
        }
        for (i, l) in req.lines.iter().enumerate() {
            if l.quantity == 0 || l.quantity > MAX_QUANTITY {
                return Err(CoreError::Invalid(format!(
                    "lines[{i}].quantity must be 1..={MAX_QUANTITY}"
                )));
            }
        }
        Ok(())
    }

    /// Reads the shop, the member, the SKUs and the active plugins, and checks every
    /// plugin input names one of them.
    async fn snapshot(&self, shop: &str, req: &CheckoutRequest) -> Result<Snapshot> {
        self.read(|tx| {
            Box::pin(async move {
                let shop_row = shops::get(tx, shop)
                    .await?
                    .ok_or_else(|| CoreError::NotFound("shop not found".into()))?;
                if let Some(m) = &req.member_id
                    && members::get(tx, shop, m).await?.is_none()
                {
                    return Err(CoreError::NotFound(format!(
                        "member {m} not found in this shop"
                    )));
                }
                let mut lines = Vec::with_capacity(req.lines.len());
                let mut tags = Vec::with_capacity(req.lines.len());
                for (i, l) in req.lines.iter().enumerate() {
                    let info: SkuInfo =
                        catalog::get_sku(tx, shop, &l.sku_id)
                            .await?
                            .ok_or_else(|| {
                                CoreError::NotFound(format!(
                                    "lines[{i}].sku_id: sku {} not found in this shop",
                                    l.sku_id
                                ))
                            })?;
                    lines.push(
                        PricedLine::new(
                            i as u32,
                            info.product_id.clone(),
                            info.sku.id.clone(),
                            l.quantity,
                            Money(info.sku.price),
                        )
                        .map_err(|e| CoreError::Invalid(format!("lines[{i}]: {e}")))?,
                    );
                    tags.push(info.tags);
                }
                let all = installed(tx, shop).await?;
                for name in req.plugins.keys() {
                    if !all.iter().any(|p| p.name() == name && p.active()) {
                        return Err(CoreError::Invalid(format!(
                            "plugins.{name}: no such plugin is installed and enabled in this shop"
                        )));
                    }
                }
                let plugins = all.into_iter().filter(|p| p.active()).collect();
                Ok(Snapshot {
                    shop: shop_row,
                    lines,
                    tags,
                    plugins,
                })
            })
        })
        .await
    }

    /// Prices a cart without creating anything.
    pub async fn quote(&self, shop: &str, req: CheckoutRequest) -> Result<Quote> {
        self.check_request(&req)?;
        let mut snap = self.snapshot(shop, &req).await?;
        snap.plugins.retain(|p| takes_part(p, &req, true));
        let lines = if snap.plugins.is_empty() {
            snap.lines
        } else {
            let session = self
                .session(
                    shop,
                    &snap.shop.currency,
                    snap.plugins,
                    self.now(),
                    random_seed(),
                )
                .await?;
            let (session, priced) = self
                .in_sandbox(session, move |s| price(s, &req, snap.lines, &snap.tags))
                .await?;
            self.record_calls(&session.reports).await;
            priced?
        };
        let (original, discount, payable) =
            totals(&lines).map_err(|e| CoreError::Invalid(e.to_string()))?;
        Ok(Quote {
            currency: snap.shop.currency,
            lines,
            original_amount: original.0,
            discount: discount.0,
            payable_amount: payable.0,
        })
    }

    /// Creates an order. With an idempotency key, a retry with the same body returns the
    /// first result; the same key with another body is refused.
    pub async fn checkout(
        &self,
        shop: &str,
        req: CheckoutRequest,
        idempotency: Option<Idempotency>,
    ) -> Result<(u16, String)> {
        self.check_request(&req)?;
        if let Some(idem) = &idempotency
            && let Some(prev) = self
                .read(|tx| {
                    Box::pin(async move {
                        Ok(shops::idempotency_get(tx, shop, &idem.scope(), &idem.key).await?)
                    })
                })
                .await?
        {
            return replay(idem, prev);
        }
        let now = self.now();
        let seed = random_seed();
        let mut attempt = 0u32;
        loop {
            let mut snap = self.snapshot(shop, &req).await?;
            snap.plugins.retain(|p| takes_part(p, &req, false));
            let names: Vec<String> = snap.plugins.iter().map(|p| p.name().to_string()).collect();
            let name_refs: Vec<&str> = names.iter().map(String::as_str).collect();
            let _hot = self.hot_guards(shop, &name_refs, attempt).await;
            let draft = draft_order(shop, &snap.shop, &req, now);
            let (session, planned) = if snap.plugins.is_empty() {
                (None, self.plan_without_plugins(&req, snap, draft))
            } else {
                let session = self
                    .session(shop, &snap.shop.currency, snap.plugins, now, seed)
                    .await?;
                let req2 = req.clone();
                let (session, planned) = self
                    .in_sandbox(session, move |s| {
                        plan_with_plugins(s, &req2, snap.lines, &snap.tags, draft)
                    })
                    .await?;
                (Some(session), planned)
            };
            let written = match planned {
                Ok(planned) => {
                    self.write_order(shop, planned, session.as_ref(), idempotency.as_ref())
                        .await
                }
                Err(e) => self.refusal_or_stale(e, session.as_ref()).await,
            };
            if let Some(s) = &session {
                self.record_calls(&s.reports).await;
            }
            match written {
                Err(CoreError::Stale(_)) if attempt + 1 < STALE_ATTEMPTS => {
                    attempt += 1;
                    crate::backoff(attempt).await;
                }
                Err(CoreError::Retry) if idempotency.is_some() => {
                    // A concurrent request with the same key won: answer with its result.
                    let idem = idempotency.as_ref().expect("checked");
                    let prev = self
                        .read(|tx| {
                            Box::pin(async move {
                                Ok(shops::idempotency_get(tx, shop, &idem.scope(), &idem.key)
                                    .await?)
                            })
                        })
                        .await?
                        .ok_or(CoreError::Retry)?;
                    return replay(idem, prev);
                }
                other => return other,
            }
        }
    }

    fn plan_without_plugins(
        &self,
        req: &CheckoutRequest,
        snap: Snapshot,
        draft: Order,
    ) -> Result<Planned> {
        Ok(Planned {
            order: finish_order(draft, &snap.lines, req)?,
        })
    }

    /// The write: stock, the order, the plugins' effects, the idempotency record.
    async fn write_order(
        &self,
        shop: &str,
        planned: Planned,
        session: Option<&Session>,
        idempotency: Option<&Idempotency>,
    ) -> Result<(u16, String)> {
        let order = planned.order;
        let order = &order;
        self.write(shop, |op| {
            Box::pin(async move {
                if let Some(idem) = idempotency
                    && shops::idempotency_get(op.tx(), shop, &idem.scope(), &idem.key)
                        .await?
                        .is_some()
                {
                    return Err(CoreError::Retry);
                }
                for l in &order.lines {
                    if !catalog::take_stock(op.tx(), shop, &l.sku_id, l.quantity as i64).await? {
                        let left = catalog::get_sku(op.tx(), shop, &l.sku_id)
                            .await?
                            .map(|s| s.sku.stock)
                            .unwrap_or(0);
                        return Err(CoreError::Conflict(format!(
                            "sold out: sku {} has {left} left, {} asked",
                            l.sku_id, l.quantity
                        )));
                    }
                }
                orders::insert(op.tx(), order).await?;
                let mut acted = false;
                if let Some(s) = session {
                    for p in &s.parts {
                        acted |= !p.overlay.effects().actions.is_empty();
                        self.commit_effects(op, p.overlay.effects()).await?;
                    }
                }
                // Order actions (e.g. hold) changed the row: answer with what was stored.
                let order = if acted {
                    orders::get(op.tx(), shop, &order.id, false)
                        .await?
                        .ok_or_else(|| CoreError::Internal("order vanished".into()))?
                } else {
                    order.clone()
                };
                let body = serde_json::to_string(&order)
                    .map_err(|e| CoreError::Internal(e.to_string()))?;
                if let Some(idem) = idempotency {
                    let resp = IdempotentResponse {
                        request_hash: idem.request_hash.clone(),
                        status: 201,
                        body: body.clone(),
                    };
                    let now = op.now;
                    match shops::idempotency_put(
                        op.tx(),
                        shop,
                        &idem.scope(),
                        &idem.key,
                        &resp,
                        now,
                    )
                    .await
                    {
                        Err(e) if e.is_unique_violation() => return Err(CoreError::Retry),
                        r => r?,
                    }
                }
                Ok((201, body))
            })
        })
        .await
    }

    pub async fn get_order(&self, shop: &str, id: &str) -> Result<Order> {
        self.read(|tx| {
            Box::pin(async move {
                orders::get(tx, shop, id, false)
                    .await?
                    .ok_or_else(|| CoreError::NotFound(format!("order {id} not found")))
            })
        })
        .await
    }

    pub async fn list_orders(
        &self,
        shop: &str,
        member: Option<&str>,
        status: Option<OrderStatus>,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Order>> {
        self.read(|tx| {
            Box::pin(async move {
                Ok(orders::list(
                    tx,
                    shop,
                    &orders::ListFilter {
                        member_id: member,
                        status,
                        before,
                        limit,
                    },
                )
                .await?)
            })
        })
        .await
    }
}

/// The first result of a checkout, or a refusal if the key came with another body.
fn replay(idem: &Idempotency, prev: IdempotentResponse) -> Result<(u16, String)> {
    if prev.request_hash != idem.request_hash {
        return Err(CoreError::Conflict(format!(
            "Idempotency-Key {:?} was already used by you with a different request body; use a new key for a new order",
            idem.key
        )));
    }
    Ok((prev.status, prev.body))
}

/// An order with ids and the shop's terms, before pricing fills in its lines.
fn draft_order(shop: &str, shop_row: &Shop, req: &CheckoutRequest, now: i64) -> Order {
    let mut r = [0u8; 10];
    getrandom::fill(&mut r).expect("the OS provides randomness");
    Order {
        id: OrderId::generate(now, r).0,
        shop_id: shop.into(),
        member_id: req.member_id.clone(),
        status: OrderStatus::PendingPayment,
        payment_status: PaymentStatus::Unpaid,
        refund_state: RefundState::None,
        close_reason: None,
        hold: false,
        currency: shop_row.currency.clone(),
        original_amount: 0,
        discount: 0,
        payable_amount: 0,
        paid_amount: 0,
        refunded_amount: 0,
        attributes: Vec::new(),
        plugin_inputs: req
            .plugins
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect(),
        created_at: now,
        expires_at: now + shop_row.payment_timeout_secs * 1000,
        paid_at: None,
        closed_at: None,
        lines: Vec::new(),
        version: 0,
    }
}

/// Fills the draft's lines and totals from the priced lines.
fn finish_order(mut order: Order, priced: &[PricedLine], _req: &CheckoutRequest) -> Result<Order> {
    let (original, discount, payable) =
        totals(priced).map_err(|e| CoreError::Invalid(e.to_string()))?;
    order.original_amount = original.0;
    order.discount = discount.0;
    order.payable_amount = payable.0;
    order.lines = priced
        .iter()
        .map(|l| {
            let mut r = [0u8; 10];
            getrandom::fill(&mut r).expect("the OS provides randomness");
            OrderLine {
                id: OrderLineId::generate(order.created_at, r).0,
                index: l.index,
                product_id: l.product_id.clone(),
                sku_id: l.sku_id.clone(),
                quantity: l.quantity,
                unit_price: l.unit_price.0,
                original_amount: l.original_amount.0,
                discount: l.discount().0,
                final_amount: l.amount.0,
                refunded_amount: 0,
                adjustments: l.adjustments.clone(),
            }
        })
        .collect();
    Ok(order)
}

/// On the sandbox thread: price, validate, then let every order-created hook see the new
/// order; their attributes are snapshotted on it.
fn plan_with_plugins(
    s: &mut Session,
    req: &CheckoutRequest,
    lines: Vec<PricedLine>,
    tags: &[Vec<String>],
    draft: Order,
) -> Result<Planned> {
    let priced = price(s, req, lines, tags)?;
    for i in 0..s.parts.len() {
        let p = &s.parts[i].installed;
        let input = req.plugins.get(p.name()).map(|v| v.to_string());
        if !p.manifest.hooks.validate_checkout
            || !p
                .manifest
                .runs_without_input(InputHook::ValidateCheckout, input.is_some())
        {
            continue;
        }
        let name = p.name().to_string();
        let fails_open = p.manifest.fails_open(FailOpenHook::ValidateCheckout);
        let hook = Hook::ValidateCheckout(cart(req, &priced, tags, input.clone()));
        match s.call(i, hook) {
            Ok(_) => {}
            Err(CallFailure::Fault(kind, m)) if input.is_none() && fails_open => {
                tracing::warn!(plugin = %name, kind = kind.as_str(), "checkout validation failed open: {m}");
            }
            Err(f) => return Err(f.into_core(&name)),
        }
    }
    let mut order = finish_order(draft, &priced, req)?;
    for p in &mut s.parts {
        p.overlay.add_local_order(order.clone());
    }
    let mut attributes = Vec::new();
    for i in 0..s.parts.len() {
        let p = &s.parts[i].installed;
        let input = req.plugins.get(p.name()).map(|v| v.to_string());
        if !p.manifest.hooks.order_created
            || !p
                .manifest
                .runs_without_input(InputHook::OrderCreated, input.is_some())
        {
            continue;
        }
        let name = p.name().to_string();
        let hook = Hook::OrderCreated {
            order: order.clone(),
            input,
        };
        match s.call(i, hook) {
            Ok(HookOutput::Attributes(attrs)) => {
                attributes.extend(attrs.into_iter().map(|(key, value)| Attribute {
                    key: format!("{name}.{key}"),
                    value,
                }));
            }
            Ok(_) => return Err(CoreError::Internal("unexpected hook output".into())),
            Err(f) => return Err(f.into_core(&name)),
        }
    }
    order.attributes = attributes;
    Ok(Planned { order })
}
