//! The contract versions this host serves, each from its frozen folder under `wit/`, as
//! Zed's extension host keeps `since_v0_x`: one `bindgen!` per version, conversions from
//! the host's own types into each version's generated types, and host imports that are
//! written once (in `host/`) and exposed to every version through a thin adapter.

use crate::types::{Actor, Adjustment, Cart, PluginError};
use baseplate_domain::{OrderStatus, PaymentStatus, PriceStage, RefundState};
use baseplate_store::{catalog, members, orders};

/// A contract version this host serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ContractVersion {
    V0_1,
    V0_2,
}

impl ContractVersion {
    pub const ALL: [ContractVersion; 2] = [ContractVersion::V0_1, ContractVersion::V0_2];
    pub const LATEST: ContractVersion = ContractVersion::V0_2;

    pub fn as_str(self) -> &'static str {
        match self {
            ContractVersion::V0_1 => "0.1.0",
            ContractVersion::V0_2 => "0.2.0",
        }
    }

    pub fn parse(s: &str) -> Option<ContractVersion> {
        Self::ALL.into_iter().find(|v| v.as_str() == s)
    }

    /// The name of the hooks interface a component of this version exports.
    pub fn hooks_export(self) -> String {
        format!("baseplate:plugin/hooks@{}", self.as_str())
    }
}

pub mod v0_2 {
    wasmtime::component::bindgen!({
        path: "../../wit/v0.2.0",
        world: "plugin",
        imports: { default: trappable },
    });
}

pub mod v0_1 {
    wasmtime::component::bindgen!({
        path: "../../wit/v0.1.0",
        world: "plugin",
        imports: { default: trappable },
    });
}

