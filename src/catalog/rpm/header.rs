//! The rpm header blob as the package databases store it: an index of typed entries followed by
//! a data store, without the 8-byte magic that headers inside `.rpm` files carry.

use std::collections::HashMap;

/// The maximum number of index entries rpm itself accepts in one header (`HEADER_TAGS_MAX`).
const MAX_INDEX_ENTRIES: u32 = 0xffff;
/// The maximum data store size rpm itself accepts in one header (`HEADER_DATA_MAX`, 256 MiB).
const MAX_DATA_LENGTH: u32 = 0x0fff_ffff;
const INDEX_ENTRY_LENGTH: usize = 16;
const PREAMBLE_LENGTH: usize = 8;

// Tags of the region entry that opens a header read from a database.
const TAG_HEADER_IMAGE: i32 = 61;
const TAG_HEADER_SIGNATURES: i32 = 62;
const TAG_HEADER_IMMUTABLE: i32 = 63;

pub const TAG_NAME: i32 = 1000;
pub const TAG_VERSION: i32 = 1001;
pub const TAG_RELEASE: i32 = 1002;
pub const TAG_EPOCH: i32 = 1003;
pub const TAG_SIZE: i32 = 1009;
pub const TAG_VENDOR: i32 = 1011;
pub const TAG_LICENSE: i32 = 1014;
pub const TAG_ARCH: i32 = 1022;
pub const TAG_OLD_FILENAMES: i32 = 1027;
pub const TAG_FILE_SIZES: i32 = 1028;
pub const TAG_FILE_MODES: i32 = 1030;
pub const TAG_FILE_DIGESTS: i32 = 1035;
pub const TAG_FILE_FLAGS: i32 = 1037;
pub const TAG_FILE_USER_NAME: i32 = 1039;
pub const TAG_FILE_GROUP_NAME: i32 = 1040;
pub const TAG_SOURCE_RPM: i32 = 1044;
pub const TAG_PROVIDE_NAME: i32 = 1047;
pub const TAG_REQUIRE_NAME: i32 = 1049;
pub const TAG_DIR_INDEXES: i32 = 1116;
pub const TAG_BASENAMES: i32 = 1117;
pub const TAG_DIR_NAMES: i32 = 1118;
pub const TAG_LONG_FILE_SIZES: i32 = 5008;
pub const TAG_LONG_SIZE: i32 = 5009;
pub const TAG_FILE_DIGEST_ALGO: i32 = 5011;
pub const TAG_MODULARITY_LABEL: i32 = 5096;

const TYPE_NULL: u32 = 0;
const TYPE_CHAR: u32 = 1;
const TYPE_INT8: u32 = 2;
const TYPE_INT16: u32 = 3;
const TYPE_INT32: u32 = 4;
const TYPE_INT64: u32 = 5;
const TYPE_STRING: u32 = 6;
const TYPE_BIN: u32 = 7;
const TYPE_STRING_ARRAY: u32 = 8;
const TYPE_I18N_STRING: u32 = 9;

/// The reason a header blob could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    #[error("header blob is {length} bytes, shorter than its {expected}-byte index and data")]
    Truncated { length: usize, expected: usize },
    #[error("header declares {count} index entries, more than rpm's limit of {MAX_INDEX_ENTRIES}")]
    TooManyEntries { count: u32 },
    #[error(
        "header declares a {length}-byte data store, more than rpm's limit of {MAX_DATA_LENGTH}"
    )]
    DataTooLarge { length: u32 },
    #[error("header entry for tag {tag} has unknown type {kind}")]
    UnknownType { tag: i32, kind: u32 },
    #[error(
        "header entry for tag {tag} (offset {offset}, count {count}) lies outside the {length}-byte data store"
    )]
    OutOfBounds {
        tag: i32,
        offset: i64,
        count: u32,
        length: usize,
    },
    #[error("header entry for tag {tag} has a string that is not terminated by a NUL byte")]
    UnterminatedString { tag: i32 },
    #[error("header region entry for tag {tag} is invalid: {reason}")]
    InvalidRegion { tag: i32, reason: &'static str },
    #[error("header entry for tag {tag} has type {kind}, expected {expected}")]
    WrongType {
        tag: i32,
        kind: u32,
        expected: &'static str,
    },
}

