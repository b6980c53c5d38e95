//! Orders: attribution at creation (with the membership binding), and the membership reward
//! booked on payment and reversed on refund.
//!
//! Attribution is decided once, in `order-created`, from the binding valid at that moment,
//! and returned as the attributes `employee_id` and `outlet_id`, which the host snapshots on
//! the order. Nothing later (rebinding, expiry, dismissal) touches an order's attribution,
//! and the reward follows the attribution, not the member's binding at payment.
//!
//! Reward and reversal are brought to a target rather than applied as deltas of one
//! event, so a payment or refund event delivered twice, late, or in the other order books
//! each 分 once:
//! - paid: `employee_share × quantity` to the employee's `reward`, `outlet_share × quantity`
//!   to the outlet's `reward`, from the shop's `sales`;
//! - refunded: the reversal of each share is `floor(share_total × refunded / base)`, where
//!   `base` is what the buyer paid for the membership lines and `refunded` what has been
//!   refunded on those lines. Rounding down leaves a partial reversal at most 1 分 short per
//!   account; a full refund of the membership lines makes `refunded == base`, so the
//!   reversal is exact. Refunds of the order's other lines reverse nothing.

use crate::Config;
use crate::binding::{self, Decision};
use crate::fields::{Fields, text};
use crate::model::{Binding, Employee, MembershipTerms, OrderRecord, Stats, Via};
use baseplate_sdk::{
    Attribute, CallContext, Event, LedgerEntry, Order, OrderRefunded, Party, PluginError, Result,
    ledger, log,
};

/// The checkout input: `{"employee_code": "…"}` (or nothing).
fn employee_code(input: Option<&str>) -> Result<Option<String>> {
    let Some(input) = input else {
        return Ok(None);
    };
    let mut f = Fields::parse(input, &["employee_code"])?;
    f.get("employee_code", "an employee code", text(32))
}

fn attributes(record: &OrderRecord) -> Vec<Attribute> {
    let mut attrs = vec![
        Attribute {
            key: "employee_id".into(),
            value: record.employee_id.clone(),
        },
        Attribute {
            key: "outlet_id".into(),
            value: record.outlet_id.clone(),
        },
    ];
    if let Some(reason) = &record.bind_refused {
        attrs.push(Attribute {
            key: "bind_refused".into(),
            value: reason.clone(),
        });
    }
    attrs
}

