//! The rpm cataloger: installed packages from rpm's databases (sqlite, BerkeleyDB hash, ndb)
//! and from CBL-Mariner's distroless manifest.
//!
//! Version rule: `[epoch:]version-release`. The epoch is shown whenever the header stores an
//! EPOCH tag, 0 included, and left out when the tag is absent (`1.0-1`, `2:0.5-3.sbt`), as
//! syft 1.18.1's rpm-db-cataloger prints it. Consumers such as grype read a missing epoch as 0.

pub mod bdb;
mod cpe;
mod database;
mod header;
mod manifest;
mod ndb;
mod purl;
mod record;
mod sqlite;

use serde_json::{Value, json};

use crate::catalog::{
    CatalogWarning, Cataloger, Environment, Evidence, License, Location, Package, PackageType,
};
use crate::filesystem::{FileEntry, FileTree};

pub use database::DatabaseError;
pub use header::HeaderError;
pub use manifest::ManifestError;
pub use record::{FileRecord, PackageRecord};

/// The name syft gives the cataloger, recorded in each package's `foundBy`. syft 1.18.1 uses it
/// for the manifest too.
pub const CATALOGER_NAME: &str = "rpm-db-cataloger";

const DATABASE_SUFFIXES: [&str; 9] = [
    "/var/lib/rpm/Packages",
    "/var/lib/rpm/Packages.db",
    "/var/lib/rpm/rpmdb.sqlite",
    "/usr/share/rpm/Packages",
    "/usr/share/rpm/Packages.db",
    "/usr/share/rpm/rpmdb.sqlite",
    "/usr/lib/sysimage/rpm/Packages",
    "/usr/lib/sysimage/rpm/Packages.db",
    "/usr/lib/sysimage/rpm/rpmdb.sqlite",
];
const MANIFEST_SUFFIX: &str = "/var/lib/rpmmanifest/container-manifest-2";

/// The reader a wanted file needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Source {
    Sqlite,
    BerkeleyHash,
    Ndb,
    Manifest,
}

fn source_of(path: &str) -> Option<Source> {
    if path.ends_with(MANIFEST_SUFFIX) {
        return Some(Source::Manifest);
    }
    let suffix = DATABASE_SUFFIXES
        .iter()
        .find(|suffix| path.ends_with(*suffix))?;
    Some(if suffix.ends_with("rpmdb.sqlite") {
        Source::Sqlite
    } else if suffix.ends_with("Packages.db") {
        Source::Ndb
    } else {
        Source::BerkeleyHash
    })
}

/// Catalogs rpm packages from the databases under `var/lib/rpm`, `usr/share/rpm` and
/// `usr/lib/sysimage/rpm`, and from `var/lib/rpmmanifest/container-manifest-2`.
#[derive(Debug, Clone, Copy, Default)]
pub struct RpmCataloger;

impl Cataloger for RpmCataloger {
    fn name(&self) -> &'static str {
        CATALOGER_NAME
    }

    fn wants(&self, path: &str) -> bool {
        source_of(path).is_some()
    }

    fn catalog(
        &self,
        tree: &FileTree,
        env: &Environment,
        warnings: &mut Vec<CatalogWarning>,
    ) -> Vec<Package> {
        let mut packages = Vec::new();
        for entry in tree.files_matching(|path| source_of(path).is_some()) {
            let Some(source) = source_of(&entry.path) else {
                continue;
            };
            let mut warn = |reason: String| {
                warnings.push(CatalogWarning {
                    cataloger: CATALOGER_NAME,
                    path: entry.path.clone(),
                    reason,
                });
            };
            let Some(bytes) = tree.contents.get(&entry.path) else {
                warn("the file's contents were not captured from the layer".to_owned());
                continue;
            };
            let records = read_records(source, bytes, &mut warn);
            tracing::debug!(
                path = %entry.path,
                packages = records.len(),
                "read rpm package records"
            );
            let location = location_of(tree, &entry);
            for record in records {
                let with_files = source != Source::Manifest;
                packages.push(to_package(record, with_files, &location, tree, env));
            }
        }
        packages
    }
}

/// Reads the package records of one file. Damage becomes a warning through `warn`, and the
/// records read before it are kept.
fn read_records(source: Source, bytes: &[u8], warn: &mut impl FnMut(String)) -> Vec<PackageRecord> {
    if source == Source::Manifest {
        let text = String::from_utf8_lossy(bytes);
        let (records, errors) = manifest::parse(&text);
        for error in errors {
            warn(format!("invalid rpm manifest: {error}"));
        }
        return records;
    }
    let read = match source {
        Source::Sqlite => sqlite::read_blobs(bytes),
        Source::BerkeleyHash => bdb::read_blobs(bytes),
        Source::Ndb => ndb::read_blobs(bytes),
        Source::Manifest => unreachable!("handled above"),
    };
    if let Some(error) = &read.error {
        warn(format!(
            "{error}; kept the {} package headers read before it",
            read.blobs.len()
        ));
    }
    let mut records = Vec::with_capacity(read.blobs.len());
    for (number, blob) in read.blobs.iter().enumerate() {
        match PackageRecord::from_blob(blob) {
            Ok(record) => records.push(record),
            Err(error) => warn(format!(
                "skipped package header {} of {}: {error}",
                number + 1,
                read.blobs.len()
            )),
        }
    }
    records
}

