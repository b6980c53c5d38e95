//! The Baseplate interfaces a plugin imports, one file per interface, each written once
//! against the host's own types and exposed to every contract version by a thin adapter.
//! Every import is scoped to the shop and plugin of the call (fixed in `Sandbox::env` by
//! the host), reads through the operation's overlay, and buffers its writes there.

mod clock;
mod ledger;
mod logging;
mod order_control;
mod points;
mod shop_data;
mod state;
mod timers;

use crate::contract::{v0_1, v0_2};
use crate::sandbox::Sandbox;
use crate::{Capability, Grants};
use wasmtime::component::{HasSelf, Linker};

/// Links the interfaces `grants` names for a component of one contract version.
pub(crate) fn add_granted(
    linker: &mut Linker<Sandbox>,
    version: crate::ContractVersion,
    grants: Grants,
) -> wasmtime::Result<()> {
    type H = HasSelf<Sandbox>;
    match version {
        crate::ContractVersion::V0_2 => {
            use v0_2::baseplate::plugin as p;
            p::types::add_to_linker::<Sandbox, H>(linker, |s| s)?;
            for cap in Capability::ALL.into_iter().filter(|c| grants.has(*c)) {
                match cap {
                    Capability::State => p::state::add_to_linker::<Sandbox, H>(linker, |s| s)?,
                    Capability::Timers => p::timers::add_to_linker::<Sandbox, H>(linker, |s| s)?,
                    Capability::ShopData => {
                        p::shop_data::add_to_linker::<Sandbox, H>(linker, |s| s)?
                    }
                    Capability::OrderControl => {
                        p::order_control::add_to_linker::<Sandbox, H>(linker, |s| s)?
                    }
                    Capability::Ledger => p::ledger::add_to_linker::<Sandbox, H>(linker, |s| s)?,
                    Capability::Points => p::points::add_to_linker::<Sandbox, H>(linker, |s| s)?,
                    Capability::Logging => p::logging::add_to_linker::<Sandbox, H>(linker, |s| s)?,
                    Capability::Host => p::host::add_to_linker::<Sandbox, H>(linker, |s| s)?,
                }
            }
        }
        crate::ContractVersion::V0_1 => {
            use v0_1::baseplate::plugin as p;
            p::types::add_to_linker::<Sandbox, H>(linker, |s| s)?;
            for cap in Capability::ALL.into_iter().filter(|c| grants.has(*c)) {
                match cap {
                    Capability::State => p::state::add_to_linker::<Sandbox, H>(linker, |s| s)?,
                    Capability::Timers => p::timers::add_to_linker::<Sandbox, H>(linker, |s| s)?,
                    Capability::ShopData => {
                        p::shop_data::add_to_linker::<Sandbox, H>(linker, |s| s)?
                    }
                    Capability::OrderControl => {
                        p::order_control::add_to_linker::<Sandbox, H>(linker, |s| s)?
                    }
                    Capability::Ledger => p::ledger::add_to_linker::<Sandbox, H>(linker, |s| s)?,
                    // 0.1.0 has no points interface: a grant of it links nothing.
                    Capability::Points => {}
                    Capability::Logging => p::logging::add_to_linker::<Sandbox, H>(linker, |s| s)?,
                    Capability::Host => p::host::add_to_linker::<Sandbox, H>(linker, |s| s)?,
                }
            }
        }
    }
    Ok(())
}

impl v0_2::baseplate::plugin::types::Host for Sandbox {}
impl v0_1::baseplate::plugin::types::Host for Sandbox {}
