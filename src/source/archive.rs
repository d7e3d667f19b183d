//! Tarball sources: `docker-archive` (`docker save` output, classic and the OCI-layout form
//! Docker 25+ writes) and `oci-archive` (a tar of an OCI image layout).
//!
//! Both are read in ONE sequential pass, so the same code serves a file and the export stream
//! of a Docker daemon. `docker save` puts manifest.json after the layers, so the pass cannot
//! know which layers it needs. It scans every member that looks like a layer as it streams by
//! and keeps small members (JSON documents) in memory. The image is picked at the end.
//!
//! A file is the one exception to the single pass. In `read_docker_archive_file_deferred`,
//! each uncompressed layer member is read by its worker and hashed by a pool, both with
//! positioned reads of the file. The pass seeks over the member (see `source::deferred`).
//!
//! Memory bound: at most [`MAX_LAYER_WORKERS`] layers are in flight. Each buffers at most
//! [`CHANNEL_CHUNKS`] + 3 chunks of [`CHUNK_SIZE`] bytes on its way in (2.75 MiB), because
//! used chunks come back for reuse, and the layer walk's hashing queue (4.8 MiB), so about
//! 15 MiB in all. Small members take at most
//! [`SMALL_MEMBER_BUDGET`] times `limits.max_json`. On top of that come the entry lists of
//! every layer scanned and the captured file contents.

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::{self, BufReader, Read, Seek};
use std::path::Path;
use std::rc::Rc;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread::{self, ScopedJoinHandle};

use oci_spec::image::{Descriptor, ImageIndex};
use serde::Deserialize;

use super::compression::read_prefix;
use super::deferred::{HashPool, PendingHash, PendingLayer};
use super::error::SourceError;
use super::oci::{
    self, BlobStore, ScannedLayer, assemble_image, blob_path, config_platform, list_or_none,
    normalize_reference, parse_json, platform_label, platform_matches, verify_blob,
};
use super::{Limits, Platform, RawManifest, SourceImage};
use crate::digest::Digest;
use crate::filesystem::normalize_path;
use crate::layer::CapturePolicy;
use crate::layer::{
    FileRange, ForwardSeek, Guarded, HeaderGuard, LayerError, LayerScan, entry_data_end,
    fill_chunk, finish_entry, scan_layer, scan_layer_unhashed, shorten,
};
use crate::source::oci::recover_links_from;

/// The maximum number of layers scanned at once while the archive streams by. Two keep both cores busy: one
/// finishes its buffered tail while the reader starts feeding the next.
pub const MAX_LAYER_WORKERS: usize = 2;
/// The bytes handed to a layer worker per message.
pub const CHUNK_SIZE: usize = 256 * 1024;
/// The messages buffered per layer worker before the reader waits.
pub const CHANNEL_CHUNKS: usize = 8;
/// How many times `limits.max_json` all small members together may take.
pub const SMALL_MEMBER_BUDGET: u64 = 8;
/// The bytes read from a member to decide whether it is a layer: enough to reach the `ustar`
/// magic of a tar header at offset 257.
const SNIFF_LEN: usize = 512;
/// The maximum number of descriptors followed while looking for the manifest of a Docker 25+
/// archive.
const MAX_DESCRIPTORS_VISITED: usize = 10_000;
/// Symlink chains between members longer than this are taken as a loop.
const MAX_MEMBER_LINKS: usize = 16;

/// Everything one pass over an archive kept.
struct ArchiveContents {
    description: String,
    /// Small members by normalised member path (no leading `/`).
    small: HashMap<String, Vec<u8>>,
    /// Sizes of every regular member.
    sizes: HashMap<String, u64>,
    /// Layer scans by member path. A failure is kept and reported only if the member is used.
    layers: HashMap<String, Result<LayerScan, LayerError>>,
    /// Symlink and hardlink members, to the member they point at.
    links: HashMap<String, String>,
    /// The digests of uncompressed layer members that a [`HashPool`] is computing, by member
    /// path. Their scans carry no digest.
    pending: HashMap<String, Arc<PendingHash>>,
    limits: Limits,
}

/// Checks whether the first bytes of a member are those of a layer: gzip, zstd or a POSIX tar
/// header.
fn looks_like_layer(prefix: &[u8]) -> bool {
    use super::Compression;
    super::compression::detect(prefix) != Compression::None
        || prefix.get(257..262) == Some(&b"ustar"[..])
}

