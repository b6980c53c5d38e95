//! The API keeps its own document: the generated OpenAPI 3.1 description parses, lists
//! exactly the routes the router answers (with their methods), and every answer the API
//! gives — to valid inputs generated from the document and to invalid ones (wrong types,
//! missing fields, junk bodies, bad content types, unknown ids, bad query strings, no
//! credentials) — is never a 5xx, has a documented status, is JSON, and validates against
//! the documented schema. Every rejection the stack makes (404, 405, 408, 413, 415, 431, a
//! bad query, a bad path, trailing junk) is a JSON error; slow and idle connections are
//! closed within the configured bounds; `/metrics` shows the HTTP series by route template;
//! `/readyz` answers 503 when the database is gone.

use baseplate_api::HttpOptions;
use baseplate_server::{Node, Options};
use baseplate_tests::harness::TestApp;
use reqwest::Method;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

// ---- a node served the way `baseplate serve` serves it ----------------------------------

/// A node behind `baseplate_api::serve` (hyper-util, timeouts, raised header buffer), as
/// the binary runs it; the shared harness serves with plain `axum::serve`.
struct Served {
    base: String,
    addr: std::net::SocketAddr,
    node: Node,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        self.server.abort();
    }
}

async fn served(http: HttpOptions) -> Served {
    let dir = baseplate_tests::harness::scratch_dir("served");
    let mut opts = Options::new(format!("sqlite:{}", dir.join("baseplate.db").display()));
    let cache = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/plugin-cache");
    std::fs::create_dir_all(&cache).unwrap();
    opts.cache_dir = Some(cache);
    opts.worker = false;
    opts.payment_secret = Some("test-secret".into());
    opts.operator_token = Some("bp_op_test_operator".into());
    let node = baseplate_server::start(opts)
        .await
        .expect("the node starts");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = baseplate_api::router_with(node.platform.clone(), &http);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let server = tokio::spawn(async move {
        baseplate_api::serve(listener, router, http, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    Served {
        base: format!("http://{addr}"),
        addr,
        node,
        stop: Some(stop),
        server,
    }
}

// ---- assertions -------------------------------------------------------------------------

/// An error response: status, JSON content type, the `{error:{code,message}}` shape, the
/// code, and a message mentioning each of `mentions`.
#[track_caller]
fn assert_json_error(
    status: u16,
    content_type: &str,
    body: &str,
    want_status: u16,
    code: &str,
    mentions: &[&str],
) {
    assert_eq!(status, want_status, "status of {body:?}");
    assert!(
        content_type.starts_with("application/json"),
        "content type {content_type:?} of {body:?}"
    );
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("JSON body: {body:?}"));
    let keys: Vec<_> = v.as_object().expect("an object").keys().collect();
    assert_eq!(keys, ["error"], "only `error`: {v}");
    assert_eq!(v["error"]["code"], code, "{v}");
    let message = v["error"]["message"].as_str().expect("a message");
    assert!(!message.is_empty(), "{v}");
    for m in mentions {
        assert!(message.contains(m), "{message:?} should mention {m:?}");
    }
}

async fn send(rb: reqwest::RequestBuilder) -> (u16, String, String, reqwest::header::HeaderMap) {
    let resp = rb.send().await.expect("request sent");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, ct, resp.text().await.unwrap_or_default(), headers)
}

// ---- the document -----------------------------------------------------------------------

async fn document(app: &TestApp) -> Value {
    let (st, doc) = app
        .request(Method::GET, "/api/openapi.json", None, None, &[])
        .await;
    assert_eq!(st, 200, "{doc}");
    doc
}

fn operations(doc: &Value) -> Vec<(String, String, Value)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            out.push((method.clone(), path.clone(), op.clone()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_document_is_openapi_3_1_and_matches_the_router() {
    let app = TestApp::sqlite().await;
    let doc = document(&app).await;
    assert_eq!(doc["openapi"], "3.1.0");
    let parsed = oas3::from_json(doc.to_string()).expect("parses as an OpenAPI 3.1 document");
    assert!(parsed.paths.as_ref().is_some_and(|p| p.len() > 30));
    assert!(parsed.components.is_some());

    let ops = operations(&doc);
    let mut methods: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (method, path, op) in &ops {
        methods
            .entry(path.clone())
            .or_default()
            .insert(method.to_ascii_uppercase());
        // Every operation is typed: a summary, responses with a success, every error a
        // reference to a shared error response; bodies and parameters have schemas.
        assert!(op["summary"].is_string(), "{method} {path}");
        let responses = op["responses"].as_object().unwrap();
        assert!(
            responses.keys().any(|s| s.starts_with('2')),
            "{method} {path}"
        );
        for p in op["parameters"].as_array().into_iter().flatten() {
            assert!(p["schema"].is_object(), "{method} {path}: {p}");
        }
        if let Some(body) = op.get("requestBody") {
            assert!(
                body["content"]["application/json"]["schema"].is_object(),
                "{method} {path}"
            );
        }
        let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
        if secured {
            assert!(responses.contains_key("401"), "{method} {path}");
        }
    }
    // Creates answer 201.
    for (method, path) in [
        ("post", "/api/v1/shops"),
        ("post", "/api/v1/orders"),
        ("post", "/api/v1/products"),
        ("post", "/api/v1/keys"),
        ("post", "/api/v1/members"),
        ("post", "/api/v1/shops/{shop_id}/join"),
        ("post", "/api/v1/orders/{id}/payments"),
        ("post", "/api/v1/orders/{id}/refunds"),
        ("post", "/api/v1/plugins"),
    ] {
        let r = &doc["paths"][path][method]["responses"];
        assert!(r["201"].is_object(), "{method} {path}: {r}");
        assert!(r.get("200").is_none(), "{method} {path}: {r}");
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let codes = &doc["components"]["schemas"]["ErrorCode"]["enum"];
    assert!(
        codes.as_array().unwrap().len() >= 15,
        "error codes are typed: {codes}"
    );

    // The router answers exactly the documented methods on each documented path: any
    // other method is a JSON 405 whose Allow header lists them.
    for (path, documented) in &methods {
        let concrete = concrete(path);
        for m in ["GET", "POST", "PUT", "PATCH", "DELETE"] {
            if documented.contains(m) {
                continue;
            }
            let (st, ct, body, headers) = send(app.client.request(
                Method::from_bytes(m.as_bytes()).unwrap(),
                format!("{}{concrete}", app.base),
            ))
            .await;
            assert_json_error(st, &ct, &body, 405, "method_not_allowed", &[]);
            let allow: BTreeSet<String> = headers
                .get("allow")
                .and_then(|v| v.to_str().ok())
                .unwrap_or("")
                .split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty() && s != "HEAD")
                .collect();
            assert_eq!(&allow, documented, "{m} {path}: Allow");
        }
    }
    app.cleanup().await;
}

fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| if seg.starts_with('{') { "x" } else { seg })
        .collect::<Vec<_>>()
        .join("/")
}

// ---- spec-driven requests ---------------------------------------------------------------

/// Resolves `$ref`s into the document.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    match v.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let target = doc
                .pointer(r.trim_start_matches('#'))
                .unwrap_or_else(|| panic!("{r} resolves"));
            resolve(doc, target)
        }
        None => v,
    }
}

