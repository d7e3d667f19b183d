//! The package model: what every cataloger records, shaped after syft's JSON artifacts so the
//! SBOM writers can render it without guessing.

use std::sync::Arc;

use serde::Serialize;

use super::Cpes;
use crate::digest::Digest;

/// A package ecosystem, spelled as syft's `type` field spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum PackageType {
    #[serde(rename = "deb")]
    Deb,
    #[serde(rename = "rpm")]
    Rpm,
    #[serde(rename = "apk")]
    Apk,
    #[serde(rename = "python")]
    Python,
    #[serde(rename = "npm")]
    Npm,
    #[serde(rename = "gem")]
    Gem,
    #[serde(rename = "java-archive")]
    JavaArchive,
    #[serde(rename = "jenkins-plugin")]
    JenkinsPlugin,
    #[serde(rename = "go-module")]
    GoModule,
    #[serde(rename = "rust-crate")]
    RustCrate,
    #[serde(rename = "binary")]
    Binary,
}

impl PackageType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Deb => "deb",
            Self::Rpm => "rpm",
            Self::Apk => "apk",
            Self::Python => "python",
            Self::Npm => "npm",
            Self::Gem => "gem",
            Self::JavaArchive => "java-archive",
            Self::JenkinsPlugin => "jenkins-plugin",
            Self::GoModule => "go-module",
            Self::RustCrate => "rust-crate",
            Self::Binary => "binary",
        }
    }

    /// Returns the `language` value syft records for this type, empty for OS packages.
    pub fn language(self) -> &'static str {
        match self {
            Self::Deb | Self::Rpm | Self::Apk | Self::Binary => "",
            Self::Python => "python",
            Self::Npm => "javascript",
            Self::Gem => "ruby",
            Self::JavaArchive | Self::JenkinsPlugin => "java",
            Self::GoModule => "go",
            Self::RustCrate => "rust",
        }
    }
}

/// Whether a location is the package's main record or a file that supports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Evidence {
    Primary,
    Supporting,
}

/// A file that is evidence for a package, and the layer the visible copy came from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The real path, after symlinks.
    pub path: String,
    /// The path as the cataloger requested it, when it differs from `path`.
    pub access_path: Option<String>,
    /// The diffID of the layer that supplied the file.
    pub layer_id: Digest,
    pub evidence: Evidence,
}

/// A licence as the package declares it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct License {
    /// The text as found (`GPL-2+`, `MIT`, `BSD-3-clause`).
    pub value: String,
    /// The SPDX expression, when the mapping from `value` is known.
    pub spdx_expression: Option<String>,
    /// `declared` (the package metadata states it) or `concluded` (derived from a licence file).
    pub kind: &'static str,
    /// Files the licence was read from.
    pub locations: Vec<Location>,
}

/// The Linux distribution of an image, from os-release or an older release file.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Distro {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub pretty_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version: String,
    #[serde(rename = "versionID", skip_serializing_if = "String::is_empty")]
    pub version_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub version_codename: String,
    #[serde(rename = "buildID", skip_serializing_if = "String::is_empty")]
    pub build_id: String,
    #[serde(rename = "imageID", skip_serializing_if = "String::is_empty")]
    pub image_id: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub image_version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub variant: String,
    #[serde(rename = "variantID", skip_serializing_if = "String::is_empty")]
    pub variant_id: String,
    #[serde(rename = "homeURL", skip_serializing_if = "String::is_empty")]
    pub home_url: String,
    #[serde(rename = "supportURL", skip_serializing_if = "String::is_empty")]
    pub support_url: String,
    #[serde(rename = "bugReportURL", skip_serializing_if = "String::is_empty")]
    pub bug_report_url: String,
    #[serde(rename = "privacyPolicyURL", skip_serializing_if = "String::is_empty")]
    pub privacy_policy_url: String,
    #[serde(rename = "cpeName", skip_serializing_if = "String::is_empty")]
    pub cpe_name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub support_end: String,
    #[serde(rename = "idLike", skip_serializing_if = "Vec::is_empty")]
    pub id_like: Vec<String>,
}

