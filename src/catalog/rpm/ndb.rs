//! rpm's ndb backend (`Packages.db`, used by SUSE): a slot table naming, for each package, the
//! 16-byte block where its blob starts. All numbers are little-endian.

use super::database::{BlobRead, DatabaseError};

const HEADER_MAGIC: &[u8; 4] = b"RpmP";
const SLOT_MAGIC: &[u8; 4] = b"Slot";
const BLOB_HEAD_MAGIC: &[u8; 4] = b"BlbS";
const SUPPORTED_VERSION: u32 = 0;
const HEADER_LENGTH: usize = 32;
const SLOT_LENGTH: usize = 16;
const SLOT_PAGE_LENGTH: usize = 4096;
const BLOCK_LENGTH: usize = 16;
const BLOB_HEAD_LENGTH: usize = 16;

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    let raw: [u8; 4] = bytes.get(at..at.checked_add(4)?)?.try_into().ok()?;
    Some(u32::from_le_bytes(raw))
}

fn invalid(reason: impl Into<String>) -> DatabaseError {
    DatabaseError::Ndb {
        reason: reason.into(),
    }
}

/// Reads every package blob the slot table of `bytes` points to.
pub fn read_blobs(bytes: &[u8]) -> BlobRead {
    if bytes.len() < HEADER_LENGTH || &bytes[..4] != HEADER_MAGIC {
        return BlobRead::failed(invalid("file does not start with the RpmP magic"));
    }
    let version = u32_at(bytes, 4).unwrap_or(u32::MAX);
    if version != SUPPORTED_VERSION {
        return BlobRead::failed(invalid(format!(
            "database version {version} is not supported, expected {SUPPORTED_VERSION}"
        )));
    }
    let slot_pages = u32_at(bytes, 12).unwrap_or(0) as usize;
    let slot_table_end = slot_pages.saturating_mul(SLOT_PAGE_LENGTH);
    let mut read = BlobRead::default();
    if slot_table_end > bytes.len() {
        // Read the slots that are present, then report the truncation.
        read.error = Some(invalid(format!(
            "slot table of {slot_pages} pages runs past the end of the {}-byte file",
            bytes.len()
        )));
    }
    // The first page starts with the database header, which takes the room of two slots.
    let mut at = HEADER_LENGTH;
    let mut total_length = 0usize;
    while at + SLOT_LENGTH <= slot_table_end.min(bytes.len()) {
        let slot = &bytes[at..at + SLOT_LENGTH];
        at += SLOT_LENGTH;
        if &slot[..4] != SLOT_MAGIC {
            read.error = Some(invalid(format!(
                "slot at offset {} lacks the Slot magic",
                at - SLOT_LENGTH
            )));
            return read;
        }
        let package = u32_at(slot, 4).unwrap_or(0);
        if package == 0 {
            continue;
        }
        let block = u32_at(slot, 8).unwrap_or(0) as usize;
        let block_count = u32_at(slot, 12).unwrap_or(0) as usize;
        match read_blob(bytes, package, block, block_count) {
            // Blobs of a sound database never overlap, so together they fit in the file. The
            // check keeps slots that all name one large blob from multiplying memory use.
            Ok(blob) if total_length + blob.len() > bytes.len() => {
                read.error = Some(invalid(format!(
                    "blob of package {package} overlaps others: the blobs add up to more bytes than the file holds"
                )));
                return read;
            }
            Ok(blob) => {
                total_length += blob.len();
                read.blobs.push(blob.to_vec());
            }
            Err(error) => {
                read.error = Some(error);
                return read;
            }
        }
    }
    read
}

fn read_blob(
    bytes: &[u8],
    package: u32,
    block: usize,
    block_count: usize,
) -> Result<&[u8], DatabaseError> {
    let start = block
        .checked_mul(BLOCK_LENGTH)
        .filter(|&start| start.saturating_add(BLOB_HEAD_LENGTH) <= bytes.len())
        .ok_or_else(|| {
            invalid(format!(
                "blob of package {package} at block {block} lies past the end of the file"
            ))
        })?;
    let head = &bytes[start..start + BLOB_HEAD_LENGTH];
    if &head[..4] != BLOB_HEAD_MAGIC {
        return Err(invalid(format!(
            "blob of package {package} at block {block} lacks the BlbS magic"
        )));
    }
    let owner = u32_at(head, 4).unwrap_or(0);
    if owner != package {
        return Err(invalid(format!(
            "blob at block {block} belongs to package {owner}, but slot names package {package}"
        )));
    }
    let length = u32_at(head, 12).unwrap_or(0) as usize;
    let data_start = start + BLOB_HEAD_LENGTH;
    let reserved = block_count.saturating_mul(BLOCK_LENGTH);
    if length > reserved {
        return Err(invalid(format!(
            "blob of package {package} declares {length} bytes, more than its {block_count} blocks of {BLOCK_LENGTH} bytes"
        )));
    }
    if data_start.saturating_add(length) > bytes.len() {
        return Err(invalid(format!(
            "blob of package {package} declares {length} bytes, but the file ends first: it is truncated"
        )));
    }
    Ok(&bytes[data_start..data_start + length])
}
