//! Catalogs a directory as if it were an image with one layer and prints the packages and
//! their dependencies as JSON, with syft JSON's key names. scripts/parity.sh runs it on the
//! fixture cases and the built binaries, which are directories and not images. The directory
//! is packed into a layer tar and read by the same layer walk as an image, so the extractors
//! (archives, executables) see it as they would in a layer.
//!
//! Usage: `cargo run --example catalog-dir -- DIR`

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use std::sync::Arc;

use inline_scan::catalog::CatalogerCapture;
use inline_scan::catalog::registry::{default_catalogers, run};
use inline_scan::layer::scan_layer;
use inline_scan::source::Limits;
use inline_scan::squash::Squasher;
use serde_json::json;

/// Packs `root` into an uncompressed layer tar, keeping symlinks as links.
fn pack(root: &std::path::Path) -> std::io::Result<Vec<u8>> {
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder.append_dir_all(".", root)?;
    builder.into_inner()
}

fn main() -> ExitCode {
    let Some(root) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: catalog-dir DIR");
        return ExitCode::from(2);
    };
    let policy = CatalogerCapture {
        catalogers: Arc::new(default_catalogers()),
    };
    let catalogers = &policy.catalogers;
    let layer = match pack(&root) {
        Ok(layer) => layer,
        Err(error) => {
            eprintln!("catalog-dir: could not read {}: {error}", root.display());
            return ExitCode::FAILURE;
        }
    };
    let scan = match scan_layer(&layer[..], &policy, &Limits::default()) {
        Ok(scan) => scan,
        Err(error) => {
            eprintln!("catalog-dir: {error}");
            return ExitCode::FAILURE;
        }
    };

    let mut squasher = Squasher::new();
    squasher.add_layer(scan);
    let tree = squasher.finish();
    let (catalog, warnings) = run(&tree, catalogers);

    for warning in &warnings {
        eprintln!("catalog-dir: warning: {warning}");
    }

    let label = |index: usize| {
        let package = &catalog.packages[index];
        json!({"type": package.kind.as_str(), "name": package.name, "version": package.version})
    };
    let artifacts: Vec<_> = catalog
        .packages
        .iter()
        .map(|package| {
            json!({
                "name": package.name,
                "version": package.version,
                "type": package.kind.as_str(),
                "foundBy": package.found_by,
                "purl": package.purl,
                "cpes": package.cpes.iter().map(|cpe| json!({"cpe": cpe.cpe})).collect::<Vec<_>>(),
            })
        })
        .collect();
    let dependencies: Vec<_> = catalog
        .relationships
        .dependency_of
        .iter()
        .map(|(dependency, dependent)| json!({"parent": label(*dependency), "child": label(*dependent)}))
        .collect();
    let names: Vec<&str> = catalogers
        .iter()
        .map(|cataloger| cataloger.name())
        .collect();
    let document = json!({
        "artifacts": artifacts,
        "dependencies": dependencies,
        "catalogers": names,
    });
    let mut stdout = std::io::stdout().lock();
    let written = serde_json::to_writer_pretty(&mut stdout, &document)
        .map_err(std::io::Error::from)
        .and_then(|()| stdout.write_all(b"\n"));
    if let Err(error) = written {
        eprintln!("catalog-dir: could not write to standard output: {error}");
        return ExitCode::FAILURE;
    }
    ExitCode::SUCCESS
}
