//! Import bundles: a folder that stores everything one Anchore import uploads, so an image can
//! be analyzed where it was built and imported later, from another machine or job.
//!
//! `bundle.json` is the index. It lists every other file with its sha256, size and media type,
//! and stores the identity fields that are not files (digest, tags, annotations, local image
//! id, force flag). The hashes catch a truncated copy or an edited file. They are not a
//! signature, so anyone who can write the folder can also rewrite the index.

use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::anchore::ImportRequest;
use crate::digest::Digest;
use crate::image::identity::ManifestOrigin;
use crate::image::identity::validate_image_id;
use crate::source::RawManifest;

/// The name of the index file inside a bundle folder.
pub const INDEX_FILE: &str = "bundle.json";

/// The index layout this version writes. [`read`] rejects every other version.
pub const FORMAT_VERSION: u32 = 1;

const SBOM_FILE: &str = "sbom.syft.json";
const MANIFEST_FILE: &str = "manifest.json";
const CONFIG_FILE: &str = "config.json";
const PARENT_FILE: &str = "parent-manifest.json";
const DOCKERFILE_FILE: &str = "Dockerfile";

const SBOM_MEDIA_TYPE: &str = "application/vnd.syft+json";
const DOCKERFILE_MEDIA_TYPE: &str = "text/plain";
/// Used for the config when the manifest does not name the config's media type.
const DEFAULT_CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";

/// A bundle that cannot be written, or one that is missing, incomplete or altered.
#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error(
        "--bundle-out {path} is a non-empty folder without {INDEX_FILE}: choose an empty or new folder so no other file is overwritten"
    )]
    NotABundleFolder { path: PathBuf },
    #[error("could not write bundle file {path}: {reason}")]
    Write { path: PathBuf, reason: String },
    #[error("{path} not found: pass the folder written by `inline-scan analyze --bundle-out DIR`")]
    IndexMissing { path: PathBuf },
    #[error("could not read bundle file {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error(
        "invalid bundle index {path}: {reason}; write the bundle again with `inline-scan analyze --bundle-out DIR`"
    )]
    InvalidIndex { path: PathBuf, reason: String },
    #[error(
        "bundle {path} has format version {found}, but this inline-scan reads only version {FORMAT_VERSION}: import it with the inline-scan version that wrote it ({tool})"
    )]
    UnknownFormatVersion {
        path: PathBuf,
        found: u32,
        tool: String,
    },
    #[error("bundle file {path} is missing: copy the whole bundle folder again")]
    FileMissing { path: PathBuf },
    #[error(
        "bundle file {path} is {actual} bytes, but {INDEX_FILE} records {expected}: the file was changed or truncated, write the bundle again"
    )]
    SizeMismatch {
        path: PathBuf,
        expected: u64,
        actual: u64,
    },
    #[error(
        "bundle file {path} has sha256 {actual}, but {INDEX_FILE} records {expected}: the file was changed, write the bundle again"
    )]
    HashMismatch {
        path: PathBuf,
        expected: String,
        actual: String,
    },
    #[error(
        "bundle digest {recorded} in {path} does not match {computed}, the sha256 of {MANIFEST_FILE}: write the bundle again"
    )]
    DigestMismatch {
        path: PathBuf,
        recorded: String,
        computed: Digest,
    },
    #[error("bundle file {path} is not valid JSON: {reason}")]
    InvalidJson { path: PathBuf, reason: String },
}

/// The identity fields a bundle stores beside the files, and the `analyze` input they came
/// from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleContext {
    /// IMAGE as typed on the `analyze` command line.
    pub image_input: String,
    pub manifest_origin: ManifestOrigin,
}

/// A bundle read back and verified.
#[derive(Debug, Clone)]
pub struct Bundle {
    pub request: ImportRequest,
    pub context: BundleContext,
    /// The inline-scan version that wrote the bundle.
    pub tool_version: String,
}

/// `bundle.json`.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Index {
    format_version: u32,
    tool: Tool,
    image_input: String,
    digest: String,
    local_image_id: String,
    manifest_origin: ManifestOrigin,
    tags: Vec<String>,
    annotations: BTreeMap<String, String>,
    force: bool,
    files: Files,
}

