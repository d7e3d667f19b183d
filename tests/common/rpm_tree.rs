//! Builds a one-layer [`FileTree`] from a fixture directory laid out like an image root, so the
//! rpm tests can run a cataloger without a layer tarball.

use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;

use inline_scan::catalog::Cataloger;
use inline_scan::digest::Digest;
use inline_scan::filesystem::{FileEntry, FileKind, FileTree};

/// Loads every path under `root` as a visible entry of a single layer whose diffID is `layer`,
/// and captures the contents of the regular files `cataloger` wants.
pub fn load(root: &Path, layer: Digest, cataloger: &dyn Cataloger) -> FileTree {
    let mut tree = FileTree {
        layers: vec![layer],
        ..FileTree::default()
    };
    add_directory(root, root, cataloger, &mut tree);
    tree
}

fn add_directory(root: &Path, directory: &Path, cataloger: &dyn Cataloger, tree: &mut FileTree) {
    let mut children: Vec<_> = fs::read_dir(directory)
        .unwrap_or_else(|error| panic!("cannot list fixture {}: {error}", directory.display()))
        .map(|child| child.expect("fixture directory entry").path())
        .collect();
    children.sort();
    for path in children {
        let relative = path.strip_prefix(root).expect("child is under the root");
        let image_path = format!("/{}", relative.to_string_lossy());
        let metadata = fs::symlink_metadata(&path).expect("fixture metadata");
        let kind = if metadata.file_type().is_symlink() {
            let target = fs::read_link(&path).expect("fixture link target");
            FileKind::Symlink(target.to_string_lossy().into_owned())
        } else if metadata.is_dir() {
            FileKind::Directory
        } else {
            FileKind::Regular
        };
        if kind == FileKind::Regular && cataloger.wants(&image_path) {
            let bytes = fs::read(&path).expect("fixture contents");
            tree.contents.insert(image_path.clone(), Arc::from(bytes));
        }
        let is_directory = kind == FileKind::Directory;
        tree.entries.insert(FileEntry {
            path: image_path,
            kind,
            mode: metadata.permissions().mode(),
            size: metadata.len(),
            uid: u64::from(metadata.uid()),
            gid: u64::from(metadata.gid()),
            layer: 0,
            hardlink_to: None,
        });
        if is_directory {
            add_directory(root, &path, cataloger, tree);
        }
    }
}
