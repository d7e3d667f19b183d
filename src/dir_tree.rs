//! Loads a directory on disk into a [`FileTree`], as if it were an image with one layer. Tests
//! use it on fixture trees, and a `dir:` source can use it to scan a directory.
//!
//! Symlinks are recorded as links (never followed while walking), so a link that points
//! outside the directory cannot pull in host files. Only regular files whose path satisfies
//! `wants` have their contents read.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::digest::Digest;
use crate::filesystem::{FileEntry, FileKind, FileTree};

/// A failure while reading the directory tree.
#[derive(Debug, thiserror::Error)]
pub enum DirTreeError {
    #[error("could not read {path}: {source}; check that it exists and is readable")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not a directory; pass the root directory of the file system to scan")]
    NotADirectory { path: PathBuf },
}

fn read_error(path: &Path) -> impl FnOnce(std::io::Error) -> DirTreeError + '_ {
    move |source| DirTreeError::Read {
        path: path.to_owned(),
        source,
    }
}

/// Returns the diffID given to the single pseudo-layer of a directory tree: the sha256 of
/// the root path as given. It identifies the source and is not a digest of any content.
pub fn layer_digest(root: &Path) -> Digest {
    Digest::of(root.as_os_str().as_encoded_bytes())
}

/// Walks `root` and returns its files as a one-layer tree rooted at `/`.
pub fn load(root: &Path, wants: impl Fn(&str) -> bool) -> Result<FileTree, DirTreeError> {
    let metadata = fs::metadata(root).map_err(read_error(root))?;
    if !metadata.is_dir() {
        return Err(DirTreeError::NotADirectory {
            path: root.to_owned(),
        });
    }
    let mut tree = FileTree {
        layers: vec![layer_digest(root)],
        ..FileTree::default()
    };
    let mut pending = vec![(root.to_owned(), String::new())];
    while let Some((dir, prefix)) = pending.pop() {
        let mut children: Vec<_> = fs::read_dir(&dir)
            .map_err(read_error(&dir))?
            .collect::<Result<_, _>>()
            .map_err(read_error(&dir))?;
        children.sort_by_key(|child| child.file_name());
        for child in children {
            let disk_path = child.path();
            let name = child.file_name().to_string_lossy().into_owned();
            let path = format!("{prefix}/{name}");
            let meta = fs::symlink_metadata(&disk_path).map_err(read_error(&disk_path))?;
            let file_type = meta.file_type();
            let kind = if file_type.is_symlink() {
                let target = fs::read_link(&disk_path).map_err(read_error(&disk_path))?;
                FileKind::Symlink(target.to_string_lossy().into_owned())
            } else if file_type.is_dir() {
                pending.push((disk_path.clone(), path.clone()));
                FileKind::Directory
            } else if file_type.is_file() {
                if wants(&path) {
                    let bytes = fs::read(&disk_path).map_err(read_error(&disk_path))?;
                    tree.contents.insert(path.clone(), bytes.into());
                }
                FileKind::Regular
            } else {
                // Sockets and device nodes carry no package evidence.
                continue;
            };
            tree.entries.insert(FileEntry {
                path,
                kind,
                mode: meta.mode(),
                size: meta.len(),
                uid: u64::from(meta.uid()),
                gid: u64::from(meta.gid()),
                layer: 0,
                hardlink_to: None,
            });
        }
    }
    Ok(tree)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn load_records_links_and_wanted_contents() {
        let dir = tempfile::tempdir().unwrap();
        fs::create_dir_all(dir.path().join("usr/lib")).unwrap();
        fs::create_dir_all(dir.path().join("etc")).unwrap();
        fs::write(dir.path().join("usr/lib/os-release"), "ID=test\n").unwrap();
        fs::write(dir.path().join("etc/hostname"), "box\n").unwrap();
        std::os::unix::fs::symlink("../usr/lib/os-release", dir.path().join("etc/os-release"))
            .unwrap();

        let tree = load(dir.path(), |path| path.ends_with("os-release")).unwrap();
        assert_eq!(tree.read("/etc/os-release"), Some(&b"ID=test\n"[..]));
        assert_eq!(tree.read("/etc/hostname"), None);
        assert!(tree.entry("/etc/hostname").is_some());
        assert_eq!(
            tree.entry("/etc/os-release").unwrap().kind,
            FileKind::Symlink("../usr/lib/os-release".into())
        );
    }

    #[test]
    fn load_rejects_a_file_root() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, "x").unwrap();
        assert!(matches!(
            load(&file, |_| true),
            Err(DirTreeError::NotADirectory { .. })
        ));
    }
}
