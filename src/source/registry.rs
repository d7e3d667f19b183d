//! The registry source (`registry:REF`): fetches an image straight from an OCI distribution
//! registry, without a Docker daemon and without writing anything to disk.
//!
//! [`fetch`] returns the manifest and index exactly as the registry sent them, the verified
//! config, and the layer descriptors. [`RegistryImage::open_layer`] then streams one layer
//! blob at a time to the layer walk, checking its size and sha256 on the way.

mod blob;
pub mod credentials;
mod token;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use oci_spec::image::{ImageIndex, ImageManifest};

use crate::digest::Digest;
use crate::secret::Secret;
use crate::source::{Limits, Platform, RawManifest};

use blob::BlobTarget;
pub use blob::LayerReader;
use credentials::{Credential, CredentialOrigin};

const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";

/// The media types sent in `Accept`. Schema 1 manifests are left out on purpose: they carry
/// no config blob, and registries convert them on request when they can.
const ACCEPTED_MANIFESTS: [&str; 4] = [
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST,
    DOCKER_MANIFEST_LIST,
];

const USER_AGENT: &str = concat!("inline-scan/", env!("CARGO_PKG_VERSION"));
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// Maximum pause between two reads of a response body before the request fails.
const READ_TIMEOUT: Duration = Duration::from_secs(120);

/// How to reach the registry and which image to select.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Speak plain HTTP instead of HTTPS (`--registry-insecure`).
    pub insecure_http: bool,
    /// PEM file of CA certificates trusted in addition to the built-in roots
    /// (`--registry-cacert`).
    pub cacert: Option<PathBuf>,
    /// User name from `--registry-username`; needs `password`.
    pub username: Option<String>,
    /// Password from `--registry-password-stdin`; needs `username`.
    pub password: Option<Secret>,
    /// Platform to select from an index; defaults to linux and the architecture of this
    /// machine.
    pub platform: Option<Platform>,
    /// Directory holding the Docker CLI `config.json`; defaults to `$DOCKER_CONFIG`, then
    /// `~/.docker`.
    pub docker_config_dir: Option<PathBuf>,
    /// Size limits for manifests and config.
    pub limits: Limits,
}

/// One layer as the manifest declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegistryLayer {
    pub digest: Digest,
    pub media_type: String,
    /// Size of the stored blob in bytes.
    pub size: u64,
}

/// An image fetched from a registry, up to the layer bytes.
pub struct RegistryImage {
    /// The image manifest, byte for byte as the registry returned it.
    pub manifest: RawManifest,
    /// The index or manifest list the manifest was selected from, when the reference named
    /// one.
    pub index: Option<RawManifest>,
    /// The image config, checked against the manifest's config digest.
    pub config: Vec<u8>,
    pub layers: Vec<RegistryLayer>,
    /// `registry/repository:tag` when the reference had a tag.
    pub repo_tags: Vec<String>,
    /// `registry/repository@digest` of what the reference named: the index digest for a
    /// multi-platform image (as `docker pull` records it), else the manifest digest.
    pub repo_digests: Vec<String>,
    client: Arc<Client>,
    reference: Reference,
    runtime: tokio::runtime::Handle,
    /// Description of the credential in use, for error messages.
    credentials: String,
}

impl std::fmt::Debug for RegistryImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryImage")
            .field("reference", &self.reference.whole())
            .field("manifest_digest", &self.manifest.digest())
            .field("index", &self.index.as_ref().map(RawManifest::digest))
            .field("layers", &self.layers)
            .field("repo_tags", &self.repo_tags)
            .field("repo_digests", &self.repo_digests)
            .finish_non_exhaustive()
    }
}

impl RegistryImage {
    /// Starts streaming layer `index` (in manifest order) and returns a blocking reader of
    /// the stored (still compressed) blob. The download runs on the runtime that `fetch` ran
    /// on, so that runtime must still be alive while the reader is read.
    pub fn open_layer(&self, index: usize) -> Result<LayerReader, RegistryError> {
        let layer = self.layers.get(index).ok_or(RegistryError::NoSuchLayer {
            index,
            count: self.layers.len(),
        })?;
        let target = BlobTarget {
            registry: self.reference.registry().to_owned(),
            repository: self.reference.repository().to_owned(),
            digest: layer.digest.clone(),
            size: layer.size,
            credentials: self.credentials.clone(),
        };
        Ok(LayerReader::spawn(
            &self.runtime,
            Arc::clone(&self.client),
            self.reference.clone(),
            target,
        ))
    }
}

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

