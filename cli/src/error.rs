//! envctl's one error type: every failure says what went wrong, where, and what to do.

use std::path::PathBuf;

/// Everything envctl can fail with. Variants carry the file/line/key or the
/// resource they are about, and a `help` line that says what to do next.
#[derive(Debug, thiserror::Error, miette::Diagnostic)]
pub enum Error {
    /// A profile is malformed or invalid.
    #[error("{}:{line}: `{key}`: {message}", file.display())]
    #[diagnostic(code(envctl::profile))]
    Profile {
        file: PathBuf,
        line: usize,
        key: String,
        message: String,
        #[help]
        help: Option<String>,
    },

    #[error("unknown environment `{name}`")]
    #[diagnostic(code(envctl::unknown_environment), help("known environments: {known}"))]
    UnknownEnvironment { name: String, known: String },

    #[error("could not find the project root (a directory with environments/ and templates/) from {}", start.display())]
    #[diagnostic(
        code(envctl::root),
        help("run envctl inside the repository, or pass --root DIR")
    )]
    RootNotFound { start: PathBuf },

    #[error("template `{template}`: {message}")]
    #[diagnostic(code(envctl::template))]
    Template { template: String, message: String },

    #[error("rendered {what} is invalid: {message}")]
    #[diagnostic(code(envctl::render))]
    Rendered { what: String, message: String },

    /// A confirmation or protection rule stopped the command.
    #[error("refused: {message}")]
    #[diagnostic(code(envctl::refused))]
    Refused {
        message: String,
        #[help]
        help: Option<String>,
    },

    /// A program or system package envctl needs is missing or too old.
    #[error("{message}")]
    #[diagnostic(code(envctl::prerequisite))]
    Prerequisite {
        message: String,
        #[help]
        help: Option<String>,
    },

    #[error("terraform {step} failed: {message}")]
    #[diagnostic(code(envctl::terraform))]
    Terraform {
        step: String,
        message: String,
        #[help]
        help: Option<String>,
    },

    /// The image `up` would deploy was built from another contract than this envctl's.
    #[error("image {image}: {message}")]
    #[diagnostic(code(envctl::image_contract))]
    ImageContract {
        image: String,
        message: String,
        #[help]
        help: String,
    },

    #[error("AWS {operation}: {message}")]
    #[diagnostic(code(envctl::aws))]
    Aws { operation: String, message: String },

    /// A GitHub REST API call (review stacks: pull request states and comments) failed.
    #[error("GitHub {operation}: {message}")]
    #[diagnostic(code(envctl::github))]
    GitHub {
        operation: String,
        message: String,
        #[help]
        help: Option<String>,
    },

    #[error("Kubernetes {operation}: {message}")]
    #[diagnostic(code(envctl::kubernetes))]
    Kubernetes {
        operation: String,
        message: String,
        #[help]
        help: Option<String>,
    },

    /// The deployed release did not answer its readiness check through the load balancer.
    #[error("smoke test of {url} failed: {message}")]
    #[diagnostic(code(envctl::smoke_test))]
    SmokeTest {
        url: String,
        message: String,
        #[help]
        help: Option<String>,
    },

    /// A rollback alarm (or the smoke test) fired while `up` baked the new release.
    #[error("bake failed: {message}")]
    #[diagnostic(code(envctl::bake))]
    Bake {
        message: String,
        #[help]
        help: Option<String>,
    },

    /// Another `up`, bake or `rollback` of the environment holds its deploy lock.
    #[error("{message}")]
    #[diagnostic(code(envctl::locked))]
    Locked {
        message: String,
        #[help]
        help: Option<String>,
    },

    /// The release history is missing what a rollback needs, or cannot be read.
    #[error("release history: {message}")]
    #[diagnostic(code(envctl::release))]
    Release {
        message: String,
        #[help]
        help: Option<String>,
    },

    #[error("local environment: {message}")]
    #[diagnostic(code(envctl::local))]
    Local {
        message: String,
        #[help]
        help: Option<String>,
    },

    #[error("{context}: {source}")]
    #[diagnostic(code(envctl::io))]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },

    #[error("{what} is not valid for `{value}`: {message}")]
    #[diagnostic(code(envctl::invalid_argument))]
    InvalidArgument {
        what: String,
        value: String,
        message: String,
    },
}

/// envctl's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// Wraps an I/O error with what was being done.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let context = context.into();
        move |source| Error::Io { context, source }
    }

    /// Wraps an AWS SDK error (shown with its full source chain).
    pub fn aws<E>(operation: impl Into<String>) -> impl FnOnce(E) -> Error
    where
        E: std::error::Error + 'static,
    {
        let operation = operation.into();
        move |err| Error::Aws {
            operation,
            message: chain(&err),
        }
    }
}

/// An error's message followed by its sources' (the reason is often only in them).
pub fn chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
