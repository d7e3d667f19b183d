#!/usr/bin/env python3
"""Write docs/PARITY.md from pairs of syft and inline-scan outputs.

Usage: parity.py INPUTS.tsv SYFT_VERSION > PARITY.md

Each line of INPUTS.tsv is `kind<TAB>label<TAB>syft.json<TAB>ours.json`, as scripts/parity.sh
writes it. The syft file is syft JSON. Ours is either syft JSON (images) or the output of the
`catalog-dir` example (fixture cases), which uses the same artifact keys and lists the
dependency edges by package.
"""

import collections
import json
import sys

# Differences that stay, because syft 1.18.1 is wrong or uses a table inline-scan does not
# carry. Each entry: (input label or "*" for any input, package type, package name, what
# differs, reason, test that checks our side).
KNOWN = [
    (
        "rpm/mariner-manifest",
        "rpm",
        "vim",
        "package",
        "syft reads the epoch from the size column (45000); the manifest's epoch column says 2",
        "mariner_manifest_matches_syft_except_epoch",
    ),
    (
        "rust/auditable (built)",
        "rust-crate",
        "hello-rs",
        "dependency",
        "syft is right: inline-scan does not yet carry the dependency lists of the "
        "cargo-auditable data into the catalog, so crates have no `dependency-of` edges",
        "rust_auditable_binary_crates",
    ),
    (
        "*",
        "apk",
        "musl-utils",
        "cpe",
        "syft adds vendor `musl-libc` for some musl-utils records and not for others, from a "
        "CPE table we do not carry; ours is a subset of syft's candidates",
        "cpes_match_syft_outside_tables",
    ),
]

TYPE_ORDER = [
    "deb",
    "rpm",
    "apk",
    "python",
    "npm",
    "gem",
    "java-archive",
    "go-module",
    "rust-crate",
]


def load(path):
    with open(path, encoding="utf-8") as handle:
        return json.load(handle)


def key_of(artifact):
    return (artifact["type"], artifact["name"], artifact["version"])


def our_catalogers(ours):
    if "catalogers" in ours:
        return set(ours["catalogers"])
    return set(ours["descriptor"]["configuration"]["catalogers"])


def packages(document):
    """Map each (type, name, version) to its artifacts."""
    found = collections.defaultdict(list)
    for artifact in document["artifacts"]:
        found[key_of(artifact)].append(artifact)
    return found


def cpes(artifact):
    return [cpe["cpe"] for cpe in artifact.get("cpes", [])]


def syft_edges(document, keep):
    """Return the dependency-of edges among artifacts whose foundBy is in `keep`."""
    by_id = {a["id"]: a for a in document["artifacts"]}
    edges = set()
    for relationship in document["artifactRelationships"]:
        if relationship["type"] != "dependency-of":
            continue
        parent = by_id.get(relationship["parent"])
        child = by_id.get(relationship["child"])
        if parent is None or child is None:
            continue
        if parent["foundBy"] in keep and child["foundBy"] in keep:
            edges.add((key_of(parent), key_of(child)))
    return edges


def our_edges(document):
    if "dependencies" in document:
        return {
            (key_of(edge["parent"]), key_of(edge["child"])) for edge in document["dependencies"]
        }
    return syft_edges(document, our_catalogers(document))


def known_reason(label, kind, name, what):
    for known_label, known_kind, known_name, known_what, why, test in KNOWN:
        if known_label not in ("*", label):
            continue
        if (known_kind, known_name, known_what) == (kind, name, what):
            return f"{why} (test `{test}`)"
    return None


def compare(label, syft, ours):
    """Compare one input.

    Return the counts per package type, the differences, the syft packages of catalogers we
    do not run (per cataloger) and the dependency edge counts (both, only syft, only ours).
    """
    mine = our_catalogers(ours)
    theirs_all = packages(syft)
    theirs = {k: v for k, v in theirs_all.items() if v[0]["foundBy"] in mine}
    skipped = collections.Counter(
        v[0]["foundBy"] for k, v in theirs_all.items() if v[0]["foundBy"] not in mine
    )
    ours_by_key = packages(ours)

    counts = collections.defaultdict(lambda: collections.Counter())
    differences = []
    for key in sorted(set(theirs) | set(ours_by_key)):
        kind, name, version = key
        in_syft = len(theirs.get(key, []))
        in_ours = len(ours_by_key.get(key, []))
        both = min(in_syft, in_ours)
        counts[kind]["both"] += both
        counts[kind]["only syft"] += in_syft - both
        counts[kind]["only inline-scan"] += in_ours - both
        if in_syft != in_ours:
            differences.append(
                (label, kind, name, "package", f"{name}@{version}: syft {in_syft}, ours {in_ours}")
            )
        if not both:
            continue
        syft_artifact, our_artifact = theirs[key][0], ours_by_key[key][0]
        if syft_artifact["purl"] != our_artifact["purl"]:
            counts[kind]["purl"] += 1
            differences.append(
                (
                    label,
                    kind,
                    name,
                    "purl",
                    f"syft `{syft_artifact['purl']}`, ours `{our_artifact['purl']}`",
                )
            )
        want, got = cpes(syft_artifact), cpes(our_artifact)
        if want != got:
            counts[kind]["cpe"] += 1
            missing = [c for c in want if c not in got]
            extra = [c for c in got if c not in want]
            detail = f"{len(missing)} only in syft, {len(extra)} only in ours"
            if not missing and not extra:
                detail = "same CPEs in another order"
            differences.append((label, kind, name, "cpe", detail))

    syft_dependencies = syft_edges(syft, mine)
    our_dependencies = our_edges(ours)
    for parent, child in sorted(syft_dependencies ^ our_dependencies):
        side = "syft" if (parent, child) in syft_dependencies else "ours"
        differences.append(
            (
                label,
                child[0],
                child[1],
                "dependency",
                f"only {side}: {parent[1]}@{parent[2]} dependency-of {child[1]}@{child[2]}",
            )
        )
    edges = (
        len(syft_dependencies & our_dependencies),
        len(syft_dependencies - our_dependencies),
        len(our_dependencies - syft_dependencies),
    )
    return counts, differences, skipped, edges