/// One package found in the image.
#[derive(Debug, Clone)]
pub struct Package {
    pub name: String,
    pub version: String,
    pub kind: PackageType,
    /// The cataloger that found it, by syft's name for the equivalent cataloger.
    pub found_by: &'static str,
    pub purl: String,
    pub cpes: Cpes,
    pub licenses: Vec<License>,
    /// Evidence files; the first is the primary record.
    pub locations: Vec<Location>,
    /// syft's `metadataType` for `metadata`.
    pub metadata_type: &'static str,
    /// Ecosystem metadata in syft's JSON shape for `metadata_type`.
    pub metadata: serde_json::Value,
    /// Files listed by the package's own record (a dpkg database entry, a Python RECORD).
    /// They are typed because an image can list hundreds of thousands, and a
    /// `serde_json::Value` object costs several times their text. When set, this list is the
    /// metadata's `files` field, and `metadata` keeps only a null in that field's place (see
    /// [`Package::metadata_json`]).
    pub files: Option<PackageFiles>,
}

impl Package {
    /// Returns the package's metadata as it is rendered: `metadata` with the typed `files` in
    /// place.
    pub fn metadata_json(&self) -> PackageMetadata<'_> {
        PackageMetadata(self)
    }
}

/// Serializes a package's metadata with its typed file list in place of the placeholder.
pub struct PackageMetadata<'a>(&'a Package);

impl PackageMetadata<'_> {
    /// Converts the rendered metadata to a `serde_json::Value`, for code that reads its fields.
    pub fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self).expect("package metadata serializes to a value")
    }
}

impl Serialize for PackageMetadata<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;

        let package = self.0;
        let (Some(files), serde_json::Value::Object(fields)) = (&package.files, &package.metadata)
        else {
            return package.metadata.serialize(serializer);
        };
        let mut map = serializer.serialize_map(Some(fields.len()))?;
        for (key, value) in fields {
            if key == "files" {
                map.serialize_entry(key, files)?;
            } else {
                map.serialize_entry(key, value)?;
            }
        }
        map.end()
    }
}

/// One file of a package's record: its path and, where the record gives them, its digest,
/// its size (as the record spells it) and whether it is a configuration file. It renders as
/// syft's entries of `files` do, with `path`, `digest` (`algorithm`, `value`), `size` and
/// `isConfigFile`, each only when present.
///
/// The text of all four lives in one allocation, because a file entry is made once and read
/// only to render it and to find package ownership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageFile {
    /// The path, the digest's algorithm, the digest's value and the size, back to back.
    text: Box<str>,
    path_end: u32,
    algorithm_end: u32,
    value_end: u32,
    has_digest: bool,
    has_size: bool,
    config: Option<bool>,
}

impl PackageFile {
    pub fn new(
        path: &str,
        digest: Option<(&str, &str)>,
        size: Option<&str>,
        config: Option<bool>,
    ) -> Self {
        let (algorithm, value) = digest.unwrap_or_default();
        let size_text = size.unwrap_or_default();
        let mut text =
            String::with_capacity(path.len() + algorithm.len() + value.len() + size_text.len());
        // Offsets fit in u32, because a file list comes from a captured file, and a captured
        // file is at most 512 MiB (`Limits::max_captured_file`).
        let offset = |text: &String| u32::try_from(text.len()).expect("a file record under 4 GiB");
        text.push_str(path);
        let path_end = offset(&text);
        text.push_str(algorithm);
        let algorithm_end = offset(&text);
        text.push_str(value);
        let value_end = offset(&text);
        text.push_str(size_text);
        Self {
            text: text.into_boxed_str(),
            path_end,
            algorithm_end,
            value_end,
            has_digest: digest.is_some(),
            has_size: size.is_some(),
            config,
        }
    }

    pub fn path(&self) -> &str {
        &self.text[..self.path_end as usize]
    }

    /// Returns the digest's algorithm and value.
    pub fn digest(&self) -> Option<(&str, &str)> {
        self.has_digest.then(|| {
            (
                &self.text[self.path_end as usize..self.algorithm_end as usize],
                &self.text[self.algorithm_end as usize..self.value_end as usize],
            )
        })
    }

    pub fn size(&self) -> Option<&str> {
        self.has_size.then(|| &self.text[self.value_end as usize..])
    }

    pub fn is_config_file(&self) -> Option<bool> {
        self.config
    }

    pub fn view(&self) -> FileView<'_> {
        FileView {
            path: self.path(),
            digest: self.digest(),
            size: self.size(),
            config: self.config,
        }
    }
}

impl Serialize for PackageFile {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.view().serialize(serializer)
    }
}

/// One file of a package's record, borrowed: from a [`PackageFile`] or from the text of a
/// Python RECORD.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FileView<'a> {
    pub path: &'a str,
    /// The digest's algorithm and value.
    pub digest: Option<(&'a str, &'a str)>,
    /// The size as the record spells it.
    pub size: Option<&'a str>,
    pub config: Option<bool>,
}