/// Normalises a member name into a key, without the leading `/`.
fn member_key(raw: &str) -> String {
    normalize_path(raw)
        .map(|path| path.trim_start_matches('/').to_owned())
        .unwrap_or_default()
}

/// The reader side of a layer worker: the chunks the archive reader sends, in order.
struct ChunkReader {
    chunks: Receiver<io::Result<Vec<u8>>>,
    /// Buffers handed back to the archive reader for reuse, so it neither allocates nor zeroes
    /// a new one per chunk.
    spare: SyncSender<Vec<u8>>,
    current: Vec<u8>,
    position: usize,
}

impl Read for ChunkReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.position == self.current.len() {
            match self.chunks.recv() {
                Ok(Ok(chunk)) => {
                    let used = std::mem::replace(&mut self.current, chunk);
                    let _ = self.spare.try_send(used);
                    self.position = 0;
                }
                Ok(Err(error)) => return Err(error),
                // The sender is dropped after the member's last byte.
                Err(_) => return Ok(0),
            }
        }
        let count = buf.len().min(self.current.len() - self.position);
        buf[..count].copy_from_slice(&self.current[self.position..self.position + count]);
        self.position += count;
        Ok(count)
    }
}

/// A layer worker's result: the scan, and whether it computed the layer's digests.
type WorkerResult = Result<(LayerScan, bool), LayerError>;

type Worker<'scope> = (String, ScopedJoinHandle<'scope, WorkerResult>);

