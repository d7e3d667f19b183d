//! Linux distribution detection from os-release and the older release files.
//!
//! Order, as in syft 1.18.1: `/etc/os-release`, `/usr/lib/os-release`,
//! `/etc/system-release-cpe`, `/etc/redhat-release`, then (our additions for images that
//! carry nothing else) `/etc/centos-release`, `/etc/alpine-release` and `/etc/lsb-release`.
//! The first file that yields any field wins. `/etc/debian_version` only supplies the version
//! when os-release has none (Debian testing and sid): syft 1.18.1 keeps os-release's major
//! `VERSION_ID` even when `debian_version` gives the point release, and so do we.

use crate::filesystem::FileTree;

use super::Distro;

const OS_RELEASE: [&str; 2] = ["/etc/os-release", "/usr/lib/os-release"];
const SYSTEM_RELEASE_CPE: &str = "/etc/system-release-cpe";
const REDHAT_RELEASE: [&str; 2] = ["/etc/redhat-release", "/etc/centos-release"];
const ALPINE_RELEASE: &str = "/etc/alpine-release";
const LSB_RELEASE: &str = "/etc/lsb-release";
const DEBIAN_VERSION: &str = "/etc/debian_version";

/// Returns whether `path` is one of the release files that detection reads.
pub fn wants(path: &str) -> bool {
    if !(path.starts_with("/etc/") || path.starts_with("/usr/lib/")) {
        return false;
    }
    OS_RELEASE.contains(&path)
        || REDHAT_RELEASE.contains(&path)
        || matches!(
            path,
            SYSTEM_RELEASE_CPE | ALPINE_RELEASE | LSB_RELEASE | DEBIAN_VERSION
        )
}

/// Detects the distribution of a squashed tree. Symlinks are followed, so an
/// `/etc/os-release` that links to `../usr/lib/os-release` works.
pub fn detect(tree: &FileTree) -> Option<Distro> {
    let text = |path: &str| tree.read(path).map(|bytes| String::from_utf8_lossy(bytes));
    let mut found = OS_RELEASE
        .iter()
        .find_map(|path| text(path).and_then(|t| parse_os_release(&t)))
        .or_else(|| text(SYSTEM_RELEASE_CPE).and_then(|t| parse_system_release_cpe(&t)))
        .or_else(|| {
            REDHAT_RELEASE
                .iter()
                .find_map(|path| text(path).and_then(|t| parse_redhat_release(&t)))
        })
        .or_else(|| text(ALPINE_RELEASE).and_then(|t| parse_alpine_release(&t)))
        .or_else(|| text(LSB_RELEASE).and_then(|t| parse_lsb_release(&t)))?;
    if found.id == "debian" && found.version_id.is_empty() {
        if let Some(version) = text(DEBIAN_VERSION) {
            let version = version.trim();
            if version.starts_with(|c: char| c.is_ascii_digit()) {
                found.version_id = version.to_owned();
            }
        }
    }
    Some(found)
}

/// Parses os-release text: `KEY=value` lines, where a value may be single-quoted, or
/// double-quoted with backslash escapes. Returns `None` when no known key has a value.
pub fn parse_os_release(text: &str) -> Option<Distro> {
    let mut distro = Distro::default();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((key, raw)) = line.split_once('=') else {
            continue;
        };
        let value = unquote(raw.trim());
        let field = match key.trim() {
            "PRETTY_NAME" => &mut distro.pretty_name,
            "NAME" => &mut distro.name,
            "ID" => &mut distro.id,
            "VERSION" => &mut distro.version,
            "VERSION_ID" => &mut distro.version_id,
            "VERSION_CODENAME" => &mut distro.version_codename,
            "BUILD_ID" => &mut distro.build_id,
            "IMAGE_ID" => &mut distro.image_id,
            "IMAGE_VERSION" => &mut distro.image_version,
            "VARIANT" => &mut distro.variant,
            "VARIANT_ID" => &mut distro.variant_id,
            "HOME_URL" => &mut distro.home_url,
            "SUPPORT_URL" => &mut distro.support_url,
            "BUG_REPORT_URL" => &mut distro.bug_report_url,
            "PRIVACY_POLICY_URL" => &mut distro.privacy_policy_url,
            "CPE_NAME" => &mut distro.cpe_name,
            "SUPPORT_END" => &mut distro.support_end,
            "ID_LIKE" => {
                distro.id_like = value.split_whitespace().map(str::to_owned).collect();
                continue;
            }
            _ => continue,
        };
        *field = value;
    }
    (distro != Distro::default()).then_some(distro)
}

/// Removes shell-style quotes: `"..."` with `\"`, `\\`, `\$` and `` \` `` escapes, or `'...'`
/// taken literally. An unquoted value ends at the first unescaped space.
fn unquote(raw: &str) -> String {
    if let Some(inner) = raw.strip_prefix('\'') {
        return inner.split('\'').next().unwrap_or("").to_owned();
    }
    let (body, quoted) = match raw.strip_prefix('"') {
        Some(inner) => (inner, true),
        None => (raw, false),
    };
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next @ ('"' | '\\' | '$' | '`' | '\'')) => out.push(next),
                Some(other) => {
                    out.push('\\');
                    out.push(other);
                }
                None => out.push('\\'),
            },
            '"' if quoted => break,
            c if !quoted && c.is_whitespace() => break,
            c => out.push(c),
        }
    }
    out
}

