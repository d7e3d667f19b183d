//! OCI image layouts: selecting a manifest through `index.json` (by reference and platform),
//! the `oci-dir` source, and the assembly of a [`SourceImage`] that every file source shares.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;

use oci_spec::image::{Descriptor, ImageIndex, ImageManifest, MediaType};
use serde::Deserialize;

use super::deferred::{DeferredCheck, DeferredChecks, PendingLayer};
use super::error::SourceError;
use super::{Compression, LayerInfo, Limits, Platform, RawManifest, SourceImage};
use crate::digest::Digest;
use crate::layer::CapturePolicy;
use crate::layer::{LayerScan, scan_layer};
use crate::squash::Squasher;

/// The annotation that names an image in an OCI layout's `index.json`.
pub const REF_NAME_ANNOTATION: &str = "org.opencontainers.image.ref.name";
/// The annotation containerd puts beside the ref name: the full image name.
pub const CONTAINERD_NAME_ANNOTATION: &str = "io.containerd.image.name";
/// The annotation BuildKit puts on attestation manifests, which are not runnable images.
const REFERENCE_TYPE_ANNOTATION: &str = "vnd.docker.reference.type";
const DOCKER_MANIFEST_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// The maximum nesting depth of indexes under `index.json` before the layout is taken as
/// malformed.
const MAX_INDEX_DEPTH: usize = 8;
/// The largest number of layer warnings logged per image; the rest are counted.
const MAX_LOGGED_WARNINGS: usize = 20;

/// Parses `os/arch[/variant]`, as `--platform` takes it.
pub fn parse_platform(value: &str) -> Result<Platform, SourceError> {
    let parts: Vec<&str> = value.split('/').collect();
    let invalid = || SourceError::InvalidPlatform {
        value: value.to_owned(),
    };
    if parts.iter().any(|part| part.is_empty()) {
        return Err(invalid());
    }
    match parts.as_slice() {
        [os, architecture] => Ok(Platform {
            os: (*os).to_owned(),
            architecture: (*architecture).to_owned(),
            variant: None,
        }),
        [os, architecture, variant] => Ok(Platform {
            os: (*os).to_owned(),
            architecture: (*architecture).to_owned(),
            variant: Some((*variant).to_owned()),
        }),
        _ => Err(invalid()),
    }
}

/// Formats a platform as `os/arch[/variant]`.
pub fn platform_label(platform: &Platform) -> String {
    match &platform.variant {
        Some(variant) => format!("{}/{}/{variant}", platform.os, platform.architecture),
        None => format!("{}/{}", platform.os, platform.architecture),
    }
}

/// Checks whether an image built for `actual` satisfies a request for `requested`. Architecture
/// aliases (`x86_64`, `aarch64`) are accepted, and a requested variant must match, with
/// arm64's unnamed variant taken as `v8`. Without a requested variant any variant matches.
pub fn platform_matches(requested: &Platform, actual: &Platform) -> bool {
    if !requested.os.eq_ignore_ascii_case(&actual.os) {
        return false;
    }
    let (requested_arch, requested_variant) =
        canonical_architecture(&requested.architecture, requested.variant.as_deref());
    let (actual_arch, actual_variant) =
        canonical_architecture(&actual.architecture, actual.variant.as_deref());
    if requested_arch != actual_arch {
        return false;
    }
    match requested_variant {
        Some(variant) => actual_variant == Some(variant),
        None => true,
    }
}

/// Maps architecture aliases to Go's GOARCH names, which OCI uses, with the implied variant.
fn canonical_architecture<'a>(
    architecture: &'a str,
    variant: Option<&'a str>,
) -> (&'a str, Option<&'a str>) {
    match (architecture, variant) {
        ("x86_64" | "x86-64", variant) => ("amd64", variant),
        ("aarch64" | "arm64", None) => ("arm64", Some("v8")),
        ("aarch64", variant) => ("arm64", variant),
        ("armhf", None) => ("arm", Some("v7")),
        ("armel", None) => ("arm", Some("v6")),
        ("i386" | "i686", variant) => ("386", variant),
        other => other,
    }
}

