//! Registry errors, and their translation from oci-client and reqwest errors.

use std::path::PathBuf;

use oci_client::errors::{OciDistributionError, OciErrorCode};

use crate::digest::Digest;

/// Everything that can go wrong while fetching from a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid registry reference {reference:?}: {detail}")]
    InvalidReference { reference: String, detail: String },

    #[error(
        "registry reference {reference:?} names no registry host: write it in full, \
         e.g. registry.example.com/{reference}"
    )]
    MissingRegistryHost { reference: String },

    #[error("--registry-username and --registry-password-stdin must be given together")]
    IncompleteCredentials,

    #[error("cannot read the CA certificate file {path}: {detail}")]
    CaCertificate { path: PathBuf, detail: String },

    #[error("cannot read the Docker configuration {path}: {detail}")]
    DockerConfig { path: PathBuf, detail: String },

    #[error(
        "credential helper {program} failed for {registry}: {detail}; check that it is \
         installed and that `{program} get` works"
    )]
    CredentialHelper {
        program: String,
        registry: String,
        detail: String,
    },

    #[error(
        "registry {registry} rejected the request for {repository}: unauthorized ({credentials}); \
         check the credentials, or run docker login {registry}"
    )]
    Unauthorized {
        registry: String,
        repository: String,
        /// Description of the credential tried, or a note that none was sent.
        credentials: String,
    },

    #[error(
        "{what} not found in registry {registry}, repository {repository}; check the name and tag"
    )]
    NotFound {
        registry: String,
        repository: String,
        what: String,
    },

    #[error(
        "TLS connection to registry {registry} failed: {detail}; for a private CA pass \
         --registry-cacert FILE, for a plain-HTTP registry pass --registry-insecure"
    )]
    Tls { registry: String, detail: String },

    #[error(
        "cannot connect to registry {registry}: {detail}; check the host and port, and that \
         the registry is running"
    )]
    Connect { registry: String, detail: String },

    #[error("request to registry {registry} for {repository} failed: {detail}")]
    Request {
        registry: String,
        repository: String,
        detail: String,
    },

    #[error(
        "the index of {reference} has no manifest for platform {requested}; available: \
         {available}; pass --platform with one of them"
    )]
    PlatformNotFound {
        reference: String,
        requested: String,
        available: String,
    },

    #[error("invalid {what} from registry {registry} for {reference}: {detail}")]
    InvalidManifest {
        registry: String,
        reference: String,
        what: &'static str,
        detail: String,
    },

    #[error("{what} {digest} is {size} bytes, more than the limit of {max} bytes")]
    TooLarge {
        what: &'static str,
        digest: Digest,
        size: u64,
        max: u64,
    },

    #[error(
        "blob {expected} from registry {registry}, repository {repository} has sha256 {actual}: \
         the registry's storage is corrupt or the blob was altered; do not trust this image"
    )]
    BlobDigestMismatch {
        registry: String,
        repository: String,
        expected: Digest,
        actual: Digest,
    },

    #[error(
        "blob {digest} from registry {registry}, repository {repository} is {actual} bytes, \
         but the manifest declares {expected}"
    )]
    BlobSizeMismatch {
        registry: String,
        repository: String,
        digest: Digest,
        expected: u64,
        actual: u64,
    },

    #[error("blob download incomplete: {detail}")]
    BlobIncomplete { detail: String },

    #[error("layer index {index} is out of range: the image has {count} layers")]
    NoSuchLayer { index: usize, count: usize },

    #[error("fetch must run inside a tokio runtime")]
    NoRuntime,
}

/// Translates an oci-client error into one that names the registry and the next step.
pub(crate) fn map_client_error(
    error: OciDistributionError,
    registry: &str,
    repository: &str,
    credentials: &str,
) -> RegistryError {
    let unauthorized = || RegistryError::Unauthorized {
        registry: registry.to_owned(),
        repository: repository.to_owned(),
        credentials: credentials.to_owned(),
    };
    let not_found = || RegistryError::NotFound {
        registry: registry.to_owned(),
        repository: repository.to_owned(),
        what: "content".to_owned(),
    };
    let request = |detail: String| RegistryError::Request {
        registry: registry.to_owned(),
        repository: repository.to_owned(),
        detail,
    };
    match error {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => unauthorized(),
        OciDistributionError::ImageManifestNotFoundError(_) => not_found(),
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes: Vec<&OciErrorCode> =
                envelope.errors.iter().map(|error| &error.code).collect();
            if codes
                .iter()
                .any(|code| matches!(code, OciErrorCode::Unauthorized | OciErrorCode::Denied))
            {
                unauthorized()
            } else if codes.iter().any(|code| {
                matches!(
                    code,
                    OciErrorCode::ManifestUnknown
                        | OciErrorCode::NameUnknown
                        | OciErrorCode::BlobUnknown
                )
            }) {
                not_found()
            } else {
                request(envelope.to_string())
            }
        }
        OciDistributionError::ServerError {
            code: 401 | 403, ..
        } => unauthorized(),
        OciDistributionError::ServerError { code: 404, .. } => not_found(),
        OciDistributionError::ServerError { code, message, .. } => {
            let mut detail = format!("HTTP {code}: {}", message.trim());
            // Go's HTTP server responds to a plain request on a TLS port with this 400 body.
            if message.contains("HTTP request to an HTTPS server") {
                detail.push_str("; the registry speaks HTTPS, so drop --registry-insecure");
            }
            request(detail)
        }
        OciDistributionError::RequestError(error) => {
            map_request_error(&error, registry, repository, credentials)
        }
        other => request(other.to_string()),
    }
}

pub(crate) fn map_request_error(
    error: &reqwest::Error,
    registry: &str,
    repository: &str,
    credentials: &str,
) -> RegistryError {
    if let Some(status) = error.status() {
        return match status.as_u16() {
            401 | 403 => RegistryError::Unauthorized {
                registry: registry.to_owned(),
                repository: repository.to_owned(),
                credentials: credentials.to_owned(),
            },
            404 => RegistryError::NotFound {
                registry: registry.to_owned(),
                repository: repository.to_owned(),
                what: "blob".to_owned(),
            },
            _ => RegistryError::Request {
                registry: registry.to_owned(),
                repository: repository.to_owned(),
                detail: error_chain(error),
            },
        };
    }
    let detail = error_chain(error);
    let lower = detail.to_ascii_lowercase();
    if lower.contains("certificate")
        || lower.contains("tls")
        || lower.contains("invalidcontenttype")
    {
        RegistryError::Tls {
            registry: registry.to_owned(),
            detail,
        }
    } else if error.is_connect() || error.is_timeout() {
        RegistryError::Connect {
            registry: registry.to_owned(),
            detail,
        }
    } else {
        RegistryError::Request {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            detail,
        }
    }
}

/// Joins an error and its sources, because reqwest puts the TLS reason in a nested source.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        let inner_text = inner.to_string();
        if !text.contains(&inner_text) {
            text.push_str(": ");
            text.push_str(&inner_text);
        }
        source = inner.source();
    }
    text
}
