//! One way to write a query for both backends: `query(sql).bind(..).fetch_optional(tx)`.
//! SQL uses PostgreSQL's `$1` placeholders; on SQLite they are bound by name (SQLite reads
//! `$1` as a named parameter), so one statement text serves both. On SQLite a statement
//! runs synchronously on the calling thread against a cached prepared statement (no
//! worker-thread round trip per statement); on PostgreSQL it goes through sqlx.

use crate::{Result, StoreError, Tx, TxConn};
use sqlx::Row as _;
use std::borrow::Cow;

/// A bound parameter. Nulls carry their type, which PostgreSQL needs.
#[derive(Clone, Debug, PartialEq)]
pub enum Param {
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
    NullInt,
    NullText,
}

impl From<i64> for Param {
    fn from(v: i64) -> Param {
        Param::Int(v)
    }
}
impl From<u32> for Param {
    fn from(v: u32) -> Param {
        Param::Int(v as i64)
    }
}
impl From<bool> for Param {
    fn from(v: bool) -> Param {
        Param::Int(v as i64)
    }
}
impl From<&str> for Param {
    fn from(v: &str) -> Param {
        Param::Text(v.to_string())
    }
}
impl From<String> for Param {
    fn from(v: String) -> Param {
        Param::Text(v)
    }
}
impl From<&String> for Param {
    fn from(v: &String) -> Param {
        Param::Text(v.clone())
    }
}
impl From<&[u8]> for Param {
    fn from(v: &[u8]) -> Param {
        Param::Bytes(v.to_vec())
    }
}
impl From<Vec<u8>> for Param {
    fn from(v: Vec<u8>) -> Param {
        Param::Bytes(v)
    }
}
impl From<&Vec<u8>> for Param {
    fn from(v: &Vec<u8>) -> Param {
        Param::Bytes(v.clone())
    }
}
impl From<Option<i64>> for Param {
    fn from(v: Option<i64>) -> Param {
        v.map_or(Param::NullInt, Param::Int)
    }
}
impl From<Option<&str>> for Param {
    fn from(v: Option<&str>) -> Param {
        v.map_or(Param::NullText, |s| Param::Text(s.to_string()))
    }
}
impl From<Option<String>> for Param {
    fn from(v: Option<String>) -> Param {
        v.map_or(Param::NullText, Param::Text)
    }
}
impl From<&Option<String>> for Param {
    fn from(v: &Option<String>) -> Param {
        v.as_deref().into()
    }
}

/// A statement and its parameters.
#[must_use]
pub struct Query {
    sql: Cow<'static, str>,
    params: Vec<Param>,
}

/// Starts a statement.
pub fn query(sql: impl Into<Cow<'static, str>>) -> Query {
    Query {
        sql: sql.into(),
        params: Vec::new(),
    }
}

/// What an `execute` changed.
#[derive(Clone, Copy, Debug)]
pub struct Done {
    rows: u64,
}

impl Done {
    pub fn rows_affected(&self) -> u64 {
        self.rows
    }
}

/// A value read from a row.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
    Bytes(Vec<u8>),
}

/// A result row, read by column name.
pub struct Row(RowData);

enum RowData {
    Sqlite {
        names: std::sync::Arc<[String]>,
        values: Vec<Value>,
    },
    Pg(sqlx::postgres::PgRow),
}

impl Row {
    fn sqlite_value(&self, col: &str) -> Result<&Value> {
        let RowData::Sqlite { names, values } = &self.0 else {
            unreachable!("called on SQLite rows only")
        };
        names
            .iter()
            .position(|n| n == col)
            .map(|i| &values[i])
            .ok_or_else(|| StoreError::Corrupt(format!("no column {col}")))
    }

    pub fn opt_i64(&self, col: &str) -> Result<Option<i64>> {
        match &self.0 {
            RowData::Sqlite { .. } => match self.sqlite_value(col)? {
                Value::Null => Ok(None),
                Value::Int(v) => Ok(Some(*v)),
                // SQLite answers SUM() over a big range with a REAL; keep it exact when it is.
                Value::Real(f) if f.fract() == 0.0 && f.abs() < 9.0e18 => Ok(Some(*f as i64)),
                other => Err(StoreError::Corrupt(format!(
                    "column {col}: {other:?} is not an integer"
                ))),
            },
            RowData::Pg(r) => Ok(r.try_get::<Option<i64>, _>(col)?),
        }
    }

    pub fn i64(&self, col: &str) -> Result<i64> {
        self.opt_i64(col)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {col} is null")))
    }

    pub fn opt_str(&self, col: &str) -> Result<Option<String>> {
        match &self.0 {
            RowData::Sqlite { .. } => match self.sqlite_value(col)? {
                Value::Null => Ok(None),
                Value::Text(s) => Ok(Some(s.clone())),
                other => Err(StoreError::Corrupt(format!(
                    "column {col}: {other:?} is not text"
                ))),
            },
            RowData::Pg(r) => Ok(r.try_get::<Option<String>, _>(col)?),
        }
    }

    pub fn str(&self, col: &str) -> Result<String> {
        self.opt_str(col)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {col} is null")))
    }

    pub fn opt_bytes(&self, col: &str) -> Result<Option<Vec<u8>>> {
        match &self.0 {
            RowData::Sqlite { .. } => match self.sqlite_value(col)? {
                Value::Null => Ok(None),
                Value::Bytes(b) => Ok(Some(b.clone())),
                Value::Text(s) => Ok(Some(s.as_bytes().to_vec())),
                other => Err(StoreError::Corrupt(format!(
                    "column {col}: {other:?} is not bytes"
                ))),
            },
            RowData::Pg(r) => Ok(r.try_get::<Option<Vec<u8>>, _>(col)?),
        }
    }

