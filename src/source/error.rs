//! Errors of the file sources: `docker-archive`, `oci-dir` and `oci-archive`.

use std::io;
use std::path::PathBuf;

use crate::digest::Digest;
use crate::layer::LayerError;

/// A failure to read an image from a file source. Each variant names the source (its
/// `description`, such as `docker-archive:image.tar`) and the member, blob or layer involved.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{path} not found: check the path, or create it with `docker save` or `skopeo copy`")]
    NotFound { path: PathBuf },

    #[error("failed to read {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },

    #[error(
        "{description} is not a docker save or OCI image archive: {reason}; {}",
        redo(.description, "create it with `docker save IMAGE -o FILE` or `skopeo copy ... \
             oci-archive:FILE`")
    )]
    NotAnArchive { description: String, reason: String },

    #[error(
        "{description} is not an OCI image layout: {reason}; point oci-dir: at the directory \
         that contains index.json and oci-layout"
    )]
    NotAnOciLayout { description: String, reason: String },

    #[error(
        "{description} is truncated or corrupt near member {member:?}: {source}{}",
        corrupt_archive_advice(.description, .source)
    )]
    ArchiveCorrupt {
        description: String,
        member: String,
        #[source]
        source: io::Error,
    },

    #[error(
        "the tar headers of a member after {member:?} in {description} (GNU long name, long \
         link name or PAX records) are larger than the limit of {limit} bytes, so the archive \
         was rejected as hostile; raise --max-tar-header-size if it is genuine"
    )]
    ArchiveHeaderTooLarge {
        description: String,
        member: String,
        limit: u64,
    },

    #[error("layer {layer} in {description} {}", layer_failure(.description, .source))]
    LayerCorrupt {
        description: String,
        layer: String,
        #[source]
        source: LayerError,
    },

    #[error(
        "layer {index} ({layer}) in {description} has diffID {actual}, but the image config \
         lists {expected}; the layer does not belong to this config, so {}",
        redo(.description, "write the image again")
    )]
    DiffIdMismatch {
        description: String,
        index: usize,
        layer: String,
        expected: Digest,
        actual: Digest,
    },

    #[error(
        "{description} lists {layers} layers but its config has {diff_ids} rootfs.diff_ids; the \
         manifest and config do not match"
    )]
    LayerCountMismatch {
        description: String,
        layers: usize,
        diff_ids: usize,
    },

    #[error(
        "blob {blob} in {description} has digest {actual}, not the {expected} it is stored \
         under; the blob is corrupt, so {}",
        redo(.description, "copy the image again")
    )]
    BlobDigestMismatch {
        description: String,
        blob: String,
        expected: String,
        actual: Digest,
    },

    #[error(
        "blob {blob} is {actual} bytes in {description}, but its descriptor says {expected}; {}",
        redo(.description, "copy the image again")
    )]
    BlobSizeMismatch {
        description: String,
        blob: String,
        expected: u64,
        actual: u64,
    },

    #[error(
        "{description} has no {member}, which {referrer} refers to; the archive is incomplete, \
         so {}",
        redo(.description, "write it again")
    )]
    MissingBlob {
        description: String,
        member: String,
        referrer: String,
    },

    #[error("{description} uses digest {digest}, but only sha256 digests are supported")]
    UnsupportedDigest { description: String, digest: String },

    #[error(
        "{description} contains several images and none was selected uniquely{requested}; \
         choose one by appending :REF (and --platform where needed) from: {choices}"
    )]
    AmbiguousReference {
        description: String,
        requested: String,
        choices: String,
    },

    #[error("{description} has no image named {reference:?}; it contains: {choices}")]
    ReferenceNotFound {
        description: String,
        reference: String,
        choices: String,
    },

    #[error(
        "{description} has no image for platform {platform}; it has: {platforms}; set \
         --platform to one of them"
    )]
    PlatformNotFound {
        description: String,
        platform: String,
        platforms: String,
    },

    #[error("invalid platform {value:?}: expected OS/ARCH or OS/ARCH/VARIANT, such as linux/arm64")]
    InvalidPlatform { value: String },

    #[error(
        "{member} in {description} is {size} bytes, more than the {limit}-byte limit for JSON \
         documents; the archive is malformed or hostile"
    )]
    JsonTooLarge {
        description: String,
        member: String,
        size: u64,
        limit: u64,
    },

    #[error(
        "{description} holds more than {limit} bytes of small non-layer members; the archive \
         is malformed or hostile"
    )]
    MetadataTooLarge { description: String, limit: u64 },

    #[error("invalid JSON in {member} of {description}: {source}")]
    InvalidJson {
        description: String,
        member: String,
        #[source]
        source: serde_json::Error,
    },
}

impl SourceError {
    /// Returns the exit code: 1 when the input is missing or the selection is wrong (the user can fix
    /// the command line), 2 when the image itself cannot be analyzed.
    pub fn exit_code(&self) -> crate::exit::ExitCode {
        use crate::exit::ExitCode;
        match self {
            Self::NotFound { .. }
            | Self::AmbiguousReference { .. }
            | Self::ReferenceNotFound { .. }
            | Self::PlatformNotFound { .. }
            | Self::InvalidPlatform { .. } => ExitCode::Failure,
            _ => ExitCode::AnalysisFailed,
        }
    }
}

/// Describes the failure of one layer. A layer past a limit was rejected, and any other failure
/// means the layer is damaged, so the image has to be written or exported again.
fn layer_failure(description: &str, source: &LayerError) -> String {
    if source.is_limit() {
        format!("was rejected: {source}")
    } else {
        format!(
            "is truncated or corrupt: {source}; {}",
            redo(description, "write the image again")
        )
    }
}

/// The start of the description of an image that the Docker daemon exports.
const DAEMON_DESCRIPTION: &str = "docker daemon image ";

/// Returns the description that names the daemon's export of `reference` in a [`SourceError`].
/// The advice of a damaged-image error then speaks of the daemon instead of a file.
pub fn daemon_description(reference: &str) -> String {
    format!("{DAEMON_DESCRIPTION}{reference}")
}

/// Returns what the user can do about a damaged or incomplete image: `file_advice` for a file
/// they wrote, or a check of the daemon for the daemon's export, which inline-scan requested
/// itself.
fn redo(description: &str, file_advice: &'static str) -> &'static str {
    if description.starts_with(DAEMON_DESCRIPTION) {
        "check the Docker daemon (docker info) and run again; if it fails the same way, the \
         image in the daemon's store is damaged, so build or pull it again"
    } else {
        file_advice
    }
}

/// Returns the advice after a read error inside an archive. An error of the daemon's export
/// stream carries its own advice, so none is added to it.
fn corrupt_archive_advice(description: &str, source: &io::Error) -> String {
    let from_daemon = source
        .get_ref()
        .is_some_and(|inner| inner.is::<crate::source::daemon::DaemonError>());
    if from_daemon {
        String::new()
    } else {
        format!("; {}", redo(description, "write the archive again"))
    }
}
