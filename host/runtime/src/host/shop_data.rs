//! `shop-data`: reads of the calling shop's orders, members and catalog. An order read is
//! recorded with its version, so a decision taken on it ("still unpaid: cancel it")
//! commits only if the order did not change in the meantime.

use crate::contract::convert;
use crate::contract::{v0_1, v0_2};
use crate::sandbox::Sandbox;
use baseplate_store::catalog::{Product, SkuInfo};
use baseplate_store::members::Member;
use baseplate_store::orders::Order;

impl Sandbox {
    fn read_order(&mut self, id: String) -> wasmtime::Result<Option<Order>> {
        self.tick()?;
        let until = self.until;
        let r = self.overlay.order(&id, until);
        self.data(r)
    }

    fn read_member(&mut self, id: String) -> wasmtime::Result<Option<Member>> {
        self.tick()?;
        let until = self.until;
        let r = self.overlay.data().member(&id, until);
        self.data(r)
    }

    fn read_product(&mut self, id: String) -> wasmtime::Result<Option<Product>> {
        self.tick()?;
        let until = self.until;
        let r = self.overlay.data().product(&id, until);
        self.data(r)
    }

    fn read_sku(&mut self, id: String) -> wasmtime::Result<Option<SkuInfo>> {
        self.tick()?;
        let until = self.until;
        let r = self.overlay.data().sku(&id, until);
        self.data(r)
    }
}

impl v0_2::baseplate::plugin::shop_data::Host for Sandbox {
    fn get_order(
        &mut self,
        id: String,
    ) -> wasmtime::Result<Option<v0_2::baseplate::plugin::types::Order>> {
        Ok(self.read_order(id)?.as_ref().map(convert::v0_2::order))
    }

    fn get_member(
        &mut self,
        id: String,
    ) -> wasmtime::Result<Option<v0_2::baseplate::plugin::types::Member>> {
        Ok(self.read_member(id)?.as_ref().map(convert::v0_2::member))
    }

    fn get_product(
        &mut self,
        id: String,
    ) -> wasmtime::Result<Option<v0_2::baseplate::plugin::types::Product>> {
        Ok(self.read_product(id)?.as_ref().map(convert::v0_2::product))
    }

    fn get_sku(
        &mut self,
        id: String,
    ) -> wasmtime::Result<Option<v0_2::baseplate::plugin::types::SkuInfo>> {
        Ok(self
            .read_sku(id)?
            .map(|s| v0_2::baseplate::plugin::types::SkuInfo {
                id: s.sku.id,
                product_id: s.product_id,
                product_name: s.product_name,
                name: s.sku.name,
                price: s.sku.price,
                stock: s.sku.stock,
                tags: s.tags,
            }))
    }
}

impl v0_1::baseplate::plugin::shop_data::Host for Sandbox {
    fn get_order(
        &mut self,
        id: String,
    ) -> wasmtime::Result<Option<v0_1::baseplate::plugin::types::Order>> {
        Ok(self.read_order(id)?.as_ref().map(convert::v0_1::order))
    }

    fn get_member(
        &mut self,
        id: String,
    ) -> wasmtime::Result<Option<v0_1::baseplate::plugin::types::Member>> {
        Ok(self.read_member(id)?.as_ref().map(convert::v0_1::member))
    }

    fn get_product(
        &mut self,
        id: String,
    ) -> wasmtime::Result<Option<v0_1::baseplate::plugin::types::Product>> {
        Ok(self.read_product(id)?.as_ref().map(convert::v0_1::product))
    }
}
