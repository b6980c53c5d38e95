use std::collections::BTreeSet;

use semver::Version;
use serde::{Deserialize, Serialize};

use crate::{Error, expected_list};

/// The WIT package versions (`baseplate:plugin@X.Y.Z`) this host serves, oldest first. A
/// manifest must target one of them exactly: each released version is frozen in its own
/// folder (`wit/v0.1.0/`, `wit/v0.2.0/`) and served side by side.
pub const SUPPORTED_WIT: &[Version] = &[Version::new(0, 1, 0), Version::new(0, 2, 0)];

/// The newest contract version, the one the SDK builds for.
pub const LATEST_WIT: Version = Version::new(0, 2, 0);

const TITLE_MAX: usize = 80;
const DESCRIPTION_MAX: usize = 2000;

names! {
    /// Where the marketplace lists a plugin.
    pub enum Category as "category" {
        /// Promotions: group-buy, bargaining, coupons.
        Marketing = "marketing",
        /// Members, points, referrals and commissions.
        Loyalty = "loyalty",
        /// Where orders come from: live rooms, stores, distributors.
        SalesChannel = "sales-channel",
        /// Everything else.
        Tools = "tools",
    }
}

names! {
    /// A host interface a plugin may import; the spelling is the WIT interface's name.
    /// The linker gives a plugin only the capabilities the operator granted.
    pub enum Capability as "capability" {
        /// Per-shop, per-plugin key-value state.
        State = "state",
        /// Durable timers.
        Timers = "timers",
        /// Read access to the shop's orders, members and catalog.
        ShopData = "shop-data",
        /// Holding, confirming and cancelling orders.
        OrderControl = "order-control",
        /// Postings to the shop's ledger.
        Ledger = "ledger",
        /// Adjusting members' points through the host's points ledger (contract 0.2.0).
        Points = "points",
        /// Structured logs.
        Logging = "logging",
        /// The host's clock and randomness.
        Host = "host",
    }
}

names! {
    /// A pricing stage, in the order the host runs them.
    pub enum PriceStage as "price stage" {
        /// Item-level promotions (live price, group price, bargain price).
        Item = "item",
        /// Order-level discounts.
        Order = "order",
        /// Coupons.
        Coupon = "coupon",
    }
}

names! {
    /// An event a plugin can subscribe to (`hooks.events`).
    pub enum EventKind as "event" {
        /// An order was paid.
        OrderPaid = "order-paid",
        /// An unpaid order closed (a paid order that is cancelled arrives as
        /// `order-refunded`, refunded in full).
        OrderClosed = "order-closed",
        /// Part or all of an order was refunded.
        OrderRefunded = "order-refunded",
        /// A held order was confirmed.
        OrderConfirmed = "order-confirmed",
        /// An order was completed.
        OrderCompleted = "order-completed",
        /// A member joined the shop.
        MemberJoined = "member-joined",
    }
}

names! {
    /// Who may call a plugin action.
    pub enum ActorKind as "actor" {
        /// A member of the shop (a buyer).
        Member = "member",
        /// The shop's owner or staff.
        Staff = "staff",
        /// The platform itself (timers, events, demo seeding).
        System = "system",
    }
}

names! {
    /// A request-path hook whose failure may be ignored (`hooks.fail_open`): the request
    /// goes on as if the plugin were not installed. Spelled like the `[hooks]` keys.
    pub enum FailOpenHook as "fail-open hook" {
        /// A failing `price` call prices the cart without this plugin's adjustments.
        Price = "price",
        /// A failing `validate-checkout` call does not refuse the checkout.
        ValidateCheckout = "validate_checkout",
    }
}

names! {
    /// A checkout hook the host calls only when the buyer passed the plugin an input
    /// (`hooks.needs_input`): a plugin that does nothing without one (a coupon, a group, a
    /// bargain) costs a checkout nothing when the buyer does not use it. Spelled like the
    /// `[hooks]` keys.
    pub enum InputHook as "input hook" {
        /// `price` runs only with the buyer's input for this plugin.
        Price = "price",
        /// `validate-checkout` runs only with the buyer's input for this plugin.
        ValidateCheckout = "validate_checkout",
        /// `order-created` runs only with the buyer's input for this plugin.
        OrderCreated = "order_created",
    }
}