/// Normalises a Docker image reference the way Docker matches tags: `name` means
/// `name:latest`, and the `docker.io/` and `docker.io/library/` prefixes are dropped.
pub fn normalize_reference(reference: &str) -> String {
    let without_digest = reference.split('@').next().unwrap_or(reference);
    let last_slash = without_digest.rfind('/').map_or(0, |index| index + 1);
    let (name, tag) = match without_digest[last_slash..].rfind(':') {
        Some(colon) => {
            let split = last_slash + colon;
            (&without_digest[..split], &without_digest[split + 1..])
        }
        None => (without_digest, "latest"),
    };
    let mut name = name;
    for registry in ["docker.io/", "index.docker.io/", "registry-1.docker.io/"] {
        if let Some(rest) = name.strip_prefix(registry) {
            name = rest;
            break;
        }
    }
    if let Some(rest) = name.strip_prefix("library/") {
        if !rest.contains('/') {
            name = rest;
        }
    }
    format!("{name}:{tag}")
}

/// A source of the JSON blobs of an OCI layout: files in a directory or members of an archive.
pub(crate) trait BlobStore {
    fn description(&self) -> &str;

    /// Returns the exact bytes of the JSON blob `digest`, checked against the digest and the
    /// JSON size limit. `referrer` names what pointed at the blob, for the missing-blob error.
    fn json_blob(&self, digest: &Digest, referrer: &str) -> Result<Vec<u8>, SourceError>;
}

