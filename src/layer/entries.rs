//! The entry list of one layer, packed.
//!
//! Every layer's entries stay in memory until the layer order is known and the squash runs,
//! and a large image has hundreds of thousands of them. An entry here is one 40-byte record,
//! and its path and link targets sit back to back in one text buffer per layer, so an entry
//! costs no allocation of its own.

use std::fmt;

use crate::filesystem::FileKind;

/// The effect of one layer entry on the squashed file system.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LayerEntryKind {
    Regular,
    Directory,
    /// A symbolic link. Its target is in [`LayerEntry::symlink_target`].
    Symlink,
    CharDevice,
    BlockDevice,
    Fifo,
    /// A `.wh.NAME` marker: the path (already without the prefix) and its subtree are deleted.
    Whiteout,
    /// A `.wh..wh..opq` marker: the children that lower layers put in this directory are hidden.
    OpaqueDirectory,
}

impl LayerEntryKind {
    /// Splits a file kind into the entry kind and, for a symlink, its target.
    fn from_file_kind(kind: &FileKind) -> (Self, Option<&str>) {
        match kind {
            FileKind::Regular => (Self::Regular, None),
            FileKind::Directory => (Self::Directory, None),
            FileKind::Symlink(target) => (Self::Symlink, Some(target)),
            FileKind::CharDevice => (Self::CharDevice, None),
            FileKind::BlockDevice => (Self::BlockDevice, None),
            FileKind::Fifo => (Self::Fifo, None),
        }
    }
}

/// One entry of a layer tar, as the walk recorded it, borrowed from its [`LayerEntries`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerEntry<'a> {
    /// Normalised absolute path. For a whiteout it is the deleted path, for an opaque marker the
    /// directory.
    pub path: &'a str,
    pub kind: LayerEntryKind,
    /// For a symlink: its target exactly as stored (relative or absolute).
    pub symlink_target: Option<&'a str>,
    /// Permission and special bits (`0o7777` mask) from the header.
    pub mode: u32,
    /// Size in bytes. A hardlink takes the size of its target.
    pub size: u64,
    /// User and group ids. Ids above `u32::MAX`, which no Linux file system can store, are kept
    /// as `u32::MAX`.
    pub uid: u32,
    pub gid: u32,
    /// For a tar hardlink: the normalised path of the earlier entry in this layer it links to.
    pub hardlink_to: Option<&'a str>,
}

impl LayerEntry<'_> {
    /// Returns the file this entry adds, or `None` for a whiteout or an opaque marker.
    pub fn file_kind(&self) -> Option<FileKind> {
        Some(match self.kind {
            LayerEntryKind::Regular => FileKind::Regular,
            LayerEntryKind::Directory => FileKind::Directory,
            LayerEntryKind::Symlink => {
                FileKind::Symlink(self.symlink_target.unwrap_or_default().to_owned())
            }
            LayerEntryKind::CharDevice => FileKind::CharDevice,
            LayerEntryKind::BlockDevice => FileKind::BlockDevice,
            LayerEntryKind::Fifo => FileKind::Fifo,
            LayerEntryKind::Whiteout | LayerEntryKind::OpaqueDirectory => return None,
        })
    }
}

/// The fields of a new entry, as [`LayerEntries::push`] takes them.
#[derive(Debug, Clone, Copy)]
pub struct NewEntry<'a> {
    pub path: &'a str,
    pub kind: LayerEntryKind,
    pub symlink_target: Option<&'a str>,
    pub mode: u32,
    pub size: u64,
    pub uid: u64,
    pub gid: u64,
    pub hardlink_to: Option<&'a str>,
}

impl<'a> NewEntry<'a> {
    /// Starts an entry that adds a file of `kind` at `path`, with no metadata yet.
    pub fn file(path: &'a str, kind: &'a FileKind) -> Self {
        let (kind, symlink_target) = LayerEntryKind::from_file_kind(kind);
        Self {
            path,
            kind,
            symlink_target,
            mode: 0,
            size: 0,
            uid: 0,
            gid: 0,
            hardlink_to: None,
        }
    }
}

/// The text of one layer's paths and link targets passed 4 GiB, the most a record can address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextFull;

impl fmt::Display for TextFull {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the paths and link targets of this layer's entries exceed 4 GiB in all"
        )
    }
}

impl std::error::Error for TextFull {}

/// One entry: where its strings start in the text, and their lengths. The path comes first,
/// then the symlink target, then the hardlink target.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Record {
    size: u64,
    start: u32,
    path_len: u32,
    symlink_len: u32,
    hardlink_len: u32,
    mode: u32,
    uid: u32,
    gid: u32,
    kind: LayerEntryKind,
    has_symlink: bool,
    has_hardlink: bool,
}

/// The entries of one layer in archive order. A path may appear more than once, and the later
/// entry wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerEntries {
    records: Vec<Record>,
    text: String,
}

impl LayerEntries {
    pub fn len(&self) -> usize {
        self.records.len()
    }

    pub fn is_empty(&self) -> bool {
        self.records.is_empty()
    }