/// A plugin's manifest, `plugin.toml`: who it is, which WIT version it targets, the hooks it
/// implements and the host capabilities it needs. Build one with [`Manifest::parse`] (or
/// [`Manifest::from_json`]); both validate it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// The plugin's registry name: `[a-z][a-z0-9-]{1,39}`.
    pub name: String,
    /// The plugin's semver version (no build metadata).
    pub version: Version,
    /// The WIT package version the component was built against.
    pub wit: Version,
    /// Shown in the marketplace.
    pub title: String,
    /// Shown in the marketplace.
    pub description: String,
    /// Where the marketplace lists it.
    pub category: Category,
    /// The host interfaces it imports; the operator approves them at review.
    pub capabilities: Vec<Capability>,
    /// The hooks it implements.
    #[serde(default)]
    pub hooks: Hooks,
    /// The actions it handles (`handle-action`), with who may call each.
    #[serde(default)]
    pub actions: Vec<ActionDecl>,
    /// Its merchant configuration.
    #[serde(default)]
    pub config: ConfigDecl,
}

/// The `[hooks]` table: which exports the host calls. Absent keys are off.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Hooks {
    /// `validate-config` is called before a configuration is saved.
    pub validate_config: bool,
    /// The stages at which `price` is called.
    pub price: Vec<PriceStage>,
    /// `validate-checkout` is called at checkout.
    pub validate_checkout: bool,
    /// `order-created` is called in the checkout's transaction.
    pub order_created: bool,
    /// The events delivered to `handle-event`.
    pub events: Vec<EventKind>,
    /// `fire-timer` is called for the plugin's due timers.
    pub timers: bool,
    /// Request-path hooks whose failure does not fail the request.
    pub fail_open: Vec<FailOpenHook>,
    /// Checkout hooks called only when the buyer passed the plugin an input.
    pub needs_input: Vec<InputHook>,
}

/// One `[[actions]]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionDecl {
    /// The action's name: `[a-z][a-z0-9-]{0,63}`, unique in the manifest.
    pub name: String,
    /// Who may call it; not empty.
    pub actors: Vec<ActorKind>,
}

impl ActionDecl {
    /// Whether `actor` may call this action.
    pub fn allows(&self, actor: ActorKind) -> bool {
        self.actors.contains(&actor)
    }
}

/// The `[config]` table.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ConfigDecl {
    /// The configuration a new installation starts with, as JSON text.
    pub default: String,
}

impl Default for ConfigDecl {
    fn default() -> Self {
        ConfigDecl {
            default: "{}".to_owned(),
        }
    }
}

