//! Java archives, Go binaries and Rust binaries through the real layer walk: fixture jars
//! against syft 1.18.1's output, Debian's jars in a war built with the JDK's `jar` tool, and Go
//! and Rust programs compiled here (Debian `golang-go`, `cargo auditable`). The last test puts
//! all three in a FROM scratch image and catalogs it from the daemon, a `docker save` tarball
//! and an OCI layout.

#[path = "common/docker.rs"]
mod docker;

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use base64::Engine as _;
use inline_scan::catalog::registry::{default_catalogers, run};
use inline_scan::catalog::{Catalog, CatalogWarning, CatalogerCapture, Package, PackageType};
use inline_scan::layer::{SPOOL_IN_MEMORY, scan_layer};
use inline_scan::source::Limits;
use inline_scan::squash::Squasher;
use serde_json::Value;
use sha2::{Digest as _, Sha256};

fn capture() -> CatalogerCapture {
    CatalogerCapture {
        catalogers: Arc::new(default_catalogers()),
    }
}

/// Builds an uncompressed layer tar from `(path, contents)` pairs.
fn layer(files: &[(&str, &[u8])]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for (path, contents) in files {
        let mut header = tar::Header::new_gnu();
        header.set_size(contents.len() as u64);
        header.set_mode(0o755);
        header.set_entry_type(tar::EntryType::Regular);
        builder
            .append_data(&mut header, path.trim_start_matches('/'), *contents)
            .unwrap();
    }
    builder.into_inner().unwrap()
}

/// Walks the layers with the default catalogers' capture policy, squashes them and catalogs
/// the result.
fn catalog_layers(layers: &[Vec<u8>]) -> (Catalog, Vec<CatalogWarning>) {
    let policy = capture();
    let mut squasher = Squasher::new();
    for bytes in layers {
        let scan = scan_layer(&bytes[..], &policy, &Limits::default()).unwrap();
        squasher.add_layer(scan);
    }
    let tree = squasher.finish();
    run(&tree, &policy.catalogers)
}

fn of_kind(catalog: &Catalog, kinds: &[PackageType]) -> Vec<Package> {
    catalog
        .packages
        .iter()
        .filter(|package| kinds.contains(&package.kind))
        .cloned()
        .collect()
}

fn find<'a>(packages: &'a [Package], name: &str) -> &'a Package {
    packages
        .iter()
        .find(|package| package.name == name)
        .unwrap_or_else(|| {
            let names: Vec<&str> = packages.iter().map(|p| p.name.as_str()).collect();
            panic!("no package {name} among {names:?}")
        })
}

/// Returns the `dependency-of` edges as `(dependency, dependent)` package names, sorted.
fn edges(catalog: &Catalog) -> Vec<(String, String)> {
    let mut found: Vec<(String, String)> = catalog
        .relationships
        .dependency_of
        .iter()
        .map(|&(dependency, dependent)| {
            (
                catalog.packages[dependency].name.clone(),
                catalog.packages[dependent].name.clone(),
            )
        })
        .collect();
    found.sort();
    found
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect()
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/catalog/java")
}

/// Returns every regular file under `root` as an image path and its contents.
fn files_under(root: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in fs::read_dir(&dir).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_type().unwrap().is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(root).unwrap().to_string_lossy();
                found.push((format!("/{relative}"), fs::read(&path).unwrap()));
            }
        }
    }
    found.sort();
    found
}

fn catalog_dir(root: &Path) -> (Catalog, Vec<CatalogWarning>) {
    let files = files_under(root);
    let borrowed: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(path, bytes)| (path.as_str(), bytes.as_slice()))
        .collect();
    catalog_layers(&[layer(&borrowed)])
}

fn cpes_of(value: &Value) -> Vec<String> {
    value["cpes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|cpe| cpe["cpe"].as_str().unwrap().to_owned())
        .collect()
}

/// Compares one fixture case with syft's packages field by field. Returns the differences.
fn compare_java_case(case: &str) -> Vec<String> {
    let reference: Value = serde_json::from_slice(
        &fs::read(fixtures().join(format!("{case}.syft-1.18.1.json"))).unwrap(),
    )
    .unwrap();
    let expected: Vec<&Value> = reference["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|artifact| artifact["foundBy"] == "java-archive-cataloger")
        .collect();
    let (catalog, warnings) = catalog_dir(&fixtures().join(case));
    assert!(warnings.is_empty(), "{case}: {warnings:?}");
    let ours = of_kind(
        &catalog,
        &[PackageType::JavaArchive, PackageType::JenkinsPlugin],
    );
    let mut differences = Vec::new();
    if ours.len() != expected.len() {
        differences.push(format!(
            "{case}: {} packages, syft has {}",
            ours.len(),
            expected.len()
        ));
    }
    for artifact in expected {
        let virtual_path = &artifact["metadata"]["virtualPath"];
        let Some(package) = ours
            .iter()
            .find(|package| &package.metadata["virtualPath"] == virtual_path)
        else {
            differences.push(format!("{case}: missing {virtual_path}"));
            continue;
        };
        let mut check = |field: &str, theirs: Value, mine: Value| {
            if theirs != mine {
                differences.push(format!(
                    "{case} {virtual_path} {field}: syft {theirs}, ours {mine}"
                ));
            }
        };
        check(
            "name",
            artifact["name"].clone(),
            package.name.clone().into(),
        );
        check(
            "version",
            artifact["version"].clone(),
            package.version.clone().into(),
        );
        check(
            "type",
            artifact["type"].clone(),
            package.kind.as_str().into(),
        );
        check(
            "purl",
            artifact["purl"].clone(),
            package.purl.clone().into(),
        );
        let our_cpes: Vec<String> = package.cpes.iter().map(|cpe| cpe.cpe.to_owned()).collect();
        check("cpes", cpes_of(artifact).into(), our_cpes.into());
        let their_licences: Vec<Value> = artifact["licenses"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| serde_json::json!([l["value"], l["spdxExpression"], l["type"]]))
            .collect();
        let our_licences: Vec<Value> = package
            .licenses
            .iter()
            .map(|l| {
                serde_json::json!([
                    l.value,
                    l.spdx_expression.clone().unwrap_or_default(),
                    l.kind
                ])
            })
            .collect();
        check("licenses", their_licences.into(), our_licences.into());
        check(
            "accessPath",
            artifact["locations"][0]["accessPath"].clone(),
            package.locations[0]
                .access_path
                .clone()
                .unwrap_or_else(|| package.locations[0].path.clone())
                .into(),
        );
        check(
            "metadata",
            artifact["metadata"].clone(),
            package.metadata.clone(),
        );
    }
    differences
}

#[test]
fn java_fixtures_match_syft() {
    let mut cases: Vec<String> = fs::read_dir(fixtures())
        .unwrap()
        .map(|entry| entry.unwrap())
        .filter(|entry| entry.file_type().unwrap().is_dir() && entry.file_name() != "LICENSES")
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    cases.sort();
    assert_eq!(cases.len(), 6, "{cases:?}");
    let differences: Vec<String> = cases
        .iter()
        .flat_map(|case| compare_java_case(case))
        .collect();
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}

#[test]
fn unreadable_jar_is_a_warning() {
    let (catalog, warnings) = catalog_layers(&[layer(&[
        ("/app/broken.jar", b"PK\x03\x04 this is not a zip archive"),
        ("/app/notes.txt", b"not claimed"),
    ])]);
    assert!(catalog.packages.is_empty(), "{:?}", catalog.packages);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].path, "/app/broken.jar");
    assert_eq!(warnings[0].cataloger, "java-archive-cataloger");
}

