//! The entry list of one layer, packed.
//!
//! Every layer's entries stay in memory until the layer order is known and the squash runs,
//! and a large image has hundreds of thousands of them. An entry here is one 16-byte record.
//! Its directory is stored once per layer, in a table of the layer's directories, and its last
//! path component and link targets sit back to back in one text buffer, so an entry costs no
//! allocation of its own. Values that most entries lack (link targets, ids other than 0, sizes
//! of 4 GiB or more) are kept in side tables, only for the entries that have them.

use std::fmt;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

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

/// A path split at its last `/`: the directory part and the last component.
///
/// The split is the same for every path, so two values are equal exactly when the paths they
/// spell are equal.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct EntryPath<'a> {
    /// Everything before the last `/` (empty for a path right under the root), or `None` for a
    /// path without a `/`.
    dir: Option<&'a str>,
    name: &'a str,
}

impl<'a> EntryPath<'a> {
    pub fn new(path: &'a str) -> Self {
        match path.rfind('/') {
            Some(at) => Self {
                dir: Some(&path[..at]),
                name: &path[at + 1..],
            },
            None => Self {
                dir: None,
                name: path,
            },
        }
    }

    /// Returns the last component.
    pub fn name(&self) -> &'a str {
        self.name
    }

    /// Returns the length of the path in bytes.
    pub fn len(&self) -> usize {
        self.dir.map_or(0, |dir| dir.len() + 1) + self.name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Spells the path into `out`, replacing what it held, and returns it. A caller that needs
    /// the paths of many entries one after another reuses one buffer.
    pub fn write_into<'b>(&self, out: &'b mut String) -> &'b str {
        out.clear();
        if let Some(dir) = self.dir {
            out.push_str(dir);
            out.push('/');
        }
        out.push_str(self.name);
        out
    }
}

impl PartialEq<str> for EntryPath<'_> {
    fn eq(&self, other: &str) -> bool {
        *self == EntryPath::new(other)
    }
}

impl PartialEq<&str> for EntryPath<'_> {
    fn eq(&self, other: &&str) -> bool {
        *self == EntryPath::new(other)
    }
}

impl fmt::Display for EntryPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(dir) = self.dir {
            f.write_str(dir)?;
            f.write_str("/")?;
        }
        f.write_str(self.name)
    }
}

impl fmt::Debug for EntryPath<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.to_string(), f)
    }
}

/// One entry of a layer tar, as the walk recorded it, borrowed from its [`LayerEntries`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LayerEntry<'a> {
    /// Normalised absolute path. For a whiteout it is the deleted path, for an opaque marker the
    /// directory.
    pub path: EntryPath<'a>,
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

/// The directory id of a path without a `/`.
const NO_DIR: u32 = u32::MAX;

/// One entry: its directory's id, where its last path component starts in the text, and the
/// fields that fit in 16 bytes. A symlink or hardlink target follows the component in the
/// text, and the next entry's text follows that, so the next record's `start` is where this
/// entry's text ends. The rest is in the side tables of [`LayerEntries`], each flagged here:
/// the lengths of link targets, a size of 4 GiB or more, a mode above 16 bits, and user and
/// group ids other than 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Record {
    size: u32,
    dir: u32,
    start: u32,
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

/// The hash tables used while a layer is read: the id of each directory by its text, and the
/// latest file entry at each path. [`LayerEntries::finish`] drops them.
#[derive(Clone, Default)]
struct Index {
    hasher: DefaultHashBuilder,
    /// Directory ids, found by the hash of the directory's text.
    dirs: HashTable<u32>,
    /// The directory the last entry was in. Entries of a tar come directory by directory, so
    /// most lookups end here.
    last_dir: Option<u32>,
    /// Entry indexes, found by the hash of their directory id and last component.
    latest: HashTable<u32>,
}