def type_rank(kind):
    return TYPE_ORDER.index(kind) if kind in TYPE_ORDER else len(TYPE_ORDER)


def main():
    inputs_path, syft_version = sys.argv[1], sys.argv[2]
    rows, all_differences, skipped_rows, edge_rows = [], [], [], []
    with open(inputs_path, encoding="utf-8") as handle:
        lines = [line.rstrip("\n").split("\t") for line in handle if line.strip()]
    for kind, label, syft_path, ours_path in lines:
        counts, differences, skipped, edges = compare(label, load(syft_path), load(ours_path))
        for package_type in sorted(counts, key=type_rank):
            row = counts[package_type]
            rows.append((kind, label, package_type, row))
        all_differences.extend(differences)
        for cataloger, number in sorted(skipped.items()):
            skipped_rows.append((label, cataloger, number))
        if any(edges):
            edge_rows.append((label, edges))

    out = []
    out.append(f"# Parity with syft {syft_version}")
    out.append("")
    out.append(
        "Generated by `scripts/parity.sh`. Do not edit this file by hand. The script runs syft "
        "and inline-scan on every fixture case in `tests/fixtures/catalog/`: syft scans it as "
        "`dir:` with the image catalogers, and inline-scan through the `catalog-dir` example. "
        "It also runs both on every test image in both scopes: the tarballs in "
        "`tests/fixtures/images/` and the Debian bookworm minbase image of "
        "`scripts/build-test-images.sh`. Rows marked `(built)` are Go, Rust and Java inputs built "
        "by the recipes of `tests/binaries.rs` (Go with and without `-X main.version`, "
        "`cargo auditable`, Debian's jars, a war with nested jars), compared as `dir:` scans. "
        "They are not the same bytes from one build to the next (temporary build paths, "
        "archive timestamps), so no syft output is stored for them: `tests/binaries.rs` "
        "asserts the names, versions, purls, CPEs and edges syft gives them instead. "
        "Packages are matched on type, name and version. "
        "`tests/parity.rs` and `tests/catalogers.rs` check the same facts against the stored "
        "syft outputs, without syft."
    )
    out.append("")
    out.append("## Packages")
    out.append("")
    out.append(
        "| Input | Type | Both | Only syft | Only inline-scan | purl differs | CPEs differ |"
    )
    out.append("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    for _, label, package_type, row in rows:
        out.append(
            f"| {label} | {package_type} | {row['both']} | {row['only syft']} | "
            f"{row['only inline-scan']} | {row['purl']} | {row['cpe']} |"
        )
    out.append("")
    out.append("## Differences")
    out.append("")
    unexplained = 0
    if not all_differences:
        out.append("None.")
    else:
        out.append("| Input | Type | Package | What | Detail | Why it stays |")
        out.append("| --- | --- | --- | --- | --- | --- |")
        for label, package_type, name, what, detail in all_differences:
            reason = known_reason(label, package_type, name, what)
            if reason is None:
                unexplained += 1
                reason = "**not explained: fix the cataloger or list it in scripts/parity.py**"
            out.append(f"| {label} | {package_type} | {name} | {what} | {detail} | {reason} |")
    out.append("")
    out.append("## Dependency graph")
    out.append("")
    out.append("`dependency-of` edges among the packages both tools catalog.")
    out.append("")
    out.append("| Input | Both | Only syft | Only inline-scan |")
    out.append("| --- | ---: | ---: | ---: |")
    for label, (both, only_syft, only_ours) in edge_rows:
        out.append(f"| {label} | {both} | {only_syft} | {only_ours} |")
    out.append("")
    out.append("## Catalogers inline-scan does not run")
    out.append("")
    out.append(
        "Packages syft found with catalogers that have no counterpart in inline-scan's "
        "registry. They are not counted above."
    )
    out.append("")
    if skipped_rows:
        out.append("| Input | syft cataloger | Packages |")
        out.append("| --- | --- | ---: |")
        for label, cataloger, number in skipped_rows:
            out.append(f"| {label} | `{cataloger}` | {number} |")
    else:
        out.append("None.")
    out.append("")
    print("\n".join(out))
    if unexplained:
        print(f"parity: {unexplained} differences are not explained", file=sys.stderr)


if __name__ == "__main__":
    main()
