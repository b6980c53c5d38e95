//! Checkout: the pricing pipeline over the shop's plugins, checkout validation, atomic
//! stock, the order with per-line discounts, and the plugins' order-created hooks — all in
//! one transaction, idempotent by the caller's key.

use crate::plugins::{CallFailure, Installed, installed};
use crate::{CoreError, Op, Platform, Result, operation};
use baseplate_domain::pricing::{ProposedAdjustment, apply_adjustments, totals};
use baseplate_domain::{
    Money, OrderId, OrderLineId, OrderStatus, PaymentStatus, PriceStage, PricedLine, RefundState,
};
use baseplate_marketplace::PriceStage as ManifestStage;
use baseplate_runtime::{Hook, HookOutput, order_to_wit, stage_to_wit, wit};
use baseplate_store::orders::{self, Attribute, Order, OrderLine};
use baseplate_store::shops::{self, IdempotentResponse, Shop};
use baseplate_store::{catalog, members};
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

/// The cart a plugin sees: the lines as priced so far, with their products' tags, and the
/// buyer's input for that plugin.
fn cart(
    req: &CheckoutRequest,
    lines: &[PricedLine],
    tags: &[Vec<String>],
    input: Option<String>,
) -> wit::Cart {
    wit::Cart {
        member_id: req.member_id.clone(),
        lines: lines
            .iter()
            .zip(tags)
            .map(|(l, t)| wit::CartLine {
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

    /// Prices a cart without creating anything.
    pub async fn quote(&self, shop: &str, req: CheckoutRequest) -> Result<Quote> {
        self.check_request(&req)?;
        operation!(self, |op| async {
            let shop_row = shops::get(op.tx(), shop)
                .await?
                .ok_or_else(|| CoreError::NotFound("shop not found".into()))?;
            let plugins = self.participants(op, shop, &req).await?;
            let (lines, _) = self.price(op, &shop_row, &req, &plugins).await?;
            let (original, discount, payable) =
                totals(&lines).map_err(|e| CoreError::Invalid(e.to_string()))?;
            Ok(Quote {
                currency: shop_row.currency,
                lines,
                original_amount: original.0,
                discount: discount.0,
                payable_amount: payable.0,
            })
        }
        .await)
    }

    /// Active plugins of the shop, and a check that every plugin input names one.
    async fn participants(
        &self,
        op: &mut Op,
        shop: &str,
        req: &CheckoutRequest,
    ) -> Result<Vec<Installed>> {
        let all = installed(op.tx(), shop).await?;
        for name in req.plugins.keys() {
            if !all.iter().any(|p| p.name() == name && p.active()) {
                return Err(CoreError::Invalid(format!(
                    "plugins.{name}: no such plugin is installed and enabled in this shop"
                )));
            }
        }
        let active: Vec<Installed> = all.into_iter().filter(|p| p.active()).collect();
        // Take every participant's lock up front, in one order, so concurrent checkouts
        // never deadlock on each other's plugins.
        let names: Vec<&str> = active.iter().map(|p| p.name()).collect();
        op.tx().lock_plugins(shop, &names).await?;
        Ok(active)
    }

    async fn price(
        &self,
        op: &mut Op,
        shop: &Shop,
        req: &CheckoutRequest,
        plugins: &[Installed],
    ) -> Result<(Vec<PricedLine>, Vec<Vec<String>>)> {
        if let Some(m) = &req.member_id
            && members::get(op.tx(), &shop.id, m).await?.is_none()
        {
            return Err(CoreError::NotFound(format!(
                "member {m} not found in this shop"
            )));
        }
        let mut lines = Vec::with_capacity(req.lines.len());
        let mut tags = Vec::with_capacity(req.lines.len());
        for (i, l) in req.lines.iter().enumerate() {
            let info = catalog::get_sku(op.tx(), &shop.id, &l.sku_id)
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
        for stage in PriceStage::ALL {
            for p in plugins
                .iter()
                .filter(|p| p.manifest.prices_at(manifest_stage(stage)))
            {
                let input = req.plugins.get(p.name()).map(|v| v.to_string());
                let cart = cart(req, &lines, &tags, input.clone());
                let hook = Hook::Price {
                    stage: stage_to_wit(stage),
                    cart,
                };
                match self.call(op, &shop.id, &shop.currency, p, hook).await? {
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
                        if let Err(e) = apply_adjustments(&mut lines, p.name(), stage, proposals) {
                            // A plugin's bad output is its fault, never the buyer's.
                            if input.is_some()
                                || !p
                                    .manifest
                                    .fails_open(baseplate_marketplace::FailOpenHook::Price)
                            {
                                return Err(CoreError::PluginFailed {
                                    plugin: p.name().into(),
                                    message: format!("bad pricing output: {e}"),
                                });
                            }
                        }
                    }
                    Ok(_) => return Err(CoreError::Internal("unexpected hook output".into())),
                    Err(CallFailure::Fault(m))
                        if input.is_none()
                            && p.manifest
                                .fails_open(baseplate_marketplace::FailOpenHook::Price) =>
                    {
                        tracing::warn!(plugin = p.name(), "pricing failed open: {m}");
                    }
                    Err(f) => return Err(f.into_core(p.name())),
                }
            }
        }
        Ok((lines, tags))
    }

    /// Creates an order. With an idempotency key, a retry with the same body returns the
    /// first result; the same key with another body is refused.
    pub async fn checkout(
        &self,
        shop: &str,
        req: CheckoutRequest,
        idempotency: Option<(String, String)>,
    ) -> Result<(u16, String)> {
        self.check_request(&req)?;
        operation!(self, |op| {
            async {
            if let Some((key, hash)) = &idempotency
                && let Some(prev) = shops::idempotency_get(op.tx(), shop, "checkout", key).await?
            {
                if &prev.request_hash != hash {
                    return Err(CoreError::Conflict(format!(
                        "Idempotency-Key {key:?} was already used with a different request body; use a new key for a new order"
                    )));
                }
                return Ok((prev.status, prev.body));
            }
            let shop_row = shops::get(op.tx(), shop).await?.ok_or_else(|| CoreError::NotFound("shop not found".into()))?;
            let plugins = self.participants(op, shop, &req).await?;
            let (priced, tags) = self.price(op, &shop_row, &req, &plugins).await?;
            for p in plugins.iter().filter(|p| p.manifest.hooks.validate_checkout) {
                let input = req.plugins.get(p.name()).map(|v| v.to_string());
                let cart = cart(&req, &priced, &tags, input.clone());
                match self.call(op, shop, &shop_row.currency, p, Hook::ValidateCheckout(cart)).await? {
                    Ok(_) => {}
                    Err(CallFailure::Fault(m))
                        if input.is_none() && p.manifest.fails_open(baseplate_marketplace::FailOpenHook::ValidateCheckout) =>
                    {
                        tracing::warn!(plugin = p.name(), "checkout validation failed open: {m}");
                    }
                    Err(f) => return Err(f.into_core(p.name())),
                }
            }
            for l in &priced {
                if !catalog::take_stock(op.tx(), shop, &l.sku_id, l.quantity as i64).await? {
                    let left = catalog::get_sku(op.tx(), shop, &l.sku_id).await?.map(|s| s.sku.stock).unwrap_or(0);
                    return Err(CoreError::Conflict(format!("sold out: sku {} has {left} left, {} asked", l.sku_id, l.quantity)));
                }
            }
            let (original, discount, payable) = totals(&priced).map_err(|e| CoreError::Invalid(e.to_string()))?;
            let r = op.random10();
            let order_id = OrderId::generate(op.now, r).0;
            let mut lines = Vec::with_capacity(priced.len());
            for l in &priced {
                let r = op.random10();
                lines.push(OrderLine {
                    id: OrderLineId::generate(op.now, r).0,
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
                });
            }
            let mut order = Order {
                id: order_id.clone(),
                shop_id: shop.into(),
                member_id: req.member_id.clone(),
                status: OrderStatus::PendingPayment,
                payment_status: PaymentStatus::Unpaid,
                refund_state: RefundState::None,
                close_reason: None,
                hold: false,
                currency: shop_row.currency.clone(),
                original_amount: original.0,
                discount: discount.0,
                payable_amount: payable.0,
                paid_amount: 0,
                refunded_amount: 0,
                attributes: Vec::new(),
                plugin_inputs: req.plugins.iter().map(|(k, v)| (k.clone(), v.to_string())).collect(),
                created_at: op.now,
                expires_at: op.now + shop_row.payment_timeout_secs * 1000,
                paid_at: None,
                closed_at: None,
                lines,
            };
            orders::insert(op.tx(), &order).await?;
            let mut attributes = Vec::new();
            for p in plugins.iter().filter(|p| p.manifest.hooks.order_created) {
                let input = req.plugins.get(p.name()).map(|v| v.to_string());
                let hook = Hook::OrderCreated { order: order_to_wit(&order), input };
                match self.call(op, shop, &shop_row.currency, p, hook).await? {
                    Ok(HookOutput::Attributes(attrs)) => {
                        attributes.extend(attrs.into_iter().map(|a| Attribute { key: format!("{}.{}", p.name(), a.key), value: a.value }));
                    }
                    Ok(_) => return Err(CoreError::Internal("unexpected hook output".into())),
                    Err(f) => return Err(f.into_core(p.name())),
                }
            }
            // Order actions (e.g. hold) change the row: re-read it then, before adding attributes.
            if op.order_actions > 0 {
                order = orders::get(op.tx(), shop, &order_id, true).await?.ok_or_else(|| CoreError::Internal("order vanished".into()))?;
            }
            if !attributes.is_empty() {
                order.attributes.extend(attributes);
                orders::update_state(op.tx(), &order).await?;
            }
            let body = serde_json::to_string(&order).map_err(|e| CoreError::Internal(e.to_string()))?;
            if let Some((key, hash)) = &idempotency {
                let resp = IdempotentResponse { request_hash: hash.clone(), status: 201, body: body.clone() };
                let now = op.now;
                match shops::idempotency_put(op.tx(), shop, "checkout", key, &resp, now).await {
                    // A concurrent request with the same key won: retry, and return its result.
                    Err(e) if e.is_unique_violation() => return Err(CoreError::Retry),
                    r => r?,
                }
            }
            Ok((201, body))
        }
        .await
        })
    }

    pub async fn get_order(&self, shop: &str, id: &str) -> Result<Order> {
        operation!(self, |op| async {
            orders::get(op.tx(), shop, id, false)
                .await?
                .ok_or_else(|| CoreError::NotFound(format!("order {id} not found")))
        }
        .await)
    }

    pub async fn list_orders(
        &self,
        shop: &str,
        member: Option<&str>,
        status: Option<OrderStatus>,
        before: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Order>> {
        operation!(self, |op| async {
            Ok(orders::list(
                op.tx(),
                shop,
                &orders::ListFilter {
                    member_id: member,
                    status,
                    before,
                    limit,
                },
            )
            .await?)
        }
        .await)
    }
}
