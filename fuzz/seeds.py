#!/usr/bin/env python3
"""Write the seed corpus of every fuzz target into fuzz/corpus/TARGET/ from tests/fixtures.

Run from the repository root: python3 fuzz/seeds.py. The script only reads tests/fixtures, so
every seed carries the licence of the fixture it came from (see tests/fixtures/*/LICENSES and
the MANIFEST.tsv and SOURCE.md files there). Running it again rewrites the same files.
"""

import gzip
import io
import json
import sqlite3
import struct
import subprocess
import tarfile
import zipfile
import zlib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests" / "fixtures"
CATALOG = FIXTURES / "catalog"
IMAGES = FIXTURES / "images"
CORPUS = ROOT / "fuzz" / "corpus"
SEPARATOR = b"\n=====\n"


def write(target, name, data):
    folder = CORPUS / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)


def copy_files(target, paths):
    for path in paths:
        if not path.is_file():
            continue
        relative = path.relative_to(CATALOG)
        write(target, "-".join(relative.parts), path.read_bytes())


def add_file(archive, name, data, mode=0o644):
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = mode
    archive.addfile(info, io.BytesIO(data))


def add_special(archive, name, kind, target=""):
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    info.mode = 0o755 if kind == tarfile.DIRTYPE else 0o777
    archive.addfile(info)


def make_tar(entries, tar_format):
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tar_format) as archive:
        for entry in entries:
            entry(archive)
    return buffer.getvalue()


def base_layer():
    """Build a layer with release, dpkg, apk and npm files, a symlink and a hardlink."""
    os_release = (CATALOG / "distro/ubuntu/etc/os-release").read_bytes()
    status = (CATALOG / "dpkg/single/var/lib/dpkg/status").read_bytes()
    installed = (CATALOG / "apk/single/lib/apk/db/installed").read_bytes()
    package = (CATALOG / "npm/authors-objects/node_modules/x/package.json").read_bytes()
    return make_tar(
        [
            lambda a: add_special(a, "etc", tarfile.DIRTYPE),
            lambda a: add_special(a, "usr/lib", tarfile.DIRTYPE),
            lambda a: add_file(a, "usr/lib/os-release", os_release),
            lambda a: add_special(a, "etc/os-release", tarfile.SYMTYPE, "../usr/lib/os-release"),
            lambda a: add_file(a, "var/lib/dpkg/status", status),
            lambda a: add_file(a, "lib/apk/db/installed", installed),
            lambda a: add_special(a, "lib/apk/db/copy", tarfile.LNKTYPE, "lib/apk/db/installed"),
            lambda a: add_file(a, "usr/lib/node_modules/x/package.json", package),
            lambda a: add_special(a, "var/run", tarfile.SYMTYPE, "/run"),
        ],
        tarfile.GNU_FORMAT,
    )


def upper_layer():
    """Build a layer with a whiteout, an opaque marker, a long path and a symlink loop."""
    metadata = (
        CATALOG
        / "python/coverage/site-packages/somerequests-3.22.0.dist-info/METADATA"
    ).read_bytes()
    long_dir = "usr/lib/python3/site-packages/" + "d" * 90 + ".dist-info"
    return make_tar(
        [
            lambda a: add_file(a, "var/lib/dpkg/.wh.status", b""),
            lambda a: add_file(a, "usr/lib/node_modules/.wh..wh..opq", b""),
            lambda a: add_file(a, long_dir + "/METADATA", metadata),
            lambda a: add_special(a, "loop/a", tarfile.SYMTYPE, "b"),
            lambda a: add_special(a, "loop/b", tarfile.SYMTYPE, "a"),
        ],
        tarfile.PAX_FORMAT,
    )


def zstd(data):
    return subprocess.run(
        ["zstd", "-q", "-c", "-"], input=data, check=True, capture_output=True
    ).stdout


def layer_seeds():
    base = base_layer()
    upper = upper_layer()
    write("layer_tar", "base.tar", base)
    write("layer_tar", "upper.tar", upper)
    write("layer_tar", "base.tar.gz", gzip.compress(base, mtime=0))
    write("layer_tar", "upper.tar.zst", zstd(upper))
    for blob in (IMAGES / "rpm-sqlite.oci/blobs/sha256").iterdir():
        if blob.read_bytes()[:2] == b"\x1f\x8b":
            write("layer_tar", "rpm-sqlite-" + blob.name[:12] + ".tar.gz", blob.read_bytes())
    write("layer_sequence", "base-upper", base + SEPARATOR + upper)
    write(
        "layer_sequence",
        "base-gzip-upper-zstd",
        gzip.compress(base, mtime=0) + SEPARATOR + zstd(upper),
    )
    return base, upper


def sectioned(members):
    """Join (name, contents) pairs into the sectioned form the archive targets read."""
    parts = []
    for name, contents in members:
        parts.extend([name, contents])
    return SEPARATOR.join(parts)


