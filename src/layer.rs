//! The layer walk: reads one layer blob once, as a stream, and records its entries, its digests
//! and the contents of the files a cataloger asked for.
//!
//! A layer is never held in memory whole: only the captured file contents (each at most
//! [`Limits::max_captured_file`]), the small results of [`Extractor`]s and the entry metadata
//! are kept. The one thing written to disk is the data of a claimed file larger than
//! [`SPOOL_IN_MEMORY`], spooled to an anonymous temporary file while its extractors read it.
//! The sha256 passes run on a helper thread, and the chunks on their way to it take at most
//! [`HASH_QUEUE`] + 3 chunks of up to [`TAR_CHUNK`] bytes, about 4.8 MiB, because the hashing
//! thread hands finished chunks back for reuse.

use std::any::Any;
use std::cell::Cell;
use std::collections::HashMap;
use std::fmt;
use std::io::{self, Cursor, Read, Seek, SeekFrom, Write};
use std::rc::Rc;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};
use std::thread;

use sha2::{Digest as _, Sha256};
use tar::EntryType;

use crate::digest::Digest;
use crate::filesystem::{FileKind, normalize_path};
use crate::source::compression;
use crate::source::{Compression, Limits};

mod entries;
mod links;

pub use entries::{LayerEntries, LayerEntry, LayerEntryKind, NewEntry, TextFull};
pub use links::{UncapturedLink, recover_links};

/// The basename that marks a directory as opaque: lower layers' children are hidden.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// The basename prefix that deletes the lower path named by the rest of the basename.
pub const WHITEOUT_PREFIX: &str = ".wh.";
/// The basename prefix of aufs bookkeeping files (`.wh..wh.plnk`, `.wh..wh.aufs`), which are
/// not part of the image's file system.
const AUFS_META_PREFIX: &str = ".wh..wh.";

/// The size of a tar block. The archive ends with two zero blocks.
const TAR_BLOCK: u64 = 512;

/// A condition in a layer that does not stop the scan but loses information.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerWarning {
    pub path: String,
    pub message: String,
}

/// Everything the walk learned from one layer.
#[derive(Debug, Clone)]
pub struct LayerScan {
    /// sha256 of the uncompressed tar stream, end blocks and padding included.
    pub diff_id: Digest,
    /// sha256 of the blob bytes as read.
    pub blob_digest: Digest,
    pub blob_size: u64,
    pub uncompressed_size: u64,
    pub compression: Compression,
    /// Entries in archive order. A path may appear more than once, and the later entry wins.
    pub entries: LayerEntries,
    /// Captured contents of regular files, by normalised path, as of the last entry for a path.
    pub contents: HashMap<String, Arc<[u8]>>,
    /// Extractor results for regular files, by normalised path, as of the last entry for a path.
    pub extracts: HashMap<String, Extracts>,
    pub warnings: Vec<LayerWarning>,
    /// Hardlinks at wanted paths whose target's contents were not kept, for
    /// [`recover_links`].
    pub uncaptured_links: Vec<UncapturedLink>,
}

/// The reason a layer could not be read. The caller adds which layer it was.
#[derive(Debug, thiserror::Error)]
pub enum LayerError {
    #[error("failed to read the {compression} layer stream: {source}")]
    Read {
        compression: Compression,
        #[source]
        source: io::Error,
    },
    #[error("invalid tar entry {path:?}: {source}")]
    Entry {
        path: String,
        #[source]
        source: io::Error,
    },
    #[error(
        "the layer's tar stream ends after {size} bytes without the end-of-archive blocks, so it \
         is truncated"
    )]
    MissingEndOfArchive { size: u64 },
    #[error(
        "the layer's tar stream is larger than the limit of {limit} bytes, so it was rejected as \
         a possible decompression bomb; raise --max-layer-size if the image is genuine"
    )]
    TooLarge { limit: u64 },
    #[error(
        "the tar headers of one entry (GNU long name, long link name or PAX records) after \
         {path:?} are larger than the limit of {limit} bytes, so the layer was rejected as \
         hostile; raise --max-tar-header-size if the image is genuine"
    )]
    HeaderTooLarge { path: String, limit: u64 },
}

impl LayerError {
    /// Tells whether the layer passed a size limit (`--max-layer-size`,
    /// `--max-tar-header-size`) rather than being damaged.
    pub fn is_limit(&self) -> bool {
        matches!(self, Self::TooLarge { .. } | Self::HeaderTooLarge { .. })
    }
}

/// The number of leading bytes of a regular file that [`Extractor::claims`] receives.
pub const HEAD_LEN: usize = 64;
/// A claimed file up to this size is buffered in memory for its extractors. A larger one is
/// spooled to an anonymous temporary file, which the OS deletes when it is closed.
pub const SPOOL_IN_MEMORY: u64 = 16 * 1024 * 1024;
/// The largest file an extractor reads. A larger claimed file gets a failed [`Extract`] instead,
/// so the cataloger can report it.
pub const MAX_EXTRACTED_FILE: u64 = 4 * 1024 * 1024 * 1024;

/// A file's data with random access, as an extractor reads it.
pub trait FileData: Read + Seek {}

impl<T: Read + Seek> FileData for T {}

/// The result one extractor kept from one file: a value of its own type, or the reason it
/// failed.
pub type ExtractResult = Result<Arc<dyn Any + Send + Sync>, String>;

/// The result of one extractor for one file.
#[derive(Clone)]
pub struct Extract {
    /// The [`Extractor::name`] that produced it.
    pub extractor: &'static str,
    pub result: ExtractResult,
}

impl fmt::Debug for Extract {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_struct("Extract")
            .field("extractor", &self.extractor)
            .field("ok", &self.result.is_ok())
            .finish()
    }
}

/// The extractor results of one file, in extractor order.
pub type Extracts = Arc<[Extract]>;

/// Reads a small result out of a regular file that the layer walk streams by, for files that
/// are found by their first bytes or are too big to capture whole (jars, ELF binaries).
///
/// The walk buffers a claimed file (in memory up to [`SPOOL_IN_MEMORY`], in a temporary file
/// above it, never more than [`MAX_EXTRACTED_FILE`]) and hands it to every extractor that
/// claimed it. Only the returned result is kept, in [`LayerScan::extracts`].
pub trait Extractor: Send + Sync {
    /// Returns the name results are stored under, unique among extractors.
    fn name(&self) -> &'static str;

    /// Returns whether this extractor reads the regular file at `path`, whose first bytes are `head`
    /// (at most [`HEAD_LEN`], fewer for a short file). Called once per regular file per layer,
    /// so it must be cheap.
    fn claims(&self, path: &str, head: &[u8]) -> bool;

    /// Reads the claimed file of `size` bytes. Returns `None` when the file contains nothing for
    /// this extractor (an ELF file that is not a Go binary), or the result or failure to keep.
    fn extract(&self, path: &str, data: &mut dyn FileData, size: u64) -> Option<ExtractResult>;
}