/// Returns the member path of a blob inside a layout: `blobs/sha256/<hex>`.
pub(crate) fn blob_path(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

/// Converts a descriptor's digest, rejecting algorithms other than sha256.
pub(crate) fn descriptor_digest(
    descriptor: &Descriptor,
    description: &str,
) -> Result<Digest, SourceError> {
    descriptor
        .as_digest_sha256()
        .and_then(|hex| Digest::from_hex(hex).ok())
        .ok_or_else(|| SourceError::UnsupportedDigest {
            description: description.to_owned(),
            digest: descriptor.digest().to_string(),
        })
}

/// Checks that `bytes` hash to `expected`, the digest the blob was stored or referenced under.
pub(crate) fn verify_blob(
    description: &str,
    blob: &str,
    expected: &Digest,
    bytes: &[u8],
) -> Result<(), SourceError> {
    let actual = Digest::of(bytes);
    if &actual == expected {
        Ok(())
    } else {
        Err(SourceError::BlobDigestMismatch {
            description: description.to_owned(),
            blob: blob.to_owned(),
            expected: expected.to_string(),
            actual,
        })
    }
}

/// The manifest an OCI index selection ended at.
pub(crate) struct SelectedManifest {
    pub manifest: RawManifest,
    pub parsed: ImageManifest,
    /// The inner index or manifest list the manifest was listed in, if not `index.json` itself.
    pub index: Option<RawManifest>,
    pub config: Vec<u8>,
    pub repo_tags: Vec<String>,
}

/// One runnable manifest reachable from `index.json`.
struct Candidate {
    descriptor: Descriptor,
    via: Option<RawManifest>,
    /// Names of the top-level `index.json` entry the candidate was reached from.
    names: Vec<String>,
}

/// Selects one image manifest from an OCI `index.json`: by `reference` (a ref name annotation,
/// a full image name, or a manifest digest), then by `platform`. Nested indexes are followed.
/// Without a platform, a single candidate is taken, and several are an error that lists them.
pub(crate) fn select_manifest(
    store: &dyn BlobStore,
    index_bytes: &[u8],
    reference: Option<&str>,
    platform: Option<&Platform>,
) -> Result<SelectedManifest, SourceError> {
    let description = store.description();
    let index = parse_json::<ImageIndex>(description, "index.json", index_bytes)?;

    let top: Vec<&Descriptor> = match reference {
        None => index.manifests().iter().collect(),
        Some(reference) => {
            let matching: Vec<&Descriptor> = index
                .manifests()
                .iter()
                .filter(|descriptor| descriptor_matches(descriptor, reference))
                .collect();
            if matching.is_empty() {
                return Err(SourceError::ReferenceNotFound {
                    description: description.to_owned(),
                    reference: reference.to_owned(),
                    choices: list_or_none(index.manifests().iter().map(describe_descriptor)),
                });
            }
            matching
        }
    };

    let mut found = Vec::new();
    for descriptor in top {
        let names = descriptor_names(descriptor);
        collect_candidates(store, descriptor, None, &names, 0, &mut found)?;
    }
    let candidates = merge_duplicates(found);

    let chosen = choose_candidate(store, candidates, reference, platform)?;
    let manifest_digest = descriptor_digest(&chosen.descriptor, description)?;
    let referrer = chosen
        .names
        .first()
        .cloned()
        .unwrap_or_else(|| "index.json".to_owned());
    let manifest_bytes = store.json_blob(&manifest_digest, &referrer)?;
    let parsed =
        parse_json::<ImageManifest>(description, &blob_path(&manifest_digest), &manifest_bytes)?;
    let config_digest = descriptor_digest(parsed.config(), description)?;
    let config = store.json_blob(&config_digest, &blob_path(&manifest_digest))?;
    let media_type = chosen.descriptor.media_type().to_string();
    Ok(SelectedManifest {
        manifest: RawManifest {
            bytes: manifest_bytes,
            media_type,
        },
        parsed,
        index: chosen.via,
        config,
        repo_tags: chosen.names,
    })
}

/// Merges candidates for the same manifest and platform (one image under several ref names)
/// into one that carries all the names, keeping the first one's position.
fn merge_duplicates(found: Vec<Candidate>) -> Vec<Candidate> {
    let mut merged: Vec<Candidate> = Vec::with_capacity(found.len());
    for candidate in found {
        let same = merged.iter_mut().find(|kept| {
            kept.descriptor.digest() == candidate.descriptor.digest()
                && kept.descriptor.platform() == candidate.descriptor.platform()
        });
        match same {
            Some(kept) => {
                for name in candidate.names {
                    if !kept.names.contains(&name) {
                        kept.names.push(name);
                    }
                }
            }
            None => merged.push(candidate),
        }
    }
    merged
}

fn collect_candidates(
    store: &dyn BlobStore,
    descriptor: &Descriptor,
    via: Option<RawManifest>,
    names: &[String],
    depth: usize,
    candidates: &mut Vec<Candidate>,
) -> Result<(), SourceError> {
    let description = store.description();
    if is_index(descriptor.media_type()) {
        if depth >= MAX_INDEX_DEPTH {
            return Err(SourceError::NotAnOciLayout {
                description: description.to_owned(),
                reason: format!("indexes nest more than {MAX_INDEX_DEPTH} levels deep"),
            });
        }
        let digest = descriptor_digest(descriptor, description)?;
        let bytes = store.json_blob(&digest, "index.json")?;
        let inner = parse_json::<ImageIndex>(description, &blob_path(&digest), &bytes)?;
        let raw = RawManifest {
            bytes,
            media_type: descriptor.media_type().to_string(),
        };
        for child in inner.manifests() {
            collect_candidates(
                store,
                child,
                Some(raw.clone()),
                names,
                depth + 1,
                candidates,
            )?;
        }
        return Ok(());
    }
    if is_manifest(descriptor.media_type()) && !is_attestation(descriptor) {
        candidates.push(Candidate {
            descriptor: descriptor.clone(),
            via,
            names: names.to_vec(),
        });
    }
    Ok(())
}

fn choose_candidate(
    store: &dyn BlobStore,
    mut candidates: Vec<Candidate>,
    reference: Option<&str>,
    platform: Option<&Platform>,
) -> Result<Candidate, SourceError> {
    let description = store.description();
    if candidates.is_empty() {
        return Err(SourceError::NotAnOciLayout {
            description: description.to_owned(),
            reason: "index.json lists no image manifest".to_owned(),
        });
    }
    if platform.is_none() && candidates.len() == 1 {
        return Ok(candidates.remove(0));
    }

    let mut platforms = Vec::with_capacity(candidates.len());
    for candidate in &candidates {
        platforms.push(candidate_platform(store, candidate)?);
    }
    let labels: Vec<String> = candidates
        .iter()
        .zip(&platforms)
        .map(|(candidate, platform)| {
            let name = candidate
                .names
                .first()
                .cloned()
                .unwrap_or_else(|| candidate.descriptor.digest().to_string());
            format!("{name} ({})", platform_label(platform))
        })
        .collect();

    let Some(requested) = platform else {
        return Err(SourceError::AmbiguousReference {
            description: description.to_owned(),
            requested: requested_suffix(reference),
            choices: labels.join(", "),
        });
    };
    let matching: Vec<usize> = platforms
        .iter()
        .enumerate()
        .filter(|(_, actual)| platform_matches(requested, actual))
        .map(|(index, _)| index)
        .collect();
    match matching.as_slice() {
        [] => Err(SourceError::PlatformNotFound {
            description: description.to_owned(),
            platform: platform_label(requested),
            platforms: labels.join(", "),
        }),
        [only] => Ok(candidates.swap_remove(*only)),
        several => Err(SourceError::AmbiguousReference {
            description: description.to_owned(),
            requested: requested_suffix(reference),
            choices: several
                .iter()
                .map(|&index| labels[index].as_str())
                .collect::<Vec<_>>()
                .join(", "),
        }),
    }
}

fn requested_suffix(reference: Option<&str>) -> String {
    reference.map_or_else(String::new, |reference| format!(" by {reference:?}"))
}

/// Reads the platform of a candidate from its descriptor, or else from its config.
fn candidate_platform(
    store: &dyn BlobStore,
    candidate: &Candidate,
) -> Result<Platform, SourceError> {
    if let Some(platform) = candidate.descriptor.platform() {
        return Ok(Platform {
            os: platform.os().to_string(),
            architecture: platform.architecture().to_string(),
            variant: platform.variant().clone(),
        });
    }
    let description = store.description();
    let digest = descriptor_digest(&candidate.descriptor, description)?;
    let bytes = store.json_blob(&digest, "index.json")?;
    let manifest = parse_json::<ImageManifest>(description, &blob_path(&digest), &bytes)?;
    let config_digest = descriptor_digest(manifest.config(), description)?;
    let config = store.json_blob(&config_digest, &blob_path(&digest))?;
    config_platform(description, &blob_path(&config_digest), &config)
}

/// The fields of an image config this module reads.
#[derive(Deserialize)]
struct ConfigFields {
    #[serde(default)]
    os: String,
    #[serde(default)]
    architecture: String,
    #[serde(default)]
    variant: Option<String>,
    rootfs: RootFs,
}

#[derive(Deserialize)]
struct RootFs {
    #[serde(default)]
    diff_ids: Vec<Digest>,
}

/// Reads `os`, `architecture` and `variant` from an image config.
pub(crate) fn config_platform(
    description: &str,
    member: &str,
    config: &[u8],
) -> Result<Platform, SourceError> {
    let fields = parse_json::<ConfigFields>(description, member, config)?;
    Ok(Platform {
        os: fields.os,
        architecture: fields.architecture,
        variant: fields.variant,
    })
}

fn is_index(media_type: &MediaType) -> bool {
    match media_type {
        MediaType::ImageIndex => true,
        MediaType::Other(other) => other == DOCKER_MANIFEST_LIST,
        _ => false,
    }
}

fn is_manifest(media_type: &MediaType) -> bool {
    match media_type {
        MediaType::ImageManifest => true,
        MediaType::Other(other) => other == DOCKER_MANIFEST,
        _ => false,
    }
}

fn is_attestation(descriptor: &Descriptor) -> bool {
    let annotated = descriptor
        .annotations()
        .as_ref()
        .and_then(|annotations| annotations.get(REFERENCE_TYPE_ANNOTATION))
        .is_some_and(|kind| kind == "attestation-manifest");
    let unknown_platform = descriptor
        .platform()
        .as_ref()
        .is_some_and(|platform| platform.os().to_string() == "unknown");
    annotated || unknown_platform
}

fn descriptor_names(descriptor: &Descriptor) -> Vec<String> {
    let mut names = Vec::new();
    if let Some(annotations) = descriptor.annotations() {
        for key in [CONTAINERD_NAME_ANNOTATION, REF_NAME_ANNOTATION] {
            if let Some(value) = annotations.get(key) {
                if !names.contains(value) {
                    names.push(value.clone());
                }
            }
        }
    }
    names
}

fn descriptor_matches(descriptor: &Descriptor, reference: &str) -> bool {
    if descriptor.digest().to_string() == reference {
        return true;
    }
    let Some(annotations) = descriptor.annotations() else {
        return false;
    };
    if annotations.get(REF_NAME_ANNOTATION).map(String::as_str) == Some(reference) {
        return true;
    }
    let normalized = normalize_reference(reference);
    [REF_NAME_ANNOTATION, CONTAINERD_NAME_ANNOTATION]
        .iter()
        .filter_map(|key| annotations.get(*key))
        .any(|name| name.contains(['/', ':']) && normalize_reference(name) == normalized)
}

fn describe_descriptor(descriptor: &Descriptor) -> String {
    descriptor_names(descriptor)
        .into_iter()
        .next()
        .unwrap_or_else(|| descriptor.digest().to_string())
}

/// Joins choices for an error message, or returns `no named images` when there are none.
pub(crate) fn list_or_none(choices: impl Iterator<Item = String>) -> String {
    let choices: Vec<String> = choices.collect();
    if choices.is_empty() {
        "no named images".to_owned()
    } else {
        choices.join(", ")
    }
}

pub(crate) fn parse_json<T: serde::de::DeserializeOwned>(
    description: &str,
    member: &str,
    bytes: &[u8],
) -> Result<T, SourceError> {
    serde_json::from_slice(bytes).map_err(|source| SourceError::InvalidJson {
        description: description.to_owned(),
        member: member.to_owned(),
        source,
    })
}

/// One scanned layer, ready to be squashed.
pub(crate) struct ScannedLayer {
    /// The member or blob the layer was read from, for messages.
    pub name: String,
    pub scan: LayerScan,
    /// The media type the manifest declared, when there is a manifest.
    pub media_type: Option<String>,
    /// Whether the source stores the layer under its blob digest.
    pub addressed_by_digest: bool,
    /// The digest a hashing thread is still computing, when the scan has none.
    pub pending: Option<PendingLayer>,
}

/// Checks the layers against the config's `rootfs.diff_ids`, then squashes them in order.
pub(crate) fn assemble_image(
    description: String,
    manifest: Option<RawManifest>,
    index: Option<RawManifest>,
    config: Vec<u8>,
    repo_tags: Vec<String>,
    mut layers: Vec<ScannedLayer>,
) -> Result<SourceImage, SourceError> {
    let fields = parse_json::<ConfigFields>(&description, "the image config", &config)?;
    let diff_ids = fields.rootfs.diff_ids;
    if diff_ids.len() != layers.len() {
        return Err(SourceError::LayerCountMismatch {
            description,
            layers: layers.len(),
            diff_ids: diff_ids.len(),
        });
    }
    let mut deferred = Vec::new();
    for (index, (layer, expected)) in layers.iter_mut().zip(&diff_ids).enumerate() {
        if let Some(pending) = layer.pending.take() {
            // An uncompressed layer: the blob is the tar stream, so both digests are the
            // diffID, and SourceImage::verify checks them once they are known.
            layer.scan.diff_id = expected.clone();
            layer.scan.blob_digest = expected.clone();
            deferred.push(DeferredCheck {
                index,
                layer: layer.name.clone(),
                expected_diff_id: expected.clone(),
                expected_blob_digest: pending.blob_digest,
                hash: pending.hash,
            });
            continue;
        }
        if &layer.scan.diff_id != expected {
            return Err(SourceError::DiffIdMismatch {
                description,
                index,
                layer: layer.name.clone(),
                expected: expected.clone(),
                actual: layer.scan.diff_id.clone(),
            });
        }
    }

    let mut squasher = Squasher::new();
    let mut infos = Vec::with_capacity(layers.len());
    let mut warnings = 0usize;
    for layer in layers {
        let scan = layer.scan;
        for warning in &scan.warnings {
            warnings += 1;
            if warnings <= MAX_LOGGED_WARNINGS {
                tracing::warn!(
                    source = %description,
                    layer = %layer.name,
                    path = %warning.path,
                    "{}",
                    warning.message
                );
            }
        }
        let stored_by_digest = layer.addressed_by_digest || scan.compression != Compression::None;
        infos.push(LayerInfo {
            diff_id: scan.diff_id.clone(),
            blob_digest: stored_by_digest.then(|| scan.blob_digest.clone()),
            blob_size: scan.blob_size,
            uncompressed_size: scan.uncompressed_size,
            compression: scan.compression,
            media_type: layer.media_type,
        });
        squasher.add_layer(scan);
    }
    if warnings > MAX_LOGGED_WARNINGS {
        tracing::warn!(
            source = %description,
            "{} more layer warnings were not logged",
            warnings - MAX_LOGGED_WARNINGS
        );
    }

    Ok(SourceImage {
        description,
        manifest,
        index,
        config,
        repo_tags,
        repo_digests: Vec::new(),
        layers: infos,
        tree: squasher.finish(),
        deferred: DeferredChecks(deferred),
    })
}

/// The blobs of an OCI layout directory.
struct DirectoryStore {
    root: PathBuf,
    description: String,
    max_json: u64,
}

impl DirectoryStore {
    fn open_blob(&self, digest: &Digest, referrer: &str) -> Result<(File, u64), SourceError> {
        let member = blob_path(digest);
        let path = self.root.join(&member);
        let file = File::open(&path).map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                SourceError::MissingBlob {
                    description: self.description.clone(),
                    member: member.clone(),
                    referrer: referrer.to_owned(),
                }
            } else {
                SourceError::Io {
                    path: path.clone(),
                    source,
                }
            }
        })?;
        let size = file
            .metadata()
            .map_err(|source| SourceError::Io { path, source })?
            .len();
        Ok((file, size))
    }
}

