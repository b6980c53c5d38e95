//! Shops, their API keys, members and catalog.

use crate::{CoreError, Platform, Result, hash_token, new_token};
use baseplate_domain::{KeyId, MemberId, ProductId, ShopId, SkuId};
use baseplate_store::catalog::{self, Product, Sku};
use baseplate_store::keys::{self, ApiKey};
use baseplate_store::members::{self, Member};
use baseplate_store::shops::{self, Shop};

/// Who is calling, as established from a bearer token.
#[derive(Clone, Debug)]
pub enum Principal {
    Operator {
        key_id: String,
    },
    Staff {
        shop_id: String,
        key_id: String,
        role: String,
    },
    Member {
        shop_id: String,
        member_id: String,
    },
    /// A third-party developer's API key (`bp_dk_…`). `status` is the account's:
    /// `pending` accounts may look at themselves and nothing else.
    Developer {
        developer_id: String,
        key_id: String,
        status: String,
    },
}

/// How long a resolved token is trusted without asking the database again.
pub const AUTH_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(2);

pub struct NewShop {
    pub name: String,
    pub currency: String,
    pub payment_timeout_secs: i64,
}

pub struct NewMember {
    pub name: String,
    pub phone: Option<String>,
    pub inviter_id: Option<String>,
    pub tags: Vec<String>,
}

pub struct NewProduct {
    pub name: String,
    pub tags: Vec<String>,
    pub skus: Vec<NewSku>,
}

pub struct NewSku {
    pub name: String,
    pub price: i64,
    pub stock: i64,
}

/// The highest unit price (100 million yuan): with at most 999 units a line and 100 lines an
/// order, an order's total stays within `Money::MAX`.
pub const MAX_PRICE: i64 = 10_000_000_000;
/// The most stock a SKU may hold.
pub const MAX_STOCK: i64 = 1_000_000_000;

fn check_name(what: &str, s: &str, max: usize) -> Result<()> {
    if s.trim().is_empty() || s.chars().count() > max {
        return Err(CoreError::Invalid(format!(
            "{what} must be 1..={max} characters"
        )));
    }
    Ok(())
}

impl Platform {
    /// Resolves a bearer token to its principal; None for unknown or revoked tokens.
    /// Resolutions are kept for `AUTH_CACHE_TTL`, saving every request a database round
    /// trip; this node forgets them at once when a key is revoked, other nodes within the TTL.
    pub async fn authenticate(&self, token: &str) -> Result<Option<Principal>> {
        let hash = hash_token(token);
        if let Some((p, at)) = self.auth_cache.lock().get(&hash)
            && at.elapsed() < AUTH_CACHE_TTL
        {
            return Ok(Some(p.clone()));
        }
        let found = self.authenticate_uncached(token, &hash).await?;
        if let Some(p) = &found {
            let mut cache = self.auth_cache.lock();
            if cache.len() >= 10_000 {
                cache.clear();
            }
            cache.insert(hash, (p.clone(), std::time::Instant::now()));
        }
        Ok(found)
    }

    async fn authenticate_uncached(&self, token: &str, hash: &str) -> Result<Option<Principal>> {
        let hash = hash.to_string();
        let hash = &hash;
        self.read(|tx| {
            Box::pin(async move {
                if token.starts_with(crate::registry::DEVELOPER_TOKEN_PREFIX) {
                    return Ok(
                        match baseplate_store::registry::find_api_key(tx, hash).await? {
                            Some((k, status)) if k.revoked_at.is_none() => {
                                Some(Principal::Developer {
                                    developer_id: k.developer_id,
                                    key_id: k.id,
                                    status,
                                })
                            }
                            _ => None,
                        },
                    );
                }
                if token.starts_with("bp_mt_") {
                    return Ok(members::find_by_token_hash(tx, hash).await?.map(|m| {
                        Principal::Member {
                            shop_id: m.shop_id,
                            member_id: m.id,
                        }
                    }));
                }
                Ok(match keys::find_by_hash(tx, hash).await? {
                    Some(k) if k.revoked_at.is_none() => match k.shop_id {
                        // Only an operator key has no shop; anything else without one is
                        // not a key this platform issued.
                        None if k.role != "operator" => None,
                        None => Some(Principal::Operator { key_id: k.id }),
                        Some(shop_id) => Some(Principal::Staff {
                            shop_id,
                            key_id: k.id,
                            role: k.role,
                        }),
                    },
                    _ => None,
                })
            })
        })
        .await
    }