#[test]
fn whiteout_removes_extracted_jar() {
    let jar = fs::read(fixtures().join("trivy-test-jar/test.jar")).unwrap();
    let lower = layer(&[("/app/test.jar", &jar), ("/app/keep.jar", &jar)]);
    let upper = layer(&[("/app/.wh.test.jar", b"")]);
    let (catalog, warnings) = catalog_layers(&[lower, upper]);
    assert!(warnings.is_empty(), "{warnings:?}");
    let paths: Vec<&str> = catalog
        .packages
        .iter()
        .map(|package| package.locations[0].path.as_str())
        .collect();
    assert_eq!(paths, ["/app/keep.jar"]);
}

#[test]
fn replaced_jar_uses_upper_layer() {
    let jar = fs::read(fixtures().join("trivy-test-jar/test.jar")).unwrap();
    let lower = layer(&[("/app/lib.jar", &jar)]);
    let upper = layer(&[("/app/lib.jar", b"plain text now")]);
    let (catalog, warnings) = catalog_layers(&[lower, upper]);
    assert!(catalog.packages.is_empty(), "{:?}", catalog.packages);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert_eq!(warnings[0].path, "/app/lib.jar");
}

// --- Debian jars in a war built with the JDK's jar tool ---

const DEBIAN_JARS: [(&str, &str, &str, &str); 2] = [
    (
        "/usr/share/java/commons-lang3.jar",
        "commons-lang3",
        "3.12.0",
        "pkg:maven/org.apache.commons/commons-lang3@3.12.0",
    ),
    (
        "/usr/share/java/jackson-core.jar",
        "jackson-core",
        "2.14.1",
        "pkg:maven/com.fasterxml.jackson.core/jackson-core@2.14.1",
    ),
];

fn require_tool(tool: &str, package: &str) -> Option<()> {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .output()
        .is_ok_and(|output| output.status.success());
    if found {
        Some(())
    } else {
        docker::fail_or_skip(tool, &format!("install {package} (scripts/setup.sh does)"))
    }
}

