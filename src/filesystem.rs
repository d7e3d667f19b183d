//! The squashed view of an image's file system: every visible path, the layer that supplied it,
//! and the contents of the files that some cataloger asked for.

use std::collections::HashMap;
use std::sync::Arc;

use crate::digest::Digest;
use crate::layer::{Extract, Extracts};
use crate::path_tree::PathTree;

/// The kind of file at a path, as the layer tar header declared it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileKind {
    Regular,
    Directory,
    /// A symbolic link with its target exactly as stored (relative or absolute).
    Symlink(String),
    CharDevice,
    BlockDevice,
    Fifo,
}

/// One visible path in the squashed file system.
#[derive(Debug, Clone)]
pub struct FileEntry {
    /// Absolute, normalised path: starts with `/`, no `.` or `..` parts, no trailing `/`.
    pub path: String,
    pub kind: FileKind,
    pub mode: u32,
    pub size: u64,
    pub uid: u64,
    pub gid: u64,
    /// Index into [`FileTree::layers`] of the layer that supplied the visible version.
    pub layer: usize,
    /// For a file written as a tar hardlink: the absolute path it was linked to.
    pub hardlink_to: Option<String>,
}

/// A path after following symlinks: the real path and the entry found there.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub real_path: String,
    pub entry: FileEntry,
}

/// The squashed file system of one image.
#[derive(Debug, Default, Clone)]
pub struct FileTree {
    /// Layer diffIDs in order, bottom first.
    pub layers: Vec<Digest>,
    /// Visible entries by normalised path.
    pub entries: PathTree,
    /// Captured contents of visible regular files, by normalised path.
    pub contents: HashMap<String, Arc<[u8]>>,
    /// Extractor results of visible regular files, by normalised path.
    pub extracts: HashMap<String, Extracts>,
    /// Entries an upper layer replaced or deleted, kept so each layer's own view can be
    /// rebuilt for `--scope all-layers`. Regular files are kept only when their contents
    /// were captured.
    pub retired: Vec<RetiredEntry>,
}

/// An entry that was visible from its own layer up to, but not including, `removed_at`.
#[derive(Debug, Clone)]
pub struct RetiredEntry {
    pub entry: FileEntry,
    pub contents: Option<Arc<[u8]>>,
    /// The extractor results the entry had, for archives and binaries.
    pub extracts: Option<Extracts>,
    /// Index of the layer that replaced or deleted the entry.
    pub removed_at: usize,
}

/// The maximum number of symlinks followed while resolving one path, as Linux's `MAXSYMLINKS`.
pub const MAX_SYMLINK_HOPS: usize = 40;

impl FileTree {
    /// Returns the diffID of the layer at `index`.
    pub fn layer_digest(&self, index: usize) -> &Digest {
        &self.layers[index]
    }

    /// Returns the entry at `path` without following a symlink there.
    pub fn entry(&self, path: &str) -> Option<FileEntry> {
        self.entries.get(path)
    }

    /// Resolves `path` by following symlinks in every component, as the kernel would inside a
    /// chroot of this tree. Returns `None` for dangling links, loops and missing paths.
    pub fn resolve(&self, path: &str) -> Option<Resolved> {
        let (real_path, entry) = self.entries.resolve(path, MAX_SYMLINK_HOPS)?;
        Some(Resolved { real_path, entry })
    }

    /// Returns the captured contents of the file at `path`, following symlinks. `None` when the path
    /// does not resolve to a regular file or no cataloger asked for its contents.
    pub fn read(&self, path: &str) -> Option<&[u8]> {
        let resolved = self.resolve(path)?;
        self.contents
            .get(&resolved.real_path)
            .map(|bytes| &bytes[..])
    }

    /// Returns the captured contents of the file at `path`, as [`FileTree::read`] does, shared
    /// with the tree.
    pub fn read_shared(&self, path: &str) -> Option<Arc<[u8]>> {
        let resolved = self.resolve(path)?;
        self.contents.get(&resolved.real_path).cloned()
    }

    /// Returns the result `extractor` kept for the visible regular file at `path` (no symlinks
    /// followed), or `None` when it kept nothing there.
    pub fn extract(&self, path: &str, extractor: &str) -> Option<&Extract> {
        self.extracts
            .get(path)?
            .iter()
            .find(|extract| extract.extractor == extractor)
    }

    /// Returns the visible paths that have a result from `extractor`, in path order.
    pub fn extracted_paths(&self, extractor: &str) -> Vec<&str> {
        let mut paths: Vec<&str> = self
            .extracts
            .iter()
            .filter(|(_, results)| results.iter().any(|extract| extract.extractor == extractor))
            .map(|(path, _)| path.as_str())
            .collect();
        paths.sort_unstable();
        paths
    }

