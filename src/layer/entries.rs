//! The entry list of one layer, packed.
//!
//! Every layer's entries stay in memory until the layer order is known and the squash runs,
//! and a large image has hundreds of thousands of them. An entry here is one 16-byte record,
//! and its path and link targets sit back to back in one text buffer per layer, so an entry
//! costs no allocation of its own. Values that most entries lack (link targets, ids other than
//! 0, sizes of 4 GiB or more) are kept in side tables, only for the entries that have them.

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

/// One entry: where its path starts in the text, its length, and the fields that fit in 16
/// bytes. A symlink or hardlink target follows the path in the text. The rest is in the side
/// tables of [`LayerEntries`], each flagged here: the lengths of link targets, a size of 4 GiB
/// or more, a mode above 16 bits, and user and group ids other than 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Record {
    size: u32,
    start: u32,
    path_len: u32,
    mode: u16,
    kind: LayerEntryKind,
    flags: u8,
}

/// The flags of [`Record::flags`].
const HAS_SYMLINK: u8 = 1;
const HAS_HARDLINK: u8 = 2;
/// The size and mode are in [`LayerEntries::wide`].
const WIDE: u8 = 4;
/// The user and group ids are in [`LayerEntries::owners`]. Without the flag, both are 0.
const OWNED: u8 = 8;

/// The lengths of an entry's link targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Links {
    symlink_len: u32,
    hardlink_len: u32,
}

/// The size and mode of an entry whose values do not fit its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Wide {
    size: u64,
    mode: u32,
}

/// Values of some entries, by entry index. Entries are only appended, so each table is in
/// index order and a lookup is a binary search.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SideTable<T>(Vec<(u32, T)>);

impl<T> Default for SideTable<T> {
    fn default() -> Self {
        Self(Vec::new())
    }
}

impl<T: Copy> SideTable<T> {
    fn push(&mut self, index: u32, value: T) {
        self.0.push((index, value));
    }

    /// Returns the value of entry `index`. Only called for an entry whose flag marks a value.
    fn get(&self, index: u32) -> T {
        let at = self
            .0
            .binary_search_by_key(&index, |&(key, _)| key)
            .expect("a flagged entry has a value in its side table");
        self.0[at].1
    }

    fn shrink_to_fit(&mut self) {
        self.0.shrink_to_fit();
    }
}