def docker_config_with_placeholders(config_bytes, first_layer):
    """Replace the config's diff_ids with @dN placeholders, counting from member first_layer."""
    config = json.loads(config_bytes)
    count = len(config["rootfs"]["diff_ids"])
    config["rootfs"]["diff_ids"] = [f"@d{first_layer + n}" for n in range(count)]
    return json.dumps(config).encode()


def archive_seeds(base, upper):
    with tarfile.open(IMAGES / "rpm-sqlite.docker.tar") as saved:
        manifest = json.loads(saved.extractfile("manifest.json").read())[0]
        config = saved.extractfile(manifest["Config"]).read()
        repositories = saved.extractfile("repositories").read()
    # Members: 0 manifest.json, 1 config, 2 and 3 the layers, 4 repositories.
    manifest["Config"] = "@h1.json"
    manifest["Layers"] = ["layer-a/layer.tar", "layer-b/layer.tar"]
    write(
        "docker_archive",
        "rpm-sqlite-classic",
        sectioned(
            [
                (b"manifest.json", json.dumps([manifest]).encode()),
                (b"@h1.json", docker_config_with_placeholders(config, 2)),
                (b"layer-a/layer.tar", base),
                (b"layer-b/layer.tar", upper),
                (b"repositories", repositories),
            ]
        ),
    )

    oci = IMAGES / "rpm-sqlite.oci"
    index = json.loads((oci / "index.json").read_bytes())
    blobs = oci / "blobs/sha256"
    image_manifest = json.loads(
        (blobs / index["manifests"][0]["digest"].split(":")[1]).read_bytes()
    )
    oci_config = (blobs / image_manifest["config"]["digest"].split(":")[1]).read_bytes()
    # Members: 0 index.json, 1 oci-layout, 2 manifest, 3 config, 4 and 5 the layers.
    index["manifests"][0]["digest"] = "@d2"
    index["manifests"][0]["size"] = 0
    image_manifest["config"]["digest"] = "@d3"
    image_manifest["config"]["size"] = 0
    for number, layer in enumerate(image_manifest["layers"]):
        layer["digest"] = f"@d{4 + number}"
        layer["size"] = 0
        layer["mediaType"] = "application/vnd.oci.image.layer.v1.tar"
    # The sizes are numbers in JSON, so they are written as placeholders after dumping.
    index_text = json.dumps(index).replace('"size": 0', '"size": @s2')
    manifest_text = json.dumps(image_manifest)
    manifest_text = manifest_text.replace('"@d3", "size": 0', '"@d3", "size": @s3')
    manifest_text = manifest_text.replace('"@d4", "size": 0', '"@d4", "size": @s4')
    manifest_text = manifest_text.replace('"@d5", "size": 0', '"@d5", "size": @s5')
    members = [
        (b"index.json", index_text.encode()),
        (b"oci-layout", (oci / "oci-layout").read_bytes()),
        (b"blobs/sha256/@h2", manifest_text.encode()),
        (b"blobs/sha256/@h3", docker_config_with_placeholders(oci_config, 4)),
        (b"blobs/sha256/@h4", base),
        (b"blobs/sha256/@h5", upper),
    ]
    write("oci_archive", "rpm-sqlite-layout", sectioned(members))
    # docker save writes the OCI layout next to manifest.json since Docker 25.
    write("docker_archive", "rpm-sqlite-layout", sectioned(members))


def rpm_header_seeds():
    database = CATALOG / "rpm/sqlite-sbomtest/var/lib/rpm/rpmdb.sqlite"
    connection = sqlite3.connect(f"file:{database}?mode=ro&immutable=1", uri=True)
    rows = connection.execute("SELECT hnum, blob FROM Packages ORDER BY hnum").fetchall()
    for number, blob in rows:
        write("rpm_header", f"sqlite-sbomtest-{number}", bytes(blob))
    connection.close()


def text_seeds():
    copy_files("os_release", sorted((CATALOG / "distro").rglob("*-release*")))
    copy_files("os_release", sorted((CATALOG / "distro").rglob("debian_version")))
    copy_files("dpkg_status", sorted((CATALOG / "dpkg").rglob("status")))
    copy_files(
        "dpkg_status",
        [p for p in sorted((CATALOG / "dpkg").rglob("status.d/*")) if p.suffix != ".md5sums"],
    )
    copy_files("apk_installed", sorted((CATALOG / "apk").rglob("installed")))
    copy_files("python_metadata", sorted((CATALOG / "python").rglob("METADATA")))
    copy_files("python_metadata", sorted((CATALOG / "python").rglob("PKG-INFO")))
    copy_files("python_metadata", sorted((CATALOG / "python").rglob("*.egg-info")))
    copy_files("npm_package_json", sorted((CATALOG / "npm").rglob("package.json")))
    copy_files("ruby_gemspec", sorted((CATALOG / "ruby").rglob("*.gemspec")))
    copy_files("rpm_manifest", sorted((CATALOG / "rpm").rglob("container-manifest-2")))
    copy_files("rpm_sqlite", [CATALOG / "rpm/sqlite-sbomtest/var/lib/rpm/rpmdb.sqlite"])
    copy_files("rpm_bdb", sorted((CATALOG / "rpm").rglob("Packages")))
    copy_files("rpm_ndb", sorted((CATALOG / "rpm").rglob("Packages.db")))