impl BlobStore for DirectoryStore {
    fn description(&self) -> &str {
        &self.description
    }

    fn json_blob(&self, digest: &Digest, referrer: &str) -> Result<Vec<u8>, SourceError> {
        let member = blob_path(digest);
        let (file, size) = self.open_blob(digest, referrer)?;
        if size > self.max_json {
            return Err(SourceError::JsonTooLarge {
                description: self.description.clone(),
                member,
                size,
                limit: self.max_json,
            });
        }
        let bytes = read_bounded(file, size, &self.root.join(&member))?;
        verify_blob(&self.description, &member, digest, &bytes)?;
        Ok(bytes)
    }
}

fn read_bounded(file: File, size: u64, path: &Path) -> Result<Vec<u8>, SourceError> {
    let mut bytes = Vec::with_capacity(size as usize);
    file.take(size)
        .read_to_end(&mut bytes)
        .map_err(|source| SourceError::Io {
            path: path.to_owned(),
            source,
        })?;
    Ok(bytes)
}

/// Reads an image from an OCI image layout directory (`oci-dir:PATH[:REF]`).
///
/// The manifest is selected through `index.json` (nested indexes included) by `reference`: a
/// ref name annotation, a full image name or a manifest digest. `platform` then narrows the
/// choice, and without one a single candidate is taken. Layer blobs are files, so they are scanned in parallel, one
/// thread per available core. Memory keeps the JSON documents (each at most
/// `limits.max_json`), every layer's entry list and the captured contents until the layers are
/// squashed in order.
pub fn read_oci_dir(
    path: &Path,
    reference: Option<&str>,
    platform: Option<&Platform>,
    wants: &(dyn CapturePolicy + Sync),
    limits: &Limits,
) -> Result<SourceImage, SourceError> {
    let description = format!("oci-dir:{}", path.display());
    if !path.exists() {
        return Err(SourceError::NotFound {
            path: path.to_owned(),
        });
    }
    let index_path = path.join("index.json");
    let index_file = match File::open(&index_path) {
        Ok(file) => file,
        Err(source) if source.kind() == std::io::ErrorKind::NotFound => {
            return Err(SourceError::NotAnOciLayout {
                description,
                reason: "it has no index.json".to_owned(),
            });
        }
        Err(source) => {
            return Err(SourceError::Io {
                path: index_path,
                source,
            });
        }
    };
    if !path.join("oci-layout").exists() {
        tracing::warn!(source = %description, "the layout has no oci-layout file; reading it anyway");
    }
    let index_size = index_file
        .metadata()
        .map_err(|source| SourceError::Io {
            path: index_path.clone(),
            source,
        })?
        .len();
    if index_size > limits.max_json {
        return Err(SourceError::JsonTooLarge {
            description,
            member: "index.json".to_owned(),
            size: index_size,
            limit: limits.max_json,
        });
    }
    let index_bytes = read_bounded(index_file, index_size, &index_path)?;

    let store = DirectoryStore {
        root: path.to_owned(),
        description,
        max_json: limits.max_json,
    };
    let selected = select_manifest(&store, &index_bytes, reference, platform)?;
    let layers = scan_directory_layers(&store, &selected, wants, limits)?;
    assemble_image(
        store.description,
        Some(selected.manifest),
        selected.index,
        selected.config,
        selected.repo_tags,
        layers,
    )
}

