//! Importing a local analysis into Anchore: the v1 (Engine 1.x, Enterprise 4.x) and v2
//! (Enterprise 5.x) operation-based import APIs, and the wait for the server's analysis.

pub mod client;
pub mod detect;
pub mod error;
pub mod evaluation;
pub mod import;
pub mod v1;
pub mod wait;

pub use client::Client;
pub use error::ImportError;
pub use import::{ImportOutcome, ImportStep};

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::digest::Digest;
use crate::secret::Secret;
use crate::source::RawManifest;

/// The API generation to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ApiVersionChoice {
    /// Probe `/v2/` then `/v1/`, preferring v2.
    Auto,
    V1,
    V2,
}

/// How to reach and authenticate to Anchore.
#[derive(Debug, Clone)]
pub struct Connection {
    /// The base URL as given, e.g. `https://anchore.example.com:8228` (a trailing `/v1` or
    /// `/v2` selects that API version).
    pub url: String,
    pub username: String,
    pub password: Secret,
    /// Sent as `x-anchore-account` on every request.
    pub account: Option<String>,
    pub api_version: ApiVersionChoice,
    /// Extra PEM CA certificates to trust.
    pub cacert: Option<PathBuf>,
    /// Accept any server certificate.
    pub insecure: bool,
    /// Timeout for one HTTP request.
    pub request_timeout: Duration,
}

/// Everything one import uploads and finalizes.
#[derive(Debug, Clone)]
pub struct ImportRequest {
    /// The image digest: sha256 of `manifest.bytes`.
    pub digest: Digest,
    pub manifest: RawManifest,
    /// Raw image config bytes.
    pub config: Vec<u8>,
    /// The index the image was selected through; its digest becomes `parent_digest`.
    pub parent: Option<RawManifest>,
    /// The local image id as sent in `local_image_id` (64 hex, no prefix).
    pub local_image_id: String,
    /// Fully qualified tags; never empty.
    pub tags: Vec<String>,
    pub annotations: BTreeMap<String, String>,
    pub dockerfile: Option<Vec<u8>>,
    /// The syft JSON SBOM, a JSON object, as the bytes the v2 API takes; down-converted for v1.
    pub sbom: Vec<u8>,
    pub force: bool,
}

/// Whether and how long to wait for Anchore to finish analyzing the import.
#[derive(Debug, Clone, Copy)]
pub struct WaitPolicy {
    pub wait: bool,
    /// Bound on the whole wait, from finalize to `analyzed` or `analysis_failed`.
    pub timeout: Duration,
    /// Delay before the first status poll. Later delays double up to `max_poll_interval`.
    pub poll_interval: Duration,
    pub max_poll_interval: Duration,
}

impl WaitPolicy {
    /// Creates a policy with the default poll schedule: 2 s first, doubling up to 10 s.
    pub fn new(wait: bool, timeout: Duration) -> Self {
        Self {
            wait,
            timeout,
            poll_interval: Duration::from_secs(2),
            max_poll_interval: Duration::from_secs(10),
        }
    }
}

/// The API generation a server speaks, after detection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ApiVersion {
    /// Engine 0.9 to 1.1 and Enterprise up to 4.9: routes under `/v1`.
    V1,
    /// Enterprise 4.9 and 5.x: routes under `/v2`.
    V2,
}

impl ApiVersion {
    /// Returns the path prefix of every route, `/v1` or `/v2`.
    pub fn prefix(self) -> &'static str {
        match self {
            ApiVersion::V1 => "/v1",
            ApiVersion::V2 => "/v2",
        }
    }

    pub fn as_str(self) -> &'static str {
        &self.prefix()[1..]
    }
}

impl std::fmt::Display for ApiVersion {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One kind of content uploaded to an import operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentKind {
    Packages,
    Manifest,
    ImageConfig,
    ParentManifest,
    Dockerfile,
}

impl ContentKind {
    /// Returns the last path segment of the upload route. v2 spells the two-word kinds with a
    /// hyphen.
    pub fn path_segment(self, version: ApiVersion) -> &'static str {
        match (self, version) {
            (ContentKind::Packages, _) => "packages",
            (ContentKind::Manifest, _) => "manifest",
            (ContentKind::Dockerfile, _) => "dockerfile",
            (ContentKind::ImageConfig, ApiVersion::V1) => "image_config",
            (ContentKind::ImageConfig, ApiVersion::V2) => "image-config",
            (ContentKind::ParentManifest, ApiVersion::V1) => "parent_manifest",
            (ContentKind::ParentManifest, ApiVersion::V2) => "parent-manifest",
        }
    }

    /// Returns the key under `source.import.contents` in the finalize request, the same in v1
    /// and v2.
    pub fn contents_key(self) -> &'static str {
        match self {
            ContentKind::Packages => "packages",
            ContentKind::Manifest => "manifest",
            ContentKind::ImageConfig => "image_config",
            ContentKind::ParentManifest => "parent_manifest",
            ContentKind::Dockerfile => "dockerfile",
        }
    }
}

impl std::fmt::Display for ContentKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.contents_key())
    }
}
