//! Alpine packages from the apk database (`/lib/apk/db/installed`).
//!
//! The database is a list of records separated by blank lines, and each line is `X:value`
//! with a one-letter key. `F:` opens a directory, `R:` names a file inside it, `a:`/`M:` give the
//! owner and mode of the last file or directory, and `Z:` the last file's checksum.

use serde_json::{Map, Value, json};

use crate::filesystem::FileTree;

use super::registry::location;
use super::{CatalogWarning, Cataloger, Cpes, Environment, Evidence, Package, PackageType};
use super::{cpe, license, purl};

/// The apk cataloger, named as syft names it.
pub struct ApkCataloger;

const NAME: &str = "apk-db-cataloger";

fn is_database(path: &str) -> bool {
    path.ends_with("/lib/apk/db/installed")
}

impl Cataloger for ApkCataloger {
    fn name(&self) -> &'static str {
        NAME
    }

    fn wants(&self, path: &str) -> bool {
        is_database(path)
    }

    fn catalog(
        &self,
        tree: &FileTree,
        env: &Environment,
        warnings: &mut Vec<CatalogWarning>,
    ) -> Vec<Package> {
        let databases: Vec<String> = tree
            .files_matching(is_database)
            .map(|entry| entry.path.clone())
            .collect();
        let mut packages = Vec::new();
        for path in databases {
            let Some(bytes) = tree.read(&path) else {
                warnings.push(warning(&path, "contents were not captured".into()));
                continue;
            };
            let text = String::from_utf8_lossy(bytes);
            if text.trim().is_empty() {
                warnings.push(warning(
                    &path,
                    "file is empty, so no packages were read".into(),
                ));
                continue;
            }
            let (records, problems) = parse_installed(&text);
            for problem in problems {
                warnings.push(warning(&path, problem));
            }
            for record in records {
                packages.push(build_package(tree, env, &path, record));
            }
        }
        packages
    }
}

fn warning(path: &str, reason: String) -> CatalogWarning {
    CatalogWarning {
        cataloger: NAME,
        path: path.to_owned(),
        reason,
    }
}

/// One file or directory owned by a package.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ApkFile {
    pub path: String,
    pub owner_uid: String,
    pub owner_gid: String,
    pub permissions: String,
    pub digest: String,
}

/// One package record with the fields syft records.
#[derive(Debug, Default, Clone)]
pub struct ApkRecord {
    pub package: String,
    pub origin: String,
    pub maintainer: String,
    pub version: String,
    pub architecture: String,
    pub url: String,
    pub description: String,
    pub size: u64,
    pub installed_size: u64,
    pub dependencies: Vec<String>,
    pub provides: Vec<String>,
    pub checksum: String,
    pub commit: String,
    pub license: String,
    pub files: Vec<ApkFile>,
}

fn number(value: &str, line: usize, problems: &mut Vec<String>) -> u64 {
    value.parse().unwrap_or_else(|_| {
        problems.push(format!("line {line}: invalid number {value:?}"));
        0
    })
}

fn set_attributes(file: &mut ApkFile, value: &str) {
    let mut parts = value.splitn(4, ':');
    file.owner_uid = parts.next().unwrap_or("").to_owned();
    file.owner_gid = parts.next().unwrap_or("").to_owned();
    file.permissions = parts.next().unwrap_or("").to_owned();
}

/// Parses the installed database. Records without a `P:` name are dropped, and malformed
/// lines are skipped. Both are reported as problems.
pub fn parse_installed(text: &str) -> (Vec<ApkRecord>, Vec<String>) {
    let mut records = Vec::new();
    let mut problems = Vec::new();
    let mut current = ApkRecord::default();
    let mut has_fields = false;
    let mut directory = String::new();
    // Index in `current.files` of the last `R:` file and of the last `F:` directory.
    let mut last_file: Option<usize> = None;
    let mut last_dir: Option<usize> = None;

    let mut finish =
        |current: &mut ApkRecord, has_fields: &mut bool, problems: &mut Vec<String>| {
            let record = std::mem::take(current);
            if *has_fields {
                if record.package.is_empty() {
                    problems.push("record without a P: package name; skipped".to_owned());
                } else {
                    records.push(record);
                }
            }
            *has_fields = false;
        };

    for (index, raw) in text.split('\n').enumerate() {
        let line = raw.strip_suffix('\r').unwrap_or(raw);
        let number_of_line = index + 1;
        if line.trim().is_empty() {
            finish(&mut current, &mut has_fields, &mut problems);
            directory.clear();
            last_file = None;
            last_dir = None;
            continue;
        }
        let Some((key, value)) = line.split_once(':').filter(|(key, _)| key.len() == 1) else {
            problems.push(format!("line {number_of_line}: expected \"X:value\""));
            continue;
        };
        has_fields = true;
        match key {
            "P" => current.package = value.to_owned(),
            "o" => current.origin = value.to_owned(),
            "m" => current.maintainer = value.to_owned(),
            "V" => current.version = value.to_owned(),
            "A" => current.architecture = value.to_owned(),
            "U" => current.url = value.to_owned(),
            "T" => current.description = value.to_owned(),
            "S" => current.size = number(value, number_of_line, &mut problems),
            "I" => current.installed_size = number(value, number_of_line, &mut problems),
            "D" => current.dependencies = value.split_whitespace().map(str::to_owned).collect(),
            "p" => current.provides = value.split_whitespace().map(str::to_owned).collect(),
            "C" => current.checksum = value.to_owned(),
            "c" => current.commit = value.to_owned(),
            "L" => current.license = value.to_owned(),
            "F" => {
                directory = value.trim_matches('/').to_owned();
                current.files.push(ApkFile {
                    path: format!("/{directory}"),
                    ..ApkFile::default()
                });
                last_dir = Some(current.files.len() - 1);
                last_file = None;
            }
            "M" => {
                if let Some(dir) = last_dir.and_then(|i| current.files.get_mut(i)) {
                    set_attributes(dir, value);
                }
            }
            "R" => {
                let path = if directory.is_empty() {
                    format!("/{value}")
                } else {
                    format!("/{directory}/{value}")
                };
                current.files.push(ApkFile {
                    path,
                    ..ApkFile::default()
                });
                last_file = Some(current.files.len() - 1);
            }
            "a" => {
                if let Some(file) = last_file.and_then(|i| current.files.get_mut(i)) {
                    set_attributes(file, value);
                }
            }
            "Z" => {
                if let Some(file) = last_file.and_then(|i| current.files.get_mut(i)) {
                    file.digest = value.to_owned();
                }
            }
            _ => {}
        }
    }
    finish(&mut current, &mut has_fields, &mut problems);
    (records, problems)
}