/// The policy of what the layer walk keeps from the files it streams by: whole contents by
/// path, and extractor results for claimed files.
pub trait CapturePolicy {
    /// Returns whether the walk should capture the whole contents of the regular file at `path`.
    fn wants(&self, path: &str) -> bool;

    /// Returns the extractors that may claim files. Called once per layer.
    fn extractors(&self) -> Vec<&dyn Extractor> {
        Vec::new()
    }
}

/// Lets a path predicate serve as a policy that captures whole files and runs no extractor.
impl<F: Fn(&str) -> bool + ?Sized> CapturePolicy for F {
    fn wants(&self, path: &str) -> bool {
        self(path)
    }
}

/// The bytes of the tar stream handed to the hashing thread per message.
pub const TAR_CHUNK: usize = 256 * 1024;
/// The messages queued for the hashing thread before the walk waits for it.
pub const HASH_QUEUE: usize = 16;

/// Bytes for the hashing thread: from the blob as stored, or from the uncompressed tar stream.
enum HashInput {
    Blob(Vec<u8>),
    Tar(Arc<Vec<u8>>),
}

/// A running sha256 and byte count of one stream. It also tracks where the last non-zero byte
/// was, so the caller can check that the stream ended with zero blocks.
struct StreamHash {
    hasher: Sha256,
    count: u64,
    end_of_last_nonzero: u64,
}

impl StreamHash {
    fn new() -> Self {
        Self {
            hasher: Sha256::new(),
            count: 0,
            end_of_last_nonzero: 0,
        }
    }

    /// Returns whether the stream, read as a tar stream, ends with at least one zero block
    /// (an empty stream counts as ending well).
    fn ends_with_end_blocks(&self) -> bool {
        self.count == 0 || self.count - self.end_of_last_nonzero >= TAR_BLOCK
    }

    fn update(&mut self, chunk: &[u8]) {
        self.hasher.update(chunk);
        if let Some(last) = chunk.iter().rposition(|&byte| byte != 0) {
            self.end_of_last_nonzero = self.count + last as u64 + 1;
        }
        self.count += chunk.len() as u64;
    }
}

/// Hashes the messages until every sender is gone. Returns the blob and tar stream hashes.
/// Sends tar chunks that the walk has released back through `spare`, so the walk reuses their
/// buffers instead of allocating and zeroing new ones.
fn hash_inputs(
    inputs: Receiver<HashInput>,
    spare: SyncSender<Vec<u8>>,
) -> (StreamHash, StreamHash) {
    let mut blob = StreamHash::new();
    let mut tar = StreamHash::new();
    for input in inputs {
        match input {
            HashInput::Blob(chunk) => blob.update(&chunk),
            HashInput::Tar(chunk) => {
                tar.update(&chunk);
                if let Ok(buffer) = Arc::try_unwrap(chunk) {
                    let _ = spare.try_send(buffer);
                }
            }
        }
    }
    (blob, tar)
}

/// A reader that passes a copy of every byte of the compressed blob to the hashing thread.
struct BlobTap<R> {
    inner: R,
    hashes: Option<SyncSender<HashInput>>,
}

impl<R: Read> Read for BlobTap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        if let Some(hashes) = self.hashes.as_ref().filter(|_| read > 0) {
            // A closed channel means the hashing thread is gone, and joining it reports why.
            let _ = hashes.send(HashInput::Blob(buf[..read].to_vec()));
        }
        Ok(read)
    }
}

/// A reader over the uncompressed tar stream that reads it in chunks and shares each chunk
/// with the hashing thread, so the walk and the hashing run on different cores.
///
/// It also seeks forward, which lets the tar reader skip file data without copying it out: the
/// skipped bytes were already sent to the hashing thread with their chunk. Skipped bytes count
/// for the [`HeaderGuard`] as read ones do, so its offset stays the tar reader's.
struct TarTap<R> {
    inner: R,
    /// Chunks from the decoding thread of a compressed blob, read in place of `inner`.
    decoded: Option<Receiver<io::Result<Vec<u8>>>>,
    /// The hashing thread, or `None` when the caller hashes the tar stream itself.
    hashes: Option<SyncSender<HashInput>>,
    /// Buffers of chunks that the hashing thread has finished with.
    spare: Receiver<Vec<u8>>,
    /// Shared with the hashing thread, so a chunk is read once and never copied for hashing.
    chunk: Arc<Vec<u8>>,
    position: usize,
    /// Bytes of the tar stream taken from the decoder so far, and the most that may be.
    total: u64,
    max_total: u64,
    exceeded: bool,
    guard: Rc<HeaderGuard>,
}

/// The bound on the bytes the tar reader consumes between two entries: the headers, GNU long
/// names and PAX records of the next entry. The tar reader reads those into memory whole, so
/// without this bound one long-name entry of a decompression bomb could take gigabytes. The
/// outer tar of an image archive is bounded the same way.
#[derive(Default)]
pub(crate) struct HeaderGuard {
    /// Bytes of the tar stream handed to the tar reader so far.
    consumed: Cell<u64>,
    /// While the tar reader looks for the next entry, the stream offset it may not pass.
    budget_end: Cell<Option<u64>>,
    exceeded: Cell<bool>,
}

impl HeaderGuard {
    /// Allows the tar reader to consume `skipped` bytes of entry data it skips itself, the
    /// padding after them and then at most `max_header` bytes.
    pub(crate) fn open(&self, skipped: u64, max_header: u64) {
        let end = self
            .consumed
            .get()
            .saturating_add(skipped)
            .saturating_add(TAR_BLOCK)
            .saturating_add(max_header);
        self.budget_end.set(Some(end));
    }

    pub(crate) fn close(&self) {
        self.budget_end.set(None);
    }

    /// Returns whether a read passed the bound, so the error the tar reader returned is
    /// this guard's.
    pub(crate) fn exceeded(&self) -> bool {
        self.exceeded.get()
    }

    fn consume(&self, count: usize) -> io::Result<()> {
        self.consume_skipped(count as u64)
    }

    fn consume_skipped(&self, count: u64) -> io::Result<()> {
        let consumed = self.consumed.get().saturating_add(count);
        self.consumed.set(consumed);
        match self.budget_end.get() {
            Some(end) if consumed > end => {
                self.exceeded.set(true);
                Err(io::Error::other(
                    "the tar headers of an entry are too large",
                ))
            }
            _ => Ok(()),
        }
    }
}

/// A reader whose bytes a [`HeaderGuard`] counts.
pub(crate) struct Guarded<R> {
    pub(crate) inner: R,
    pub(crate) guard: Rc<HeaderGuard>,
}

impl<R: Read> Read for Guarded<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let count = self.inner.read(buf)?;
        self.guard.consume(count)?;
        Ok(count)
    }
}