/// Parses `cpe:/o:<vendor>:<product>:<version>[:...]`, as CentOS 6 ships it.
pub fn parse_system_release_cpe(text: &str) -> Option<Distro> {
    let line = text.lines().next()?.trim();
    let rest = line.strip_prefix("cpe:/o:")?;
    let mut parts = rest.split(':');
    let vendor = parts.next().filter(|v| !v.is_empty())?;
    let _product = parts.next();
    let version = parts.next().unwrap_or("");
    Some(Distro {
        pretty_name: vendor.to_owned(),
        name: vendor.to_owned(),
        id: vendor.to_owned(),
        id_like: vec![vendor.to_owned()],
        version: version.to_owned(),
        version_id: version.to_owned(),
        cpe_name: line.to_owned(),
        ..Distro::default()
    })
}

/// Parses `<name> release <version> (<codename>)`, as in `/etc/redhat-release`.
pub fn parse_redhat_release(text: &str) -> Option<Distro> {
    let line = text.lines().next()?.trim();
    let (name, rest) = line.split_once(" release ")?;
    let version: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    if version.is_empty() {
        return None;
    }
    let lower = name.to_ascii_lowercase();
    let id = if lower.starts_with("red hat") {
        "rhel".to_owned()
    } else if lower.starts_with("rocky") {
        "rocky".to_owned()
    } else {
        lower.split_whitespace().next().unwrap_or("").to_owned()
    };
    Some(Distro {
        pretty_name: line.to_owned(),
        name: name.to_owned(),
        id: id.clone(),
        id_like: vec![id],
        version: version.clone(),
        version_id: version,
        ..Distro::default()
    })
}

/// Parses `/etc/alpine-release`, which holds only the version.
pub fn parse_alpine_release(text: &str) -> Option<Distro> {
    let version = text.lines().next()?.trim();
    if !version.starts_with(|c: char| c.is_ascii_digit()) {
        return None;
    }
    Some(Distro {
        pretty_name: format!("Alpine Linux v{version}"),
        name: "Alpine Linux".to_owned(),
        id: "alpine".to_owned(),
        version_id: version.to_owned(),
        ..Distro::default()
    })
}

/// Parses `/etc/lsb-release` (`DISTRIB_ID`, `DISTRIB_RELEASE`, `DISTRIB_CODENAME`,
/// `DISTRIB_DESCRIPTION`).
pub fn parse_lsb_release(text: &str) -> Option<Distro> {
    let mut distro = Distro::default();
    for line in text.lines() {
        let Some((key, raw)) = line.trim().split_once('=') else {
            continue;
        };
        let value = unquote(raw.trim());
        match key {
            "DISTRIB_ID" => {
                distro.name = value.clone();
                distro.id = value.to_ascii_lowercase();
            }
            "DISTRIB_RELEASE" => {
                distro.version = value.clone();
                distro.version_id = value;
            }
            "DISTRIB_CODENAME" => distro.version_codename = value,
            "DISTRIB_DESCRIPTION" => distro.pretty_name = value,
            _ => {}
        }
    }
    (!distro.id.is_empty()).then_some(distro)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn os_release_quotes_and_escapes() {
        let text = "NAME=\"My \\\"Linux\\\"\"\nID=my\nVERSION_ID='1.0'\nID_LIKE=\"rhel fedora\"\n\
                    # comment\nPRETTY_NAME=plain value\n";
        let distro = parse_os_release(text).unwrap();
        assert_eq!(distro.name, "My \"Linux\"");
        assert_eq!(distro.id, "my");
        assert_eq!(distro.version_id, "1.0");
        assert_eq!(distro.id_like, ["rhel", "fedora"]);
        assert_eq!(distro.pretty_name, "plain");
    }

    #[test]
    fn empty_os_release_is_no_distro() {
        assert_eq!(parse_os_release(""), None);
        assert_eq!(parse_os_release("# only a comment\n"), None);
    }

    #[test]
    fn redhat_release_line() {
        let distro = parse_redhat_release("CentOS release 6.10 (Final)\n").unwrap();
        assert_eq!(distro.id, "centos");
        assert_eq!(distro.version_id, "6.10");
        let rhel =
            parse_redhat_release("Red Hat Enterprise Linux Server release 7.9 (Maipo)").unwrap();
        assert_eq!(rhel.id, "rhel");
    }

    #[test]
    fn lsb_and_alpine_release() {
        let lsb = parse_lsb_release("DISTRIB_ID=Ubuntu\nDISTRIB_RELEASE=20.04\n").unwrap();
        assert_eq!(lsb.id, "ubuntu");
        assert_eq!(lsb.version_id, "20.04");
        let alpine = parse_alpine_release("3.18.4\n").unwrap();
        assert_eq!(alpine.id, "alpine");
        assert_eq!(alpine.version_id, "3.18.4");
    }
}
