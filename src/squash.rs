//! Squash: stacks layer scans, bottom first, into the file system a container would see.
//!
//! The rules are those of the OCI image layer specification and of overlayfs:
//! - `.wh.NAME` deletes NAME and everything under it from the lower layers;
//! - `.wh..wh..opq` hides the lower children of its directory, before the layer's own entries
//!   are added;
//! - a non-directory at a path where a lower layer has a directory replaces the whole subtree;
//! - a directory at a path where a lower layer has a non-directory replaces it;
//! - otherwise the upper entry wins.
//!
//! The tree keeps one invariant: every entry's ancestors exist as directories. Subtrees are
//! removed with a range scan of the sorted map, so the cost of a removal grows with the size of
//! the subtree, not of the image.

use std::sync::Arc;

use crate::filesystem::{FileEntry, FileKind, FileTree, RetiredEntry};
use crate::layer::{Extracts, LayerEntry, LayerEntryKind, LayerScan};

/// The size of a layer's entry list from which the squash hands the freed memory back to the
/// kernel once the layer is added.
const TRIM_AFTER_BYTES: usize = 256 * 1024;

/// Mode given to a parent directory that a layer implies but does not list.
const IMPLIED_DIRECTORY_MODE: u32 = 0o755;

/// A builder of the squashed [`FileTree`], fed layer scans in order, bottom layer first.
#[derive(Debug, Default)]
pub struct Squasher {
    tree: FileTree,
    /// Index of the layer being applied.
    current: usize,
}

impl Squasher {
    pub fn new() -> Self {
        Self::default()
    }

    /// Applies one layer on top of the layers added so far. The layer's index in
    /// [`FileTree::layers`] is the number of layers added before it.
    pub fn add_layer(&mut self, scan: LayerScan) {
        let layer = self.tree.layers.len();
        self.current = layer;
        self.tree.layers.push(scan.diff_id.clone());

        // The layer stores an entry's path in two parts, so each path is spelled into this
        // buffer.
        let mut path = String::new();
        // Markers only ever act on lower layers, so they all go first, wherever they sit in
        // the layer's tar.
        for entry in scan.entries.iter() {
            match entry.kind {
                LayerEntryKind::Whiteout => {
                    self.remove_with_subtree(entry.path.write_into(&mut path));
                }
                LayerEntryKind::OpaqueDirectory => {
                    self.remove_children(entry.path.write_into(&mut path));
                }
                _ => {}
            }
        }

        // A path listed twice in one layer has only its last capture in `contents`, and the
        // last entry for the path is applied last, so looking the capture up for every
        // occurrence leaves the right bytes in the tree.
        for entry in scan.entries.iter() {
            let Some(kind) = entry.file_kind() else {
                continue;
            };
            let path = entry.path.write_into(&mut path);
            let (captured, extracted) = if kind == FileKind::Regular {
                (
                    scan.contents.get(path).cloned(),
                    scan.extracts.get(path).cloned(),
                )
            } else {
                (None, None)
            };
            self.insert(layer, path, &entry, kind, captured, extracted);
        }
        // The layer's entry list is freed here, and the tree grows into new mappings, so the
        // holes it leaves are handed back at once. The trim walks every free block of the
        // heap, so it is skipped for a small list: with hundreds of small layers over a
        // fragmented heap it cost about 2 ms per layer and freed next to nothing.
        let freed = scan.entries.allocated_bytes();
        drop(scan);
        if freed >= TRIM_AFTER_BYTES {
            crate::memory::release_free_memory();
        }
    }

    /// Returns the squashed tree of every layer added.
    pub fn finish(mut self) -> FileTree {
        self.tree.entries.freeze();
        self.tree
    }

    fn insert(
        &mut self,
        layer: usize,
        path: &str,
        entry: &LayerEntry<'_>,
        kind: FileKind,
        captured: Option<Arc<[u8]>>,
        extracted: Option<Extracts>,
    ) {
        let is_directory = kind == FileKind::Directory;
        if self.tree.entries.is_directory(path) == Some(true) && !is_directory {
            self.remove_children(path);
        }
        self.ensure_parents(path, layer);

        self.retire(path);
        if let Some(bytes) = captured {
            self.tree.contents.insert(path.to_owned(), bytes);
        }
        if let Some(results) = extracted {
            self.tree.extracts.insert(path.to_owned(), results);
        }
        self.tree.entries.insert(FileEntry {
            path: path.to_owned(),
            kind,
            mode: entry.mode,
            size: entry.size,
            uid: entry.uid.into(),
            gid: entry.gid.into(),
            layer,
            hardlink_to: entry.hardlink_to.map(str::to_owned),
        });
    }