/// Reads every member of the archive once. See the module documentation for what is kept.
///
/// `hash_pool`, when given, reads the same file that `reader` reads from its start. Each
/// uncompressed layer member is then read by its worker straight from the file and hashed by
/// the pool, and this loop seeks over the member's data instead of reading it.
fn read_members(
    reader: impl Read + Seek,
    description: &str,
    wants: &(dyn CapturePolicy + Sync),
    limits: &Limits,
    hash_pool: Option<&HashPool>,
    stored: Option<&Arc<File>>,
) -> Result<ArchiveContents, SourceError> {
    let mut contents = ArchiveContents {
        description: description.to_owned(),
        small: HashMap::new(),
        sizes: HashMap::new(),
        layers: HashMap::new(),
        links: HashMap::new(),
        pending: HashMap::new(),
        limits: limits.clone(),
    };
    let small_budget = limits.max_json.saturating_mul(SMALL_MEMBER_BUDGET);
    let mut small_total = 0u64;

    thread::scope(|scope| {
        let mut workers: VecDeque<Worker<'_>> = VecDeque::new();
        let guard = Rc::new(HeaderGuard::default());
        let result = (|| {
            let mut archive = tar::Archive::new(Guarded {
                inner: reader,
                guard: Rc::clone(&guard),
            });
            let mut last_member = String::from("(start of archive)");
            let corrupt = |member: &str, source| SourceError::ArchiveCorrupt {
                description: description.to_owned(),
                member: member.to_owned(),
                source,
            };
            let too_large = |member: &str| SourceError::ArchiveHeaderTooLarge {
                description: description.to_owned(),
                member: shorten(member),
                limit: limits.max_tar_header,
            };
            let mut entries = archive
                .entries_with_seek()
                .map_err(|source| corrupt(&last_member, source))?;
            // Member data the tar reader skips itself, rather than this loop reading it.
            let mut skipped = 0;
            let mut members_read = 0u64;
            loop {
                guard.open(skipped, limits.max_tar_header);
                let next = entries.next();
                guard.close();
                let Some(entry) = next else {
                    break;
                };
                let mut entry = entry.map_err(|source| {
                    if guard.exceeded() {
                        too_large(&last_member)
                    } else if members_read == 0 {
                        // Not one member read: the file is no tar at all. The tar reader's
                        // message would quote its first bytes, which can be anything.
                        SourceError::NotAnArchive {
                            description: description.to_owned(),
                            reason: "its first 512 bytes are not a tar header".to_owned(),
                        }
                    } else {
                        corrupt(&last_member, source)
                    }
                })?;
                members_read += 1;
                let data_end = entry_data_end(&mut entry, &guard);
                let raw_name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
                let name = member_key(&raw_name);
                last_member = raw_name;
                match entry.header().entry_type() {
                    tar::EntryType::Symlink | tar::EntryType::Link => {
                        let is_symlink = entry.header().entry_type() == tar::EntryType::Symlink;
                        let target = entry.link_name_bytes().unwrap_or_default();
                        let target = String::from_utf8_lossy(&target).into_owned();
                        let resolved = if is_symlink && !target.starts_with('/') {
                            let parent = name.rsplit_once('/').map_or("", |(parent, _)| parent);
                            member_key(&format!("{parent}/{target}"))
                        } else {
                            member_key(&target)
                        };
                        contents.links.insert(name, resolved);
                    }
                    tar::EntryType::Regular | tar::EntryType::Continuous => {
                        let size = entry.size();
                        contents.sizes.insert(name.clone(), size);
                        let prefix = read_prefix(&mut entry, SNIFF_LEN)
                            .map_err(|source| corrupt(&last_member, source))?;
                        if looks_like_layer(&prefix) || size > limits.max_json {
                            while workers.len() >= MAX_LAYER_WORKERS {
                                if let Some((member, handle)) = workers.pop_front() {
                                    contents.finish_worker(member, handle);
                                }
                            }
                            // The pool hashes a plain tar member from the file, so the walk
                            // need not. A compressed member is hashed by its walk, which is
                            // the only reader of its decompressed stream.
                            let pool = hash_pool.filter(|_| is_plain_tar(&prefix));
                            if let Some(pool) = pool {
                                let offset = entry.raw_file_position();
                                contents
                                    .pending
                                    .insert(name.clone(), pool.submit(offset, size));
                                let member = FileRange::new(pool.file(), offset, size);
                                let again = FileRange::new(pool.file(), offset, size);
                                let layer = name.clone();
                                let handle = scope.spawn(move || {
                                    let mut scanned = scan_layer_unhashed(member, wants, limits);
                                    if let Ok((scan, _)) = &mut scanned {
                                        recover_links_from(scan, again, limits, &layer);
                                    }
                                    scanned
                                });
                                workers.push_back((name, handle));
                                skipped = finish_entry(&guard, data_end);
                                continue;
                            }
                            let (sender, receiver) = sync_channel(CHANNEL_CHUNKS);
                            let (spare_sender, spare) = sync_channel(CHANNEL_CHUNKS);
                            // A member of a file can be read again for hardlink targets; one of
                            // a stream cannot.
                            let again = stored.map(|file| {
                                FileRange::new(Arc::clone(file), entry.raw_file_position(), size)
                            });
                            let layer = name.clone();
                            let handle = scope.spawn(move || {
                                let reader = ChunkReader {
                                    chunks: receiver,
                                    spare: spare_sender,
                                    current: Vec::new(),
                                    position: 0,
                                };
                                let mut scanned = scan_layer(reader, wants, limits);
                                if let (Ok(scan), Some(again)) = (&mut scanned, again) {
                                    recover_links_from(scan, again, limits, &layer);
                                }
                                scanned.map(|scan| (scan, true))
                            });
                            workers.push_back((name, handle));
                            stream_member(&mut entry, prefix, size, &sender, &spare)
                                .map_err(|source| corrupt(&last_member, source))?;
                        } else {
                            small_total += size;
                            if small_total > small_budget {
                                return Err(SourceError::MetadataTooLarge {
                                    description: description.to_owned(),
                                    limit: small_budget,
                                });
                            }
                            let mut bytes = prefix;
                            entry
                                .read_to_end(&mut bytes)
                                .map_err(|source| corrupt(&last_member, source))?;
                            if (bytes.len() as u64) < size {
                                return Err(corrupt(
                                    &last_member,
                                    io::Error::new(
                                        io::ErrorKind::UnexpectedEof,
                                        "the member ends before its declared size",
                                    ),
                                ));
                            }
                            contents.small.insert(name, bytes);
                        }
                    }
                    _ => {}
                }
                // A layer worker that stopped early leaves the rest of its member unread.
                skipped = finish_entry(&guard, data_end);
            }
            Ok(())
        })();
        // Every sender is gone by now, so each worker reads the end of its member and finishes.
        for (member, handle) in workers {
            contents.finish_worker(member, handle);
        }
        result
    })?;
    Ok(contents)
}

/// Checks whether a member's first bytes are those of an uncompressed tar stream.
fn is_plain_tar(prefix: &[u8]) -> bool {
    super::compression::detect(prefix) == super::Compression::None
        && prefix.get(257..262) == Some(&b"ustar"[..])
}