impl Serialize for FileView<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap as _;

        struct FileDigest<'a>(&'a str, &'a str);
        impl Serialize for FileDigest<'_> {
            fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(Some(2))?;
                map.serialize_entry("algorithm", self.0)?;
                map.serialize_entry("value", self.1)?;
                map.end()
            }
        }

        let fields = 1
            + usize::from(self.digest.is_some())
            + usize::from(self.size.is_some())
            + usize::from(self.config.is_some());
        let mut map = serializer.serialize_map(Some(fields))?;
        map.serialize_entry("path", self.path)?;
        if let Some((algorithm, value)) = self.digest {
            map.serialize_entry("digest", &FileDigest(algorithm, value))?;
        }
        if let Some(size) = self.size {
            map.serialize_entry("size", size)?;
        }
        if let Some(config) = self.config {
            map.serialize_entry("isConfigFile", &config)?;
        }
        map.end()
    }
}

/// The files of a package's record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PackageFiles {
    /// Files read one by one from the record.
    Listed(Vec<PackageFile>),
    /// The bytes of a Python RECORD file (`path,algorithm=value,size` lines), read again each
    /// time the files are listed. They are the bytes the file tree captured, shared, so the
    /// list costs no memory of its own: on the 2.3 GB benchmark image, 96,000 typed entries
    /// took 14 MB. The bytes are UTF-8, checked when the list was made.
    Record { bytes: Arc<[u8]>, len: usize },
}

impl PackageFiles {
    /// Reads a Python RECORD file's bytes. Returns the files and the number of lines that are
    /// not `path,hash,size`, which are skipped. Bytes that are not UTF-8 are read with
    /// replacement characters into a typed list. A RECORD with a quote character also goes into
    /// a typed list, because the file is CSV and Python's writer quotes a path with a comma or a
    /// quote in it.
    pub fn from_python_record(bytes: Arc<[u8]>) -> (Self, usize) {
        let Ok(text) = std::str::from_utf8(&bytes) else {
            return Self::listed_record(&String::from_utf8_lossy(&bytes));
        };
        if text.contains('"') {
            return Self::listed_record(text);
        }
        let (mut len, mut skipped) = (0, 0);
        for line in record_lines(text) {
            match line {
                Some(_) => len += 1,
                None => skipped += 1,
            }
        }
        (Self::Record { bytes, len }, skipped)
    }

    /// Reads RECORD lines into a typed list, with the quotes of a quoted path removed.
    fn listed_record(text: &str) -> (Self, usize) {
        let mut skipped = 0;
        let mut files = Vec::new();
        for line in text.lines().map(str::trim).filter(|line| !line.is_empty()) {
            let parsed = match unquote_path(line) {
                Some((path, rest)) => record_line_fields(rest)
                    .map(|(digest, size)| PackageFile::new(&path, digest, size, None)),
                None => record_line(line)
                    .map(|file| PackageFile::new(file.path, file.digest, file.size, None)),
            };
            match parsed {
                Some(file) => files.push(file),
                None => skipped += 1,
            }
        }
        (Self::Listed(files), skipped)
    }

    pub fn len(&self) -> usize {
        match self {
            Self::Listed(files) => files.len(),
            Self::Record { len, .. } => *len,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Returns the files in the record's order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = FileView<'_>> + '_> {
        match self {
            Self::Listed(files) => Box::new(files.iter().map(PackageFile::view)),
            Self::Record { bytes, .. } => {
                let text = std::str::from_utf8(bytes).expect("checked when the list was made");
                Box::new(record_lines(text).flatten())
            }
        }
    }
}

impl Serialize for PackageFiles {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.iter())
    }
}

/// Reads the lines of a Python RECORD file (`path,hash,size`, where the hash is
/// `algorithm=value`), skipping blank ones. A line without two commas, such as a merge-conflict
/// marker, comes out as `None`. An empty size, and a hash with no `=`, come out as absent.
fn record_lines(text: &str) -> impl Iterator<Item = Option<FileView<'_>>> {
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(record_line)
}

/// Reads one RECORD line whose path is not quoted. The path is everything before the last two
/// commas, so a path with a comma that was written without quotes is kept whole.
fn record_line(line: &str) -> Option<FileView<'_>> {
    let (before_size, _) = line.rsplit_once(',')?;
    let (path, _) = before_size.rsplit_once(',')?;
    let (digest, size) = record_line_fields(&line[path.len() + 1..])?;
    Some(FileView {
        path,
        digest,
        size,
        config: None,
    })
}

