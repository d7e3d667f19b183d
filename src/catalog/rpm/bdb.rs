//! rpm's BerkeleyDB backend (`Packages`, rpm before 4.16): a hash database whose values are
//! header blobs, mostly stored on chains of overflow pages. The file is read page by page
//! without BerkeleyDB, so it is never opened for writing and needs no environment.

use super::database::{BlobRead, DatabaseError};

const HASH_MAGIC: u32 = 0x0006_1561;
const BTREE_MAGIC: u32 = 0x0005_3162;
const PAGE_HEADER_LENGTH: usize = 26;
const MIN_PAGE_SIZE: u32 = 512;
const MAX_PAGE_SIZE: u32 = 65536;
/// The checksum flag in the metadata page's `metaflags` byte.
const META_FLAG_CHECKSUM: u8 = 0x01;

// Page types (`P_*` in BerkeleyDB's db_page.h).
const PAGE_HASH_UNSORTED: u8 = 2;
const PAGE_OVERFLOW: u8 = 7;
const PAGE_HASH_META: u8 = 8;
const PAGE_HASH: u8 = 13;

// Item types on hash pages (`H_*`).
const ITEM_KEY_DATA: u8 = 1;
const ITEM_OFF_PAGE: u8 = 3;

#[derive(Clone, Copy)]
enum ByteOrder {
    Little,
    Big,
}

impl ByteOrder {
    fn u16(self, bytes: &[u8], at: usize) -> Option<u16> {
        let raw: [u8; 2] = bytes.get(at..at + 2)?.try_into().ok()?;
        Some(match self {
            Self::Little => u16::from_le_bytes(raw),
            Self::Big => u16::from_be_bytes(raw),
        })
    }

    fn u32(self, bytes: &[u8], at: usize) -> Option<u32> {
        let raw: [u8; 4] = bytes.get(at..at + 4)?.try_into().ok()?;
        Some(match self {
            Self::Little => u32::from_le_bytes(raw),
            Self::Big => u32::from_be_bytes(raw),
        })
    }
}

struct Database<'a> {
    bytes: &'a [u8],
    order: ByteOrder,
    page_size: usize,
    page_count: u64,
}

/// Reads every header blob stored as a value in the hash database `bytes`.
pub fn read_blobs(bytes: &[u8]) -> BlobRead {
    let database = match Database::open(bytes) {
        Ok(database) => database,
        Err(error) => return BlobRead::failed(error),
    };
    let mut read = BlobRead::default();
    // The metadata's page count is not trusted, because a small file that declares 2^32 pages
    // would otherwise take billions of steps to walk.
    for page_number in 1..database.page_count.min(database.present_pages()) {
        read.pages_read += 1;
        if let Err(error) = database.read_hash_page(page_number, &mut read.blobs) {
            // In a cut-off file the damage is a symptom, so the truncation is what gets
            // reported.
            read.error = Some(database.truncation().unwrap_or(error));
            return read;
        }
    }
    read.error = database.truncation();
    read
}

/// Appends a value unless the values read so far would then add up to more bytes than the
/// file holds. Values of a sound database never share pages, so only a damaged or hostile
/// file, with many items naming one overflow chain, reaches the limit.
fn push_value(
    blobs: &mut Vec<Vec<u8>>,
    value: Vec<u8>,
    file_length: usize,
    page: u64,
) -> Result<(), DatabaseError> {
    let total: usize = blobs.iter().map(Vec::len).sum();
    if total + value.len() > file_length {
        return Err(Database::page_error(
            page,
            "values share overflow pages: they add up to more bytes than the file holds",
        ));
    }
    blobs.push(value);
    Ok(())
}

impl<'a> Database<'a> {
    fn open(bytes: &'a [u8]) -> Result<Self, DatabaseError> {
        if bytes.len() < 512 {
            return Err(DatabaseError::BerkeleyTruncated {
                present: 0,
                declared: 1,
            });
        }
        let order = match ByteOrder::Little.u32(bytes, 12) {
            Some(HASH_MAGIC) => ByteOrder::Little,
            _ if ByteOrder::Big.u32(bytes, 12) == Some(HASH_MAGIC) => ByteOrder::Big,
            Some(magic) if magic == BTREE_MAGIC || magic.swap_bytes() == BTREE_MAGIC => {
                return Err(DatabaseError::UnsupportedBerkeley {
                    reason: "the file is a btree database, rpm's Packages is a hash database"
                        .to_owned(),
                });
            }
            magic => {
                return Err(DatabaseError::NotBerkeleyHash {
                    magic: magic.unwrap_or(0),
                });
            }
        };
        let page_size = order.u32(bytes, 20).unwrap_or(0);
        if !(MIN_PAGE_SIZE..=MAX_PAGE_SIZE).contains(&page_size) || !page_size.is_power_of_two() {
            return Err(DatabaseError::UnsupportedBerkeley {
                reason: format!("page size {page_size} is not a power of two from 512 to 65536"),
            });
        }
        if bytes[24] != 0 {
            return Err(DatabaseError::UnsupportedBerkeley {
                reason: "the database is encrypted".to_owned(),
            });
        }
        if bytes[25] != PAGE_HASH_META {
            return Err(DatabaseError::UnsupportedBerkeley {
                reason: format!(
                    "metadata page has type {}, expected hash metadata",
                    bytes[25]
                ),
            });
        }
        if bytes[26] & META_FLAG_CHECKSUM != 0 {
            // NOTE: checksummed pages move the item index. rpm does not enable checksums for
            // its Packages file, so this reader rejects them instead of guessing the layout.
            return Err(DatabaseError::UnsupportedBerkeley {
                reason: "pages carry checksums".to_owned(),
            });
        }
        let last_page = order.u32(bytes, 32).unwrap_or(0);
        Ok(Self {
            bytes,
            order,
            page_size: page_size as usize,
            page_count: u64::from(last_page) + 1,
        })
    }