/// Skips forward, counting the skipped bytes as read ones, so the tar reader can pass over
/// member data without reading it. Only `SeekFrom::Current` with a non-negative offset is
/// supported, which is all the tar reader asks for.
impl<R: Read + Seek> Seek for Guarded<R> {
    fn seek(&mut self, target: SeekFrom) -> io::Result<u64> {
        let delta = forward_delta(target)?;
        let position = self.inner.seek(SeekFrom::Current(delta as i64))?;
        self.guard.consume_skipped(delta)?;
        Ok(position)
    }
}

/// Returns the distance of a forward `SeekFrom::Current` seek, and an error for any other.
fn forward_delta(target: SeekFrom) -> io::Result<u64> {
    let SeekFrom::Current(delta) = target else {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the archive stream can only skip forward from the current position",
        ));
    };
    u64::try_from(delta).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            "the archive stream cannot seek backwards",
        )
    })
}

/// A stream that can skip forward by reading and dropping bytes, so a stream that cannot seek
/// (a daemon export, a pipe) passes through the same seeking tar reader as a file.
pub(crate) struct ForwardSeek<R> {
    inner: R,
    /// Bytes read or skipped so far.
    position: u64,
}

impl<R> ForwardSeek<R> {
    pub(crate) fn new(inner: R) -> Self {
        Self { inner, position: 0 }
    }
}

impl<R: Read> Read for ForwardSeek<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let count = self.inner.read(buf)?;
        self.position += count as u64;
        Ok(count)
    }
}

impl<R: Read> Seek for ForwardSeek<R> {
    fn seek(&mut self, target: SeekFrom) -> io::Result<u64> {
        let delta = forward_delta(target)?;
        let skipped = io::copy(&mut self.inner.by_ref().take(delta), &mut io::sink())?;
        self.position += skipped;
        if skipped < delta {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the archive ends inside a member's data",
            ));
        }
        Ok(self.position)
    }
}

/// A reader of `size` bytes of a file from `offset`, with positioned reads, so it shares no file
/// offset with other readers of the same file.
pub(crate) struct FileRange {
    file: Arc<std::fs::File>,
    position: u64,
    end: u64,
}

impl FileRange {
    pub(crate) fn new(file: Arc<std::fs::File>, offset: u64, size: u64) -> Self {
        Self {
            file,
            position: offset,
            end: offset.saturating_add(size),
        }
    }
}

impl Read for FileRange {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        use std::os::unix::fs::FileExt as _;

        let want = buf.len().min((self.end - self.position) as usize);
        if want == 0 {
            return Ok(0);
        }
        let read = self.file.read_at(&mut buf[..want], self.position)?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file ends inside the member's data",
            ));
        }
        self.position += read as u64;
        Ok(read)
    }
}

/// Returns the stream offset where the stored data of `entry` ends. Call it as soon as the tar
/// reader yields the entry, before any of its data is read: the guard's count is then the
/// offset where that data starts, after every header of the entry. A GNU sparse entry stores
/// fewer bytes than it reads as, and its stored size is the header's (or PAX) size field.
pub(crate) fn entry_data_end<R: Read>(entry: &mut tar::Entry<'_, R>, guard: &HeaderGuard) -> u64 {
    let stored = if entry.header().entry_type() == EntryType::GNUSparse {
        let pax_size = entry.pax_extensions().ok().flatten().and_then(|records| {
            records
                .flatten()
                .find(|record| record.key() == Ok("size"))
                .and_then(|record| record.value().ok()?.parse::<u64>().ok())
        });
        pax_size.unwrap_or_else(|| entry.header().entry_size().unwrap_or(0))
    } else {
        entry.size()
    };
    guard.consumed.get().saturating_add(stored)
}

/// Returns the bytes of an entry's stored data, which ends at `data_end`, that the walk left
/// unread. The tar reader skips them itself (by seeking, where the stream allows it) and
/// [`HeaderGuard::open`] allows for them. Counting from the offset rather than from the size
/// keeps the bound exact for an entry that a capture or an extractor's head check read in part.
pub(crate) fn finish_entry(guard: &HeaderGuard, data_end: u64) -> u64 {
    data_end.saturating_sub(guard.consumed.get())
}

impl<R: Read> TarTap<R> {
    fn new(
        inner: R,
        decoded: Option<Receiver<io::Result<Vec<u8>>>>,
        hashes: Option<SyncSender<HashInput>>,
        spare: Receiver<Vec<u8>>,
        max_total: u64,
    ) -> Self {
        Self {
            inner,
            decoded,
            hashes,
            spare,
            chunk: Arc::new(Vec::new()),
            position: 0,
            total: 0,
            max_total,
            exceeded: false,
            guard: Rc::new(HeaderGuard::default()),
        }
    }

    /// Reads the next chunk of up to [`TAR_CHUNK`] bytes and sends it to the hashing thread.
    /// Returns false at the end of the stream, and an error past `max_total`.
    fn next_chunk(&mut self) -> io::Result<bool> {
        let buffer = match &self.decoded {
            Some(decoded) => match decoded.recv() {
                Ok(chunk) => chunk?,
                // The decoding thread has sent the whole stream.
                Err(_) => Vec::new(),
            },
            None => {
                let mut buffer = self.spare.try_recv().unwrap_or_default();
                fill_chunk(&mut self.inner, &mut buffer, TAR_CHUNK)?;
                buffer
            }
        };
        let filled = buffer.len();
        if filled == 0 {
            return Ok(false);
        }
        self.total += filled as u64;
        if self.total > self.max_total {
            self.exceeded = true;
            return Err(io::Error::other(format!(
                "the tar stream is larger than {} bytes",
                self.max_total
            )));
        }
        self.chunk = Arc::new(buffer);
        self.position = 0;
        if let Some(hashes) = &self.hashes {
            let _ = hashes.send(HashInput::Tar(Arc::clone(&self.chunk)));
        }
        Ok(true)
    }
}

impl<R: Read> Read for TarTap<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.position == self.chunk.len() && !self.next_chunk()? {
            return Ok(0);
        }
        let count = buf.len().min(self.chunk.len() - self.position);
        buf[..count].copy_from_slice(&self.chunk[self.position..self.position + count]);
        self.position += count;
        self.guard.consume(count)?;
        Ok(count)
    }
}

impl<R: Read> Seek for TarTap<R> {
    /// Skips forward and returns the new offset. Only `SeekFrom::Current` with a non-negative
    /// offset is supported, which is all the tar reader asks for, and a skip past the end of
    /// the stream is an error.
    fn seek(&mut self, target: SeekFrom) -> io::Result<u64> {
        let SeekFrom::Current(delta) = target else {
            return Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "the layer stream can only skip forward from the current position",
            ));
        };
        let mut remaining = u64::try_from(delta).map_err(|_| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                "the layer stream cannot seek backwards",
            )
        })?;
        while remaining > 0 {
            if self.position == self.chunk.len() && !self.next_chunk()? {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "the tar stream ends inside an entry's data",
                ));
            }
            let step = remaining.min((self.chunk.len() - self.position) as u64);
            self.position += step as usize;
            self.guard.consume(step as usize)?;
            remaining -= step;
        }
        Ok(self.guard.consumed.get())
    }
}