/// The digest and size a file's `hash,size` fields give.
type RecordFields<'a> = (Option<(&'a str, &'a str)>, Option<&'a str>);

/// Reads the `hash,size` fields that follow a quoted path.
fn record_line_fields(rest: &str) -> Option<RecordFields<'_>> {
    let (hash, size) = rest.rsplit_once(',')?;
    Some((hash.split_once('='), (!size.is_empty()).then_some(size)))
}

/// Splits a line that starts with a quoted path into the path, with each `""` read as one
/// quote, and the fields after the comma that ends it. Returns `None` when the line does not
/// start with a quote, or its closing quote is not followed by a comma.
fn unquote_path(line: &str) -> Option<(String, &str)> {
    let quoted = line.strip_prefix('"')?;
    let mut path = String::new();
    let mut chars = quoted.char_indices();
    while let Some((at, c)) = chars.next() {
        if c != '"' {
            path.push(c);
            continue;
        }
        match quoted[at + 1..].chars().next() {
            Some('"') => {
                path.push('"');
                chars.next();
            }
            Some(',') => return Some((path, &quoted[at + 2..])),
            _ => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn package(metadata: serde_json::Value, files: Option<PackageFiles>) -> Package {
        Package {
            name: "demo".into(),
            version: "1".into(),
            kind: PackageType::Deb,
            found_by: "test",
            purl: String::new(),
            cpes: Cpes::default(),
            licenses: Vec::new(),
            locations: Vec::new(),
            metadata_type: "dpkg-db-entry",
            metadata,
            files,
        }
    }

    #[test]
    fn typed_files_replace_placeholder() {
        let files = vec![
            PackageFile::new("/etc/demo.conf", Some(("md5", "0a1b")), None, Some(true)),
            PackageFile::new("/usr/bin/demo", None, None, Some(false)),
        ];
        let metadata = json!({"package": "demo", "files": null, "after": 1});
        let rendered = serde_json::to_string(
            &package(metadata, Some(PackageFiles::Listed(files))).metadata_json(),
        );
        assert_eq!(
            rendered.unwrap(),
            r#"{"package":"demo","files":[{"path":"/etc/demo.conf","digest":{"algorithm":"md5","value":"0a1b"},"isConfigFile":true},{"path":"/usr/bin/demo","isConfigFile":false}],"after":1}"#
        );
    }

    #[test]
    fn untyped_metadata_renders_unchanged() {
        // An rpm entry without files keeps its own null.
        let metadata = json!({"name": "demo", "files": null});
        let rendered = serde_json::to_string(&package(metadata, None).metadata_json());
        assert_eq!(rendered.unwrap(), r#"{"name":"demo","files":null}"#);
    }

    #[test]
    fn package_file_parts_round_trip() {
        let file = PackageFile::new("a/b.py", Some(("", "")), Some("12"), None);
        assert_eq!(file.path(), "a/b.py");
        assert_eq!(file.digest(), Some(("", "")));
        assert_eq!(file.size(), Some("12"));
        assert_eq!(file.is_config_file(), None);
        let bare = PackageFile::new("x", None, Some(""), None);
        assert_eq!(bare.digest(), None);
        assert_eq!(bare.size(), Some(""));
        assert_eq!(
            serde_json::to_value(&bare).unwrap(),
            json!({"path": "x", "size": ""})
        );
    }

    #[test]
    fn record_quoted_paths_are_unquoted() {
        let bytes: &[u8] = b"\"pkg/a,b.py\",sha256=abc,12\n\
            \"pkg/say \"\"hi\"\".txt\",,\n\
            \"pkg/open.py,sha256=def,3\n\
            \"pkg/short.py\",sha256=xyz\n\
            plain/c.py,sha256=ghi,4\n";
        let (files, skipped) = PackageFiles::from_python_record(bytes.into());
        assert!(matches!(files, PackageFiles::Listed(_)));
        assert_eq!(skipped, 1, "the quoted path with one field after it");
        let rendered = serde_json::to_value(&files).unwrap();
        assert_eq!(
            rendered,
            json!([
                {"path": "pkg/a,b.py", "digest": {"algorithm": "sha256", "value": "abc"}, "size": "12"},
                {"path": "pkg/say \"hi\".txt"},
                {"path": "\"pkg/open.py", "digest": {"algorithm": "sha256", "value": "def"}, "size": "3"},
                {"path": "plain/c.py", "digest": {"algorithm": "sha256", "value": "ghi"}, "size": "4"},
            ])
        );
    }
}