/// Scans the manifest's layer blobs on as many threads as there are cores, and returns them in
/// manifest order. Each blob's digest and size are checked against its descriptor.
fn scan_directory_layers(
    store: &DirectoryStore,
    selected: &SelectedManifest,
    wants: &(dyn CapturePolicy + Sync),
    limits: &Limits,
) -> Result<Vec<ScannedLayer>, SourceError> {
    let descriptors = selected.parsed.layers();
    let manifest_member = blob_path(&selected.manifest.digest());
    scan_layers_in_parallel(descriptors.len(), |index| {
        scan_directory_layer(store, &descriptors[index], &manifest_member, wants, limits)
    })
}

/// Runs `scan` for layers `0..count` on as many threads as there are cores, and returns the
/// layers in order. After the first error no new layer is started, and the error of the lowest
/// failed index is returned.
pub(crate) fn scan_layers_in_parallel(
    count: usize,
    scan: impl Fn(usize) -> Result<ScannedLayer, SourceError> + Sync,
) -> Result<Vec<ScannedLayer>, SourceError> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Result<ScannedLayer, SourceError>)>> = Mutex::new(Vec::new());
    let threads = thread::available_parallelism()
        .map_or(1, usize::from)
        .min(count)
        .max(1);

    thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                loop {
                    let index = next.fetch_add(1, Ordering::Relaxed);
                    if index >= count {
                        break;
                    }
                    let result = scan(index);
                    let failed = result.is_err();
                    results
                        .lock()
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .push((index, result));
                    if failed {
                        // Stop handing out work: the first error is what gets reported.
                        next.store(count, Ordering::Relaxed);
                    }
                }
            });
        }
    });

    let mut ordered: Vec<(usize, Result<ScannedLayer, SourceError>)> = results
        .into_inner()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .into_iter()
        .collect();
    ordered.sort_by_key(|(index, _)| *index);
    // Layers are only left unscanned after a failure, and the lowest failed index comes first
    // in this order, so it is the error reported.
    let mut layers = Vec::with_capacity(count);
    for (_, result) in ordered {
        layers.push(result?);
    }
    Ok(layers)
}