/// Fetches the manifest (selecting a platform from an index), config and layer list of
/// `reference`, which must name its registry host (`host[:port]/repository[:tag][@digest]`).
pub async fn fetch(
    reference: &str,
    options: &RegistryOptions,
) -> Result<RegistryImage, RegistryError> {
    let runtime = tokio::runtime::Handle::try_current().map_err(|_| RegistryError::NoRuntime)?;
    let parsed = parse_reference(reference)?;
    let registry = parsed.registry().to_owned();
    let repository = parsed.repository().to_owned();

    let client = Arc::new(build_client(options)?);
    let (auth, credentials) = resolve_auth(&parsed, options).await?;
    let context = Context {
        registry: &registry,
        repository: &repository,
        credentials: &credentials,
    };
    let max_json = options.limits.max_json;

    let first = pull_manifest(&client, &parsed, &auth, &context, max_json).await?;
    let (manifest, index) = if is_index(&first) {
        let platform = options.platform.clone().unwrap_or_else(runner_platform);
        let child_digest = select_platform(&first, &platform, reference, &registry)?;
        let child_reference = Reference::with_digest(
            registry.clone(),
            repository.clone(),
            child_digest.to_string(),
        );
        let child = pull_manifest(&client, &child_reference, &auth, &context, max_json).await?;
        if is_index(&child) {
            return Err(RegistryError::InvalidManifest {
                registry,
                reference: reference.to_owned(),
                what: "index",
                detail: format!("entry {child_digest} is itself an index"),
            });
        }
        (child, Some(first))
    } else {
        (first, None)
    };

    let parsed_manifest = ImageManifest::from_reader(&manifest.bytes[..]).map_err(|error| {
        RegistryError::InvalidManifest {
            registry: registry.clone(),
            reference: reference.to_owned(),
            what: "image manifest",
            detail: error.to_string(),
        }
    })?;
    let config_target = BlobTarget {
        registry: registry.clone(),
        repository: repository.clone(),
        digest: descriptor_digest(parsed_manifest.config().digest().to_string(), &context)?,
        size: parsed_manifest.config().size(),
        credentials: credentials.clone(),
    };
    let config =
        blob::read_to_vec(&client, &parsed, &config_target, options.limits.max_json).await?;

    let mut layers = Vec::with_capacity(parsed_manifest.layers().len());
    for descriptor in parsed_manifest.layers() {
        layers.push(RegistryLayer {
            digest: descriptor_digest(descriptor.digest().to_string(), &context)?,
            media_type: descriptor.media_type().to_string(),
            size: descriptor.size(),
        });
    }

    let name = format!("{registry}/{repository}");
    let repo_tags = parsed
        .tag()
        .map(|tag| vec![format!("{name}:{tag}")])
        .unwrap_or_default();
    let named_digest = index.as_ref().unwrap_or(&manifest).digest();
    let repo_digests = vec![format!("{name}@{named_digest}")];
    tracing::debug!(
        registry = %registry,
        repository = %repository,
        manifest = %manifest.digest(),
        layers = layers.len(),
        "fetched image manifest and config"
    );

    Ok(RegistryImage {
        manifest,
        index,
        config,
        layers,
        repo_tags,
        repo_digests,
        client,
        reference: parsed,
        runtime,
        credentials,
    })
}

/// The registry and repository being fetched and the credential in use, for error messages.
struct Context<'a> {
    registry: &'a str,
    repository: &'a str,
    credentials: &'a str,
}

/// Parses `reference` and insists on an explicit registry host, so a bare `alpine` is never
/// silently fetched from Docker Hub.
fn parse_reference(reference: &str) -> Result<Reference, RegistryError> {
    let first = reference.split('/').next().unwrap_or_default();
    let names_host = reference.contains('/')
        && (first.contains('.') || first.contains(':') || first == "localhost");
    if !names_host {
        return Err(RegistryError::MissingRegistryHost {
            reference: reference.to_owned(),
        });
    }
    reference
        .parse::<Reference>()
        .map_err(|error| RegistryError::InvalidReference {
            reference: reference.to_owned(),
            detail: error.to_string(),
        })
}

