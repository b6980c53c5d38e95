//! The plugin's actions: templates (staff) and claiming and listing coupons (members);
//! the split (瓜分) actions are routed to `split.rs`.

use crate::fields::{Fields, boolean, ids, int_in, text};
use crate::model::{
    Coupon, Discount, Status, Template, Threshold, Validity, claims_key, issued_key,
    member_index_key, new_id,
};
use crate::split;
use baseplate_sdk::{Actor, CallContext, PluginError, Result, host, log, state, to_json};
use serde_json::{Value, json};

const POSITIVE: std::ops::RangeInclusive<i64> = 1..=i64::MAX;

pub fn handle(ctx: &CallContext, actor: &Actor, name: &str, input: &str) -> Result<String> {
    let output = match name {
        "create-template" => {
            actor.staff_only("create coupon templates")?;
            create_template(ctx, input)?
        }
        "list-templates" => {
            Fields::parse(input, &[])?;
            list_templates()?
        }
        "get-template" => Template::load(&template_id(input)?)?.view()?,
        "disable-template" => {
            actor.staff_only("disable coupon templates")?;
            disable_template(&template_id(input)?)?
        }
        "claim" => claim(ctx, actor, input)?,
        "list-coupons" => list_coupons(ctx, actor, input)?,
        "create-split-template" => {
            actor.staff_only("create split coupon templates")?;
            split::create_template(ctx, input)?
        }
        "launch-split" => split::launch(ctx, actor, input)?,
        "join-split" => split::join(ctx, actor, input)?,
        "get-split" => split::get(ctx, input)?,
        _ => return Err(PluginError::unknown_action(name)),
    };
    to_json(&output)
}

fn template_id(input: &str) -> Result<String> {
    let mut f = Fields::parse(input, &["template_id"])?;
    f.req("template_id", "a template id", text(64))
}

fn create_template(ctx: &CallContext, input: &str) -> Result<Value> {
    let mut f = Fields::parse(
        input,
        &[
            "name",
            "discount",
            "threshold",
            "validity",
            "total_stock",
            "per_member_limit",
            "applicable_products",
            "stackable",
        ],
    )?;
    let name = f.req("name", "a name of 1..=100 characters", text(100))?;
    let discount = discount(f.req_object(
        "discount",
        &["type", "amount", "off_bp", "cap", "min", "max"],
    )?)?;
    let terms = Terms::read(&mut f)?;
    f.finish()?;
    save_template(ctx, name, discount, terms)
}

/// What every template has besides its name and discount, read the same way for ordinary
/// and split templates.
pub struct Terms {
    threshold: Option<Threshold>,
    validity: Validity,
    total_stock: i64,
    per_member_limit: u32,
    applicable_products: Option<Vec<String>>,
    stackable: bool,
}

impl Terms {
    pub fn read(f: &mut Fields) -> Result<Terms> {
        let threshold = match f.get("threshold", "null or an object", |v| {
            v.is_object().then(|| v.clone())
        })? {
            None => None,
            Some(v) => Some(threshold(Fields::object(
                "threshold",
                v,
                &["type", "min"],
            )?)?),
        };
        let validity = validity(f.req_object("validity", &["type", "start", "end", "days"])?)?;
        let total_stock = f.req("total_stock", "an integer > 0", int_in(POSITIVE))?;
        let per_member_limit = f
            .get("per_member_limit", "an integer 1..=1000", int_in(1..=1000))?
            .unwrap_or(1);
        let applicable_products = f.get(
            "applicable_products",
            "null (every product) or a list of 1..=500 product ids",
            ids(1..=500),
        )?;
        let stackable = f
            .get("stackable", "true or false", boolean)?
            .unwrap_or(false);
        Ok(Terms {
            threshold,
            validity,
            total_stock,
            per_member_limit: per_member_limit as u32,
            applicable_products,
            stackable,
        })
    }
}

/// Stores a new template and returns its view.
pub fn save_template(
    ctx: &CallContext,
    name: String,
    discount: Discount,
    terms: Terms,
) -> Result<Value> {
    let template = Template {
        template_id: new_id("tpl", "tpl"),
        name,
        discount,
        threshold: terms.threshold,
        validity: terms.validity,
        total_stock: terms.total_stock,
        per_member_limit: terms.per_member_limit,
        applicable_products: terms.applicable_products,
        stackable: terms.stackable,
        enabled: true,
        created_at: ctx.now,
    };
    template.save()?;
    log::info(&format!(
        "created coupon template {} ({})",
        template.template_id, template.name
    ));
    template.view()
}

fn discount(mut f: Fields) -> Result<Discount> {
    let kind = f.req("type", "\"fixed\", \"percent\" or \"random\"", |v| {
        v.as_str().map(String::from)
    })?;
    let discount = match kind.as_str() {
        "fixed" => Discount::Fixed {
            amount: f.req("amount", "an integer > 0 (分)", int_in(POSITIVE))?,
        },
        "percent" => Discount::Percent {
            off_bp: f.req(
                "off_bp",
                "an integer 1..=9999 (basis points off; 2000 = 20% off)",
                int_in(1..=9999),
            )?,
            cap: f.get("cap", "null or an integer > 0 (分)", int_in(POSITIVE))?,
        },
        "random" => {
            let min = f.req("min", "an integer > 0 (分)", int_in(POSITIVE))?;
            let max = f.req(
                "max",
                "an integer ≥ `discount.min` (分)",
                int_in(min..=i64::MAX),
            )?;
            Discount::Random { min, max }
        }
        _ => {
            return Err(PluginError::invalid(
                "`discount.type` must be \"fixed\", \"percent\" or \"random\"",
            ));
        }
    };
    f.finish()?;
    Ok(discount)
}