/// Binds through the membership when the checkout names an employee, then attributes the
/// order to whoever the member is bound to now.
///
/// An `employee_code` the buyer can fix (unknown, a dismissed employee, no membership in
/// the cart) fails the checkout. A member whom another employee keeps (protection, or
/// `takeover: "never"`) still buys: the binding stays, the order — and its membership
/// reward — goes to the bound employee, and the attribute `bind_refused` says why.
pub fn order_created(
    ctx: &CallContext,
    order: &Order,
    input: Option<&str>,
) -> Result<Vec<Attribute>> {
    let config = Config::from_ctx(ctx)?;
    let code = employee_code(input)?;
    // The host runs this once per order; a repeat must not bind or count twice.
    if let Some(record) = OrderRecord::load(&order.id)? {
        return Ok(attributes(&record));
    }
    let membership_lines: Vec<_> = match &config.membership {
        Some(m) => order
            .lines
            .iter()
            .filter(|l| l.sku_id == m.sku_id)
            .collect(),
        None => Vec::new(),
    };
    let Some(member_id) = order.member_id.as_deref() else {
        if code.is_some() {
            return Err(PluginError::invalid(
                "`employee_code` binds a member: check out as a member",
            ));
        }
        return Ok(Vec::new());
    };
    let mut bind_refused = None;
    if let Some(code) = code {
        let Some(m) = &config.membership else {
            return Err(PluginError::invalid(
                "`employee_code` is for buying the paid membership, and this shop has none \
                 configured; bind with the `bind` action instead",
            ));
        };
        if membership_lines.is_empty() {
            return Err(PluginError::invalid(format!(
                "`employee_code` binds only with the paid membership (SKU {}) in the cart; \
                 bind with the `bind` action instead",
                m.sku_id
            )));
        }
        let employee = Employee::by_code(&code)?;
        let (decision, _) = binding::bind(&config, ctx.now, member_id, &employee, Via::Membership)?;
        if let Decision::Keep(reason) = decision {
            log::info(&format!(
                "order {}: employee {} did not bind member {member_id}: {reason}",
                order.id, employee.employee_id
            ));
            bind_refused = Some(reason);
        }
    }
    let Some(binding) = Binding::load(member_id)?.filter(|b| b.active_at(ctx.now)) else {
        return Ok(Vec::new());
    };
    let membership = match (&config.membership, membership_lines.first()) {
        (Some(m), Some(first)) => Some(MembershipTerms {
            sku_id: m.sku_id.clone(),
            line_ids: membership_lines.iter().map(|l| l.id.clone()).collect(),
            quantity: membership_lines.iter().map(|l| l.quantity).sum(),
            unit_price: first.unit_price,
            base: membership_lines.iter().map(|l| l.final_amount).sum(),
            employee_share: m.employee_share,
            outlet_share: m.outlet_share,
            rewarded_employee: 0,
            rewarded_outlet: 0,
            refunded_base: 0,
            reversed_employee: 0,
            reversed_outlet: 0,
            skipped: None,
        }),
        _ => None,
    };
    let record = OrderRecord {
        order_id: order.id.clone(),
        member_id: member_id.to_string(),
        employee_id: binding.employee_id.clone(),
        outlet_id: binding.outlet_id.clone(),
        created_at: ctx.now,
        bind_refused,
        membership,
        paid: false,
        paid_amount: 0,
        refund_ids: Vec::new(),
        refunded_amount: 0,
    };
    record.save()?;
    Stats::update(&record.employee_id, |s| s.orders += 1)?;
    Ok(attributes(&record))
}

pub fn handle_event(_ctx: &CallContext, event: &Event) -> Result<()> {
    match event {
        Event::OrderPaid(order) => paid(order),
        Event::OrderRefunded(refunded) => refunded_event(refunded),
        _ => Ok(()),
    }
}

fn paid(order: &Order) -> Result<()> {
    let Some(mut record) = OrderRecord::load(&order.id)? else {
        return Ok(());
    };
    if record.paid {
        return Ok(());
    }
    record.paid = true;
    record.paid_amount = order.paid_amount;
    let memberships = record.membership.as_ref().map_or(0, |m| m.quantity);
    Stats::update(&record.employee_id, |s| {
        s.paid_orders += 1;
        s.paid_amount += order.paid_amount;
        s.memberships += u64::from(memberships);
    })?;
    if let Some(mut terms) = record.membership.take() {
        reward(&record, &mut terms)?;
        reverse(&record, &mut terms, "")?;
        record.membership = Some(terms);
    }
    record.save()
}

/// Books the membership reward once.
fn reward(record: &OrderRecord, terms: &mut MembershipTerms) -> Result<()> {
    if terms.rewarded_employee != 0 || terms.rewarded_outlet != 0 || terms.skipped.is_some() {
        return Ok(());
    }
    // The shares are merchant config that validate-config cannot check against the SKU's
    // price, so it is checked here: a reward above the price would pay out more than the
    // membership brings in. Refused by booking nothing, and logged for the merchant.
    let per_unit = terms.employee_share + terms.outlet_share;
    if per_unit > terms.unit_price {
        let why = format!(
            "membership shares {} + {} = {per_unit} exceed the SKU {} price {}; no reward booked",
            terms.employee_share, terms.outlet_share, terms.sku_id, terms.unit_price
        );
        log::error(&format!("order {}: {why}", record.order_id));
        terms.skipped = Some(why);
        return Ok(());
    }
    let qty = i64::from(terms.quantity);
    // Shares ≤ 100_000_000 and quantity ≤ u32::MAX: the products fit in i64.
    let (e, o) = (terms.employee_share * qty, terms.outlet_share * qty);
    if e + o == 0 {
        return Ok(());
    }
    post(
        &format!("membership reward, order {}", record.order_id),
        record,
        e,
        o,
    )?;
    terms.rewarded_employee = e;
    terms.rewarded_outlet = o;
    log::info(&format!(
        "order {}: membership reward {e} to employee {}, {o} to outlet {}",
        record.order_id, record.employee_id, record.outlet_id
    ));
    Ok(())
}

