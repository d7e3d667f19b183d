//! Candidate CPE 2.3 names guessed from package attributes, in the way syft 1.18.1 does:
//! products from the name, vendors from the products and ecosystem metadata, separator
//! variations and prefix sub-selections, then every vendor–product pair sorted by
//! specificity. A generated CPE has the source `syft-generated`, and one from the fixed
//! dictionary entries has `nvd-cpe-dictionary`.
//!
//! NOTE: syft also carries large tables of per-package additions and removals, and an index
//! of the NVD CPE dictionary. Only the few entries in [`FIXED`], [`EXTRA_VENDORS`] and
//! [`EXTRA_VENDORS_BY_NAME`] are copied here as facts, so other packages in those tables get
//! different candidates than syft gives them.

use std::cmp::Ordering;

use super::{CpeSource, Cpes, CpesBuilder, Package, PackageType};

/// A fixed candidate: vendor, product and target software.
type FixedCpe = (&'static str, &'static str, &'static str);

/// Packages whose candidates syft replaces with the entries of its NVD CPE dictionary.
const FIXED: &[(PackageType, &str, &[FixedCpe])] = &[
    (PackageType::Npm, "ms", &[("vercel", "ms", "node.js")]),
    (
        PackageType::Npm,
        "npm",
        &[(
            "node_packaged_modules_project",
            "node_packaged_modules",
            "node.js",
        )],
    ),
    (
        PackageType::Python,
        "requests",
        &[("python", "requests", "")],
    ),
];

/// Vendors added for a given (type, existing vendor candidate or package name).
const EXTRA_VENDORS: &[(PackageType, &str, &str)] =
    &[(PackageType::Apk, "ca-certificates-bundle", "mozilla")];

/// Vendors added for a given (type, exact package name), after the separator variations.
const EXTRA_VENDORS_BY_NAME: &[(PackageType, &str, &str)] = &[
    (PackageType::Apk, "bash", "gnu"),
    (PackageType::Apk, "musl", "musl-libc"),
    (PackageType::Apk, "musl", "musl_libc"),
];

#[derive(Debug, Clone, PartialEq, Eq)]
struct Attributes {
    vendor: String,
    product: String,
    version: String,
    target_sw: String,
}

/// A candidate value and which derivations it allows.
#[derive(Debug, Clone)]
struct Candidate {
    value: String,
    variations: bool,
    sub_selections: bool,
}

#[derive(Debug, Default)]
struct CandidateSet {
    items: Vec<Candidate>,
}

impl CandidateSet {
    fn add(&mut self, value: impl Into<String>, variations: bool, sub_selections: bool) {
        let value = value.into();
        if value.is_empty() || value == "*" {
            return;
        }
        if self.items.iter().any(|item| item.value == value) {
            return;
        }
        self.items.push(Candidate {
            value,
            variations,
            sub_selections,
        });
    }

    fn add_delimiter_variations(&mut self) {
        let current = self.items.clone();
        for item in current.iter().filter(|item| item.variations) {
            if item.value.contains('-') {
                self.add(item.value.replace('-', "_"), true, item.sub_selections);
            }
            if item.value.contains('_') {
                self.add(item.value.replace('_', "-"), true, item.sub_selections);
            }
        }
    }

    fn add_sub_selections(&mut self) {
        let current = self.items.clone();
        for item in current.iter().filter(|item| item.sub_selections) {
            for prefix in prefixes(&item.value) {
                self.add(prefix, true, true);
            }
        }
    }

    fn values(&self) -> Vec<String> {
        self.items.iter().map(|item| item.value.clone()).collect()
    }
}

/// Lists every prefix of `value` that ends just before a `-` or `_` (`a-b-c` gives `a` and
/// `a-b`).
fn prefixes(value: &str) -> Vec<String> {
    value
        .char_indices()
        .filter(|(index, c)| *index > 0 && matches!(c, '-' | '_'))
        .map(|(index, _)| value[..index].trim_end_matches(['-', '_']).to_owned())
        .filter(|prefix| !prefix.is_empty())
        .collect()
}

/// Lower-case words joined by `_`, as syft turns an author name into a vendor.
fn person_vendor(name: &str) -> String {
    let cleaned: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace() || matches!(c, '-' | '_'))
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join("_")
}