impl ArchiveContents {
    /// Joins a layer worker and keeps its scan. A scan that computed its own digests needs no
    /// pending hash.
    fn finish_worker(&mut self, member: String, handle: ScopedJoinHandle<'_, WorkerResult>) {
        let result = match handle.join() {
            Ok(result) => result,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        let scan = result.map(|(scan, hashed)| {
            if hashed {
                self.pending.remove(&member);
            }
            scan
        });
        self.layers.insert(member, scan);
    }
}

/// Sends a member's bytes to its layer worker: the sniffed prefix, then the rest in chunks.
/// A worker that stopped early because its scan failed stops the sending, and the tar reader
/// skips the rest of the member. A member shorter than its header declares is an error for
/// both sides.
fn stream_member(
    entry: &mut impl Read,
    prefix: Vec<u8>,
    size: u64,
    sender: &SyncSender<io::Result<Vec<u8>>>,
    spare: &Receiver<Vec<u8>>,
) -> io::Result<()> {
    let mut sent = prefix.len() as u64;
    if sender.send(Ok(prefix)).is_err() {
        return Ok(());
    }
    loop {
        let mut chunk = spare.try_recv().unwrap_or_default();
        let read = fill_chunk(entry, &mut chunk, CHUNK_SIZE);
        match read {
            Ok(0) => break,
            Ok(count) => {
                sent += count as u64;
                if sender.send(Ok(chunk)).is_err() {
                    return Ok(());
                }
            }
            Err(error) => {
                let message = error.to_string();
                let _ = sender.send(Err(io::Error::new(error.kind(), message)));
                return Err(error);
            }
        }
    }
    if sent < size {
        let message = format!("the member ends after {sent} of its {size} bytes");
        let _ = sender.send(Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            message.clone(),
        )));
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, message));
    }
    Ok(())
}

impl ArchiveContents {
    /// Follows member symlinks and hardlinks to the member holding the bytes.
    fn resolve(&self, member: &str) -> String {
        let mut current = member_key(member);
        for _ in 0..MAX_MEMBER_LINKS {
            match self.links.get(&current) {
                Some(target) => current = target.clone(),
                None => break,
            }
        }
        current
    }

    fn missing(&self, member: &str, referrer: &str) -> SourceError {
        SourceError::MissingBlob {
            description: self.description.clone(),
            member: member.to_owned(),
            referrer: referrer.to_owned(),
        }
    }

    /// Looks up the bytes of a small member, or returns why they are unavailable.
    fn json_member(&self, member: &str, referrer: &str) -> Result<&[u8], SourceError> {
        let key = self.resolve(member);
        if let Some(bytes) = self.small.get(&key) {
            return Ok(bytes);
        }
        match self.sizes.get(&key) {
            Some(&size) if size > self.limits.max_json => Err(SourceError::JsonTooLarge {
                description: self.description.clone(),
                member: key,
                size,
                limit: self.limits.max_json,
            }),
            _ => Err(self.missing(&key, referrer)),
        }
    }

    /// Takes the scan of a layer member, scanning it now if it was small enough to be kept in
    /// memory (an empty layer is 1024 zero bytes, with no tar magic to recognise it by).
    /// `keep` leaves a copy for a later reference to the same member.
    fn take_layer(
        &mut self,
        member: &str,
        referrer: &str,
        keep: bool,
        wants: &dyn CapturePolicy,
    ) -> Result<(String, LayerScan, Option<Arc<PendingHash>>), SourceError> {
        let key = self.resolve(member);
        let corrupt = |source| SourceError::LayerCorrupt {
            description: self.description.clone(),
            layer: key.clone(),
            source,
        };
        let found = if keep {
            match self.layers.get(&key) {
                Some(Ok(scan)) => Some(Ok(scan.clone())),
                Some(Err(_)) => self.layers.remove(&key),
                None => None,
            }
        } else {
            self.layers.remove(&key)
        };
        let (scan, pending) = match found {
            Some(Ok(scan)) => (scan, self.pending.get(&key).cloned()),
            Some(Err(source)) => return Err(corrupt(source)),
            None => match self.small.get(&key) {
                Some(bytes) => {
                    let mut scan = scan_layer(&bytes[..], wants, &self.limits).map_err(corrupt)?;
                    recover_links_from(&mut scan, &bytes[..], &self.limits, &key);
                    (scan, None)
                }
                None => return Err(self.missing(&key, referrer)),
            },
        };
        Ok((key, scan, pending))
    }
}

/// Splits `blobs/sha256/<hex>` into its digest.
fn digest_of_blob_member(member: &str) -> Option<Digest> {
    member
        .strip_prefix("blobs/sha256/")
        .and_then(|hex| Digest::from_hex(hex).ok())
}

