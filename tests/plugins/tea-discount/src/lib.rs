//! A third-party plugin for the registry's end-to-end tests, built on the public SDK only,
//! outside the first-party set: 10% off every order at the order stage. It imports
//! nothing, so its manifest asks for no capability.

use baseplate_sdk::money::spread_discount;
use baseplate_sdk::{Adjustment, CallContext, Cart, Plugin, PriceStage, Result};

pub struct TeaDiscount;

impl Plugin for TeaDiscount {
    fn price(_: &CallContext, stage: PriceStage, cart: &Cart) -> Result<Vec<Adjustment>> {
        if stage != PriceStage::Order {
            return Ok(Vec::new());
        }
        let total: i64 = cart.lines.iter().map(|l| l.amount).sum();
        Ok(spread_discount(cart, total / 10, "Tea: 10% off", None))
    }
}

baseplate_sdk::register_plugin!(TeaDiscount);
