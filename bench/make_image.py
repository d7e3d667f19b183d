#!/usr/bin/env python3
"""Write a synthetic multi-layer image as a `docker save` tarball, without a Docker daemon.

The image contains what a real application image contains, in proportions set by --scale:
  - a base layer copied from an existing `docker save` tarball (the Debian minbase image, so
    the dpkg database is real);
  - layers of Python packages (site-packages/NAME-VERSION.dist-info/METADATA and RECORD, plus
    module files);
  - layers of npm packages (node_modules/NAME/package.json plus source files);
  - layers of large binaries (incompressible and compressible halves);
  - a layer of jar files (zip archives with META-INF/MANIFEST.MF and pom.properties);
  - a layer that deletes a few paths of lower layers with whiteout markers.

Content comes from a seeded random generator, so two runs with the same arguments write the
same bytes. Layer tars are written to a directory next to the output and then moved into the
outer tarball one by one, so the disk needs about the image's size plus its largest layer.
"""

import argparse
import hashlib
import io
import json
import os
import random
import shutil
import tarfile
import zipfile

# Fixed timestamp for every entry: 2024-01-01T00:00:00Z.
EPOCH = 1704067200


class HashingWriter:
    """A write-only file object that passes bytes to `target` and hashes them with sha256."""

    def __init__(self, target):
        self.target = target
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data):
        self.hash.update(data)
        self.size += len(data)
        return self.target.write(data)

    def tell(self):
        return self.size


class LayerWriter:
    """One layer tar being written, with the directories it has already listed."""

    def __init__(self, path):
        self.path = path
        self.output = open(path, "wb")
        self.hashing = HashingWriter(self.output)
        self.tar = tarfile.open(fileobj=self.hashing, mode="w|", format=tarfile.GNU_FORMAT)
        self.directories = set()
        self.files = 0

    def _info(self, name, kind, size=0, mode=0o644):
        info = tarfile.TarInfo(name)
        info.type = kind
        info.size = size
        info.mode = mode
        info.mtime = EPOCH
        info.uname = info.gname = "root"
        return info

    def directory(self, name):
        """Add `name` and every missing parent as directories."""
        parts = name.strip("/").split("/")
        for end in range(1, len(parts) + 1):
            path = "/".join(parts[:end])
            if path not in self.directories:
                self.directories.add(path)
                self.tar.addfile(self._info(path + "/", tarfile.DIRTYPE, mode=0o755))

    def file(self, name, data, mode=0o644):
        name = name.strip("/")
        parent = os.path.dirname(name)
        if parent:
            self.directory(parent)
        self.tar.addfile(self._info(name, tarfile.REGTYPE, len(data), mode), io.BytesIO(data))
        self.files += 1

    def stream(self, name, size, chunks, mode=0o755):
        """Add a file of `size` bytes whose data is read from the `chunks` file object."""
        name = name.strip("/")
        self.directory(os.path.dirname(name))
        self.tar.addfile(self._info(name, tarfile.REGTYPE, size, mode), chunks)
        self.files += 1

    def whiteout(self, name):
        name = name.strip("/")
        parent, base = os.path.split(name)
        if parent:
            self.directory(parent)
        self.tar.addfile(self._info(os.path.join(parent, ".wh." + base), tarfile.REGTYPE))

    def close(self):
        self.tar.close()
        self.output.close()
        return "sha256:" + self.hashing.hash.hexdigest(), self.hashing.size