#[derive(Debug, Clone, Copy)]
struct IndexEntry {
    kind: u32,
    offset: usize,
    count: u32,
}

/// A parsed header: the index entries, checked against the data store, and the data store.
#[derive(Debug)]
pub struct Header<'a> {
    entries: HashMap<i32, IndexEntry>,
    data: &'a [u8],
}

fn read_u32(bytes: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]])
}

impl<'a> Header<'a> {
    /// Parses a header blob, checking that every entry's data lies inside the data store.
    pub fn parse(blob: &'a [u8]) -> Result<Self, HeaderError> {
        if blob.len() < PREAMBLE_LENGTH {
            return Err(HeaderError::Truncated {
                length: blob.len(),
                expected: PREAMBLE_LENGTH,
            });
        }
        let index_count = read_u32(blob, 0);
        let data_length = read_u32(blob, 4);
        if index_count > MAX_INDEX_ENTRIES {
            return Err(HeaderError::TooManyEntries { count: index_count });
        }
        if data_length > MAX_DATA_LENGTH {
            return Err(HeaderError::DataTooLarge {
                length: data_length,
            });
        }
        let index_end = PREAMBLE_LENGTH + index_count as usize * INDEX_ENTRY_LENGTH;
        let expected = index_end + data_length as usize;
        if blob.len() < expected {
            return Err(HeaderError::Truncated {
                length: blob.len(),
                expected,
            });
        }
        let data = &blob[index_end..expected];

        let mut entries = HashMap::with_capacity(index_count as usize);
        for number in 0..index_count as usize {
            let at = PREAMBLE_LENGTH + number * INDEX_ENTRY_LENGTH;
            let tag = read_u32(blob, at) as i32;
            let kind = read_u32(blob, at + 4);
            let offset = read_u32(blob, at + 8) as i32;
            let count = read_u32(blob, at + 12);
            if number == 0 && is_region_tag(tag) {
                check_region(tag, kind, offset, count, index_count, data)?;
                continue;
            }
            let entry = check_entry(tag, kind, offset, count, data)?;
            // Entries after the region (rpm's "dribble" entries) replace region entries with the
            // same tag, as rpm's own header import does.
            entries.insert(tag, entry);
        }
        Ok(Self { entries, data })
    }

    /// Returns the string value of `tag`, or `None` when the header lacks it.
    pub fn string(&self, tag: i32) -> Result<Option<String>, HeaderError> {
        let Some(entry) = self.entries.get(&tag) else {
            return Ok(None);
        };
        match entry.kind {
            TYPE_STRING | TYPE_I18N_STRING | TYPE_STRING_ARRAY => {
                let mut strings = self.strings_of(tag, entry, 1)?;
                Ok(strings.pop())
            }
            kind => Err(HeaderError::WrongType {
                tag,
                kind,
                expected: "string",
            }),
        }
    }

    /// Returns the string array value of `tag`, which is empty when the header lacks it.
    pub fn string_array(&self, tag: i32) -> Result<Vec<String>, HeaderError> {
        let Some(entry) = self.entries.get(&tag) else {
            return Ok(Vec::new());
        };
        match entry.kind {
            TYPE_STRING | TYPE_I18N_STRING | TYPE_STRING_ARRAY => {
                self.strings_of(tag, entry, entry.count)
            }
            kind => Err(HeaderError::WrongType {
                tag,
                kind,
                expected: "string array",
            }),
        }
    }

