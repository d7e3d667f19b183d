//! Licence values: normalising declared strings to SPDX identifiers, validating SPDX
//! expressions, reading Debian copyright files and recognising a few common licence texts.
//!
//! The normalisation follows what syft 1.18.1 reports: a case-insensitive match against the
//! SPDX licence list (the `spdx` crate's copy), with short version forms expanded (`GPL-2` is
//! `GPL-2.0`, `GPL2+` is `GPL-2.0+`) and deprecated identifiers replaced by their successors
//! (`GPL-2.0` becomes `GPL-2.0-only`). Anything else keeps its value and gets no expression.

use std::collections::HashMap;
use std::sync::OnceLock;

use super::{License, Location};

/// Deprecated SPDX identifiers whose successor is not the `-only` form of the same name.
const DEPRECATED_SUCCESSORS: &[(&str, &str)] = &[
    ("BSD-2-Clause-FreeBSD", "BSD-2-Clause"),
    ("BSD-2-Clause-NetBSD", "BSD-2-Clause"),
    ("Nunit", "Zlib-acknowledgement"),
    ("StandardML-NJ", "SMLNJ"),
];

/// Lower-cased SPDX licence identifier to its canonical spelling.
fn identifiers() -> &'static HashMap<String, &'static str> {
    static MAP: OnceLock<HashMap<String, &'static str>> = OnceLock::new();
    MAP.get_or_init(|| {
        spdx::identifiers::LICENSES
            .iter()
            .map(|(name, _, _)| (name.to_ascii_lowercase(), *name))
            .collect()
    })
}

fn lookup(lower: &str) -> Option<&'static str> {
    identifiers().get(lower).copied()
}

/// Resolves one spelling (already a candidate form) to a current SPDX identifier.
fn resolve(candidate: &str) -> Option<String> {
    let lower = candidate.to_ascii_lowercase();
    if let Some(base) = lower.strip_suffix('+') {
        if let Some(id) = lookup(&format!("{base}-or-later")) {
            return Some(id.to_owned());
        }
        return lookup(base).map(|id| format!("{id}+"));
    }
    let id = lookup(&lower)?;
    if let Some((_, successor)) = DEPRECATED_SUCCESSORS.iter().find(|(old, _)| *old == id) {
        return Some((*successor).to_owned());
    }
    let deprecated = spdx::license_id(id).is_some_and(|license| license.is_deprecated());
    if deprecated {
        if let Some(only) = lookup(&format!("{lower}-only")) {
            return Some(only.to_owned());
        }
    }
    Some(id.to_owned())
}

/// Spellings to try for `value`: itself, then `NAME-N.0` for a bare major version, then the
/// same with a hyphen inserted for `NAMEN` forms.
fn candidates(value: &str) -> Vec<String> {
    let mut out = vec![value.to_owned()];
    let (body, plus) = match value.strip_suffix('+') {
        Some(body) => (body, "+"),
        None => (value, ""),
    };
    let version_start = body
        .char_indices()
        .rev()
        .take_while(|(_, c)| c.is_ascii_digit() || *c == '.')
        .last()
        .map(|(index, _)| index);
    let Some(start) = version_start else {
        return out;
    };
    let (name, version) = body.split_at(start);
    if name.is_empty() || version.starts_with('.') {
        return out;
    }
    let names: Vec<String> = if name.ends_with('-') {
        vec![name.to_owned()]
    } else if name.ends_with(|c: char| c.is_ascii_alphabetic()) {
        vec![format!("{name}-"), name.to_owned()]
    } else {
        return out;
    };
    for name in names {
        out.push(format!("{name}{version}{plus}"));
        if !version.contains('.') {
            out.push(format!("{name}{version}.0{plus}"));
        }
    }
    out
}

/// Returns the SPDX identifier for a single licence name, when one is known.
pub fn spdx_id(value: &str) -> Option<String> {
    let value = value.trim();
    if value.is_empty() || value.contains(char::is_whitespace) {
        return None;
    }
    candidates(value)
        .iter()
        .find_map(|candidate| resolve(candidate))
}

/// Returns whether `value` is a valid SPDX expression with upper-case operators (`MIT AND Zlib`,
/// `(Apache-2.0 OR MIT) AND MPL-2.0`). Deprecated identifiers count as valid.
pub fn is_valid_expression(value: &str) -> bool {
    let spaced = value.replace('(', " ( ").replace(')', " ) ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    if tokens.is_empty() {
        return false;
    }
    let mut depth = 0i32;
    let mut expect_operand = true;
    let mut after_with = false;
    for token in tokens {
        match token {
            "(" if expect_operand => depth += 1,
            ")" if !expect_operand => {
                depth -= 1;
                if depth < 0 {
                    return false;
                }
            }
            "AND" | "OR" if !expect_operand => expect_operand = true,
            "WITH" if !expect_operand => {
                expect_operand = true;
                after_with = true;
            }
            operand if expect_operand => {
                let valid = if after_with {
                    spdx::exception_id(operand).is_some()
                } else {
                    operand.starts_with("LicenseRef-")
                        || lookup(&operand.trim_end_matches('+').to_ascii_lowercase()).is_some()
                };
                if !valid {
                    return false;
                }
                expect_operand = false;
                after_with = false;
            }
            _ => return false,
        }
    }
    depth == 0 && !expect_operand
}