    /// Visible regular files whose path satisfies `predicate`, in path order.
    pub fn files_matching(
        &self,
        predicate: impl Fn(&str) -> bool,
    ) -> std::vec::IntoIter<FileEntry> {
        self.entries
            .filtered(|path, kind| *kind == FileKind::Regular && predicate(path))
            .into_iter()
    }

    /// Returns the diffID of the layer that supplied the visible file at `path`, following
    /// symlinks.
    pub fn layer_of(&self, path: &str) -> Option<&Digest> {
        self.resolve(path)
            .map(|resolved| &self.layers[resolved.entry.layer])
    }
}

/// Normalises a path from a tar header into the absolute form [`FileEntry::path`] uses. `./`
/// prefixes, repeated slashes and `.` parts are dropped, and `..` never climbs above the root,
/// so no entry name can point outside the image. Returns `None` for the root itself.
pub fn normalize_path(raw: &str) -> Option<String> {
    let mut parts: Vec<&str> = Vec::new();
    for part in raw.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            other => parts.push(other),
        }
    }
    if parts.is_empty() {
        None
    } else {
        Some(format!("/{}", parts.join("/")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(items: &[(&str, FileKind)]) -> FileTree {
        let mut tree = FileTree {
            layers: vec![Digest::of(b"layer")],
            ..FileTree::default()
        };
        for (path, kind) in items {
            tree.entries.insert(FileEntry {
                path: (*path).to_owned(),
                kind: kind.clone(),
                mode: 0o644,
                size: 0,
                uid: 0,
                gid: 0,
                layer: 0,
                hardlink_to: None,
            });
        }
        tree
    }

    #[test]
    fn normalize_strips_prefixes_and_dots() {
        assert_eq!(
            normalize_path("./etc/os-release").as_deref(),
            Some("/etc/os-release")
        );
        assert_eq!(
            normalize_path("/etc//./passwd").as_deref(),
            Some("/etc/passwd")
        );
        assert_eq!(
            normalize_path("../../etc/shadow").as_deref(),
            Some("/etc/shadow")
        );
        assert_eq!(normalize_path("a/b/../../../c").as_deref(), Some("/c"));
        assert_eq!(normalize_path("./"), None);
    }

    #[test]
    fn resolve_follows_relative_and_absolute_links() {
        let tree = tree(&[
            ("/usr", FileKind::Directory),
            ("/usr/lib", FileKind::Directory),
            ("/usr/lib/os-release", FileKind::Regular),
            ("/etc", FileKind::Directory),
            (
                "/etc/os-release",
                FileKind::Symlink("../usr/lib/os-release".into()),
            ),
            ("/lib", FileKind::Symlink("/usr/lib".into())),
        ]);
        assert_eq!(
            tree.resolve("/etc/os-release").unwrap().real_path,
            "/usr/lib/os-release"
        );
        assert_eq!(
            tree.resolve("/lib/os-release").unwrap().real_path,
            "/usr/lib/os-release"
        );
    }

    #[test]
    fn resolve_stops_on_loops_and_dangling_links() {
        let tree = tree(&[
            ("/a", FileKind::Symlink("b".into())),
            ("/b", FileKind::Symlink("a".into())),
            ("/dangling", FileKind::Symlink("/nowhere".into())),
        ]);
        assert!(tree.resolve("/a").is_none());
        assert!(tree.resolve("/dangling").is_none());
    }

    #[test]
    fn resolve_never_climbs_above_root() {
        let tree = tree(&[
            ("/etc", FileKind::Directory),
            ("/etc/passwd", FileKind::Regular),
            (
                "/escape",
                FileKind::Symlink("../../../../etc/passwd".into()),
            ),
        ]);
        assert_eq!(tree.resolve("/escape").unwrap().real_path, "/etc/passwd");
    }

    #[test]
    fn resolve_dot_dot_after_link() {
        let tree = tree(&[
            ("/opt", FileKind::Directory),
            ("/opt/app", FileKind::Directory),
            ("/opt/app/current", FileKind::Directory),
            ("/opt/app/config", FileKind::Regular),
            ("/srv", FileKind::Directory),
            ("/srv/link", FileKind::Symlink("/opt/app/current".into())),
            ("/srv/config", FileKind::Regular),
        ]);
        // `..` after a link to a directory leads to the target's parent, not the link's.
        let resolved = tree.resolve("/srv/link/../config").unwrap();
        assert_eq!(resolved.real_path, "/opt/app/config");
        assert_eq!(resolved.entry.path, "/opt/app/config");
        assert_eq!(resolved.entry.kind, FileKind::Regular);
        // A regular file has no children, and the root itself has no entry.
        assert!(tree.resolve("/srv/config/x").is_none());
        assert!(tree.resolve("/").is_none());
        assert!(tree.resolve("/missing/..").is_none());
    }
}
