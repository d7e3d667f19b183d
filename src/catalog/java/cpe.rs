//! Candidate CPEs for Java packages, following syft 1.18.1's Java rules: products from the
//! name and artifact ID and from group ID fields after the second, vendors from the products,
//! the group IDs and their fields, and the manifest's vendor names.

use std::collections::BTreeSet;

use super::manifest::Manifest;
use crate::catalog::cpe::escape;
use crate::catalog::{CpeSource, Cpes, CpesBuilder};

/// Group ID fields that never name a product.
const FORBIDDEN_PRODUCT_FIELDS: &[&str] = &["plugin", "plugins", "client"];
/// Group ID fields that never name a vendor.
const FORBIDDEN_VENDOR_FIELDS: &[&str] = &["plugin", "plugins"];
/// Manifest fields whose value names the vendor as a person or organisation.
const VENDOR_NAME_FIELDS: &[&str] = &["Specification-Vendor", "Implementation-Vendor"];
/// Prefixes that make a manifest value a group ID rather than a name.
const DOMAIN_PREFIXES: &[&str] = &["com", "org", "net", "io", "be"];

/// The vendor that replaces every other when a group ID field names it.
const APACHE: &str = "apache";

/// Generates the CPEs of a Java package, most specific first, in syft's order.
pub fn generate(
    name: &str,
    version: &str,
    artifact_id: &str,
    group_ids: &[String],
    manifest: Option<&Manifest>,
) -> Cpes {
    let mut products: Vec<String> = Vec::new();
    let mut add_product = |value: &str| {
        if !value.is_empty() && !products.iter().any(|known| known == value) {
            products.push(value.to_owned());
        }
    };
    for base in [name, artifact_id] {
        add_product(base);
        for variation in delimiter_variations(base) {
            add_product(&variation);
        }
    }
    for group_id in group_ids {
        let is_plugin = artifact_id.contains("plugin") || group_id.contains("plugin");
        for field in group_id.split('.').skip(2).map(str::trim) {
            if field.is_empty() || FORBIDDEN_PRODUCT_FIELDS.contains(&field.to_lowercase().as_str())
            {
                continue;
            }
            let could_be_project = artifact_id.starts_with(field) || artifact_id.ends_with(field);
            if artifact_id.is_empty() || (could_be_project && !is_plugin) {
                add_product(field);
            }
        }
    }

    let mut vendors: BTreeSet<String> = BTreeSet::new();
    for product in &products {
        vendors.insert(product.clone());
        for prefix in prefixes(product) {
            vendors.insert(prefix);
        }
    }
    for group_id in group_ids {
        vendors.insert(group_id.clone());
        for field in group_id.split('.').skip(1).map(str::trim) {
            if field.is_empty() || FORBIDDEN_VENDOR_FIELDS.contains(&field.to_lowercase().as_str())
            {
                continue;
            }
            vendors.insert(field.to_owned());
            for prefix in prefixes(field) {
                vendors.insert(prefix);
            }
        }
    }
    if let Some(manifest) = manifest {
        for field in VENDOR_NAME_FIELDS {
            if let Some(value) = manifest.main_value(field) {
                if !DOMAIN_PREFIXES
                    .iter()
                    .any(|prefix| value.starts_with(prefix))
                {
                    let normalized = person_name(value);
                    if !normalized.is_empty() {
                        vendors.insert(normalized);
                    }
                }
            }
        }
    }

    // syft 1.18.1 keeps `apache` as the only vendor when a group ID names it after its first
    // field (`org.apache.commons`, `io.apache`), whatever the names and manifest suggest.
    if group_ids.iter().any(|group_id| {
        group_id
            .split('.')
            .skip(1)
            .any(|field| field.trim() == APACHE)
    }) {
        vendors = BTreeSet::from([APACHE.to_owned()]);
    }

    let mut pairs: Vec<(String, String)> = Vec::new();
    for vendor in &vendors {
        for product in &products {
            pairs.push((vendor.clone(), product.clone()));
        }
    }
    let bind = |(vendor, product): &(String, String)| {
        format!(
            "cpe:2.3:a:{}:{}:{}:*:*:*:*:*:*:*",
            escape(vendor),
            escape(product),
            escape(version)
        )
    };
    pairs.sort_by(|a, b| {
        let length = |(vendor, product): &(String, String)| vendor.len() + product.len();
        length(b)
            .cmp(&length(a))
            .then_with(|| bind(a).cmp(&bind(b)))
    });
    let mut cpes = CpesBuilder::default();
    for pair in &pairs {
        cpes.push(&bind(pair), CpeSource::SyftGenerated);
    }
    cpes.build()
}

/// Returns the name with `-` and `_` swapped, when it has either.
fn delimiter_variations(value: &str) -> Vec<String> {
    let mut variations = Vec::new();
    if value.contains('-') {
        variations.push(value.replace('-', "_"));
    }
    if value.contains('_') {
        variations.push(value.replace('_', "-"));
    }
    variations
}

/// Lists every prefix of `value` that ends just before a `-` or `_`.
fn prefixes(value: &str) -> Vec<String> {
    value
        .char_indices()
        .filter(|(index, c)| *index > 0 && matches!(c, '-' | '_'))
        .map(|(index, _)| value[..index].trim_end_matches(['-', '_']).to_owned())
        .filter(|prefix| !prefix.is_empty())
        .collect()
}

/// Lower-case words joined by `_`, as syft turns a vendor name into a CPE vendor.
fn person_name(name: &str) -> String {
    let cleaned: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || c.is_whitespace() || matches!(c, '-' | '_'))
        .collect();
    cleaned.split_whitespace().collect::<Vec<_>>().join("_")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vendors(group_id: &str) -> BTreeSet<String> {
        generate(
            "thing-core",
            "1.0",
            "thing-core",
            &[group_id.to_owned()],
            None,
        )
        .iter()
        .map(|cpe| cpe.cpe.split(':').nth(3).unwrap().to_owned())
        .collect()
    }

    // The cases below were checked against syft 1.18.1 on jars holding only a pom.properties.
    #[test]
    fn generate_uses_only_apache_for_apache_group_field() {
        for group_id in ["org.apache", "org.apache.y", "io.apache", "org.foo.apache"] {
            assert_eq!(
                vendors(group_id),
                BTreeSet::from(["apache".to_owned()]),
                "{group_id}"
            );
        }
    }

    #[test]
    fn generate_keeps_vendors_without_apache_group_field() {
        for (group_id, expected) in [
            (
                "org.apachecon.x",
                &[
                    "apachecon",
                    "org.apachecon.x",
                    "thing",
                    "thing-core",
                    "thing_core",
                    "x",
                ][..],
            ),
            (
                "org.Apache.x",
                &[
                    "Apache",
                    "org.Apache.x",
                    "thing",
                    "thing-core",
                    "thing_core",
                    "x",
                ][..],
            ),
        ] {
            let expected: BTreeSet<String> = expected.iter().map(|v| (*v).to_owned()).collect();
            assert_eq!(vendors(group_id), expected, "{group_id}");
        }
    }
}