/// Parses the digest a member is named after: `blobs/sha256/<hex>`, or `<hex>.json` for a
/// classic `docker save` config.
fn digest_in_member_name(member: &str) -> Option<Digest> {
    digest_of_blob_member(member).or_else(|| {
        member
            .strip_suffix(".json")
            .filter(|hex| !hex.contains('/'))
            .and_then(|hex| Digest::from_hex(hex).ok())
    })
}

/// Looks up the bytes of a member and checks them against the digest in its name, if any.
fn verified_member<'a>(
    contents: &'a ArchiveContents,
    member: &str,
    referrer: &str,
) -> Result<&'a [u8], SourceError> {
    let bytes = contents.json_member(member, referrer)?;
    let key = contents.resolve(member);
    if let Some(digest) = digest_in_member_name(&key) {
        verify_blob(&contents.description, &key, &digest, bytes)?;
    }
    Ok(bytes)
}

impl BlobStore for ArchiveContents {
    fn description(&self) -> &str {
        &self.description
    }

    fn json_blob(&self, digest: &Digest, referrer: &str) -> Result<Vec<u8>, SourceError> {
        let member = blob_path(digest);
        let bytes = self.json_member(&member, referrer)?;
        verify_blob(&self.description, &member, digest, bytes)?;
        Ok(bytes.to_vec())
    }
}

/// One image in a `docker save` manifest.json.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SavedImage {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

impl SavedImage {
    fn tags(&self) -> &[String] {
        self.repo_tags.as_deref().unwrap_or_default()
    }

    /// Returns the tags, or the config member when the image is untagged.
    fn label(&self) -> String {
        if self.tags().is_empty() {
            self.config.clone()
        } else {
            self.tags().join(" ")
        }
    }

    /// Returns the image id, which is the sha256 of the config, as hex.
    fn id_hex(&self) -> Option<&str> {
        let file = self.config.rsplit('/').next()?;
        let hex = file.strip_suffix(".json").unwrap_or(file);
        Digest::from_hex(hex).ok().map(|_| hex)
    }

    fn matches(&self, reference: &str) -> bool {
        let normalized = normalize_reference(reference);
        if self
            .tags()
            .iter()
            .any(|tag| normalize_reference(tag) == normalized)
        {
            return true;
        }
        // An image id, full or abbreviated to at least 12 characters as `docker images` shows.
        let hex = reference.strip_prefix("sha256:").unwrap_or(reference);
        hex.len() >= 12 && self.id_hex().is_some_and(|id| id.starts_with(hex))
    }
}

/// Reads a `docker save` tarball, classic or OCI-layout form, in one sequential pass.
///
/// `reference` selects an image of a multi-image tarball by tag (with Docker's normalisation)
/// or by image id. `platform` narrows the choice by each config's os and architecture. The
/// classic form stores no manifest, so [`SourceImage::manifest`] is `None`; the OCI-layout form
/// gives the manifest blob that belongs to the selected config. Each layer's diffID is checked
/// against the config's `rootfs.diff_ids`.
pub fn read_docker_archive(
    reader: impl Read,
    description: String,
    reference: Option<&str>,
    platform: Option<&Platform>,
    wants: &(dyn CapturePolicy + Sync),
    limits: &Limits,
) -> Result<SourceImage, SourceError> {
    let contents = read_members(
        ForwardSeek::new(reader),
        &description,
        wants,
        limits,
        None,
        None,
    )?;
    docker_archive_image(contents, reference, platform, wants)
}

