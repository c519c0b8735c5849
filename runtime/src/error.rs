//! The runtime's one error type, and how each error becomes an HTTP response.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// Everything that can go wrong in the runtime.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An environment variable is missing or malformed.
    #[error("configuration: {variable}: {reason}")]
    Config {
        variable: &'static str,
        reason: String,
    },

    /// A request parameter (query string or JSON body field) is missing or invalid.
    #[error("invalid parameter `{parameter}`: {message}")]
    InvalidParameter { parameter: String, message: String },

    /// A port code or region slug named in a request does not exist.
    /// Answered with 400: the request names something the network does not contain.
    #[error("unknown place `{value}` in parameter `{parameter}`: no port or region has this code or slug")]
    UnknownPlace { parameter: String, value: String },

    /// The request body is not acceptable as a whole (malformed JSON, wrong shape).
    #[error("invalid request body: {message}")]
    InvalidBody { message: String },

    /// A resource addressed by the URL does not exist.
    #[error("{resource} `{id}` not found")]
    NotFound { resource: &'static str, id: String },

    /// A conflicting request (for example an idempotency key reused with other content).
    #[error("conflict: {message}")]
    Conflict { message: String },

    /// The request body is larger than the configured limit.
    #[error("payload too large: the limit is {limit_bytes} bytes")]
    PayloadTooLarge { limit_bytes: u64 },

    /// The request body's Content-Type is not one this route accepts.
    #[error("unsupported Content-Type `{content_type}`: expected {expected}")]
    UnsupportedMediaType {
        content_type: String,
        expected: &'static str,
    },

    /// The service cannot take the request now (draining, dependency down).
    #[error("unavailable: {message}")]
    Unavailable { message: String },

    /// No usable bearer token: none, malformed, unknown, wrong, expired or revoked. The
    /// message says which without repeating anything of the token.
    #[error("{reason}")]
    Unauthorized { reason: &'static str },

    /// The token is valid but lacks the scope this route needs.
    #[error(
        "this token (client `{client}`) lacks the scope `{scope}`, which {method} {route} needs"
    )]
    Forbidden {
        client: String,
        scope: rates_contract::scopes::Scope,
        method: String,
        route: String,
    },

    /// The client sent more requests than its rate limit allows.
    #[error("too many requests from this client; retry in {retry_after_secs} seconds")]
    TooManyRequests { retry_after_secs: u64 },

    /// The route exists but does not answer this method.
    #[error(
        "method {method} is not allowed on `{path}`; the Allow header lists the methods it answers"
    )]
    MethodNotAllowed { method: String, path: String },

    /// The request's header fields are larger than the runtime accepts.
    #[error("request header fields too large: {size} bytes in {fields} fields; the limit is {limit_bytes} bytes and {limit_fields} fields")]
    HeadersTooLarge {
        size: usize,
        fields: usize,
        limit_bytes: usize,
        limit_fields: usize,
    },

    /// An error status answered by the HTTP layer itself (an extractor's rejection, a
    /// layer), rewritten into the JSON shape; `message` is what it said.
    #[error("{message}")]
    Http { status: StatusCode, message: String },

    /// The database cannot be reached or does not take connections now (stopped,
    /// restarting, failing over to its standby): no connection within the pool's wait,
    /// refused or reset connections, or the server shutting sessions down. Answered with
    /// 503 and `Retry-After` so clients and load balancers retry; see
    /// [`is_unavailable`].
    #[error("database: {context}: unavailable: {source}")]
    DatabaseUnavailable {
        context: String,
        #[source]
        source: sqlx::Error,
    },

    /// A database operation failed.
    #[error("database: {context}: {source}")]
    Database {
        context: String,
        #[source]
        source: sqlx::Error,
    },

    /// The TLS connection to the database failed (certificate, name, or a server
    /// without TLS): a configuration problem, so the message names the settings.
    #[error("database: {context}: the TLS connection failed: {source} (check RATES_DATABASE_CA_FILE, the CA bundle that signed the server's certificate, and sslmode in DATABASE_URL / DATABASE_READ_URL)")]
    DatabaseTls {
        context: String,
        #[source]
        source: sqlx::Error,
    },

    /// Running the embedded migrations failed.
    #[error("migrations: {source}")]
    Migrate {
        #[from]
        source: sqlx::migrate::MigrateError,
    },

    /// A file or socket operation failed.
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    /// Anything else, with enough context to act on.
    #[error("{0}")]
    Other(String),
}