/// Reads one layer blob (gzip, zstd or plain tar, detected from its first bytes) to its very
/// end, once, as a stream.
///
/// Every entry is recorded by its normalised path. A regular file's contents are captured when
/// `capture.wants(path)` is true and its size is at most `limits.max_captured_file`. Larger
/// wanted files get a warning instead. A regular file that an extractor of `capture` claims is
/// handed to that extractor, and its result is kept. Whiteout and opaque markers are recognised by name alone, because
/// `docker save` has written them with stale link names and types. A hardlink takes the kind,
/// size and captured contents of its target, which must come earlier in the same layer.
pub fn scan_layer<P: CapturePolicy + ?Sized>(
    reader: impl Read + Send,
    capture: &P,
    limits: &Limits,
) -> Result<LayerScan, LayerError> {
    scan(reader, capture, limits, true).map(|(scan, _)| scan)
}

/// Walks a layer like [`scan_layer`] but leaves the sha256 of an uncompressed tar stream to the
/// caller, who reads the same bytes from a file on another thread (see [`hash_file_range`]).
/// Returns the scan and whether its digests were computed. When they were not, `diff_id` and
/// `blob_digest` are the sha256 of no bytes, and the end-of-archive check is the caller's too.
/// A compressed layer is always hashed here, because only the walk reads its tar stream.
pub fn scan_layer_unhashed<P: CapturePolicy + ?Sized>(
    reader: impl Read + Send,
    capture: &P,
    limits: &Limits,
) -> Result<(LayerScan, bool), LayerError> {
    scan(reader, capture, limits, false)
}

fn scan<P: CapturePolicy + ?Sized>(
    mut reader: impl Read + Send,
    capture: &P,
    limits: &Limits,
    hash_plain: bool,
) -> Result<(LayerScan, bool), LayerError> {
    let prefix =
        compression::read_prefix(&mut reader, compression::MAGIC_LEN).map_err(|source| {
            LayerError::Read {
                compression: Compression::None,
                source,
            }
        })?;
    let compression = compression::detect(&prefix);
    let hashed = hash_plain || compression != Compression::None;
    let stored = Cursor::new(prefix).chain(reader);
    let wants = |path: &str| capture.wants(path);
    let mut walk = Walk {
        wants: &wants,
        extractors: capture.extractors(),
        limits,
        entries: LayerEntries::default(),
        contents: HashMap::new(),
        extracts: HashMap::new(),
        warnings: Vec::new(),
        uncaptured_links: Vec::new(),
        scratch: Vec::new(),
    };

    if !hashed {
        let total = walk_stream(&mut walk, stored, compression, None, None)?;
        walk.finish();
        let nothing = Digest::of(b"");
        let scan = LayerScan {
            diff_id: nothing.clone(),
            blob_digest: nothing,
            blob_size: total,
            uncompressed_size: total,
            compression,
            entries: walk.entries,
            contents: walk.contents,
            extracts: walk.extracts,
            warnings: walk.warnings,
            uncaptured_links: walk.uncaptured_links,
        };
        return Ok((scan, false));
    }

    // Both sha256 passes run on a second thread while this one decompresses and walks.
    let (walked, blob, tar) = thread::scope(|scope| {
        let (sender, receiver) = sync_channel(HASH_QUEUE);
        let (spare_sender, spare) = sync_channel(HASH_QUEUE);
        let hasher = scope.spawn(move || hash_inputs(receiver, spare_sender));
        let walked = walk_stream(&mut walk, stored, compression, Some(sender), Some(spare));
        let (blob, tar) = match hasher.join() {
            Ok(hashes) => hashes,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        (walked, blob, tar)
    });
    walked?;
    walk.finish();

    // NOTE: some tar readers take a clean stop after an entry, without end blocks, as the end
    // of the archive. Such a layer is rejected here as truncated, because a cut stream looks
    // the same.
    if !tar.ends_with_end_blocks() {
        return Err(LayerError::MissingEndOfArchive { size: tar.count });
    }
    let diff_id = Digest::from_hasher(tar.hasher);
    // An uncompressed blob is the tar stream itself, so it is hashed once.
    let (blob_digest, blob_size) = if compression == Compression::None {
        (diff_id.clone(), tar.count)
    } else {
        (Digest::from_hasher(blob.hasher), blob.count)
    };

    let scan = LayerScan {
        diff_id,
        blob_digest,
        blob_size,
        uncompressed_size: tar.count,
        compression,
        entries: walk.entries,
        contents: walk.contents,
        extracts: walk.extracts,
        warnings: walk.warnings,
        uncaptured_links: walk.uncaptured_links,
    };
    Ok((scan, true))
}

/// The sha256 of one byte range of a file, as [`hash_file_range`] computes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeDigest {
    pub digest: Digest,
    /// Bytes hashed.
    pub size: u64,
    /// Whether the range, read as a tar stream, ends with at least one zero block.
    pub ends_with_end_blocks: bool,
}

/// Hashes `size` bytes of `file` from `offset` with positioned reads, so it shares no file
/// offset with other readers of the same file. The layer walk of a `docker save` file uses it
/// to hash an uncompressed layer on another thread while the walk reads the same bytes.
pub fn hash_file_range(file: &std::fs::File, offset: u64, size: u64) -> io::Result<RangeDigest> {
    use std::os::unix::fs::FileExt as _;

    let mut hash = StreamHash::new();
    let mut buffer = vec![0; HASH_READ];
    while hash.count < size {
        let want = (size - hash.count).min(HASH_READ as u64) as usize;
        let read = file.read_at(&mut buffer[..want], offset + hash.count)?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                format!(
                    "the file ends after {} of the layer's {size} bytes",
                    hash.count
                ),
            ));
        }
        hash.update(&buffer[..read]);
    }
    Ok(RangeDigest {
        ends_with_end_blocks: hash.ends_with_end_blocks(),
        size: hash.count,
        digest: Digest::from_hasher(hash.hasher),
    })
}

/// The bytes [`hash_file_range`] reads at a time. It stays below the allocator's mmap threshold
/// (src/memory.rs), so each layer's buffer comes from the heap, not from fresh zeroed pages.
const HASH_READ: usize = 512 * 1024;