/// Picks the image of a `docker save` archive whose members are read.
fn docker_archive_image(
    mut contents: ArchiveContents,
    reference: Option<&str>,
    platform: Option<&Platform>,
    wants: &(dyn CapturePolicy + Sync),
) -> Result<SourceImage, SourceError> {
    let description = contents.description.clone();
    if !contents.small.contains_key("manifest.json") {
        if contents.small.contains_key("index.json") {
            return image_from_oci_layout(contents, reference, platform, wants);
        }
        return Err(not_an_archive(&contents, "it has no manifest.json"));
    }
    let manifest_json = contents.json_member("manifest.json", "the archive")?;
    let images: Vec<SavedImage> = parse_json(&description, "manifest.json", manifest_json)?;
    let chosen = choose_saved_image(&contents, images, reference, platform)?;

    let config = verified_member(&contents, &chosen.config, "manifest.json")?.to_vec();
    let (manifest, index) = match find_oci_manifest(&contents, &config)? {
        Some((manifest, index)) => (Some(manifest), index),
        None => (None, None),
    };
    let declared_media_types: Vec<String> = match &manifest {
        Some(raw) => parse_json::<oci_spec::image::ImageManifest>(
            &description,
            &blob_path(&raw.digest()),
            &raw.bytes,
        )?
        .layers()
        .iter()
        .map(|layer| layer.media_type().to_string())
        .collect(),
        None => Vec::new(),
    };

    let mut remaining_uses: HashMap<String, usize> = HashMap::new();
    for member in &chosen.layers {
        *remaining_uses.entry(contents.resolve(member)).or_default() += 1;
    }
    let mut layers = Vec::with_capacity(chosen.layers.len());
    for (index, member) in chosen.layers.iter().enumerate() {
        let key = contents.resolve(member);
        let uses = remaining_uses.entry(key.clone()).or_default();
        *uses = uses.saturating_sub(1);
        let keep = *uses > 0;
        let (name, scan, pending) = contents.take_layer(member, "manifest.json", keep, wants)?;
        let digest = digest_of_blob_member(&name);
        if let (Some(expected), None) = (&digest, &pending) {
            if &scan.blob_digest != expected {
                return Err(SourceError::BlobDigestMismatch {
                    description,
                    blob: name,
                    expected: expected.to_string(),
                    actual: scan.blob_digest,
                });
            }
        }
        layers.push(ScannedLayer {
            name,
            scan,
            media_type: declared_media_types.get(index).cloned(),
            addressed_by_digest: digest.is_some(),
            pending: pending.map(|hash| PendingLayer {
                hash,
                blob_digest: digest,
            }),
        });
    }
    assemble_image(
        description,
        manifest,
        index,
        config,
        chosen.tags().to_vec(),
        layers,
    )
}

/// Opens `path` and reads it with [`read_docker_archive`], described as `docker-archive:PATH`.
/// Every layer digest is checked before it returns.
pub fn read_docker_archive_file(
    path: &Path,
    reference: Option<&str>,
    platform: Option<&Platform>,
    wants: &(dyn CapturePolicy + Sync),
    limits: &Limits,
) -> Result<SourceImage, SourceError> {
    let image = read_docker_archive_file_deferred(path, reference, platform, wants, limits)?;
    image.verify()?;
    Ok(image)
}

/// Reads `path` like [`read_docker_archive_file`], but the sha256 of each uncompressed layer
/// is computed by other threads from the file while the layers are walked, and checked only
/// by [`SourceImage::verify`]. Until then the image's diffIDs are the config's. A caller
/// catalogs the image while the digests are computed, and must call `verify` before it
/// writes or sends anything derived from the image.
pub fn read_docker_archive_file_deferred(
    path: &Path,
    reference: Option<&str>,
    platform: Option<&Platform>,
    wants: &(dyn CapturePolicy + Sync),
    limits: &Limits,
) -> Result<SourceImage, SourceError> {
    let reader = open_archive(path)?;
    let description = format!("docker-archive:{}", path.display());
    let io_error = |source| SourceError::Io {
        path: path.to_owned(),
        source,
    };
    let hash_file = reader.get_ref().try_clone().map_err(io_error)?;
    let threads = thread::available_parallelism().map_or(1, usize::from);
    let pool = HashPool::new(hash_file, threads).map_err(io_error)?;
    let stored = pool.file();
    let contents = read_members(
        reader,
        &description,
        wants,
        limits,
        Some(&pool),
        Some(&stored),
    )?;
    docker_archive_image(contents, reference, platform, wants)
}

/// Reads a tar of an OCI image layout in one sequential pass. Blobs may come before or after
/// index.json. The image is selected as for `oci-dir`: by ref name and platform.
pub fn read_oci_archive(
    reader: impl Read,
    description: String,
    reference: Option<&str>,
    platform: Option<&Platform>,
    wants: &(dyn CapturePolicy + Sync),
    limits: &Limits,
) -> Result<SourceImage, SourceError> {
    read_oci_archive_stored(
        reader,
        description,
        reference,
        platform,
        wants,
        limits,
        None,
    )
}