impl Manifest {
    /// Parses and validates a `plugin.toml`.
    pub fn parse(toml_text: &str) -> Result<Manifest, Error> {
        let manifest: Manifest =
            toml::from_str(toml_text).map_err(|err| Error::Syntax(err.to_string()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// Parses and validates a manifest in its JSON form (as [`Manifest::to_json`] writes it).
    pub fn from_json(json: &str) -> Result<Manifest, Error> {
        let manifest: Manifest =
            serde_json::from_str(json).map_err(|err| Error::Json(err.to_string()))?;
        manifest.validate()?;
        Ok(manifest)
    }

    /// The manifest as JSON, the form the API shows.
    pub fn to_json(&self) -> serde_json::Value {
        // Plain strings, bools, lists and string-keyed structs: serializing cannot fail.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }

    /// Checks the rules serde's types cannot express. [`Manifest::parse`] calls it; call it
    /// yourself on a manifest built or deserialized another way.
    pub fn validate(&self) -> Result<(), Error> {
        check_name("name", &self.name, 2, 40)?;
        check_version("version", &self.version)?;
        check_version("wit", &self.wit)?;
        check_text("title", &self.title, TITLE_MAX)?;
        check_text("description", &self.description, DESCRIPTION_MAX)?;
        check_unique("capabilities", &self.capabilities)?;

        let hooks = &self.hooks;
        check_unique("hooks.price", &hooks.price)?;
        check_unique("hooks.events", &hooks.events)?;
        check_unique("hooks.fail_open", &hooks.fail_open)?;
        for hook in &hooks.fail_open {
            let declared = match hook {
                FailOpenHook::Price => !hooks.price.is_empty(),
                FailOpenHook::ValidateCheckout => hooks.validate_checkout,
            };
            if !declared {
                return Err(invalid(
                    "hooks.fail_open",
                    format!("lists `{hook}`, but the manifest does not declare that hook"),
                ));
            }
        }
        check_unique("hooks.needs_input", &hooks.needs_input)?;
        for hook in &hooks.needs_input {
            let declared = match hook {
                InputHook::Price => !hooks.price.is_empty(),
                InputHook::ValidateCheckout => hooks.validate_checkout,
                InputHook::OrderCreated => hooks.order_created,
            };
            if !declared {
                return Err(invalid(
                    "hooks.needs_input",
                    format!("lists `{hook}`, but the manifest does not declare that hook"),
                ));
            }
        }
        // fire-timer only ever runs for timers the plugin scheduled itself.
        if hooks.timers && !self.has_capability(Capability::Timers) {
            return Err(invalid(
                "hooks.timers",
                "is true, but `capabilities` does not include `timers`, so the plugin could never schedule one",
            ));
        }

        // Capabilities a contract version does not define cannot be linked.
        for capability in &self.capabilities {
            if let Some(since) = capability.since()
                && self.wit < since
            {
                return Err(invalid(
                    "capabilities",
                    format!(
                        "lists `{capability}`, which contract {since} added; this manifest targets wit = \"{}\"",
                        self.wit
                    ),
                ));
            }
        }

        let mut action_names = BTreeSet::new();
        for (i, action) in self.actions.iter().enumerate() {
            check_name(&format!("actions[{i}].name"), &action.name, 1, 64)?;
            if !action_names.insert(action.name.as_str()) {
                return Err(invalid(
                    format!("actions[{i}].name"),
                    format!(
                        "`{}` is declared twice; action names are unique",
                        action.name
                    ),
                ));
            }
            if action.actors.is_empty() {
                return Err(invalid(
                    format!("actions[{i}].actors"),
                    format!(
                        "is empty; list who may call `{}`: {}",
                        action.name,
                        expected_list(ActorKind::ALL)
                    ),
                ));
            }
            check_unique(&format!("actions[{i}].actors"), &action.actors)?;
        }

        if let Err(err) = serde_json::from_str::<serde_json::Value>(&self.config.default) {
            return Err(invalid(
                "config.default",
                format!("must be JSON text (e.g. '{{}}'): {err}"),
            ));
        }
        Ok(())
    }

    /// Whether the host serves the WIT version this plugin targets (see [`SUPPORTED_WIT`]).
    pub fn targets_supported_wit(&self) -> bool {
        SUPPORTED_WIT.contains(&self.wit)
    }

    /// Whether the plugin subscribes to events of `kind`.
    pub fn handles_event(&self, kind: EventKind) -> bool {
        self.hooks.events.contains(&kind)
    }

    /// The declared action called `name`.
    pub fn action(&self, name: &str) -> Option<&ActionDecl> {
        self.actions.iter().find(|a| a.name == name)
    }

    /// Whether the plugin prices carts at `stage`.
    pub fn prices_at(&self, stage: PriceStage) -> bool {
        self.hooks.price.contains(&stage)
    }

    /// Whether the plugin asks for `capability`.
    pub fn has_capability(&self, capability: Capability) -> bool {
        self.capabilities.contains(&capability)
    }

    /// Whether a failure of `hook` may be ignored rather than fail the request.
    pub fn fails_open(&self, hook: FailOpenHook) -> bool {
        self.hooks.fail_open.contains(&hook)
    }

    /// Whether `hook` runs at a checkout where the buyer passed this plugin `has_input`.
    pub fn runs_without_input(&self, hook: InputHook, has_input: bool) -> bool {
        has_input || !self.hooks.needs_input.contains(&hook)
    }
}

impl Capability {
    /// The contract version that added this capability, if later than 0.1.0.
    pub fn since(self) -> Option<Version> {
        match self {
            Capability::Points => Some(Version::new(0, 2, 0)),
            _ => None,
        }
    }
}

fn invalid(field: impl Into<String>, message: impl Into<String>) -> Error {
    Error::InvalidManifest {
        field: field.into(),
        message: message.into(),
    }
}

/// `[a-z][a-z0-9-]*`, `min..=max` characters.
fn check_name(field: &str, value: &str, min: usize, max: usize) -> Result<(), Error> {
    let mut chars = value.chars();
    let well_formed = chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    let len = value.chars().count();
    if well_formed && (min..=max).contains(&len) {
        return Ok(());
    }
    Err(invalid(
        field,
        format!(
            "is {value:?}; it must be {min} to {max} characters: a lowercase ASCII letter, \
             then lowercase letters, digits or '-'"
        ),
    ))
}

fn check_version(field: &str, version: &Version) -> Result<(), Error> {
    // Build metadata is ignored by semver precedence, so `1.0.0+a` and `1.0.0+b` would be
    // two packages the resolver cannot tell apart.
    if version.build.is_empty() {
        return Ok(());
    }
    Err(invalid(
        field,
        format!(
            "is {version}; build metadata (`+{}`) is not allowed",
            version.build
        ),
    ))
}

fn check_text(field: &str, value: &str, max: usize) -> Result<(), Error> {
    if value.trim().is_empty() {
        return Err(invalid(
            field,
            "is empty; write something a merchant can read",
        ));
    }
    let len = value.chars().count();
    if len > max {
        return Err(invalid(
            field,
            format!("is {len} characters; at most {max} are allowed"),
        ));
    }
    Ok(())
}

fn check_unique<T: Ord + std::fmt::Display>(field: &str, values: &[T]) -> Result<(), Error> {
    let mut seen = BTreeSet::new();
    for value in values {
        if !seen.insert(value) {
            return Err(invalid(field, format!("lists `{value}` more than once")));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
name = "coupons"
version = "0.1.0"
wit = "0.1.0"
title = "Coupons"
description = "Fixed, percentage and random coupons."
category = "marketing"
capabilities = ["state", "logging", "host"]

[hooks]
validate_config = true
price = ["coupon"]
validate_checkout = false
order_created = true
events = ["order-paid", "order-closed", "order-refunded"]
timers = false
fail_open = []

[[actions]]
name = "claim"
actors = ["member", "staff"]

[[actions]]
name = "create-template"
actors = ["staff"]

[config]
default = '{"templates": []}'
"#;

    const MINIMAL: &str = r#"
name = "hello"
version = "1.2.3"
wit = "0.1.0"
title = "Hello"
description = "Says hello."
category = "tools"
capabilities = []
"#;

    fn err(toml_text: &str) -> String {
        Manifest::parse(toml_text).unwrap_err().to_string()
    }

    /// `FULL` with `from` replaced by `to` (which must occur).
    fn full_with(from: &str, to: &str) -> String {
        assert!(FULL.contains(from), "{from}");
        FULL.replacen(from, to, 1)
    }

    #[test]
    fn parses_the_full_format() {
        let m = Manifest::parse(FULL).unwrap();
        assert_eq!(m.name, "coupons");
        assert_eq!(m.version, Version::new(0, 1, 0));
        assert_eq!(m.category, Category::Marketing);
        assert_eq!(
            m.capabilities,
            [Capability::State, Capability::Logging, Capability::Host]
        );
        assert!(m.hooks.validate_config && m.hooks.order_created);
        assert!(m.prices_at(PriceStage::Coupon));
        assert!(!m.prices_at(PriceStage::Item));
        assert!(m.handles_event(EventKind::OrderRefunded));
        assert!(!m.handles_event(EventKind::MemberJoined));
        let claim = m.action("claim").unwrap();
        assert!(claim.allows(ActorKind::Member) && !claim.allows(ActorKind::System));
        assert!(m.action("nope").is_none());
        assert!(m.has_capability(Capability::State));
        assert!(!m.has_capability(Capability::Ledger));
        assert!(!m.fails_open(FailOpenHook::Price));
        assert!(m.targets_supported_wit());
        assert_eq!(m.config.default, r#"{"templates": []}"#);
    }

    #[test]
    fn optional_sections_default_to_empty() {
        let m = Manifest::parse(MINIMAL).unwrap();
        assert_eq!(m.hooks, Hooks::default());
        assert!(m.actions.is_empty());
        assert_eq!(m.config.default, "{}");
        assert!(!m.prices_at(PriceStage::Order));
    }

    #[test]
    fn json_round_trip_uses_the_toml_spellings() {
        let m = Manifest::parse(FULL).unwrap();
        let json = m.to_json();
        assert_eq!(json["version"], "0.1.0");
        assert_eq!(json["category"], "marketing");
        assert_eq!(json["hooks"]["events"][0], "order-paid");
        assert_eq!(json["actions"][0]["actors"][1], "staff");
        let back = Manifest::from_json(&json.to_string()).unwrap();
        assert_eq!(back, m);
    }

    #[test]
    fn unknown_fields_are_refused_with_their_name() {
        let e = err(&format!("{MINIMAL}homepage = \"x\"\n"));
        assert!(e.contains("unknown field `homepage`"), "{e}");
        let e = err(&full_with("timers = false", "timer = false"));
        assert!(e.contains("unknown field `timer`"), "{e}");
        let e = err(&full_with(
            "actors = [\"staff\"]",
            "actors = [\"staff\"]\nrole = 1",
        ));
        assert!(e.contains("unknown field `role`"), "{e}");
    }

    #[test]
    fn required_fields_are_named_when_missing() {
        let e = err(&MINIMAL.replace("category = \"tools\"\n", ""));
        assert!(e.contains("missing field `category`"), "{e}");
    }

    #[test]
    fn enum_values_list_what_is_allowed() {
        let e = err(&MINIMAL.replace("\"tools\"", "\"games\""));
        assert!(e.contains("unknown variant `games`"), "{e}");
        assert!(e.contains("sales-channel"), "{e}");
        let e = err(&MINIMAL.replace("capabilities = []", "capabilities = [\"network\"]"));
        assert!(
            e.contains("`network`") && e.contains("order-control"),
            "{e}"
        );
        let e = err(&full_with("price = [\"coupon\"]", "price = [\"cart\"]"));
        assert!(e.contains("`cart`") && e.contains("`item`"), "{e}");
        let e = err(&full_with("\"order-paid\",", "\"order-shipped\","));
        assert!(
            e.contains("`order-shipped`") && e.contains("member-joined"),
            "{e}"
        );
        let e = err(&full_with("[\"member\", \"staff\"]", "[\"admin\"]"));
        assert!(e.contains("`admin`") && e.contains("`system`"), "{e}");
        let e = err(&full_with(
            "fail_open = []",
            "fail_open = [\"order_created\"]",
        ));
        assert!(e.contains("validate_checkout"), "{e}");
    }

    #[test]
    fn names_follow_the_pattern() {
        for bad in [
            "c",
            "Coupons",
            "1coupons",
            "-x",
            "coupons_v2",
            "a".repeat(41).as_str(),
        ] {
            let e = err(&MINIMAL.replace("\"hello\"", &format!("{bad:?}")));
            assert!(e.contains("`name`"), "{bad}: {e}");
        }
        for good in ["ab", "group-buy", "x2", "a".repeat(40).as_str()] {
            Manifest::parse(&MINIMAL.replace("\"hello\"", &format!("{good:?}"))).unwrap();
        }
    }

    #[test]
    fn versions_must_be_semver_without_build_metadata() {
        let e = err(&MINIMAL.replace("\"1.2.3\"", "\"1.2\""));
        assert!(e.contains("version"), "{e}");
        let e = err(&MINIMAL.replace("\"1.2.3\"", "\"1.2.3+build.5\""));
        assert!(
            e.contains("`version`") && e.contains("build metadata"),
            "{e}"
        );
        Manifest::parse(&MINIMAL.replace("\"1.2.3\"", "\"1.2.3-beta.1\"")).unwrap();
    }

    #[test]
    fn unsupported_wit_parses_but_is_not_supported() {
        let m = Manifest::parse(&MINIMAL.replace("wit = \"0.1.0\"", "wit = \"0.3.0\"")).unwrap();
        assert!(!m.targets_supported_wit());
    }

    #[test]
    fn both_contract_versions_are_served() {
        for wit in ["0.1.0", "0.2.0"] {
            let m = Manifest::parse(&MINIMAL.replace("\"0.1.0\"", &format!("{wit:?}"))).unwrap();
            assert!(m.targets_supported_wit(), "{wit}");
        }
        assert_eq!(SUPPORTED_WIT.last(), Some(&LATEST_WIT));
    }

    #[test]
    fn points_is_a_capability_of_contract_0_2_0() {
        let v2 = MINIMAL
            .replace("wit = \"0.1.0\"", "wit = \"0.2.0\"")
            .replace(
                "capabilities = []",
                "capabilities = [\"points\", \"shop-data\"]",
            );
        let m = Manifest::parse(&v2).unwrap();
        assert!(m.has_capability(Capability::Points));
        assert_eq!(m.to_json()["capabilities"][0], "points");
        let e = err(&v2.replace("wit = \"0.2.0\"", "wit = \"0.1.0\""));
        assert!(
            e.contains("`capabilities`") && e.contains("`points`") && e.contains("0.2.0"),
            "{e}"
        );
        assert_eq!(Capability::Points.since(), Some(Version::new(0, 2, 0)));
        assert_eq!(Capability::State.since(), None);
    }

    #[test]
    fn title_and_description_must_be_readable() {
        let e = err(&MINIMAL.replace("\"Hello\"", "\"  \""));
        assert!(e.contains("`title` is empty"), "{e}");
        let long = "x".repeat(DESCRIPTION_MAX + 1);
        let e = err(&MINIMAL.replace("\"Says hello.\"", &format!("{long:?}")));
        assert!(
            e.contains("`description`") && e.contains("at most 2000"),
            "{e}"
        );
    }

    #[test]
    fn duplicates_are_refused() {
        let e = err(&MINIMAL.replace("capabilities = []", "capabilities = [\"state\", \"state\"]"));
        assert!(
            e.contains("`capabilities` lists `state` more than once"),
            "{e}"
        );
        let e = err(&full_with(
            "price = [\"coupon\"]",
            "price = [\"coupon\", \"coupon\"]",
        ));
        assert!(e.contains("`hooks.price`"), "{e}");
        let e = err(&full_with("\"order-closed\",", "\"order-paid\","));
        assert!(e.contains("`hooks.events`"), "{e}");
        let e = err(&full_with("name = \"create-template\"", "name = \"claim\""));
        assert!(
            e.contains("`actions[1].name`") && e.contains("twice"),
            "{e}"
        );
    }

    #[test]
    fn actions_need_a_valid_name_and_actors() {
        let e = err(&full_with("name = \"claim\"", "name = \"Claim\""));
        assert!(e.contains("`actions[0].name`"), "{e}");
        let e = err(&full_with("[\"member\", \"staff\"]", "[]"));
        assert!(e.contains("`actions[0].actors` is empty"), "{e}");
        let e = err(&full_with(
            "[\"member\", \"staff\"]",
            "[\"staff\", \"staff\"]",
        ));
        assert!(e.contains("`actions[0].actors`"), "{e}");
        let long = format!("a{}", "b".repeat(63));
        Manifest::parse(&full_with("name = \"claim\"", &format!("name = {long:?}"))).unwrap();
        let e = err(&full_with(
            "name = \"claim\"",
            &format!("name = \"{long}c\""),
        ));
        assert!(e.contains("1 to 64"), "{e}");
    }

    #[test]
    fn needs_input_hooks_must_be_declared() {
        let m = Manifest::parse(&full_with("fail_open = []", "needs_input = [\"price\"]")).unwrap();
        assert!(!m.runs_without_input(InputHook::Price, false));
        assert!(m.runs_without_input(InputHook::Price, true));
        assert!(m.runs_without_input(InputHook::OrderCreated, false));
        let e = Manifest::parse(&full_with(
            "fail_open = []",
            "fail_open = []\nneeds_input = [\"validate_checkout\"]",
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("`hooks.needs_input`"), "{e}");
    }

    #[test]
    fn fail_open_hooks_must_be_declared() {
        let m = Manifest::parse(&full_with("fail_open = []", "fail_open = [\"price\"]")).unwrap();
        assert!(m.fails_open(FailOpenHook::Price));
        let e = err(&full_with(
            "fail_open = []",
            "fail_open = [\"validate_checkout\"]",
        ));
        assert!(
            e.contains("`hooks.fail_open`") && e.contains("validate_checkout"),
            "{e}"
        );
    }

    #[test]
    fn timers_hook_needs_the_timers_capability() {
        let e = err(&full_with("timers = false", "timers = true"));
        assert!(e.contains("`hooks.timers`"), "{e}");
        let ok = full_with("timers = false", "timers = true").replace(
            "[\"state\", \"logging\", \"host\"]",
            "[\"state\", \"timers\"]",
        );
        Manifest::parse(&ok).unwrap();
    }

    #[test]
    fn config_default_must_be_json() {
        let e = err(&full_with(r#"'{"templates": []}'"#, "'{oops'"));
        assert!(e.contains("`config.default` must be JSON"), "{e}");
    }

    #[test]
    fn names_round_trip_through_strings_and_serde() {
        fn check<T>(all: &[T])
        where
            T: Copy + std::fmt::Display + std::str::FromStr + PartialEq + std::fmt::Debug,
            T: Serialize + for<'de> Deserialize<'de>,
        {
            for &v in all {
                let text = v.to_string();
                assert_eq!(text.parse::<T>().ok(), Some(v));
                assert_eq!(serde_json::to_value(v).unwrap(), serde_json::json!(text));
            }
        }
        check(Category::ALL);
        check(Capability::ALL);
        check(PriceStage::ALL);
        check(EventKind::ALL);
        check(ActorKind::ALL);
        check(FailOpenHook::ALL);
        let e = "net".parse::<Capability>().unwrap_err().to_string();
        assert!(
            e.contains("unknown capability `net`") && e.contains("`shop-data`"),
            "{e}"
        );
    }

    #[test]
    fn supported_wit_matches_the_contract_folders() {
        let folders = [
            ("0.1.0", include_str!("../../wit/v0.1.0/plugin.wit")),
            ("0.2.0", include_str!("../../wit/v0.2.0/plugin.wit")),
        ];
        for (folder, wit) in folders {
            let declared = wit
                .lines()
                .find_map(|l| l.trim().strip_prefix("package baseplate:plugin@"))
                .and_then(|rest| rest.strip_suffix(';'))
                .expect("the contract declares its package version");
            let declared = Version::parse(declared).unwrap();
            assert_eq!(
                declared.to_string(),
                folder,
                "wit/v{folder} declares {declared}"
            );
            assert!(SUPPORTED_WIT.contains(&declared), "{declared}");
        }
        assert_eq!(SUPPORTED_WIT.len(), folders.len());
    }

    #[test]
    fn capabilities_are_the_contracts_interfaces() {
        // Every capability names an interface the newest contract imports, and back.
        let wit = include_str!("../../wit/v0.2.0/plugin.wit");
        let imported: Vec<&str> = wit
            .lines()
            .filter_map(|l| l.trim().strip_prefix("import "))
            .map(|rest| rest.trim_end_matches(';'))
            .collect();
        let ours: Vec<&str> = Capability::ALL.iter().map(|c| c.as_str()).collect();
        let mut a = imported.clone();
        let mut b = ours.clone();
        a.sort_unstable();
        b.sort_unstable();
        assert_eq!(a, b);
    }
}