fn run_command(command: &mut Command) {
    let output = command
        .output()
        .unwrap_or_else(|error| panic!("failed to run {command:?}: {error}"));
    assert!(
        output.status.success(),
        "{command:?} failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn debian_jars() -> Option<Vec<(String, Vec<u8>)>> {
    let mut jars = Vec::new();
    for (path, ..) in DEBIAN_JARS {
        match fs::read(path) {
            Ok(bytes) => jars.push((path.to_owned(), bytes)),
            Err(error) => {
                return docker::fail_or_skip(
                    path,
                    &format!(
                        "{error}; install libcommons-lang3-java and libjackson2-core-java \
                         (scripts/setup.sh does)"
                    ),
                );
            }
        }
    }
    Some(jars)
}

#[test]
fn debian_jars_give_maven_coordinates() {
    let Some(jars) = debian_jars() else {
        return;
    };
    let borrowed: Vec<(&str, &[u8])> = jars
        .iter()
        .map(|(path, bytes)| (path.as_str(), bytes.as_slice()))
        .collect();
    let (catalog, warnings) = catalog_layers(&[layer(&borrowed)]);
    assert!(warnings.is_empty(), "{warnings:?}");
    let java = of_kind(&catalog, &[PackageType::JavaArchive]);
    for (path, name, version, purl) in DEBIAN_JARS {
        let package = find(&java, name);
        assert_eq!(package.version, version, "{name}");
        assert_eq!(package.purl, purl, "{name}");
        assert_eq!(package.locations[0].path, path, "{name}");
        assert_eq!(package.metadata["virtualPath"], path, "{name}");
        assert_eq!(package.metadata["pomProperties"]["artifactId"], name);
        let sha1 = &package.metadata["digest"][0]["value"];
        let bytes = fs::read(path).unwrap();
        let expected = hex::encode(sha1::Sha1::digest(&bytes));
        assert_eq!(sha1, &Value::from(expected), "{name}");
    }
}

/// Builds `shop-web.war` containing its own manifest and pom.properties, the two Debian jars in
/// `WEB-INF/lib/`, and `bundle.jar`, which contains `lib/inner-2.0.1.jar` one level deeper.
fn build_war(work: &Path, jars: &[(String, Vec<u8>)]) -> PathBuf {
    let inner = work.join("inner");
    fs::create_dir_all(inner.join("com/example")).unwrap();
    fs::write(inner.join("com/example/Inner.txt"), "inner").unwrap();
    fs::write(
        work.join("inner.mf"),
        "Implementation-Title: inner\nImplementation-Version: 2.0.1\n",
    )
    .unwrap();
    let bundle = work.join("bundle/lib");
    fs::create_dir_all(&bundle).unwrap();
    run_command(
        Command::new("jar")
            .arg("cfm")
            .arg(bundle.join("inner-2.0.1.jar"))
            .arg(work.join("inner.mf"))
            .arg("-C")
            .arg(&inner)
            .arg("."),
    );
    fs::write(
        work.join("bundle.mf"),
        "Implementation-Title: bundle\nImplementation-Version: 0.3\n",
    )
    .unwrap();
    let war_root = work.join("war");
    let lib = war_root.join("WEB-INF/lib");
    fs::create_dir_all(&lib).unwrap();
    run_command(
        Command::new("jar")
            .arg("cfm")
            .arg(lib.join("bundle.jar"))
            .arg(work.join("bundle.mf"))
            .arg("-C")
            .arg(work.join("bundle"))
            .arg("."),
    );
    for (path, bytes) in jars {
        let name = Path::new(path).file_name().unwrap();
        fs::write(lib.join(name), bytes).unwrap();
    }
    let maven = war_root.join("META-INF/maven/com.example.shop/shop-web");
    fs::create_dir_all(&maven).unwrap();
    fs::write(
        maven.join("pom.properties"),
        "groupId=com.example.shop\nartifactId=shop-web\nversion=1.7.0\n",
    )
    .unwrap();
    fs::write(
        work.join("war.mf"),
        "Implementation-Title: shop\nImplementation-Version: 1.7.0\n",
    )
    .unwrap();
    let war = work.join("shop-web.war");
    run_command(
        Command::new("jar")
            .arg("cfm")
            .arg(&war)
            .arg(work.join("war.mf"))
            .arg("-C")
            .arg(&war_root)
            .arg("."),
    );
    war
}

#[test]
fn war_with_nested_jars() {
    let (Some(()), Some(jars)) = (require_tool("jar", "a JDK"), debian_jars()) else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let war = fs::read(build_war(work.path(), &jars)).unwrap();
    let (catalog, warnings) = catalog_layers(&[layer(&[("/srv/shop-web.war", &war)])]);
    assert!(warnings.is_empty(), "{warnings:?}");
    let java = of_kind(&catalog, &[PackageType::JavaArchive]);
    let summary: Vec<(String, String, String)> = java
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.version.clone(),
                p.metadata["virtualPath"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                "bundle".to_owned(),
                "0.3".to_owned(),
                "/srv/shop-web.war:WEB-INF/lib/bundle.jar".to_owned()
            ),
            (
                "commons-lang3".to_owned(),
                "3.12.0".to_owned(),
                "/srv/shop-web.war:WEB-INF/lib/commons-lang3.jar".to_owned()
            ),
            (
                "inner".to_owned(),
                "2.0.1".to_owned(),
                "/srv/shop-web.war:WEB-INF/lib/bundle.jar:lib/inner-2.0.1.jar".to_owned()
            ),
            (
                "jackson-core".to_owned(),
                "2.14.1".to_owned(),
                "/srv/shop-web.war:WEB-INF/lib/jackson-core.jar".to_owned()
            ),
            (
                "shop-web".to_owned(),
                "1.7.0".to_owned(),
                "/srv/shop-web.war".to_owned()
            ),
        ]
    );

    // As in syft 1.18.1, each nested archive's package is a dependency of the one around it.
    assert_eq!(
        edges(&catalog),
        pairs(&[
            ("bundle", "shop-web"),
            ("commons-lang3", "shop-web"),
            ("inner", "bundle"),
            ("jackson-core", "shop-web"),
        ])
    );
    let shop = find(&java, "shop-web");
    assert_eq!(shop.purl, "pkg:maven/com.example.shop/shop-web@1.7.0");
    let inner = find(&java, "inner");
    assert_eq!(inner.purl, "pkg:maven/inner/inner@2.0.1");
    assert_eq!(inner.locations[0].path, "/srv/shop-web.war");
    assert_eq!(
        inner.locations[0].access_path.as_deref(),
        Some("/srv/shop-web.war:WEB-INF/lib/bundle.jar:lib/inner-2.0.1.jar")
    );
    let lang = find(&java, "commons-lang3");
    assert_eq!(
        lang.purl,
        "pkg:maven/org.apache.commons/commons-lang3@3.12.0"
    );
    // syft 1.18.1 gives these four for Debian's commons-lang3: the group ID names apache.
    let cpes: Vec<&str> = lang.cpes.iter().map(|cpe| cpe.cpe).collect();
    assert_eq!(
        cpes,
        [
            "cpe:2.3:a:apache:commons-lang3:3.12.0:*:*:*:*:*:*:*",
            "cpe:2.3:a:apache:commons_lang3:3.12.0:*:*:*:*:*:*:*",
            "cpe:2.3:a:apache:commons:3.12.0:*:*:*:*:*:*:*",
            "cpe:2.3:a:apache:lang3:3.12.0:*:*:*:*:*:*:*",
        ]
    );
    // jackson-core has no apache field and keeps all 24 candidates, as in syft.
    let jackson = find(&java, "jackson-core");
    assert_eq!(jackson.cpes.len(), 24, "{:?}", jackson.cpes);
    assert_eq!(
        jackson.cpes.first().unwrap().cpe,
        "cpe:2.3:a:com.fasterxml.jackson.core:jackson-core:2.14.1:*:*:*:*:*:*:*"
    );
}

