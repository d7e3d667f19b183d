//! Errors of the import phase. No variant stores the password, so no message can show it.

use std::path::PathBuf;
use std::time::Duration;

use crate::exit::ExitCode;

use super::ContentKind;

/// A failure while connecting to Anchore, uploading an analysis or waiting for its result.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error("invalid Anchore URL {url:?}: {reason}")]
    InvalidUrl { url: String, reason: String },

    #[error("cannot read the CA certificates in {}: {reason}", path.display())]
    CaCertificate { path: PathBuf, reason: String },

    #[error("cannot set up the HTTP client: {reason}")]
    ClientSetup { reason: String },

    #[error(
        "cannot connect to Anchore at {url}: {reason}; check the -r URL and that the network \
         and any proxy let this machine reach it"
    )]
    Unreachable { url: String, reason: String },

    #[error(
        "TLS handshake with {url} failed: {reason}; the server seems to answer in plain HTTP, so \
         use an http:// URL if that is how it is served"
    )]
    PlainHttpServer { url: String, reason: String },

    #[error(
        "TLS handshake with {url} failed: {reason}; pass the server's CA bundle with --cacert, \
         or --insecure to skip certificate verification"
    )]
    Tls { url: String, reason: String },

    #[error("{method} {path} timed out after {} s; raise the request timeout or check the server", timeout.as_secs())]
    RequestTimedOut {
        method: String,
        path: String,
        timeout: Duration,
    },

    #[error(
        "authentication failed for user {username} at {url} (HTTP {status}): check the username \
         and password"
    )]
    AuthenticationFailed {
        username: String,
        url: String,
        status: u16,
    },

    #[error("{url} is not an Anchore API: {reason}; check the -r URL")]
    NotAnchore { url: String, reason: String },

    #[error(
        "the Anchore API at {url} has no image import routes ({path} returned 404); Anchore \
         Engine 0.9 or later, or Anchore Enterprise, is required"
    )]
    NoImportApi { url: String, path: String },

    #[error(
        "the server at {url} does not serve Anchore API {version} (both the account and the \
         status route returned 404); remove the /v1 or /v2 suffix from the URL and drop \
         --api-version, so the version is detected"
    )]
    VersionNotServed { url: String, version: String },

    #[error("{method} {path} failed with HTTP {status}: {message}")]
    Http {
        method: String,
        path: String,
        status: u16,
        message: String,
    },

    #[error("{method} {path} returned an invalid response: {reason}")]
    InvalidResponse {
        method: String,
        path: String,
        reason: String,
    },

    #[error(
        "the server stored the {kind} upload with digest {got}, but the local sha256 of the body is \
         {expected}; a proxy may have altered the request"
    )]
    DigestMismatch {
        kind: ContentKind,
        expected: String,
        got: String,
    },

    #[error(
        "the {kind} body is {size} bytes, over the {limit}-byte limit of the Anchore v1 API; use \
         Anchore Enterprise 5 (API v2) or reduce the SBOM"
    )]
    BodyTooLarge {
        kind: ContentKind,
        size: usize,
        limit: usize,
    },

    #[error("invalid import request: {reason}")]
    InvalidRequest { reason: String },

    #[error("Anchore could not analyze image {digest} (analysis_status analysis_failed){detail}")]
    AnalysisFailed { digest: String, detail: String },

    #[error(
        "image {digest} was not analyzed within {} s (last analysis_status {last_status}); raise \
         --timeout or check the Anchore analyzer",
        timeout.as_secs()
    )]
    TimedOut {
        digest: String,
        timeout: Duration,
        last_status: String,
    },

    #[error("interrupted while {stage}")]
    Interrupted { stage: String },
}

impl ImportError {
    /// Maps the error to the process exit code the CLI documents.
    pub fn exit_code(&self) -> ExitCode {
        match self {
            ImportError::AnalysisFailed { .. } => ExitCode::AnalysisFailed,
            ImportError::TimedOut { .. } => ExitCode::TimedOut,
            ImportError::Interrupted { .. } => ExitCode::Interrupted,
            _ => ExitCode::Failure,
        }
    }
}
