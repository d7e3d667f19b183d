//! Package URLs for rpm packages, spelled as syft 1.18.1 renders them.

use packageurl::PackageUrl;

use crate::catalog::Distro;

/// Builds `pkg:rpm/[<distro id>/]<name>@<version>-<release>` with the qualifiers `arch`,
/// `distro` (`<id>-<version id>`), `epoch` (only when the header stores one) and `upstream`
/// (the source rpm), each left out when empty, in alphabetical order.
pub fn package_url(
    name: &str,
    version_release: &str,
    arch: &str,
    epoch: Option<i64>,
    source_rpm: &str,
    distro: Option<&Distro>,
) -> String {
    // Construction fails only on an empty name, because "rpm" is a valid type. The fallback
    // keeps such a broken package visible instead of dropping it.
    let Ok(mut purl) = PackageUrl::new("rpm", name) else {
        return format!("pkg:rpm/{name}@{version_release}");
    };
    purl.with_version(version_release);

    let distro_id = distro.map(|distro| distro.id.as_str()).unwrap_or_default();
    if !distro_id.is_empty() {
        purl.with_namespace(distro_id);
    }

    let mut qualifiers: Vec<(&str, String)> = Vec::new();
    if !arch.is_empty() {
        qualifiers.push(("arch", arch.to_owned()));
    }
    if let Some(distro) = distro.filter(|_| !distro_id.is_empty()) {
        let value = if distro.version_id.is_empty() {
            distro.id.clone()
        } else {
            format!("{}-{}", distro.id, distro.version_id)
        };
        qualifiers.push(("distro", value));
    }
    if let Some(epoch) = epoch {
        qualifiers.push(("epoch", epoch.to_string()));
    }
    if !source_rpm.is_empty() {
        qualifiers.push(("upstream", source_rpm.to_owned()));
    }
    for (key, value) in qualifiers {
        // The keys are fixed lower-case words, which the crate always accepts.
        let _ = purl.add_qualifier(key, value);
    }
    purl.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_without_distro() {
        assert_eq!(
            package_url(
                "libstdc++6",
                "11.2.1+git610-1.3.9",
                "x86_64",
                None,
                "gcc11-11.2.1+git610-1.3.9.src.rpm",
                None
            ),
            "pkg:rpm/libstdc%2B%2B6@11.2.1%2Bgit610-1.3.9?arch=x86_64&upstream=gcc11-11.2.1%2Bgit610-1.3.9.src.rpm"
        );
    }

    #[test]
    fn renders_distro_and_epoch() {
        let distro = Distro {
            id: "sbomtest".into(),
            version_id: "1".into(),
            ..Distro::default()
        };
        assert_eq!(
            package_url(
                "sbom-lib",
                "0.5-3.sbt",
                "noarch",
                Some(2),
                "sbom-lib-0.5-3.sbt.src.rpm",
                Some(&distro)
            ),
            "pkg:rpm/sbomtest/sbom-lib@0.5-3.sbt?arch=noarch&distro=sbomtest-1&epoch=2&upstream=sbom-lib-0.5-3.sbt.src.rpm"
        );
    }
}
