//! Clients and their tokens in `api_tokens`: create (the token text is returned once),
//! list, revoke, and the lookup a request's verification needs.

use chrono::{DateTime, Utc};
use rates_contract::scopes::Scope;
use sqlx::{PgPool, Row};
use uuid::Uuid;

use super::token::{NewToken, SecretHash};
use crate::error::{DbContext, Error, Result};

/// One client's token, without its secret.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenRecord {
    pub id: Uuid,
    pub name: String,
    #[serde(serialize_with = "scope_names")]
    pub scopes: Vec<Scope>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

fn scope_names<S: serde::Serializer>(scopes: &[Scope], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(scopes.iter().map(|scope| scope.as_str()))
}

impl TokenRecord {
    /// Whether the token is usable at `now`: not revoked and not expired.
    pub fn active_at(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }
}

const COLUMNS: &str = "id, name, scopes, created_at, expires_at, revoked_at";

fn record(row: &sqlx::postgres::PgRow) -> Result<TokenRecord> {
    let id: Uuid = row.get("id");
    let scopes: Vec<String> = row.get("scopes");
    let scopes = scopes
        .iter()
        .map(|s| {
            Scope::parse(s)
                .ok_or_else(|| Error::Other(format!("token {id} has an unknown scope `{s}`")))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(TokenRecord {
        id,
        name: row.get("name"),
        scopes,
        created_at: row.get("created_at"),
        expires_at: row.get("expires_at"),
        revoked_at: row.get("revoked_at"),
    })
}

/// Records a client `name` with `token` (made by [`NewToken::generate`], or given) and
/// its scopes. A name already taken is refused, naming it.
pub async fn create(
    pool: &PgPool,
    name: &str,
    token: &NewToken,
    scopes: &[Scope],
    expires_at: Option<DateTime<Utc>>,
) -> Result<TokenRecord> {
    let names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    let row = sqlx::query(&format!(
        "INSERT INTO api_tokens (id, name, secret_hash, scopes, expires_at)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (name) DO NOTHING
         RETURNING {COLUMNS}"
    ))
    .bind(token.id)
    .bind(name)
    .bind(token.hash.0.as_slice())
    .bind(&names)
    .bind(expires_at)
    .fetch_optional(pool)
    .await
    .db("creating the token")?;
    match row {
        Some(row) => record(&row),
        None => Err(Error::Conflict {
            message: format!(
                "a client named `{name}` exists already; revoke it or choose another name"
            ),
        }),
    }
}

/// Every client, newest first.
pub async fn list(pool: &PgPool) -> Result<Vec<TokenRecord>> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM api_tokens ORDER BY created_at DESC, name"
    ))
    .fetch_all(pool)
    .await
    .db("listing tokens")?;
    rows.iter().map(record).collect()
}

/// Revokes the token of client `name_or_id` at once (every replica is told). Revoking
/// a revoked token changes nothing and is not an error.
pub async fn revoke(pool: &PgPool, name_or_id: &str) -> Result<TokenRecord> {
    let id = Uuid::try_parse(name_or_id).ok();
    let row = sqlx::query(&format!(
        "UPDATE api_tokens SET revoked_at = coalesce(revoked_at, now())
         WHERE name = $1 OR id = $2
         RETURNING {COLUMNS}"
    ))
    .bind(name_or_id)
    .bind(id)
    .fetch_optional(pool)
    .await
    .db("revoking the token")?;
    match row {
        Some(row) => record(&row),
        None => Err(Error::NotFound {
            resource: "client",
            id: name_or_id.to_string(),
        }),
    }
}

/// The stored hash and record of token `id`, if it exists.
pub async fn lookup(pool: &PgPool, id: Uuid) -> Result<Option<(SecretHash, TokenRecord)>> {
    let row = sqlx::query(&format!(
        "SELECT secret_hash, {COLUMNS} FROM api_tokens WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
    .db("looking up the token")?;
    let Some(row) = row else {
        return Ok(None);
    };
    let stored: Vec<u8> = row.get("secret_hash");
    let hash: [u8; 32] = stored
        .try_into()
        .map_err(|_| Error::Other(format!("token {id} has a malformed hash")))?;
    Ok(Some((SecretHash(hash), record(&row)?)))
}