/// The entries of one layer in archive order. A path may appear more than once, and the later
/// entry wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LayerEntries {
    records: Vec<Record>,
    text: String,
    links: SideTable<Links>,
    wide: SideTable<Wide>,
    owners: SideTable<(u32, u32)>,
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
        self.records
            .get(index)
            .map(|record| self.view(index, record))
    }

    /// Returns the path of the entry at `index`. Panics when there is no such entry.
    pub fn path(&self, index: usize) -> &str {
        let record = &self.records[index];
        let start = record.start as usize;
        &self.text[start..start + record.path_len as usize]
    }

    pub fn last(&self) -> Option<LayerEntry<'_>> {
        let index = self.records.len().checked_sub(1)?;
        self.get(index)
    }

    pub fn iter(&self) -> impl ExactSizeIterator<Item = LayerEntry<'_>> + '_ {
        self.records
            .iter()
            .enumerate()
            .map(|(index, record)| self.view(index, record))
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
        // Past 4 billion entries an index no longer fits the side tables. That takes as many
        // tar headers, 2 TB of them, and it is reported as a full layer, as the text is.
        let index = u32::try_from(self.records.len()).map_err(|_| TextFull)?;
        self.text.push_str(entry.path);
        self.text.push_str(symlink);
        self.text.push_str(hardlink);
        // Each length is at most `added`, which fits in a u32 by the check above.
        let len = |text: &str| text.len() as u32;

        let mut flags = 0;
        if entry.symlink_target.is_some() {
            flags |= HAS_SYMLINK;
        }
        if entry.hardlink_to.is_some() {
            flags |= HAS_HARDLINK;
        }
        if flags != 0 {
            self.links.push(
                index,
                Links {
                    symlink_len: len(symlink),
                    hardlink_len: len(hardlink),
                },
            );
        }
        let (size, mode) = match (u32::try_from(entry.size), u16::try_from(entry.mode)) {
            (Ok(size), Ok(mode)) => (size, mode),
            _ => {
                flags |= WIDE;
                self.wide.push(
                    index,
                    Wide {
                        size: entry.size,
                        mode: entry.mode,
                    },
                );
                (0, 0)
            }
        };
        let uid = u32::try_from(entry.uid).unwrap_or(u32::MAX);
        let gid = u32::try_from(entry.gid).unwrap_or(u32::MAX);
        if (uid, gid) != (0, 0) {
            flags |= OWNED;
            self.owners.push(index, (uid, gid));
        }
        self.records.push(Record {
            size,
            start,
            path_len: len(entry.path),
            mode,
            kind: entry.kind,
            flags,
        });
        Ok(())
    }

    /// Gives back the room the growing buffers keep spare, up to half of each.
    pub fn shrink_to_fit(&mut self) {
        self.records.shrink_to_fit();
        self.text.shrink_to_fit();
        self.links.shrink_to_fit();
        self.wide.shrink_to_fit();
        self.owners.shrink_to_fit();
    }

    fn view(&self, index: usize, record: &Record) -> LayerEntry<'_> {
        // An entry's index fits in a u32: `push` checks it.
        let index = index as u32;
        let links = if record.flags & (HAS_SYMLINK | HAS_HARDLINK) == 0 {
            Links {
                symlink_len: 0,
                hardlink_len: 0,
            }
        } else {
            self.links.get(index)
        };
        let path_start = record.start as usize;
        let symlink_start = path_start + record.path_len as usize;
        let hardlink_start = symlink_start + links.symlink_len as usize;
        let hardlink_end = hardlink_start + links.hardlink_len as usize;
        let (size, mode) = if record.flags & WIDE == 0 {
            (u64::from(record.size), u32::from(record.mode))
        } else {
            let wide = self.wide.get(index);
            (wide.size, wide.mode)
        };
        let (uid, gid) = if record.flags & OWNED == 0 {
            (0, 0)
        } else {
            self.owners.get(index)
        };
        LayerEntry {
            path: &self.text[path_start..symlink_start],
            kind: record.kind,
            symlink_target: (record.flags & HAS_SYMLINK != 0)
                .then(|| &self.text[symlink_start..hardlink_start]),
            mode,
            size,
            uid,
            gid,
            hardlink_to: (record.flags & HAS_HARDLINK != 0)
                .then(|| &self.text[hardlink_start..hardlink_end]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_is_sixteen_bytes() {
        assert_eq!(std::mem::size_of::<Record>(), 16);
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

    #[test]
    fn side_table_values_round_trip() {
        // A deterministic mix of plain entries and entries with each side-table value, checked
        // against the fields they were pushed with.
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let mut entries = LayerEntries::default();
        let mut expected = Vec::new();
        for index in 0..2000 {
            let roll = next();
            let path = format!("/d{}/f{index}", roll % 7);
            let symlink = (roll % 5 == 0).then(|| format!("../t{}", roll % 11));
            let hardlink = (roll % 13 == 0).then(|| format!("/h{}", roll % 3));
            let size = match roll % 9 {
                0 => u64::from(u32::MAX) + roll % 1000,
                1 => u64::from(u32::MAX),
                _ => roll % 100_000,
            };
            let mode = if roll % 17 == 0 {
                0o1_000_000
            } else {
                (roll % 0o7777) as u32
            };
            let uid = if roll % 3 == 0 { roll % 70_000 } else { 0 };
            let gid = if roll % 4 == 0 { u64::MAX } else { 0 };
            let kind = if symlink.is_some() {
                LayerEntryKind::Symlink
            } else {
                LayerEntryKind::Regular
            };
            entries
                .push(NewEntry {
                    path: &path,
                    kind,
                    symlink_target: symlink.as_deref(),
                    mode,
                    size,
                    uid,
                    gid,
                    hardlink_to: hardlink.as_deref(),
                })
                .unwrap();
            let gid = u32::try_from(gid).unwrap_or(u32::MAX);
            expected.push((path, kind, symlink, mode, size, uid as u32, gid, hardlink));
        }
        entries.shrink_to_fit();
        assert_eq!(entries.len(), expected.len());
        for (index, (entry, want)) in entries.iter().zip(&expected).enumerate() {
            let got = (
                entry.path.to_owned(),
                entry.kind,
                entry.symlink_target.map(str::to_owned),
                entry.mode,
                entry.size,
                entry.uid,
                entry.gid,
                entry.hardlink_to.map(str::to_owned),
            );
            assert_eq!(&got, want, "entry {index}");
            assert_eq!(entries.get(index), Some(entry));
            assert_eq!(entries.path(index), want.0);
        }
        assert_eq!(entries.last(), entries.get(expected.len() - 1));
    }
}
