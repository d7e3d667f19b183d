//! Ruby gems installed by RubyGems, from the gemspec stubs it writes under
//! `specifications/` (and `specifications/default/` for gems bundled with Ruby).
//!
//! A gemspec is Ruby code, but the files RubyGems writes put one `spec.field = value`
//! assignment per line, so each field is read from its own line, as syft 1.18.1 does. A value
//! that does not fit on its line (an array left open, for instance) is skipped, and syft
//! skips it too. Gemfile.lock is not read: it lists what a bundle could install, not what is
//! installed.

use serde_json::{Map, Value, json};

use crate::filesystem::FileTree;

use super::registry::location;
use super::{
    CatalogWarning, Cataloger, Cpes, Environment, Evidence, License, Package, PackageType,
};
use super::{cpe, license, purl};

/// The installed-gemspec cataloger, named as syft's image scan names it.
pub struct GemspecCataloger;

const NAME: &str = "ruby-installed-gemspec-cataloger";

/// Returns whether `path` is `…/specifications/NAME.gemspec` or
/// `…/specifications/default/NAME.gemspec`.
fn is_installed_gemspec(path: &str) -> bool {
    let Some((dir, file)) = path.rsplit_once('/') else {
        return false;
    };
    if !file.ends_with(".gemspec") || file.len() == ".gemspec".len() {
        return false;
    }
    dir.ends_with("/specifications")
        || dir == "/specifications"
        || dir.ends_with("/specifications/default")
}

impl Cataloger for GemspecCataloger {
    fn name(&self) -> &'static str {
        NAME
    }

    fn wants(&self, path: &str) -> bool {
        is_installed_gemspec(path)
    }

    fn catalog(
        &self,
        tree: &FileTree,
        _env: &Environment,
        warnings: &mut Vec<CatalogWarning>,
    ) -> Vec<Package> {
        let paths: Vec<String> = tree
            .files_matching(is_installed_gemspec)
            .map(|entry| entry.path.clone())
            .collect();
        let mut packages = Vec::new();
        for path in paths {
            let Some(bytes) = tree.read(&path) else {
                warnings.push(warning(&path, "contents were not captured".into()));
                continue;
            };
            let spec = parse_gemspec(&String::from_utf8_lossy(bytes));
            if spec.name.is_empty() || spec.version.is_empty() {
                warnings.push(warning(
                    &path,
                    "no `name` or `version` assignment found; the gemspec is not a RubyGems stub"
                        .into(),
                ));
                continue;
            }
            packages.push(build_package(tree, &path, spec));
        }
        packages
    }
}

fn warning(path: &str, reason: String) -> CatalogWarning {
    CatalogWarning {
        cataloger: NAME,
        path: path.to_owned(),
        reason,
    }
}

/// The fields of a gemspec that syft records.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Gemspec {
    pub name: String,
    pub version: String,
    pub authors: Vec<String>,
    pub licenses: Vec<String>,
    pub files: Vec<String>,
    pub homepage: String,
}

/// Parses the `name`, `version`, `authors`, `licenses` (or `license`), `files` and
/// `homepage` assignments of a gemspec. Assignments to other fields are ignored, and the
/// first assignment of a field wins.
pub fn parse_gemspec(text: &str) -> Gemspec {
    let mut spec = Gemspec::default();
    let mut in_block = false;
    for line in text.lines() {
        let line = line.trim();
        if line.starts_with('#') {
            continue;
        }
        if line.contains("Gem::Specification.new") {
            in_block = true;
            continue;
        }
        if !in_block {
            continue;
        }
        let Some((field, value)) = assignment(line) else {
            continue;
        };
        match field {
            "name" if spec.name.is_empty() => spec.name = string_value(value).unwrap_or_default(),
            "version" if spec.version.is_empty() => {
                spec.version = string_value(value).unwrap_or_default();
            }
            "homepage" if spec.homepage.is_empty() => {
                spec.homepage = string_value(value).unwrap_or_default();
            }
            "authors" if spec.authors.is_empty() => {
                spec.authors = array_value(value).unwrap_or_default();
            }
            "author" if spec.authors.is_empty() => spec.authors.extend(string_value(value)),
            "licenses" if spec.licenses.is_empty() => {
                spec.licenses = array_value(value).unwrap_or_default();
            }
            "license" if spec.licenses.is_empty() => spec.licenses.extend(string_value(value)),
            "files" if spec.files.is_empty() => spec.files = array_value(value).unwrap_or_default(),
            _ => {}
        }
    }
    spec
}