/// The runtime's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub fn invalid(parameter: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidParameter {
            parameter: parameter.into(),
            message: message.into(),
        }
    }

    pub fn config(variable: &'static str, reason: impl Into<String>) -> Self {
        Error::Config {
            variable,
            reason: reason.into(),
        }
    }

    pub fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        Error::Io {
            context: context.into(),
            source,
        }
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Error::InvalidParameter { .. }
            | Error::UnknownPlace { .. }
            | Error::InvalidBody { .. } => StatusCode::BAD_REQUEST,
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Error::Forbidden { .. } => StatusCode::FORBIDDEN,
            Error::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::MethodNotAllowed { .. } => StatusCode::METHOD_NOT_ALLOWED,
            Error::HeadersTooLarge { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Error::Http { status, .. } => *status,
            // A TLS handshake that fails is a connection that cannot be made, like a
            // refused one: the log says which setting to check.
            Error::Unavailable { .. }
            | Error::DatabaseUnavailable { .. }
            | Error::DatabaseTls { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::Config { .. }
            | Error::Database { .. }
            | Error::Migrate { .. }
            | Error::Io { .. }
            | Error::Other(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable machine-readable code for clients.
    pub fn code(&self) -> &'static str {
        match self {
            Error::Config { .. } => "config",
            Error::InvalidParameter { .. } => "invalid_parameter",
            Error::UnknownPlace { .. } => "unknown_place",
            Error::InvalidBody { .. } => "invalid_body",
            Error::NotFound { .. } => "not_found",
            Error::Unauthorized { .. } => "unauthorized",
            Error::Forbidden { .. } => "forbidden",
            Error::TooManyRequests { .. } => "too_many_requests",
            Error::Conflict { .. } => "conflict",
            Error::PayloadTooLarge { .. } => "payload_too_large",
            Error::UnsupportedMediaType { .. } => "unsupported_media_type",
            Error::Unavailable { .. } => "unavailable",
            Error::MethodNotAllowed { .. } => "method_not_allowed",
            Error::HeadersTooLarge { .. } => "headers_too_large",
            Error::Http { status, .. } => code_for_status(*status),
            Error::DatabaseUnavailable { .. } | Error::DatabaseTls { .. } => "database_unavailable",
            Error::Database { .. } | Error::Migrate { .. } | Error::Io { .. } | Error::Other(_) => {
                "internal"
            }
        }
    }

    fn parameter(&self) -> Option<&str> {
        match self {
            Error::InvalidParameter { parameter, .. } | Error::UnknownPlace { parameter, .. } => {
                Some(parameter)
            }
            _ => None,
        }
    }
}

/// Adds context to database errors: `query.await.db("loading ports")?`.
pub trait DbContext<T> {
    fn db(self, context: impl Into<String>) -> Result<T>;
}

impl<T> DbContext<T> for std::result::Result<T, sqlx::Error> {
    fn db(self, context: impl Into<String>) -> Result<T> {
        self.map_err(|source| {
            if is_tls_failure(&source) {
                Error::DatabaseTls {
                    context: context.into(),
                    source,
                }
            } else if is_unavailable(&source) {
                Error::DatabaseUnavailable {
                    context: context.into(),
                    source,
                }
            } else {
                Error::Database {
                    context: context.into(),
                    source,
                }
            }
        })
    }
}

/// Whether a database error is the TLS layer refusing the connection: sqlx reports a
/// server without TLS as `Tls`, and a certificate rustls rejects as an I/O error that
/// wraps the rustls error.
pub fn is_tls_failure(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::Tls(_) => true,
        sqlx::Error::Io(io) => io
            .get_ref()
            .is_some_and(|inner| inner.downcast_ref::<rustls::Error>().is_some()),
        _ => false,
    }
}