    pub fn bytes(&self, col: &str) -> Result<Vec<u8>> {
        self.opt_bytes(col)?
            .ok_or_else(|| StoreError::Corrupt(format!("column {col} is null")))
    }
}

/// `$1`..`$64` as SQLite parameter names.
fn param_name(i: usize) -> &'static str {
    const NAMES: [&str; 64] = {
        // Filled at compile time would need const string building; a literal table is
        // simplest.
        [
            "$1", "$2", "$3", "$4", "$5", "$6", "$7", "$8", "$9", "$10", "$11", "$12", "$13",
            "$14", "$15", "$16", "$17", "$18", "$19", "$20", "$21", "$22", "$23", "$24", "$25",
            "$26", "$27", "$28", "$29", "$30", "$31", "$32", "$33", "$34", "$35", "$36", "$37",
            "$38", "$39", "$40", "$41", "$42", "$43", "$44", "$45", "$46", "$47", "$48", "$49",
            "$50", "$51", "$52", "$53", "$54", "$55", "$56", "$57", "$58", "$59", "$60", "$61",
            "$62", "$63", "$64",
        ]
    };
    NAMES[i]
}

fn sqlite_stmt<'c>(
    conn: &'c rusqlite::Connection,
    sql: &str,
    params: &[Param],
) -> Result<rusqlite::CachedStatement<'c>> {
    let mut stmt = conn.prepare_cached(sql)?;
    for (i, p) in params.iter().enumerate() {
        let Some(idx) = stmt.parameter_index(param_name(i))? else {
            // A parameter the statement does not use (some statements bind one value for
            // an optional filter).
            continue;
        };
        match p {
            Param::Int(v) => stmt.raw_bind_parameter(idx, v)?,
            Param::Text(v) => stmt.raw_bind_parameter(idx, v.as_str())?,
            Param::Bytes(v) => stmt.raw_bind_parameter(idx, v.as_slice())?,
            Param::NullInt | Param::NullText => {
                stmt.raw_bind_parameter(idx, rusqlite::types::Null)?
            }
        }
    }
    Ok(stmt)
}

fn sqlite_rows(
    conn: &rusqlite::Connection,
    sql: &str,
    params: &[Param],
    limit: Option<usize>,
) -> Result<Vec<Row>> {
    use rusqlite::types::ValueRef;
    let mut stmt = sqlite_stmt(conn, sql, params)?;
    let names: std::sync::Arc<[String]> = stmt.column_names().map(str::to_string).collect();
    let n = names.len();
    let mut rows = stmt.raw_query();
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        let mut values = Vec::with_capacity(n);
        for i in 0..n {
            values.push(match r.get_ref(i)? {
                ValueRef::Null => Value::Null,
                ValueRef::Integer(v) => Value::Int(v),
                ValueRef::Real(v) => Value::Real(v),
                ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
                ValueRef::Blob(b) => Value::Bytes(b.to_vec()),
            });
        }
        out.push(Row(RowData::Sqlite {
            names: names.clone(),
            values,
        }));
        if limit.is_some_and(|l| out.len() >= l) {
            break;
        }
    }
    Ok(out)
}

fn pg_query<'q>(
    sql: &'q str,
    params: &'q [Param],
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql));
    for p in params {
        q = match p {
            Param::Int(v) => q.bind(*v),
            Param::Text(v) => q.bind(v.as_str()),
            Param::Bytes(v) => q.bind(v.as_slice()),
            Param::NullInt => q.bind(None::<i64>),
            Param::NullText => q.bind(None::<String>),
        };
    }
    q
}

impl Query {
    pub fn bind(mut self, v: impl Into<Param>) -> Query {
        self.params.push(v.into());
        self
    }

    pub async fn execute(self, tx: &mut Tx) -> Result<Done> {
        match tx.conn()? {
            TxConn::Sqlite(c) => {
                let mut stmt = sqlite_stmt(&*c, &self.sql, &self.params)?;
                let rows = stmt.raw_execute()? as u64;
                Ok(Done { rows })
            }
            TxConn::Pg(c) => {
                let r = pg_query(&self.sql, &self.params).execute(&mut *c).await?;
                Ok(Done {
                    rows: r.rows_affected(),
                })
            }
        }
    }

    pub async fn fetch_optional(self, tx: &mut Tx) -> Result<Option<Row>> {
        match tx.conn()? {
            TxConn::Sqlite(c) => Ok(sqlite_rows(&*c, &self.sql, &self.params, Some(1))?
                .into_iter()
                .next()),
            TxConn::Pg(c) => Ok(pg_query(&self.sql, &self.params)
                .fetch_optional(&mut *c)
                .await?
                .map(|r| Row(RowData::Pg(r)))),
        }
    }

    pub async fn fetch_one(self, tx: &mut Tx) -> Result<Row> {
        self.fetch_optional(tx)
            .await?
            .ok_or_else(|| StoreError::Db(sqlx::Error::RowNotFound))
    }

    pub async fn fetch_all(self, tx: &mut Tx) -> Result<Vec<Row>> {
        match tx.conn()? {
            TxConn::Sqlite(c) => sqlite_rows(&*c, &self.sql, &self.params, None),
            TxConn::Pg(c) => Ok(pg_query(&self.sql, &self.params)
                .fetch_all(&mut *c)
                .await?
                .into_iter()
                .map(|r| Row(RowData::Pg(r)))
                .collect()),
        }
    }
}