    /// Returns the entry at `index` in archive order.
    pub fn get(&self, index: usize) -> Option<LayerEntry<'_>> {
        self.records.get(index).map(|record| self.view(record))
    }

    /// Returns the path of the entry at `index`. Panics when there is no such entry.
    pub fn path(&self, index: usize) -> &str {
        let record = &self.records[index];
        let start = record.start as usize;
        &self.text[start..start + record.path_len as usize]
    }

    pub fn last(&self) -> Option<LayerEntry<'_>> {
        self.records.last().map(|record| self.view(record))
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = LayerEntry<'_>> + '_ {
        self.records.iter().map(|record| self.view(record))
    }

    /// Appends an entry. Ids above `u32::MAX` are kept as `u32::MAX`.
    pub fn push(&mut self, entry: NewEntry<'_>) -> Result<(), TextFull> {
        let symlink = entry.symlink_target.unwrap_or_default();
        let hardlink = entry.hardlink_to.unwrap_or_default();
        let added = entry.path.len() + symlink.len() + hardlink.len();
        let start = u32::try_from(self.text.len()).map_err(|_| TextFull)?;
        if u32::try_from(self.text.len() + added).is_err() {
            return Err(TextFull);
        }
        self.text.push_str(entry.path);
        self.text.push_str(symlink);
        self.text.push_str(hardlink);
        // Each length is at most `added`, which fits in a u32 by the check above.
        let len = |text: &str| text.len() as u32;
        self.records.push(Record {
            size: entry.size,
            start,
            path_len: len(entry.path),
            symlink_len: len(symlink),
            hardlink_len: len(hardlink),
            mode: entry.mode,
            uid: u32::try_from(entry.uid).unwrap_or(u32::MAX),
            gid: u32::try_from(entry.gid).unwrap_or(u32::MAX),
            kind: entry.kind,
            has_symlink: entry.symlink_target.is_some(),
            has_hardlink: entry.hardlink_to.is_some(),
        });
        Ok(())
    }

    /// Gives back the room the growing buffers keep spare, up to half of each.
    pub fn shrink_to_fit(&mut self) {
        self.records.shrink_to_fit();
        self.text.shrink_to_fit();
    }

    fn view(&self, record: &Record) -> LayerEntry<'_> {
        let path_start = record.start as usize;
        let symlink_start = path_start + record.path_len as usize;
        let hardlink_start = symlink_start + record.symlink_len as usize;
        let hardlink_end = hardlink_start + record.hardlink_len as usize;
        LayerEntry {
            path: &self.text[path_start..symlink_start],
            kind: record.kind,
            symlink_target: record
                .has_symlink
                .then(|| &self.text[symlink_start..hardlink_start]),
            mode: record.mode,
            size: record.size,
            uid: record.uid,
            gid: record.gid,
            hardlink_to: record
                .has_hardlink
                .then(|| &self.text[hardlink_start..hardlink_end]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_is_forty_bytes() {
        assert_eq!(std::mem::size_of::<Record>(), 40);
    }

    #[test]
    fn entries_keep_their_strings_and_fields() {
        let symlink = FileKind::Symlink("../lib/x".to_owned());
        let mut entries = LayerEntries::default();
        entries
            .push(NewEntry {
                mode: 0o755,
                uid: 1000,
                gid: u64::from(u32::MAX) + 7,
                ..NewEntry::file("/usr/bin/x", &symlink)
            })
            .unwrap();
        entries
            .push(NewEntry {
                size: 12,
                hardlink_to: Some("/etc/a"),
                ..NewEntry::file("/etc/b", &FileKind::Regular)
            })
            .unwrap();
        entries
            .push(NewEntry {
                hardlink_to: Some(""),
                ..NewEntry::file("", &FileKind::Symlink(String::new()))
            })
            .unwrap();
        entries
            .push(NewEntry {
                kind: LayerEntryKind::Whiteout,
                ..NewEntry::file("/var/cache", &FileKind::Regular)
            })
            .unwrap();

        assert_eq!(entries.len(), 4);
        let first = entries.get(0).unwrap();
        assert_eq!(first.path, "/usr/bin/x");
        assert_eq!(first.file_kind(), Some(symlink));
        assert_eq!(first.hardlink_to, None);
        assert_eq!((first.mode, first.uid, first.gid), (0o755, 1000, u32::MAX));

        let second = entries.get(1).unwrap();
        assert_eq!(second.path, "/etc/b");
        assert_eq!(second.symlink_target, None);
        assert_eq!(second.hardlink_to, Some("/etc/a"));
        assert_eq!(second.size, 12);
        assert_eq!(entries.path(1), "/etc/b");

        // Empty strings are kept apart from absent ones.
        let third = entries.get(2).unwrap();
        assert_eq!(third.path, "");
        assert_eq!(third.symlink_target, Some(""));
        assert_eq!(third.hardlink_to, Some(""));

        let last = entries.last().unwrap();
        assert_eq!(last.path, "/var/cache");
        assert_eq!(last.file_kind(), None);
        let paths: Vec<&str> = entries.iter().map(|entry| entry.path).collect();
        assert_eq!(paths, ["/usr/bin/x", "/etc/b", "", "/var/cache"]);
        assert!(entries.get(4).is_none());
    }
}
