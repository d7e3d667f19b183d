//! Image sources: the Docker daemon, `docker save` tarballs, OCI layout directories and OCI
//! archives. Each source yields the exact manifest and config bytes it has, and streams every
//! layer once through the layer walk, which builds the squashed [`FileTree`].

pub mod archive;
pub mod compression;
pub mod daemon;
pub mod deferred;
pub mod error;
pub mod oci;
pub mod registry;

use std::path::PathBuf;

use crate::digest::Digest;
use crate::filesystem::FileTree;

/// The image source, parsed from the IMAGE argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SourceRef {
    /// An image in the Docker (or podman) daemon, by name, id or digest reference.
    Daemon(String),
    /// `docker-archive:PATH[:REF]`: a `docker save` tarball, classic or OCI-layout form.
    DockerArchive {
        path: PathBuf,
        reference: Option<String>,
    },
    /// `oci-dir:PATH[:REF]`: an OCI image layout directory.
    OciDir {
        path: PathBuf,
        reference: Option<String>,
    },
    /// `oci-archive:PATH[:REF]`: a tar of an OCI image layout.
    OciArchive {
        path: PathBuf,
        reference: Option<String>,
    },
    /// `registry:REF`: pulled straight from an OCI distribution registry, with no daemon.
    Registry(String),
}

/// A platform as `os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

/// Exact JSON bytes of a manifest or index, with the media type it was stored under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawManifest {
    pub bytes: Vec<u8>,
    pub media_type: String,
}

impl RawManifest {
    pub fn digest(&self) -> Digest {
        Digest::of(&self.bytes)
    }
}

/// One layer as the walk saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerInfo {
    /// sha256 of the uncompressed tar stream; equals the config's `rootfs.diff_ids` entry.
    pub diff_id: Digest,
    /// sha256 of the blob as stored, when the source stores it compressed or by digest.
    pub blob_digest: Option<Digest>,
    /// Size of the stored blob in bytes.
    pub blob_size: u64,
    /// Size of the uncompressed tar stream in bytes.
    pub uncompressed_size: u64,
    /// Compression detected from the blob's first bytes.
    pub compression: Compression,
    /// The media type the manifest declared for the blob, if there was a manifest.
    pub media_type: Option<String>,
}

/// Layer compression, detected from magic bytes and never from the media type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Everything a source produced for one image.
#[derive(Debug, Clone)]
pub struct SourceImage {
    /// The source kind and location, for the SBOM's `userInput` and messages.
    pub description: String,
    /// The image manifest exactly as the source stored it; `None` when the source only had a
    /// config and layers (classic `docker save`), so a manifest has to be synthesized.
    pub manifest: Option<RawManifest>,
    /// The index or manifest list the image was selected through, exactly as stored.
    pub index: Option<RawManifest>,
    /// The image config exactly as stored.
    pub config: Vec<u8>,
    /// Repository tags the source associates with the image (daemon `RepoTags`, tarball
    /// `RepoTags`, OCI `org.opencontainers.image.ref.name` annotations).
    pub repo_tags: Vec<String>,
    /// Repository digests the daemon records (`RepoDigests`).
    pub repo_digests: Vec<String>,
    pub layers: Vec<LayerInfo>,
    pub tree: FileTree,
    /// Layer digests still being computed, which [`SourceImage::verify`] checks.
    pub deferred: deferred::DeferredChecks,
}

/// The default [`Limits::max_layer_size`]: 64 GiB.
/// NOTE: an estimate, meant to sit well above real layers (images with bundled machine learning
/// models can reach tens of GiB) while still stopping a bomb.
pub const DEFAULT_MAX_LAYER_SIZE: u64 = 64 * 1024 * 1024 * 1024;

/// The default [`Limits::max_tar_header`]: 1 MiB. Linux limits a path to 4096 bytes and one
/// extended attribute value to 64 KiB (`PATH_MAX` and `XATTR_SIZE_MAX` in `linux/limits.h`),
/// so a real entry's headers stay far below it.
pub const DEFAULT_MAX_TAR_HEADER: u64 = 1024 * 1024;

/// How much a source may read or buffer. Limits exist so a hostile image cannot exhaust memory.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest single file whose contents are captured for a cataloger, in bytes.
    pub max_captured_file: u64,
    /// Largest JSON document (manifest, index, config) read into memory, in bytes.
    pub max_json: u64,
    /// Largest uncompressed tar stream of one layer, in bytes. It stops a decompression bomb,
    /// a small blob that expands to far more data than any real layer.
    pub max_layer_size: u64,
    /// Largest total of the tar headers of one layer entry (its header, GNU long name and
    /// long link name, PAX records), in bytes. The tar reader keeps them in memory whole.
    pub max_tar_header: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_captured_file: 512 * 1024 * 1024,
            max_json: 16 * 1024 * 1024,
            max_layer_size: DEFAULT_MAX_LAYER_SIZE,
            max_tar_header: DEFAULT_MAX_TAR_HEADER,
        }
    }
}
