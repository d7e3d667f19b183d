//! rpm's sqlite backend (`rpmdb.sqlite`, rpm 4.16 and later): a `Packages` table whose `blob`
//! column contains one header per installed package.

use std::io::Read;

use rusqlite::{Connection, MAIN_DB, OpenFlags};

use super::database::{BlobRead, DatabaseError};

/// The largest database this reader hands to sqlite, which takes the size as a C `int`.
const MAX_DATABASE_LENGTH: usize = i32::MAX as usize;
/// Length of the sqlite file header, and the offsets of its file format write and read
/// versions, which are 2 for a database in WAL mode and 1 for rollback-journal mode.
const FILE_HEADER_LENGTH: usize = 100;
const WRITE_VERSION_OFFSET: usize = 18;
const READ_VERSION_OFFSET: usize = 19;

/// Reads every header blob of the `Packages` table from the database bytes, in memory and
/// read-only.
pub fn read_blobs(bytes: &[u8]) -> BlobRead {
    if bytes.len() > MAX_DATABASE_LENGTH {
        return BlobRead::failed(DatabaseError::TooLarge {
            length: bytes.len(),
            max: MAX_DATABASE_LENGTH,
        });
    }
    match query_blobs(bytes) {
        Ok(read) => read,
        Err(source) => BlobRead::failed(DatabaseError::Sqlite { source }),
    }
}

/// Returns the database bytes with the header switched from WAL to rollback-journal mode,
/// because sqlite's in-memory database cannot open a WAL database.
///
/// NOTE: rows still only in a `-wal` file beside the database are not read. rpm checkpoints on
/// close, so an image built by a finished rpm run leaves that file empty.
fn without_wal_mode(bytes: &[u8]) -> impl Read + '_ {
    let split = bytes.len().min(FILE_HEADER_LENGTH);
    let mut header = bytes[..split].to_vec();
    for offset in [WRITE_VERSION_OFFSET, READ_VERSION_OFFSET] {
        if header.get(offset) == Some(&2) {
            header[offset] = 1;
        }
    }
    std::io::Cursor::new(header).chain(&bytes[split..])
}

fn query_blobs(bytes: &[u8]) -> rusqlite::Result<BlobRead> {
    let mut connection = Connection::open_in_memory_with_flags(
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    // The copy lives in sqlite's own allocation, so the captured bytes stay untouched and no
    // temporary file is written.
    connection.deserialize_read_exact(MAIN_DB, without_wal_mode(bytes), bytes.len(), true)?;
    let mut statement = connection.prepare("SELECT blob FROM Packages ORDER BY hnum")?;
    let mut rows = statement.query([])?;
    let mut read = BlobRead::default();
    loop {
        match rows.next() {
            Ok(Some(row)) => match row.get::<_, Vec<u8>>(0) {
                Ok(blob) => read.blobs.push(blob),
                Err(source) => {
                    read.error = Some(DatabaseError::Sqlite { source });
                    break;
                }
            },
            Ok(None) => break,
            // A damaged page ends the scan, and the rows before it are kept.
            Err(source) => {
                read.error = Some(DatabaseError::Sqlite { source });
                break;
            }
        }
    }
    Ok(read)
}
