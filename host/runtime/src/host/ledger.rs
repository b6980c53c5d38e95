//! `ledger`: balanced postings between the shop's parties, buffered until the operation
//! commits, and balances (recorded, so a decision on one — "enough to withdraw" — commits
//! only if the balance still holds).

use crate::contract::convert;
use crate::contract::{v0_1, v0_2};
use crate::overlay::PostingIntent;
use crate::sandbox::Sandbox;
use crate::types::PluginError;
use baseplate_domain::{LedgerEntry, Party, Posting};

impl Sandbox {
    fn post(
        &mut self,
        memo: String,
        entries: Vec<LedgerEntry>,
        order_id: Option<String>,
    ) -> wasmtime::Result<Result<String, PluginError>> {
        self.tick()?;
        self.writable("ledger.post")?;
        let posting = match Posting::new(memo, entries) {
            Ok(p) => p,
            Err(e) => return Ok(Err(PluginError::Invalid(e.to_string()))),
        };
        let order_id = match order_id {
            Some(id) => {
                let until = self.until;
                let r = self.overlay.order(&id, until);
                if self.data(r)?.is_none() {
                    return Ok(Err(PluginError::NotFound(format!("order {id} not found"))));
                }
                Some(id)
            }
            // While handling an order's event, postings belong to that order.
            None => self.env.order_context.clone(),
        };
        let id = self.new_id("post");
        self.overlay.effects.postings.push(PostingIntent {
            id: id.clone(),
            memo: posting.memo,
            entries: posting.entries,
            order_id,
        });
        Ok(Ok(id))
    }

    fn balance(&mut self, party: Party, account: String) -> wasmtime::Result<(i64, i64)> {
        self.tick()?;
        let (now, until) = (self.env.now, self.until);
        let r = self.overlay.balance(&party, &account, now, until);
        self.data(r)
    }
}

impl v0_2::baseplate::plugin::ledger::Host for Sandbox {
    fn post(
        &mut self,
        memo: String,
        entries: Vec<v0_2::baseplate::plugin::types::LedgerEntry>,
        order_id: Option<String>,
    ) -> wasmtime::Result<Result<String, v0_2::baseplate::plugin::types::PluginError>> {
        let entries = entries
            .into_iter()
            .map(convert::v0_2::ledger_entry)
            .collect();
        Ok(Sandbox::post(self, memo, entries, order_id)?.map_err(convert::v0_2::to_plugin_error))
    }

    fn get_balance(
        &mut self,
        party: v0_2::baseplate::plugin::types::Party,
        account: String,
    ) -> wasmtime::Result<v0_2::baseplate::plugin::types::Balance> {
        let (total, available) = self.balance(convert::v0_2::party(party), account)?;
        Ok(v0_2::baseplate::plugin::types::Balance { total, available })
    }
}

impl v0_1::baseplate::plugin::ledger::Host for Sandbox {
    fn post(
        &mut self,
        memo: String,
        entries: Vec<v0_1::baseplate::plugin::types::LedgerEntry>,
    ) -> wasmtime::Result<Result<String, v0_1::baseplate::plugin::types::PluginError>> {
        let entries = entries
            .into_iter()
            .map(convert::v0_1::ledger_entry)
            .collect();
        Ok(Sandbox::post(self, memo, entries, None)?.map_err(convert::v0_1::to_plugin_error))
    }

    fn get_balance(
        &mut self,
        party: v0_1::baseplate::plugin::types::Party,
        account: String,
    ) -> wasmtime::Result<v0_1::baseplate::plugin::types::Balance> {
        let (total, available) = self.balance(convert::v0_1::party(party), account)?;
        Ok(v0_1::baseplate::plugin::types::Balance { total, available })
    }
}