/// Lower-cases the user part of an email field and joins its words with `_`, keeping other
/// characters: `Kim Davies <kim+pypi` becomes `kim_davies_<kim+pypi`, as in syft 1.18.1.
fn email_vendor(user: &str) -> String {
    user.to_lowercase()
        .split_whitespace()
        .collect::<Vec<_>>()
        .join("_")
}

/// Extracts the owner from a `github.com/<owner>/...` URL.
fn github_owner(url: &str) -> Option<&str> {
    let index = url.find("github.com")?;
    let rest = url[index + "github.com".len()..].trim_start_matches([':', '/']);
    let owner = rest.split('/').next()?;
    (!owner.is_empty() && rest.len() > owner.len()).then_some(owner)
}

/// Drops a version number glued to a name part: `libcrypto1.1` → `libcrypto`,
/// `openjdk8-jre` → `openjdk-jre`. syft adds this product form for apk packages.
fn strip_glued_version(name: &str) -> Option<String> {
    let parts: Vec<String> = name
        .split('-')
        .map(|part| {
            let trimmed = part.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
            if trimmed.len() < part.len()
                && trimmed.ends_with(|c: char| c.is_ascii_alphabetic())
                && part[trimmed.len()..].starts_with(|c: char| c.is_ascii_digit())
            {
                trimmed.to_owned()
            } else {
                part.to_owned()
            }
        })
        .collect();
    let stripped = parts.join("-");
    (stripped != name).then_some(stripped)
}

fn metadata_str<'a>(package: &'a Package, key: &str) -> &'a str {
    package
        .metadata
        .get(key)
        .and_then(|value| value.as_str())
        .unwrap_or("")
}

fn products(package: &Package) -> CandidateSet {
    let mut products = CandidateSet::default();
    products.add(package.name.clone(), true, true);
    match package.kind {
        PackageType::Python if !package.name.starts_with("python") => {
            products.add(format!("python-{}", package.name), true, true);
        }
        PackageType::Apk => {
            if let Some(stripped) = strip_glued_version(&package.name) {
                products.add(stripped, true, true);
            }
        }
        _ => {}
    }
    products.add_delimiter_variations();
    products
}

fn vendors(package: &Package, products: &CandidateSet) -> CandidateSet {
    let mut vendors = CandidateSet::default();
    for product in &products.items {
        vendors.add(product.value.clone(), true, true);
    }
    match package.kind {
        PackageType::Python => {
            let author = person_vendor(metadata_str(package, "author"));
            let email = metadata_str(package, "authorEmail");
            let email_user = email_vendor(email.split('@').next().unwrap_or(""));
            // The part before `@` of `authorEmail` also gets separator variations, and the
            // author name does not.
            for (base, variations) in [(author, false), (email_user, true)] {
                if base.is_empty() {
                    continue;
                }
                vendors.add(base.clone(), variations, false);
                vendors.add(format!("{base}_project"), false, false);
                vendors.add(format!("{base}project"), false, false);
            }
        }
        PackageType::Npm => {
            // syft 1.18.1 reads the owner from `homepage` only. The fixtures whose GitHub URL
            // is only in `repository` get no owner vendor.
            if let Some(owner) = github_owner(metadata_str(package, "homepage")) {
                vendors.add(owner.to_owned(), false, false);
            }
        }
        PackageType::Gem => {
            // syft 1.18.1 keeps only authors whose names are plain ASCII, as `first-last`.
            if let Some(authors) = package.metadata.get("authors").and_then(|v| v.as_array()) {
                for author in authors.iter().filter_map(|value| value.as_str()) {
                    let vendor = person_vendor(author).replace('_', "-");
                    if !vendor.is_empty() && vendor.is_ascii() {
                        vendors.add(vendor, true, false);
                    }
                }
            }
            vendors.add("ruby-lang", true, false);
            vendors.add("ruby", false, false);
        }
        _ => {}
    }
    vendors.add_delimiter_variations();
    vendors.add_sub_selections();
    let existing = vendors.values();
    for (kind, key, extra) in EXTRA_VENDORS {
        if *kind == package.kind && (package.name == *key || existing.iter().any(|v| v == key)) {
            vendors.add(*extra, false, false);
        }
    }
    for (kind, name, extra) in EXTRA_VENDORS_BY_NAME {
        if *kind == package.kind && package.name == *name {
            vendors.add(*extra, false, false);
        }
    }
    vendors
}