/// Whether a database error means the database cannot be reached or does not take work
/// now, rather than that the request or the runtime is wrong. This is what a stopped
/// server, a restart and a Multi-AZ failover look like from here:
///
/// - the pool found no connection within its wait (`PoolTimedOut`: every attempt to
///   connect failed, or every connection stayed busy), or was closed at shutdown;
/// - the socket failed: connection refused, reset, broken pipe, end of file (`Io`);
/// - TLS could not be set up (`Tls`);
/// - the server said so: SQLSTATE class 08 (connection exception) or 57P01
///   `admin_shutdown`, 57P02 `crash_shutdown`, 57P03 `cannot_connect_now` (starting up,
///   shutting down, in recovery).
///
/// Everything else (a constraint, a bad statement, a decoding error) is a fault.
pub fn is_unavailable(error: &sqlx::Error) -> bool {
    match error {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(e) => e.code().is_some_and(|code| {
            code.starts_with("08") || matches!(&*code, "57P01" | "57P02" | "57P03")
        }),
        _ => false,
    }
}

/// How long a client should wait before retrying a request the database could not
/// serve (`Retry-After`, seconds). Short: a restart or failover is over in tens of
/// seconds, and a retry costs the client little.
pub const DATABASE_RETRY_AFTER_SECS: u64 = 5;

fn database_unavailable_message() -> String {
    format!(
        "the database is unavailable (down, restarting or failing over); retry in {DATABASE_RETRY_AFTER_SECS} seconds"
    )
}

/// The `code` of an error status answered by the HTTP layer itself.
fn code_for_status(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::UNAUTHORIZED => "unauthorized",
        StatusCode::FORBIDDEN => "forbidden",
        StatusCode::TOO_MANY_REQUESTS => "too_many_requests",
        StatusCode::METHOD_NOT_ALLOWED => "method_not_allowed",
        StatusCode::REQUEST_TIMEOUT => "request_timeout",
        StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
        StatusCode::URI_TOO_LONG => "uri_too_long",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE => "headers_too_large",
        StatusCode::SERVICE_UNAVAILABLE => "unavailable",
        s if s.is_server_error() => "internal",
        _ => "bad_request",
    }
}

