//! Layer compression: detection from the first bytes of a blob and a reader that undoes it.
//!
//! The media type a manifest declares is not trusted, because it can be wrong: syft 1.18.1, for
//! one, declares gzip for uncompressed layers in the manifest it synthesizes for a `docker save`
//! tarball.

use std::fmt;
use std::io::{self, Cursor, Read};

use super::Compression;

/// The gzip member header (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
/// The zstd frame header (RFC 8878), little-endian 0xFD2FB528.
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The number of leading bytes [`detect`] needs to tell every supported format apart.
pub const MAGIC_LEN: usize = 4;

/// Detects the compression of a blob from its first bytes. Anything that is neither gzip nor
/// zstd is taken as uncompressed, and the tar reader rejects it later if it is not a tar.
pub fn detect(prefix: &[u8]) -> Compression {
    if prefix.starts_with(&ZSTD_MAGIC) {
        Compression::Zstd
    } else if prefix.starts_with(&GZIP_MAGIC) {
        Compression::Gzip
    } else {
        Compression::None
    }
}

/// Reads up to `len` bytes from `reader`, stopping early only at the end of the stream.
pub fn read_prefix(reader: &mut impl Read, len: usize) -> io::Result<Vec<u8>> {
    let mut prefix = Vec::with_capacity(len);
    reader.by_ref().take(len as u64).read_to_end(&mut prefix)?;
    Ok(prefix)
}

/// Wraps `reader` so that it yields the uncompressed bytes of the blob. The compression is
/// detected from the first bytes, which are read once and replayed to the decoder.
pub fn decompress<'a, R: Read + 'a>(
    mut reader: R,
) -> io::Result<(Compression, Box<dyn Read + 'a>)> {
    let prefix = read_prefix(&mut reader, MAGIC_LEN)?;
    let compression = detect(&prefix);
    let decoded = decoder(compression, Cursor::new(prefix).chain(reader))?;
    Ok((compression, decoded))
}

/// Wraps `reader`, whose compression is already known, so that it yields the uncompressed
/// bytes.
pub fn decoder<'a, R: Read + 'a>(
    compression: Compression,
    reader: R,
) -> io::Result<Box<dyn Read + 'a>> {
    Ok(match compression {
        // A gzip blob may hold several members back to back (pigz and some registries write
        // them), and the layer is their concatenation.
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(reader)?),
        Compression::None => Box::new(reader),
    })
}

impl fmt::Display for Compression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Compression::None => "uncompressed",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        })
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;

    use super::*;

    fn round_trip(compressed: &[u8]) -> (Compression, Vec<u8>) {
        let (compression, mut reader) = decompress(compressed).unwrap();
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        (compression, out)
    }

    #[test]
    fn detects_gzip_and_decodes() {
        let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(b"layer bytes").unwrap();
        let (compression, out) = round_trip(&encoder.finish().unwrap());
        assert_eq!(compression, Compression::Gzip);
        assert_eq!(out, b"layer bytes");
    }

    #[test]
    fn detects_zstd_and_decodes() {
        let encoded = zstd::encode_all(&b"layer bytes"[..], 3).unwrap();
        let (compression, out) = round_trip(&encoded);
        assert_eq!(compression, Compression::Zstd);
        assert_eq!(out, b"layer bytes");
    }

    #[test]
    fn concatenated_gzip_members_are_read_in_full() {
        let mut joined = Vec::new();
        for part in [&b"first "[..], &b"second"[..]] {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(part).unwrap();
            joined.extend(encoder.finish().unwrap());
        }
        let (_, out) = round_trip(&joined);
        assert_eq!(out, b"first second");
    }

    #[test]
    fn short_and_plain_inputs_pass_through() {
        assert_eq!(round_trip(b""), (Compression::None, Vec::new()));
        assert_eq!(round_trip(b"\x1f"), (Compression::None, b"\x1f".to_vec()));
        assert_eq!(
            round_trip(b"plain tar"),
            (Compression::None, b"plain tar".to_vec())
        );
    }
}