/// A valid instance of `schema`: required properties only, defaults and enums first,
/// numbers at their minimum, strings that meet their pattern; a property named in `known`
/// (`sku_id`, …) takes the fixture's value, so valid requests reach the business logic.
fn valid(doc: &Value, schema: &Value, known: &BTreeMap<&str, Value>) -> Value {
    let s = resolve(doc, schema);
    if let Some(d) = s.get("default") {
        return d.clone();
    }
    if let Some(e) = s.get("enum").and_then(Value::as_array) {
        return e[0].clone();
    }
    for key in ["oneOf", "anyOf", "allOf"] {
        if let Some(alts) = s.get(key).and_then(Value::as_array) {
            let alt = alts
                .iter()
                .find(|a| resolve(doc, a)["type"] != "null")
                .unwrap_or(&alts[0]);
            return valid(doc, alt, known);
        }
    }
    let ty = match &s["type"] {
        Value::String(t) => t.clone(),
        Value::Array(ts) => ts
            .iter()
            .filter_map(Value::as_str)
            .find(|t| *t != "null")
            .unwrap_or("null")
            .to_string(),
        _ => "object".into(),
    };
    match ty.as_str() {
        "object" => {
            let mut o = serde_json::Map::new();
            for name in s["required"].as_array().into_iter().flatten() {
                let name = name.as_str().unwrap();
                let v = match known.get(name) {
                    Some(v) => v.clone(),
                    None => valid(doc, &s["properties"][name], known),
                };
                o.insert(name.into(), v);
            }
            // Optional fields the fixture knows a good value for (a reason, a key).
            for (name, v) in known {
                if s["properties"].get(*name).is_some() && !o.contains_key(*name) {
                    o.insert((*name).into(), v.clone());
                }
            }
            Value::Object(o)
        }
        "array" => {
            let n = s["minItems"].as_u64().unwrap_or(0);
            Value::Array((0..n).map(|_| valid(doc, &s["items"], known)).collect())
        }
        "integer" | "number" => json!(
            s["minimum"]
                .as_i64()
                .unwrap_or(1)
                .max(1)
                .min(s["maximum"].as_i64().unwrap_or(i64::MAX))
        ),
        "boolean" => json!(true),
        "string" => match s["pattern"].as_str() {
            Some("^[A-Z]{3}$") => json!("CNY"),
            Some("^[0-9+-]{1,32}$") => json!("13800000000"),
            Some(p) if p.starts_with("^(shop") => json!("shop"),
            _ => json!("x".repeat(s["minLength"].as_u64().unwrap_or(1) as usize)),
        },
        _ => Value::Null,
    }
}