    /// Returns the number of whole pages in the file.
    fn present_pages(&self) -> u64 {
        (self.bytes.len() / self.page_size) as u64
    }

    /// Returns the error for a file shorter than its metadata declares, if it is.
    fn truncation(&self) -> Option<DatabaseError> {
        let present = self.present_pages();
        (present < self.page_count).then_some(DatabaseError::BerkeleyTruncated {
            present,
            declared: self.page_count,
        })
    }

    fn page(&self, number: u64) -> Option<&'a [u8]> {
        let start = usize::try_from(number).ok()?.checked_mul(self.page_size)?;
        self.bytes.get(start..start.checked_add(self.page_size)?)
    }

    fn page_error(number: u64, reason: impl Into<String>) -> DatabaseError {
        DatabaseError::BerkeleyPage {
            page: number,
            reason: reason.into(),
        }
    }

    /// Appends the header blobs stored on hash page `number`. Other page types are skipped.
    fn read_hash_page(&self, number: u64, blobs: &mut Vec<Vec<u8>>) -> Result<(), DatabaseError> {
        // A page past the end of a truncated file is reported once, by `truncation`.
        let Some(page) = self.page(number) else {
            return Ok(());
        };
        if page[25] != PAGE_HASH && page[25] != PAGE_HASH_UNSORTED {
            return Ok(());
        }
        let items = self.hash_page_items(number, page)?;

        // Items come in key, value pairs.
        for pair in items.chunks_exact(2) {
            let (key, value) = (pair[0], pair[1]);
            match value[0] {
                ITEM_OFF_PAGE => {
                    let value = self.read_overflow(number, value)?;
                    push_value(blobs, value, self.bytes.len(), number)?;
                }
                ITEM_KEY_DATA => {
                    // rpm keeps a counter of the next package number under the all-zero key.
                    let key_is_zero = key[0] == ITEM_KEY_DATA && key[1..].iter().all(|&b| b == 0);
                    if !key_is_zero {
                        push_value(blobs, value[1..].to_vec(), self.bytes.len(), number)?;
                    }
                }
                other => {
                    return Err(Self::page_error(
                        number,
                        format!("value item has unsupported type {other}"),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Splits a hash page into its items, each checked to lie inside the page and to be
    /// non-empty.
    fn hash_page_items(&self, number: u64, page: &'a [u8]) -> Result<Vec<&'a [u8]>, DatabaseError> {
        let entries = usize::from(self.order.u16(page, 20).unwrap_or(0));
        let index_end = PAGE_HEADER_LENGTH + entries * 2;
        if index_end > self.page_size {
            return Err(Self::page_error(
                number,
                format!("{entries} item offsets do not fit in the page"),
            ));
        }

        // Items are packed from the end of the page down, so each one ends where the item
        // before it starts.
        let mut items = Vec::with_capacity(entries);
        let mut end = self.page_size;
        for index in 0..entries {
            let at = PAGE_HEADER_LENGTH + index * 2;
            let start = usize::from(self.order.u16(page, at).unwrap_or(0));
            if start < index_end || start >= end {
                return Err(Self::page_error(
                    number,
                    format!("item {index} at offset {start} lies outside the page"),
                ));
            }
            items.push(&page[start..end]);
            end = start;
        }
        Ok(items)
    }

    /// Reads a value stored off page: the item names the first overflow page and the total
    /// length, and each overflow page links to the next.
    fn read_overflow(&self, number: u64, item: &[u8]) -> Result<Vec<u8>, DatabaseError> {
        let (Some(first), Some(total)) = (self.order.u32(item, 4), self.order.u32(item, 8)) else {
            return Err(Self::page_error(
                number,
                "off-page item is shorter than 12 bytes",
            ));
        };
        let total = total as usize;
        if total > self.bytes.len() {
            return Err(Self::page_error(
                number,
                format!("off-page item declares {total} bytes, more than the whole file"),
            ));
        }
        let mut value = Vec::with_capacity(total);
        let mut next = u64::from(first);
        // A chain longer than the number of pages in the file must revisit a page, so the walk
        // stops there instead of looping. The declared page count can be far larger.
        let mut steps = 0u64;
        while value.len() < total {
            steps += 1;
            if next == 0 || steps > self.present_pages() {
                return Err(Self::page_error(
                    number,
                    format!("overflow chain ends after {} of {total} bytes", value.len()),
                ));
            }
            let page = self.page(next).ok_or_else(|| {
                Self::page_error(next, "overflow page lies past the end of the file")
            })?;
            if page[25] != PAGE_OVERFLOW {
                return Err(Self::page_error(
                    next,
                    format!("expected an overflow page, found type {}", page[25]),
                ));
            }
            let used = usize::from(self.order.u16(page, 22).unwrap_or(0));
            if PAGE_HEADER_LENGTH + used > self.page_size {
                return Err(Self::page_error(
                    next,
                    format!("overflow page claims {used} bytes, more than fit in a page"),
                ));
            }
            let taken = used.min(total - value.len());
            value.extend_from_slice(&page[PAGE_HEADER_LENGTH..PAGE_HEADER_LENGTH + taken]);
            next = u64::from(self.order.u32(page, 16).unwrap_or(0));
        }
        Ok(value)
    }
}