    /// Returns the integer values of `tag` widened to `i64`, or none when the header lacks it.
    /// INT16 values are unsigned in rpm (file modes), the others signed.
    pub fn integers(&self, tag: i32) -> Result<Vec<i64>, HeaderError> {
        let Some(entry) = self.entries.get(&tag) else {
            return Ok(Vec::new());
        };
        let count = entry.count as usize;
        let bytes = &self.data[entry.offset..];
        let values = match entry.kind {
            TYPE_CHAR | TYPE_INT8 => bytes[..count].iter().map(|&b| i64::from(b)).collect(),
            TYPE_INT16 => bytes[..count * 2]
                .chunks_exact(2)
                .map(|c| i64::from(u16::from_be_bytes([c[0], c[1]])))
                .collect(),
            TYPE_INT32 => bytes[..count * 4]
                .chunks_exact(4)
                .map(|c| i64::from(i32::from_be_bytes([c[0], c[1], c[2], c[3]])))
                .collect(),
            TYPE_INT64 => bytes[..count * 8]
                .chunks_exact(8)
                .map(|c| i64::from_be_bytes([c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]]))
                .collect(),
            kind => {
                return Err(HeaderError::WrongType {
                    tag,
                    kind,
                    expected: "integer",
                });
            }
        };
        Ok(values)
    }

    /// Returns the first integer value of `tag`, or `None` when the header lacks it.
    pub fn integer(&self, tag: i32) -> Result<Option<i64>, HeaderError> {
        Ok(self.integers(tag)?.first().copied())
    }

    fn strings_of(
        &self,
        tag: i32,
        entry: &IndexEntry,
        count: u32,
    ) -> Result<Vec<String>, HeaderError> {
        let mut rest = &self.data[entry.offset..];
        // `check_entry` proved that `entry.count` terminated strings fit, so this allocation is
        // bounded by the data store size.
        let mut strings = Vec::with_capacity(count as usize);
        for _ in 0..count {
            let end = rest
                .iter()
                .position(|&b| b == 0)
                .ok_or(HeaderError::UnterminatedString { tag })?;
            strings.push(String::from_utf8_lossy(&rest[..end]).into_owned());
            rest = &rest[end + 1..];
        }
        Ok(strings)
    }
}

fn is_region_tag(tag: i32) -> bool {
    matches!(
        tag,
        TAG_HEADER_IMAGE | TAG_HEADER_SIGNATURES | TAG_HEADER_IMMUTABLE
    )
}

/// Checks the region entry: a 16-byte BIN trailer inside the data store whose negative offset
/// names how many index entries the region covers.
fn check_region(
    tag: i32,
    kind: u32,
    offset: i32,
    count: u32,
    index_count: u32,
    data: &[u8],
) -> Result<(), HeaderError> {
    let invalid = |reason| HeaderError::InvalidRegion { tag, reason };
    if kind != TYPE_BIN || count as usize != INDEX_ENTRY_LENGTH {
        return Err(invalid("expected a 16-byte binary entry"));
    }
    let trailer_at = usize::try_from(offset).map_err(|_| invalid("negative trailer offset"))?;
    if trailer_at
        .checked_add(INDEX_ENTRY_LENGTH)
        .is_none_or(|end| end > data.len())
    {
        return Err(invalid("trailer lies outside the data store"));
    }
    let trailer_offset = read_u32(data, trailer_at + 8) as i32;
    let covered = trailer_offset
        .checked_neg()
        .map(|bytes| bytes / INDEX_ENTRY_LENGTH as i32)
        .unwrap_or(0);
    if trailer_offset >= 0
        || trailer_offset % INDEX_ENTRY_LENGTH as i32 != 0
        || covered as u32 > index_count
    {
        return Err(invalid("trailer does not cover a valid number of entries"));
    }
    Ok(())
}

