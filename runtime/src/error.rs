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
            Error::Conflict { .. } => StatusCode::CONFLICT,
            Error::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Error::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Error::Unavailable { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::Config { .. }
            | Error::Database { .. }
            | Error::DatabaseTls { .. }
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
            Error::Conflict { .. } => "conflict",
            Error::PayloadTooLarge { .. } => "payload_too_large",
            Error::UnsupportedMediaType { .. } => "unsupported_media_type",
            Error::Unavailable { .. } => "unavailable",
            Error::Database { .. }
            | Error::DatabaseTls { .. }
            | Error::Migrate { .. }
            | Error::Io { .. }
            | Error::Other(_) => "internal",
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
        let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
            // Internal details go to the log, not to the client.
            tracing::error!(error = %self, "request failed");
            "internal error; see the service log".to_string()
        } else {
            self.to_string()
        };
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code().to_string(),
                message,
                parameter: self.parameter().map(str::to_string),
            },
        };
        (status, axum::Json(body)).into_response()
    }
}
