//! Bound values, shared by both drivers (a leaf: it imports nothing of the store).

/// A bound value. Nulls are typed (PostgreSQL wants the parameter's type).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Param {
    Int(Option<i64>),
    Real(Option<f64>),
    Text(Option<String>),
    /// A JSON column: text on SQLite, JSONB on PostgreSQL.
    Json(serde_json::Value),
    /// PostgreSQL arrays (`= ANY($n)`, `unnest`); SQLite has none (see `Sql::any`).
    Ints(Vec<i64>),
    Texts(Vec<String>),
    /// A BLOB (SQLite) or BYTEA (PostgreSQL).
    Bytes(Vec<u8>),
}

impl From<i64> for Param {
    fn from(v: i64) -> Self {
        Self::Int(Some(v))
    }
}
impl From<Option<i64>> for Param {
    fn from(v: Option<i64>) -> Self {
        Self::Int(v)
    }
}
impl From<f64> for Param {
    fn from(v: f64) -> Self {
        Self::Real(Some(v))
    }
}
impl From<Option<f64>> for Param {
    fn from(v: Option<f64>) -> Self {
        Self::Real(v)
    }
}
impl From<&str> for Param {
    fn from(v: &str) -> Self {
        Self::Text(Some(v.to_owned()))
    }
}
impl From<String> for Param {
    fn from(v: String) -> Self {
        Self::Text(Some(v))
    }
}
impl From<&String> for Param {
    fn from(v: &String) -> Self {
        Self::Text(Some(v.clone()))
    }
}
impl From<Option<String>> for Param {
    fn from(v: Option<String>) -> Self {
        Self::Text(v)
    }
}
impl From<Option<&str>> for Param {
    fn from(v: Option<&str>) -> Self {
        Self::Text(v.map(str::to_owned))
    }
}

/// `params![a, b, …]`: a `Vec<Param>`.
macro_rules! params {
    () => { Vec::<$crate::sql::conn::param::Param>::new() };
    ($($value:expr),+ $(,)?) => { vec![$($crate::sql::conn::param::Param::from($value)),+] };
}
pub(crate) use params;
