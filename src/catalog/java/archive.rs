//! Reads what the Java cataloger needs out of a zip-based Java archive and the archives nested
//! in it, within fixed bounds, so the layer walk keeps only a small result.

use std::io::{self, Cursor, Read, Seek, SeekFrom};

use sha1::{Digest as _, Sha1};

use super::manifest::{
    Manifest, PomProject, PomProperties, parse_manifest, parse_pom_properties, parse_pom_xml,
};
use crate::catalog::license::classify_text;

/// The file extensions of the Java archives syft 1.18.1 reads, in lower case.
pub const EXTENSIONS: &[&str] = &[
    "jar", "war", "ear", "par", "sar", "nar", "jpi", "hpi", "kar", "lpkg", "rar",
];
/// The deepest nesting read: an archive inside an archive counts as depth 1.
pub const MAX_DEPTH: usize = 8;
/// The largest nested archive read into memory, in bytes.
pub const MAX_NESTED_ARCHIVE: u64 = 256 * 1024 * 1024;
/// Maximum total size, in bytes, of the nested archives read for one outer file.
pub const MAX_NESTED_TOTAL: u64 = 1024 * 1024 * 1024;
/// The largest manifest, `pom.properties`, `pom.xml` or licence file read, in bytes.
const MAX_METADATA_FILE: u64 = 4 * 1024 * 1024;
/// Licence files looked for at the archive root and in `META-INF/`, in lower case.
const LICENSE_FILES: &[&str] = &[
    "license",
    "license.txt",
    "license.md",
    "licence",
    "licence.txt",
];

/// Returns the Java archive extension of `name` in lower case, when it has one.
pub fn archive_extension(name: &str) -> Option<&'static str> {
    let (_, extension) = name.rsplit_once('.')?;
    EXTENSIONS
        .iter()
        .copied()
        .find(|known| known.eq_ignore_ascii_case(extension))
}

/// The contents read from one archive: the outer file or one nested in it.
#[derive(Debug, Clone, Default)]
pub struct ArchiveInfo {
    /// Entry names from the outer file down to this archive; empty for the outer file.
    pub nesting: Vec<String>,
    /// Hex sha1 of the archive's bytes.
    pub sha1: String,
    pub manifest: Option<Manifest>,
    /// Every `META-INF/maven/**/pom.properties`, sorted by path.
    pub pom_properties: Vec<PomProperties>,
    /// Every `META-INF/maven/**/pom.xml`, sorted by path.
    pub pom_projects: Vec<PomProject>,
    /// SPDX ids recognised in licence files, sorted and without duplicates.
    pub license_files: Vec<&'static str>,
}

/// A part of an archive that could not be read, by its nesting.
#[derive(Debug, Clone)]
pub struct ArchiveProblem {
    pub nesting: Vec<String>,
    pub reason: String,
}

/// Everything read from one Java archive file.
#[derive(Debug, Clone, Default)]
pub struct JavaArchives {
    /// The outer archive first, then nested archives in the order they were found.
    pub archives: Vec<ArchiveInfo>,
    pub problems: Vec<ArchiveProblem>,
}

/// Reads the outer archive in `data` and everything nested in it. Returns an error only when
/// the outer file is not a readable zip archive. Problems inside it are collected.
pub fn read_archives(data: &mut (impl Read + Seek)) -> Result<JavaArchives, String> {
    let sha1 = sha1_of(data).map_err(|error| format!("failed to read the archive: {error}"))?;
    data.seek(SeekFrom::Start(0))
        .map_err(|error| format!("failed to read the archive: {error}"))?;
    let mut reader = Reader {
        found: JavaArchives::default(),
        nested_bytes: 0,
    };
    reader
        .read(data, Vec::new(), sha1)
        .map_err(|error| format!("invalid Java archive: {error}"))?;
    Ok(reader.found)
}

struct Reader {
    found: JavaArchives,
    nested_bytes: u64,
}

impl Reader {
    fn problem(&mut self, nesting: &[String], reason: String) {
        self.found.problems.push(ArchiveProblem {
            nesting: nesting.to_vec(),
            reason,
        });
    }

