//! The order's separate dimensions — status, payment status, refund state, close reason —
//! and the transitions between them. The store persists these; the rules live here.

use crate::money::Money;
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum OrderStatus {
    PendingPayment,
    /// Paid, held by a plugin until it confirms (e.g. the group fills).
    AwaitingConfirmation,
    ToShip,
    Completed,
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PaymentStatus {
    Unpaid,
    Paid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum RefundState {
    None,
    Partial,
    Full,
}

/// Why an order closed. Plugin reasons carry the plugin's name and its words.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CloseReason {
    PaymentTimeout,
    Cancelled,
    Refunded,
    Plugin { plugin: String, reason: String },
}

macro_rules! str_enum {
    ($t:ty { $($v:ident => $s:literal),* $(,)? }) => {
        impl $t {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$v => $s),* }
            }
            pub fn parse(s: &str) -> Option<Self> {
                match s { $($s => Some(Self::$v),)* _ => None }
            }
        }
    };
}
str_enum!(OrderStatus { PendingPayment => "pending_payment", AwaitingConfirmation => "awaiting_confirmation", ToShip => "to_ship", Completed => "completed", Closed => "closed" });
str_enum!(PaymentStatus { Unpaid => "unpaid", Paid => "paid" });
str_enum!(RefundState { None => "none", Partial => "partial", Full => "full" });

impl CloseReason {
    pub fn to_db(&self) -> String {
        match self {
            CloseReason::PaymentTimeout => "payment_timeout".into(),
            CloseReason::Cancelled => "cancelled".into(),
            CloseReason::Refunded => "refunded".into(),
            CloseReason::Plugin { plugin, reason } => format!("plugin:{plugin}:{reason}"),
        }
    }
}