fn location_of(tree: &FileTree, entry: &FileEntry) -> Location {
    Location {
        path: entry.path.clone(),
        access_path: None,
        layer_id: tree.layer_digest(entry.layer).clone(),
        evidence: Evidence::Primary,
    }
}

/// Formats the version as `[epoch:]version-release`.
pub fn version_string(record: &PackageRecord) -> String {
    match record.epoch {
        Some(epoch) => format!("{epoch}:{}", version_release(record)),
        None => version_release(record),
    }
}

/// Formats `version-release`, the purl version, which carries the epoch as a qualifier.
fn version_release(record: &PackageRecord) -> String {
    if record.release.is_empty() {
        record.version.clone()
    } else {
        format!("{}-{}", record.version, record.release)
    }
}

fn to_package(
    record: PackageRecord,
    with_files: bool,
    location: &Location,
    tree: &FileTree,
    env: &Environment,
) -> Package {
    let version = version_string(&record);
    let purl = purl::package_url(
        &record.name,
        &version_release(&record),
        &record.arch,
        record.epoch,
        &record.source_rpm,
        env.distro.as_ref(),
    );
    let cpes = cpe::generate(&record.name, &record.vendor, &version);
    let licenses = if record.license.is_empty() {
        Vec::new()
    } else {
        vec![License {
            value: record.license.clone(),
            // TODO: map the LICENSE text to an SPDX expression as syft does (exact SPDX ids
            // and valid expressions only); that needs the SPDX licence list.
            spdx_expression: None,
            kind: "declared",
            locations: vec![location.clone()],
        }]
    };
    let metadata = if with_files {
        database_metadata(&record, tree)
    } else {
        manifest_metadata(&record)
    };
    Package {
        name: record.name,
        version,
        kind: PackageType::Rpm,
        found_by: CATALOGER_NAME,
        purl,
        cpes,
        licenses,
        locations: vec![location.clone()],
        metadata_type: "rpm-db-entry",
        files: None,
        metadata,
    }
}

/// Builds the `rpm-db-entry` metadata of a database record. Like syft, it lists only the files
/// that exist in the image.
fn database_metadata(record: &PackageRecord, tree: &FileTree) -> Value {
    let files: Vec<Value> = record
        .files
        .iter()
        .filter(|file| tree.resolve(&file.path).is_some())
        .map(|file| {
            json!({
                "path": file.path,
                "mode": file.mode,
                "size": file.size,
                "digest": {"algorithm": file.digest_algorithm, "value": file.digest},
                "userName": file.user_name,
                "groupName": file.group_name,
                "flags": record::file_flags_string(file.flags),
            })
        })
        .collect();
    json!({
        "name": record.name,
        "version": record.version,
        "epoch": record.epoch,
        "architecture": record.arch,
        "release": record.release,
        "sourceRpm": record.source_rpm,
        "size": record.size,
        "vendor": record.vendor,
        "modularityLabel": record.modularity_label,
        "provides": record.provides,
        "requires": record.requires,
        "files": files,
    })
}

/// Builds the `rpm-db-entry` metadata of a manifest line, which carries no dependency or file
/// lists.
fn manifest_metadata(record: &PackageRecord) -> Value {
    json!({
        "name": record.name,
        "version": record.version,
        "epoch": record.epoch,
        "architecture": record.arch,
        "release": record.release,
        "sourceRpm": record.source_rpm,
        "size": record.size,
        "vendor": record.vendor,
        "files": null,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wants_database_and_manifest_paths() {
        let cataloger = RpmCataloger;
        assert!(cataloger.wants("/var/lib/rpm/Packages"));
        assert!(cataloger.wants("/usr/lib/sysimage/rpm/Packages.db"));
        assert!(cataloger.wants("/usr/share/rpm/rpmdb.sqlite"));
        assert!(cataloger.wants("/srv/chroot/var/lib/rpm/rpmdb.sqlite"));
        assert!(cataloger.wants("/var/lib/rpmmanifest/container-manifest-2"));
        assert!(!cataloger.wants("/var/lib/rpm/Name"));
        assert!(!cataloger.wants("/var/lib/rpm/Packages.bak"));
        assert!(!cataloger.wants("/var/lib/dpkg/status"));
    }

    #[test]
    fn version_shows_epoch_only_when_stored() {
        let mut record = PackageRecord {
            version: "1.0".into(),
            release: "1".into(),
            ..PackageRecord::default()
        };
        assert_eq!(version_string(&record), "1.0-1");
        record.epoch = Some(0);
        assert_eq!(version_string(&record), "0:1.0-1");
        record.epoch = Some(2);
        assert_eq!(version_string(&record), "2:1.0-1");
    }
}