// NOTE: oci-client 0.15 logs the token endpoint's response body, bearer token included, at
// `debug` level under the `oci_client` target. Keep that target at `info` or above in any
// log filter a user can widen.
fn build_client(options: &RegistryOptions) -> Result<Client, RegistryError> {
    let mut extra_root_certificates = Vec::new();
    if let Some(path) = &options.cacert {
        extra_root_certificates = read_ca_certificates(path)?;
    }
    let config = ClientConfig {
        protocol: if options.insecure_http {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        },
        extra_root_certificates,
        // Platform selection is ours, because we keep the index bytes.
        platform_resolver: None,
        connect_timeout: Some(CONNECT_TIMEOUT),
        read_timeout: Some(READ_TIMEOUT),
        user_agent: USER_AGENT,
        ..ClientConfig::default()
    };
    Client::try_from(config).map_err(|error| RegistryError::CaCertificate {
        path: options.cacert.clone().unwrap_or_default(),
        detail: error.to_string(),
    })
}

/// Splits a PEM bundle into one certificate each, because reqwest's `from_pem` takes only the
/// first certificate of a bundle.
fn read_ca_certificates(path: &std::path::Path) -> Result<Vec<Certificate>, RegistryError> {
    let failed = |detail: String| RegistryError::CaCertificate {
        path: path.to_path_buf(),
        detail,
    };
    let text = std::fs::read_to_string(path).map_err(|error| failed(error.to_string()))?;
    const END: &str = "-----END CERTIFICATE-----";
    let certificates: Vec<Certificate> = text
        .split_inclusive(END)
        .filter(|block| block.contains("-----BEGIN CERTIFICATE-----"))
        .map(|block| Certificate {
            encoding: CertificateEncoding::Pem,
            data: block.trim().as_bytes().to_vec(),
        })
        .collect();
    if certificates.is_empty() {
        return Err(failed("no PEM certificate found".to_owned()));
    }
    Ok(certificates)
}

/// Picks the credential: the command-line flags, else the Docker configuration. An identity
/// token is exchanged for an access token here, because oci-client only sends user and
/// password to a token endpoint.
async fn resolve_auth(
    reference: &Reference,
    options: &RegistryOptions,
) -> Result<(RegistryAuth, String), RegistryError> {
    let found = match (&options.username, &options.password) {
        (Some(username), Some(password)) => Some((
            Credential::Basic {
                username: username.clone(),
                password: password.clone(),
            },
            CredentialOrigin::CommandLine,
        )),
        (None, None) => {
            match credentials::docker_config_dir(options.docker_config_dir.as_deref()) {
                Some(dir) => credentials::from_docker_config(&dir, reference.registry())?,
                None => None,
            }
        }
        _ => return Err(RegistryError::IncompleteCredentials),
    };

    let Some((credential, origin)) = found else {
        return Ok((
            RegistryAuth::Anonymous,
            "no credentials were sent".to_owned(),
        ));
    };
    match credential {
        Credential::Basic { username, password } => {
            tracing::debug!(
                registry = reference.registry(),
                %origin,
                "using registry user and password"
            );
            let described = format!("user {username} from {origin}");
            Ok((
                RegistryAuth::Basic(username, password.expose().to_owned()),
                described,
            ))
        }
        Credential::IdentityToken(token) => {
            tracing::debug!(
                registry = reference.registry(),
                %origin,
                "exchanging registry identity token"
            );
            let access = token::exchange_identity_token(reference, &token, options).await?;
            Ok((
                RegistryAuth::Bearer(access.expose().to_owned()),
                format!("identity token from {origin}"),
            ))
        }
    }
}

async fn pull_manifest(
    client: &Client,
    reference: &Reference,
    auth: &RegistryAuth,
    context: &Context<'_>,
    max_json: u64,
) -> Result<RawManifest, RegistryError> {
    let (bytes, digest) = client
        .pull_manifest_raw(reference, auth, &ACCEPTED_MANIFESTS)
        .await
        .map_err(|error| map_error_in(error, context, reference))?;
    // NOTE: oci-client reads the whole body before returning, so this bounds what is kept
    // and parsed, not what is received.
    if bytes.len() as u64 > max_json {
        return Err(RegistryError::TooLarge {
            what: "manifest",
            digest: Digest::of(&bytes),
            size: bytes.len() as u64,
            max: max_json,
        });
    }

    // oci-client already compared the body with Docker-Content-Digest and with the digest
    // in the reference; this repeats the check against our own hash of the exact bytes.
    let computed = Digest::of(&bytes);
    if digest != computed.to_string() {
        return Err(RegistryError::InvalidManifest {
            registry: context.registry.to_owned(),
            reference: reference.whole(),
            what: "manifest",
            detail: format!("the registry named digest {digest}, but the bytes hash to {computed}"),
        });
    }
    let media_type = media_type_of(&bytes).ok_or_else(|| RegistryError::InvalidManifest {
        registry: context.registry.to_owned(),
        reference: reference.whole(),
        what: "manifest",
        detail: "neither a mediaType nor manifests, config and layers are present".to_owned(),
    })?;
    Ok(RawManifest { bytes, media_type })
}