    /// Makes sure every ancestor of `path` is a directory. A missing one is added as if the
    /// layer had listed it. A non-directory ancestor is replaced by a directory, so the entry
    /// stays reachable.
    fn ensure_parents(&mut self, path: &str, layer: usize) {
        let mut missing = Vec::new();
        let mut current = path;
        while let Some(index) = current.rfind('/') {
            current = &current[..index];
            if current.is_empty() {
                break;
            }
            match self.tree.entries.is_directory(current) {
                Some(true) => break,
                Some(false) => {
                    let replaced = current.to_owned();
                    self.retire(&replaced);
                    missing.push(replaced);
                }
                None => missing.push(current.to_owned()),
            }
        }
        for directory in missing {
            self.tree.entries.insert(FileEntry {
                path: directory,
                kind: FileKind::Directory,
                mode: IMPLIED_DIRECTORY_MODE,
                size: 0,
                uid: 0,
                gid: 0,
                layer,
                hardlink_to: None,
            });
        }
    }

    fn remove_with_subtree(&mut self, path: &str) {
        self.retire(path);
        self.remove_children(path);
    }

    /// Removes the entry at `path` from the visible tree and records it in
    /// [`FileTree::retired`], unless it is a regular file whose contents were not captured.
    ///
    /// NOTE: entries are retired in both scopes, because the sources build the tree before the
    /// scope is known. The cost is one entry per replaced directory, symlink or captured file,
    /// and it has not been measured on large images.
    fn retire(&mut self, path: &str) {
        if let Some(entry) = self.tree.entries.remove(path) {
            self.retire_entry(entry);
        }
    }

    /// Records an entry just taken out of the visible tree, with its captured contents and
    /// extractor results, as [`Self::retire`] describes.
    fn retire_entry(&mut self, entry: FileEntry) {
        let path = entry.path.as_str();
        let contents = self.tree.contents.remove(path);
        let extracts = self.tree.extracts.remove(path);
        // An entry replaced within its own layer was never visible in any layer's view, and a
        // regular file no cataloger read has nothing to offer one.
        let unread = entry.kind == FileKind::Regular && contents.is_none() && extracts.is_none();
        if entry.layer == self.current || unread {
            return;
        }
        self.tree.retired.push(RetiredEntry {
            entry,
            contents,
            extracts,
            removed_at: self.current,
        });
    }

    /// Removes every entry strictly below `directory` (`/` for the root).
    fn remove_children(&mut self, directory: &str) {
        for entry in self.tree.entries.remove_below(directory) {
            self.retire_entry(entry);
        }
    }
}

/// Rebuilds the file system as it was once layer `layer` had been applied: the visible
/// entries of that layer and the ones below it, and the entries upper layers replaced or
/// deleted. Layer `layer` is the top layer of the view.
pub fn layer_view(tree: &FileTree, layer: usize) -> FileTree {
    let mut view = FileTree {
        layers: tree.layers[..=layer.min(tree.layers.len().saturating_sub(1))].to_vec(),
        ..FileTree::default()
    };
    for entry in tree.entries.entries() {
        if entry.layer > layer {
            continue;
        }
        if let Some(bytes) = tree.contents.get(&entry.path) {
            view.contents.insert(entry.path.clone(), bytes.clone());
        }
        if let Some(results) = tree.extracts.get(&entry.path) {
            view.extracts.insert(entry.path.clone(), results.clone());
        }
        view.entries.insert(entry);
    }
    for retired in &tree.retired {
        if retired.entry.layer <= layer && layer < retired.removed_at {
            let path = &retired.entry.path;
            if let Some(bytes) = &retired.contents {
                view.contents.insert(path.clone(), bytes.clone());
            }
            if let Some(results) = &retired.extracts {
                view.extracts.insert(path.clone(), results.clone());
            }
            view.entries.insert(retired.entry.clone());
        }
    }
    view
}