    fn read(
        &mut self,
        data: &mut (impl Read + Seek),
        nesting: Vec<String>,
        sha1: String,
    ) -> zip::result::ZipResult<()> {
        let mut archive = zip::ZipArchive::new(data)?;
        let mut info = ArchiveInfo {
            nesting: nesting.clone(),
            sha1,
            ..ArchiveInfo::default()
        };
        let mut nested: Vec<usize> = Vec::new();
        let mut licenses: Vec<(String, usize)> = Vec::new();
        let mut properties: Vec<(String, usize)> = Vec::new();
        let mut projects: Vec<(String, usize)> = Vec::new();
        let mut manifest_index = None;
        for index in 0..archive.len() {
            let Some(name) = archive.name_for_index(index).map(str::to_owned) else {
                continue;
            };
            if name.ends_with('/') {
                continue;
            }
            if name == "META-INF/MANIFEST.MF" {
                manifest_index = Some(index);
            } else if name.starts_with("META-INF/maven/") && name.ends_with("/pom.properties") {
                properties.push((name, index));
            } else if name.starts_with("META-INF/maven/") && name.ends_with("/pom.xml") {
                projects.push((name, index));
            } else if archive_extension(&name).is_some() {
                nested.push(index);
            } else {
                let base = name.strip_prefix("META-INF/").unwrap_or(&name);
                if LICENSE_FILES.contains(&base.to_ascii_lowercase().as_str()) {
                    licenses.push((name, index));
                }
            }
        }

        if let Some(index) = manifest_index {
            match read_text(&mut archive, index) {
                Ok(text) => info.manifest = Some(parse_manifest(&text)),
                Err(reason) => self.problem(&nesting, format!("META-INF/MANIFEST.MF: {reason}")),
            }
        }
        properties.sort();
        for (name, index) in properties {
            let parsed =
                read_text(&mut archive, index).and_then(|text| parse_pom_properties(&name, &text));
            match parsed {
                Ok(parsed) => info.pom_properties.push(parsed),
                Err(reason) => self.problem(&nesting, format!("{name}: {reason}")),
            }
        }
        projects.sort();
        for (name, index) in projects {
            let parsed =
                read_text(&mut archive, index).and_then(|text| parse_pom_xml(&name, &text));
            match parsed {
                Ok(parsed) => info.pom_projects.push(parsed),
                Err(reason) => self.problem(&nesting, format!("{name}: {reason}")),
            }
        }
        for (_, index) in licenses {
            if let Ok(text) = read_text(&mut archive, index) {
                if let Some(id) = classify_text(&text) {
                    info.license_files.push(id);
                }
            }
        }
        info.license_files.sort_unstable();
        info.license_files.dedup();
        self.found.archives.push(info);

        for index in nested {
            self.read_nested(&mut archive, index, &nesting);
        }
        Ok(())
    }

    /// Reads one nested archive into memory and walks it, unless a bound stops it. Every
    /// archive skipped or unreadable here becomes a problem naming it.
    fn read_nested<R: Read + Seek>(
        &mut self,
        archive: &mut zip::ZipArchive<R>,
        index: usize,
        nesting: &[String],
    ) {
        let mut entry = match archive.by_index(index) {
            Ok(entry) => entry,
            Err(error) => {
                self.problem(nesting, format!("entry {index}: {error}"));
                return;
            }
        };
        let name = entry.name().to_owned();
        let mut inner = nesting.to_vec();
        inner.push(name.clone());
        if nesting.len() + 1 > MAX_DEPTH {
            self.problem(
                &inner,
                format!("nested deeper than {MAX_DEPTH} archives, so it was not read"),
            );
            return;
        }
        let size = entry.size();
        if size > MAX_NESTED_ARCHIVE || self.nested_bytes + size > MAX_NESTED_TOTAL {
            self.problem(
                &inner,
                format!(
                    "nested archive of {size} bytes exceeds the limit of {MAX_NESTED_ARCHIVE} \
                     bytes per archive or {MAX_NESTED_TOTAL} bytes per file, so it was not read"
                ),
            );
            return;
        }
        let mut bytes = Vec::with_capacity(size as usize);
        if let Err(error) = entry
            .by_ref()
            .take(MAX_NESTED_ARCHIVE + 1)
            .read_to_end(&mut bytes)
        {
            self.problem(
                &inner,
                format!("failed to read the nested archive: {error}"),
            );
            return;
        }
        drop(entry);
        self.nested_bytes += bytes.len() as u64;
        let sha1 = hex::encode(Sha1::digest(&bytes));
        if let Err(error) = self.read(&mut Cursor::new(bytes), inner.clone(), sha1) {
            self.problem(&inner, format!("invalid nested Java archive: {error}"));
        }
    }
}

/// Reads one entry as text, lossily, up to [`MAX_METADATA_FILE`] bytes.
fn read_text<R: Read + Seek>(
    archive: &mut zip::ZipArchive<R>,
    index: usize,
) -> Result<String, String> {
    let mut entry = archive.by_index(index).map_err(|error| error.to_string())?;
    if entry.size() > MAX_METADATA_FILE {
        return Err(format!(
            "{} bytes is more than the limit of {MAX_METADATA_FILE} bytes",
            entry.size()
        ));
    }
    let mut bytes = Vec::new();
    entry
        .by_ref()
        .take(MAX_METADATA_FILE)
        .read_to_end(&mut bytes)
        .map_err(|error| error.to_string())?;
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

fn sha1_of(data: &mut impl Read) -> io::Result<String> {
    let mut hasher = Sha1::new();
    let mut buffer = vec![0; 64 * 1024];
    loop {
        let read = data.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        hasher.update(&buffer[..read]);
    }
    Ok(hex::encode(hasher.finalize()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extensions_match_case_insensitively() {
        assert_eq!(archive_extension("/a/b.JAR"), Some("jar"));
        assert_eq!(archive_extension("x.hpi"), Some("hpi"));
        assert_eq!(archive_extension("x.zip"), None);
        assert_eq!(archive_extension("jar"), None);
    }
}