/// The JSON error body: `{"error": {"code", "message", "parameter"?}}`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable code, e.g. `invalid_parameter`, `unknown_place`.
    pub code: String,
    /// What was wrong, for humans.
    pub message: String,
    /// The request parameter at fault, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameter: Option<String>,
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        // Internal details (addresses, SQL, settings) go to the log, not to the client.
        let message = match &self {
            Error::DatabaseUnavailable { .. } => {
                tracing::warn!(error = %self, "request failed: the database is unavailable");
                database_unavailable_message()
            }
            Error::DatabaseTls { .. } => {
                // Likely a setting, not a passing outage: logged as an error.
                tracing::error!(error = %self, "request failed: the database is unavailable");
                database_unavailable_message()
            }
            _ if status.is_server_error() && status != StatusCode::SERVICE_UNAVAILABLE => {
                tracing::error!(error = %self, "request failed");
                "internal error; see the service log".to_string()
            }
            _ => self.to_string(),
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_string(),
                message,
                parameter: self.parameter().map(str::to_string),
            },
        };
        let mut response = (status, axum::Json(body)).into_response();
        let headers = response.headers_mut();
        match &self {
            _ if status == StatusCode::SERVICE_UNAVAILABLE => {
                headers.insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(DATABASE_RETRY_AFTER_SECS),
                );
            }
            Error::TooManyRequests { retry_after_secs } => {
                headers.insert(
                    axum::http::header::RETRY_AFTER,
                    axum::http::HeaderValue::from(*retry_after_secs),
                );
            }
            // RFC 6750: a 401 names the scheme (and that a presented token is invalid).
            Error::Unauthorized { .. } => {
                headers.insert(
                    axum::http::header::WWW_AUTHENTICATE,
                    axum::http::HeaderValue::from_static(r#"Bearer realm="rates""#),
                );
            }
            Error::Forbidden { scope, .. } => {
                if let Ok(value) = axum::http::HeaderValue::from_str(&format!(
                    r#"Bearer realm="rates", error="insufficient_scope", scope="{scope}""#
                )) {
                    headers.insert(axum::http::header::WWW_AUTHENTICATE, value);
                }
            }
            _ => {}
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A server error with a given SQLSTATE, as PostgreSQL would send it.
    #[derive(Debug)]
    struct Server(&'static str);

    impl std::fmt::Display for Server {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "SQLSTATE {}", self.0)
        }
    }

    impl std::error::Error for Server {}

    impl sqlx::error::DatabaseError for Server {
        fn message(&self) -> &str {
            "from the server"
        }
        fn code(&self) -> Option<std::borrow::Cow<'_, str>> {
            Some(self.0.into())
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn server(code: &'static str) -> sqlx::Error {
        sqlx::Error::Database(Box::new(Server(code)))
    }

    #[test]
    fn an_unreachable_or_refusing_database_is_503_everything_else_500() {
        use std::io::{Error as IoError, ErrorKind};
        let unavailable = [
            sqlx::Error::PoolTimedOut,
            sqlx::Error::PoolClosed,
            sqlx::Error::Io(IoError::from(ErrorKind::ConnectionRefused)),
            sqlx::Error::Io(IoError::from(ErrorKind::ConnectionReset)),
            sqlx::Error::Io(IoError::from(ErrorKind::UnexpectedEof)),
            sqlx::Error::Tls("handshake failed".into()),
            server("08006"), // connection_failure
            server("08001"), // sqlclient_unable_to_establish_sqlconnection
            server("57P01"), // admin_shutdown
            server("57P02"), // crash_shutdown
            server("57P03"), // cannot_connect_now
        ];
        for error in unavailable {
            let shown = error.to_string();
            let error = Err::<(), _>(error).db("a query").unwrap_err();
            assert_eq!(error.status(), StatusCode::SERVICE_UNAVAILABLE, "{shown}");
            assert_eq!(error.code(), "database_unavailable", "{shown}");
        }
        let faults = [
            sqlx::Error::RowNotFound,
            sqlx::Error::ColumnNotFound("x".into()),
            sqlx::Error::Protocol("unexpected message".into()),
            server("23505"), // unique_violation
            server("42P01"), // undefined_table
            server("57014"), // query_canceled: a statement timeout, not an outage
            server("28P01"), // invalid_password: a setting, not an outage
        ];
        for error in faults {
            let shown = error.to_string();
            let error = Err::<(), _>(error).db("a query").unwrap_err();
            assert_eq!(error.status(), StatusCode::INTERNAL_SERVER_ERROR, "{shown}");
            assert_eq!(error.code(), "internal", "{shown}");
        }
    }

    #[tokio::test]
    async fn a_503_carries_retry_after_and_no_details() {
        let error = Err::<(), _>(sqlx::Error::Io(std::io::Error::other("10.0.3.7:5432")))
            .db("reading the prices version")
            .unwrap_err();
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response.headers()[axum::http::header::RETRY_AFTER],
            DATABASE_RETRY_AFTER_SECS.to_string()
        );
        let body = axum::body::to_bytes(response.into_body(), 4096)
            .await
            .unwrap();
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(body["error"]["code"], "database_unavailable");
        assert!(!body.to_string().contains("10.0.3.7"), "{body}");
    }
}