/// Escapes one attribute for the CPE 2.3 formatted-string binding: letters, digits, `_`, `-`
/// and `.` stay, other printable characters get a backslash, and an empty value is `*`.
pub fn escape(value: &str) -> String {
    if value.is_empty() {
        return "*".to_owned();
    }
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if c.is_alphanumeric() || matches!(c, '_' | '-' | '.') {
            out.push(c);
        } else {
            out.push('\\');
            out.push(c);
        }
    }
    out
}

fn bind(attributes: &Attributes) -> String {
    format!(
        "cpe:2.3:a:{}:{}:{}:*:*:*:*:{}:*:*",
        escape(&attributes.vendor),
        escape(&attributes.product),
        escape(&attributes.version),
        escape(&attributes.target_sw)
    )
}

fn specificity(attributes: &Attributes) -> usize {
    let mut score = 2; // part is always set
    if !attributes.vendor.is_empty() {
        score += 3;
    }
    if !attributes.product.is_empty() {
        score += 4;
    }
    if !attributes.version.is_empty() {
        score += 1;
    }
    if !attributes.target_sw.is_empty() {
        score += 1;
    }
    score
}

fn field_length(attributes: &Attributes) -> usize {
    1 + attributes.vendor.len()
        + attributes.product.len()
        + attributes.version.len()
        + attributes.target_sw.len()
}

/// syft's order: more fields set first, then longer fields, then the bound string.
fn compare(a: &Attributes, b: &Attributes) -> Ordering {
    specificity(b)
        .cmp(&specificity(a))
        .then_with(|| field_length(b).cmp(&field_length(a)))
        .then_with(|| bind(a).cmp(&bind(b)))
}

/// The version written into CPEs: empty (bound as `*`) when the package version is unknown.
fn cpe_version(package: &Package) -> &str {
    if package.version == "UNKNOWN" {
        ""
    } else {
        &package.version
    }
}

