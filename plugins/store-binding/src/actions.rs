//! The plugin's actions: outlets and employees (staff), binding (members, or staff for a
//! member), and the views of bindings and employees.

use crate::Config;
use crate::binding::{self, Decision};
use crate::fields::{Fields, int_in, text};
use crate::model::{
    Binding, Employee, EmployeeStatus, Outlet, Stats, Via, code_key, emp_bind_key, new_code, new_id,
};
use baseplate_sdk::{Actor, CallContext, Party, PluginError, Result, ledger, log, state, to_json};
use serde_json::{Value, json};

/// `list-bindings` returns at most this many per page unless asked for fewer.
const DEFAULT_PAGE: i64 = 100;
const MAX_PAGE: i64 = 1000;

pub fn handle(ctx: &CallContext, actor: &Actor, name: &str, input: &str) -> Result<String> {
    let output = match name {
        "create-outlet" => {
            actor.staff_only("create outlets")?;
            create_outlet(ctx, input)?
        }
        "list-outlets" => {
            actor.staff_only("list outlets")?;
            Fields::parse(input, &[])?;
            list_outlets()?
        }
        "create-employee" => {
            actor.staff_only("create employees")?;
            create_employee(ctx, input)?
        }
        "dismiss-employee" => {
            actor.staff_only("dismiss employees")?;
            dismiss_employee(ctx, input)?
        }
        "list-employees" => {
            actor.staff_only("list employees")?;
            list_employees(input)?
        }
        "bind" => bind(ctx, actor, input)?,
        "my-binding" => my_binding(ctx, actor, input)?,
        "list-bindings" => {
            actor.staff_only("list bindings")?;
            list_bindings(ctx, input)?
        }
        "employee-stats" => {
            actor.staff_only("see employee statistics")?;
            employee_stats(ctx, input)?
        }
        _ => return Err(PluginError::unknown_action(name)),
    };
    to_json(&output)
}

fn create_outlet(ctx: &CallContext, input: &str) -> Result<Value> {
    let mut f = Fields::parse(input, &["name"])?;
    let name = f.req("name", "a name of 1..=100 characters", text(100))?;
    let outlet = Outlet {
        outlet_id: new_id("out", "outlet"),
        name,
        created_at: ctx.now,
    };
    outlet.save()?;
    log::info(&format!(
        "created outlet {} ({})",
        outlet.outlet_id, outlet.name
    ));
    Ok(json!(outlet))
}

fn list_outlets() -> Result<Value> {
    let mut outlets: Vec<Outlet> = state::scan_all_json("outlet/")?
        .into_iter()
        .map(|(_, o)| o)
        .collect();
    outlets.sort_by(|a, b| (a.created_at, &a.outlet_id).cmp(&(b.created_at, &b.outlet_id)));
    Ok(json!({ "outlets": outlets }))
}

fn create_employee(ctx: &CallContext, input: &str) -> Result<Value> {
    let mut f = Fields::parse(input, &["outlet_id", "name"])?;
    let outlet_id = f.req("outlet_id", "an outlet id", text(64))?;
    let name = f.req("name", "a name of 1..=100 characters", text(100))?;
    let outlet = Outlet::load(&outlet_id)?;
    let employee = Employee {
        employee_id: new_id("emp", "emp"),
        outlet_id: outlet.outlet_id,
        name,
        code: new_code(),
        status: EmployeeStatus::Active,
        created_at: ctx.now,
        dismissed_at: None,
    };
    employee.save()?;
    state::set_json(&code_key(&employee.code), &employee.employee_id)?;
    log::info(&format!(
        "created employee {} ({}) at outlet {} with code {}",
        employee.employee_id, employee.name, employee.outlet_id, employee.code
    ));
    Ok(json!(employee))
}

fn employee_id(f: &mut Fields) -> Result<String> {
    f.req("employee_id", "an employee id", text(64))
}

fn dismiss_employee(ctx: &CallContext, input: &str) -> Result<Value> {
    let mut f = Fields::parse(input, &["employee_id"])?;
    let mut employee = Employee::load(&employee_id(&mut f)?)?;
    // Dismissing twice changes nothing; the first dismissal's time stays.
    if employee.status == EmployeeStatus::Active {
        employee.status = EmployeeStatus::Dismissed;
        employee.dismissed_at = Some(ctx.now);
        employee.save()?;
        log::info(&format!(
            "dismissed employee {}: no new bindings; existing ones stay until they lapse",
            employee.employee_id
        ));
    }
    Ok(json!(employee))
}

fn list_employees(input: &str) -> Result<Value> {
    let mut f = Fields::parse(input, &["outlet_id", "status"])?;
    let outlet = f.get("outlet_id", "an outlet id", text(64))?;
    let status = f.get("status", "\"active\" or \"dismissed\"", |v| {
        match v.as_str()? {
            "active" => Some(EmployeeStatus::Active),
            "dismissed" => Some(EmployeeStatus::Dismissed),
            _ => None,
        }
    })?;
    if let Some(o) = &outlet {
        Outlet::load(o)?;
    }
    let mut employees: Vec<Employee> = state::scan_all_json::<Employee>("emp/")?
        .into_iter()
        .map(|(_, e)| e)
        .filter(|e| outlet.as_ref().is_none_or(|o| *o == e.outlet_id))
        .filter(|e| status.is_none_or(|s| s == e.status))
        .collect();
    employees.sort_by(|a, b| (a.created_at, &a.employee_id).cmp(&(b.created_at, &b.employee_id)));
    Ok(json!({ "employees": employees }))
}