#[test]
fn large_jar_is_spooled_to_disk() {
    let Some(()) = require_tool("jar", "a JDK") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let content = work.path().join("content");
    fs::create_dir_all(&content).unwrap();
    // Stored without compression (`jar -0`), so the jar is larger than the in-memory bound.
    let mut filler = fs::File::create(content.join("filler.bin")).unwrap();
    let block: Vec<u8> = (0..1024 * 1024).map(|i| (i * 7 % 251) as u8).collect();
    for _ in 0..(SPOOL_IN_MEMORY / block.len() as u64 + 1) {
        filler.write_all(&block).unwrap();
    }
    drop(filler);
    fs::write(work.path().join("big.mf"), "Implementation-Version: 9.9\n").unwrap();
    let jar_path = work.path().join("big-9.9.jar");
    run_command(
        Command::new("jar")
            .arg("cfm0")
            .arg(&jar_path)
            .arg(work.path().join("big.mf"))
            .arg("-C")
            .arg(&content)
            .arg("."),
    );
    let jar = fs::read(&jar_path).unwrap();
    assert!(jar.len() as u64 > SPOOL_IN_MEMORY);
    let (catalog, warnings) = catalog_layers(&[layer(&[("/opt/big-9.9.jar", &jar)])]);
    assert!(warnings.is_empty(), "{warnings:?}");
    let java = of_kind(&catalog, &[PackageType::JavaArchive]);
    let big = find(&java, "big");
    assert_eq!(big.version, "9.9");
    assert_eq!(
        big.metadata["digest"][0]["value"],
        Value::from(hex::encode(sha1::Sha1::digest(&jar)))
    );
}

// --- Go ---

const GO_MAIN: &str = r#"package main

import (
	"fmt"

	"example.com/inlinescan/greet"
	"example.com/inlinescan/shout"
)

var version = "unset"

func main() {
	fmt.Println(greet.Hello(), shout.Loud("x"), version)
}
"#;

/// The files of the module `example.com/inlinescan/shout@v1.3.0`, served from a file-based
/// module proxy so the go command computes and records its h1 hash.
const SHOUT_FILES: [(&str, &str); 2] = [
    ("go.mod", "module example.com/inlinescan/shout\n\ngo 1.19\n"),
    (
        "shout.go",
        "package shout\n\nimport \"strings\"\n\nfunc Loud(s string) string { return strings.ToUpper(s) }\n",
    ),
];
const SHOUT_MODULE: &str = "example.com/inlinescan/shout";
const SHOUT_VERSION: &str = "v1.3.0";

/// Computes a module's `h1:` hash as the go command defines it: the sha256 of the sorted lines
/// `<sha256 hex>  <module>@<version>/<file>` in file name order, base64-encoded.
fn module_h1() -> String {
    let mut files = SHOUT_FILES.to_vec();
    files.sort();
    let lines: Vec<String> = files
        .iter()
        .map(|(name, contents)| {
            format!(
                "{}  {SHOUT_MODULE}@{SHOUT_VERSION}/{name}\n",
                hex::encode(Sha256::digest(contents.as_bytes()))
            )
        })
        .collect();
    let summary = Sha256::digest(lines.concat().as_bytes());
    format!(
        "h1:{}",
        base64::engine::general_purpose::STANDARD.encode(summary)
    )
}

/// Writes a file-based module proxy holding the `shout` module.
fn write_proxy(root: &Path) {
    let dir = root.join(SHOUT_MODULE).join("@v");
    fs::create_dir_all(&dir).unwrap();
    fs::write(dir.join("list"), format!("{SHOUT_VERSION}\n")).unwrap();
    fs::write(
        dir.join(format!("{SHOUT_VERSION}.info")),
        format!("{{\"Version\":\"{SHOUT_VERSION}\",\"Time\":\"2024-01-02T03:04:05Z\"}}"),
    )
    .unwrap();
    fs::write(dir.join(format!("{SHOUT_VERSION}.mod")), SHOUT_FILES[0].1).unwrap();
    let zip_file = fs::File::create(dir.join(format!("{SHOUT_VERSION}.zip"))).unwrap();
    let mut zip = zip::ZipWriter::new(zip_file);
    for (name, contents) in SHOUT_FILES {
        zip.start_file(
            format!("{SHOUT_MODULE}@{SHOUT_VERSION}/{name}"),
            zip::write::SimpleFileOptions::default(),
        )
        .unwrap();
        zip.write_all(contents.as_bytes()).unwrap();
    }
    zip.finish().unwrap();
}

/// Builds the Go test program: the main module, a dependency replaced by a local directory,
/// and one from the module proxy. Returns the binary's path.
fn build_go(work: &Path, ldflags: &str) -> PathBuf {
    let app = work.join("app");
    fs::create_dir_all(app.join("greet")).unwrap();
    fs::write(
        app.join("go.mod"),
        format!(
            "module example.com/inlinescan/hello\n\ngo 1.19\n\nrequire (\n\
             \texample.com/inlinescan/greet v0.0.0\n\t{SHOUT_MODULE} {SHOUT_VERSION}\n)\n\n\
             replace example.com/inlinescan/greet => ./greet\n"
        ),
    )
    .unwrap();
    fs::write(app.join("main.go"), GO_MAIN).unwrap();
    fs::write(
        app.join("greet/go.mod"),
        "module example.com/inlinescan/greet\n\ngo 1.19\n",
    )
    .unwrap();
    fs::write(
        app.join("greet/greet.go"),
        "package greet\n\nfunc Hello() string { return \"hello\" }\n",
    )
    .unwrap();
    write_proxy(&work.join("proxy"));
    let binary = work.join("hello");
    run_command(
        Command::new("go")
            .current_dir(&app)
            .env(
                "GOPROXY",
                format!("file://{}", work.join("proxy").display()),
            )
            .env("GOSUMDB", "off")
            .env("GOFLAGS", "-mod=mod")
            .env("GOPATH", work.join("gopath"))
            .env("GOCACHE", work.join("gocache"))
            .env("CGO_ENABLED", "0")
            .args(["build", "-buildvcs=false"])
            .arg(format!("-ldflags={ldflags}"))
            .arg("-o")
            .arg(&binary)
            .arg("."),
    );
    binary
}

