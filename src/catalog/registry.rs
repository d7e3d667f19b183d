//! The list of catalogers and the run that turns a squashed tree into a [`Catalog`].

use std::collections::HashMap;

use sha2::{Digest as _, Sha256};

use crate::filesystem::FileTree;
use crate::squash::layer_view;

use super::apk::ApkCataloger;
use super::dpkg::DpkgCataloger;
use super::golang::GoBinaryCataloger;
use super::java::JavaArchiveCataloger;
use super::npm::NpmCataloger;
use super::python::PythonCataloger;
use super::relationships::{self, Relationships};
use super::rpm::RpmCataloger;
use super::ruby::GemspecCataloger;
use super::rust::CargoAuditableCataloger;
use super::{Catalog, CatalogWarning, Cataloger, Environment, Evidence, Location, Package};
use super::{License, distro};

/// The file systems of an image that are cataloged, named as syft's `--scope` values.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Scope {
    /// The squashed file system, as a container runs on it.
    #[default]
    Squashed,
    /// Every layer's own files as well, so packages that an upper layer replaced or deleted
    /// are reported too.
    AllLayers,
}

impl Scope {
    /// Returns the value as syft spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Squashed => "squashed",
            Self::AllLayers => "all-layers",
        }
    }

    /// Catalogs `tree` in this scope.
    pub fn run(
        self,
        tree: &FileTree,
        catalogers: &[Box<dyn Cataloger>],
    ) -> (Catalog, Vec<CatalogWarning>) {
        match self {
            Self::Squashed => run(tree, catalogers),
            Self::AllLayers => run_all_layers(tree, catalogers),
        }
    }
}

/// Returns the catalogers an image scan runs, in the order their packages are gathered.
pub fn default_catalogers() -> Vec<Box<dyn Cataloger>> {
    vec![
        Box::new(DpkgCataloger),
        Box::new(ApkCataloger),
        Box::new(RpmCataloger),
        Box::new(PythonCataloger),
        Box::new(NpmCataloger),
        Box::new(GemspecCataloger),
        Box::new(JavaArchiveCataloger),
        Box::new(GoBinaryCataloger),
        Box::new(CargoAuditableCataloger),
    ]
}

/// Returns whether the layer walk must capture `path`, because distro detection or a
/// cataloger reads it.
pub fn wants_any(catalogers: &[Box<dyn Cataloger>], path: &str) -> bool {
    distro::wants(path) || catalogers.iter().any(|cataloger| cataloger.wants(path))
}

/// Returns the location of the visible file at `path` (symlinks followed), or `None` when
/// the path does not resolve. `access_path` is set when the real path differs from the one requested.
pub fn location(tree: &FileTree, path: &str, evidence: Evidence) -> Option<Location> {
    let resolved = tree.resolve(path)?;
    let access_path = (resolved.real_path != path).then(|| path.to_owned());
    Some(Location {
        layer_id: tree.layer_digest(resolved.entry.layer).clone(),
        path: resolved.real_path,
        access_path,
        evidence,
    })
}

/// Detects the distro, runs every cataloger and returns the packages sorted by type, name,
/// version and first location, with duplicates merged. Packages are duplicates when they
/// agree on everything, the paths of their locations included, but not on the layers of
/// those locations. The merged package keeps every location. Packages found in binaries that an OS package
/// owns are dropped, and the relationships are computed on the packages that remain.
pub fn run(tree: &FileTree, catalogers: &[Box<dyn Cataloger>]) -> (Catalog, Vec<CatalogWarning>) {
    let env = Environment {
        distro: distro::detect(tree),
    };
    let mut warnings = Vec::new();
    let packages = catalog_tree(tree, &env, catalogers, &mut warnings);
    (assemble(tree, env, packages), warnings)
}

/// Catalogs every layer's own files, as `--scope all-layers` requests. For each layer, the
/// catalogers read the file system as it was once that layer had been applied, and the
/// packages whose primary evidence comes from that layer are kept. A package found in
/// several layers is reported once, with every location. The distro and the file ownership
/// come from the squashed tree.
pub fn run_all_layers(
    tree: &FileTree,
    catalogers: &[Box<dyn Cataloger>],
) -> (Catalog, Vec<CatalogWarning>) {
    let env = Environment {
        distro: distro::detect(tree),
    };
    let mut warnings: Vec<CatalogWarning> = Vec::new();
    let mut packages = Vec::new();
    for (index, layer) in tree.layers.iter().enumerate() {
        let view = layer_view(tree, index);
        let mut layer_warnings = Vec::new();
        let found = catalog_tree(&view, &env, catalogers, &mut layer_warnings);
        packages.extend(found.into_iter().filter(|package| {
            package
                .locations
                .first()
                .is_some_and(|location| &location.layer_id == layer)
        }));
        // A damaged file that stays in place is seen again from every layer above it.
        for warning in layer_warnings {
            let text = warning.to_string();
            if !warnings.iter().any(|seen| seen.to_string() == text) {
                warnings.push(warning);
            }
        }
    }
    (assemble(tree, env, packages), warnings)
}