/// Invalid variants of a valid body: each required field missing, each of the wrong type,
/// an unknown field, and a scalar where an object belongs.
fn invalid_bodies(valid: &Value) -> Vec<Value> {
    let mut out = vec![json!(42), json!([]), json!("text")];
    if let Some(o) = valid.as_object() {
        let mut extra = o.clone();
        extra.insert("no_such_field".into(), json!(1));
        out.push(Value::Object(extra));
        for (k, v) in o {
            let mut missing = o.clone();
            missing.remove(k);
            out.push(Value::Object(missing));
            let mut wrong = o.clone();
            wrong.insert(
                k.clone(),
                match v {
                    Value::String(_) => json!(12345),
                    Value::Number(_) => json!("twelve"),
                    Value::Bool(_) => json!("yes"),
                    Value::Array(_) => json!({ "not": "a list" }),
                    _ => json!([1, 2]),
                },
            );
            out.push(Value::Object(wrong));
        }
    }
    out
}

/// The documented response for a status (exact, `4XX`-style, or `default`).
fn documented<'a>(doc: &'a Value, op: &'a Value, status: u16) -> Option<&'a Value> {
    let r = &op["responses"];
    let exact = r.get(status.to_string());
    let range = r.get(format!("{}XX", status / 100));
    exact
        .or(range)
        .or_else(|| r.get("default"))
        .map(|v| resolve(doc, v))
}

struct Checker {
    doc: Value,
    seen: BTreeMap<String, BTreeSet<u16>>,
    failures: Vec<String>,
    answered: usize,
}

