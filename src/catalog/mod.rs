//! Package catalogers and the package model they produce.
//!
//! A cataloger declares which file contents it needs ([`Cataloger::wants`]) and may claim files
//! by their first bytes through an [`Extractor`] ([`Cataloger::extractor`]). The layer walk
//! captures exactly those while it streams the image, and after squashing each cataloger reads
//! them from the [`FileTree`]. Catalogers never touch the image source themselves.

pub mod apk;
pub mod cpe;
pub mod cpe_list;
pub mod distro;
pub mod dpkg;
pub mod golang;
pub mod java;
pub mod license;
pub mod npm;
pub mod package;
pub mod purl;
pub mod python;
pub mod registry;
pub mod relationships;
pub mod rpm;
pub mod ruby;
pub mod rust;

pub use cpe_list::{Cpe, CpeSource, Cpes, CpesBuilder};
pub use package::{
    Distro, Evidence, FileView, License, Location, Package, PackageFile, PackageFiles, PackageType,
};

use std::sync::Arc;

use crate::filesystem::FileTree;
use crate::layer::{CapturePolicy, Extractor};

/// Facts about the image that catalogers share, found before packages are cataloged.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// The Linux distribution, when an os-release or older release file identifies one.
    pub distro: Option<Distro>,
}

/// A problem one cataloger met. The rest of the image is still cataloged, and the problem is
/// reported as a warning naming the file.
#[derive(Debug, thiserror::Error)]
#[error("{cataloger}: could not read {path}: {reason}")]
pub struct CatalogWarning {
    pub cataloger: &'static str,
    pub path: String,
    pub reason: String,
}

/// Finds the packages of one ecosystem in a squashed file system.
pub trait Cataloger: Send + Sync {
    /// Returns the cataloger's name as syft spells it (recorded in each package's `foundBy`).
    fn name(&self) -> &'static str;

    /// Whether the layer walk should capture the contents of the regular file at `path` (an
    /// absolute, normalised path as it appears in a layer). Called once per file per layer, so
    /// it must be cheap.
    fn wants(&self, path: &str) -> bool;

    /// Returns the extractor that reads this cataloger's files by claim, for files found by
    /// their first bytes or too big to capture whole. Its results are in
    /// [`FileTree::extracts`] under [`Extractor::name`].
    fn extractor(&self) -> Option<&dyn Extractor> {
        None
    }

    /// Catalogs packages from the squashed tree. A broken database becomes a warning in
    /// `warnings`; the packages that could be read are still returned.
    fn catalog(
        &self,
        tree: &FileTree,
        env: &Environment,
        warnings: &mut Vec<CatalogWarning>,
    ) -> Vec<Package>;
}

/// The result of cataloging one image.
#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub distro: Option<Distro>,
    pub packages: Vec<Package>,
    /// Relationships among `packages`, and between them and the image's files.
    pub relationships: relationships::Relationships,
}

/// The capture policy of a set of catalogers: the files distro detection or any cataloger
/// wants whole, and every cataloger's extractor.
pub struct CatalogerCapture {
    pub catalogers: Arc<Vec<Box<dyn Cataloger>>>,
}

impl CapturePolicy for CatalogerCapture {
    fn wants(&self, path: &str) -> bool {
        registry::wants_any(&self.catalogers, path)
    }

    fn extractors(&self) -> Vec<&dyn Extractor> {
        self.catalogers
            .iter()
            .filter_map(|cataloger| cataloger.extractor())
            .collect()
    }
}

/// Returns each visible path with the result of type `T` that the extractor `name` kept for it,
/// in path order, plus the primary location of the file. A failed extraction becomes a warning
/// naming the path, and a path that no longer resolves is skipped.
pub fn extracted_results<'a, T: 'static>(
    tree: &'a FileTree,
    name: &'static str,
    warnings: &mut Vec<CatalogWarning>,
) -> Vec<(&'a str, &'a T, Location)> {
    let mut found = Vec::new();
    for path in tree.extracted_paths(name) {
        let Some(extract) = tree.extract(path, name) else {
            continue;
        };
        let value = match &extract.result {
            Ok(value) => value.downcast_ref::<T>(),
            Err(reason) => {
                warnings.push(CatalogWarning {
                    cataloger: name,
                    path: path.to_owned(),
                    reason: reason.clone(),
                });
                continue;
            }
        };
        let location = registry::location(tree, path, Evidence::Primary);
        if let (Some(value), Some(location)) = (value, location) {
            found.push((path, value, location));
        }
    }
    found
}