fn scan_directory_layer(
    store: &DirectoryStore,
    descriptor: &Descriptor,
    referrer: &str,
    wants: &(dyn CapturePolicy + Sync),
    limits: &Limits,
) -> Result<ScannedLayer, SourceError> {
    let digest = descriptor_digest(descriptor, &store.description)?;
    let member = blob_path(&digest);
    let (file, _) = store.open_blob(&digest, referrer)?;
    let mut scan = scan_layer(BufReader::with_capacity(256 * 1024, file), wants, limits).map_err(
        |source| SourceError::LayerCorrupt {
            description: store.description.clone(),
            layer: member.clone(),
            source,
        },
    )?;
    if scan.blob_digest != digest {
        return Err(SourceError::BlobDigestMismatch {
            description: store.description.clone(),
            blob: member,
            expected: digest.to_string(),
            actual: scan.blob_digest,
        });
    }
    if scan.blob_size != descriptor.size() {
        return Err(SourceError::BlobSizeMismatch {
            description: store.description.clone(),
            blob: member,
            expected: descriptor.size(),
            actual: scan.blob_size,
        });
    }
    if !scan.uncaptured_links.is_empty() {
        let (file, _) = store.open_blob(&digest, referrer)?;
        recover_links_from(&mut scan, BufReader::new(file), limits, &member);
    }
    Ok(ScannedLayer {
        name: member,
        scan,
        media_type: Some(descriptor.media_type().to_string()),
        addressed_by_digest: true,
        pending: None,
    })
}

/// Reads a layer stored in a file a second time for the contents of hardlinks at wanted paths
/// ([`crate::layer::recover_links`]). A failure leaves the links without contents, with the
/// walk's warnings, and is logged.
pub(crate) fn recover_links_from(
    scan: &mut LayerScan,
    blob: impl std::io::Read,
    limits: &Limits,
    layer: &str,
) {
    if scan.uncaptured_links.is_empty() {
        return;
    }
    match crate::layer::recover_links(scan, blob, limits) {
        Ok(recovered) => tracing::debug!(layer, recovered, "read hardlink targets again"),
        Err(error) => tracing::warn!(
            layer,
            %error,
            "failed to read the layer again for its hardlink targets"
        ),
    }
}
