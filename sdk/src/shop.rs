//! Read access to the calling shop's orders, members and catalog (the `shop-data`
//! capability). Nothing here can see another shop.
//!
//! ```no_run
//! use baseplate_sdk::shop;
//! if let Some(member) = shop::member("m_1") {
//!     baseplate_sdk::log::info(&format!("{} has paid {} orders", member.name, member.paid_orders));
//! }
//! ```

use crate::{Member, Order, Product, sys};

/// The order `id`, if it exists in this shop.
pub fn order(id: &str) -> Option<Order> {
    sys::shop_data::get_order(id)
}

/// The member `id`, if it exists in this shop.
pub fn member(id: &str) -> Option<Member> {
    sys::shop_data::get_member(id)
}

/// The product `id`, if it exists in this shop.
pub fn product(id: &str) -> Option<Product> {
    sys::shop_data::get_product(id)
}
