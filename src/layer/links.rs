//! A second read of a layer, for hardlinks whose target no cataloger asked for.
//!
//! The walk keeps a file's contents only when a cataloger wants its path, and a hardlink takes
//! its target's kept contents. So a wanted path that is a hardlink to an unwanted file, such
//! as `/var/lib/dpkg/status` linked to a file elsewhere in the layer, ends up with no
//! contents. A stream cannot be read again, but a layer stored in a file can:
//! [`recover_links`] reads it once more and keeps the contents of those targets only.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read};
use std::sync::Arc;

use tar::EntryType;

use super::{LayerScan, LayerWarning, normalize_link_target};
use crate::filesystem::normalize_path;
use crate::source::{Limits, compression};

/// A hardlink at a path a cataloger wants, whose target's contents the walk did not keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UncapturedLink {
    /// The normalised path of the link.
    pub link: String,
    /// The link's target, then that target's own target while it is a hardlink too, and so on.
    pub chain: Vec<String>,
}

impl UncapturedLink {
    /// Returns the warning the walk records for this link, and that [`recover_links`] drops
    /// once the link has its contents.
    pub fn warning(&self) -> LayerWarning {
        let target = self.chain.first().map_or("", String::as_str);
        LayerWarning {
            path: self.link.clone(),
            message: format!(
                "hardlink to {target}, whose contents were not captured, so this file's \
                 contents are unavailable"
            ),
        }
    }
}

/// Reads the layer `blob` (compressed or not) again and gives each link of
/// [`LayerScan::uncaptured_links`] the contents its target had when the link was written,
/// within [`Limits::max_captured_file`]. The warning about a link that gets its contents is
/// dropped. Returns the number of links that got contents.
pub fn recover_links(scan: &mut LayerScan, blob: impl Read, limits: &Limits) -> io::Result<usize> {
    if scan.uncaptured_links.is_empty() {
        return Ok(0);
    }
    let links: HashSet<&str> = scan
        .uncaptured_links
        .iter()
        .map(|link| link.link.as_str())
        .collect();
    let tracked: HashSet<&str> = scan
        .uncaptured_links
        .iter()
        .flat_map(|link| link.chain.iter().map(String::as_str))
        .collect();

    let (_, decoded) = compression::decompress(blob)?;
    let mut archive = tar::Archive::new(decoded);
    // The contents each tracked path has at this point of the stream, and the contents of each
    // link as of its latest entry.
    let mut current: HashMap<String, Arc<[u8]>> = HashMap::new();
    let mut resolved: HashMap<String, Arc<[u8]>> = HashMap::new();
    for entry in archive.entries()? {
        let mut entry = entry?;
        let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Some(path) = normalize_path(&raw_path) else {
            continue;
        };
        let is_link = links.contains(path.as_str());
        if !is_link && !tracked.contains(path.as_str()) {
            continue;
        }

        let contents = match entry.header().entry_type() {
            EntryType::Regular | EntryType::Continuous | EntryType::GNUSparse
                if entry.size() <= limits.max_captured_file =>
            {
                let mut bytes = Vec::with_capacity(entry.size() as usize);
                entry.read_to_end(&mut bytes)?;
                Some(Arc::from(bytes))
            }
            EntryType::Link => {
                let target = entry.link_name_bytes().unwrap_or_default();
                let target = normalize_link_target(&String::from_utf8_lossy(&target));
                current.get(&target).cloned()
            }
            _ => None,
        };
        // A later entry at the link's path replaces the link, so only the latest one counts.
        if is_link {
            match &contents {
                Some(bytes) => resolved.insert(path.clone(), Arc::clone(bytes)),
                None => resolved.remove(&path),
            };
        }
        match contents {
            Some(bytes) => current.insert(path, bytes),
            None => current.remove(&path),
        };
    }

    let recovered = resolved.len();
    let settled: Vec<LayerWarning> = scan
        .uncaptured_links
        .iter()
        .filter(|link| resolved.contains_key(&link.link))
        .map(UncapturedLink::warning)
        .collect();
    scan.warnings.retain(|warning| !settled.contains(warning));
    scan.uncaptured_links
        .retain(|link| !resolved.contains_key(&link.link));
    scan.contents.extend(resolved);
    Ok(recovered)
}
