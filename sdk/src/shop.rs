//! Read access to the calling shop's orders, members and catalog (the `shop-data`
//! capability). Nothing here can see another shop.
//!
//! ```no_run
//! use baseplate_sdk::shop;
//! if let Some(member) = shop::member("m_1") {
//!     baseplate_sdk::log::info(&format!("{} has paid {} orders", member.name, member.paid_orders));
//! }
//! ```

use crate::{Member, Order, Product, SkuInfo, sys};

/// The order `id`, if it exists in this shop.
///
/// ```
/// use baseplate_sdk::{shop, testing};
/// let host = testing::MockHost::install();
/// host.add_order(testing::order("o_1", None, &[]));
/// assert!(shop::order("o_1").is_some() && shop::order("o_2").is_none());
/// ```
pub fn order(id: &str) -> Option<Order> {
    sys::shop_data::get_order(id)
}

/// The member `id`, if it exists in this shop.
///
/// ```
/// use baseplate_sdk::{shop, testing};
/// let host = testing::MockHost::install();
/// host.add_member(testing::member("m_1"));
/// assert_eq!(shop::member("m_1").unwrap().level, 1);
/// ```
pub fn member(id: &str) -> Option<Member> {
    sys::shop_data::get_member(id)
}

/// The product `id`, if it exists in this shop.
///
/// ```
/// use baseplate_sdk::{shop, testing};
/// let host = testing::MockHost::install();
/// host.add_product(testing::product("tea", 1200));
/// assert_eq!(shop::product("tea").unwrap().skus.len(), 1);
/// ```
pub fn product(id: &str) -> Option<Product> {
    sys::shop_data::get_product(id)
}

/// The SKU `id` with its product's id, name and tags, if it exists in this shop: one
/// host call where [`product`] would need the product id first.
///
/// ```
/// use baseplate_sdk::{shop, testing};
/// let host = testing::MockHost::install();
/// let mut tea = testing::product("tea", 1200);
/// tea.tags = vec!["gift".into()];
/// host.add_product(tea);
/// let sku = shop::sku("tea-sku").unwrap();
/// assert_eq!((sku.product_name.as_str(), sku.tags.len()), ("tea", 1));
/// ```
pub fn sku(id: &str) -> Option<SkuInfo> {
    sys::shop_data::get_sku(id)
}