/// Returns the algorithm name that syft records for an apk checksum: `Q1` is base64 SHA-1, `Q2` base64
/// SHA-256, and a bare value is hex MD5.
fn digest_algorithm(value: &str) -> &'static str {
    if value.starts_with("Q1") {
        "'Q1'+base64(sha1)"
    } else if value.starts_with("Q2") {
        "'Q2'+base64(sha256)"
    } else {
        "md5"
    }
}

fn file_json(file: &ApkFile) -> Value {
    let mut entry = Map::new();
    entry.insert("path".into(), json!(file.path));
    if !file.owner_uid.is_empty() {
        entry.insert("ownerUid".into(), json!(file.owner_uid));
    }
    if !file.owner_gid.is_empty() {
        entry.insert("ownerGid".into(), json!(file.owner_gid));
    }
    if !file.permissions.is_empty() {
        entry.insert("permissions".into(), json!(file.permissions));
    }
    if !file.digest.is_empty() {
        entry.insert(
            "digest".into(),
            json!({"algorithm": digest_algorithm(&file.digest), "value": file.digest}),
        );
    }
    Value::Object(entry)
}

fn build_package(tree: &FileTree, env: &Environment, db_path: &str, record: ApkRecord) -> Package {
    let locations: Vec<_> = location(tree, db_path, Evidence::Primary)
        .into_iter()
        .collect();
    let licenses = license::split_declared(&record.license, &locations);
    let files: Vec<Value> = record.files.iter().map(file_json).collect();
    let metadata = json!({
        "package": record.package,
        "originPackage": record.origin,
        "maintainer": record.maintainer,
        "version": record.version,
        "architecture": record.architecture,
        "url": record.url,
        "description": record.description,
        "size": record.size,
        "installedSize": record.installed_size,
        "pullDependencies": record.dependencies,
        "provides": record.provides,
        "pullChecksum": record.checksum,
        "gitCommitOfApkPort": record.commit,
        "files": files,
    });
    // Like syft, the upstream qualifier names the origin only when it differs.
    let upstream = if record.origin == record.package {
        ""
    } else {
        record.origin.as_str()
    };
    let purl = purl::os_package(
        "apk",
        env.distro.as_ref(),
        &record.package,
        &record.version,
        &[("arch", &record.architecture), ("upstream", upstream)],
    );
    let version = if record.version.is_empty() {
        "UNKNOWN".to_owned()
    } else {
        record.version
    };
    let mut package = Package {
        name: record.package,
        version,
        kind: PackageType::Apk,
        found_by: NAME,
        purl,
        cpes: Cpes::default(),
        licenses,
        locations,
        metadata_type: "apk-db-entry",
        files: None,
        metadata,
    };
    package.cpes = cpe::generate(&package);
    package
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_take_attributes_and_digests() {
        let text = "P:x\nV:1-r0\nF:usr/bin\nM:0:0:755\nR:tool\na:0:0:755\nZ:Q1abc=\n";
        let (records, problems) = parse_installed(text);
        assert!(problems.is_empty(), "{problems:?}");
        let files = &records[0].files;
        assert_eq!(files[0].path, "/usr/bin");
        assert_eq!(files[0].permissions, "755");
        assert_eq!(files[1].path, "/usr/bin/tool");
        assert_eq!(files[1].digest, "Q1abc=");
        assert_eq!(files[1].owner_uid, "0");
    }

    #[test]
    fn record_without_name_is_reported() {
        let (records, problems) = parse_installed("V:1\n\nP:ok\nV:2\n");
        assert_eq!(records.len(), 1);
        assert_eq!(problems.len(), 1);
    }

    #[test]
    fn truncated_line_is_reported() {
        let (records, problems) = parse_installed("P:musl\nV:1.2.3-r0\nS:12x");
        assert_eq!(records.len(), 1);
        assert_eq!(problems.len(), 1);
        let (_, problems) = parse_installed("P:musl\nV:1.2.3-r0\nInstal");
        assert_eq!(problems.len(), 1);
    }
}
