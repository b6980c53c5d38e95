//! A plugin of contract 0.1.0, built from the frozen `wit/v0.1.0` folder with `wit-bindgen`
//! directly (not the SDK, which builds 0.2.0), so the host's tests can install a 0.1.0
//! component beside 0.2.0 ones and see the host adapt it:
//!
//! - `price` (item stage): 1.00 off the first line, labelled `0.1.0 fixture`;
//! - `remember` action: stores its input under `remembered` and returns
//!   `{"wit": "0.1.0", "previous": <the value before, or null>}` (the 0.1.0 `state` import);
//! - `validate-config` (0.1.0 signature, no context): refuses anything but a JSON object.

wit_bindgen::generate!({
    path: "../../../wit/v0.1.0",
    world: "plugin",
});

use baseplate::plugin::state;
use baseplate::plugin::types::{
    Actor, Adjustment, Attribute, CallContext, Cart, Event, Order, PluginError, PriceStage,
};
use exports::baseplate::plugin::hooks::Guest;

/// The fixed discount, in 分.
pub const DISCOUNT: i64 = 100;

struct Fixture;

impl Guest for Fixture {
    fn validate_config(config: String) -> Result<(), PluginError> {
        let trimmed = config.trim();
        if trimmed.starts_with('{') && trimmed.ends_with('}') {
            Ok(())
        } else {
            Err(PluginError::Invalid("config must be a JSON object".into()))
        }
    }

    fn price(
        _ctx: CallContext,
        stage: PriceStage,
        cart: Cart,
    ) -> Result<Vec<Adjustment>, PluginError> {
        let first = cart.lines.first().filter(|l| l.amount > 0);
        Ok(match (stage, first) {
            (PriceStage::Item, Some(line)) => vec![Adjustment {
                line: line.index,
                amount: DISCOUNT.min(line.amount),
                label: "0.1.0 fixture".into(),
                reference: None,
            }],
            _ => Vec::new(),
        })
    }

    fn validate_checkout(_ctx: CallContext, _cart: Cart) -> Result<(), PluginError> {
        Ok(())
    }

    fn order_created(
        _ctx: CallContext,
        _order: Order,
        _input: Option<String>,
    ) -> Result<Vec<Attribute>, PluginError> {
        Ok(Vec::new())
    }

    fn handle_event(_ctx: CallContext, _event: Event) -> Result<(), PluginError> {
        Ok(())
    }

    fn handle_action(
        _ctx: CallContext,
        _actor: Actor,
        name: String,
        input: String,
    ) -> Result<String, PluginError> {
        if name != "remember" {
            return Err(PluginError::NotFound(format!("unknown action `{name}`")));
        }
        let previous = state::get("remembered").map(|v| String::from_utf8_lossy(&v).into_owned());
        state::set("remembered", input.as_bytes());
        let previous = match previous {
            // Stored inputs are JSON (the host only passes JSON bodies).
            Some(v) => v,
            None => "null".into(),
        };
        Ok(format!(r#"{{"wit":"0.1.0","previous":{previous}}}"#))
    }

    fn fire_timer(_ctx: CallContext, _name: String, _payload: Vec<u8>) -> Result<(), PluginError> {
        Ok(())
    }
}

// Natively there is no component to export to (the linker rejects the exports' names).
#[cfg(target_arch = "wasm32")]
export!(Fixture);
