//! Importing a local analysis into Anchore: the v1 (Engine 1.x, Enterprise 4.x) and v2
//! (Enterprise 5.x) operation-based import APIs, and the wait for the server's analysis.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::digest::Digest;
use crate::secret::Secret;
use crate::source::RawManifest;

/// Which API generation to speak.
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
    /// The syft JSON SBOM as the v2 API takes it; down-converted for v1.
    pub sbom: serde_json::Value,
    pub force: bool,
}

/// Whether and how long to wait for Anchore to finish analyzing the import.
#[derive(Debug, Clone, Copy)]
pub struct WaitPolicy {
    pub wait: bool,
    /// Bound on the whole wait, from finalize to `analyzed` or `analysis_failed`.
    pub timeout: Duration,
}