#[derive(Debug, Serialize, Deserialize)]
struct Tool {
    name: String,
    version: String,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Files {
    sbom: FileRecord,
    manifest: FileRecord,
    config: FileRecord,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    parent_manifest: Option<FileRecord>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    dockerfile: Option<FileRecord>,
}

impl Files {
    fn all(&self) -> Vec<&FileRecord> {
        let mut records = vec![&self.sbom, &self.manifest, &self.config];
        records.extend(self.parent_manifest.as_ref());
        records.extend(self.dockerfile.as_ref());
        records
    }
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct FileRecord {
    name: String,
    media_type: String,
    /// Lowercase hex sha256 of the file, without a prefix.
    sha256: String,
    size: u64,
}

/// Writes `request` as a bundle into `dir`, creating it when missing. A folder that already
/// contains a bundle is overwritten, but any other non-empty folder is rejected. The index is written
/// last, through a rename, so an interrupted write leaves no index and [`read`] rejects it.
pub fn write(
    dir: &Path,
    request: &ImportRequest,
    context: &BundleContext,
) -> Result<(), BundleError> {
    prepare_folder(dir)?;
    let config_media_type = config_media_type(&request.manifest);
    let mut files = Files {
        sbom: write_file(dir, SBOM_FILE, SBOM_MEDIA_TYPE, &request.sbom)?,
        manifest: write_file(
            dir,
            MANIFEST_FILE,
            &request.manifest.media_type,
            &request.manifest.bytes,
        )?,
        config: write_file(dir, CONFIG_FILE, &config_media_type, &request.config)?,
        parent_manifest: None,
        dockerfile: None,
    };

    if let Some(parent) = &request.parent {
        files.parent_manifest = Some(write_file(
            dir,
            PARENT_FILE,
            &parent.media_type,
            &parent.bytes,
        )?);
    }
    if let Some(dockerfile) = &request.dockerfile {
        files.dockerfile = Some(write_file(
            dir,
            DOCKERFILE_FILE,
            DOCKERFILE_MEDIA_TYPE,
            dockerfile,
        )?);
    }

    let index = Index {
        format_version: FORMAT_VERSION,
        tool: Tool {
            name: env!("CARGO_PKG_NAME").to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
        },
        image_input: context.image_input.clone(),
        digest: request.digest.to_string(),
        local_image_id: request.local_image_id.clone(),
        manifest_origin: context.manifest_origin,
        tags: request.tags.clone(),
        annotations: request.annotations.clone(),
        force: request.force,
        files,
    };
    let mut bytes = serde_json::to_vec_pretty(&index).expect("the index serializes");
    bytes.push(b'\n');
    let temporary = dir.join(format!(".{INDEX_FILE}.partial"));
    write_bytes(&temporary, &bytes)?;
    let path = dir.join(INDEX_FILE);
    std::fs::rename(&temporary, &path).map_err(|error| BundleError::Write {
        path,
        reason: error.to_string(),
    })
}

/// Reads the bundle in `dir` and verifies it: the format version is known, every listed file
/// exists with the recorded size and sha256, and the digest equals the sha256 of the manifest.
pub fn read(dir: &Path) -> Result<Bundle, BundleError> {
    // `import DIR/bundle.json` means the bundle in DIR.
    let dir = match dir.file_name() {
        Some(name) if name == INDEX_FILE && dir.is_file() => dir.parent().unwrap_or(dir),
        _ => dir,
    };
    let index_path = dir.join(INDEX_FILE);
    if !index_path.is_file() {
        return Err(BundleError::IndexMissing { path: index_path });
    }
    let index_bytes = read_bytes(&index_path)?;
    let header: serde_json::Value =
        serde_json::from_slice(&index_bytes).map_err(|error| BundleError::InvalidIndex {
            path: index_path.clone(),
            reason: error.to_string(),
        })?;
    // The version is checked before the layout, so a newer bundle gets the version message
    // and not a missing-field error.
    let found = header["formatVersion"].as_u64();
    if found != Some(u64::from(FORMAT_VERSION)) {
        let Some(found) = found else {
            return Err(BundleError::InvalidIndex {
                path: index_path,
                reason: "formatVersion is missing or not a number".to_owned(),
            });
        };
        return Err(BundleError::UnknownFormatVersion {
            path: index_path,
            found: u32::try_from(found).unwrap_or(u32::MAX),
            tool: header["tool"]["version"]
                .as_str()
                .unwrap_or("unknown version")
                .to_owned(),
        });
    }
    let index: Index =
        serde_json::from_value(header).map_err(|error| BundleError::InvalidIndex {
            path: index_path.clone(),
            reason: error.to_string(),
        })?;
    let invalid = |reason: String| BundleError::InvalidIndex {
        path: index_path.clone(),
        reason,
    };
    validate_image_id(&index.local_image_id)
        .map_err(|error| invalid(format!("localImageId: {error}")))?;
    if index.tags.is_empty() {
        return Err(invalid(
            "tags is empty, but Anchore needs at least one".into(),
        ));
    }

    let mut contents = BTreeMap::new();
    for record in index.files.all() {
        let bytes = read_verified(dir, &index_path, record)?;
        contents.insert(record.name.clone(), bytes);
    }
    let mut take = |record: &FileRecord| {
        contents
            .remove(&record.name)
            .expect("every listed file was read above")
    };
    let manifest = RawManifest {
        bytes: take(&index.files.manifest),
        media_type: index.files.manifest.media_type.clone(),
    };
    let computed = manifest.digest();
    if computed.to_string() != index.digest {
        return Err(BundleError::DigestMismatch {
            path: index_path,
            recorded: index.digest,
            computed,
        });
    }
    let sbom_bytes = take(&index.files.sbom);
    if let Err(error) = serde_json::from_slice::<serde::de::IgnoredAny>(&sbom_bytes) {
        return Err(BundleError::InvalidJson {
            path: dir.join(&index.files.sbom.name),
            reason: error.to_string(),
        });
    }
    let config = take(&index.files.config);
    let parent = index
        .files
        .parent_manifest
        .as_ref()
        .map(|record| RawManifest {
            bytes: take(record),
            media_type: record.media_type.clone(),
        });
    let dockerfile = index.files.dockerfile.as_ref().map(&mut take);
    Ok(Bundle {
        request: ImportRequest {
            digest: computed,
            manifest,
            config,
            parent,
            local_image_id: index.local_image_id,
            tags: index.tags,
            annotations: index.annotations,
            dockerfile,
            sbom: sbom_bytes,
            force: index.force,
        },
        context: BundleContext {
            image_input: index.image_input,
            manifest_origin: index.manifest_origin,
        },
        tool_version: index.tool.version,
    })
}

/// Checks, before any work, that `dir` can receive a bundle: it is missing, empty, or contains
/// an earlier bundle. Nothing is changed.
pub fn check_folder(dir: &Path) -> Result<(), BundleError> {
    let Ok(mut entries) = std::fs::read_dir(dir) else {
        // A missing folder is created later, and any other problem is reported by the write.
        return Ok(());
    };
    if entries.next().is_some() && !dir.join(INDEX_FILE).is_file() {
        return Err(BundleError::NotABundleFolder {
            path: dir.to_owned(),
        });
    }
    Ok(())
}

/// Creates `dir` when missing and removes the files of an earlier bundle in it, so a bundle
/// without a Dockerfile does not keep an old one.
fn prepare_folder(dir: &Path) -> Result<(), BundleError> {
    let write_error = |path: &Path, error: std::io::Error| BundleError::Write {
        path: path.to_owned(),
        reason: error.to_string(),
    };
    if !dir.exists() {
        return std::fs::create_dir_all(dir).map_err(|error| write_error(dir, error));
    }
    let mut entries = std::fs::read_dir(dir).map_err(|error| write_error(dir, error))?;
    if entries.next().is_none() {
        return Ok(());
    }
    let index_path = dir.join(INDEX_FILE);
    if !index_path.is_file() {
        return Err(BundleError::NotABundleFolder {
            path: dir.to_owned(),
        });
    }
    for name in [
        SBOM_FILE,
        MANIFEST_FILE,
        CONFIG_FILE,
        PARENT_FILE,
        DOCKERFILE_FILE,
        INDEX_FILE,
    ] {
        let path = dir.join(name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {}
            Err(error) => return Err(write_error(&path, error)),
        }
    }
    Ok(())
}

fn write_file(
    dir: &Path,
    name: &str,
    media_type: &str,
    bytes: &[u8],
) -> Result<FileRecord, BundleError> {
    write_bytes(&dir.join(name), bytes)?;
    Ok(FileRecord {
        name: name.to_owned(),
        media_type: media_type.to_owned(),
        sha256: Digest::of(bytes).hex().to_owned(),
        size: bytes.len() as u64,
    })
}

fn write_bytes(path: &Path, bytes: &[u8]) -> Result<(), BundleError> {
    let write_error = |error: std::io::Error| BundleError::Write {
        path: path.to_owned(),
        reason: error.to_string(),
    };
    let mut file = std::fs::File::create(path).map_err(write_error)?;
    file.write_all(bytes).map_err(write_error)?;
    file.sync_all().map_err(write_error)
}

fn read_bytes(path: &Path) -> Result<Vec<u8>, BundleError> {
    std::fs::read(path).map_err(|error| BundleError::Read {
        path: path.to_owned(),
        reason: error.to_string(),
    })
}

/// Reads one listed file and checks its size and sha256 against the index.
fn read_verified(
    dir: &Path,
    index_path: &Path,
    record: &FileRecord,
) -> Result<Vec<u8>, BundleError> {
    // Only plain names inside the folder are accepted, so an edited index cannot make the
    // import read and upload a file from elsewhere.
    let plain = Path::new(&record.name).file_name() == Some(record.name.as_ref())
        && record.name != INDEX_FILE;
    if !plain {
        return Err(BundleError::InvalidIndex {
            path: index_path.to_owned(),
            reason: format!("file name {:?} is not a plain file name", record.name),
        });
    }

    let path = dir.join(&record.name);
    if !path.is_file() {
        return Err(BundleError::FileMissing { path });
    }
    let bytes = read_bytes(&path)?;
    let actual = bytes.len() as u64;
    if actual != record.size {
        return Err(BundleError::SizeMismatch {
            path,
            expected: record.size,
            actual,
        });
    }
    let hash = Digest::of(&bytes);
    if !hash.hex().eq_ignore_ascii_case(&record.sha256) {
        return Err(BundleError::HashMismatch {
            path,
            expected: record.sha256.clone(),
            actual: hash.hex().to_owned(),
        });
    }
    Ok(bytes)
}

/// Returns the config media type the manifest names, or the OCI config type when it names
/// none.
fn config_media_type(manifest: &RawManifest) -> String {
    serde_json::from_slice::<serde_json::Value>(&manifest.bytes)
        .ok()
        .and_then(|value| value["config"]["mediaType"].as_str().map(str::to_owned))
        .unwrap_or_else(|| DEFAULT_CONFIG_MEDIA_TYPE.to_owned())
}