/// The state of one order, as far as transitions care.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderState {
    pub status: OrderStatus,
    pub payment: PaymentStatus,
    pub refund: RefundState,
    /// A plugin asked to hold the order for confirmation once it is paid.
    pub hold: bool,
    pub payable: Money,
    pub paid: Money,
    pub refunded: Money,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransitionError {
    #[error("the order is {0}, not awaiting payment")]
    NotPayable(&'static str),
    #[error("paid amount {paid} does not match the order's payable amount {payable}")]
    AmountMismatch { paid: Money, payable: Money },
    #[error("the order is {0}; only unpaid orders can be closed this way")]
    NotClosable(&'static str),
    #[error("the order is not paid")]
    NotPaid,
    #[error("refund of {asked} exceeds the refundable {left}")]
    RefundTooLarge { asked: Money, left: Money },
    #[error("refund amount must be positive")]
    RefundNotPositive,
    #[error("the order is {0}, not awaiting confirmation")]
    NotHeld(&'static str),
}

/// What to do with a payment that arrived for an order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentDecision {
    /// Apply it: the order is paid and moves to `status`.
    Apply { status: OrderStatus },
    /// The order closed before the money arrived: keep nothing, refund it in full.
    RefundClosedOrder,
}

impl OrderState {
    /// Decides a payment of `amount` (checked against the payable amount).
    pub fn decide_payment(&self, amount: Money) -> Result<PaymentDecision, TransitionError> {
        if amount != self.payable {
            return Err(TransitionError::AmountMismatch {
                paid: amount,
                payable: self.payable,
            });
        }
        match (self.status, self.payment) {
            (OrderStatus::PendingPayment, PaymentStatus::Unpaid) => Ok(PaymentDecision::Apply {
                status: if self.hold {
                    OrderStatus::AwaitingConfirmation
                } else {
                    OrderStatus::ToShip
                },
            }),
            (OrderStatus::Closed, PaymentStatus::Unpaid) => Ok(PaymentDecision::RefundClosedOrder),
            (s, _) => Err(TransitionError::NotPayable(s.as_str())),
        }
    }

    /// Closing an unpaid order (timeout, cancel): only from pending payment.
    pub fn check_close_unpaid(&self) -> Result<(), TransitionError> {
        match (self.status, self.payment) {
            (OrderStatus::PendingPayment, PaymentStatus::Unpaid) => Ok(()),
            (s, _) => Err(TransitionError::NotClosable(s.as_str())),
        }
    }

    /// Applies a refund of `amount`; returns the new refund state and whether the order
    /// closes (a full refund of an order that has not completed closes it).
    pub fn apply_refund(&mut self, amount: Money) -> Result<(RefundState, bool), TransitionError> {
        if self.payment != PaymentStatus::Paid {
            return Err(TransitionError::NotPaid);
        }
        if amount.0 <= 0 {
            return Err(TransitionError::RefundNotPositive);
        }
        let left = Money(self.paid.0 - self.refunded.0);
        if amount > left {
            return Err(TransitionError::RefundTooLarge {
                asked: amount,
                left,
            });
        }
        self.refunded = Money(self.refunded.0 + amount.0);
        self.refund = if self.refunded == self.paid {
            RefundState::Full
        } else {
            RefundState::Partial
        };
        let closes = self.refund == RefundState::Full && self.status != OrderStatus::Completed;
        if closes {
            self.status = OrderStatus::Closed;
        }
        Ok((self.refund, closes))
    }

    /// A held, paid order moves on to shipping.
    pub fn confirm(&mut self) -> Result<(), TransitionError> {
        match self.status {
            OrderStatus::AwaitingConfirmation => {
                self.status = OrderStatus::ToShip;
                self.hold = false;
                Ok(())
            }
            s => Err(TransitionError::NotHeld(s.as_str())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn state(status: OrderStatus, payment: PaymentStatus) -> OrderState {
        OrderState {
            status,
            payment,
            refund: RefundState::None,
            hold: false,
            payable: Money(1000),
            paid: if payment == PaymentStatus::Paid {
                Money(1000)
            } else {
                Money(0)
            },
            refunded: Money(0),
        }
    }

    #[test]
    fn payment_rules() {
        let s = state(OrderStatus::PendingPayment, PaymentStatus::Unpaid);
        assert_eq!(
            s.decide_payment(Money(1000)),
            Ok(PaymentDecision::Apply {
                status: OrderStatus::ToShip
            })
        );
        assert!(matches!(
            s.decide_payment(Money(999)),
            Err(TransitionError::AmountMismatch { .. })
        ));
        let held = OrderState {
            hold: true,
            ..s.clone()
        };
        assert_eq!(
            held.decide_payment(Money(1000)),
            Ok(PaymentDecision::Apply {
                status: OrderStatus::AwaitingConfirmation
            })
        );
        let closed = state(OrderStatus::Closed, PaymentStatus::Unpaid);
        assert_eq!(
            closed.decide_payment(Money(1000)),
            Ok(PaymentDecision::RefundClosedOrder)
        );
        let paid = state(OrderStatus::ToShip, PaymentStatus::Paid);
        assert!(paid.decide_payment(Money(1000)).is_err());
    }

    #[test]
    fn refunds_never_exceed_paid() {
        let mut s = state(OrderStatus::ToShip, PaymentStatus::Paid);
        assert_eq!(
            s.apply_refund(Money(300)),
            Ok((RefundState::Partial, false))
        );
        assert!(matches!(
            s.apply_refund(Money(701)),
            Err(TransitionError::RefundTooLarge { .. })
        ));
        assert!(s.apply_refund(Money(0)).is_err());
        assert_eq!(s.apply_refund(Money(700)), Ok((RefundState::Full, true)));
        assert_eq!(s.status, OrderStatus::Closed);
        assert!(s.apply_refund(Money(1)).is_err());
        let unpaid = state(OrderStatus::PendingPayment, PaymentStatus::Unpaid);
        assert_eq!(
            unpaid.clone().apply_refund(Money(1)),
            Err(TransitionError::NotPaid)
        );
    }

    #[test]
    fn close_and_confirm() {
        assert!(
            state(OrderStatus::PendingPayment, PaymentStatus::Unpaid)
                .check_close_unpaid()
                .is_ok()
        );
        assert!(
            state(OrderStatus::ToShip, PaymentStatus::Paid)
                .check_close_unpaid()
                .is_err()
        );
        let mut held = state(OrderStatus::AwaitingConfirmation, PaymentStatus::Paid);
        assert!(held.confirm().is_ok());
        assert_eq!(held.status, OrderStatus::ToShip);
        assert!(held.confirm().is_err());
    }
}
