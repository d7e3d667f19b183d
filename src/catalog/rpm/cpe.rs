//! CPE guesses for rpm packages, generated the way syft 1.18.1 does for its `rpm-db-entry`
//! packages: product candidates from the name, vendor candidates from the name, its prefixes
//! and the header's VENDOR field, every vendor paired with every product.

use std::collections::BTreeSet;

use crate::catalog::{CpeSource, Cpes, CpesBuilder};

/// Generates CPEs for a package, most specific first.
pub fn generate(name: &str, vendor_field: &str, version: &str) -> Cpes {
    let products = with_delimiter_variations([name.to_owned()]);
    let mut vendors = products.clone();
    for candidate in &products {
        vendors.extend(prefixes(candidate));
    }
    // The VENDOR field joins the candidates whole: it is never cut at delimiters, but its
    // hyphen and underscore spellings are both tried.
    let vendor = normalize_vendor(vendor_field);
    if !vendor.is_empty() {
        vendors.extend(with_delimiter_variations([vendor]));
    }
    vendors.remove("");
    vendors.remove("*");

    let mut cpes: Vec<(usize, String)> = Vec::new();
    for product in products
        .iter()
        .filter(|product| !product.is_empty() && *product != "*")
    {
        for vendor in &vendors {
            let length = vendor.len() + product.len() + version.len() + 1;
            let formatted = format!(
                "cpe:2.3:a:{}:{}:{}:*:*:*:*:*:*:*",
                escape(vendor),
                escape(product),
                escape(version)
            );
            cpes.push((length, formatted));
        }
    }
    // syft orders by the total length of the attributes (longest first), then by the string.
    cpes.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
    cpes.dedup_by(|a, b| a.1 == b.1);
    let mut builder = CpesBuilder::default();
    for (_, cpe) in &cpes {
        builder.push(cpe, CpeSource::SyftGenerated);
    }
    builder.build()
}

/// Normalises the VENDOR field as syft does: keeps the text before the first comma, lower-cased
/// and without spaces (`Red Hat, Inc.` becomes `redhat`).
fn normalize_vendor(vendor: &str) -> String {
    let before_comma = vendor.split(',').next().unwrap_or_default();
    before_comma.trim().to_lowercase().replace(' ', "")
}

/// Adds, for each value, the spellings with every `-` turned into `_` and the reverse.
fn with_delimiter_variations(values: impl IntoIterator<Item = String>) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for value in values {
        if value.contains('-') {
            out.insert(value.replace('-', "_"));
        }
        if value.contains('_') {
            out.insert(value.replace('_', "-"));
        }
        out.insert(value);
    }
    out
}

/// Lists the prefixes of `value` that end just before a `-` or `_` (`a-b_c` gives `a` and
/// `a-b`), then `value` itself with any leading or trailing delimiters trimmed.
fn prefixes(value: &str) -> Vec<String> {
    let mut results: Vec<String> = Vec::new();
    let mut pending_delimiter: Option<char> = None;
    for raw in value.split_inclusive(['-', '_']) {
        let part = raw.trim_matches(['-', '_']);
        if !part.is_empty() {
            let next = match (results.last(), pending_delimiter) {
                (Some(last), Some(delimiter)) => format!("{last}{delimiter}{part}"),
                (Some(last), None) => format!("{last}{part}"),
                (None, _) => part.to_owned(),
            };
            results.push(next);
        }
        pending_delimiter = raw.chars().last();
    }
    results
}

/// Quotes a value for a CPE 2.3 formatted string: everything but letters, digits, `.`, `-`
/// and `_` gets a backslash.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for character in value.chars() {
        if !(character.is_ascii_alphanumeric() || matches!(character, '.' | '-' | '_')) {
            out.push('\\');
        }
        out.push(character);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(cpes: &Cpes) -> Vec<&str> {
        cpes.iter().map(|cpe| cpe.cpe).collect()
    }

    #[test]
    fn prefixes_keep_original_delimiters() {
        assert_eq!(
            prefixes("liblua5_3-5"),
            ["liblua5", "liblua5_3", "liblua5_3-5"]
        );
        assert_eq!(prefixes("bash"), ["bash"]);
    }

    #[test]
    fn vendor_field_is_normalised() {
        assert_eq!(normalize_vendor("Red Hat, Inc."), "redhat");
        assert_eq!(
            normalize_vendor("SUSE LLC <https://www.suse.com/>"),
            "susellc<https://www.suse.com/>"
        );
    }

    #[test]
    fn orders_longest_first() {
        let cpes = generate("libuuid", "Red Hat, Inc.", "2.32.1-42.el8_8");
        assert_eq!(
            strings(&cpes),
            [
                "cpe:2.3:a:libuuid:libuuid:2.32.1-42.el8_8:*:*:*:*:*:*:*",
                "cpe:2.3:a:redhat:libuuid:2.32.1-42.el8_8:*:*:*:*:*:*:*",
            ]
        );
    }

    #[test]
    fn escapes_special_characters() {
        let cpes = generate("libstdc++6", "", "2:1+x");
        assert_eq!(
            strings(&cpes),
            ["cpe:2.3:a:libstdc\\+\\+6:libstdc\\+\\+6:2\\:1\\+x:*:*:*:*:*:*:*"]
        );
    }
}