/// Decompresses `stored` and walks the tar stream to its very end, sending the bytes on both
/// sides of the decoder to the hashing thread.
/// Returns the bytes of the tar stream. Without `hashes`, nothing is hashed, which only an
/// uncompressed stream allows.
///
/// A compressed blob is decompressed on a thread of its own, which hands the tar stream to the
/// walk in chunks. The inflate of one gzip stream cannot be split, so it runs alone on its
/// core, and the walk and the hashing share the other.
fn walk_stream(
    walk: &mut Walk<'_>,
    stored: impl Read + Send,
    compression: Compression,
    hashes: Option<SyncSender<HashInput>>,
    spare: Option<Receiver<Vec<u8>>>,
) -> Result<u64, LayerError> {
    let read_error = |source| LayerError::Read {
        compression,
        source,
    };
    // Without a hashing thread no buffer comes back, so the receiver's sender is dropped here.
    let spare = spare.unwrap_or_else(|| sync_channel(1).1);
    let max_total = walk.limits.max_layer_size;
    if compression == Compression::None {
        let tar_stream = TarTap::new(stored, None, hashes, spare, max_total);
        return walk_tar(walk, tar_stream, compression);
    }
    thread::scope(|scope| {
        let (sender, receiver) = sync_channel(DECODED_QUEUE);
        let blob_hashes = hashes.clone();
        let decoder =
            scope.spawn(move || decode_chunks(stored, compression, blob_hashes, spare, sender));
        // The decoding thread gets the buffers back from the hashing thread, so this side
        // never allocates one.
        let tar_stream = TarTap::new(
            io::empty(),
            Some(receiver),
            hashes,
            sync_channel(1).1,
            max_total,
        );
        // Returning drops the receiver, which stops the decoding thread if the walk failed.
        let walked = walk_tar(walk, tar_stream, compression);
        let decoded = match decoder.join() {
            Ok(decoded) => decoded,
            Err(panic) => std::panic::resume_unwind(panic),
        };
        let total = walked?;
        decoded.map_err(read_error)?;
        Ok(total)
    })
}

/// Walks the tar stream of `tar_stream` and reads it to its end. Returns its size.
fn walk_tar<R: Read>(
    walk: &mut Walk<'_>,
    mut tar_stream: TarTap<R>,
    compression: Compression,
) -> Result<u64, LayerError> {
    let read_error = |source| LayerError::Read {
        compression,
        source,
    };
    let guard = Rc::clone(&tar_stream.guard);
    let mut walked = walk.read_entries(&mut tar_stream, &guard, compression);
    // The diffID covers everything after the last entry too: the end blocks and the padding
    // up to the record size.
    if walked.is_ok() {
        walked = io::copy(&mut tar_stream, &mut io::sink())
            .map(drop)
            .map_err(read_error);
    }
    // The tar reader may wrap or replace the tap's error, so the flag decides the variant.
    if tar_stream.exceeded {
        return Err(LayerError::TooLarge {
            limit: tar_stream.max_total,
        });
    }
    if guard.exceeded() {
        return Err(LayerError::HeaderTooLarge {
            path: walk.entries.last().map_or_else(
                || "the start of the layer".to_owned(),
                |e| shorten(&e.path.to_string()),
            ),
            limit: walk.limits.max_tar_header,
        });
    }
    walked?;
    Ok(tar_stream.total)
}

/// Chunks of decompressed tar stream that the decoding thread may be ahead of the walk.
const DECODED_QUEUE: usize = 4;

/// Decompresses a compressed blob on the decoding thread and sends the tar stream to `chunks`
/// in chunks of [`TAR_CHUNK`] bytes, or a decoding error in their place. It stops early once
/// the walk drops `chunks`.
///
/// After the compressed stream, the blob is read to its end, because trailing bytes still
/// belong to the blob and its digest. The error of that read is returned.
fn decode_chunks(
    stored: impl Read,
    compression: Compression,
    hashes: Option<SyncSender<HashInput>>,
    spare: Receiver<Vec<u8>>,
    chunks: SyncSender<io::Result<Vec<u8>>>,
) -> io::Result<()> {
    let mut blob = BlobTap {
        inner: stored,
        hashes,
    };
    {
        let mut decoded = match compression::decoder(compression, &mut blob) {
            Ok(decoded) => decoded,
            Err(error) => {
                let _ = chunks.send(Err(error));
                return Ok(());
            }
        };
        loop {
            let mut buffer = spare.try_recv().unwrap_or_default();
            match fill_chunk(&mut decoded, &mut buffer, TAR_CHUNK) {
                Ok(0) => break,
                Ok(_) => {}
                Err(error) => {
                    let _ = chunks.send(Err(error));
                    return Ok(());
                }
            }
            if chunks.send(Ok(buffer)).is_err() {
                // The walk has stopped and reports why.
                return Ok(());
            }
        }
    }
    drop(chunks);
    io::copy(&mut blob, &mut io::sink()).map(drop)
}