impl Checker {
    /// Checks one answer against the operation's documentation.
    fn check(&mut self, label: &str, op: &Value, status: u16, ct: &str, body: &str) {
        self.answered += 1;
        self.seen
            .entry(label.split(" [").next().unwrap().to_string())
            .or_default()
            .insert(status);
        if status >= 500 {
            self.failures.push(format!("{label}: {status} {body}"));
            return;
        }
        let Some(resp) = documented(&self.doc, op, status) else {
            self.failures.push(format!(
                "{label}: status {status} is not documented: {body}"
            ));
            return;
        };
        let content = &resp["content"];
        if content.is_null() || content.as_object().is_some_and(|c| c.is_empty()) {
            if !body.is_empty() {
                self.failures
                    .push(format!("{label}: {status} documents no body, got {body:?}"));
            }
            return;
        }
        let Some(json_schema) = content.get("application/json").map(|c| &c["schema"]) else {
            if !ct.starts_with("text/plain") {
                self.failures
                    .push(format!("{label}: {status} content type {ct:?}"));
            }
            return;
        };
        if !ct.starts_with("application/json") {
            self.failures.push(format!(
                "{label}: {status} content type {ct:?}, body {body:?}"
            ));
            return;
        }
        let Ok(value) = serde_json::from_str::<Value>(body) else {
            self.failures
                .push(format!("{label}: {status} body is not JSON: {body:?}"));
            return;
        };
        let schema = json!({
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "components": self.doc["components"],
            "allOf": [json_schema],
        });
        let validator = jsonschema::validator_for(&schema).expect("the schema compiles");
        let errors: Vec<String> = validator
            .iter_errors(&value)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect();
        if !errors.is_empty() {
            self.failures.push(format!(
                "{label}: {status} body does not match its schema: {errors:?}\n  body: {body}"
            ));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_answers_within_its_document() {
    let app = TestApp::sqlite().await;
    let doc = document(&app).await;

    // A shop with a product, a member, a coupon template and an order to aim at.
    let (shop, owner) = app.shop("Contract").await;
    let (product, sku) = app.product(&owner, "Tea", 1_000, 1_000).await;
    let (member_id, member) = app.member(&shop, "m").await;
    app.install(&owner, "coupons", None).await;
    let (st, order) = app
        .post(
            "/api/v1/orders",
            &member,
            json!({ "lines": [{ "sku_id": sku, "quantity": 1 }] }),
        )
        .await;
    assert_eq!(st, 201, "{order}");
    let order_id = order["id"].as_str().unwrap().to_string();
    let (st, p) = app
        .post(
            &format!("/api/v1/orders/{order_id}/payments"),
            &member,
            json!({}),
        )
        .await;
    assert_eq!(st, 201, "{p}");
    let payment_id = p["payment"]["id"].as_str().unwrap().to_string();
    let (st, k) = app
        .post("/api/v1/keys", &owner, json!({ "name": "to revoke" }))
        .await;
    assert_eq!(st, 201, "{k}");
    let key_id = k["key"]["id"].as_str().unwrap().to_string();

    // The registry's callers: the operator, and an approved developer with a registered
    // key; a second developer is the one the operator's account routes act on; the review
    // routes act on group-buy, which the shop does not run.
    let operator = baseplate_tests::harness::OPERATOR.to_string();
    let signup = |name: &'static str| {
        let app = &app;
        async move {
            let (st, d) = app
                .request(
                    Method::POST,
                    "/api/v1/developers",
                    None,
                    Some(json!({ "name": name })),
                    &[],
                )
                .await;
            assert_eq!(st, 201, "{d}");
            (
                d["developer"]["id"].as_str().unwrap().to_string(),
                d["api_key"]["token"].as_str().unwrap().to_string(),
            )
        }
    };
    let (dev_id, developer) = signup("Contract Dev").await;
    let (other_dev, _) = signup("Contract Other").await;
    let (st, b) = app
        .post(
            &format!("/api/v1/registry/developers/{dev_id}/approve"),
            &operator,
            json!({}),
        )
        .await;
    assert_eq!(st, 200, "{b}");
    let public = |seed: u8| {
        baseplate_marketplace::PublisherKey::from_hex(&hex::encode([seed; 32]))
            .unwrap()
            .public()
            .to_hex()
    };
    let (st, k) = app
        .post(
            "/api/v1/developer/signing-keys",
            &developer,
            json!({ "public_key": public(1) }),
        )
        .await;
    assert_eq!(st, 201, "{k}");
    let signing_key = k["id"].as_str().unwrap().to_string();
    let (st, k) = app
        .post(
            "/api/v1/developer/api-keys",
            &developer,
            json!({ "name": "spare" }),
        )
        .await;
    assert_eq!(st, 201, "{k}");
    let dev_key = k["id"].as_str().unwrap().to_string();
    let (st, gb) = app
        .request(
            Method::GET,
            "/api/v1/marketplace/plugins/group-buy",
            Some(&owner),
            None,
            &[],
        )
        .await;
    assert_eq!(st, 200, "{gb}");
    let gb_version = gb["versions"][0]["version"].as_str().unwrap().to_string();

    let param = |path: &str, name: &str| -> String {
        match name {
            "shop_id" => shop.clone(),
            "name" if path.starts_with("/api/v1/registry") => "group-buy".into(),
            "version" => gb_version.clone(),
            "id" if path.starts_with("/api/v1/registry/developers") => other_dev.clone(),
            "id" if path.starts_with("/api/v1/developer/api-keys") => dev_key.clone(),
            "id" if path.starts_with("/api/v1/developer/signing-keys") => signing_key.clone(),
            "name" | "plugin" => "coupons".into(),
            "action" => "list-coupons".into(),
            "event_id" => "evt_unknown".into(),
            "id" if path.starts_with("/api/v1/orders") => order_id.clone(),
            "id" if path.starts_with("/api/v1/members") => member_id.clone(),
            "id" if path.starts_with("/api/v1/products") => product.clone(),
            "id" if path.starts_with("/api/v1/skus") => sku.clone(),
            "id" if path.starts_with("/api/v1/keys") => key_id.clone(),
            "id" if path.starts_with("/api/v1/sandbox") => payment_id.clone(),
            _ => "x".into(),
        }
    };

    let known: BTreeMap<&str, Value> = [
        ("sku_id", json!(sku)),
        ("refund_id", json!("r-contract")),
        ("public_key", json!(public(2))),
        ("reason", json!("contract walk")),
    ]
    .into_iter()
    .collect();
    let mut checker = Checker {
        doc: doc.clone(),
        seen: BTreeMap::new(),
        failures: Vec::new(),
        answered: 0,
    };
    // Reads first, then writes, deletes last, so the fixture lives as long as it can.
    let mut ops = operations(&doc);
    ops.sort_by_key(|(m, _, _)| match m.as_str() {
        "get" => 0,
        "post" | "put" | "patch" => 1,
        _ => 2,
    });
    for (method, path, op) in &ops {
        let m = Method::from_bytes(method.to_ascii_uppercase().as_bytes()).unwrap();
        let mut real = path.clone();
        let mut unknown = path.clone();
        for p in op["parameters"].as_array().into_iter().flatten() {
            if p["in"] == "path" {
                let name = p["name"].as_str().unwrap();
                real = real.replace(&format!("{{{name}}}"), &param(path, name));
                unknown = unknown.replace(&format!("{{{name}}}"), "nope_404");
            }
        }
        let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
        let body_schema = op["requestBody"]["content"]["application/json"]["schema"].clone();
        let has_body = !body_schema.is_null();
        let good = if has_body {
            Some(valid(&doc, &body_schema, &known))
        } else {
            None
        };
        let tokens: Vec<Option<&str>> = if secured {
            vec![
                Some(owner.as_str()),
                Some(member.as_str()),
                Some(operator.as_str()),
                Some(developer.as_str()),
            ]
        } else {
            vec![None]
        };
        let label = format!("{method} {path}");
        let url = |p: &str| format!("{}{p}", app.base);

        let mut attempt = async |name: &str, rb: reqwest::RequestBuilder| {
            let (st, ct, body, _) = send(rb).await;
            checker.check(&format!("{label} [{name}]"), op, st, &ct, &body);
        };
        let with_body = |rb: reqwest::RequestBuilder, b: &Value| {
            rb.header("content-type", "application/json")
                .body(b.to_string())
        };
        for token in &tokens {
            let authed = |rb: reqwest::RequestBuilder| match token {
                Some(t) => rb.bearer_auth(t),
                None => rb,
            };
            // (a) generated valid input, on real ids and on unknown ones.
            for (name, p) in [("valid", &real), ("unknown ids", &unknown)] {
                let mut rb = authed(app.client.request(m.clone(), url(p)));
                if let Some(g) = &good {
                    rb = with_body(rb, g);
                }
                attempt(name, rb).await;
            }
            // (b) invalid bodies, junk, trailing junk, wrong and missing content types.
            if let Some(g) = &good {
                for bad in invalid_bodies(g) {
                    attempt(
                        "invalid body",
                        with_body(authed(app.client.request(m.clone(), url(&real))), &bad),
                    )
                    .await;
                }
                for junk in ["{\"a\":", "not json", "", "{} trailing", "\u{0}"] {
                    attempt(
                        "junk body",
                        authed(app.client.request(m.clone(), url(&real)))
                            .header("content-type", "application/json")
                            .body(junk),
                    )
                    .await;
                }
                for ct in [
                    None,
                    Some("text/plain"),
                    Some("application/x-www-form-urlencoded"),
                ] {
                    let mut rb =
                        authed(app.client.request(m.clone(), url(&real))).body(g.to_string());
                    if let Some(ct) = ct {
                        rb = rb.header("content-type", ct);
                    }
                    attempt("content type", rb).await;
                }
            }
            // Bad query strings: wrong types, unknown parameters.
            for q in [
                "limit=abc",
                "limit=0",
                "status=bogus",
                "no_such_param=1",
                "party=nobody&account=x",
            ] {
                let mut rb = authed(app.client.request(m.clone(), format!("{}?{q}", url(&real))));
                if let Some(g) = &good {
                    rb = with_body(rb, g);
                }
                attempt("query", rb).await;
            }
        }
        // No credentials, and a bad one.
        if secured {
            for auth in [None, Some("Bearer bp_sk_nope"), Some("Basic eDp5")] {
                let mut rb = app.client.request(m.clone(), url(&real));
                if let Some(a) = auth {
                    rb = rb.header("authorization", a);
                }
                if let Some(g) = &good {
                    rb = with_body(rb, g);
                }
                attempt("credentials", rb).await;
            }
        }
    }
    assert!(
        checker.failures.is_empty(),
        "{} of {} answers break the document:\n{}",
        checker.failures.len(),
        checker.answered,
        checker.failures.join("\n")
    );
    eprintln!(
        "{} answers from {} operations; statuses seen: {:?}",
        checker.answered,
        checker.seen.len(),
        checker.seen
    );
    // The walk reached the handlers: most operations answered a 2xx at least once.
    let succeeded = checker
        .seen
        .values()
        .filter(|s| s.iter().any(|st| (200..300).contains(st)))
        .count();
    assert!(
        succeeded * 4 >= checker.seen.len() * 3,
        "only {succeeded} of {} operations ever succeeded: {:?}",
        checker.seen.len(),
        checker.seen
    );
    app.cleanup().await;
}

// ---- rejections -------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_rejection_is_a_json_error() {
    let app = TestApp::sqlite().await;
    let (shop, owner) = app.shop("Rejections").await;
    let (_, sku) = app.product(&owner, "Tea", 1_000, 10).await;
    let (_, member) = app.member(&shop, "m").await;
    let order_body = json!({ "lines": [{ "sku_id": sku, "quantity": 1 }] }).to_string();
    let url = |p: &str| format!("{}{p}", app.base);

    // 404: no such route.
    let (st, ct, body, _) = send(app.client.get(url("/api/v1/nope"))).await;
    assert_json_error(st, &ct, &body, 404, "not_found", &["no such route"]);
    let (st, ct, body, _) = send(app.client.post(url("/nope/at/all"))).await;
    assert_json_error(st, &ct, &body, 404, "not_found", &["no such route"]);

    // 405: a known path, another method; Allow lists the right ones.
    let (st, ct, body, headers) = send(app.client.delete(url("/api/v1/orders"))).await;
    assert_json_error(st, &ct, &body, 405, "method_not_allowed", &["Allow"]);
    let allow = headers["allow"].to_str().unwrap();
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");

    // 413: over the body limit, declared or streamed.
    let big = format!("{{\"name\":\"{}\"}}", "x".repeat(300 << 10));
    let (st, ct, body, _) = send(
        app.client
            .post(url("/api/v1/shops"))
            .header("content-type", "application/json")
            .body(big.clone()),
    )
    .await;
    assert_json_error(st, &ct, &body, 413, "body_too_large", &["256 KiB"]);
    // Streamed (chunked, no Content-Length): cut off at the limit all the same.
    let addr = app.base.trim_start_matches("http://").to_string();
    let mut stream = TcpStream::connect(&addr).await.unwrap();
    let head = format!(
        "POST /api/v1/orders HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {member}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    // One byte over: what is left unread when the server answers is tiny.
    let over = vec![b' '; (256 << 10) + 1];
    for chunk in over.chunks(8 << 10) {
        let mut c = format!("{:x}\r\n", chunk.len()).into_bytes();
        c.extend_from_slice(chunk);
        c.extend_from_slice(b"\r\n");
        if stream.write_all(&c).await.is_err() {
            break;
        }
    }
    let _ = stream.write_all(b"0\r\n\r\n").await;
    let (text, _) = read_until_closed(&mut stream, Duration::from_secs(10)).await;
    assert!(text.starts_with("HTTP/1.1 413"), "{text}");
    assert!(text.contains("\"body_too_large\""), "{text}");

    // 415: checkout refuses text/plain and a missing content type like every route.
    for (path, token) in [("/api/v1/orders", Some(&member)), ("/api/v1/shops", None)] {
        for ct in [Some("text/plain"), None] {
            let mut rb = app.client.post(url(path)).body(order_body.clone());
            if let Some(t) = token {
                rb = rb.bearer_auth(t);
            }
            if let Some(c) = ct {
                rb = rb.header("content-type", c);
            }
            let (st, ct, body, _) = send(rb).await;
            assert_json_error(
                st,
                &ct,
                &body,
                415,
                "unsupported_media_type",
                &["Content-Type: application/json"],
            );
        }
    }
    // A plugin action's body is optional, but a body that is there must be JSON.
    let (st, ct, body, _) = send(
        app.client
            .post(url("/api/v1/plugins/coupons/actions/claim"))
            .bearer_auth(&member)
            .header("content-type", "text/plain")
            .body("{}"),
    )
    .await;
    assert_json_error(st, &ct, &body, 415, "unsupported_media_type", &[]);

    // Trailing junk after the JSON: 400 on checkout, as on every route.
    for path in ["/api/v1/orders", "/api/v1/checkout/quote"] {
        let (st, ct, body, _) = send(
            app.client
                .post(url(path))
                .bearer_auth(&member)
                .header("content-type", "application/json")
                .body(format!("{order_body} junk")),
        )
        .await;
        assert_json_error(st, &ct, &body, 400, "malformed_json", &["trailing"]);
    }
    let (_, orders) = app.get("/api/v1/orders", &owner).await;
    assert_eq!(orders["orders"], json!([]), "nothing was ordered");

    // A body is a JSON object: serde would read `[null, null]` as a struct; the API doesn't.
    for body in ["[null, null]", "42", "\"x\"", "null"] {
        let (st, ct, text, _) = send(
            app.client
                .patch(url("/api/v1/shop"))
                .bearer_auth(&owner)
                .header("content-type", "application/json")
                .body(body),
        )
        .await;
        assert_json_error(st, &ct, &text, 422, "invalid_request", &["JSON object"]);
    }
    // An integer written as `3600.0` is an integer (as JSON Schema says); `2.5` is not.
    let (st, b) = app
        .request(
            Method::PATCH,
            "/api/v1/shop",
            Some(&owner),
            Some(json!({ "payment_timeout_secs": 3600.0 })),
            &[],
        )
        .await;
    assert_eq!((st, &b["payment_timeout_secs"]), (200, &json!(3600)), "{b}");
    let (st, ct, text, _) = send(
        app.client
            .patch(url("/api/v1/shop"))
            .bearer_auth(&owner)
            .header("content-type", "application/json")
            .body(r#"{"payment_timeout_secs": 3600.5}"#),
    )
    .await;
    assert_json_error(
        st,
        &ct,
        &text,
        422,
        "invalid_request",
        &["payment_timeout_secs"],
    );

    // Bad query strings name the parameter.
    for (q, mention) in [
        ("limit=abc", "limit"),
        ("limit=", "limit"),
        ("status=bogus", "status"),
        ("colour=red", "colour"),
    ] {
        let (st, ct, body, _) = send(
            app.client
                .get(url(&format!("/api/v1/orders?{q}")))
                .bearer_auth(&owner),
        )
        .await;
        assert_json_error(st, &ct, &body, 422, "invalid_request", &[mention]);
    }
    // A path segment that does not decode.
    let (st, ct, body, _) = send(
        app.client
            .get(url("/api/v1/orders/%FF%FE"))
            .bearer_auth(&owner),
    )
    .await;
    assert_json_error(st, &ct, &body, 400, "bad_request", &["path"]);

    // Request ids: generated when absent, kept when sane, replaced when not.
    let (_, _, _, h) = send(app.client.get(url("/healthz"))).await;
    let generated = h["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(generated.len(), 36, "a UUID: {generated}");
    let (_, _, _, h) = send(
        app.client
            .get(url("/healthz"))
            .header("x-request-id", "abc-123"),
    )
    .await;
    assert_eq!(h["x-request-id"], "abc-123");
    let (_, _, _, h) = send(
        app.client
            .get(url("/healthz"))
            .header("x-request-id", "x".repeat(500)),
    )
    .await;
    assert_eq!(h["x-request-id"].len(), 36);
    // Errors carry it too.
    let (_, _, _, h) = send(app.client.get(url("/api/v1/nope"))).await;
    assert!(h.get("x-request-id").is_some());
    app.cleanup().await;
}

/// Headers over 64 KiB (here a 1 MiB one) reach the API and get a JSON 431.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_are_a_json_431() {
    let s = served(HttpOptions::default()).await;
    let client = reqwest::Client::new();
    for size in [100 << 10, 1 << 20] {
        let (st, ct, body, _) = send(
            client
                .get(format!("{}/api/v1/shop", s.base))
                .header("x-padding", "a".repeat(size)),
        )
        .await;
        assert_json_error(st, &ct, &body, 431, "headers_too_large", &["64 KiB"]);
    }
    // Many small headers add up the same way.
    let mut rb = client.get(format!("{}/healthz", s.base));
    for i in 0..200 {
        rb = rb.header(format!("x-h{i}"), "b".repeat(400));
    }
    let (st, ct, body, _) = send(rb).await;
    assert_json_error(st, &ct, &body, 431, "headers_too_large", &[]);
    // Under the limit is fine.
    let (st, _, _, _) = send(
        client
            .get(format!("{}/healthz", s.base))
            .header("x-padding", "a".repeat(32 << 10)),
    )
    .await;
    assert_eq!(st, 200);
    s.node.platform.db.close().await;
}

// ---- timeouts -----------------------------------------------------------------------------

/// Reads until the server closes the connection (or `limit` passes); returns what it read
/// and when the connection closed.
async fn read_until_closed(stream: &mut TcpStream, limit: Duration) -> (String, Option<Duration>) {
    let started = Instant::now();
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = limit.saturating_sub(started.elapsed());
        match tokio::time::timeout(left, stream.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => {
                return (
                    String::from_utf8_lossy(&out).into_owned(),
                    Some(started.elapsed()),
                );
            }
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
            Err(_) => return (String::from_utf8_lossy(&out).into_owned(), None),
        }
    }
}

fn short_timeouts() -> HttpOptions {
    HttpOptions {
        header_read_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(3),
        idle_timeout: Duration::from_secs(4),
        ..HttpOptions::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_header_is_cut_off() {
    let s = served(short_timeouts()).await;
    let mut stream = TcpStream::connect(s.addr).await.unwrap();
    let started = Instant::now();
    // One byte a second: the head never completes within the 2 s header timeout.
    let head = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut closed_after = None;
    for b in head.iter() {
        if stream.write_all(&[*b]).await.is_err() {
            closed_after = Some(started.elapsed());
            break;
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
        if started.elapsed() > Duration::from_secs(8) {
            break;
        }
    }
    let closed_after = match closed_after {
        Some(t) => t,
        None => {
            let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
            assert!(closed.is_some(), "the server closes a trickling connection");
            started.elapsed()
        }
    };
    assert!(
        closed_after < Duration::from_secs(8),
        "closed after {closed_after:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_connections_are_closed() {
    let s = served(short_timeouts()).await;
    // Connected and silent.
    let mut stream = TcpStream::connect(s.addr).await.unwrap();
    let (_, closed) = read_until_closed(&mut stream, Duration::from_secs(8)).await;
    let closed = closed.expect("an idle connection is closed");
    assert!(closed < Duration::from_secs(6), "closed after {closed:?}");

    // Kept alive after one request, then silent.
    let mut stream = TcpStream::connect(s.addr).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let (text, closed) = read_until_closed(&mut stream, Duration::from_secs(8)).await;
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    let closed = closed.expect("an idle keep-alive connection is closed");
    assert!(closed < Duration::from_secs(6), "closed after {closed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trickled_body_is_a_json_408() {
    let s = served(short_timeouts()).await;
    let mut stream = TcpStream::connect(s.addr).await.unwrap();
    let started = Instant::now();
    stream
        .write_all(
            b"POST /api/v1/shops HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
        )
        .await
        .unwrap();
    let trickle = async {
        for _ in 0..20 {
            tokio::time::sleep(Duration::from_millis(500)).await;
            if stream.write_all(b" ").await.is_err() {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), trickle).await;
    let (text, closed) = read_until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(text.starts_with("HTTP/1.1 408"), "{text}");
    assert!(text.contains("\"request_timeout\""), "{text}");
    assert!(closed.is_some(), "closed after the 408");
    assert!(started.elapsed() < Duration::from_secs(10));
}

// ---- observability ------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_by_route_template() {
    let app = TestApp::sqlite().await;
    let (shop, owner) = app.shop("Metrics").await;
    let (_, sku) = app.product(&owner, "Tea", 1_000, 10).await;
    let (_, member) = app.member(&shop, "m").await;
    let (st, order) = app
        .post(
            "/api/v1/orders",
            &member,
            json!({ "lines": [{ "sku_id": sku, "quantity": 1 }] }),
        )
        .await;
    assert_eq!(st, 201, "{order}");
    let id = order["id"].as_str().unwrap().to_string();
    app.pay(&member, &id).await;
    let (st, _) = app.get(&format!("/api/v1/orders/{id}"), &owner).await;
    assert_eq!(st, 200);

    let resp = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain")
    );
    let text = resp.text().await.unwrap();
    let has = |needle: &str| {
        assert!(
            text.lines().any(|l| l.contains(needle)),
            "no line with {needle:?} in:\n{text}"
        )
    };
    has("# TYPE baseplate_http_requests_total counter");
    has(r#"baseplate_http_requests_total{method="POST",route="/api/v1/orders",status="201"}"#);
    has(r#"route="/api/v1/orders/{id}/payments",status="201""#);
    has(r#"route="/api/v1/sandbox/payments/{id}/pay",status="200""#);
    has(r#"route="/api/v1/orders/{id}",status="200""#);
    has("# TYPE baseplate_http_request_duration_seconds histogram");
    has(r#"baseplate_http_request_duration_seconds_bucket{method="POST",route="/api/v1/orders","#);
    // Route labels are templates, never raw ids.
    assert!(!text.contains(&id), "a raw order id in a label");
    assert!(!text.contains(&sku));
    app.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probes_say_live_and_ready_and_not_ready_without_a_database() {
    let app = TestApp::sqlite().await;
    let (st, b) = app.request(Method::GET, "/healthz", None, None, &[]).await;
    assert_eq!((st, &b["status"]), (200, &json!("ok")));
    let (st, b) = app.request(Method::GET, "/readyz", None, None, &[]).await;
    assert_eq!((st, &b["status"]), (200, &json!("ready")), "{b}");
    app.platform().db.close().await;
    let (st, ct, body, _) = send(app.client.get(format!("{}/readyz", app.base))).await;
    assert_json_error(st, &ct, &body, 503, "not_ready", &["database"]);
    let (st, _) = app.request(Method::GET, "/healthz", None, None, &[]).await;
    assert_eq!(st, 200, "the process is still up");
}
