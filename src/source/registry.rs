//! The registry source (`registry:REF`): fetches an image straight from an OCI distribution
//! registry, without a Docker daemon and without writing anything to disk.
//!
//! [`fetch`] returns the manifest and index exactly as the registry sent them, the verified
//! config, and the layer descriptors. [`RegistryImage::open_layer`] then streams one layer
//! blob at a time to the layer walk, checking its size and sha256 on the way.

mod blob;
pub mod credentials;
mod error;
mod platform;
mod token;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use oci_client::client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};
use oci_spec::image::ImageManifest;

use crate::digest::Digest;
use crate::image::manifest::{DOCKER_MANIFEST_LIST, DOCKER_MANIFEST_V2, OCI_INDEX, OCI_MANIFEST};
use crate::layer::CapturePolicy;
use crate::secret::Secret;
use crate::source::{Limits, Platform, RawManifest, SourceImage};

use blob::BlobTarget;
pub use blob::LayerReader;
use credentials::{Credential, CredentialOrigin};
pub use error::RegistryError;
use error::{map_client_error, map_request_error};
pub use platform::runner_platform;
use platform::select_platform;

/// The media types sent in `Accept`. Docker schema 1 is not requested, because a schema 1
/// manifest has no config blob to analyze.
const ACCEPTED_MANIFESTS: [&str; 4] = [
    OCI_MANIFEST,
    OCI_INDEX,
    DOCKER_MANIFEST_V2,
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
/// Returns `reference` with the registry host the docker CLI assumes when it names none:
/// `debian:12` becomes `docker.io/debian:12` (oci-client adds `library/`), and a reference that
/// names a host is returned unchanged.
pub fn qualify_reference(reference: &str) -> String {
    if names_registry_host(reference) {
        reference.to_owned()
    } else {
        format!("docker.io/{reference}")
    }
}

fn names_registry_host(reference: &str) -> bool {
    let first = reference.split('/').next().unwrap_or_default();
    reference.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost")
}

fn parse_reference(reference: &str) -> Result<Reference, RegistryError> {
    if !names_registry_host(reference) {
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
            let access = token::exchange_identity_token(reference, &token, options)
                .await
                .map_err(|error| match error {
                    RegistryError::Unauthorized {
                        registry,
                        repository,
                        credentials,
                    } => RegistryError::Unauthorized {
                        registry,
                        repository,
                        credentials: format!("{credentials}, from {origin}"),
                    },
                    other => other,
                })?;
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
    // in the reference. This repeats the check with our own hash of the exact bytes.
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

/// Streams every layer of `image` through the layer walk, one layer per core, and squashes
/// them into a [`SourceImage`]. Each blob is verified against its digest while it streams, and
/// each layer's diffID against the config. Call it from a blocking thread, because the layer
/// readers block on the runtime that ran [`fetch`].
pub fn read_layers(
    image: RegistryImage,
    description: String,
    wants: &(dyn CapturePolicy + Sync),
    limits: &Limits,
) -> Result<SourceImage, crate::source::error::SourceError> {
    use crate::source::error::SourceError;
    use crate::source::oci::{ScannedLayer, assemble_image, scan_layers_in_parallel};

    let layers = scan_layers_in_parallel(image.layers.len(), |index| {
        let layer = &image.layers[index];
        let name = format!("blob {}", layer.digest);
        let reader = image.open_layer(index).map_err(|error| SourceError::Io {
            path: PathBuf::from(&description),
            source: std::io::Error::other(error),
        })?;
        let reader = std::io::BufReader::with_capacity(256 * 1024, reader);
        let scan = crate::layer::scan_layer(reader, wants, limits).map_err(|source| {
            SourceError::LayerCorrupt {
                description: description.clone(),
                layer: name.clone(),
                source,
            }
        })?;
        Ok(ScannedLayer {
            name,
            scan,
            media_type: Some(layer.media_type.clone()),
            addressed_by_digest: true,
            pending: None,
        })
    })?;
    let mut source = assemble_image(
        description,
        Some(image.manifest.clone()),
        image.index.clone(),
        image.config.clone(),
        image.repo_tags.clone(),
        layers,
    )?;
    source.repo_digests = image.repo_digests.clone();
    Ok(source)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualify_reference_defaults_to_docker_hub() {
        for (given, expected) in [
            ("debian:12", "docker.io/debian:12"),
            ("team/app:1", "docker.io/team/app:1"),
            ("127.0.0.1:5000/team/app:1", "127.0.0.1:5000/team/app:1"),
            ("localhost/app", "localhost/app"),
            (
                "registry.example.com/app@sha256:00",
                "registry.example.com/app@sha256:00",
            ),
        ] {
            assert_eq!(qualify_reference(given), expected, "{given}");
            assert!(
                parse_reference(&qualify_reference(given)).is_ok() || given.contains("sha256:00")
            );
        }
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