/// Reads up to `size` bytes of `reader` into `buffer`, reusing its allocation, and returns
/// the bytes read: 0 at the end of the stream. A reused buffer is already initialised, so
/// only what a shorter chunk left is zeroed.
pub(crate) fn fill_chunk(
    reader: &mut impl Read,
    buffer: &mut Vec<u8>,
    size: usize,
) -> io::Result<usize> {
    buffer.resize(size, 0);
    let mut filled = 0;
    while filled < size {
        match reader.read(&mut buffer[filled..]) {
            Ok(0) => break,
            Ok(read) => filled += read,
            Err(error) if error.kind() == io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    buffer.truncate(filled);
    Ok(filled)
}

/// The state of one layer walk.
struct Walk<'a> {
    wants: &'a dyn Fn(&str) -> bool,
    extractors: Vec<&'a dyn Extractor>,
    limits: &'a Limits,
    entries: LayerEntries,
    contents: HashMap<String, Arc<[u8]>>,
    extracts: HashMap<String, Extracts>,
    warnings: Vec<LayerWarning>,
    uncaptured_links: Vec<UncapturedLink>,
    /// The buffer a claimed file is read into for its extractors, kept between files. It
    /// contains at most [`SPOOL_IN_MEMORY`] bytes.
    scratch: Vec<u8>,
}

impl Walk<'_> {
    /// Frees what only the walk needed. A layer's entries are kept until every layer is read,
    /// so their lookup tables and the room a growing vector keeps spare (up to half of it) are
    /// given back here.
    fn finish(&mut self) {
        self.entries.finish();
    }

    fn read_entries(
        &mut self,
        stream: &mut (impl Read + Seek),
        guard: &HeaderGuard,
        compression: Compression,
    ) -> Result<(), LayerError> {
        let read_error = |source| LayerError::Read {
            compression,
            source,
        };
        let mut archive = tar::Archive::new(stream);
        let mut entries = archive.entries_with_seek().map_err(read_error)?;
        // Entry data the tar reader skips itself, rather than this walk reading it.
        let mut skipped = 0;
        loop {
            guard.open(skipped, self.limits.max_tar_header);
            let next = entries.next();
            guard.close();
            let Some(entry) = next else {
                return Ok(());
            };
            let mut entry = entry.map_err(read_error)?;
            let data_end = entry_data_end(&mut entry, guard);
            self.record(&mut entry)?;
            skipped = finish_entry(guard, data_end);
        }
    }

    fn record<R: Read>(&mut self, entry: &mut tar::Entry<'_, R>) -> Result<(), LayerError> {
        let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let header = entry.header();
        // Empty or garbled numeric fields read as 0 instead of failing the layer, so the
        // entry's name and contents stay usable.
        let mode = header.mode().unwrap_or(0) & 0o7777;
        let uid = header.uid().unwrap_or(0);
        let gid = header.gid().unwrap_or(0);
        let entry_type = header.entry_type();
        let size = entry.size();

        // The root directory itself carries nothing the squashed tree needs.
        let Some(path) = normalize_path(&raw_path) else {
            return Ok(());
        };
        let (parent, name) = split_parent(&path);
        if name == OPAQUE_MARKER {
            let directory = if parent.is_empty() { "/" } else { parent };
            return self.push_marker(directory, LayerEntryKind::OpaqueDirectory, mode, uid, gid);
        }
        if name.starts_with(AUFS_META_PREFIX) {
            return Ok(());
        }
        if let Some(deleted) = name.strip_prefix(WHITEOUT_PREFIX) {
            // A bare `.wh.` names nothing. Reading it as its directory would let one entry
            // delete a whole subtree, or the root.
            if deleted.is_empty() {
                self.warnings.push(LayerWarning {
                    path,
                    message: "whiteout without a name, ignored".to_owned(),
                });
                return Ok(());
            }
            let deleted = format!("{parent}/{deleted}");
            return self.push_marker(&deleted, LayerEntryKind::Whiteout, mode, uid, gid);
        }

        let kind = match entry_type {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse => FileKind::Regular,
            EntryType::Directory => FileKind::Directory,
            EntryType::Symlink => {
                let target = entry.link_name_bytes().unwrap_or_default();
                FileKind::Symlink(String::from_utf8_lossy(&target).into_owned())
            }
            EntryType::Char => FileKind::CharDevice,
            EntryType::Block => FileKind::BlockDevice,
            EntryType::Fifo => FileKind::Fifo,
            EntryType::Link => {
                let target = entry.link_name_bytes().unwrap_or_default();
                let target = String::from_utf8_lossy(&target).into_owned();
                return self.push_hardlink(path, &target, mode, uid, gid);
            }
            // PAX global headers and unknown types describe no file.
            _ => return Ok(()),
        };

        if kind == FileKind::Regular {
            self.capture(entry, &path, size)
                .map_err(|source| LayerError::Entry {
                    path: raw_path.clone(),
                    source,
                })?;
        } else {
            self.contents.remove(&path);
            self.extracts.remove(&path);
        }
        self.push(NewEntry {
            mode,
            size,
            uid,
            gid,
            ..NewEntry::file(&path, &kind)
        })
    }

    /// Reads the entry's data when a cataloger wants it and it fits the limit, and runs the
    /// extractors that claim it. Data not read here is skipped by the tar reader without being
    /// stored.
    fn capture(&mut self, data: &mut impl Read, path: &str, size: u64) -> io::Result<()> {
        self.contents.remove(path);
        self.extracts.remove(path);
        let mut keep_whole = (self.wants)(path);
        if keep_whole && size > self.limits.max_captured_file {
            self.warnings.push(LayerWarning {
                path: path.to_owned(),
                message: format!(
                    "file of {size} bytes is larger than the capture limit of {} bytes, so its \
                     contents were not read",
                    self.limits.max_captured_file
                ),
            });
            keep_whole = false;
        }
        if !keep_whole && self.extractors.is_empty() {
            return Ok(());
        }

        let mut head = Vec::with_capacity(HEAD_LEN);
        data.by_ref()
            .take(size.min(HEAD_LEN as u64))
            .read_to_end(&mut head)?;
        let claimed: Vec<&dyn Extractor> = self
            .extractors
            .iter()
            .copied()
            .filter(|extractor| extractor.claims(path, &head))
            .collect();
        if keep_whole {
            let mut bytes = head;
            bytes.reserve(size as usize - bytes.len());
            data.by_ref()
                .take(size - bytes.len() as u64)
                .read_to_end(&mut bytes)?;
            if !claimed.is_empty() {
                let results = run_extractors(&claimed, path, &mut Cursor::new(&bytes[..]), size);
                self.keep_extracts(path, results);
            }
            self.contents.insert(path.to_owned(), Arc::from(bytes));
            return Ok(());
        }
        if claimed.is_empty() {
            return Ok(());
        }
        if size > MAX_EXTRACTED_FILE {
            let reason = format!(
                "file of {size} bytes is larger than the extraction limit of \
                 {MAX_EXTRACTED_FILE} bytes, so it was not read"
            );
            let results = claimed
                .iter()
                .map(|extractor| Extract {
                    extractor: extractor.name(),
                    result: Err(reason.clone()),
                })
                .collect();
            self.keep_extracts(path, results);
            return Ok(());
        }
        let results = if size <= SPOOL_IN_MEMORY {
            // The buffer is reused from file to file: most claimed files are ELF binaries that
            // no extractor keeps anything of, and a new buffer for each would cost page faults
            // and zeroing for every one of them.
            let mut bytes = std::mem::take(&mut self.scratch);
            bytes.clear();
            bytes.extend_from_slice(&head);
            bytes.reserve(size as usize - bytes.len());
            let read = data
                .by_ref()
                .take(size - bytes.len() as u64)
                .read_to_end(&mut bytes);
            let results =
                read.map(|_| run_extractors(&claimed, path, &mut Cursor::new(&bytes[..]), size));
            self.scratch = bytes;
            results?
        } else {
            match spool_to_file(&head, data, size)? {
                Ok(spool) => {
                    let mut spool = io::BufReader::with_capacity(64 * 1024, spool);
                    run_extractors(&claimed, path, &mut spool, size)
                }
                Err(reason) => claimed
                    .iter()
                    .map(|extractor| Extract {
                        extractor: extractor.name(),
                        result: Err(reason.clone()),
                    })
                    .collect(),
            }
        };
        self.keep_extracts(path, results);
        Ok(())
    }

    fn keep_extracts(&mut self, path: &str, results: Vec<Extract>) {
        if !results.is_empty() {
            self.extracts.insert(path.to_owned(), Arc::from(results));
        }
    }

    fn push_hardlink(
        &mut self,
        path: String,
        raw_target: &str,
        mode: u32,
        uid: u64,
        gid: u64,
    ) -> Result<(), LayerError> {
        let target = normalize_link_target(raw_target);
        let found = self
            .latest_entry(&target)
            .and_then(|entry| Some((entry.file_kind()?, entry.size)))
            .filter(|(kind, _)| *kind != FileKind::Directory);
        let Some((kind, size)) = found else {
            self.contents.remove(&path);
            self.extracts.remove(&path);
            self.warnings.push(LayerWarning {
                path: path.clone(),
                message: format!(
                    "hardlink target {target} is not an earlier file in the same layer, so \
                     the link is recorded as an empty regular file"
                ),
            });
            return self.push(NewEntry {
                mode,
                uid,
                gid,
                hardlink_to: Some(&target),
                ..NewEntry::file(&path, &FileKind::Regular)
            });
        };
        match self.extracts.get(&target).cloned() {
            Some(results) => {
                self.extracts.insert(path.clone(), results);
            }
            None => {
                self.extracts.remove(&path);
            }
        }
        match self.contents.get(&target).cloned() {
            Some(bytes) => {
                self.contents.insert(path.clone(), bytes);
            }
            None => {
                self.contents.remove(&path);
                if kind == FileKind::Regular && (self.wants)(&path) {
                    let link = UncapturedLink {
                        link: path.clone(),
                        chain: self.link_chain(&target),
                    };
                    self.warnings.push(link.warning());
                    self.uncaptured_links.push(link);
                }
            }
        }
        self.push(NewEntry {
            mode,
            size,
            uid,
            gid,
            hardlink_to: Some(&target),
            ..NewEntry::file(&path, &kind)
        })
    }

    fn push_marker(
        &mut self,
        path: &str,
        kind: LayerEntryKind,
        mode: u32,
        uid: u64,
        gid: u64,
    ) -> Result<(), LayerError> {
        let entry = NewEntry {
            kind,
            mode,
            uid,
            gid,
            ..NewEntry::file(path, &FileKind::Regular)
        };
        self.entries
            .push(entry)
            .map(drop)
            .map_err(|full| entry_error(path, full))
    }

    /// Returns the latest file entry at `path` so far.
    fn latest_entry(&self, path: &str) -> Option<LayerEntry<'_>> {
        self.entries.latest(path)
    }

    /// Returns `target`, then its own hardlink target while the latest entry there is a
    /// hardlink, and so on. Each link names an earlier entry, so the chain ends; the bound only
    /// guards against a bug.
    fn link_chain(&self, target: &str) -> Vec<String> {
        let mut chain = vec![target.to_owned()];
        while chain.len() < 64 {
            let last = chain.last().map(String::as_str).unwrap_or_default();
            match self.latest_entry(last).and_then(|entry| entry.hardlink_to) {
                Some(next) if !chain.iter().any(|seen| seen == next) => {
                    chain.push(next.to_owned());
                }
                _ => break,
            }
        }
        chain
    }

    /// Appends a file entry and makes it the latest entry for its path.
    fn push(&mut self, entry: NewEntry<'_>) -> Result<(), LayerError> {
        self.entries
            .push_latest(entry)
            .map_err(|full| entry_error(entry.path, full))
    }
}

