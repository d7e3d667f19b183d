//! The result type shared by the three rpm database readers. Each reader yields header blobs,
//! and one that meets damage stops there and reports why, keeping the blobs read before it.

/// The header blobs read from one database, and the problem that stopped reading early.
#[derive(Debug, Default)]
pub struct BlobRead {
    pub blobs: Vec<Vec<u8>>,
    pub error: Option<DatabaseError>,
    /// Pages the BerkeleyDB reader visited (0 for the other formats), so tests can check the
    /// walk stays within the pages the file contains.
    pub pages_read: u64,
}

impl BlobRead {
    pub fn failed(error: DatabaseError) -> Self {
        Self {
            blobs: Vec::new(),
            error: Some(error),
            pages_read: 0,
        }
    }
}

/// The reason an rpm database could not be read completely.
#[derive(Debug, thiserror::Error)]
pub enum DatabaseError {
    #[error("invalid sqlite rpm database: {source}")]
    Sqlite {
        #[source]
        source: rusqlite::Error,
    },
    #[error("database is {length} bytes, more than the {max} bytes this reader accepts")]
    TooLarge { length: usize, max: usize },
    #[error(
        "not a BerkeleyDB hash database (magic {magic:#010x}); rpm's Packages file should be one"
    )]
    NotBerkeleyHash { magic: u32 },
    #[error("unsupported BerkeleyDB database: {reason}")]
    UnsupportedBerkeley { reason: String },
    #[error("invalid BerkeleyDB page {page}: {reason}")]
    BerkeleyPage { page: u64, reason: String },
    #[error(
        "BerkeleyDB file is truncated: it has {present} of the {declared} pages its metadata declares"
    )]
    BerkeleyTruncated { present: u64, declared: u64 },
    #[error("invalid ndb rpm database: {reason}")]
    Ndb { reason: String },
}
