//! The visible entries of a squashed file system, stored as a tree of path components.
//!
//! An image can hold a million paths, and most of them share long prefixes. Each component is
//! stored once, as a node with its parent, its name in a shared arena and the entry's
//! metadata in fixed-size fields, and a hash table finds a child by parent and name. That
//! costs about 45 bytes per path: a 28-byte node, its hash table slot and its name. A sorted
//! map of full path strings to entries cost about 350, so peak memory followed the file count.
//!
//! The node's fields are sized for the common case. A size of 4 GiB or more, a mode, layer or
//! name length above 16 bits, and user and group ids other than 0 sit in side tables, and a
//! flag on the node marks each of them.
//!
//! Lookups take the absolute, normalised paths of [`FileEntry::path`]. Removing a path removes
//! only its entry, as a map would; [`PathTree::remove_below`] removes a whole subtree.

use std::collections::HashMap;
use std::hash::BuildHasher;

use hashbrown::DefaultHashBuilder;
use hashbrown::HashTable;

use crate::filesystem::{FileEntry, FileKind};

/// No node: the end of a child list, or no parent.
const NONE: u32 = u32::MAX;
/// The root directory's node.
const ROOT: u32 = 0;

/// The kind codes stored in [`Node::kind`]. `VACANT` marks a node with no entry of its own: a
/// directory no entry names, or a path whose entry was removed.
const VACANT: u8 = 0;
const REGULAR: u8 = 1;
const DIRECTORY: u8 = 2;
const SYMLINK: u8 = 3;
const CHAR_DEVICE: u8 = 4;
const BLOCK_DEVICE: u8 = 5;
const FIFO: u8 = 6;

/// The flags in [`Node::flags`]. `WIDE`: the size, mode and layer are in [`PathTree::wide`].
/// `OWNED`: the user and group ids are in [`PathTree::owners`]; without it both are 0.
/// `LONG_NAME`: the name's length is in [`PathTree::long_names`].
const WIDE: u8 = 1;
const OWNED: u8 = 2;
const LONG_NAME: u8 = 4;

#[derive(Debug, Clone)]
struct Node {
    parent: u32,
    name_start: u32,
    first_child: u32,
    next_sibling: u32,
    size: u32,
    name_len: u16,
    mode: u16,
    layer: u16,
    kind: u8,
    flags: u8,
}

impl Node {
    fn vacant(parent: u32, name_start: u32) -> Self {
        Self {
            parent,
            name_start,
            first_child: NONE,
            next_sibling: NONE,
            size: 0,
            name_len: 0,
            mode: 0,
            layer: 0,
            kind: VACANT,
            flags: 0,
        }
    }
}

/// The metadata of a node whose size, mode or layer does not fit its field.
#[derive(Debug, Clone, Copy)]
struct Wide {
    size: u64,
    mode: u32,
    layer: u32,
}

/// Returns the name of node `id`, from the tree's parts, so it can be called while the hash
/// table is borrowed mutably.
fn node_name<'a>(
    nodes: &[Node],
    names: &'a str,
    long_names: &HashMap<u32, u32>,
    id: u32,
) -> &'a str {
    let node = &nodes[id as usize];
    let len = if node.flags & LONG_NAME == 0 {
        u32::from(node.name_len)
    } else {
        long_names[&id]
    };
    &names[node.name_start as usize..(node.name_start + len) as usize]
}

/// A map from normalised absolute paths to [`FileEntry`] values.
#[derive(Clone)]
pub struct PathTree {
    nodes: Vec<Node>,
    /// Component names, back to back. A node refers to its name by offset and length, and
    /// nodes with the same name share its text.
    names: String,
    /// The offset and length of each distinct name in `names`, found by the hash of the name
    /// while the tree is built. `None` after [`PathTree::freeze`], or once the table took more
    /// room than it saved.
    known_names: Option<HashTable<(u32, u32)>>,
    /// The bytes of names that `known_names` kept out of `names`.
    shared_name_bytes: usize,
    /// Node ids, found by the hash of their parent and name, while the tree is built.
    children: HashTable<u32>,
    /// The children of every directory once the tree is frozen ([`PathTree::freeze`]): for
    /// each directory that has children, its number of children followed by their ids sorted
    /// by name. A directory's `first_child` is then where its block starts, and a lookup is a
    /// binary search of the block. It takes about 4 bytes per node, where `children` took
    /// about 10.
    sorted_children: Option<Vec<u32>>,
    hasher: DefaultHashBuilder,
    /// Symlink targets by node, for nodes of kind `SYMLINK`.
    symlinks: HashMap<u32, Box<str>>,
    /// Hardlink targets by node.
    hardlinks: HashMap<u32, Box<str>>,
    /// Metadata by node, for nodes flagged `WIDE`.
    wide: HashMap<u32, Wide>,
    /// User and group ids by node, for nodes flagged `OWNED`.
    owners: HashMap<u32, (u32, u32)>,
    /// Name lengths by node, for nodes flagged `LONG_NAME`.
    long_names: HashMap<u32, u32>,
    /// Nodes removed with their subtree, reused by later inserts.
    free: Vec<u32>,
    len: usize,
}