fn go_version() -> String {
    let output = Command::new("go")
        .args(["env", "GOVERSION"])
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

#[test]
fn go_binary_modules_and_stdlib() {
    let Some(()) = require_tool("go", "golang-go") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let binary = fs::read(build_go(work.path(), "-X main.version=1.4.2")).unwrap();
    let (catalog, warnings) = catalog_layers(&[layer(&[("/usr/local/bin/hello", &binary)])]);
    assert!(warnings.is_empty(), "{warnings:?}");
    let go = of_kind(&catalog, &[PackageType::GoModule]);
    let names: Vec<&str> = go.iter().map(|p| p.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "./greet",
            "example.com/inlinescan/hello",
            SHOUT_MODULE,
            "stdlib"
        ]
    );

    // As in syft 1.18.1, every other module of the binary is a dependency of the main one.
    assert_eq!(
        edges(&catalog),
        pairs(&[
            ("./greet", "example.com/inlinescan/hello"),
            (SHOUT_MODULE, "example.com/inlinescan/hello"),
            ("stdlib", "example.com/inlinescan/hello"),
        ])
    );
    let main = find(&go, "example.com/inlinescan/hello");
    assert_eq!(main.version, "v1.4.2");
    assert_eq!(main.purl, "pkg:golang/example.com/inlinescan/hello@v1.4.2");
    assert_eq!(
        main.cpes.first().unwrap().cpe,
        "cpe:2.3:a:inlinescan:hello:v1.4.2:*:*:*:*:*:*:*"
    );
    assert_eq!(main.metadata["mainModule"], "example.com/inlinescan/hello");
    assert_eq!(main.metadata["architecture"], "amd64");
    let settings = main.metadata["goBuildSettings"].as_array().unwrap();
    let ldflags = settings
        .iter()
        .find(|setting| setting["key"] == "-ldflags")
        .unwrap();
    assert_eq!(ldflags["value"], "-X main.version=1.4.2");
    assert!(
        settings
            .iter()
            .any(|s| s["key"] == "GOOS" && s["value"] == "linux")
    );

    let shout = find(&go, SHOUT_MODULE);
    assert_eq!(shout.version, SHOUT_VERSION);
    assert_eq!(shout.purl, "pkg:golang/example.com/inlinescan/shout@v1.3.0");
    assert_eq!(shout.metadata["h1Digest"], Value::from(module_h1()));
    assert!(shout.metadata.get("goBuildSettings").is_none());

    let replaced = find(&go, "./greet");
    assert!(replaced.metadata.get("h1Digest").is_none());

    let version = go_version();
    let stdlib = find(&go, "stdlib");
    assert_eq!(stdlib.version, version);
    let plain = version.trim_start_matches("go");
    assert_eq!(stdlib.purl, format!("pkg:golang/stdlib@{plain}"));
    assert_eq!(
        stdlib.cpes.first().unwrap().cpe,
        format!("cpe:2.3:a:golang:go:{plain}:-:*:*:*:*:*:*")
    );
    assert_eq!(stdlib.metadata["goCompiledVersion"], Value::from(version));
}

#[test]
fn go_binary_without_version_flag_is_devel() {
    let Some(()) = require_tool("go", "golang-go") else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let binary = fs::read(build_go(work.path(), "-s -w")).unwrap();
    let (catalog, warnings) = catalog_layers(&[layer(&[("/app/hello", &binary)])]);
    assert!(warnings.is_empty(), "{warnings:?}");
    let go = of_kind(&catalog, &[PackageType::GoModule]);
    let main = find(&go, "example.com/inlinescan/hello");
    assert_eq!(main.version, "(devel)");
    assert_eq!(main.purl, "pkg:golang/example.com/inlinescan/hello@(devel)");
    assert_eq!(
        main.cpes.first().unwrap().cpe,
        r"cpe:2.3:a:inlinescan:hello:\(devel\):*:*:*:*:*:*:*"
    );
    // syft 1.18.1 gives a replaced local module no CPE.
    let replaced = find(&go, "./greet");
    assert_eq!(replaced.version, "(devel)");
    assert_eq!(replaced.purl, "pkg:golang/./greet@(devel)");
    assert!(replaced.cpes.is_empty(), "{:?}", replaced.cpes);
}

#[test]
fn non_go_elf_gives_nothing() {
    let elf = fs::read("/bin/sh").unwrap();
    let (catalog, warnings) = catalog_layers(&[layer(&[("/bin/sh", &elf)])]);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert!(catalog.packages.is_empty(), "{:?}", catalog.packages);
}

// --- Rust ---

