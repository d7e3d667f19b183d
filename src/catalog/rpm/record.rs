//! The package facts the cataloger takes from one rpm header.

use super::header::*;

/// One installed package as its rpm header describes it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PackageRecord {
    pub name: String,
    pub version: String,
    pub release: String,
    pub epoch: Option<i64>,
    pub arch: String,
    pub source_rpm: String,
    pub license: String,
    pub size: i64,
    pub vendor: String,
    pub modularity_label: String,
    pub provides: Vec<String>,
    pub requires: Vec<String>,
    pub files: Vec<FileRecord>,
}

/// One file an rpm header lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileRecord {
    pub path: String,
    pub mode: i64,
    pub size: i64,
    pub digest: String,
    pub digest_algorithm: &'static str,
    pub user_name: String,
    pub group_name: String,
    pub flags: i64,
}

/// Names the file digest algorithm from the OpenPGP hash id rpm stores in FILEDIGESTALGO.
/// rpm uses MD5 when the tag is absent.
pub fn digest_algorithm_name(id: Option<i64>) -> &'static str {
    match id {
        None | Some(1) => "md5",
        Some(2) => "sha1",
        Some(3) => "ripemd160",
        Some(5) => "md2",
        Some(6) => "tiger192",
        Some(7) => "haval-5-160",
        Some(8) => "sha256",
        Some(9) => "sha384",
        Some(10) => "sha512",
        Some(11) => "sha224",
        Some(_) => "unknown",
    }
}

/// Renders rpm file flags as the letters `rpm --queryformat '%{FILEFLAGS:fflags}'` prints.
pub fn file_flags_string(flags: i64) -> String {
    // NOTE: the letter order follows rpm's fflags formatter; only `l` is confirmed against
    // syft 1.18.1 output.
    const LETTERS: [(i64, char); 9] = [
        (1 << 1, 'd'),
        (1 << 0, 'c'),
        (1 << 5, 's'),
        (1 << 3, 'm'),
        (1 << 4, 'n'),
        (1 << 6, 'g'),
        (1 << 7, 'l'),
        (1 << 8, 'r'),
        (1 << 12, 'a'),
    ];
    LETTERS
        .iter()
        .filter(|(bit, _)| flags & bit != 0)
        .map(|&(_, letter)| letter)
        .collect()
}

impl PackageRecord {
    /// Reads the package facts from a header blob.
    pub fn from_blob(blob: &[u8]) -> Result<Self, HeaderError> {
        let header = Header::parse(blob)?;
        let text =
            |tag| -> Result<String, HeaderError> { Ok(header.string(tag)?.unwrap_or_default()) };
        let size = match header.integer(TAG_SIZE)? {
            Some(size) => size,
            None => header.integer(TAG_LONG_SIZE)?.unwrap_or(0),
        };
        Ok(Self {
            name: text(TAG_NAME)?,
            version: text(TAG_VERSION)?,
            release: text(TAG_RELEASE)?,
            epoch: header.integer(TAG_EPOCH)?,
            arch: text(TAG_ARCH)?,
            source_rpm: text(TAG_SOURCE_RPM)?,
            license: text(TAG_LICENSE)?,
            size,
            vendor: text(TAG_VENDOR)?,
            modularity_label: text(TAG_MODULARITY_LABEL)?,
            provides: header.string_array(TAG_PROVIDE_NAME)?,
            requires: header.string_array(TAG_REQUIRE_NAME)?,
            files: read_files(&header)?,
        })
    }
}

fn read_files(header: &Header<'_>) -> Result<Vec<FileRecord>, HeaderError> {
    let mut paths = header.string_array(TAG_BASENAMES)?;
    if paths.is_empty() {
        // Packages built before rpm 4 list whole paths instead of base and directory names.
        paths = header.string_array(TAG_OLD_FILENAMES)?;
    } else {
        let directories = header.string_array(TAG_DIR_NAMES)?;
        let indexes = header.integers(TAG_DIR_INDEXES)?;
        for (number, path) in paths.iter_mut().enumerate() {
            let directory = indexes
                .get(number)
                .and_then(|&index| usize::try_from(index).ok())
                .and_then(|index| directories.get(index));
            if let Some(directory) = directory {
                path.insert_str(0, directory);
            }
        }
    }
    let mut sizes = header.integers(TAG_FILE_SIZES)?;
    if sizes.is_empty() {
        sizes = header.integers(TAG_LONG_FILE_SIZES)?;
    }
    let modes = header.integers(TAG_FILE_MODES)?;
    let digests = header.string_array(TAG_FILE_DIGESTS)?;
    let flags = header.integers(TAG_FILE_FLAGS)?;
    let users = header.string_array(TAG_FILE_USER_NAME)?;
    let groups = header.string_array(TAG_FILE_GROUP_NAME)?;
    let algorithm = digest_algorithm_name(header.integer(TAG_FILE_DIGEST_ALGO)?);

    let files = paths
        .into_iter()
        .enumerate()
        .map(|(number, path)| FileRecord {
            path,
            mode: modes.get(number).copied().unwrap_or(0),
            size: sizes.get(number).copied().unwrap_or(0),
            digest: digests.get(number).cloned().unwrap_or_default(),
            digest_algorithm: algorithm,
            user_name: users.get(number).cloned().unwrap_or_default(),
            group_name: groups.get(number).cloned().unwrap_or_default(),
            flags: flags.get(number).copied().unwrap_or(0),
        })
        .collect();
    Ok(files)
}
