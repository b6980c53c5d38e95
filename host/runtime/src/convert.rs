//! Conversions between the platform's records and the WIT types plugins see.

use crate::wit;
use baseplate_domain::{OrderStatus, Party, PaymentStatus, PriceStage, RefundState};
use baseplate_store::{catalog, members, orders, payments};

pub fn stage_to_wit(s: PriceStage) -> wit::PriceStage {
    match s {
        PriceStage::Item => wit::PriceStage::Item,
        PriceStage::Order => wit::PriceStage::Order,
        PriceStage::Coupon => wit::PriceStage::Coupon,
    }
}

pub fn party_from_wit(p: wit::Party) -> Party {
    match p {
        wit::Party::Shop => Party::Shop,
        wit::Party::Platform => Party::Platform,
        wit::Party::Member(id) => Party::Member(id),
        wit::Party::Employee(id) => Party::Employee(id),
        wit::Party::Outlet(id) => Party::Outlet(id),
    }
}

pub fn order_to_wit(o: &orders::Order) -> wit::Order {
    wit::Order {
        id: o.id.clone(),
        member_id: o.member_id.clone(),
        status: match o.status {
            OrderStatus::PendingPayment => wit::OrderStatus::PendingPayment,
            OrderStatus::AwaitingConfirmation => wit::OrderStatus::AwaitingConfirmation,
            OrderStatus::ToShip => wit::OrderStatus::ToShip,
            OrderStatus::Completed => wit::OrderStatus::Completed,
            OrderStatus::Closed => wit::OrderStatus::Closed,
        },
        payment_status: match o.payment_status {
            PaymentStatus::Unpaid => wit::PaymentStatus::Unpaid,
            PaymentStatus::Paid => wit::PaymentStatus::Paid,
        },
        refund_state: match o.refund_state {
            RefundState::None => wit::RefundState::None,
            RefundState::Partial => wit::RefundState::Partial,
            RefundState::Full => wit::RefundState::Full,
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
            .map(|l| wit::OrderLine {
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
                    .map(|a| wit::LineAdjustment {
                        plugin: a.plugin.clone(),
                        stage: stage_to_wit(a.stage),
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
            .map(|a| wit::Attribute {
                key: a.key.clone(),
                value: a.value.clone(),
            })
            .collect(),
        created_at: o.created_at,
        paid_at: o.paid_at,
    }
}

pub fn member_to_wit(m: &members::Member) -> wit::Member {
    wit::Member {
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

pub fn product_to_wit(p: &catalog::Product) -> wit::Product {
    wit::Product {
        id: p.id.clone(),
        name: p.name.clone(),
        tags: p.tags.clone(),
        skus: p
            .skus
            .iter()
            .map(|s| wit::Sku {
                id: s.id.clone(),
                name: s.name.clone(),
                price: s.price,
                stock: s.stock,
            })
            .collect(),
    }
}

pub fn refund_to_wit(r: &payments::Refund) -> wit::Refund {
    wit::Refund {
        id: r.id.clone(),
        amount: r.amount,
        lines: r
            .lines
            .iter()
            .map(|l| wit::LineRefund {
                line_id: l.line_id.clone(),
                amount: l.amount,
            })
            .collect(),
        reason: r.reason.clone(),
    }
}