/// Normalises a hardlink's target as the walk does: the root for a target that names nothing.
fn normalize_link_target(raw: &str) -> String {
    normalize_path(raw).unwrap_or_else(|| "/".to_owned())
}

/// Builds the error for an entry that did not fit in the layer's entry list.
fn entry_error(path: &str, full: TextFull) -> LayerError {
    LayerError::Entry {
        path: path.to_owned(),
        source: io::Error::new(io::ErrorKind::OutOfMemory, full),
    }
}

/// Copies a claimed file (its `head`, already read, then the rest of `data`) to an anonymous
/// temporary file. A failure to read `data` is an error of the layer. A failure to write the
/// temporary file (a full disk, for instance) is returned as the inner error, so only this
/// file is lost and the tar reader skips the rest of its data.
fn spool_to_file(
    head: &[u8],
    data: &mut impl Read,
    size: u64,
) -> io::Result<Result<std::fs::File, String>> {
    let spool_error = |error: io::Error| {
        format!("failed to write the file to a temporary file for reading: {error}")
    };
    let mut spool = match tempfile::tempfile() {
        Ok(spool) => spool,
        Err(error) => return Ok(Err(spool_error(error))),
    };
    if let Err(error) = spool.write_all(head) {
        return Ok(Err(spool_error(error)));
    }
    let mut remaining = size - head.len() as u64;
    let mut buffer = vec![0; 256 * 1024];
    while remaining > 0 {
        let chunk = buffer.len().min(remaining as usize);
        let read = data.read(&mut buffer[..chunk])?;
        if read == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the tar entry ends before its declared size",
            ));
        }
        if let Err(error) = spool.write_all(&buffer[..read]) {
            return Ok(Err(spool_error(error)));
        }
        remaining -= read as u64;
    }
    Ok(Ok(spool))
}

/// Runs each claiming extractor over `data` from its start. An extractor that panics loses its
/// result for this file only, and the failure is kept as its result.
fn run_extractors(
    claimed: &[&dyn Extractor],
    path: &str,
    data: &mut dyn FileData,
    size: u64,
) -> Vec<Extract> {
    let mut results = Vec::new();
    for extractor in claimed {
        let outcome = data
            .seek(SeekFrom::Start(0))
            .map_err(|error| error.to_string());
        let result = match outcome {
            Ok(_) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                extractor.extract(path, &mut *data, size)
            }))
            .unwrap_or_else(|_| Some(Err("internal error while reading the file".to_owned()))),
            Err(error) => Some(Err(format!("failed to rewind the buffered file: {error}"))),
        };
        if let Some(result) = result {
            results.push(Extract {
                extractor: extractor.name(),
                result,
            });
        }
    }
    results
}

/// Returns `name` cut to at most 200 characters, for messages: a hostile tar can carry
/// names of a megabyte.
pub(crate) fn shorten(name: &str) -> String {
    const MAX_CHARS: usize = 200;
    match name.char_indices().nth(MAX_CHARS) {
        Some((end, _)) => format!("{}… ({} bytes in all)", &name[..end], name.len()),
        None => name.to_owned(),
    }
}