impl Default for PathTree {
    fn default() -> Self {
        Self {
            nodes: vec![Node::vacant(NONE, 0)],
            names: String::new(),
            known_names: Some(HashTable::new()),
            shared_name_bytes: 0,
            children: HashTable::new(),
            sorted_children: None,
            hasher: DefaultHashBuilder::default(),
            symlinks: HashMap::new(),
            hardlinks: HashMap::new(),
            wide: HashMap::new(),
            owners: HashMap::new(),
            long_names: HashMap::new(),
            free: Vec::new(),
            len: 0,
        }
    }
}

impl std::fmt::Debug for PathTree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map()
            .entries(
                self.entries()
                    .into_iter()
                    .map(|entry| (entry.path.clone(), entry)),
            )
            .finish()
    }
}

fn components(path: &str) -> impl DoubleEndedIterator<Item = &str> {
    path.split('/').filter(|part| !part.is_empty())
}

impl PathTree {
    /// Ends the building of the tree: gives back the room the node and name buffers keep for
    /// growth, drops the table of known names, and replaces the hash table of children with
    /// sorted blocks of children. On the 2.3 GB benchmark image the hash table took 5.2 MB and
    /// the blocks take 2.0. The names grow by doubling, so up to half of their buffer can be
    /// spare once the last layer is added. A later insert that adds a node brings the hash
    /// table back ([`Self::thaw`]).
    pub fn freeze(&mut self) {
        self.known_names = None;
        self.nodes.shrink_to_fit();
        self.names.shrink_to_fit();
        self.free.shrink_to_fit();
        if self.sorted_children.is_some() {
            return;
        }
        // Nodes freed by `remove_below` keep stale links, so only nodes reachable from the
        // root are visited. Each is in exactly one block, and each directory with children
        // adds a count.
        let linked = self.nodes.len() - 1 - self.free.len();
        let mut blocks = Vec::with_capacity(linked + linked / 8);
        let mut pending = vec![ROOT];
        let mut siblings = Vec::new();
        while let Some(id) = pending.pop() {
            siblings.clear();
            let mut child = self.nodes[id as usize].first_child;
            while child != NONE {
                siblings.push(child);
                child = self.nodes[child as usize].next_sibling;
            }
            if siblings.is_empty() {
                continue;
            }
            siblings.sort_unstable_by(|&a, &b| self.name(a).cmp(self.name(b)));
            let start = u32::try_from(blocks.len()).expect("fewer than 4 billion paths");
            let count = u32::try_from(siblings.len()).expect("fewer than 4 billion paths");
            blocks.push(count);
            blocks.extend_from_slice(&siblings);
            self.nodes[id as usize].first_child = start;
            pending.extend_from_slice(&siblings);
        }
        blocks.shrink_to_fit();
        self.children = HashTable::new();
        self.sorted_children = Some(blocks);
    }

    /// Undoes [`Self::freeze`]: links each directory's children in a list again and rebuilds
    /// the hash table, so nodes can be added.
    fn thaw(&mut self) {
        let Some(blocks) = self.sorted_children.take() else {
            return;
        };
        let mut pending = vec![ROOT];
        let mut children = HashTable::with_capacity(self.nodes.len());
        while let Some(id) = pending.pop() {
            let block = Self::block(&blocks, self.nodes[id as usize].first_child);
            self.nodes[id as usize].first_child = block.first().copied().unwrap_or(NONE);
            for (at, &child) in block.iter().enumerate() {
                self.nodes[child as usize].next_sibling =
                    block.get(at + 1).copied().unwrap_or(NONE);
                let hash = self.hash(id, self.name(child));
                let Self {
                    nodes,
                    names,
                    long_names,
                    hasher,
                    ..
                } = &*self;
                children.insert_unique(hash, child, |&other| {
                    let other_name = node_name(nodes, names, long_names, other);
                    hasher.hash_one((nodes[other as usize].parent, other_name))
                });
            }
            pending.extend_from_slice(block);
        }
        self.children = children;
    }

