//! The pricing pipeline. Plugins propose per-line discounts stage by stage — item-level
//! promotions, then order-level discounts, then coupons — and the host applies them here:
//! each proposal is checked, clamped so a line never goes below zero, and recorded on the
//! line so refunds and commissions can see exactly who took what off which line.

use crate::money::Money;
use serde::{Deserialize, Serialize};

#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum PriceStage {
    Item,
    Order,
    Coupon,
}

impl PriceStage {
    pub const ALL: [PriceStage; 3] = [PriceStage::Item, PriceStage::Order, PriceStage::Coupon];

    pub fn as_str(self) -> &'static str {
        match self {
            PriceStage::Item => "item",
            PriceStage::Order => "order",
            PriceStage::Coupon => "coupon",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

/// A discount recorded on a line.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LineAdjustment {
    pub plugin: String,
    pub stage: PriceStage,
    pub amount: Money,
    pub label: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<String>,
}

/// What a plugin proposes for one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProposedAdjustment {
    pub line: u32,
    pub amount: i64,
    pub label: String,
    pub reference: Option<String>,
}

/// A cart line as it moves through the stages.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PricedLine {
    pub index: u32,
    pub product_id: String,
    pub sku_id: String,
    pub quantity: u32,
    pub unit_price: Money,
    pub original_amount: Money,
    /// The amount after the adjustments so far.
    pub amount: Money,
    pub adjustments: Vec<LineAdjustment>,
}

impl PricedLine {
    pub fn new(
        index: u32,
        product_id: String,
        sku_id: String,
        quantity: u32,
        unit_price: Money,
    ) -> Result<Self, PricingError> {
        let original = unit_price
            .checked_mul(quantity as i64)
            .map_err(|_| PricingError::Overflow)?;
        Ok(PricedLine {
            index,
            product_id,
            sku_id,
            quantity,
            unit_price,
            original_amount: original,
            amount: original,
            adjustments: Vec::new(),
        })
    }

    pub fn discount(&self) -> Money {
        Money(self.original_amount.0 - self.amount.0)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PricingError {
    #[error("adjustment names line {0}, which is not in the cart")]
    UnknownLine(u32),
    #[error("adjustment amount must be positive, got {0}")]
    NotPositive(i64),
    #[error("too many adjustments ({0}; at most {MAX_ADJUSTMENTS})")]
    TooMany(usize),
    #[error("adjustment label must be 1..=200 characters")]
    BadLabel,
    #[error("amount overflow")]
    Overflow,
}

pub const MAX_ADJUSTMENTS: usize = 1000;

/// Applies one plugin's proposals at one stage. The whole set is checked before any of it
/// is applied, so a plugin's bad output changes nothing. Discounts larger than what is left
/// of a line are clamped to it (a line never goes below zero); clamped-away proposals are
/// dropped rather than recorded as zero.
pub fn apply_adjustments(
    lines: &mut [PricedLine],
    plugin: &str,
    stage: PriceStage,
    proposals: Vec<ProposedAdjustment>,
) -> Result<(), PricingError> {
    if proposals.len() > MAX_ADJUSTMENTS {
        return Err(PricingError::TooMany(proposals.len()));
    }
    for p in &proposals {
        if p.line as usize >= lines.len() {
            return Err(PricingError::UnknownLine(p.line));
        }
        if p.amount <= 0 {
            return Err(PricingError::NotPositive(p.amount));
        }
        if p.label.is_empty() || p.label.chars().count() > 200 {
            return Err(PricingError::BadLabel);
        }
    }
    for p in proposals {
        let line = &mut lines[p.line as usize];
        let amount = p.amount.min(line.amount.0);
        if amount == 0 {
            continue;
        }
        line.amount = Money(line.amount.0 - amount);
        line.adjustments.push(LineAdjustment {
            plugin: plugin.to_string(),
            stage,
            amount: Money(amount),
            label: p.label,
            reference: p.reference,
        });
    }
    Ok(())
}

/// Totals of a priced cart: original, discount, payable.
pub fn totals(lines: &[PricedLine]) -> Result<(Money, Money, Money), PricingError> {
    let original =
        Money::sum(lines.iter().map(|l| l.original_amount)).map_err(|_| PricingError::Overflow)?;
    let payable = Money::sum(lines.iter().map(|l| l.amount)).map_err(|_| PricingError::Overflow)?;
    Ok((original, Money(original.0 - payable.0), payable))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cart() -> Vec<PricedLine> {
        vec![
            PricedLine::new(0, "p1".into(), "s1".into(), 2, Money(500)).unwrap(),
            PricedLine::new(1, "p2".into(), "s2".into(), 1, Money(300)).unwrap(),
        ]
    }

    fn adj(line: u32, amount: i64) -> ProposedAdjustment {
        ProposedAdjustment {
            line,
            amount,
            label: "x".into(),
            reference: None,
        }
    }

    #[test]
    fn clamps_and_records() {
        let mut lines = cart();
        apply_adjustments(&mut lines, "live", PriceStage::Item, vec![adj(0, 200)]).unwrap();
        apply_adjustments(
            &mut lines,
            "coupons",
            PriceStage::Coupon,
            vec![adj(1, 1000), adj(0, 100)],
        )
        .unwrap();
        assert_eq!(lines[0].amount, Money(700));
        assert_eq!(lines[1].amount, Money(0));
        assert_eq!(lines[1].adjustments[0].amount, Money(300));
        assert_eq!(
            totals(&lines).unwrap(),
            (Money(1300), Money(600), Money(700))
        );
        // A line at zero takes no further (zero) adjustment.
        apply_adjustments(&mut lines, "x", PriceStage::Coupon, vec![adj(1, 5)]).unwrap();
        assert_eq!(lines[1].adjustments.len(), 1);
    }

    #[test]
    fn bad_proposals_change_nothing() {
        let mut lines = cart();
        let before = lines.clone();
        assert_eq!(
            apply_adjustments(
                &mut lines,
                "p",
                PriceStage::Order,
                vec![adj(0, 10), adj(5, 10)]
            ),
            Err(PricingError::UnknownLine(5))
        );
        assert_eq!(
            apply_adjustments(
                &mut lines,
                "p",
                PriceStage::Order,
                vec![adj(0, 10), adj(1, -1)]
            ),
            Err(PricingError::NotPositive(-1))
        );
        assert_eq!(lines, before);
    }
}