    /// Creates an operator key with a token of the caller's choosing if none exists yet
    /// (first boot); returns whether it created one.
    pub async fn ensure_operator_key(&self, token: &str) -> Result<bool> {
        let hash = hash_token(token);
        let hash = &hash;
        self.write("", |op| {
            Box::pin(async move {
                if keys::find_by_hash(op.tx(), hash).await?.is_some() {
                    return Ok(false);
                }
                let r = op.random10();
                let key = ApiKey {
                    id: KeyId::generate(op.now, r).0,
                    shop_id: None,
                    role: "operator".into(),
                    name: "operator".into(),
                    created_at: op.now,
                    revoked_at: None,
                };
                keys::insert(op.tx(), &key, hash).await?;
                Ok(true)
            })
        })
        .await
    }

    /// Creates a shop and its owner key; the token is returned once and stored hashed.
    pub async fn create_shop(&self, s: NewShop) -> Result<(Shop, ApiKey, String)> {
        check_name("shop name", &s.name, 100)?;
        if s.currency.len() != 3 || !s.currency.bytes().all(|b| b.is_ascii_uppercase()) {
            return Err(CoreError::Invalid(
                "currency must be an ISO 4217 code such as \"CNY\"".into(),
            ));
        }
        if !(60..=7 * 24 * 3600).contains(&s.payment_timeout_secs) {
            return Err(CoreError::Invalid(
                "payment_timeout_secs must be between 60 and 604800".into(),
            ));
        }
        let token = new_token("bp_sk_");
        let hash = hash_token(&token);
        let s = &s;
        let hash = &hash;
        let (shop, key) = self
            .write("", |op| {
                Box::pin(async move {
                    let r = op.random10();
                    let shop = Shop {
                        id: ShopId::generate(op.now, r).0,
                        name: s.name.trim().to_string(),
                        currency: s.currency.clone(),
                        payment_timeout_secs: s.payment_timeout_secs,
                        created_at: op.now,
                    };
                    shops::insert(op.tx(), &shop).await?;
                    let r = op.random10();
                    let key = ApiKey {
                        id: KeyId::generate(op.now, r).0,
                        shop_id: Some(shop.id.clone()),
                        role: "owner".into(),
                        name: "owner".into(),
                        created_at: op.now,
                        revoked_at: None,
                    };
                    keys::insert(op.tx(), &key, hash).await?;
                    Ok((shop, key))
                })
            })
            .await?;
        Ok((shop, key, token))
    }

    pub async fn get_shop(&self, shop: &str) -> Result<Shop> {
        self.read(|tx| {
            Box::pin(async move {
                shops::get(tx, shop)
                    .await?
                    .ok_or_else(|| CoreError::NotFound("shop not found".into()))
            })
        })
        .await
    }

    pub async fn update_shop(
        &self,
        shop: &str,
        name: Option<String>,
        payment_timeout_secs: Option<i64>,
    ) -> Result<Shop> {
        if let Some(n) = &name {
            check_name("shop name", n, 100)?;
        }
        if let Some(t) = payment_timeout_secs
            && !(60..=7 * 24 * 3600).contains(&t)
        {
            return Err(CoreError::Invalid(
                "payment_timeout_secs must be between 60 and 604800".into(),
            ));
        }
        let name = &name;
        self.write(shop, |op| {
            Box::pin(async move {
                let mut s = shops::get(op.tx(), shop)
                    .await?
                    .ok_or_else(|| CoreError::NotFound("shop not found".into()))?;
                if let Some(n) = &name {
                    s.name = n.trim().to_string();
                }
                if let Some(t) = payment_timeout_secs {
                    s.payment_timeout_secs = t;
                }
                shops::update_settings(op.tx(), shop, &s.name, s.payment_timeout_secs).await?;
                Ok(s)
            })
        })
        .await
    }

