//! Package URLs, built with the `packageurl` crate. Its percent-encoding set matches what syft
//! 1.18.1 writes: `+` and `@` are encoded, while `:`, `/` and `~` stay as they are (Debian
//! epochs such as `1:2.38.1-5` keep their colon).

use packageurl::PackageUrl;

use super::Distro;

/// Returns the `distro` qualifier value as syft writes it: `<id>-<versionID>`, with the
/// `BUILD_ID` in place of a missing version (rolling distros), or the id alone.
pub fn distro_qualifier(distro: &Distro) -> String {
    let version = if distro.version_id.is_empty() {
        &distro.build_id
    } else {
        &distro.version_id
    };
    if version.is_empty() {
        distro.id.clone()
    } else {
        format!("{}-{version}", distro.id)
    }
}

/// Renders a purl from its parts. Empty qualifier values are left out, as syft does. Returns
/// an empty string when the parts are not a valid purl (an empty name, for instance), because
/// syft records an empty `purl` in that case too.
pub fn render(
    kind: &str,
    namespace: Option<&str>,
    name: &str,
    version: &str,
    qualifiers: &[(&str, &str)],
) -> String {
    let Ok(mut purl) = PackageUrl::new(kind, name) else {
        return String::new();
    };
    if let Some(namespace) = namespace.filter(|ns| !ns.is_empty()) {
        purl.with_namespace(namespace);
    }
    if !version.is_empty() {
        purl.with_version(version);
    }
    for (key, value) in qualifiers {
        if value.is_empty() {
            continue;
        }
        if purl.add_qualifier(*key, *value).is_err() {
            return String::new();
        }
    }
    purl.to_string()
}

/// Renders the purl of an OS package (`deb`, `apk`), with namespace and `distro` qualifier
/// from the detected distro. Without a distro syft writes no purl for these types, and
/// neither do we.
pub fn os_package(
    kind: &str,
    distro: Option<&Distro>,
    name: &str,
    version: &str,
    qualifiers: &[(&str, &str)],
) -> String {
    let Some(distro) = distro.filter(|d| !d.id.is_empty()) else {
        return String::new();
    };
    let qualifier = distro_qualifier(distro);
    let mut all: Vec<(&str, &str)> = qualifiers.to_vec();
    all.push(("distro", &qualifier));
    let namespace = distro.id.to_lowercase();
    render(kind, Some(&namespace), name, version, &all)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn debian_12() -> Distro {
        Distro {
            id: "debian".into(),
            version_id: "12".into(),
            ..Distro::default()
        }
    }

    #[test]
    fn deb_purl_keeps_epoch_colon() {
        let purl = os_package(
            "deb",
            Some(&debian_12()),
            "libcap2",
            "1:2.66-4+deb12u3+b1",
            &[("arch", "amd64"), ("upstream", "libcap2@1:2.66-4+deb12u3")],
        );
        assert_eq!(
            purl,
            "pkg:deb/debian/libcap2@1:2.66-4%2Bdeb12u3%2Bb1?arch=amd64&distro=debian-12\
             &upstream=libcap2%401:2.66-4%2Bdeb12u3"
        );
    }

    #[test]
    fn deb_purl_encodes_plus_in_name() {
        let purl = os_package("deb", Some(&debian_12()), "libstdc++6", "12.2.0-14", &[]);
        assert_eq!(
            purl,
            "pkg:deb/debian/libstdc%2B%2B6@12.2.0-14?distro=debian-12"
        );
    }

    #[test]
    fn rolling_distro_uses_build_id() {
        let arch = Distro {
            id: "arch".into(),
            build_id: "rolling".into(),
            ..Distro::default()
        };
        assert_eq!(distro_qualifier(&arch), "arch-rolling");
        assert_eq!(distro_qualifier(&debian_12()), "debian-12");
    }

    #[test]
    fn os_purl_is_empty_without_distro() {
        assert_eq!(os_package("apk", None, "musl", "1.2.3-r0", &[]), "");
    }

    #[test]
    fn npm_scope_is_encoded_namespace() {
        assert_eq!(
            render("npm", Some("@types"), "react", "18.0.17", &[]),
            "pkg:npm/%40types/react@18.0.17"
        );
    }
}