/// Generates the candidate CPEs for a package, most specific first.
pub fn generate(package: &Package) -> Cpes {
    let version = cpe_version(package).to_owned();
    let mut all: Vec<Attributes> = Vec::new();
    let mut source = CpeSource::SyftGenerated;
    if let Some((_, _, fixed)) = FIXED
        .iter()
        .find(|(kind, name, _)| *kind == package.kind && *name == package.name)
    {
        source = CpeSource::NvdCpeDictionary;
        for (vendor, product, target_sw) in *fixed {
            all.push(Attributes {
                vendor: (*vendor).to_owned(),
                product: (*product).to_owned(),
                version: version.clone(),
                target_sw: (*target_sw).to_owned(),
            });
        }
    } else {
        let products = products(package);
        let vendors = vendors(package, &products);
        for product in products.values() {
            for vendor in vendors.values() {
                all.push(Attributes {
                    vendor,
                    product: product.clone(),
                    version: version.clone(),
                    target_sw: String::new(),
                });
            }
        }
    }
    all.sort_by(compare);
    all.dedup();
    let mut cpes = CpesBuilder::default();
    for attributes in &all {
        cpes.push(&bind(attributes), source);
    }
    cpes.build()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn package(kind: PackageType, name: &str, version: &str) -> Package {
        Package {
            name: name.into(),
            version: version.into(),
            kind,
            found_by: "test",
            purl: String::new(),
            cpes: Cpes::default(),
            licenses: Vec::new(),
            locations: Vec::new(),
            metadata_type: "",
            files: None,
            metadata: serde_json::json!({}),
        }
    }

    fn strings(cpes: &Cpes) -> Vec<&str> {
        cpes.iter().map(|cpe| cpe.cpe).collect()
    }

    #[test]
    fn deb_name_gives_variations_and_prefix_vendor() {
        let cpes = generate(&package(PackageType::Deb, "libpam-runtime", "1.1.8-3.6"));
        assert_eq!(
            strings(&cpes),
            [
                "cpe:2.3:a:libpam-runtime:libpam-runtime:1.1.8-3.6:*:*:*:*:*:*:*",
                "cpe:2.3:a:libpam-runtime:libpam_runtime:1.1.8-3.6:*:*:*:*:*:*:*",
                "cpe:2.3:a:libpam_runtime:libpam-runtime:1.1.8-3.6:*:*:*:*:*:*:*",
                "cpe:2.3:a:libpam_runtime:libpam_runtime:1.1.8-3.6:*:*:*:*:*:*:*",
                "cpe:2.3:a:libpam:libpam-runtime:1.1.8-3.6:*:*:*:*:*:*:*",
                "cpe:2.3:a:libpam:libpam_runtime:1.1.8-3.6:*:*:*:*:*:*:*",
            ]
        );
    }

    #[test]
    fn escapes_epoch_colon_and_plus() {
        let cpes = generate(&package(PackageType::Deb, "libgmp10", "2:6.2.1+dfsg1-1.1"));
        assert_eq!(
            strings(&cpes),
            ["cpe:2.3:a:libgmp10:libgmp10:2\\:6.2.1\\+dfsg1-1.1:*:*:*:*:*:*:*"]
        );
    }

    #[test]
    fn unknown_version_binds_as_any() {
        let cpes = generate(&package(PackageType::Deb, "foo", "UNKNOWN"));
        assert_eq!(strings(&cpes), ["cpe:2.3:a:foo:foo:*:*:*:*:*:*:*:*"]);
    }

    #[test]
    fn apk_glued_version_gives_extra_product() {
        let cpes = generate(&package(PackageType::Apk, "libssl1.1", "1.1.1q-r0"));
        assert_eq!(
            strings(&cpes),
            [
                "cpe:2.3:a:libssl1.1:libssl1.1:1.1.1q-r0:*:*:*:*:*:*:*",
                "cpe:2.3:a:libssl1.1:libssl:1.1.1q-r0:*:*:*:*:*:*:*",
                "cpe:2.3:a:libssl:libssl1.1:1.1.1q-r0:*:*:*:*:*:*:*",
                "cpe:2.3:a:libssl:libssl:1.1.1q-r0:*:*:*:*:*:*:*",
            ]
        );
    }

    #[test]
    fn npm_homepage_owner_is_a_vendor() {
        let mut pump = package(PackageType::Npm, "pump", "3.0.0");
        pump.metadata = serde_json::json!({"homepage": "https://github.com/mafintosh/pump#readme"});
        assert_eq!(
            strings(&generate(&pump)),
            [
                "cpe:2.3:a:mafintosh:pump:3.0.0:*:*:*:*:*:*:*",
                "cpe:2.3:a:pump:pump:3.0.0:*:*:*:*:*:*:*",
            ]
        );
        pump.metadata = serde_json::json!({"url": "git://github.com/mafintosh/pump.git"});
        assert_eq!(
            strings(&generate(&pump)),
            ["cpe:2.3:a:pump:pump:3.0.0:*:*:*:*:*:*:*"]
        );
    }

    #[test]
    fn python_email_keeps_punctuation() {
        assert_eq!(email_vendor("Kim Davies <kim+pypi"), "kim_davies_<kim+pypi");
        let mut idna = package(PackageType::Python, "idna", "3.7");
        idna.metadata = serde_json::json!({"authorEmail": "Kim Davies <kim+pypi@gumleaf.org>"});
        let generated = generate(&idna);
        let cpes = strings(&generated);
        assert_eq!(cpes.len(), 24);
        assert!(cpes.contains(&"cpe:2.3:a:kim-davies-\\<kim\\+pypi:idna:3.7:*:*:*:*:*:*:*"));
    }

    #[test]
    fn dictionary_entry_replaces_candidates() {
        let cpes = generate(&package(PackageType::Npm, "ms", "2.1.3"));
        assert_eq!(
            strings(&cpes),
            ["cpe:2.3:a:vercel:ms:2.1.3:*:*:*:*:node.js:*:*"]
        );
        assert_eq!(cpes.first().unwrap().source, CpeSource::NvdCpeDictionary);
    }

    #[test]
    fn python_author_vendors_have_project_forms() {
        let mut pygments = package(PackageType::Python, "pygments", "2.6.1");
        pygments.metadata =
            serde_json::json!({"author": "Georg Brandl", "authorEmail": "georg@python.org"});
        let cpes = generate(&pygments);
        assert_eq!(cpes.len(), 30);
        assert_eq!(
            cpes.first().unwrap().cpe,
            "cpe:2.3:a:georg_brandl_project:python-pygments:2.6.1:*:*:*:*:*:*:*"
        );
        assert_eq!(
            cpes.get(29).unwrap().cpe,
            "cpe:2.3:a:georg:pygments:2.6.1:*:*:*:*:*:*:*"
        );
    }

    #[test]
    fn prefixes_stop_before_each_separator() {
        assert_eq!(
            prefixes("kernel-headers-2.2.10"),
            ["kernel", "kernel-headers"]
        );
        assert!(prefixes("busybox").is_empty());
    }
}