/// Reads an OCI archive like [`read_oci_archive`]. `stored` is the file the archive is read
/// from, when there is one, so a layer can be read again for its hardlink targets.
fn read_oci_archive_stored(
    reader: impl Read,
    description: String,
    reference: Option<&str>,
    platform: Option<&Platform>,
    wants: &(dyn CapturePolicy + Sync),
    limits: &Limits,
    stored: Option<&Arc<File>>,
) -> Result<SourceImage, SourceError> {
    let contents = read_members(
        ForwardSeek::new(reader),
        &description,
        wants,
        limits,
        None,
        stored,
    )?;
    if !contents.small.contains_key("index.json") {
        return Err(not_an_archive(&contents, "it has no index.json"));
    }
    image_from_oci_layout(contents, reference, platform, wants)
}

/// Opens `path` and reads it with [`read_oci_archive`], described as `oci-archive:PATH`.
pub fn read_oci_archive_file(
    path: &Path,
    reference: Option<&str>,
    platform: Option<&Platform>,
    wants: &(dyn CapturePolicy + Sync),
    limits: &Limits,
) -> Result<SourceImage, SourceError> {
    let file = open_archive(path)?;
    let description = format!("oci-archive:{}", path.display());
    let stored = file
        .get_ref()
        .try_clone()
        .map_err(|source| SourceError::Io {
            path: path.to_owned(),
            source,
        })?;
    let stored = Arc::new(stored);
    read_oci_archive_stored(
        file,
        description,
        reference,
        platform,
        wants,
        limits,
        Some(&stored),
    )
}

fn open_archive(path: &Path) -> Result<BufReader<File>, SourceError> {
    match File::open(path) {
        Ok(file) => Ok(BufReader::with_capacity(CHUNK_SIZE, file)),
        Err(source) if source.kind() == io::ErrorKind::NotFound => Err(SourceError::NotFound {
            path: path.to_owned(),
        }),
        Err(source) => Err(SourceError::Io {
            path: path.to_owned(),
            source,
        }),
    }
}

fn not_an_archive(contents: &ArchiveContents, reason: &str) -> SourceError {
    let mut names: Vec<&str> = contents.sizes.keys().map(String::as_str).collect();
    names.sort_unstable();
    let first_names: Vec<String> = names.iter().take(5).map(|name| shorten(name)).collect();
    let listing = if first_names.is_empty() {
        "the tar has no files".to_owned()
    } else {
        format!("its first members are {}", first_names.join(", "))
    };
    SourceError::NotAnArchive {
        description: contents.description.clone(),
        reason: format!("{reason} ({listing})"),
    }
}

fn image_from_oci_layout(
    mut contents: ArchiveContents,
    reference: Option<&str>,
    platform: Option<&Platform>,
    wants: &dyn CapturePolicy,
) -> Result<SourceImage, SourceError> {
    let index_bytes = contents.json_member("index.json", "the archive")?.to_vec();
    let selected = oci::select_manifest(&contents, &index_bytes, reference, platform)?;
    let description = contents.description.clone();
    let descriptors = selected.parsed.layers().clone();
    let mut remaining_uses: HashMap<String, usize> = HashMap::new();
    for descriptor in &descriptors {
        let digest = oci::descriptor_digest(descriptor, &description)?;
        *remaining_uses.entry(blob_path(&digest)).or_default() += 1;
    }
    let manifest_member = blob_path(&selected.manifest.digest());
    let mut layers = Vec::with_capacity(descriptors.len());
    for descriptor in &descriptors {
        let digest = oci::descriptor_digest(descriptor, &description)?;
        let member = blob_path(&digest);
        let uses = remaining_uses.entry(member.clone()).or_default();
        *uses = uses.saturating_sub(1);
        let keep = *uses > 0;
        let (name, scan, pending) = contents.take_layer(&member, &manifest_member, keep, wants)?;
        if pending.is_none() && scan.blob_digest != digest {
            return Err(SourceError::BlobDigestMismatch {
                description,
                blob: name,
                expected: digest.to_string(),
                actual: scan.blob_digest,
            });
        }
        if scan.blob_size != descriptor.size() {
            return Err(SourceError::BlobSizeMismatch {
                description,
                blob: name,
                expected: descriptor.size(),
                actual: scan.blob_size,
            });
        }
        layers.push(ScannedLayer {
            name,
            scan,
            media_type: Some(descriptor.media_type().to_string()),
            addressed_by_digest: true,
            pending: pending.map(|hash| PendingLayer {
                hash,
                blob_digest: Some(digest),
            }),
        });
    }
    assemble_image(
        description,
        Some(selected.manifest),
        selected.index,
        selected.config,
        selected.repo_tags,
        layers,
    )
}