/// Runs every cataloger on `tree`.
fn catalog_tree(
    tree: &FileTree,
    env: &Environment,
    catalogers: &[Box<dyn Cataloger>],
    warnings: &mut Vec<CatalogWarning>,
) -> Vec<Package> {
    let mut packages = Vec::new();
    for cataloger in catalogers {
        // A bug in one cataloger must not stop the analysis: its packages are lost, the rest of
        // the image is still cataloged, and the failure is reported as a warning.
        let mut own_warnings = Vec::new();
        let started = std::time::Instant::now();
        let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            cataloger.catalog(tree, env, &mut own_warnings)
        }));
        warnings.append(&mut own_warnings);
        let found = match outcome {
            Ok(found) => found,
            Err(panic) => {
                let reason = panic
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| panic.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".to_owned());
                warnings.push(CatalogWarning {
                    cataloger: cataloger.name(),
                    path: "(image)".to_owned(),
                    reason: format!("internal error, packages of this kind are missing: {reason}"),
                });
                Vec::new()
            }
        };
        tracing::debug!(
            cataloger = cataloger.name(),
            packages = found.len(),
            ms = format_args!("{:.1}", started.elapsed().as_secs_f64() * 1000.0),
            "cataloger finished"
        );
        packages.extend(found);
    }
    packages
}

/// Sorts and merges the packages, drops owned binaries and derives the relationships.
fn assemble(tree: &FileTree, env: Environment, mut packages: Vec<Package>) -> Catalog {
    for package in &mut packages {
        sort_licenses(&mut package.licenses);
    }
    let mut packages = merge_duplicates(packages);
    packages.sort_by(|a, b| {
        a.kind
            .cmp(&b.kind)
            .then_with(|| a.name.cmp(&b.name))
            .then_with(|| a.version.cmp(&b.version))
            .then_with(|| first_path(a).cmp(first_path(b)))
    });
    let (packages, overlaps) = relationships::remove_owned_binaries(packages);
    let relationships = Relationships {
        dependency_of: relationships::dependencies(&packages),
        contains: relationships::owned_files(tree, &packages),
        overlaps,
    };
    Catalog {
        distro: env.distro,
        packages,
        relationships,
    }
}

fn first_path(package: &Package) -> &str {
    package
        .locations
        .first()
        .map(|location| location.path.as_str())
        .unwrap_or("")
}

fn sort_licenses(licenses: &mut Vec<License>) {
    licenses.sort_by(|a, b| {
        a.value
            .cmp(&b.value)
            .then_with(|| a.spdx_expression.cmp(&b.spdx_expression))
            .then_with(|| a.kind.cmp(b.kind))
    });
    licenses.dedup_by(|later, earlier| {
        let same = later.value == earlier.value
            && later.spdx_expression == earlier.spdx_expression
            && later.kind == earlier.kind;
        if same {
            add_locations(&mut earlier.locations, std::mem::take(&mut later.locations));
        }
        same
    });
}

fn add_locations(into: &mut Vec<Location>, from: Vec<Location>) {
    for location in from {
        if !into.contains(&location) {
            into.push(location);
        }
    }
}

/// Computes a sha256 over everything that makes a package itself, with the paths of its locations but
/// not their layers. As in syft 1.18.1, the same file read from two layers is one package, and
/// the same manifest at two paths is two.
///
/// The metadata goes in as compact JSON through a writer into the hasher, so no string of it is
/// built: a Python package's metadata lists every file of its RECORD, tens of thousands of
/// entries in a large image.
fn identity(package: &Package) -> [u8; 32] {
    let mut hasher = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hasher.update((bytes.len() as u64).to_le_bytes());
        hasher.update(bytes);
    };
    field(package.kind.as_str().as_bytes());
    field(package.name.as_bytes());
    field(package.version.as_bytes());
    field(package.purl.as_bytes());
    field(package.found_by.as_bytes());
    field(&(package.licenses.len() as u64).to_le_bytes());
    for license in &package.licenses {
        field(license.value.as_bytes());
        match &license.spdx_expression {
            Some(expression) => field(&[b"+", expression.as_bytes()].concat()),
            None => field(b"-"),
        }
        field(license.kind.as_bytes());
    }
    let mut paths: Vec<&str> = package
        .locations
        .iter()
        .map(|location| location.path.as_str())
        .collect();
    paths.sort_unstable();
    paths.dedup();
    field(&(paths.len() as u64).to_le_bytes());
    for path in paths {
        field(path.as_bytes());
    }
    // serde_json fails only on a writer error or a map key that is not a string. The hasher's
    // writer returns no error, and a `Value` map's keys are strings.
    serde_json::to_writer(HashWriter(&mut hasher), &package.metadata_json())
        .expect("metadata serializes into a hasher");
    hasher.finalize().into()
}

/// Feeds written bytes into a sha256.
struct HashWriter<'a>(&'a mut Sha256);

impl std::io::Write for HashWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.update(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn merge_duplicates(packages: Vec<Package>) -> Vec<Package> {
    let mut index: HashMap<[u8; 32], usize> = HashMap::new();
    let mut merged: Vec<Package> = Vec::with_capacity(packages.len());
    for package in packages {
        let key = identity(&package);
        match index.get(&key) {
            Some(&position) => {
                let existing = &mut merged[position];
                add_locations(&mut existing.locations, package.locations);
                for (target, source) in existing.licenses.iter_mut().zip(package.licenses) {
                    add_locations(&mut target.locations, source.locations);
                }
            }
            None => {
                index.insert(key, merged.len());
                merged.push(package);
            }
        }
    }
    merged
}