/// The entries of one layer in archive order. A path may appear more than once, and the later
/// entry wins.
#[derive(Clone, Default)]
pub struct LayerEntries {
    records: Vec<Record>,
    /// Last path components and link targets, back to back.
    text: String,
    /// The directories of the entries, back to back, each once (while the index is kept).
    dirs: String,
    /// The end offset of each directory in `dirs`. A directory starts at the end of the one
    /// before it.
    dir_ends: Vec<u32>,
    links: SideTable<Links>,
    wide: SideTable<Wide>,
    owners: SideTable<(u32, u32)>,
    index: Index,
}

impl fmt::Debug for LayerEntries {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// Two entry lists are equal when they hold the same entries in the same order, however their
/// directories were numbered.
impl PartialEq for LayerEntries {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

impl Eq for LayerEntries {}

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
    pub fn path(&self, index: usize) -> EntryPath<'_> {
        self.view(index, &self.records[index]).path
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

    /// Returns the latest entry at `path` appended with [`Self::push_latest`]. Only entries
    /// appended before [`Self::finish`] are found.
    pub fn latest(&self, path: &str) -> Option<LayerEntry<'_>> {
        let path = EntryPath::new(path);
        let dir = match path.dir {
            None => NO_DIR,
            Some(dir) => self.find_dir(dir)?,
        };
        let hash = self.index.hasher.hash_one((dir, path.name));
        let &index = self
            .index
            .latest
            .find(hash, |&index| self.is_at(index, dir, path.name))?;
        self.get(index as usize)
    }

    /// Appends an entry and makes it the one [`Self::latest`] returns for its path.
    pub fn push_latest(&mut self, entry: NewEntry<'_>) -> Result<(), TextFull> {
        let index = self.push(entry)?;
        let record = self.records[index as usize];
        let name = EntryPath::new(entry.path).name;
        let hash = self.index.hasher.hash_one((record.dir, name));
        self.set_latest(hash, index, record.dir, name);
        Ok(())
    }

    /// Makes entry `index`, in directory `dir` with the last component `name`, the latest at
    /// its path. `hash` is the hash of `dir` and `name`.
    fn set_latest(&mut self, hash: u64, index: u32, dir: u32, name: &str) {
        // The table is taken out while it changes, so its closures can read the entries.
        let mut latest = std::mem::take(&mut self.index.latest);
        match latest.entry(
            hash,
            |&other| self.is_at(other, dir, name),
            |&other| {
                let dir = self.records[other as usize].dir;
                self.index.hasher.hash_one((dir, self.name(other)))
            },
        ) {
            hashbrown::hash_table::Entry::Occupied(mut found) => *found.get_mut() = index,
            hashbrown::hash_table::Entry::Vacant(vacant) => {
                vacant.insert(index);
            }
        }
        self.index.latest = latest;
    }

    /// Returns whether entry `index` is in directory `dir` and has the last component `name`.
    fn is_at(&self, index: u32, dir: u32, name: &str) -> bool {
        self.records[index as usize].dir == dir && self.name(index) == name
    }

    /// Returns the last path component of entry `index`. The hash table probes of the walk
    /// call it for every file entry, so it reads the link lengths only for a link.
    fn name(&self, index: u32) -> &str {
        let at = index as usize;
        let record = &self.records[at];
        let end = self
            .records
            .get(at + 1)
            .map_or(self.text.len(), |next| next.start as usize);
        let links_len = if record.flags & (HAS_SYMLINK | HAS_HARDLINK) == 0 {
            0
        } else {
            let links = self.links.get(index);
            (links.symlink_len + links.hardlink_len) as usize
        };
        &self.text[record.start as usize..end - links_len]
    }