/// Reads `mediaType` from the JSON, or infers it from the shape, since OCI makes the field
/// optional.
fn media_type_of(bytes: &[u8]) -> Option<String> {
    let value: serde_json::Value = serde_json::from_slice(bytes).ok()?;
    if let Some(media_type) = value.get("mediaType").and_then(|value| value.as_str()) {
        return Some(media_type.to_owned());
    }
    if value.get("manifests").is_some() {
        return Some(OCI_INDEX.to_owned());
    }
    if value.get("config").is_some() && value.get("layers").is_some() {
        return Some(OCI_MANIFEST.to_owned());
    }
    None
}

fn is_index(manifest: &RawManifest) -> bool {
    manifest.media_type == OCI_INDEX || manifest.media_type == DOCKER_MANIFEST_LIST
}

/// Returns the digest of the index entry for `platform`. An entry without a variant matches
/// any requested variant only when it is the sole entry for that os and architecture.
fn select_platform(
    index: &RawManifest,
    platform: &Platform,
    reference: &str,
    registry: &str,
) -> Result<Digest, RegistryError> {
    let invalid = |detail: String| RegistryError::InvalidManifest {
        registry: registry.to_owned(),
        reference: reference.to_owned(),
        what: "index",
        detail,
    };
    let parsed =
        ImageIndex::from_reader(&index.bytes[..]).map_err(|error| invalid(error.to_string()))?;

    let mut available = Vec::new();
    let mut exact = None;
    let mut loose = Vec::new();
    for entry in parsed.manifests() {
        let Some(entry_platform) = entry.platform() else {
            continue;
        };
        let os = entry_platform.os().to_string();
        let architecture = entry_platform.architecture().to_string();
        let variant = entry_platform.variant().clone();
        // BuildKit stores attestation manifests in the index as unknown/unknown.
        if os == "unknown" && architecture == "unknown" {
            continue;
        }
        available.push(format_platform(&os, &architecture, variant.as_deref()));
        if os != platform.os || architecture != platform.architecture {
            continue;
        }
        if variant == platform.variant {
            exact.get_or_insert(entry.digest().to_string());
        } else if platform.variant.is_none() || variant.is_none() {
            loose.push(entry.digest().to_string());
        }
    }
    let chosen = match (exact, loose.as_slice()) {
        (Some(digest), _) => digest,
        (None, [only]) => only.clone(),
        _ => {
            return Err(RegistryError::PlatformNotFound {
                reference: reference.to_owned(),
                requested: format_platform(
                    &platform.os,
                    &platform.architecture,
                    platform.variant.as_deref(),
                ),
                available: if available.is_empty() {
                    "none (no entry declares a platform)".to_owned()
                } else {
                    available.join(", ")
                },
            });
        }
    };
    chosen
        .parse()
        .map_err(|_| invalid(format!("entry digest {chosen} is not a sha256 digest")))
}

fn format_platform(os: &str, architecture: &str, variant: Option<&str>) -> String {
    match variant {
        Some(variant) => format!("{os}/{architecture}/{variant}"),
        None => format!("{os}/{architecture}"),
    }
}

/// Returns linux and this machine's architecture in the names OCI uses (Go's GOARCH).
pub fn runner_platform() -> Platform {
    let (architecture, variant) = match std::env::consts::ARCH {
        "x86_64" => ("amd64", None),
        "aarch64" => ("arm64", None),
        "x86" => ("386", None),
        "arm" => ("arm", Some("v7")),
        "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
        "loongarch64" => ("loong64", None),
        other => (other, None),
    };
    Platform {
        os: "linux".to_owned(),
        architecture: architecture.to_owned(),
        variant: variant.map(str::to_owned),
    }
}

fn descriptor_digest(text: String, context: &Context<'_>) -> Result<Digest, RegistryError> {
    text.parse().map_err(|_| RegistryError::InvalidManifest {
        registry: context.registry.to_owned(),
        reference: context.repository.to_owned(),
        what: "manifest",
        detail: format!("descriptor digest {text} is not a sha256 digest"),
    })
}

