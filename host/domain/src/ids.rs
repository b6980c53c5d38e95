//! Identifier newtypes. Ids are opaque strings with a type prefix (`ord_…`) so a wrong id
//! in a request reads as wrong at a glance; the random part makes them unguessable across
//! shops.

use serde::{Deserialize, Serialize};
use std::fmt;

/// Builds a fresh id: `<prefix>_<26 chars>`, time-ordered (48-bit ms) then 80 random bits,
/// Crockford base32, so ids sort roughly by creation.
pub fn new_id(prefix: &str, now_ms: i64, random: [u8; 10]) -> String {
    const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";
    let mut bits: u128 = (now_ms.max(0) as u128 & ((1 << 48) - 1)) << 80;
    for (i, b) in random.iter().enumerate() {
        bits |= (*b as u128) << (72 - 8 * i);
    }
    let mut out = String::with_capacity(prefix.len() + 27);
    out.push_str(prefix);
    out.push('_');
    for i in (0..26).rev() {
        out.push(ALPHABET[((bits >> (5 * i)) & 31) as usize] as char);
    }
    out
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            pub fn generate(now_ms: i64, random: [u8; 10]) -> Self {
                Self(new_id($prefix, now_ms, random))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    };
}

id_type!(/// A shop: the tenant every row and every plugin call belongs to.
    ShopId, "shop");
id_type!(/// A member (buyer) of one shop; identity is per shop.
    MemberId, "mem");
id_type!(ProductId, "prod");
id_type!(SkuId, "sku");
id_type!(OrderId, "ord");
id_type!(OrderLineId, "line");
id_type!(/// A payment intent at the payment provider.
    PaymentId, "pay");
id_type!(/// An API key of a shop's staff or of the platform operator.
    KeyId, "key");
id_type!(/// One balanced ledger posting.
    PostingId, "post");
id_type!(/// An outbox event.
    EventId, "evt");
id_type!(/// A third-party plugin developer's account.
    DeveloperId, "dev");
id_type!(/// A developer's API key (its token is `bp_dk_…`).
    DeveloperKeyId, "dk");
id_type!(/// A registered ed25519 public key a developer signs packages with.
    SigningKeyId, "sk");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_have_prefix_and_sort_by_time() {
        let a = OrderId::generate(1_000, [255; 10]);
        let b = OrderId::generate(1_001, [0; 10]);
        assert!(a.as_str().starts_with("ord_"));
        assert_eq!(a.as_str().len(), 4 + 26);
        assert!(a < b);
        assert_ne!(OrderId::generate(5, [1; 10]), OrderId::generate(5, [2; 10]));
    }
}
