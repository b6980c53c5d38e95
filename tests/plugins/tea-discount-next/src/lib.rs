//! The next version of the registry tests' third-party plugin: the same 10% off, and it
//! counts the shop's paid orders in its state — one more capability (`state`) than the
//! first version, which a merchant must accept before upgrading. Staff read the count
//! with the `paid-count` action.

use baseplate_sdk::money::spread_discount;
use baseplate_sdk::{
    Actor, Adjustment, CallContext, Cart, Event, Plugin, PriceStage, Result, state,
};

pub struct TeaDiscountNext;

const PAID: &str = "paid-orders";

impl Plugin for TeaDiscountNext {
    fn price(_: &CallContext, stage: PriceStage, cart: &Cart) -> Result<Vec<Adjustment>> {
        if stage != PriceStage::Order {
            return Ok(Vec::new());
        }
        let total: i64 = cart.lines.iter().map(|l| l.amount).sum();
        Ok(spread_discount(cart, total / 10, "Tea: 10% off", None))
    }

    fn handle_event(_: &CallContext, event: &Event) -> Result<()> {
        if let Event::OrderPaid(_) = event {
            let n: i64 = state::get_json(PAID)?.unwrap_or(0);
            state::set_json(PAID, &(n + 1))?;
        }
        Ok(())
    }

    fn handle_action(_: &CallContext, _: &Actor, _: &str, _: &str) -> Result<String> {
        let n: i64 = state::get_json(PAID)?.unwrap_or(0);
        Ok(format!(r#"{{"paid":{n}}}"#))
    }
}

baseplate_sdk::register_plugin!(TeaDiscountNext);