    /// A staff key (role `staff` or `owner`) for the shop.
    pub async fn create_key(&self, shop: &str, name: &str, role: &str) -> Result<(ApiKey, String)> {
        check_name("key name", name, 100)?;
        if !matches!(role, "owner" | "staff") {
            return Err(CoreError::Invalid(
                "role must be \"owner\" or \"staff\"".into(),
            ));
        }
        let token = new_token("bp_sk_");
        let hash = hash_token(&token);
        let hash = &hash;
        let key = self
            .write(shop, |op| {
                Box::pin(async move {
                    let r = op.random10();
                    let key = ApiKey {
                        id: KeyId::generate(op.now, r).0,
                        shop_id: Some(shop.into()),
                        role: role.into(),
                        name: name.into(),
                        created_at: op.now,
                        revoked_at: None,
                    };
                    keys::insert(op.tx(), &key, hash).await?;
                    Ok(key)
                })
            })
            .await?;
        Ok((key, token))
    }

    pub async fn list_keys(&self, shop: &str) -> Result<Vec<ApiKey>> {
        self.read(|tx| Box::pin(async move { Ok(keys::list(tx, shop).await?) }))
            .await
    }

    pub async fn revoke_key(&self, shop: &str, id: &str) -> Result<()> {
        let revoked = self
            .write(shop, |op| {
                Box::pin(async move {
                    let now = op.now;
                    if keys::revoke(op.tx(), shop, id, now).await? {
                        Ok(())
                    } else {
                        Err(CoreError::NotFound(format!("key {id} not found")))
                    }
                })
            })
            .await;
        // After the commit, so no request can re-cache the key as it was.
        self.auth_cache.lock().clear();
        revoked
    }

    /// A buyer joins the shop: a member record and a member token (returned once).
    pub async fn join(&self, shop: &str, m: NewMember) -> Result<(Member, String)> {
        check_name("member name", &m.name, 100)?;
        if let Some(p) = &m.phone
            && (p.is_empty()
                || p.len() > 32
                || !p
                    .bytes()
                    .all(|b| b.is_ascii_digit() || b == b'+' || b == b'-'))
        {
            return Err(CoreError::Invalid(
                "phone must be up to 32 digits, '+' or '-'".into(),
            ));
        }
        if m.tags.len() > 50
            || m.tags
                .iter()
                .any(|t| t.is_empty() || t.chars().count() > 50)
        {
            return Err(CoreError::Invalid(
                "tags: at most 50, each 1..=50 characters".into(),
            ));
        }
        let token = new_token("bp_mt_");
        let hash = hash_token(&token);
        let m = &m;
        let hash = &hash;
        let member = self
            .write(shop, |op| {
                Box::pin(async move {
                    if shops::get(op.tx(), shop).await?.is_none() {
                        return Err(CoreError::NotFound("shop not found".into()));
                    }
                    if let Some(inv) = &m.inviter_id
                        && members::get(op.tx(), shop, inv).await?.is_none()
                    {
                        return Err(CoreError::NotFound(format!(
                            "inviter {inv} is not a member of this shop"
                        )));
                    }
                    let r = op.random10();
                    let member = Member {
                        id: MemberId::generate(op.now, r).0,
                        shop_id: shop.into(),
                        name: m.name.trim().into(),
                        phone: m.phone.clone(),
                        level: 0,
                        points: 0,
                        tags: m.tags.clone(),
                        inviter_id: m.inviter_id.clone(),
                        paid_orders: 0,
                        joined_at: op.now,
                    };
                    match members::insert(op.tx(), &member, hash).await {
                        Err(e) if e.is_unique_violation() => {
                            return Err(CoreError::Conflict(
                                "a member with this phone already exists in this shop".into(),
                            ));
                        }
                        r => r?,
                    }
                    let payload = serde_json::json!({ "member": member }).to_string();
                    self.emit(op, shop, "member-joined", payload).await?;
                    Ok(member)
                })
            })
            .await?;
        Ok((member, token))
    }

    pub async fn get_member(&self, shop: &str, id: &str) -> Result<Member> {
        self.read(|tx| {
            Box::pin(async move {
                members::get(tx, shop, id)
                    .await?
                    .ok_or_else(|| CoreError::NotFound(format!("member {id} not found")))
            })
        })
        .await
    }