/// Picks the image of a `docker save` manifest.json by reference and platform.
fn choose_saved_image(
    contents: &ArchiveContents,
    images: Vec<SavedImage>,
    reference: Option<&str>,
    platform: Option<&Platform>,
) -> Result<SavedImage, SourceError> {
    let description = &contents.description;
    let all_labels = || list_or_none(images.iter().map(SavedImage::label));
    let mut candidates: Vec<usize> = match reference {
        Some(reference) => images
            .iter()
            .enumerate()
            .filter(|(_, image)| image.matches(reference))
            .map(|(index, _)| index)
            .collect(),
        None => (0..images.len()).collect(),
    };
    if candidates.is_empty() {
        return Err(match reference {
            Some(reference) => SourceError::ReferenceNotFound {
                description: description.clone(),
                reference: reference.to_owned(),
                choices: all_labels(),
            },
            None => not_an_archive(contents, "its manifest.json lists no image"),
        });
    }

    if let Some(requested) = platform {
        let mut labels = Vec::new();
        let mut matching = Vec::new();
        for &index in &candidates {
            let image = &images[index];
            let config = verified_member(contents, &image.config, "manifest.json")?;
            let actual = config_platform(description, &image.config, config)?;
            labels.push(format!("{} ({})", image.label(), platform_label(&actual)));
            if platform_matches(requested, &actual) {
                matching.push(index);
            }
        }
        if matching.is_empty() {
            return Err(SourceError::PlatformNotFound {
                description: description.clone(),
                platform: platform_label(requested),
                platforms: labels.join(", "),
            });
        }
        candidates = matching;
    }

    if candidates.len() > 1 {
        return Err(SourceError::AmbiguousReference {
            description: description.clone(),
            requested: reference.map_or_else(String::new, |r| format!(" by {r:?}")),
            choices: candidates
                .iter()
                .map(|&index| images[index].label())
                .collect::<Vec<_>>()
                .join(", "),
        });
    }
    let chosen = candidates[0];
    Ok(images
        .into_iter()
        .nth(chosen)
        .expect("candidate indexes come from the same list"))
}

/// Finds, in the OCI-layout form Docker 25+ writes, the manifest blob whose config is `config`,
/// with the inner index it is listed in, if any. Returns `None` for the classic form, which has
/// no manifest blobs.
fn find_oci_manifest(
    contents: &ArchiveContents,
    config: &[u8],
) -> Result<Option<(RawManifest, Option<RawManifest>)>, SourceError> {
    let Some(index_bytes) = contents.small.get("index.json") else {
        return Ok(None);
    };
    let config_digest = Digest::of(config).to_string();
    let index = parse_json::<ImageIndex>(&contents.description, "index.json", index_bytes)?;
    let mut pending: Vec<(Descriptor, Option<RawManifest>)> = index
        .manifests()
        .iter()
        .map(|descriptor| (descriptor.clone(), None))
        .collect();
    let mut visited = 0usize;
    while let Some((descriptor, via)) = pending.pop() {
        visited += 1;
        if visited > MAX_DESCRIPTORS_VISITED {
            break;
        }
        let Some(digest) = descriptor
            .as_digest_sha256()
            .and_then(|hex| Digest::from_hex(hex).ok())
        else {
            continue;
        };
        let member = blob_path(&digest);
        // Blobs for other platforms are often left out of the archive.
        let Some(bytes) = contents.small.get(&member) else {
            continue;
        };
        let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else {
            continue;
        };
        if let Some(children) = value.get("manifests") {
            verify_blob(&contents.description, &member, &digest, bytes)?;
            let raw = RawManifest {
                bytes: bytes.clone(),
                media_type: descriptor.media_type().to_string(),
            };
            if let Ok(children) = serde_json::from_value::<Vec<Descriptor>>(children.clone()) {
                pending.extend(children.into_iter().map(|child| (child, Some(raw.clone()))));
            }
            continue;
        }
        let listed_config = value
            .get("config")
            .and_then(|config| config.get("digest"))
            .and_then(serde_json::Value::as_str);
        if listed_config == Some(config_digest.as_str()) {
            verify_blob(&contents.description, &member, &digest, bytes)?;
            let manifest = RawManifest {
                bytes: bytes.clone(),
                media_type: descriptor.media_type().to_string(),
            };
            return Ok(Some((manifest, via)));
        }
    }
    Ok(None)
}
