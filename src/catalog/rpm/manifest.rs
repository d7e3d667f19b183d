//! The CBL-Mariner distroless manifest (`/var/lib/rpmmanifest/container-manifest-2`): one
//! package per line, ten tab-separated fields written by an `rpm -qa --queryformat` run:
//! name, version-release, install time, build time, vendor, epoch (`(none)` when absent), size,
//! arch, epoch number and source rpm.

use super::record::PackageRecord;

const FIELD_COUNT: usize = 10;

/// The reason a manifest line could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ManifestError {
    #[error("line {line} has {found} tab-separated fields, expected {FIELD_COUNT}")]
    FieldCount { line: usize, found: usize },
    #[error("line {line} has version {value:?}, expected version-release")]
    VersionRelease { line: usize, value: String },
    #[error("line {line} has invalid {field} {value:?}, expected a number")]
    Number {
        line: usize,
        field: &'static str,
        value: String,
    },
}

/// Parses the manifest text; lines that cannot be read are returned as errors beside the
/// packages of the other lines.
pub fn parse(text: &str) -> (Vec<PackageRecord>, Vec<ManifestError>) {
    let mut records = Vec::new();
    let mut errors = Vec::new();
    for (index, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        match parse_line(index + 1, line) {
            Ok(record) => records.push(record),
            Err(error) => errors.push(error),
        }
    }
    (records, errors)
}

fn parse_line(line_number: usize, line: &str) -> Result<PackageRecord, ManifestError> {
    let fields: Vec<&str> = line.split('\t').collect();
    if fields.len() != FIELD_COUNT {
        return Err(ManifestError::FieldCount {
            line: line_number,
            found: fields.len(),
        });
    }
    let (version, release) =
        fields[1]
            .rsplit_once('-')
            .ok_or_else(|| ManifestError::VersionRelease {
                line: line_number,
                value: fields[1].to_owned(),
            })?;
    let number = |field: &'static str, value: &str| -> Result<i64, ManifestError> {
        value.trim().parse().map_err(|_| ManifestError::Number {
            line: line_number,
            field,
            value: value.to_owned(),
        })
    };
    // NOTE: syft 1.18.1 takes the epoch from the size field, so its `vim` with epoch 2 and size
    // 45000 comes out as `45000:9.0-1.cm2`. This reader takes the epoch field instead.
    let epoch = match fields[5] {
        "(none)" | "" => None,
        value => Some(number("epoch", value)?),
    };
    Ok(PackageRecord {
        name: fields[0].to_owned(),
        version: version.to_owned(),
        release: release.to_owned(),
        epoch,
        arch: fields[7].to_owned(),
        source_rpm: fields[9].to_owned(),
        size: number("size", fields[6])?,
        vendor: fields[4].to_owned(),
        ..PackageRecord::default()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_line_with_epoch() {
        let text = "vim\t9.0-1.cm2\t1\t2\tMicrosoft Corporation\t2\t45000\tx86_64\t2\tvim-9.0-1.cm2.src.rpm\n";
        let (records, errors) = parse(text);
        assert!(errors.is_empty());
        assert_eq!(records[0].version, "9.0");
        assert_eq!(records[0].release, "1.cm2");
        assert_eq!(records[0].epoch, Some(2));
        assert_eq!(records[0].size, 45000);
    }

    #[test]
    fn reports_bad_lines_and_keeps_good_ones() {
        let text = "a\t1-1\t1\t2\tV\t(none)\t5\tnoarch\t0\ta-1-1.src.rpm\nbroken line\nb\tnodash\t1\t2\tV\t(none)\t5\tx\t0\ts\n";
        let (records, errors) = parse(text);
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].epoch, None);
        assert_eq!(errors.len(), 2);
        assert_eq!(errors[0], ManifestError::FieldCount { line: 2, found: 1 });
        assert!(matches!(
            errors[1],
            ManifestError::VersionRelease { line: 3, .. }
        ));
    }
}