fn check_entry(
    tag: i32,
    kind: u32,
    offset: i32,
    count: u32,
    data: &[u8],
) -> Result<IndexEntry, HeaderError> {
    let out_of_bounds = || HeaderError::OutOfBounds {
        tag,
        offset: i64::from(offset),
        count,
        length: data.len(),
    };
    let start = usize::try_from(offset).map_err(|_| out_of_bounds())?;
    if start > data.len() {
        return Err(out_of_bounds());
    }
    let available = data.len() - start;
    let width: usize = match kind {
        TYPE_NULL => 0,
        TYPE_CHAR | TYPE_INT8 | TYPE_BIN => 1,
        TYPE_INT16 => 2,
        TYPE_INT32 => 4,
        TYPE_INT64 => 8,
        TYPE_STRING | TYPE_STRING_ARRAY | TYPE_I18N_STRING => {
            // Each string needs at least its NUL byte, so `count` strings need `count` bytes.
            if count as usize > available || count_terminators(&data[start..], count) < count {
                return Err(if count as usize > available {
                    out_of_bounds()
                } else {
                    HeaderError::UnterminatedString { tag }
                });
            }
            return Ok(IndexEntry {
                kind,
                offset: start,
                count,
            });
        }
        _ => return Err(HeaderError::UnknownType { tag, kind }),
    };
    let needed = (count as usize)
        .checked_mul(width)
        .ok_or_else(out_of_bounds)?;
    if needed > available {
        return Err(out_of_bounds());
    }
    Ok(IndexEntry {
        kind,
        offset: start,
        count,
    })
}