/// Returns the SPDX expression for a declared value: the identifier for a single name, the
/// value itself for a valid compound expression, and `None` otherwise.
pub fn spdx_expression(value: &str) -> Option<String> {
    let value = value.trim();
    if let Some(id) = spdx_id(value) {
        return Some(id);
    }
    if value.contains(char::is_whitespace) && is_valid_expression(value) {
        return Some(value.to_owned());
    }
    None
}

/// Builds a declared licence with its SPDX expression filled in where known.
pub fn declared(value: &str, locations: Vec<Location>) -> License {
    License {
        value: value.trim().to_owned(),
        spdx_expression: spdx_expression(value),
        kind: "declared",
        locations,
    }
}

/// Splits a licence field the way syft treats apk `L:` values: a valid SPDX expression stays
/// one licence, anything else is a space-separated list of names.
pub fn split_declared(value: &str, locations: &[Location]) -> Vec<License> {
    let value = value.trim();
    if value.is_empty() {
        return Vec::new();
    }
    if spdx_expression(value).is_some() {
        return vec![declared(value, locations.to_vec())];
    }
    let mut names: Vec<&str> = value.split_whitespace().collect();
    names.sort_unstable();
    names.dedup();
    names
        .into_iter()
        .map(|name| declared(name, locations.to_vec()))
        .collect()
}

/// Finds the licence names in a Debian copyright file: every `License:` field's first word,
/// every `/usr/share/common-licenses/NAME` reference, `LICENSE AGREEMENT` headings and the
/// first sentence under an underlined title at the top of the file. The result is sorted and
/// has no duplicates. Multi-licence summaries (`X or Y`) are skipped because the stanzas
/// below them name each licence again.
pub fn debian_copyright_licenses(text: &str) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    if let Some(sentence) = sentence_under_title(text) {
        push_single(&mut found, &sentence);
    }
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if let Some(rest) = line.strip_prefix("License:") {
            let first = rest.split_whitespace().next().unwrap_or("");
            push_single(&mut found, first);
        }
        let mut rest = line;
        while let Some(index) = rest.find("/usr/share/common-licenses/") {
            let after = &rest[index + "/usr/share/common-licenses/".len()..];
            let name: String = after
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
                .collect();
            push_single(&mut found, &name);
            rest = &after[name.len()..];
        }
        let trimmed = line.trim();
        let starts_with_agreement = trimmed
            .get(.."LICENSE AGREEMENT".len())
            .is_some_and(|head| head.eq_ignore_ascii_case("LICENSE AGREEMENT"));
        if starts_with_agreement {
            push_single(&mut found, trimmed);
        }
    }
    found.sort();
    found.dedup();
    found
}

/// Returns the text up to the first period after a title line and a line of dashes at the
/// very top of the file (an `End User License Agreement` banner, for instance).
fn sentence_under_title(text: &str) -> Option<String> {
    let (title, rest) = text.split_once('\n')?;
    let (dashes, body) = rest.split_once('\n')?;
    if title.is_empty() || dashes.is_empty() || !dashes.bytes().all(|b| b == b'-') {
        return None;
    }
    let body = body.trim_start_matches('\n');
    let end = body.find('.')?;
    Some(body[..=end].replace('\n', " "))
}

fn push_single(found: &mut Vec<String>, candidate: &str) {
    let candidate = candidate.trim();
    if candidate.contains(" or ") || candidate.contains(" and ") {
        return;
    }
    if candidate.is_empty() || candidate.eq_ignore_ascii_case("none") {
        return;
    }
    let value = candidate.strip_suffix('.').unwrap_or(candidate);
    if !value.is_empty() {
        found.push(value.to_owned());
    }
}

