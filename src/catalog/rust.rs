//! Rust crates compiled into ELF binaries built with `cargo auditable`, which embeds the
//! dependency tree as zlib-compressed JSON in a `.dep-v0` section.
//!
//! Each crate the tree lists as a runtime dependency (the root included) becomes a
//! `rust-crate` package, as syft 1.18.1 reports them. Build-time dependencies are left out,
//! because they are not linked into the binary.

use crate::catalog::extracted_results;
use std::io::Read;
use std::sync::Arc;

use object::{Object, ObjectSection};
use serde::Deserialize;
use serde_json::json;

use super::golang::ELF_MAGIC;
use super::{CatalogWarning, Cataloger, Cpes, Environment, Package, PackageType};
use crate::filesystem::FileTree;
use crate::layer::{ExtractResult, Extractor, FileData};

/// The cataloger's name as syft spells it.
pub const NAME: &str = "cargo-auditable-binary-cataloger";
/// The section cargo-auditable writes.
const SECTION: &str = ".dep-v0";
/// The largest decompressed dependency tree read, in bytes. cargo-auditable itself caps it
/// well below this.
const MAX_TREE: u64 = 8 * 1024 * 1024;

/// The dependency tree of one binary, as cargo-auditable writes it.
#[derive(Debug, Clone, Deserialize)]
pub struct AuditTree {
    pub packages: Vec<AuditPackage>,
}

/// One crate of the tree.
#[derive(Debug, Clone, Deserialize)]
pub struct AuditPackage {
    pub name: String,
    pub version: String,
    /// `crates.io`, `local`, `git`, `registry` or `other`.
    pub source: String,
    /// `runtime` (the default when absent) or `build`.
    #[serde(default)]
    pub kind: Option<String>,
}

/// Reads the cargo-auditable section of ELF binaries.
#[derive(Debug, Default, Clone, Copy)]
pub struct CargoAuditableCataloger;

/// Reads and parses the `.dep-v0` section of an ELF file. Returns `Ok(None)` when there is
/// no such section.
pub fn read_audit_tree<'data, R: object::ReadRef<'data>>(
    data: R,
) -> Result<Option<AuditTree>, String> {
    let Ok(file) = object::File::parse(data) else {
        return Ok(None);
    };
    let Some(section) = file.section_by_name(SECTION) else {
        return Ok(None);
    };
    let compressed = section
        .data()
        .map_err(|error| format!("failed to read the {SECTION} section: {error}"))?;
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(compressed)
        .take(MAX_TREE + 1)
        .read_to_end(&mut json)
        .map_err(|error| format!("failed to decompress the {SECTION} section: {error}"))?;
    if json.len() as u64 > MAX_TREE {
        return Err(format!(
            "the {SECTION} section decompresses to more than {MAX_TREE} bytes"
        ));
    }
    serde_json::from_slice(&json)
        .map(Some)
        .map_err(|error| format!("invalid JSON in the {SECTION} section: {error}"))
}

impl Extractor for CargoAuditableCataloger {
    fn name(&self) -> &'static str {
        NAME
    }

    fn claims(&self, _path: &str, head: &[u8]) -> bool {
        head.starts_with(ELF_MAGIC)
    }

    fn extract(&self, _path: &str, data: &mut dyn FileData, _size: u64) -> Option<ExtractResult> {
        let cache = object::ReadCache::new(data);
        match read_audit_tree(&cache) {
            Ok(Some(tree)) => Some(Ok(Arc::new(tree))),
            Ok(None) => None,
            Err(reason) => Some(Err(reason)),
        }
    }
}

impl Cataloger for CargoAuditableCataloger {
    fn name(&self) -> &'static str {
        NAME
    }

    fn wants(&self, _path: &str) -> bool {
        false
    }

    fn extractor(&self) -> Option<&dyn Extractor> {
        Some(self)
    }

    fn catalog(
        &self,
        tree: &FileTree,
        _env: &Environment,
        warnings: &mut Vec<CatalogWarning>,
    ) -> Vec<Package> {
        let mut packages = Vec::new();
        for (_path, audit, location) in extracted_results::<AuditTree>(tree, NAME, warnings) {
            for crate_entry in &audit.packages {
                let runtime = crate_entry
                    .kind
                    .as_deref()
                    .is_none_or(|kind| kind == "runtime");
                if !runtime || crate_entry.name.is_empty() {
                    continue;
                }
                packages.push(crate_package(crate_entry, &location));
            }
        }
        packages
    }
}

fn crate_package(entry: &AuditPackage, location: &super::Location) -> Package {
    let mut package = Package {
        name: entry.name.clone(),
        version: entry.version.clone(),
        kind: PackageType::RustCrate,
        found_by: NAME,
        purl: super::purl::render("cargo", None, &entry.name, &entry.version, &[]),
        cpes: Cpes::default(),
        licenses: Vec::new(),
        locations: vec![location.clone()],
        metadata_type: "rust-cargo-audit-entry",
        files: None,
        metadata: json!({
            "name": entry.name,
            "version": entry.version,
            "source": entry.source,
        }),
    };
    package.cpes = super::cpe::generate(&package);
    package
}