    /// Appends an entry and returns its index. Ids above `u32::MAX` are kept as `u32::MAX`.
    pub fn push(&mut self, entry: NewEntry<'_>) -> Result<u32, TextFull> {
        let path = EntryPath::new(entry.path);
        let symlink = entry.symlink_target.unwrap_or_default();
        let hardlink = entry.hardlink_to.unwrap_or_default();
        let added = path.name.len() + symlink.len() + hardlink.len();
        let start = u32::try_from(self.text.len()).map_err(|_| TextFull)?;
        if u32::try_from(self.text.len() + added).is_err() {
            return Err(TextFull);
        }
        // Past 4 billion entries an index no longer fits the side tables. That takes as many
        // tar headers, 2 TB of them, and it is reported as a full layer, as the text is.
        let index = u32::try_from(self.records.len()).map_err(|_| TextFull)?;
        let dir = match path.dir {
            None => NO_DIR,
            Some(dir) => self.add_dir(dir)?,
        };
        self.text.push_str(path.name);
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
            dir,
            start,
            mode,
            kind: entry.kind,
            flags,
        });
        Ok(index)
    }

    /// Returns the text of directory `id`.
    fn dir(&self, id: u32) -> &str {
        let id = id as usize;
        let start = id.checked_sub(1).map_or(0, |before| self.dir_ends[before]);
        &self.dirs[start as usize..self.dir_ends[id] as usize]
    }

    /// Returns the id of directory `dir`, if an entry appended before [`Self::finish`] is in it.
    fn find_dir(&self, dir: &str) -> Option<u32> {
        if let Some(last) = self.index.last_dir {
            if self.dir(last) == dir {
                return Some(last);
            }
        }
        let hash = self.index.hasher.hash_one(dir);
        self.index
            .dirs
            .find(hash, |&id| self.dir(id) == dir)
            .copied()
    }

    /// Returns the id of directory `dir`, adding it to the table when it is new.
    fn add_dir(&mut self, dir: &str) -> Result<u32, TextFull> {
        if let Some(id) = self.find_dir(dir) {
            self.index.last_dir = Some(id);
            return Ok(id);
        }
        let end = u32::try_from(self.dirs.len() + dir.len()).map_err(|_| TextFull)?;
        let id = u32::try_from(self.dir_ends.len())
            .ok()
            .filter(|&id| id != NO_DIR)
            .ok_or(TextFull)?;
        self.dirs.push_str(dir);
        self.dir_ends.push(end);
        let hash = self.index.hasher.hash_one(dir);
        let mut dirs = std::mem::take(&mut self.index.dirs);
        dirs.insert_unique(hash, id, |&other| {
            self.index.hasher.hash_one(self.dir(other))
        });
        self.index.dirs = dirs;
        self.index.last_dir = Some(id);
        Ok(id)
    }

    /// Returns the bytes the entry list's buffers take, without the allocator's overhead.
    pub fn allocated_bytes(&self) -> usize {
        self.records.capacity() * std::mem::size_of::<Record>()
            + self.text.capacity()
            + self.dirs.capacity()
            + self.dir_ends.capacity() * 4
    }

    /// Ends the appending: drops the hash tables that [`Self::latest`] and the sharing of
    /// directories use, and gives back the room the growing buffers keep spare, up to half of
    /// each. Entries appended later get directories of their own.
    pub fn finish(&mut self) {
        self.index = Index::default();
        self.records.shrink_to_fit();
        self.text.shrink_to_fit();
        self.dirs.shrink_to_fit();
        self.dir_ends.shrink_to_fit();
        self.links.shrink_to_fit();
        self.wide.shrink_to_fit();
        self.owners.shrink_to_fit();
    }

    fn view(&self, index: usize, record: &Record) -> LayerEntry<'_> {
        let end = self
            .records
            .get(index + 1)
            .map_or(self.text.len(), |next| next.start as usize);
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
        let name_start = record.start as usize;
        let hardlink_start = end - links.hardlink_len as usize;
        let symlink_start = hardlink_start - links.symlink_len as usize;
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
            path: EntryPath {
                dir: (record.dir != NO_DIR).then(|| self.dir(record.dir)),
                name: &self.text[name_start..symlink_start],
            },
            kind: record.kind,
            symlink_target: (record.flags & HAS_SYMLINK != 0)
                .then(|| &self.text[symlink_start..hardlink_start]),
            mode,
            size,
            uid,
            gid,
            hardlink_to: (record.flags & HAS_HARDLINK != 0)
                .then(|| &self.text[hardlink_start..end]),
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
        let paths: Vec<String> = entries.iter().map(|entry| entry.path.to_string()).collect();
        assert_eq!(paths, ["/usr/bin/x", "/etc/b", "", "/var/cache"]);
        assert!(entries.get(4).is_none());
    }

    #[test]
    fn entry_paths_split_and_compare_as_strings() {
        for path in ["/usr/bin/x", "/x", "/", "", "name", "/a//b", "a/b/"] {
            let split = EntryPath::new(path);
            assert_eq!(split.to_string(), path);
            assert_eq!(split.len(), path.len());
            assert_eq!(split.write_into(&mut String::from("junk")), path);
            assert!(split == path);
            assert_eq!(format!("{split:?}"), format!("{path:?}"));
        }
        assert_eq!(EntryPath::new("/usr/bin/x").name(), "x");
        assert!(EntryPath::new("/usr/bin/x") != "/usr/bin");
        assert!(EntryPath::new("/usr/bin") != "/usr/bin/x");
        assert!(EntryPath::new("/usr/binx") != "/usr/bin/x");
    }

    #[test]
    fn shared_directories_and_latest_lookup() {
        let mut entries = LayerEntries::default();
        let paths = [
            "/usr/lib/a",
            "/usr/lib/b",
            "/usr/lib/sub/c",
            "/usr/lib/d",
            "/etc/a",
            "/usr/lib/a",
            "top",
            "/",
        ];
        for (size, path) in paths.iter().enumerate() {
            entries
                .push_latest(NewEntry {
                    size: size as u64,
                    ..NewEntry::file(path, &FileKind::Regular)
                })
                .unwrap();
        }
        // A marker is listed but does not become the latest entry at its path.
        entries
            .push(NewEntry {
                kind: LayerEntryKind::Whiteout,
                ..NewEntry::file("/etc/a", &FileKind::Regular)
            })
            .unwrap();
        assert_eq!(entries.dirs, "/usr/lib/usr/lib/sub/etc");
        assert_eq!(entries.text, "abcdaatopa");
        assert_eq!(entries.latest("/usr/lib/a").unwrap().size, 5);
        assert_eq!(entries.latest("/etc/a").unwrap().size, 4);
        assert_eq!(entries.latest("top").unwrap().size, 6);
        assert_eq!(entries.latest("/").unwrap().size, 7);
        assert!(entries.latest("/usr/lib/sub").is_none());
        assert!(entries.latest("/nowhere/a").is_none());
        assert!(entries.latest("/usr/lib/c").is_none());
        let spelled: Vec<String> = entries.iter().map(|entry| entry.path.to_string()).collect();
        assert_eq!(spelled[..8], paths);
        assert_eq!(spelled[8], "/etc/a");

        // After `finish` the lookup tables are gone, and later entries still read back.
        entries.finish();
        assert!(entries.latest("/etc/a").is_none());
        entries
            .push(NewEntry::file("/usr/lib/e", &FileKind::Regular))
            .unwrap();
        assert_eq!(entries.last().unwrap().path, "/usr/lib/e");
        assert_eq!(entries.get(3).unwrap().path, "/usr/lib/d");
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
        entries.finish();
        assert_eq!(entries.len(), expected.len());
        for (index, (entry, want)) in entries.iter().zip(&expected).enumerate() {
            let got = (
                entry.path.to_string(),
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
            assert_eq!(entries.path(index).to_string(), want.0);
        }
        assert_eq!(entries.last(), entries.get(expected.len() - 1));
    }
}
