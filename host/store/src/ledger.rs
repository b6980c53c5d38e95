//! The double-entry ledger. Postings are checked to balance in the domain before they get
//! here; the store writes a posting and its entries in the caller's transaction.

use crate::{Result, Tx, get_i64, get_opt_i64, get_opt_str, get_str, query};
use baseplate_domain::{LedgerEntry, Money, Party, Posting};
use serde::Serialize;

pub async fn post(
    tx: &mut Tx,
    shop: &str,
    id: &str,
    source: &str,
    order_id: Option<&str>,
    p: &Posting,
    now: i64,
) -> Result<()> {
    query("INSERT INTO ledger_postings (id, shop_id, memo, source, order_id, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
        .bind(id)
        .bind(shop)
        .bind(&p.memo)
        .bind(source)
        .bind(order_id)
        .bind(now)
        .execute(tx)
        .await?;
    for e in &p.entries {
        let (kind, pid) = e.party.to_db();
        query(
            "INSERT INTO ledger_entries (posting_id, shop_id, party_kind, party_id, account, amount, available_at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(id)
        .bind(shop)
        .bind(kind)
        .bind(pid)
        .bind(&e.account)
        .bind(e.amount.0)
        .bind(e.available_at)
        .execute(tx)
        .await?;
    }
    Ok(())
}

/// (total, available at `now`) of one party's account.
pub async fn balance(
    tx: &mut Tx,
    shop: &str,
    party: &Party,
    account: &str,
    now: i64,
) -> Result<(i64, i64)> {
    let (kind, pid) = party.to_db();
    let row = query(format!(
        "SELECT {}, {} FROM ledger_entries WHERE shop_id = $1 AND party_kind = $2 AND party_id = $3 AND account = $4",
        split_sum("amount", "total"),
        split_sum(
            "CASE WHEN available_at IS NULL OR available_at <= $5 THEN amount ELSE 0 END",
            "available"
        ),
    ))
    .bind(shop)
    .bind(kind)
    .bind(pid)
    .bind(account)
    .bind(now)
    .fetch_one(tx)
    .await?;
    Ok((split(&row, "total")?, split(&row, "available")?))
}

#[derive(Clone, Debug, Serialize, utoipa::ToSchema)]
pub struct PostingRecord {
    pub id: String,
    pub memo: String,
    pub source: String,
    pub order_id: Option<String>,
    pub created_at: i64,
    pub entries: Vec<LedgerEntry>,
}

/// Newest first.
pub async fn list(tx: &mut Tx, shop: &str, limit: i64) -> Result<Vec<PostingRecord>> {
    let rows = query(
        "SELECT id, memo, source, order_id, created_at FROM ledger_postings WHERE shop_id = $1 ORDER BY created_at DESC, id DESC LIMIT $2",
    )
    .bind(shop)
    .bind(limit)
    .fetch_all(tx)
    .await?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let id = get_str(r, "id")?;
        let entries = query(
            "SELECT party_kind, party_id, account, amount, available_at FROM ledger_entries WHERE posting_id = $1 ORDER BY id",
        )
        .bind(&id)
        .fetch_all(tx)
        .await?
        .iter()
        .map(|e| {
            let kind = get_str(e, "party_kind")?;
            let pid = get_str(e, "party_id")?;
            Ok(LedgerEntry {
                party: Party::from_db(&kind, &pid).ok_or_else(|| crate::StoreError::Corrupt(format!("party {kind}")))?,
                account: get_str(e, "account")?,
                amount: Money(get_i64(e, "amount")?),
                available_at: get_opt_i64(e, "available_at")?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
        out.push(PostingRecord {
            id,
            memo: get_str(r, "memo")?,
            source: get_str(r, "source")?,
            order_id: get_opt_str(r, "order_id")?,
            created_at: get_i64(r, "created_at")?,
            entries,
        });
    }
    Ok(out)
}

/// Σ of every entry of the shop: zero whenever the books balance.
pub async fn imbalance(tx: &mut Tx, shop: &str) -> Result<i64> {
    let row = query(format!(
        "SELECT {} FROM ledger_entries WHERE shop_id = $1",
        split_sum("amount", "s")
    ))
    .bind(shop)
    .fetch_one(tx)
    .await?;
    split(&row, "s")
}

/// Sums that cannot overflow: each amount is summed as its billions and its remainder
/// (both far from the i64 range however many rows there are), and the two are joined in
/// 128 bits. Entries written before amounts were bounded (±i64::MAX) still read.
fn split_sum(expr: &str, alias: &str) -> String {
    format!(
        "CAST(COALESCE(SUM(({expr}) / 1000000000), 0) AS BIGINT) AS {alias}_hi, \
         CAST(COALESCE(SUM(({expr}) % 1000000000), 0) AS BIGINT) AS {alias}_lo"
    )
}

/// Reads a `split_sum`, saturated to the i64 range (only corrupt data gets there).
fn split(row: &crate::Row, alias: &str) -> Result<i64> {
    let hi = get_i64(row, &format!("{alias}_hi"))? as i128;
    let lo = get_i64(row, &format!("{alias}_lo"))? as i128;
    let total = hi * 1_000_000_000 + lo;
    Ok(total.clamp(i64::MIN as i128, i64::MAX as i128) as i64)
}