/// Brings the reversal up to the refunded share of the membership lines (see the module
/// docs for the rounding).
fn reverse(record: &OrderRecord, terms: &mut MembershipTerms, refund_id: &str) -> Result<()> {
    if terms.base <= 0 || terms.refunded_base <= 0 {
        return Ok(());
    }
    let target = |total: i64| {
        (i128::from(total) * i128::from(terms.refunded_base.min(terms.base))
            / i128::from(terms.base)) as i64
    };
    let e = target(terms.rewarded_employee) - terms.reversed_employee;
    let o = target(terms.rewarded_outlet) - terms.reversed_outlet;
    if e <= 0 && o <= 0 {
        return Ok(());
    }
    let (e, o) = (e.max(0), o.max(0));
    let memo = if refund_id.is_empty() {
        format!("membership reward reversed, order {}", record.order_id)
    } else {
        format!(
            "membership reward reversed, order {} refund {refund_id}",
            record.order_id
        )
    };
    post(&memo, record, -e, -o)?;
    terms.reversed_employee += e;
    terms.reversed_outlet += o;
    log::info(&format!(
        "order {}: membership reward reversed by {e} (employee) and {o} (outlet)",
        record.order_id
    ));
    Ok(())
}

/// Moves `e` to the employee's and `o` to the outlet's `reward` from the shop's `sales`
/// (negative amounts move them back). Zero entries are left out: the ledger refuses them.
fn post(memo: &str, record: &OrderRecord, e: i64, o: i64) -> Result<()> {
    let entry = |party, account: &str, amount| LedgerEntry {
        party,
        account: account.into(),
        amount,
        available_at: None,
    };
    let mut entries = vec![entry(Party::Shop, "sales", -(e + o))];
    if e != 0 {
        entries.push(entry(
            Party::Employee(record.employee_id.clone()),
            "reward",
            e,
        ));
    }
    if o != 0 {
        entries.push(entry(Party::Outlet(record.outlet_id.clone()), "reward", o));
    }
    ledger::post(memo, &entries, Some(&record.order_id)).map(drop)
}

fn refunded_event(event: &OrderRefunded) -> Result<()> {
    let (order, refund) = (&event.order, &event.refund);
    let Some(mut record) = OrderRecord::load(&order.id)? else {
        return Ok(());
    };
    if record.refund_ids.contains(&refund.id) {
        return Ok(());
    }
    record.refund_ids.push(refund.id.clone());
    record.refunded_amount += refund.amount;
    Stats::update(&record.employee_id, |s| s.refunded_amount += refund.amount)?;
    if let Some(mut terms) = record.membership.take() {
        let on_membership: i64 = refund
            .lines
            .iter()
            .filter(|l| terms.line_ids.contains(&l.line_id))
            .map(|l| l.amount)
            .sum();
        // The order in the event already counts this refund and every earlier one, so it
        // is a floor for what the membership lines have had back, whatever order the
        // refund events arrive in.
        let seen_on_order: i64 = order
            .lines
            .iter()
            .filter(|l| terms.line_ids.contains(&l.id))
            .map(|l| l.refunded_amount)
            .sum();
        terms.refunded_base = (terms.refunded_base + on_membership)
            .max(seen_on_order)
            .min(terms.base);
        // Before the payment's reward is booked there is nothing to reverse; `paid` will
        // reverse what has been refunded by then.
        reverse(&record, &mut terms, &refund.id)?;
        record.membership = Some(terms);
    }
    record.save()
}