    /// Returns the sorted children in the block that starts at `start`, none for `NONE`.
    fn block(blocks: &[u32], start: u32) -> &[u32] {
        if start == NONE {
            return &[];
        }
        let start = start as usize;
        let count = blocks[start] as usize;
        &blocks[start + 1..start + 1 + count]
    }

    /// Calls `visit` with each child of node `id`, in no particular order.
    fn for_each_child(&self, id: u32, mut visit: impl FnMut(u32)) {
        let first = self.nodes[id as usize].first_child;
        if let Some(blocks) = &self.sorted_children {
            Self::block(blocks, first)
                .iter()
                .for_each(|&child| visit(child));
            return;
        }
        let mut child = first;
        while child != NONE {
            visit(child);
            child = self.nodes[child as usize].next_sibling;
        }
    }

    /// Returns the number of paths that have an entry.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn name(&self, id: u32) -> &str {
        node_name(&self.nodes, &self.names, &self.long_names, id)
    }

    fn hash(&self, parent: u32, name: &str) -> u64 {
        self.hasher.hash_one((parent, name))
    }

    fn child(&self, parent: u32, name: &str) -> Option<u32> {
        if let Some(blocks) = &self.sorted_children {
            let block = Self::block(blocks, self.nodes[parent as usize].first_child);
            return block
                .binary_search_by(|&id| self.name(id).cmp(name))
                .ok()
                .map(|at| block[at]);
        }
        let hash = self.hash(parent, name);
        self.children
            .find(hash, |&id| {
                self.nodes[id as usize].parent == parent && self.name(id) == name
            })
            .copied()
    }

    fn find(&self, path: &str) -> Option<u32> {
        components(path).try_fold(ROOT, |parent, name| self.child(parent, name))
    }

    /// Returns the node of `path`, adding vacant nodes for it and its missing ancestors.
    fn find_or_add(&mut self, path: &str) -> u32 {
        let mut current = ROOT;
        for name in components(path) {
            current = match self.child(current, name) {
                Some(id) => id,
                None => self.add_child(current, name),
            };
        }
        current
    }

    /// Returns where `name` starts in the name buffer, adding it when the buffer does not hold
    /// it yet.
    fn store_name(&mut self, name: &str) -> u32 {
        let name_len = u32::try_from(name.len()).expect("a component fits in 4 GiB");
        let Some(known) = &mut self.known_names else {
            let start = u32::try_from(self.names.len()).expect("names fit in 4 GiB");
            self.names.push_str(name);
            return start;
        };
        let names = &self.names;
        let spelled = |&(start, len): &(u32, u32)| &names[start as usize..(start + len) as usize];
        let hash = self.hasher.hash_one(name);
        if let Some(&(start, _)) = known.find(hash, |span| spelled(span) == name) {
            self.shared_name_bytes += name.len();
            return start;
        }
        // A table of names that rarely repeat costs more than it saves. Each slot takes about
        // ten bytes; whenever the table is about to grow, it is dropped unless it has already
        // saved that much.
        const JUDGED_FROM: usize = 4096;
        if known.len() == known.capacity()
            && known.capacity() >= JUDGED_FROM
            && self.shared_name_bytes < known.capacity() * 10
        {
            self.known_names = None;
            return self.store_name(name);
        }
        let start = u32::try_from(self.names.len()).expect("names fit in 4 GiB");
        self.names.push_str(name);
        let names = &self.names;
        let hasher = &self.hasher;
        known.insert_unique(hash, (start, name_len), |&(start, len)| {
            hasher.hash_one(&names[start as usize..(start + len) as usize])
        });
        start
    }

    fn add_child(&mut self, parent: u32, name: &str) -> u32 {
        self.thaw();
        let name_len = u32::try_from(name.len()).expect("a component fits in 4 GiB");
        let name_start = self.store_name(name);
        let mut node = Node::vacant(parent, name_start);
        node.next_sibling = self.nodes[parent as usize].first_child;
        match u16::try_from(name_len) {
            Ok(len) => node.name_len = len,
            Err(_) => node.flags |= LONG_NAME,
        }
        let id = match self.free.pop() {
            Some(id) => {
                if self.nodes[id as usize].flags & LONG_NAME != 0 {
                    self.long_names.remove(&id);
                }
                self.nodes[id as usize] = node;
                id
            }
            None => {
                let id = u32::try_from(self.nodes.len()).expect("fewer than 4 billion paths");
                self.nodes.push(node);
                id
            }
        };
        if self.nodes[id as usize].flags & LONG_NAME != 0 {
            self.long_names.insert(id, name_len);
        }
        self.nodes[parent as usize].first_child = id;
        let hash = self.hash(parent, name);
        let Self {
            children,
            nodes,
            hasher,
            names,
            long_names,
            ..
        } = self;
        children.insert_unique(hash, id, |&other| {
            let other_name = node_name(nodes, names, long_names, other);
            hasher.hash_one((nodes[other as usize].parent, other_name))
        });
        id
    }

    fn entry_at(&self, id: u32, path: String) -> Option<FileEntry> {
        let node = &self.nodes[id as usize];
        let kind = match node.kind {
            VACANT => return None,
            REGULAR => FileKind::Regular,
            DIRECTORY => FileKind::Directory,
            SYMLINK => FileKind::Symlink(
                self.symlinks
                    .get(&id)
                    .map_or_else(String::new, |target| target.to_string()),
            ),
            CHAR_DEVICE => FileKind::CharDevice,
            BLOCK_DEVICE => FileKind::BlockDevice,
            _ => FileKind::Fifo,
        };
        let (size, mode, layer) = match node.flags & WIDE {
            0 => (
                u64::from(node.size),
                u32::from(node.mode),
                u32::from(node.layer),
            ),
            _ => {
                let wide = self.wide[&id];
                (wide.size, wide.mode, wide.layer)
            }
        };
        let (uid, gid) = match node.flags & OWNED {
            0 => (0, 0),
            _ => self.owners[&id],
        };
        Some(FileEntry {
            path,
            kind,
            mode,
            size,
            uid: u64::from(uid),
            gid: u64::from(gid),
            layer: layer as usize,
            hardlink_to: self.hardlinks.get(&id).map(|target| target.to_string()),
        })
    }

    /// Returns the absolute path of node `id`, `/` for the root.
    fn path_of(&self, id: u32) -> String {
        let mut names = Vec::new();
        let mut current = id;
        while current != ROOT && current != NONE {
            names.push(self.name(current));
            current = self.nodes[current as usize].parent;
        }
        if names.is_empty() {
            return "/".to_owned();
        }
        let mut path = String::with_capacity(names.iter().map(|name| name.len() + 1).sum());
        for name in names.iter().rev() {
            path.push('/');
            path.push_str(name);
        }
        path
    }

    /// Follows `path` from the root as the kernel would inside a chroot of this tree. Every
    /// component must have an entry, a symlink in any component is followed, with a relative
    /// target taken from the link's directory, and `..` goes to the parent. Returns the real
    /// path and its entry, or `None` for a missing path, a dangling link or more than
    /// `max_hops` links.
    ///
    /// It works on node ids, so a lookup costs one hash probe per component and builds one
    /// string, the real path, at the end.
    pub fn resolve(&self, path: &str, max_hops: usize) -> Option<(String, FileEntry)> {
        let mut hops = 0;
        let mut pending: Vec<&str> = components(path).rev().collect();
        let mut current = ROOT;
        while let Some(part) = pending.pop() {
            match part {
                "." => continue,
                ".." => {
                    if current != ROOT {
                        current = self.nodes[current as usize].parent;
                    }
                    continue;
                }
                _ => {}
            }
            let child = self.child(current, part)?;
            match self.nodes[child as usize].kind {
                VACANT => return None,
                SYMLINK => {
                    hops += 1;
                    if hops > max_hops {
                        return None;
                    }
                    let target = self.symlinks.get(&child).map_or("", |target| &target[..]);
                    if target.starts_with('/') {
                        current = ROOT;
                    }
                    pending.extend(components(target).rev());
                }
                _ => current = child,
            }
        }
        let real_path = self.path_of(current);
        let entry = self.entry_at(current, real_path.clone())?;
        Some((real_path, entry))
    }

    /// Returns the entry at `path`.
    pub fn get(&self, path: &str) -> Option<FileEntry> {
        let id = self.find(path)?;
        self.entry_at(id, path.to_owned())
    }

    /// Returns whether `path` has an entry.
    pub fn contains(&self, path: &str) -> bool {
        self.find(path)
            .is_some_and(|id| self.nodes[id as usize].kind != VACANT)
    }

    /// Returns whether `path` has an entry that is a directory, `None` when it has no entry.
    pub fn is_directory(&self, path: &str) -> Option<bool> {
        let kind = self.nodes[self.find(path)? as usize].kind;
        (kind != VACANT).then_some(kind == DIRECTORY)
    }

    /// Adds or replaces the entry at `entry.path`. User and group ids above `u32::MAX`, which
    /// no Linux file system can store, are kept as `u32::MAX`.
    pub fn insert(&mut self, entry: FileEntry) {
        let id = self.find_or_add(&entry.path);
        self.clear_attached(id);
        let (kind, target) = match entry.kind {
            FileKind::Regular => (REGULAR, None),
            FileKind::Directory => (DIRECTORY, None),
            FileKind::Symlink(target) => (SYMLINK, Some(target)),
            FileKind::CharDevice => (CHAR_DEVICE, None),
            FileKind::BlockDevice => (BLOCK_DEVICE, None),
            FileKind::Fifo => (FIFO, None),
        };
        if let Some(target) = target {
            self.symlinks.insert(id, target.into_boxed_str());
        }
        if let Some(target) = entry.hardlink_to {
            self.hardlinks.insert(id, target.into_boxed_str());
        }
        let layer = u32::try_from(entry.layer).expect("fewer than 4 billion layers");
        let uid = u32::try_from(entry.uid).unwrap_or(u32::MAX);
        let gid = u32::try_from(entry.gid).unwrap_or(u32::MAX);
        let narrow = (
            u32::try_from(entry.size),
            u16::try_from(entry.mode),
            u16::try_from(layer),
        );
        let node = &mut self.nodes[id as usize];
        if node.kind == VACANT {
            self.len += 1;
        }
        node.kind = kind;
        if let (Ok(size), Ok(mode), Ok(layer)) = narrow {
            (node.size, node.mode, node.layer) = (size, mode, layer);
        } else {
            node.flags |= WIDE;
            let wide = Wide {
                size: entry.size,
                mode: entry.mode,
                layer,
            };
            self.wide.insert(id, wide);
        }
        if (uid, gid) != (0, 0) {
            self.nodes[id as usize].flags |= OWNED;
            self.owners.insert(id, (uid, gid));
        }
    }

    /// Drops what node `id`'s entry keeps outside the node: link targets and the metadata in
    /// side tables.
    fn clear_attached(&mut self, id: u32) {
        if !self.symlinks.is_empty() {
            self.symlinks.remove(&id);
        }
        if !self.hardlinks.is_empty() {
            self.hardlinks.remove(&id);
        }
        let node = &mut self.nodes[id as usize];
        if node.flags & WIDE != 0 {
            self.wide.remove(&id);
        }
        if node.flags & OWNED != 0 {
            self.owners.remove(&id);
        }
        node.flags &= !(WIDE | OWNED);
    }

    /// Removes and returns the entry at `path`. Entries below it stay.
    pub fn remove(&mut self, path: &str) -> Option<FileEntry> {
        let id = self.find(path)?;
        let entry = self.entry_at(id, path.to_owned())?;
        self.clear_attached(id);
        self.nodes[id as usize].kind = VACANT;
        self.len -= 1;
        Some(entry)
    }

    /// Removes every entry strictly below `directory` (`/` for the root) and returns them,
    /// each with its path.
    pub fn remove_below(&mut self, directory: &str) -> Vec<FileEntry> {
        let Some(top) = self.find(directory) else {
            return Vec::new();
        };
        let mut removed = Vec::new();
        let mut doomed = Vec::new();
        self.walk(top, directory, &mut |id, path| {
            doomed.push(id);
            removed.extend(self.entry_at(id, path.to_owned()));
        });
        for &id in &doomed {
            let hash = self.hash(self.nodes[id as usize].parent, self.name(id));
            if let Ok(found) = self.children.find_entry(hash, |&other| other == id) {
                found.remove();
            }
            if self.nodes[id as usize].kind != VACANT {
                self.len -= 1;
            }
            self.clear_attached(id);
            self.nodes[id as usize].kind = VACANT;
            self.free.push(id);
        }
        self.nodes[top as usize].first_child = NONE;
        removed
    }

    /// Calls `visit` for every node strictly below `top`, whose path is `top_path`, with the
    /// node's path. Parents come before their children; siblings in no particular order.
    fn walk(&self, top: u32, top_path: &str, visit: &mut dyn FnMut(u32, &str)) {
        let mut path = String::from(top_path.trim_end_matches('/'));
        // Each item is a node and the length of its parent's path.
        let mut pending = Vec::new();
        let top_len = path.len();
        self.for_each_child(top, |child| pending.push((child, top_len)));
        while let Some((id, parent_len)) = pending.pop() {
            path.truncate(parent_len);
            path.push('/');
            path.push_str(self.name(id));
            visit(id, &path);
            let len = path.len();
            self.for_each_child(id, |child| pending.push((child, len)));
        }
    }

    /// Returns the entries whose path and kind satisfy `keep`, in path order.
    pub fn filtered(&self, keep: impl Fn(&str, &FileKind) -> bool) -> Vec<FileEntry> {
        let mut found = Vec::new();
        if let Some(root) = self.entry_at(ROOT, "/".to_owned()) {
            if keep(&root.path, &root.kind) {
                found.push(root);
            }
        }
        self.walk(ROOT, "", &mut |id, path| {
            let kind = match self.nodes[id as usize].kind {
                VACANT => return,
                REGULAR => FileKind::Regular,
                DIRECTORY => FileKind::Directory,
                // `entry_at` fills in the target. The filter reads only the kind.
                SYMLINK => FileKind::Symlink(String::new()),
                CHAR_DEVICE => FileKind::CharDevice,
                BLOCK_DEVICE => FileKind::BlockDevice,
                _ => FileKind::Fifo,
            };
            if keep(path, &kind) {
                found.extend(self.entry_at(id, path.to_owned()));
            }
        });
        found.sort_unstable_by(|a, b| a.path.cmp(&b.path));
        found
    }

    /// Returns the names of the entries directly inside `directory` whose name starts with
    /// `prefix`, in order. The cost grows with the number of children of `directory`.
    pub fn child_names(&self, directory: &str, prefix: &str) -> Vec<String> {
        let Some(top) = self.find(directory) else {
            return Vec::new();
        };
        let mut names = Vec::new();
        self.for_each_child(top, |child| {
            let name = self.name(child);
            if self.nodes[child as usize].kind != VACANT && name.starts_with(prefix) {
                names.push(name.to_owned());
            }
        });
        names.sort_unstable();
        names
    }

    /// Returns every entry, in path order.
    pub fn entries(&self) -> Vec<FileEntry> {
        self.filtered(|_, _| true)
    }

    /// Returns every path that has an entry, in order.
    pub fn paths(&self) -> Vec<String> {
        self.entries().into_iter().map(|entry| entry.path).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(path: &str, kind: FileKind) -> FileEntry {
        FileEntry {
            path: path.to_owned(),
            kind,
            mode: 0o644,
            size: 7,
            uid: 1,
            gid: 2,
            layer: 3,
            hardlink_to: None,
        }
    }

    /// Size, mode, layer, user id and group id.
    type Metadata = (u64, u32, usize, u64, u64);

    fn metadata(entry: &FileEntry) -> Metadata {
        (entry.size, entry.mode, entry.layer, entry.uid, entry.gid)
    }

    #[test]
    fn wide_values_and_long_names_round_trip() {
        let long_name = "n".repeat(70_000);
        let long_path = format!("/d/{long_name}");
        let mut tree = PathTree::default();
        let mut wide = entry(&long_path, FileKind::Regular);
        (wide.size, wide.mode, wide.layer) = (5 << 30, 0o1_0000_0644, 65_535);
        (wide.uid, wide.gid) = (u64::from(u32::MAX) + 1, 7);
        tree.insert(wide.clone());
        let got = tree.get(&long_path).unwrap();
        assert_eq!(
            metadata(&got),
            (5 << 30, 0o1_0000_0644, 65_535, u64::from(u32::MAX), 7)
        );
        assert_eq!(tree.child_names("/d", ""), std::slice::from_ref(&long_name));

        // A narrow entry at the same path leaves nothing of the wide one behind.
        let mut narrow = entry(&long_path, FileKind::Regular);
        (narrow.uid, narrow.gid) = (0, 0);
        tree.insert(narrow.clone());
        assert_eq!(metadata(&tree.get(&long_path).unwrap()), metadata(&narrow));
        assert!(tree.wide.is_empty());
        assert!(tree.owners.is_empty());

        // A freed node that held a long name is reused for a short one.
        tree.remove_below("/d");
        tree.insert(entry("/d/short", FileKind::Regular));
        assert_eq!(tree.paths(), ["/d/short"]);
        assert!(tree.long_names.is_empty());
        assert_eq!(
            metadata(&tree.get("/d/short").unwrap()),
            (7, 0o644, 3, 1, 2)
        );
    }

    #[test]
    fn node_is_28_bytes() {
        assert_eq!(std::mem::size_of::<Node>(), 28);
    }

    #[test]
    fn insert_get_replace_and_remove() {
        let mut tree = PathTree::default();
        tree.insert(entry("/etc", FileKind::Directory));
        tree.insert(entry("/etc/passwd", FileKind::Regular));
        tree.insert(entry("/lib", FileKind::Symlink("usr/lib".into())));
        let mut linked = entry("/etc/group", FileKind::Regular);
        linked.hardlink_to = Some("/etc/passwd".into());
        tree.insert(linked.clone());
        assert_eq!(tree.len(), 4);
        assert_eq!(
            tree.get("/etc/group").unwrap().hardlink_to,
            linked.hardlink_to
        );
        assert_eq!(
            tree.get("/lib").unwrap().kind,
            FileKind::Symlink("usr/lib".into())
        );
        assert!(tree.get("/etc/shadow").is_none());
        assert!(tree.get("/et").is_none());

        tree.insert(entry("/lib", FileKind::Directory));
        assert_eq!(tree.get("/lib").unwrap().kind, FileKind::Directory);
        assert_eq!(tree.len(), 4);

        // Removing a directory's entry leaves the entries below it, as in a sorted map.
        assert_eq!(tree.remove("/etc").unwrap().kind, FileKind::Directory);
        assert!(tree.remove("/etc").is_none());
        assert!(tree.contains("/etc/passwd"));
        assert_eq!(tree.len(), 3);
        assert_eq!(tree.paths(), ["/etc/group", "/etc/passwd", "/lib"]);
    }

    #[test]
    fn remove_below_takes_the_subtree_and_reuses_nodes() {
        let mut tree = PathTree::default();
        for path in ["/a", "/a/b", "/a/b/c", "/a/d", "/a-e", "/ab"] {
            tree.insert(entry(path, FileKind::Directory));
        }
        let mut removed: Vec<String> = tree
            .remove_below("/a")
            .into_iter()
            .map(|entry| entry.path)
            .collect();
        removed.sort();
        assert_eq!(removed, ["/a/b", "/a/b/c", "/a/d"]);
        assert_eq!(tree.paths(), ["/a", "/a-e", "/ab"]);
        assert_eq!(tree.len(), 3);
        let nodes = tree.nodes.len();
        tree.insert(entry("/a/x", FileKind::Regular));
        tree.insert(entry("/a/y/z", FileKind::Regular));
        assert_eq!(tree.nodes.len(), nodes, "freed nodes are reused");
        // Byte order, as a sorted map of strings: `-` sorts before `/`.
        assert_eq!(tree.paths(), ["/a", "/a-e", "/a/x", "/a/y/z", "/ab"]);
        assert!(tree.get("/a/y").is_none(), "an implied parent has no entry");
        tree.remove_below("/");
        assert!(tree.is_empty());
        assert!(tree.paths().is_empty());
    }

    #[test]
    fn frozen_tree_finds_resolves_and_thaws() {
        let mut tree = PathTree::default();
        for path in ["/usr/lib/a.so", "/usr/lib/b.so", "/opt/lib/a.so", "/opt/x"] {
            tree.insert(entry(path, FileKind::Regular));
        }
        tree.insert(entry("/lib", FileKind::Symlink("usr/lib".to_owned())));
        for path in ["/usr", "/usr/lib"] {
            tree.insert(entry(path, FileKind::Directory));
        }
        // `lib` and `a.so` are stored once for both directories.
        assert_eq!(tree.names, "usrliba.sob.sooptx");
        assert_eq!(tree.resolve("/lib/b.so", 8).unwrap().0, "/usr/lib/b.so");
        tree.freeze();
        assert!(tree.children.is_empty());
        assert!(tree.known_names.is_none());
        assert_eq!(tree.get("/opt/lib/a.so").unwrap().path, "/opt/lib/a.so");
        assert!(tree.get("/opt/lib/c.so").is_none());
        assert!(tree.get("/x").is_none());
        let (real, _) = tree.resolve("/lib/b.so", 8).unwrap();
        assert_eq!(real, "/usr/lib/b.so");
        assert_eq!(tree.child_names("/usr/lib", ""), ["a.so", "b.so"]);

        // Replacing an entry keeps the tree frozen; adding a path thaws it.
        tree.insert(entry("/opt/x", FileKind::Directory));
        assert!(tree.sorted_children.is_some());
        tree.insert(entry("/opt/x/y", FileKind::Regular));
        assert!(tree.sorted_children.is_none());
        assert_eq!(
            tree.paths(),
            [
                "/lib",
                "/opt/lib/a.so",
                "/opt/x",
                "/opt/x/y",
                "/usr",
                "/usr/lib",
                "/usr/lib/a.so",
                "/usr/lib/b.so"
            ]
        );
        assert_eq!(tree.remove_below("/usr").len(), 3);
        tree.freeze();
        assert_eq!(
            tree.paths(),
            ["/lib", "/opt/lib/a.so", "/opt/x", "/opt/x/y", "/usr"]
        );
        assert!(tree.resolve("/lib/b.so", 8).is_none());
    }

    /// The tree must order and find paths exactly as the sorted map of path strings it
    /// replaced, including names that sort between a directory and its children.
    #[test]
    fn matches_a_sorted_map_under_random_operations() {
        use std::collections::BTreeMap;
        let names = ["a", "b", "a-b", "a.b", "ab", "c d", "é"];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let mut tree = PathTree::default();
        let mut model: BTreeMap<String, FileEntry> = BTreeMap::new();
        for step in 0..20_000u64 {
            let depth = 1 + next() % 4;
            let path: String = (0..depth)
                .map(|_| format!("/{}", names[(next() % names.len() as u64) as usize]))
                .collect();
            match next() % 10 {
                0..=5 => {
                    let mut new = entry(&path, FileKind::Regular);
                    // Some entries need the side tables: ids other than 0, and a size, mode
                    // or layer too wide for the node.
                    let wide = next();
                    new.size = if wide % 7 == 0 { step << 32 } else { step };
                    new.mode = if wide % 5 == 0 { 0o70_0000 } else { 0o644 };
                    new.layer = if wide % 11 == 0 { 70_000 } else { 3 };
                    (new.uid, new.gid) = match wide % 3 {
                        0 => (0, 0),
                        1 => (0, 50),
                        _ => (1000, 1000),
                    };
                    tree.insert(new.clone());
                    model.insert(path, new);
                }
                6..=7 => {
                    let expected = model.remove(&path).map(|entry| metadata(&entry));
                    assert_eq!(tree.remove(&path).map(|entry| metadata(&entry)), expected);
                }
                _ => {
                    let prefix = format!("{path}/");
                    let mut expected: Vec<String> = model
                        .range(prefix.clone()..)
                        .take_while(|(key, _)| key.starts_with(&prefix))
                        .map(|(key, _)| key.clone())
                        .collect();
                    for key in &expected {
                        model.remove(key);
                    }
                    let mut removed: Vec<String> = tree
                        .remove_below(&path)
                        .into_iter()
                        .map(|entry| entry.path)
                        .collect();
                    removed.sort();
                    expected.sort();
                    assert_eq!(removed, expected);
                }
            }
            assert_eq!(tree.len(), model.len());
            // A frozen tree finds paths in its sorted blocks, and the next insert that adds a
            // node thaws it.
            if step % 997 == 0 {
                tree.freeze();
                for key in model.keys().take(50) {
                    assert!(tree.contains(key), "{key} after freezing at step {step}");
                }
            }
        }
        tree.freeze();
        assert!(tree.sorted_children.is_some());
        let expected: Vec<(String, Metadata)> = model
            .iter()
            .map(|(key, value)| (key.clone(), metadata(value)))
            .collect();
        let actual: Vec<(String, Metadata)> = tree
            .entries()
            .into_iter()
            .map(|entry| (entry.path.clone(), metadata(&entry)))
            .collect();
        assert_eq!(actual, expected);
        for key in model.keys() {
            assert!(tree.contains(key));
        }
    }
}