/// Counts NUL bytes in `bytes`, stopping once `limit` have been seen.
fn count_terminators(bytes: &[u8], limit: u32) -> u32 {
    let mut seen = 0;
    for &byte in bytes {
        if byte == 0 {
            seen += 1;
            if seen == limit {
                break;
            }
        }
    }
    seen
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds a header blob from (tag, type, offset, count) entries and a data store.
    fn blob(entries: &[(i32, u32, i32, u32)], data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        out.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        out.extend_from_slice(&(data.len() as u32).to_be_bytes());
        for &(tag, kind, offset, count) in entries {
            out.extend_from_slice(&tag.to_be_bytes());
            out.extend_from_slice(&kind.to_be_bytes());
            out.extend_from_slice(&offset.to_be_bytes());
            out.extend_from_slice(&count.to_be_bytes());
        }
        out.extend_from_slice(data);
        out
    }

    #[test]
    fn reads_strings_and_integers() {
        let mut data = b"hello\0a\0bc\0".to_vec();
        data.extend_from_slice(&[0, 0, 0, 7]);
        let blob = blob(
            &[
                (TAG_NAME, TYPE_STRING, 0, 1),
                (TAG_PROVIDE_NAME, TYPE_STRING_ARRAY, 6, 2),
                (TAG_EPOCH, TYPE_INT32, 11, 1),
            ],
            &data,
        );
        let header = Header::parse(&blob).unwrap();
        assert_eq!(header.string(TAG_NAME).unwrap().as_deref(), Some("hello"));
        assert_eq!(header.string_array(TAG_PROVIDE_NAME).unwrap(), ["a", "bc"]);
        assert_eq!(header.integer(TAG_EPOCH).unwrap(), Some(7));
        assert_eq!(header.string(TAG_VERSION).unwrap(), None);
    }

    #[test]
    fn rejects_offset_past_data() {
        let blob = blob(&[(TAG_EPOCH, TYPE_INT32, 2, 1)], &[0, 0, 0, 1]);
        assert!(matches!(
            Header::parse(&blob),
            Err(HeaderError::OutOfBounds { tag: TAG_EPOCH, .. })
        ));
    }

    #[test]
    fn rejects_negative_offset() {
        let blob = blob(&[(TAG_EPOCH, TYPE_INT32, -4, 1)], &[0, 0, 0, 1]);
        assert!(matches!(
            Header::parse(&blob),
            Err(HeaderError::OutOfBounds { .. })
        ));
    }

    #[test]
    fn rejects_huge_counts_without_allocating() {
        let blob = blob(
            &[
                (TAG_BASENAMES, TYPE_STRING_ARRAY, 0, u32::MAX),
                (TAG_FILE_SIZES, TYPE_INT64, 0, u32::MAX),
            ],
            b"a\0",
        );
        assert!(matches!(
            Header::parse(&blob),
            Err(HeaderError::OutOfBounds { .. })
        ));
        let blob = blob_with_counts(u32::MAX, 16);
        assert_eq!(
            Header::parse(&blob).unwrap_err(),
            HeaderError::TooManyEntries { count: u32::MAX }
        );
        let blob = blob_with_counts(1, u32::MAX);
        assert_eq!(
            Header::parse(&blob).unwrap_err(),
            HeaderError::DataTooLarge { length: u32::MAX }
        );
    }

    fn blob_with_counts(index_count: u32, data_length: u32) -> Vec<u8> {
        let mut out = index_count.to_be_bytes().to_vec();
        out.extend_from_slice(&data_length.to_be_bytes());
        out
    }

    #[test]
    fn rejects_unterminated_string() {
        let blob = blob(&[(TAG_NAME, TYPE_STRING, 0, 1)], b"abc");
        assert_eq!(
            Header::parse(&blob).unwrap_err(),
            HeaderError::UnterminatedString { tag: TAG_NAME }
        );
    }

    #[test]
    fn rejects_truncated_blob() {
        let mut blob = blob(&[(TAG_NAME, TYPE_STRING, 0, 1)], b"abc\0");
        blob.truncate(blob.len() - 1);
        assert!(matches!(
            Header::parse(&blob),
            Err(HeaderError::Truncated { .. })
        ));
        assert!(matches!(
            Header::parse(&[0, 0]),
            Err(HeaderError::Truncated { .. })
        ));
    }

    #[test]
    fn checks_region_trailer() {
        // A region covering both entries: the trailer sits after the name string.
        let mut data = b"n\0".to_vec();
        let trailer_at = data.len() as i32;
        data.extend_from_slice(&TAG_HEADER_IMMUTABLE.to_be_bytes());
        data.extend_from_slice(&TYPE_BIN.to_be_bytes());
        data.extend_from_slice(&(-32i32).to_be_bytes());
        data.extend_from_slice(&16u32.to_be_bytes());
        let good = blob(
            &[
                (TAG_HEADER_IMMUTABLE, TYPE_BIN, trailer_at, 16),
                (TAG_NAME, TYPE_STRING, 0, 1),
            ],
            &data,
        );
        let header = Header::parse(&good).unwrap();
        assert_eq!(header.string(TAG_NAME).unwrap().as_deref(), Some("n"));

        let bad = blob(
            &[
                (TAG_HEADER_IMMUTABLE, TYPE_BIN, 1000, 16),
                (TAG_NAME, TYPE_STRING, 0, 1),
            ],
            &data,
        );
        assert!(matches!(
            Header::parse(&bad),
            Err(HeaderError::InvalidRegion { .. })
        ));
    }

    #[test]
    fn later_entry_replaces_earlier() {
        let blob = blob(
            &[(TAG_NAME, TYPE_STRING, 0, 1), (TAG_NAME, TYPE_STRING, 4, 1)],
            b"old\0new\0",
        );
        let header = Header::parse(&blob).unwrap();
        assert_eq!(header.string(TAG_NAME).unwrap().as_deref(), Some("new"));
    }

    #[test]
    fn rejects_wrong_type_request() {
        let blob = blob(&[(TAG_NAME, TYPE_STRING, 0, 1)], b"abc\0");
        let header = Header::parse(&blob).unwrap();
        assert!(matches!(
            header.integers(TAG_NAME),
            Err(HeaderError::WrongType { .. })
        ));
    }
}