    pub async fn list_members(
        &self,
        shop: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Member>> {
        self.read(|tx| Box::pin(async move { Ok(members::list(tx, shop, after, limit).await?) }))
            .await
    }

    pub async fn update_member(
        &self,
        shop: &str,
        id: &str,
        level: Option<i64>,
        points: Option<i64>,
        tags: Option<Vec<String>>,
    ) -> Result<Member> {
        if level.is_some_and(|l| !(0..=100).contains(&l)) {
            return Err(CoreError::Invalid("level must be 0..=100".into()));
        }
        if points.is_some_and(|p| p < 0) {
            return Err(CoreError::Invalid("points must not be negative".into()));
        }
        let tags = &tags;
        self.write(shop, |op| {
            Box::pin(async move {
                let mut m = members::get(op.tx(), shop, id)
                    .await?
                    .ok_or_else(|| CoreError::NotFound(format!("member {id} not found")))?;
                if let Some(l) = level {
                    m.level = l;
                }
                if let Some(p) = points {
                    m.points = p;
                }
                if let Some(t) = &tags {
                    m.tags = t.clone();
                }
                members::update_profile(op.tx(), &m).await?;
                Ok(m)
            })
        })
        .await
    }

    pub async fn create_product(&self, shop: &str, p: NewProduct) -> Result<Product> {
        check_name("product name", &p.name, 200)?;
        if p.skus.is_empty() || p.skus.len() > 100 {
            return Err(CoreError::Invalid("a product needs 1..=100 skus".into()));
        }
        for (i, s) in p.skus.iter().enumerate() {
            check_name(&format!("skus[{i}].name"), &s.name, 100)?;
            if !(0..=MAX_PRICE).contains(&s.price) {
                return Err(CoreError::Invalid(format!(
                    "skus[{i}].price must be 0..={MAX_PRICE} (minor units)"
                )));
            }
            if !(0..=MAX_STOCK).contains(&s.stock) {
                return Err(CoreError::Invalid(format!(
                    "skus[{i}].stock must be 0..={MAX_STOCK}"
                )));
            }
        }
        let p = &p;
        self.write(shop, |op| {
            Box::pin(async move {
                let r = op.random10();
                let id = ProductId::generate(op.now, r).0;
                let mut skus = Vec::new();
                for s in &p.skus {
                    let r = op.random10();
                    skus.push(Sku {
                        id: SkuId::generate(op.now, r).0,
                        name: s.name.clone(),
                        price: s.price,
                        stock: s.stock,
                    });
                }
                let product = Product {
                    id,
                    shop_id: shop.into(),
                    name: p.name.trim().into(),
                    tags: p.tags.clone(),
                    skus,
                    created_at: op.now,
                };
                catalog::insert_product(op.tx(), &product).await?;
                Ok(product)
            })
        })
        .await
    }

    pub async fn get_product(&self, shop: &str, id: &str) -> Result<Product> {
        self.read(|tx| {
            Box::pin(async move {
                catalog::get_product(tx, shop, id)
                    .await?
                    .ok_or_else(|| CoreError::NotFound(format!("product {id} not found")))
            })
        })
        .await
    }

    pub async fn list_products(
        &self,
        shop: &str,
        after: Option<&str>,
        limit: i64,
    ) -> Result<Vec<Product>> {
        self.read(|tx| {
            Box::pin(async move { Ok(catalog::list_products(tx, shop, after, limit).await?) })
        })
        .await
    }

    pub async fn update_sku(
        &self,
        shop: &str,
        sku: &str,
        price: Option<i64>,
        stock: Option<i64>,
    ) -> Result<()> {
        // The same bounds as at creation: an unbounded price could overflow every sum.
        if price.is_some_and(|p| !(0..=MAX_PRICE).contains(&p)) {
            return Err(CoreError::Invalid(format!(
                "price must be 0..={MAX_PRICE} (minor units)"
            )));
        }
        if stock.is_some_and(|s| !(0..=MAX_STOCK).contains(&s)) {
            return Err(CoreError::Invalid(format!("stock must be 0..={MAX_STOCK}")));
        }
        self.write(shop, |op| {
            Box::pin(async move {
                if catalog::set_sku(op.tx(), shop, sku, price, stock).await? {
                    Ok(())
                } else {
                    Err(CoreError::NotFound(format!("sku {sku} not found")))
                }
            })
        })
        .await
    }
}
