//! `order-control`: hold, confirm and cancel orders of this shop. Each request is checked
//! against the order as the operation sees it and buffered; the platform applies it in the
//! operation's write (where the order's version is checked again).

use crate::contract::convert;
use crate::contract::{v0_1, v0_2};
use crate::limits::MAX_REASON_BYTES;
use crate::sandbox::Sandbox;
use crate::types::{OrderAction, PluginError};
use baseplate_domain::{OrderStatus, PaymentStatus};

impl Sandbox {
    fn order_action(&mut self, action: OrderAction) -> wasmtime::Result<Result<(), PluginError>> {
        self.tick()?;
        let (id, verb) = match &action {
            OrderAction::Hold { order_id } => (order_id.clone(), "held"),
            OrderAction::Confirm { order_id } => (order_id.clone(), "confirmed"),
            OrderAction::Cancel { order_id, .. } => (order_id.clone(), "cancelled"),
        };
        self.writable(&format!("an order action ({verb})"))?;
        if let OrderAction::Cancel { reason, .. } = &action
            && (reason.is_empty() || reason.len() > MAX_REASON_BYTES)
        {
            return Ok(Err(PluginError::Invalid(format!(
                "cancel reason must be 1..={MAX_REASON_BYTES} bytes"
            ))));
        }
        let until = self.until;
        let r = self.overlay.order(&id, until);
        let Some(order) = self.data(r)? else {
            return Ok(Err(PluginError::NotFound(format!("order {id} not found"))));
        };
        let allowed = match &action {
            OrderAction::Hold { .. } => {
                matches!(
                    order.status,
                    OrderStatus::PendingPayment | OrderStatus::AwaitingConfirmation
                ) || (order.status == OrderStatus::ToShip
                    && order.payment_status == PaymentStatus::Paid)
            }
            // Pending orders may be confirmed ahead of payment (they then ship once paid).
            OrderAction::Confirm { .. } => matches!(
                order.status,
                OrderStatus::AwaitingConfirmation
                    | OrderStatus::PendingPayment
                    | OrderStatus::ToShip
            ),
            OrderAction::Cancel { .. } => {
                !matches!(order.status, OrderStatus::Closed | OrderStatus::Completed)
            }
        };
        if !allowed {
            return Ok(Err(PluginError::Conflict(format!(
                "order {id} is {}, it can't be {verb}",
                order.status.as_str()
            ))));
        }
        self.overlay.effects.actions.push(action);
        Ok(Ok(()))
    }
}

macro_rules! order_control_adapter {
    ($v:ident) => {
        impl $v::baseplate::plugin::order_control::Host for Sandbox {
            fn hold_order(
                &mut self,
                order_id: String,
            ) -> wasmtime::Result<Result<(), $v::baseplate::plugin::types::PluginError>> {
                Ok(self
                    .order_action(OrderAction::Hold { order_id })?
                    .map_err(convert::$v::to_plugin_error))
            }

            fn confirm_order(
                &mut self,
                order_id: String,
            ) -> wasmtime::Result<Result<(), $v::baseplate::plugin::types::PluginError>> {
                Ok(self
                    .order_action(OrderAction::Confirm { order_id })?
                    .map_err(convert::$v::to_plugin_error))
            }

            fn cancel_order(
                &mut self,
                order_id: String,
                reason: String,
            ) -> wasmtime::Result<Result<(), $v::baseplate::plugin::types::PluginError>> {
                Ok(self
                    .order_action(OrderAction::Cancel { order_id, reason })?
                    .map_err(convert::$v::to_plugin_error))
            }
        }
    };
}

order_control_adapter!(v0_1);
order_control_adapter!(v0_2);