/// Conversions between the host's types and one version's generated types, identical in
/// both versions for the records both share.
macro_rules! shared_conversions {
    ($v:ident) => {
        pub mod $v {
            use super::*;
            use crate::contract::$v::baseplate::plugin::types as w;

            pub fn stage(s: PriceStage) -> w::PriceStage {
                match s {
                    PriceStage::Item => w::PriceStage::Item,
                    PriceStage::Order => w::PriceStage::Order,
                    PriceStage::Coupon => w::PriceStage::Coupon,
                }
            }

            pub fn order(o: &orders::Order) -> w::Order {
                w::Order {
                    id: o.id.clone(),
                    member_id: o.member_id.clone(),
                    status: match o.status {
                        OrderStatus::PendingPayment => w::OrderStatus::PendingPayment,
                        OrderStatus::AwaitingConfirmation => w::OrderStatus::AwaitingConfirmation,
                        OrderStatus::ToShip => w::OrderStatus::ToShip,
                        OrderStatus::Completed => w::OrderStatus::Completed,
                        OrderStatus::Closed => w::OrderStatus::Closed,
                    },
                    payment_status: match o.payment_status {
                        PaymentStatus::Unpaid => w::PaymentStatus::Unpaid,
                        PaymentStatus::Paid => w::PaymentStatus::Paid,
                    },
                    refund_state: match o.refund_state {
                        RefundState::None => w::RefundState::None,
                        RefundState::Partial => w::RefundState::Partial,
                        RefundState::Full => w::RefundState::Full,
                    },
                    close_reason: o.close_reason.clone(),
                    currency: o.currency.clone(),
                    original_amount: o.original_amount,
                    discount: o.discount,
                    payable_amount: o.payable_amount,
                    paid_amount: o.paid_amount,
                    refunded_amount: o.refunded_amount,
                    lines: o
                        .lines
                        .iter()
                        .map(|l| w::OrderLine {
                            id: l.id.clone(),
                            index: l.index,
                            product_id: l.product_id.clone(),
                            sku_id: l.sku_id.clone(),
                            quantity: l.quantity,
                            unit_price: l.unit_price,
                            original_amount: l.original_amount,
                            discount: l.discount,
                            final_amount: l.final_amount,
                            refunded_amount: l.refunded_amount,
                            adjustments: l
                                .adjustments
                                .iter()
                                .map(|a| w::LineAdjustment {
                                    plugin: a.plugin.clone(),
                                    stage: stage(a.stage),
                                    amount: a.amount.0,
                                    label: a.label.clone(),
                                    reference: a.reference.clone(),
                                })
                                .collect(),
                        })
                        .collect(),
                    attributes: o
                        .attributes
                        .iter()
                        .map(|a| w::Attribute {
                            key: a.key.clone(),
                            value: a.value.clone(),
                        })
                        .collect(),
                    created_at: o.created_at,
                    paid_at: o.paid_at,
                }
            }

            pub fn member(m: &members::Member) -> w::Member {
                w::Member {
                    id: m.id.clone(),
                    name: m.name.clone(),
                    level: m.level.clamp(0, u32::MAX as i64) as u32,
                    points: m.points,
                    tags: m.tags.clone(),
                    joined_at: m.joined_at,
                    inviter_id: m.inviter_id.clone(),
                    paid_orders: m.paid_orders.clamp(0, u32::MAX as i64) as u32,
                }
            }

            pub fn product(p: &catalog::Product) -> w::Product {
                w::Product {
                    id: p.id.clone(),
                    name: p.name.clone(),
                    tags: p.tags.clone(),
                    skus: p
                        .skus
                        .iter()
                        .map(|s| w::Sku {
                            id: s.id.clone(),
                            name: s.name.clone(),
                            price: s.price,
                            stock: s.stock,
                        })
                        .collect(),
                }
            }

            pub fn cart(c: &Cart) -> w::Cart {
                w::Cart {
                    member_id: c.member_id.clone(),
                    lines: c
                        .lines
                        .iter()
                        .map(|l| w::CartLine {
                            index: l.index,
                            product_id: l.product_id.clone(),
                            sku_id: l.sku_id.clone(),
                            quantity: l.quantity,
                            unit_price: l.unit_price,
                            amount: l.amount,
                            tags: l.tags.clone(),
                        })
                        .collect(),
                    input: c.input.clone(),
                }
            }

            pub fn actor(a: &Actor) -> w::Actor {
                match a {
                    Actor::Member(id) => w::Actor::Member(id.clone()),
                    Actor::Staff(id) => w::Actor::Staff(id.clone()),
                    Actor::System => w::Actor::System,
                }
            }

            pub fn context(env: &crate::CallEnv) -> w::CallContext {
                w::CallContext {
                    shop_id: env.shop_id.clone(),
                    plugin: env.plugin.clone(),
                    version: env.version.clone(),
                    config: env.config.clone(),
                    now: env.now,
                    currency: env.currency.clone(),
                }
            }

            pub fn plugin_error(e: w::PluginError) -> PluginError {
                match e {
                    w::PluginError::Invalid(m) => PluginError::Invalid(m),
                    w::PluginError::Refused(m) => PluginError::Refused(m),
                    w::PluginError::NotFound(m) => PluginError::NotFound(m),
                    w::PluginError::Conflict(m) => PluginError::Conflict(m),
                    w::PluginError::Internal(m) => PluginError::Internal(m),
                }
            }

            pub fn to_plugin_error(e: PluginError) -> w::PluginError {
                match e {
                    PluginError::Invalid(m) => w::PluginError::Invalid(m),
                    PluginError::Refused(m) => w::PluginError::Refused(m),
                    PluginError::NotFound(m) => w::PluginError::NotFound(m),
                    PluginError::Conflict(m) => w::PluginError::Conflict(m),
                    PluginError::Internal(m) => w::PluginError::Internal(m),
                }
            }

            pub fn party(p: w::Party) -> baseplate_domain::Party {
                use baseplate_domain::Party;
                match p {
                    w::Party::Shop => Party::Shop,
                    w::Party::Platform => Party::Platform,
                    w::Party::Member(id) => Party::Member(id),
                    w::Party::Employee(id) => Party::Employee(id),
                    w::Party::Outlet(id) => Party::Outlet(id),
                }
            }

            pub fn ledger_entry(e: w::LedgerEntry) -> baseplate_domain::LedgerEntry {
                baseplate_domain::LedgerEntry {
                    party: party(e.party),
                    account: e.account,
                    amount: baseplate_domain::Money(e.amount),
                    available_at: e.available_at,
                }
            }

            pub fn adjustment(a: w::Adjustment) -> Adjustment {
                Adjustment {
                    line: a.line,
                    amount: a.amount,
                    label: a.label,
                    reference: a.reference,
                }
            }
        }
    };
}

/// Conversions per version.
pub mod convert {
    use super::*;
    shared_conversions!(v0_1);
    shared_conversions!(v0_2);
}