/// Recognises the text of a few common licences by their characteristic clauses. Returns the
/// SPDX identifier, or `None` when the text matches none of them.
///
/// NOTE: syft uses a full licence classifier here. This one covers MIT, ISC, Apache-2.0 and
/// the two-, three- and four-clause BSD licences only.
pub fn classify_text(text: &str) -> Option<&'static str> {
    let flat: String = text
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_lowercase();
    if flat.contains("apache license") && flat.contains("version 2.0") {
        return Some("Apache-2.0");
    }
    if flat.contains("permission is hereby granted, free of charge") {
        return Some("MIT");
    }
    if flat.contains("permission to use, copy, modify, and/or distribute this software") {
        return Some("ISC");
    }
    if flat.contains("redistribution and use in source and binary forms") {
        let endorsement = flat.contains("neither the name")
            || flat.contains("may not be used to endorse or promote");
        let advertising = flat.contains("all advertising materials mentioning");
        return match (endorsement, advertising) {
            (_, true) => Some("BSD-4-Clause"),
            (true, false) => Some("BSD-3-Clause"),
            (false, false) => Some("BSD-2-Clause"),
        };
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spdx_id_expands_debian_short_forms() {
        let cases = [
            ("GPL-2", Some("GPL-2.0-only")),
            ("GPL-2+", Some("GPL-2.0-or-later")),
            ("GPL-1", Some("GPL-1.0-only")),
            ("LGPL-2.1", Some("LGPL-2.1-only")),
            ("LGPL-2.0+", Some("LGPL-2.0-or-later")),
            ("GFDL-1.3", Some("GFDL-1.3-only")),
            ("BSD-3-clause", Some("BSD-3-Clause")),
            ("BSD-4-clause-UC", Some("BSD-4-Clause-UC")),
            ("BSD-2-clause-NetBSD", Some("BSD-2-Clause")),
            ("Apache-2", Some("Apache-2.0")),
            ("BSL-1", Some("BSL-1.0")),
            ("Artistic-2", Some("Artistic-2.0")),
            ("Ms-PL", Some("MS-PL")),
            ("ZLIB", Some("Zlib")),
            ("openssl", Some("OpenSSL")),
            ("GPL2", Some("GPL-2.0-only")),
            ("GPL2+", Some("GPL-2.0-or-later")),
        ];
        for (value, expected) in cases {
            assert_eq!(spdx_id(value).as_deref(), expected, "value {value}");
        }
    }

    #[test]
    fn spdx_id_leaves_unknown_names() {
        for value in [
            "GPL",
            "LGPL",
            "Expat",
            "CC0",
            "GFDL-3",
            "GPLv3+",
            "public-domain",
            "MIT/X11",
            "Artistic",
            "BSD-3-clause-Cambridge",
            "custom",
            "BSD",
        ] {
            assert_eq!(spdx_id(value), None, "value {value}");
        }
    }

    #[test]
    fn expressions_need_upper_case_operators() {
        assert!(is_valid_expression("MPL-2.0 AND MIT"));
        assert!(is_valid_expression("( Apache-2.0 OR MIT ) AND MPL-2.0"));
        assert!(is_valid_expression("GPL-2.0+ AND LGPL-2.1+"));
        assert!(is_valid_expression(
            "GPL-3.0-or-later WITH GCC-exception-3.1"
        ));
        assert!(!is_valid_expression("GPL-2.0+ and LGPL-2.1+"));
        assert!(!is_valid_expression("BSD GPL2+ MIT"));
        assert!(!is_valid_expression("(MIT"));
        assert!(!is_valid_expression("MIT AND"));
    }

    #[test]
    fn split_declared_keeps_expressions_whole() {
        let one = split_declared("MPL-2.0 AND MIT", &[]);
        assert_eq!(one.len(), 1);
        assert_eq!(one[0].spdx_expression.as_deref(), Some("MPL-2.0 AND MIT"));
        let three = split_declared("MIT BSD GPL2+", &[]);
        let values: Vec<&str> = three.iter().map(|l| l.value.as_str()).collect();
        assert_eq!(values, ["BSD", "GPL2+", "MIT"]);
        assert_eq!(
            three[1].spdx_expression.as_deref(),
            Some("GPL-2.0-or-later")
        );
    }

    #[test]
    fn copyright_fields_and_common_licence_paths() {
        let text = "Format: x\n\nFiles: *\nLicense: GPL-2+\n\nLicense: LGPL-2.1 or GPL-2\n\
                    License: none\nLicense: BSD-3-clause.\n On Debian systems see \
                    /usr/share/common-licenses/GPL-2.\n";
        assert_eq!(
            debian_copyright_licenses(text),
            ["BSD-3-clause", "GPL-2", "GPL-2+", "LGPL-2.1"]
        );
    }

    #[test]
    fn copyright_sentence_under_title() {
        let text = "End User License Agreement\n--------------------------\n\n\
                    Example Software License\nterms. More text.\n";
        assert_eq!(
            debian_copyright_licenses(text),
            ["Example Software License terms"]
        );
        let summary = "Title\n-----\nThis is free software and comes with no warranty.\n";
        assert!(debian_copyright_licenses(summary).is_empty());
        assert!(debian_copyright_licenses("Title\nnot dashes\n\nText.\n").is_empty());
    }

    #[test]
    fn classify_recognises_bsd_and_mit() {
        let bsd3 = "Redistribution and use in source and binary forms, with or without\n\
                    modification ... Neither the name of the copyright holder ...";
        assert_eq!(classify_text(bsd3), Some("BSD-3-Clause"));
        let mit = "Permission is hereby granted, free of charge, to any person";
        assert_eq!(classify_text(mit), Some("MIT"));
        assert_eq!(classify_text("All rights reserved."), None);
    }
}