class RandomStream:
    """A file object of `size` bytes: random bytes, or random words when `text` is set."""

    def __init__(self, rng, size, text):
        self.remaining = size
        self.pool = rng.randbytes(1 << 20)
        if text:
            words = [rng.randbytes(rng.randint(2, 9)).hex() for _ in range(4096)]
            self.pool = " ".join(rng.choice(words) for _ in range(120_000)).encode()[: 1 << 20]
        self.rng = rng

    def read(self, count=-1):
        if count < 0 or count > self.remaining:
            count = self.remaining
        out = bytearray()
        while len(out) < count:
            start = self.rng.randrange(len(self.pool) // 2)
            out += self.pool[start : start + min(count - len(out), len(self.pool) - start)]
        self.remaining -= count
        return bytes(out)


def small_file(rng, low, high):
    """Return a source-like file of between `low` and `high` bytes."""
    size = rng.randint(low, high)
    line = b"value = compute(%d)  # generated\n" % rng.randrange(1 << 30)
    return (line * (size // len(line) + 1))[:size]


def python_layers(rng, count, packages_per_layer, files_per_package):
    """Yield (layer name, writer callback) pairs for the Python layers."""
    site = "usr/local/lib/python3.11/site-packages"
    for layer in range(count):
        def write(out, layer=layer):
            for index in range(packages_per_layer):
                name = f"benchpkg_{layer:02d}_{index:04d}"
                version = f"{layer}.{index}.{rng.randint(0, 9)}"
                info = f"{site}/{name}-{version}.dist-info"
                metadata = (
                    f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                    f"Summary: benchmark package {name}\nLicense: MIT\n\n"
                ).encode()
                records = []
                for number in range(files_per_package):
                    path = f"{name}/module_{number:03d}.py"
                    data = small_file(rng, 200, 3000)
                    out.file(f"{site}/{path}", data)
                    records.append(f"{path},,{len(data)}")
                out.file(f"{info}/METADATA", metadata)
                out.file(f"{info}/RECORD", ("\n".join(records) + "\n").encode())
        yield f"python packages {layer}", write


def npm_layers(rng, count, packages_per_layer, files_per_package):
    for layer in range(count):
        def write(out, layer=layer):
            for index in range(packages_per_layer):
                name = f"bench-npm-{layer:02d}-{index:04d}"
                version = f"1.{layer}.{index}"
                root = f"app/node_modules/{name}"
                manifest = {"name": name, "version": version, "license": "MIT", "main": "index.js"}
                out.file(f"{root}/package.json", json.dumps(manifest, indent=2).encode())
                for number in range(files_per_package):
                    out.file(f"{root}/lib/part_{number:03d}.js", small_file(rng, 100, 2000))
        yield f"npm packages {layer}", write


def binary_layers(rng, count, binary_bytes):
    for layer in range(count):
        def write(out, layer=layer):
            half = binary_bytes // 2
            out.stream(f"opt/bench/bin/tool-{layer:02d}", half, RandomStream(rng, half, False))
            out.stream(
                f"opt/bench/share/data-{layer:02d}.txt",
                binary_bytes - half,
                RandomStream(rng, binary_bytes - half, True),
                mode=0o644,
            )
        yield f"binaries {layer}", write


def jar_bytes(rng, artifact, version, payload_bytes):
    """Return a jar (zip) with a manifest, Maven pom.properties and one stored payload entry."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as jar:
        manifest = (
            "Manifest-Version: 1.0\n"
            f"Implementation-Title: {artifact}\nImplementation-Version: {version}\n"
            "Implementation-Vendor: inline-scan benchmark\n"
        )
        jar.writestr("META-INF/MANIFEST.MF", manifest, zipfile.ZIP_DEFLATED)
        pom = f"groupId=org.example.bench\nartifactId={artifact}\nversion={version}\n"
        jar.writestr(
            f"META-INF/maven/org.example.bench/{artifact}/pom.properties", pom, zipfile.ZIP_DEFLATED
        )
        jar.writestr("org/example/bench/Payload.bin", rng.randbytes(payload_bytes), zipfile.ZIP_STORED)
    return buffer.getvalue()


def jar_layer(rng, jars, payload_bytes):
    def write(out):
        for index in range(jars):
            artifact = f"bench-lib-{index:02d}"
            data = jar_bytes(rng, artifact, f"2.{index}.0", payload_bytes)
            out.file(f"opt/bench/lib/{artifact}-2.{index}.0.jar", data)
    return "jars", write


def filler_layers(rng, count, files_per_layer):
    """Layers of many small files in deep trees, as a source checkout or asset bundle has."""
    for layer in range(count):
        def write(out, layer=layer):
            for index in range(files_per_layer):
                group, item = divmod(index, 500)
                path = f"srv/assets/layer{layer:02d}/group{group:04d}/item{item:03d}.dat"
                out.file(path, small_file(rng, 0, 600))
        yield f"small files {layer}", write


def whiteout_layer():
    def write(out):
        out.whiteout("usr/share/doc/bash")
        out.whiteout("srv/assets/layer00/group0000")
        out.whiteout("opt/bench/bin/tool-00")
    return "whiteouts", write


SCALES = {
    # name: python layers, packages/layer, files/package, npm layers, packages/layer,
    #       files/package, binary layers, bytes/binary layer, jars, jar payload bytes,
    #       filler layers, files/filler layer
    "small": (4, 15, 20, 4, 15, 20, 4, 3 << 20, 3, 2 << 20, 6, 1_500),
    "large": (4, 120, 200, 4, 120, 200, 4, 300 << 20, 4, 60 << 20, 6, 50_000),
    "million": (2, 100, 100, 2, 100, 100, 1, 1 << 20, 1, 1 << 20, 10, 96_000),
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", required=True, help="`docker save` tarball whose one layer is the base")
    parser.add_argument("--scale", choices=sorted(SCALES), required=True)
    parser.add_argument("--tag", required=True, help="repository:tag recorded in manifest.json")
    parser.add_argument("--out", required=True, help="path of the tarball to write")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()

    (py_layers, py_packages, py_files, npm_count, npm_packages, npm_files, bin_layers,
     bin_bytes, jars, jar_payload, filler_count, filler_files) = SCALES[args.scale]
    rng = random.Random(args.seed)
    work = args.out + ".parts"
    shutil.rmtree(work, ignore_errors=True)
    os.makedirs(work)

    layers = []  # (diff_id, path, size, comment)
    with tarfile.open(args.base) as base:
        manifest = json.load(base.extractfile("manifest.json"))
        base_layers = manifest[0]["Layers"]
        if len(base_layers) != 1:
            raise SystemExit(f"error: {args.base} has {len(base_layers)} layers; expected 1")
        path = os.path.join(work, "base.tar")
        with open(path, "wb") as copy:
            hashing = HashingWriter(copy)
            shutil.copyfileobj(base.extractfile(base_layers[0]), hashing, 1 << 20)
        layers.append(("sha256:" + hashing.hash.hexdigest(), path, hashing.size, "debian minbase"))

    builders = [
        *python_layers(rng, py_layers, py_packages, py_files),
        *npm_layers(rng, npm_count, npm_packages, npm_files),
        *binary_layers(rng, bin_layers, bin_bytes),
        jar_layer(rng, jars, jar_payload),
        *filler_layers(rng, filler_count, filler_files),
        whiteout_layer(),
    ]
    total_files = 0
    for number, (comment, write) in enumerate(builders, start=1):
        path = os.path.join(work, f"layer{number:02d}.tar")
        out = LayerWriter(path)
        write(out)
        total_files += out.files + len(out.directories)
        diff_id, size = out.close()
        layers.append((diff_id, path, size, comment))

    config = {
        "architecture": "amd64",
        "os": "linux",
        "created": "2024-01-01T00:00:00Z",
        "config": {"Cmd": ["/bin/bash"], "Env": ["PATH=/usr/local/bin:/usr/bin:/bin"]},
        "rootfs": {"type": "layers", "diff_ids": [layer[0] for layer in layers]},
        "history": [
            {"created": "2024-01-01T00:00:00Z", "created_by": f"inline-scan bench: {layer[3]}"}
            for layer in layers
        ],
    }
    config_bytes = json.dumps(config, separators=(",", ":")).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_names = [layer[0].split(":")[1] + "/layer.tar" for layer in layers]
    manifest = [{"Config": config_name, "RepoTags": [args.tag], "Layers": layer_names}]

    partial = args.out + ".partial"
    with tarfile.open(partial, "w", format=tarfile.GNU_FORMAT) as image:
        def add_bytes(name, data):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = EPOCH
            image.addfile(info, io.BytesIO(data))

        add_bytes(config_name, config_bytes)
        for (_, path, size, _), name in zip(layers, layer_names):
            info = tarfile.TarInfo(name)
            info.size = size
            info.mtime = EPOCH
            with open(path, "rb") as data:
                image.addfile(info, data)
            os.remove(path)
        add_bytes("manifest.json", json.dumps(manifest).encode())
    os.replace(partial, args.out)
    shutil.rmtree(work)
    size = os.path.getsize(args.out)
    print(json.dumps({"layers": len(layers), "files_added": total_files, "bytes": size}))


if __name__ == "__main__":
    main()