/// Splits a normalised path into its parent (empty for a top-level name) and basename.
fn split_parent(path: &str) -> (&str, &str) {
    match path.rfind('/') {
        Some(index) => (&path[..index], &path[index + 1..]),
        None => ("", path),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a plain tar: a file larger than several chunks that no cataloger wants, then a
    /// small wanted file, so the walk has to skip across chunk boundaries before capturing.
    fn tar_with_skipped_file(skipped_size: usize) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        let large: Vec<u8> = (0..skipped_size).map(|index| (index % 251) as u8).collect();
        let mut header = tar::Header::new_gnu();
        header.set_size(large.len() as u64);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, "opt/large.bin", &large[..])
            .unwrap();
        let mut header = tar::Header::new_gnu();
        header.set_size(6);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, "etc/wanted", &b"kept!\n"[..])
            .unwrap();
        builder.into_inner().unwrap()
    }

    #[test]
    fn skip_across_chunks_keeps_capture_and_digest() {
        let tar = tar_with_skipped_file(3 * TAR_CHUNK + 1000);
        let scan = scan_layer(
            &tar[..],
            &|path: &str| path == "/etc/wanted",
            &Limits::default(),
        )
        .unwrap();

        assert_eq!(scan.diff_id, Digest::of(&tar));
        assert_eq!(scan.uncompressed_size, tar.len() as u64);
        assert_eq!(
            scan.contents.get("/etc/wanted").map(|bytes| &bytes[..]),
            Some(&b"kept!\n"[..])
        );
        assert!(!scan.contents.contains_key("/opt/large.bin"));
        let sizes: Vec<(String, u64)> = scan
            .entries
            .iter()
            .map(|entry| (entry.path.to_string(), entry.size))
            .collect();
        assert_eq!(
            sizes,
            [
                ("/opt/large.bin".to_owned(), 3 * TAR_CHUNK as u64 + 1000),
                ("/etc/wanted".to_owned(), 6)
            ]
        );
    }

    #[test]
    fn stream_cut_inside_skipped_data_fails() {
        let tar = tar_with_skipped_file(3 * TAR_CHUNK + 1000);
        let cut = &tar[..2 * TAR_CHUNK];
        let error =
            scan_layer(cut, &|path: &str| path == "/etc/wanted", &Limits::default()).unwrap_err();

        assert!(
            matches!(error, LayerError::Read { .. }),
            "expected a read error, got {error:?}"
        );
        assert!(
            error.to_string().contains("ends inside an entry's data"),
            "unexpected message: {error}"
        );
    }

    #[test]
    fn gzip_layer_skip_matches_plain_digests() {
        let tar = tar_with_skipped_file(2 * TAR_CHUNK);
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut encoder, &tar).unwrap();
        let blob = encoder.finish().unwrap();
        let scan = scan_layer(
            &blob[..],
            &|path: &str| path == "/etc/wanted",
            &Limits::default(),
        )
        .unwrap();

        assert_eq!(scan.compression, Compression::Gzip);
        assert_eq!(scan.diff_id, Digest::of(&tar));
        assert_eq!(scan.blob_digest, Digest::of(&blob));
        assert_eq!(scan.blob_size, blob.len() as u64);
        assert_eq!(
            scan.contents.get("/etc/wanted").map(|bytes| &bytes[..]),
            Some(&b"kept!\n"[..])
        );
    }

    #[test]
    fn file_range_hash_matches_walk() {
        let tar = tar_with_skipped_file(3 * TAR_CHUNK + 1000);
        let mut file = tempfile::tempfile().unwrap();
        let junk = [0xAB; 777];
        file.write_all(&junk).unwrap();
        file.write_all(&tar).unwrap();
        file.write_all(&junk).unwrap();

        let hashed = hash_file_range(&file, junk.len() as u64, tar.len() as u64).unwrap();
        let walked = scan_layer(&tar[..], &|_: &str| false, &Limits::default()).unwrap();
        assert_eq!(hashed.digest, walked.diff_id);
        assert_eq!(hashed.size, tar.len() as u64);
        assert!(hashed.ends_with_end_blocks);

        let without_end = hash_file_range(&file, junk.len() as u64, tar.len() as u64 - 1024);
        assert!(!without_end.unwrap().ends_with_end_blocks);

        let past_end = hash_file_range(&file, junk.len() as u64, tar.len() as u64 + 1000);
        let error = past_end.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::UnexpectedEof);
    }

    #[test]
    fn unhashed_scan_matches_hashed() {
        let tar = tar_with_skipped_file(2 * TAR_CHUNK);
        let wanted = |path: &str| path == "/etc/wanted";
        let (unhashed, computed) =
            scan_layer_unhashed(&tar[..], &wanted, &Limits::default()).unwrap();
        let hashed = scan_layer(&tar[..], &wanted, &Limits::default()).unwrap();

        assert!(!computed);
        assert_eq!(unhashed.diff_id, Digest::of(b""));
        assert_eq!(unhashed.uncompressed_size, hashed.uncompressed_size);
        assert_eq!(unhashed.blob_size, hashed.blob_size);
        assert_eq!(unhashed.entries, hashed.entries);
        assert_eq!(unhashed.contents, hashed.contents);

        // A compressed stream is hashed by the walk even when the caller offers to hash it.
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut encoder, &tar).unwrap();
        let blob = encoder.finish().unwrap();
        let (gzip, computed) = scan_layer_unhashed(&blob[..], &wanted, &Limits::default()).unwrap();
        assert!(computed);
        assert_eq!(gzip.diff_id, Digest::of(&tar));
    }

    /// An extractor that reads every file's head and claims none, so each entry is left
    /// partly read for the tar reader to skip.
    struct HeadOnly;

    impl Extractor for HeadOnly {
        fn name(&self) -> &'static str {
            "head-only"
        }

        fn claims(&self, _path: &str, _head: &[u8]) -> bool {
            false
        }

        fn extract(&self, _: &str, _: &mut dyn FileData, _: u64) -> Option<ExtractResult> {
            None
        }
    }

    impl CapturePolicy for HeadOnly {
        fn wants(&self, _path: &str) -> bool {
            false
        }

        fn extractors(&self) -> Vec<&dyn Extractor> {
            vec![self]
        }
    }

    #[test]
    fn header_limit_is_exact_after_partly_read_entry() {
        // 20 blocks and a byte of data leave 511 bytes of padding, so the slack the guard
        // allows for padding is a single byte.
        let data: Vec<u8> = (0..20 * 512 + 1).map(|index| (index % 7) as u8).collect();
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_gnu();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, "opt/data.bin", &data[..])
            .unwrap();
        // A 1000-byte name takes a GNU long-name header, 1024 bytes of name data and the
        // entry's own header: 2048 bytes.
        let long_name = format!("opt/{}", "n".repeat(996));
        let mut header = tar::Header::new_gnu();
        header.set_size(3);
        header.set_mode(0o644);
        builder
            .append_data(&mut header, &long_name, &b"end"[..])
            .unwrap();
        let tar = builder.into_inner().unwrap();
        let limits = |max_tar_header| Limits {
            max_tar_header,
            ..Limits::default()
        };

        let scan = scan_layer(&tar[..], &HeadOnly, &limits(2047)).unwrap();
        assert_eq!(scan.diff_id, Digest::of(&tar));
        assert_eq!(scan.entries.len(), 2);
        assert_eq!(scan.entries.path(1).to_string(), format!("/{long_name}"));

        let error = scan_layer(&tar[..], &HeadOnly, &limits(2046)).unwrap_err();
        assert!(
            matches!(error, LayerError::HeaderTooLarge { limit: 2046, .. }),
            "expected the header limit, got {error:?}"
        );
    }
}
