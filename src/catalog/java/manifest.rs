//! The metadata files inside a Java archive: `META-INF/MANIFEST.MF`, Maven's `pom.properties`
//! and the coordinates of a `pom.xml`.

use std::collections::BTreeMap;

use quick_xml::events::Event;
use serde::Serialize;

/// One `Key: value` line of a manifest section.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

/// A parsed `MANIFEST.MF`: the main section and any named sections after it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Manifest {
    pub main: Vec<KeyValue>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sections: Vec<Vec<KeyValue>>,
}

impl Manifest {
    /// Returns the value of `key` in the main section.
    pub fn main_value(&self, key: &str) -> Option<&str> {
        self.main
            .iter()
            .find(|entry| entry.key == key)
            .map(|entry| entry.value.as_str())
    }

    /// Returns the values of `key` in the main section, then in each named section.
    pub fn values<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        std::iter::once(&self.main)
            .chain(self.sections.iter())
            .flat_map(move |section| {
                section
                    .iter()
                    .filter(move |entry| entry.key == key)
                    .map(|entry| entry.value.as_str())
            })
    }
}

/// Parses a manifest as syft 1.18.1 does. Blank lines separate sections. A line that starts
/// with a space continues the previous value, trimmed, and is dropped when no key precedes it
/// in its section. Lines without a `:` and lines with an empty key are skipped.
pub fn parse_manifest(text: &str) -> Manifest {
    let mut sections: Vec<Vec<KeyValue>> = Vec::new();
    let mut in_section = false;
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            in_section = false;
            continue;
        }
        if line.starts_with(' ') {
            if in_section {
                if let Some(last) = sections.last_mut().and_then(|section| section.last_mut()) {
                    last.value.push_str(line.trim());
                }
            }
            continue;
        }
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = key.trim();
        if key.is_empty() {
            continue;
        }
        if !in_section {
            sections.push(Vec::new());
            in_section = true;
        }
        if let Some(section) = sections.last_mut() {
            section.push(KeyValue {
                key: key.to_owned(),
                value: value.trim().to_owned(),
            });
        }
    }
    let mut sections = sections.into_iter();
    Manifest {
        main: sections.next().unwrap_or_default(),
        sections: sections.collect(),
    }
}

/// A Maven `pom.properties` file, in syft's `pomProperties` shape.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PomProperties {
    /// The path of the file inside its archive.
    pub path: String,
    pub name: String,
    pub group_id: String,
    pub artifact_id: String,
    pub version: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub scope: String,
    /// Every other key, sorted.
    #[serde(rename = "extraFields", skip_serializing_if = "BTreeMap::is_empty")]
    pub extra_fields: BTreeMap<String, String>,
}

/// Parses `pom.properties`: `key=value` or `key:value` lines, with `#` comment lines and blank
/// lines skipped. Returns an error naming the first line that has neither separator.
pub fn parse_pom_properties(path: &str, text: &str) -> Result<PomProperties, String> {
    let mut properties = PomProperties {
        path: path.to_owned(),
        ..PomProperties::default()
    };
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with('!') {
            continue;
        }
        let Some(index) = line.find(['=', ':']) else {
            return Err(format!("invalid line in {path}: {line:?}"));
        };
        let key = line[..index].trim();
        let value = line[index + 1..].trim().to_owned();
        match key {
            "name" => properties.name = value,
            "groupId" => properties.group_id = value,
            "artifactId" => properties.artifact_id = value,
            "version" => properties.version = value,
            "scope" => properties.scope = value,
            _ => {
                properties.extra_fields.insert(key.to_owned(), value);
            }
        }
    }
    Ok(properties)
}

/// The coordinates of a `pom.xml`. A missing group ID or version is inherited from the
/// `<parent>` element, as Maven does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PomProject {
    pub path: String,
    pub group_id: String,
    pub artifact_id: String,
    pub version: String,
    pub name: String,
}

/// Reads the project coordinates of a `pom.xml`. Returns an error when the XML is malformed.
pub fn parse_pom_xml(path: &str, text: &str) -> Result<PomProject, String> {
    let mut reader = quick_xml::Reader::from_str(text);
    let mut stack: Vec<String> = Vec::new();
    let mut project = PomProject {
        path: path.to_owned(),
        ..PomProject::default()
    };
    let (mut parent_group, mut parent_version) = (String::new(), String::new());
    loop {
        let event = reader
            .read_event()
            .map_err(|error| format!("invalid XML in {path}: {error}"))?;
        match event {
            Event::Start(start) => {
                stack.push(String::from_utf8_lossy(start.local_name().as_ref()).into_owned());
            }
            Event::End(_) => {
                stack.pop();
            }
            Event::Text(text) => {
                let value = text
                    .decode()
                    .map(|value| value.trim().to_owned())
                    .unwrap_or_default();
                let names: Vec<&str> = stack.iter().map(String::as_str).collect();
                match names.as_slice() {
                    ["project", "groupId"] => project.group_id = value,
                    ["project", "artifactId"] => project.artifact_id = value,
                    ["project", "version"] => project.version = value,
                    ["project", "name"] => project.name = value,
                    ["project", "parent", "groupId"] => parent_group = value,
                    ["project", "parent", "version"] => parent_version = value,
                    _ => {}
                }
            }
            Event::Eof => break,
            _ => {}
        }
    }
    if project.group_id.is_empty() {
        project.group_id = parent_group;
    }
    if project.version.is_empty() {
        project.version = parent_version;
    }
    Ok(project)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifest_continuations_and_sections() {
        let text = "Manifest-Version: 1.0\r\nExport-Package: org.a,\r\n org.b\r\n\r\n\r\n\
                    Name: section\r\nKey: value\r\n";
        let manifest = parse_manifest(text);
        assert_eq!(manifest.main_value("Export-Package"), Some("org.a,org.b"));
        assert_eq!(manifest.sections.len(), 1);
        assert_eq!(manifest.sections[0][1].value, "value");
        assert_eq!(manifest.values("Key").collect::<Vec<_>>(), ["value"]);
    }

    #[test]
    fn manifest_leading_continuation_is_dropped() {
        let manifest = parse_manifest(" stray\nA: 1\nnot a field\n: empty key\n");
        assert_eq!(
            manifest.main,
            [KeyValue {
                key: "A".into(),
                value: "1".into()
            }]
        );
    }

    #[test]
    fn pom_properties_separators_and_extras() {
        let text = "#Generated by Maven\ngroupId:org.anchore\nartifactId= app\nversion=0.1.0\n\
                    another=thing\n";
        let properties = parse_pom_properties("META-INF/maven/g/a/pom.properties", text).unwrap();
        assert_eq!(properties.group_id, "org.anchore");
        assert_eq!(properties.artifact_id, "app");
        assert_eq!(properties.version, "0.1.0");
        assert_eq!(properties.extra_fields["another"], "thing");
        assert!(parse_pom_properties("p", "no separator here\n").is_err());
    }

    #[test]
    fn pom_xml_inherits_from_parent() {
        let text = "<project><parent><groupId>org.p</groupId><version>2.0</version></parent>\
                    <artifactId>child</artifactId><dependencies><dependency><groupId>x\
                    </groupId></dependency></dependencies></project>";
        let project = parse_pom_xml("pom.xml", text).unwrap();
        assert_eq!(project.group_id, "org.p");
        assert_eq!(project.artifact_id, "child");
        assert_eq!(project.version, "2.0");
        assert!(parse_pom_xml("pom.xml", "<project><a></b></project>").is_err());
    }
}