/// Splits `receiver.field = value` into the field and the value. The receiver is the block
/// variable (`s`, `spec`, `gem`), so any identifier is accepted.
fn assignment(line: &str) -> Option<(&str, &str)> {
    let (target, value) = line.split_once('=')?;
    // `==` and `=~` are comparisons, not assignments.
    if value.starts_with(['=', '~']) {
        return None;
    }
    let (receiver, field) = target.trim().split_once('.')?;
    let is_identifier = |text: &str| {
        !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if !is_identifier(receiver) || !is_identifier(field) {
        return None;
    }
    Some((field, value.trim()))
}

/// Reads one Ruby string literal at the start of `text` (double- or single-quoted) and returns
/// it with escapes decoded and the rest of `text`.
fn string_literal(text: &str) -> Option<(String, &str)> {
    let quote = text.chars().next().filter(|c| matches!(c, '"' | '\''))?;
    let mut out = String::new();
    let mut chars = text[1..].char_indices();
    while let Some((index, c)) = chars.next() {
        if c == quote {
            return Some((out, &text[1 + index + 1..]));
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let (_, escaped) = chars.next()?;
        if quote == '\'' {
            // Single quotes only escape the quote and the backslash.
            if !matches!(escaped, '\'' | '\\') {
                out.push('\\');
            }
            out.push(escaped);
            continue;
        }
        match escaped {
            'n' => out.push('\n'),
            't' => out.push('\t'),
            'u' => {
                let rest = &text[1 + index + 2..];
                let (code, consumed) = if let Some(braced) = rest.strip_prefix('{') {
                    let end = braced.find('}')?;
                    (&braced[..end], end + 2)
                } else {
                    (rest.get(..4)?, 4)
                };
                out.push(char::from_u32(u32::from_str_radix(code, 16).ok()?)?);
                for _ in 0..consumed {
                    chars.next();
                }
            }
            other => out.push(other),
        }
    }
    None
}

/// Drops the `.freeze` RubyGems appends to literals, and any trailing modifier such as
/// `if s.respond_to? :metadata=`.
fn after_literal(rest: &str) -> &str {
    rest.strip_prefix(".freeze").unwrap_or(rest).trim_start()
}

fn string_value(value: &str) -> Option<String> {
    let (text, _) = string_literal(value)?;
    Some(text)
}

/// Reads a one-line array of string literals, `["a".freeze, "b".freeze]`. Returns `None`
/// when the array does not close on this line or contains anything but strings.
fn array_value(value: &str) -> Option<Vec<String>> {
    let mut rest = value.strip_prefix('[')?.trim_start();
    let mut items = Vec::new();
    loop {
        if rest.starts_with(']') {
            return Some(items);
        }
        let (item, after) = string_literal(rest)?;
        items.push(item);
        rest = after_literal(after);
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
}

fn build_package(tree: &FileTree, path: &str, spec: Gemspec) -> Package {
    let locations: Vec<_> = location(tree, path, Evidence::Primary)
        .into_iter()
        .collect();
    let licenses: Vec<License> = spec
        .licenses
        .iter()
        .filter(|value| !value.trim().is_empty())
        .map(|value| license::declared(value, locations.clone()))
        .collect();

    // Key order and omitted empty fields follow syft's `ruby-gemspec` metadata. syft moves the
    // licences into the package's licence list and leaves them out of the metadata.
    let mut metadata = Map::new();
    metadata.insert("name".into(), json!(spec.name));
    metadata.insert("version".into(), json!(spec.version));
    if !spec.files.is_empty() {
        metadata.insert("files".into(), json!(spec.files));
    }
    if !spec.authors.is_empty() {
        metadata.insert("authors".into(), json!(spec.authors));
    }
    if !spec.homepage.is_empty() {
        metadata.insert("homepage".into(), json!(spec.homepage));
    }

    let mut package = Package {
        purl: purl::render("gem", None, &spec.name, &spec.version, &[]),
        name: spec.name,
        version: spec.version,
        kind: PackageType::Gem,
        found_by: NAME,
        cpes: Cpes::default(),
        licenses,
        locations,
        metadata_type: "ruby-gemspec",
        files: None,
        metadata: Value::Object(metadata),
    };
    package.cpes = cpe::generate(&package);
    package
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gemspec_paths() {
        assert!(is_installed_gemspec(
            "/usr/lib/ruby/gems/3.0.0/specifications/bundler-2.1.4.gemspec"
        ));
        assert!(is_installed_gemspec("/specifications/default/json.gemspec"));
        assert!(is_installed_gemspec("/specifications/x.gemspec"));
        assert!(!is_installed_gemspec("/app/bundler.gemspec"));
        assert!(!is_installed_gemspec("/specifications/.gemspec"));
        assert!(!is_installed_gemspec("/specifications/a/b.gemspec"));
    }

    #[test]
    fn parses_stub_fields() {
        let text = "# stub: x\nGem::Specification.new do |spec|\n  spec.name = \"rack\".freeze\n  spec.version = \"3.0.8\"\n  spec.authors = [\"Leah Neukirchen\".freeze, \"Andr\\u00E9 X\".freeze]\n  spec.license = 'MIT'\n  spec.files = []\n  spec.homepage = \"https://github.com/rack/rack\".freeze\nend\n";
        let spec = parse_gemspec(text);
        assert_eq!(spec.name, "rack");
        assert_eq!(spec.version, "3.0.8");
        assert_eq!(spec.authors, ["Leah Neukirchen", "André X"]);
        assert_eq!(spec.licenses, ["MIT"]);
        assert!(spec.files.is_empty());
        assert_eq!(spec.homepage, "https://github.com/rack/rack");
    }

    #[test]
    fn unclosed_array_is_skipped() {
        let text = "Gem::Specification.new do |s|\n s.name = \"a\"\n s.version = \"1\"\n s.authors = [\"A B\".freeze, \"C\n";
        let spec = parse_gemspec(text);
        assert_eq!(spec.name, "a");
        assert!(spec.authors.is_empty());
    }

    #[test]
    fn assignments_outside_block_are_ignored() {
        let spec = parse_gemspec("s.name = \"before\"\nGem::Specification.new do |s|\nend\n");
        assert!(spec.name.is_empty());
    }

    #[test]
    fn string_escapes() {
        assert_eq!(string_value(r#""a\"b""#).unwrap(), "a\"b");
        assert_eq!(string_value(r#""\u{e9}""#).unwrap(), "é");
        assert_eq!(string_value(r"'a\nb'").unwrap(), "a\\nb");
        assert!(string_value("\"open").is_none());
    }
}