fn map_error_in(
    error: OciDistributionError,
    context: &Context<'_>,
    reference: &Reference,
) -> RegistryError {
    match map_client_error(
        error,
        context.registry,
        context.repository,
        context.credentials,
    ) {
        RegistryError::NotFound {
            registry,
            repository,
            ..
        } => RegistryError::NotFound {
            registry,
            repository,
            what: format!(
                "manifest {}",
                reference.digest().or(reference.tag()).unwrap_or("latest")
            ),
        },
        other => other,
    }
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
            // Go's HTTP server answers a plain request on a TLS port with this 400 body.
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

#[cfg(test)]
mod tests {
    use super::*;

    fn index(json: &str) -> RawManifest {
        RawManifest {
            bytes: json.as_bytes().to_vec(),
            media_type: OCI_INDEX.to_owned(),
        }
    }

    const TWO_PLATFORMS: &str = r#"{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc","platform":{"os":"unknown","architecture":"unknown"}},
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa","platform":{"os":"linux","architecture":"amd64"}},
        {"mediaType":"application/vnd.oci.image.manifest.v1+json","size":1,"digest":"sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb","platform":{"os":"linux","architecture":"arm64","variant":"v8"}}]}"#;

    fn platform(text: &str) -> Platform {
        let parts: Vec<&str> = text.split('/').collect();
        Platform {
            os: parts[0].to_owned(),
            architecture: parts[1].to_owned(),
            variant: parts.get(2).map(|part| (*part).to_owned()),
        }
    }

    #[test]
    fn select_platform_exact_and_loose() {
        let index = index(TWO_PLATFORMS);
        let amd64 = select_platform(&index, &platform("linux/amd64"), "r", "h").unwrap();
        assert!(amd64.hex().starts_with("aaaa"));
        let arm64 = select_platform(&index, &platform("linux/arm64"), "r", "h").unwrap();
        assert!(arm64.hex().starts_with("bbbb"));
        let arm64_v8 = select_platform(&index, &platform("linux/arm64/v8"), "r", "h").unwrap();
        assert_eq!(arm64, arm64_v8);
    }

    #[test]
    fn select_platform_lists_available() {
        let error =
            select_platform(&index(TWO_PLATFORMS), &platform("linux/s390x"), "r", "h").unwrap_err();
        let message = error.to_string();
        assert!(message.contains("linux/s390x"), "{message}");
        assert!(message.contains("linux/amd64, linux/arm64/v8"), "{message}");
    }

    #[test]
    fn reference_needs_registry_host() {
        for bare in ["alpine", "alpine:3.19", "library/alpine:3.19"] {
            assert!(
                matches!(
                    parse_reference(bare),
                    Err(RegistryError::MissingRegistryHost { .. })
                ),
                "{bare} accepted"
            );
        }
        for full in [
            "127.0.0.1:5000/repo:tag",
            "localhost/repo",
            "registry.test/a/b@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        ] {
            assert!(parse_reference(full).is_ok(), "{full} rejected");
        }
    }

    #[test]
    fn media_type_inferred_from_shape() {
        assert_eq!(
            media_type_of(br#"{"manifests":[]}"#).as_deref(),
            Some(OCI_INDEX)
        );
        assert_eq!(
            media_type_of(br#"{"config":{},"layers":[]}"#).as_deref(),
            Some(OCI_MANIFEST)
        );
        assert_eq!(media_type_of(br#"{"schemaVersion":2}"#), None);
    }

    #[test]
    fn runner_platform_is_linux() {
        let platform = runner_platform();
        assert_eq!(platform.os, "linux");
        assert!(!platform.architecture.is_empty());
        if cfg!(target_arch = "x86_64") {
            assert_eq!(platform.architecture, "amd64");
        }
    }

    #[test]
    fn ca_bundle_is_split() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        let one = rcgen::generate_simple_self_signed(vec!["a.test".into()]).unwrap();
        let two = rcgen::generate_simple_self_signed(vec!["b.test".into()]).unwrap();
        std::fs::write(&path, format!("{}{}", one.cert.pem(), two.cert.pem())).unwrap();
        assert_eq!(read_ca_certificates(&path).unwrap().len(), 2);

        std::fs::write(&path, "not a certificate").unwrap();
        assert!(matches!(
            read_ca_certificates(&path),
            Err(RegistryError::CaCertificate { .. })
        ));
    }
}