fn cargo() -> String {
    std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

/// Builds an offline Rust program with `cargo auditable`: a path dependency, `hex` from the
/// local registry cache, and a path build-dependency, which must not be reported.
fn build_rust(work: &Path) -> PathBuf {
    let app = work.join("hello-rs");
    for (path, contents) in [
        (
            "Cargo.toml",
            "[package]\nname = \"hello-rs\"\nversion = \"0.2.0\"\nedition = \"2021\"\n\n\
             [dependencies]\ngreet-rs = { path = \"greet-rs\" }\nhex = \"0.4\"\n\n\
             [build-dependencies]\nbuild-helper = { path = \"build-helper\" }\n",
        ),
        (
            "src/main.rs",
            "fn main() { println!(\"{} {}\", greet_rs::hello(), hex::encode([1u8])); }\n",
        ),
        ("build.rs", "fn main() { build_helper::touch(); }\n"),
        (
            "greet-rs/Cargo.toml",
            "[package]\nname = \"greet-rs\"\nversion = \"0.1.3\"\nedition = \"2021\"\n",
        ),
        (
            "greet-rs/src/lib.rs",
            "pub fn hello() -> &'static str { \"hello\" }\n",
        ),
        (
            "build-helper/Cargo.toml",
            "[package]\nname = \"build-helper\"\nversion = \"0.0.1\"\nedition = \"2021\"\n",
        ),
        ("build-helper/src/lib.rs", "pub fn touch() {}\n"),
    ] {
        let target = app.join(path);
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::write(target, contents).unwrap();
    }
    run_command(
        Command::new(cargo())
            .current_dir(&app)
            .env("CARGO_TARGET_DIR", work.join("target"))
            .env_remove("RUSTFLAGS")
            .args(["auditable", "build", "--offline", "--quiet"]),
    );
    work.join("target/debug/hello-rs")
}

fn hex_version(work: &Path) -> String {
    let lock = fs::read_to_string(work.join("hello-rs/Cargo.lock")).unwrap();
    let section = lock
        .split("[[package]]")
        .find(|s| s.contains("name = \"hex\""))
        .unwrap();
    section
        .lines()
        .find_map(|line| line.strip_prefix("version = \""))
        .unwrap()
        .trim_end_matches('"')
        .to_owned()
}

#[test]
fn rust_auditable_binary_crates() {
    let auditable = Command::new(cargo())
        .args(["auditable", "--version"])
        .output()
        .is_ok_and(|output| output.status.success());
    if !auditable
        && docker::fail_or_skip::<()>(
            "cargo-auditable",
            "install it with `cargo install cargo-auditable` (scripts/setup.sh does)",
        )
        .is_none()
    {
        return;
    }
    let work = tempfile::tempdir().unwrap();
    let binary = fs::read(build_rust(work.path())).unwrap();
    let (catalog, warnings) = catalog_layers(&[layer(&[("/usr/bin/hello-rs", &binary)])]);
    assert!(warnings.is_empty(), "{warnings:?}");
    let crates = of_kind(&catalog, &[PackageType::RustCrate]);
    let hex = hex_version(work.path());
    let found: Vec<(String, String, String, String)> = crates
        .iter()
        .map(|p| {
            (
                p.name.clone(),
                p.version.clone(),
                p.purl.clone(),
                p.metadata["source"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        found,
        [
            (
                "greet-rs".to_owned(),
                "0.1.3".to_owned(),
                "pkg:cargo/greet-rs@0.1.3".to_owned(),
                "local".to_owned()
            ),
            (
                "hello-rs".to_owned(),
                "0.2.0".to_owned(),
                "pkg:cargo/hello-rs@0.2.0".to_owned(),
                "local".to_owned()
            ),
            (
                "hex".to_owned(),
                hex.clone(),
                format!("pkg:cargo/hex@{hex}"),
                "crates.io".to_owned()
            ),
        ]
    );
    assert!(
        crates
            .iter()
            .all(|p| p.found_by == "cargo-auditable-binary-cataloger")
    );

    // The CPEs syft 1.18.1 gives these crates: separator variations and the name's prefix.
    let greet: Vec<&str> = find(&crates, "greet-rs")
        .cpes
        .iter()
        .map(|cpe| cpe.cpe)
        .collect();
    assert_eq!(
        greet,
        [
            "cpe:2.3:a:greet-rs:greet-rs:0.1.3:*:*:*:*:*:*:*",
            "cpe:2.3:a:greet-rs:greet_rs:0.1.3:*:*:*:*:*:*:*",
            "cpe:2.3:a:greet_rs:greet-rs:0.1.3:*:*:*:*:*:*:*",
            "cpe:2.3:a:greet_rs:greet_rs:0.1.3:*:*:*:*:*:*:*",
            "cpe:2.3:a:greet:greet-rs:0.1.3:*:*:*:*:*:*:*",
            "cpe:2.3:a:greet:greet_rs:0.1.3:*:*:*:*:*:*:*",
        ]
    );
    let hex_cpes: Vec<&str> = find(&crates, "hex")
        .cpes
        .iter()
        .map(|cpe| cpe.cpe)
        .collect();
    assert_eq!(hex_cpes, [format!("cpe:2.3:a:hex:hex:{hex}:*:*:*:*:*:*:*")]);
    // The Rust binary is ELF too, but not a Go binary.
    assert!(of_kind(&catalog, &[PackageType::GoModule]).is_empty());
}

// --- One image, three sources ---

const E2E_IMAGE: &str = "inline-scan-test/binaries:1";

/// Returns each package as `type name version purl path access-path`, sorted.
fn package_lines(catalog: &Catalog) -> Vec<String> {
    let mut lines: Vec<String> = catalog
        .packages
        .iter()
        .map(|p| {
            format!(
                "{} {} {} {} {} {}",
                p.kind.as_str(),
                p.name,
                p.version,
                p.purl,
                p.locations[0].path,
                p.locations[0].access_path.as_deref().unwrap_or("-")
            )
        })
        .collect();
    lines.sort();
    lines
}

/// Copies the package databases of every OS and language ecosystem from the catalog fixtures
/// into `context`, one directory per Dockerfile layer: a Debian root (os-release, dpkg
/// status), an apk installed db, an rpm sqlite db, and a Python dist-info, an npm package and
/// a gemspec. Returns the number of layers written.
fn every_ecosystem_context(context: &Path) -> usize {
    let catalog = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/catalog");
    let copies: [(&str, &str, &str); 10] = [
        (
            "debian",
            "distro/debian-point/etc/os-release",
            "/etc/os-release",
        ),
        (
            "debian",
            "distro/debian-point/etc/debian_version",
            "/etc/debian_version",
        ),
        (
            "debian",
            "dpkg/multiple/var/lib/dpkg/status",
            "/var/lib/dpkg/status",
        ),
        (
            "alpine",
            "apk/single/lib/apk/db/installed",
            "/lib/apk/db/installed",
        ),
        (
            "rpm",
            "rpm/sqlite-sbomtest/var/lib/rpm/rpmdb.sqlite",
            "/var/lib/rpm/rpmdb.sqlite",
        ),
        (
            "languages",
            "python/dist-info-license/site-packages/with-license-file-declared.dist-info/METADATA",
            "/usr/local/lib/python3.11/site-packages/pygments-2.6.1.dist-info/METADATA",
        ),
        (
            "languages",
            "python/dist-info-license/site-packages/with-license-file-declared.dist-info/RECORD",
            "/usr/local/lib/python3.11/site-packages/pygments-2.6.1.dist-info/RECORD",
        ),
        (
            "languages",
            "python/dist-info-license/site-packages/with-license-file-declared.dist-info/top_level.txt",
            "/usr/local/lib/python3.11/site-packages/pygments-2.6.1.dist-info/top_level.txt",
        ),
        (
            "languages",
            "npm/package-json/node_modules/npm/package.json",
            "/srv/app/node_modules/npm/package.json",
        ),
        (
            "languages",
            "ruby/gemspec-bundler/usr/lib/ruby/gems/3.0.0/specifications/bundler-2.1.4.gemspec",
            "/usr/lib/ruby/gems/3.0.0/specifications/bundler-2.1.4.gemspec",
        ),
    ];
    let mut layers = std::collections::BTreeSet::new();
    for (layer, from, to) in copies {
        let target = context.join(layer).join(to.trim_start_matches('/'));
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::copy(catalog.join(from), &target)
            .unwrap_or_else(|error| panic!("copy {from}: {error}"));
        layers.insert(layer);
    }
    layers.len()
}

/// Groups `type name version` by package type, from lines of [`package_lines`].
fn names_by_type(lines: &[String]) -> std::collections::BTreeMap<String, Vec<String>> {
    let mut grouped: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for line in lines {
        let mut fields = line.split(' ');
        let kind = fields.next().unwrap().to_owned();
        let name = fields.next().unwrap();
        let version = fields.next().unwrap();
        grouped
            .entry(kind)
            .or_default()
            .push(format!("{name} {version}"));
    }
    grouped
}

/// A FROM scratch image with every ecosystem inline-scan catalogs, in seven layers: the OS
/// package databases of Debian, Alpine and rpm, Python, npm and Ruby metadata, and the Go,
/// Rust and Java builds above. Daemon, `docker save` tarball and OCI layout must give the
/// same packages, and the command line the same again in syft JSON that validates.
#[tokio::test]
async fn every_ecosystem_image_from_three_sources() {
    let (Some(()), Some(()), Some(()), Some(jars)) = (
        require_tool("go", "golang-go"),
        require_tool("jar", "a JDK"),
        require_tool("skopeo", "skopeo"),
        debian_jars(),
    ) else {
        return;
    };
    let Some(daemon) = docker::require_daemon().await else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let context = work.path().join("context");
    fs::create_dir_all(&context).unwrap();
    fs::copy(
        build_go(work.path(), "-X main.version=1.4.2"),
        context.join("hello"),
    )
    .unwrap();
    fs::copy(build_rust(work.path()), context.join("hello-rs")).unwrap();
    fs::copy(build_war(work.path(), &jars), context.join("shop-web.war")).unwrap();
    let context_layers = every_ecosystem_context(&context);
    fs::write(
        context.join("Dockerfile"),
        "FROM scratch\nCOPY debian/ /\nCOPY alpine/ /\nCOPY rpm/ /\nCOPY languages/ /\n\
         COPY hello /usr/local/bin/hello\nCOPY hello-rs /usr/bin/hello-rs\n\
         COPY shop-web.war /srv/shop-web.war\n",
    )
    .unwrap();
    docker::docker_cli(&[
        "build",
        "--network",
        "none",
        "-t",
        E2E_IMAGE,
        context.to_str().unwrap(),
    ])
    .unwrap();

    let policy = capture();
    let limits = Limits::default();
    let image = inline_scan::source::daemon::inspect(&daemon, E2E_IMAGE)
        .await
        .unwrap();
    let reader = inline_scan::source::daemon::export_reader(&daemon, &image.id);
    let from_daemon = tokio::task::spawn_blocking(move || {
        let policy = capture();
        inline_scan::source::archive::read_docker_archive(
            reader,
            "daemon".to_owned(),
            None,
            None,
            &policy,
            &Limits::default(),
        )
        .unwrap()
    })
    .await
    .unwrap();

    let tarball = work.path().join("image.tar");
    docker::docker_cli(&["save", "-o", tarball.to_str().unwrap(), E2E_IMAGE]).unwrap();
    let from_tarball = inline_scan::source::archive::read_docker_archive_file(
        &tarball, None, None, &policy, &limits,
    )
    .unwrap();

    let layout = work.path().join("layout");
    run_command(Command::new("skopeo").args([
        "copy",
        "--quiet",
        &format!("docker-archive:{}", tarball.display()),
        &format!("oci:{}:binaries", layout.display()),
    ]));
    let from_layout =
        inline_scan::source::oci::read_oci_dir(&layout, None, None, &policy, &limits).unwrap();

    let daemon_lines = package_lines(&run(&from_daemon.tree, &policy.catalogers).0);
    let tarball_lines = package_lines(&run(&from_tarball.tree, &policy.catalogers).0);
    let layout_lines = package_lines(&run(&from_layout.tree, &policy.catalogers).0);
    assert_eq!(context_layers, 4);
    for image in [&from_daemon, &from_tarball, &from_layout] {
        assert_eq!(
            image.layers.len(),
            context_layers + 3,
            "{}",
            image.description
        );
    }
    let go = go_version();
    let hex = hex_version(work.path());
    let expected_names: std::collections::BTreeMap<String, Vec<String>> = [
        ("apk", vec!["musl-utils 1.1.24-r2".to_owned()]),
        (
            "deb",
            vec![
                "no-version UNKNOWN".to_owned(),
                "tzdata 2020a-0+deb10u1".to_owned(),
                "util-linux 2.33.1-0.1".to_owned(),
            ],
        ),
        ("gem", vec!["bundler 2.1.4".to_owned()]),
        (
            "go-module",
            vec![
                "./greet (devel)".to_owned(),
                "example.com/inlinescan/hello v1.4.2".to_owned(),
                format!("{SHOUT_MODULE} {SHOUT_VERSION}"),
                format!("stdlib {go}"),
            ],
        ),
        (
            "java-archive",
            vec![
                "bundle 0.3".to_owned(),
                "commons-lang3 3.12.0".to_owned(),
                "inner 2.0.1".to_owned(),
                "jackson-core 2.14.1".to_owned(),
                "shop-web 1.7.0".to_owned(),
            ],
        ),
        ("npm", vec!["npm 6.14.6".to_owned()]),
        ("python", vec!["pygments 2.6.1".to_owned()]),
        (
            "rpm",
            vec![
                "sbom-hello 1.0-1".to_owned(),
                "sbom-lib 2:0.5-3.sbt".to_owned(),
            ],
        ),
        (
            "rust-crate",
            vec![
                "greet-rs 0.1.3".to_owned(),
                "hello-rs 0.2.0".to_owned(),
                format!("hex {hex}"),
            ],
        ),
    ]
    .into_iter()
    .map(|(kind, names)| (kind.to_owned(), names))
    .collect();
    assert_eq!(names_by_type(&daemon_lines), expected_names);
    // The Debian os-release sets the distro of the OS package purls.
    for purl in [
        "pkg:deb/debian/tzdata@2020a-0%2Bdeb10u1?arch=all&distro=debian-13&upstream=tzdata-dev",
        "pkg:apk/debian/musl-utils@1.1.24-r2?arch=x86_64&distro=debian-13&upstream=musl",
        "pkg:rpm/debian/sbom-lib@0.5-3.sbt?arch=noarch&distro=debian-13&epoch=2\
         &upstream=sbom-lib-0.5-3.sbt.src.rpm",
        "pkg:pypi/pygments@2.6.1",
        "pkg:gem/bundler@2.1.4",
        "pkg:npm/npm@6.14.6",
        "pkg:golang/example.com/inlinescan/hello@v1.4.2",
        "pkg:maven/com.example.shop/shop-web@1.7.0",
        "pkg:cargo/hello-rs@0.2.0",
    ] {
        assert!(
            daemon_lines
                .iter()
                .any(|line| line.contains(&format!(" {purl} "))),
            "no {purl} in {daemon_lines:#?}"
        );
    }
    assert_eq!(daemon_lines, tarball_lines);
    assert_eq!(daemon_lines, layout_lines);

    // The command line runs the same extractors, and its syft JSON matches syft's schema.
    let sbom_path = work.path().join("sbom.json");
    let output = Command::new(env!("CARGO_BIN_EXE_inline-scan"))
        .args(["analyze", "--no-import"])
        .arg(format!("docker-archive:{}", tarball.display()))
        .arg("--sbom-out")
        .arg(&sbom_path)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let sbom: Value = serde_json::from_slice(&fs::read(&sbom_path).unwrap()).unwrap();
    let schema_path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/schema/syft-json-schema-16.0.18.json");
    let schema: Value = serde_json::from_slice(&fs::read(schema_path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&sbom)
        .map(|error| format!("{error} at {}", error.instance_path))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let mut cli_lines: Vec<String> = sbom["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|artifact| {
            format!(
                "{} {} {} {} {} {}",
                artifact["type"].as_str().unwrap(),
                artifact["name"].as_str().unwrap(),
                artifact["version"].as_str().unwrap(),
                artifact["purl"].as_str().unwrap(),
                artifact["locations"][0]["path"].as_str().unwrap(),
                artifact["locations"][0]["accessPath"].as_str().unwrap(),
            )
        })
        .collect();
    cli_lines.sort();
    let expected: Vec<String> = daemon_lines
        .iter()
        .map(|line| match line.strip_suffix(" -") {
            // syft JSON writes the path itself as the access path of a top-level file.
            Some(prefix) => {
                let path = prefix.rsplit(' ').next().unwrap();
                format!("{prefix} {path}")
            }
            None => line.clone(),
        })
        .collect();
    assert_eq!(cli_lines, expected);
}

// --- Inputs for scripts/parity.sh ---

/// Writes the Go, Rust and Java inputs of the tests above, laid out as they sit in an image,
/// one directory per case under `$INLINE_SCAN_BINARY_INPUTS`, so that scripts/parity.sh can
/// run syft on the very files these tests catalog. Ignored because it checks nothing: the
/// script runs it with `--ignored`.
#[test]
#[ignore = "generator for scripts/parity.sh"]
fn write_binary_inputs() {
    let out = PathBuf::from(
        std::env::var_os("INLINE_SCAN_BINARY_INPUTS")
            .expect("set INLINE_SCAN_BINARY_INPUTS to the output directory"),
    );
    let work = tempfile::tempdir().unwrap();
    let place = |case: &str, path: &str, from: &Path| {
        let target = out.join(case).join(path.trim_start_matches('/'));
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::copy(from, target).unwrap();
    };

    let go_work = work.path().join("go-version");
    place(
        "golang/version-flag",
        "/usr/local/bin/hello",
        &build_go(&go_work, "-X main.version=1.4.2"),
    );
    let devel_work = work.path().join("go-devel");
    place(
        "golang/devel",
        "/app/hello",
        &build_go(&devel_work, "-s -w"),
    );

    let rust_work = work.path().join("rust");
    fs::create_dir_all(&rust_work).unwrap();
    place(
        "rust/auditable",
        "/usr/bin/hello-rs",
        &build_rust(&rust_work),
    );

    let jars = debian_jars().expect("the Debian jars are installed");
    for (path, _) in &jars {
        place("java/debian-jars", path, Path::new(path));
    }
    let war_work = work.path().join("war");
    fs::create_dir_all(&war_work).unwrap();
    place(
        "java/nested-war",
        "/srv/shop-web.war",
        &build_war(&war_work, &jars),
    );
}
