//! The raw host interfaces the helper modules call: the generated imports on wasm32, the
//! thread-local mock host everywhere else (the generated native stubs only panic).

#[cfg(target_arch = "wasm32")]
pub(crate) use crate::bindings::baseplate::plugin::{
    host, ledger, logging, order_control, points, shop_data, state, timers,
};
#[cfg(not(target_arch = "wasm32"))]
pub(crate) use crate::testing::imports::{
    host, ledger, logging, order_control, points, shop_data, state, timers,
};