/// `{"via": "code", "code": …}` or `{"via": "link", "employee_id": …}`, plus `member_id`
/// when staff bind a member.
fn bind(ctx: &CallContext, actor: &Actor, input: &str) -> Result<Value> {
    let config = Config::from_ctx(ctx)?;
    let mut f = Fields::parse(input, &["via", "code", "employee_id", "member_id"])?;
    let via = f.req("via", "\"code\" or \"link\"", |v| match v.as_str()? {
        "code" => Some(Via::Code),
        "link" => Some(Via::Link),
        _ => None,
    })?;
    let employee = match via {
        Via::Code => {
            let code = f.req("code", "an employee code", text(32))?;
            if f.get("employee_id", "", |_| Some(()))?.is_some() {
                return Err(PluginError::invalid(
                    "`employee_id` is for `via: \"link\"`; with `via: \"code\"` give only `code`",
                ));
            }
            Employee::by_code(&code)?
        }
        _ => {
            let id = employee_id(&mut f)?;
            if f.get("code", "", |_| Some(()))?.is_some() {
                return Err(PluginError::invalid(
                    "`code` is for `via: \"code\"`; with `via: \"link\"` give only `employee_id`",
                ));
            }
            Employee::load(&id)?
        }
    };
    let member_id = actor.member_for(f.get("member_id", "a member id", text(64))?)?;
    f.finish()?;
    let (decision, binding) = binding::bind(&config, ctx.now, &member_id, &employee, via)?;
    if let Decision::Keep(reason) = decision {
        return Err(PluginError::refused(reason));
    }
    Ok(json!({ "result": decision.name(), "binding": binding.view(ctx.now) }))
}

fn my_binding(ctx: &CallContext, actor: &Actor, input: &str) -> Result<Value> {
    let mut f = Fields::parse(input, &["member_id"])?;
    let member_id = actor.member_for(f.get("member_id", "a member id", text(64))?)?;
    let Some(binding) = Binding::load(&member_id)? else {
        return Ok(json!({ "binding": null }));
    };
    let mut view = binding.view(ctx.now);
    // Names for the member's 导购 card; ids stay the reference.
    if let Some(e) = Employee::find(&binding.employee_id)? {
        view["employee_name"] = e.name.into();
        view["employee_status"] = json!(e.status);
    }
    if let Ok(o) = Outlet::load(&binding.outlet_id) {
        view["outlet_name"] = o.name.into();
    }
    Ok(json!({ "binding": view }))
}

/// A page of bindings, by member id, optionally of one employee or outlet or status.
/// `after` is the last member id of the previous page (`next_after`).
fn list_bindings(ctx: &CallContext, input: &str) -> Result<Value> {
    let mut f = Fields::parse(
        input,
        &["employee_id", "outlet_id", "status", "after", "limit"],
    )?;
    let employee = f.get("employee_id", "an employee id", text(64))?;
    let outlet = f.get("outlet_id", "an outlet id", text(64))?;
    let status = f.get("status", "\"active\" or \"expired\"", |v| {
        match v.as_str()? {
            "active" => Some(true),
            "expired" => Some(false),
            _ => None,
        }
    })?;
    let after = f.get("after", "a member id from `next_after`", text(64))?;
    let limit = f
        .get("limit", "an integer 1..=1000", int_in(1..=MAX_PAGE))?
        .unwrap_or(DEFAULT_PAGE) as usize;
    if let Some(e) = &employee {
        Employee::load(e)?;
    }
    if let Some(o) = &outlet {
        Outlet::load(o)?;
    }
    // One employee's members come from the index; everything else from the bindings.
    let prefix = match &employee {
        Some(e) => emp_bind_key(e, ""),
        None => "bind/".to_string(),
    };
    let mut cursor = after.map(|m| format!("{prefix}{m}"));
    let mut out = Vec::new();
    let mut next_after = None;
    'pages: loop {
        let page = state::scan(&prefix, cursor.as_deref(), MAX_PAGE as u32);
        let done = page.len() < MAX_PAGE as usize;
        for (key, value) in &page {
            cursor = Some(key.clone());
            let member_id = &key[prefix.len()..];
            let b =
                match &employee {
                    Some(_) => Binding::load(member_id)?,
                    None => Some(serde_json::from_slice::<Binding>(value).map_err(|e| {
                        PluginError::internal(format!("corrupt state `{key}`: {e}"))
                    })?),
                };
            let Some(b) = b else {
                continue;
            };
            let keep = employee.as_ref().is_none_or(|e| *e == b.employee_id)
                && outlet.as_ref().is_none_or(|o| *o == b.outlet_id)
                && status.is_none_or(|active| active == b.active_at(ctx.now));
            if keep {
                out.push(b.view(ctx.now));
                if out.len() == limit {
                    next_after = Some(member_id.to_string());
                    break 'pages;
                }
            }
        }
        if done {
            break;
        }
    }
    Ok(json!({ "bindings": out, "next_after": next_after }))
}

fn employee_stats(ctx: &CallContext, input: &str) -> Result<Value> {
    let mut f = Fields::parse(input, &["employee_id"])?;
    let employee = Employee::load(&employee_id(&mut f)?)?;
    let prefix = emp_bind_key(&employee.employee_id, "");
    let active = state::scan_all_json::<Option<i64>>(&prefix)?
        .into_iter()
        .filter(|(_, expires_at)| expires_at.is_none_or(|end| ctx.now < end))
        .count();
    let reward = ledger::balance(&Party::Employee(employee.employee_id.clone()), "reward");
    Ok(json!({
        "employee": employee,
        "active_bindings": active,
        "stats": Stats::load(&employee.employee_id)?,
        "reward": { "total": reward.total, "available": reward.available },
    }))
}