fn threshold(mut f: Fields) -> Result<Threshold> {
    let kind = f.req("type", "\"amount\" or \"items\"", |v| {
        v.as_str().map(String::from)
    })?;
    let threshold = match kind.as_str() {
        "amount" => Threshold::Amount {
            min: f.req("min", "an integer > 0 (分)", int_in(POSITIVE))?,
        },
        "items" => Threshold::Items {
            min: f.req(
                "min",
                "an integer 1..=4294967295 (items)",
                int_in(1..=i64::from(u32::MAX)),
            )? as u32,
        },
        _ => {
            return Err(PluginError::invalid(
                "`threshold.type` must be \"amount\" or \"items\"",
            ));
        }
    };
    f.finish()?;
    Ok(threshold)
}

fn validity(mut f: Fields) -> Result<Validity> {
    let kind = f.req("type", "\"absolute\" or \"relative\"", |v| {
        v.as_str().map(String::from)
    })?;
    let validity = match kind.as_str() {
        "absolute" => {
            let start = f.req(
                "start",
                "a time in ms since the epoch",
                int_in(0..=i64::MAX),
            )?;
            let end = f.req(
                "end",
                "a time in ms after `validity.start`",
                int_in(start.saturating_add(1)..=i64::MAX),
            )?;
            Validity::Absolute { start, end }
        }
        "relative" => Validity::Relative {
            days: f.req("days", "an integer 1..=3650", int_in(1..=3650))?,
        },
        _ => {
            return Err(PluginError::invalid(
                "`validity.type` must be \"absolute\" or \"relative\"",
            ));
        }
    };
    f.finish()?;
    Ok(validity)
}

fn list_templates() -> Result<Value> {
    let mut templates: Vec<Template> = state::scan_all_json("tpl/")?
        .into_iter()
        .map(|(_, t)| t)
        .collect();
    templates.sort_by(|a, b| (a.created_at, &a.template_id).cmp(&(b.created_at, &b.template_id)));
    let views = templates
        .iter()
        .map(Template::view)
        .collect::<Result<Vec<_>>>()?;
    Ok(json!({ "templates": views }))
}

fn disable_template(id: &str) -> Result<Value> {
    let mut template = Template::load(id)?;
    if template.enabled {
        template.enabled = false;
        template.save()?;
        log::info(&format!("disabled coupon template {id}"));
    }
    template.view()
}

fn claim(ctx: &CallContext, actor: &Actor, input: &str) -> Result<Value> {
    let mut f = Fields::parse(input, &["template_id", "member_id"])?;
    let template_id = f.req("template_id", "a template id", text(64))?;
    let member_id = actor.member_for(f.get("member_id", "a member id", text(64))?)?;

    // The host runs one call of this plugin per shop at a time, so this check-then-write
    // cannot interleave with another claim: the last unit is issued once.
    let template = Template::load(&template_id)?;
    if let Discount::Split { .. } = template.discount {
        return Err(PluginError::refused(format!(
            "coupon template {template_id} is a split template: its coupons come from splits (launch-split, join-split)"
        )));
    }
    if !template.enabled {
        return Err(PluginError::refused(format!(
            "coupon template {template_id} is disabled"
        )));
    }
    if let Validity::Absolute { end, .. } = template.validity
        && ctx.now > end
    {
        return Err(PluginError::refused(format!(
            "coupon template {template_id} has ended"
        )));
    }
    let issued = template.issued()?;
    if issued >= template.total_stock {
        return Err(PluginError::refused(format!(
            "coupon template {template_id} is out of stock"
        )));
    }
    let claims_key = claims_key(&template_id, &member_id);
    let claims: u32 = state::get_json(&claims_key)?.unwrap_or(0);
    if claims >= template.per_member_limit {
        return Err(PluginError::refused(format!(
            "member {member_id} has already claimed {claims} of coupon template {template_id} (limit {})",
            template.per_member_limit
        )));
    }

    let (valid_from, valid_until) = template.validity.window(ctx.now);
    let amount = match template.discount {
        Discount::Random { min, max } => Some(host::random_range(min, max)),
        _ => None,
    };
    let coupon = Coupon {
        coupon_id: new_id("cpn", "cpn"),
        template_id: template_id.clone(),
        member_id: member_id.clone(),
        name: template.name.clone(),
        status: Status::Available,
        valid_from,
        valid_until,
        amount,
        claimed_at: ctx.now,
        order_id: None,
        split_id: None,
    };
    coupon.save()?;
    state::set_json(&issued_key(&template_id), &(issued + 1))?;
    state::set_json(&claims_key, &(claims + 1))?;
    state::set(&member_index_key(&member_id, &coupon.coupon_id), b"[]");
    log::info(&format!(
        "member {member_id} claimed {} of template {template_id}",
        coupon.coupon_id
    ));
    Ok(json!(coupon.view(ctx.now)))
}

fn list_coupons(ctx: &CallContext, actor: &Actor, input: &str) -> Result<Value> {
    let mut f = Fields::parse(input, &["member_id"])?;
    let member_id = actor.member_for(f.get("member_id", "a member id", text(64))?)?;
    let prefix = member_index_key(&member_id, "");
    let mut coupons = Vec::new();
    for (key, _) in state::scan_all(&prefix) {
        let coupon = Coupon::load(&key[prefix.len()..])?;
        // A member id that extends this one (`m1/x` after `m1`) shares the prefix.
        if let Some(coupon) = coupon.filter(|c| c.member_id == member_id) {
            coupons.push(coupon.view(ctx.now));
        }
    }
    coupons.sort_by(|a, b| (a.claimed_at, &a.coupon_id).cmp(&(b.claimed_at, &b.coupon_id)));
    Ok(json!({ "coupons": coupons }))
}