def compression_seeds(base):
    write("compression", "plain.tar", base)
    write("compression", "gzip.tar.gz", gzip.compress(base, mtime=0))
    write("compression", "two-members.gz", gzip.compress(base[:512]) + gzip.compress(base[512:]))
    write("compression", "zstd.tar.zst", zstd(base))


def elf_with_section(name, contents, address=0x401000):
    """Build a little-endian x86-64 ELF file whose only allocated section is `name`, holding
    `contents` at virtual address `address`, as the Go and Rust unit tests build them."""
    names = b"\0" + name + b"\0.shstrtab\0"
    data_offset = 64
    names_offset = data_offset + len(contents)
    headers_offset = names_offset + len(names)
    elf = b"\x7fELF\x02\x01\x01".ljust(16, b"\0")
    elf += struct.pack("<HHIQQQI", 2, 62, 1, 0, 0, headers_offset, 0)
    elf += struct.pack("<6H", 64, 56, 0, 64, 3, 2)
    elf += contents + names

    def section(name_at, kind, flags, at, offset, size):
        return struct.pack("<IIQQQQIIQQ", name_at, kind, flags, at, offset, size, 0, 0, 1, 0)

    elf += section(0, 0, 0, 0, 0, 0)
    elf += section(1, 1, 3, address, data_offset, len(contents))
    elf += section(len(name) + 2, 3, 0, 0, names_offset, len(names))
    return elf


GO_MAGIC = b"\xff Go buildinf:"
GO_SENTINEL = b"0123456789abcdef"
GO_MODINFO = (
    b"path\texample.com/tool\n"
    b"mod\texample.com/tool\t(devel)\t\n"
    b"dep\tgithub.com/pkg/errors\tv0.9.1\th1:FEBLx1zS214owpjy7qsBeixbURkuhQAwrK5UwLGTwt4=\n"
    b"dep\tgolang.org/x/sys\tv0.1.0\n"
    b"=>\t../sys\t(devel)\t\n"
    b"build\t-compiler=gc\n"
    b"build\tGOARCH=amd64\n"
    b"build\tvcs.revision=0123abcd\n"
)


def uvarint(number):
    output = b""
    while number >= 0x80:
        output += bytes([number & 0x7F | 0x80])
        number >>= 7
    return output + bytes([number])


def go_seeds():
    wrapped = GO_SENTINEL + GO_MODINFO + GO_SENTINEL
    version = b"go1.22.1"
    inline = GO_MAGIC + bytes([8, 2])
    inline = inline.ljust(32, b"\0") + uvarint(len(version)) + version
    write("go_buildinfo", "inline-go1.22", elf_with_section(b".go.buildinfo", inline + uvarint(len(wrapped)) + wrapped))
    # Before Go 1.18, the header contains pointers to two Go string headers.
    address = 0x401000
    old_version = b"go1.16.15"
    pointers = GO_MAGIC + bytes([8, 0])
    pointers += struct.pack("<QQ", address + 32, address + 48)
    pointers += struct.pack("<QQ", address + 64, len(old_version))
    pointers += struct.pack("<QQ", address + 64 + len(old_version), len(wrapped))
    pointers += old_version + wrapped
    write("go_buildinfo", "pointers-go1.16", elf_with_section(b".go.buildinfo", pointers, address))


def cargo_auditable_seeds():
    tree = {
        "packages": [
            {"name": "tool", "version": "0.1.0", "source": "local", "dependencies": [1, 2]},
            {"name": "serde", "version": "1.0.200", "source": "crates.io"},
            {"name": "cc", "version": "1.0.90", "source": "crates.io", "kind": "build"},
            {"name": "forked", "version": "0.2.0", "source": "git"},
        ]
    }
    compressed = zlib.compress(json.dumps(tree).encode(), 9)
    write("cargo_auditable", "four-crates", elf_with_section(b".dep-v0", compressed))
    write("cargo_auditable", "not-zlib", elf_with_section(b".dep-v0", b"plain text, not zlib"))


def java_seeds():
    jars = sorted(p for p in (CATALOG / "java").rglob("*") if p.suffix in (".jar", ".hpi"))
    copy_files("java_archive", jars)
    names = ("MANIFEST.MF", "pom.properties", "pom.xml")
    for jar in jars:
        with zipfile.ZipFile(jar) as archive:
            for member in archive.namelist():
                if member.rsplit("/", 1)[-1] in names:
                    label = jar.stem + "-" + member.replace("/", "-")
                    write("java_manifest", label, archive.read(member))


def main():
    base, upper = layer_seeds()
    archive_seeds(base, upper)
    rpm_header_seeds()
    text_seeds()
    compression_seeds(base)
    go_seeds()
    cargo_auditable_seeds()
    java_seeds()
    for folder in sorted(CORPUS.iterdir()):
        files = list(folder.iterdir())
        size = sum(f.stat().st_size for f in files)
        print(f"{folder.name}: {len(files)} seeds, {size} bytes")


if __name__ == "__main__":
    main()
