#!/usr/bin/env python3
"""
build.py: OCI test images made from Debian's busybox-static, never downloaded.

    python3 tests/images/build.py OUTDIR [--variant oci|docker|index|docker-list]
                                         [--tag TAG] [--salt S] [--format oci|dir]

writes an OCI image layout (oci-layout, index.json, blobs/sha256/...) to
OUTDIR holding one image under TAG (default "latest"), or with --format dir
the layout of skopeo's dir: transport:

  oci     an OCI image manifest of three gzip layers and an image config
  docker  the same image with Docker schema-2 media types
          (application/vnd.docker.distribution.manifest.v2+json, ...)
  index   an OCI image index with two platform entries: linux/amd64 (the oci
          image) and linux/arm64 (the same layers with a config that says
          arm64: a test artifact, its busybox is still the amd64 binary)
  docker-list  the same two as a Docker manifest list

skopeo's oci: transport does not list Docker media types in index.json:
push the docker variants from --format dir (skopeo copy dir:OUTDIR ...).

The layers:
  1. /bin/busybox and symlinks sh, ls, cat, echo, httpd; /etc/motd;
     /etc/passwd; empty /tmp
  2. a web root: /www/index.html, /www/old/stale.txt, /www/old/keep/a.txt
  3. a whiteout /etc/.wh.motd (deletes /etc/motd) and an opaque directory
     /www/old/.wh..wh..opq (hides everything layer 2 put in /www/old) with
     a new /www/old/new.txt: so an unpacker's whiteout handling is tested

Everything is deterministic (fixed mtimes, uid/gid 0, sorted entries, gzip
mtime 0): the same busybox gives the same digests on every run. The salt
changes only the web page, which gives a second, different image.

Used from tests:

    import build
    img = build.image("oci")          # an Image: manifest bytes, digest, blobs
    build.write_layout(outdir, {"latest": img})
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import sys
import tarfile

BUSYBOX = os.environ.get("BERTH_TEST_BUSYBOX", "/bin/busybox")
MTIME = 1704067200  # 2024-01-01T00:00:00Z
CREATED = "2024-01-01T00:00:00Z"
APPLETS = ("sh", "ls", "cat", "echo", "httpd")

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar.gzip"

MEDIA = {
    "oci": (OCI_MANIFEST, OCI_CONFIG, OCI_LAYER_GZIP),
    "docker": (DOCKER_MANIFEST, DOCKER_CONFIG, DOCKER_LAYER),
}


def sha256(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def canonical(doc):
    """JSON bytes as the tests push them: compact, keys sorted."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


# --- layers ----------------------------------------------------------------------

def _tar(entries):
    """
    A deterministic tar of entries: (path, kind, data) with kind "dir",
    "file", "exec" or ("symlink", target). Sorted by path, mtime MTIME,
    owner 0:0 without names, ustar format.
    """
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tf:
        for path, kind, data in sorted(entries, key=lambda e: e[0]):
            ti = tarfile.TarInfo(path)
            ti.mtime = MTIME
            ti.uid = ti.gid = 0
            ti.uname = ti.gname = ""
            if kind == "dir":
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                tf.addfile(ti)
            elif isinstance(kind, tuple) and kind[0] == "symlink":
                ti.type, ti.mode, ti.linkname = tarfile.SYMTYPE, 0o777, kind[1]
                tf.addfile(ti)
            else:
                ti.type = tarfile.REGTYPE
                ti.mode = 0o755 if kind == "exec" else 0o644
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
    return out.getvalue()


def _gzip(data):
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=6) as g:
        g.write(data)
    return out.getvalue()


class Layer:
    def __init__(self, entries):
        self.tar = _tar(entries)
        self.gz = _gzip(self.tar)
        self.diff_id = sha256(self.tar)
        self.digest = sha256(self.gz)
        self.size = len(self.gz)


_busybox_cache = None


def busybox_bytes():
    global _busybox_cache
    if _busybox_cache is None:
        with open(BUSYBOX, "rb") as f:
            _busybox_cache = f.read()
    return _busybox_cache


def layers(salt=""):
    """The three layers (see the module's doc); salt changes layer 2 only."""
    l1 = [("bin", "dir", None), ("bin/busybox", "exec", busybox_bytes()),
          ("etc", "dir", None), ("etc/motd", "file", b"this file is deleted by layer 3\n"),
          ("etc/passwd", "file", b"root:x:0:0:root:/root:/bin/sh\n"),
          ("tmp", "dir", None)]
    l1 += [("bin/" + a, ("symlink", "busybox"), None) for a in APPLETS]
    page = ("<!doctype html>\n<title>berth test</title>\n<p>hello from berth%s</p>\n"
            % ((" " + salt) if salt else "")).encode()
    l2 = [("www", "dir", None), ("www/index.html", "file", page),
          ("www/old", "dir", None), ("www/old/stale.txt", "file", b"hidden by layer 3\n"),
          ("www/old/keep", "dir", None), ("www/old/keep/a.txt", "file", b"also hidden\n")]
    l3 = [("etc", "dir", None), ("etc/.wh.motd", "file", b""),
          ("www", "dir", None), ("www/old", "dir", None),
          ("www/old/.wh..wh..opq", "file", b""),
          ("www/old/new.txt", "file", b"the only file left in /www/old\n")]
    return [Layer(l1), Layer(l2), Layer(l3)]


# --- images ----------------------------------------------------------------------

class Image:
    """
    A manifest (or index) and every blob it needs. manifest: the exact
    bytes; digest: their sha256; media_type; blobs: {digest: bytes}
    (configs and layers, and for an index its child manifests too).
    """

    def __init__(self, manifest, media_type, blobs, platform=None, children=()):
        self.manifest = manifest
        self.media_type = media_type
        self.digest = sha256(manifest)
        self.size = len(manifest)
        self.blobs = dict(blobs)
        self.platform = platform
        self.children = list(children)

    @property
    def doc(self):
        return json.loads(self.manifest)

    def descriptor(self, **extra):
        d = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.platform:
            d["platform"] = self.platform
        d.update(extra)
        return d

    def layer_digests(self):
        return [l["digest"] for l in self.doc.get("layers", [])]

    def config_digest(self):
        return self.doc["config"]["digest"]


def config(ls, arch="amd64", variant=None):
    cfg = {
        "created": CREATED,
        "architecture": arch,
        "os": "linux",
        "config": {
            "Entrypoint": ["/bin/busybox"],
            "Cmd": ["httpd", "-f", "-p", "8080", "-h", "/www"],
            "Env": ["PATH=/bin", "GREETING=hello from the image"],
            "WorkingDir": "/www",
            "ExposedPorts": {"8080/tcp": {}},
            "Labels": {"org.berth.test": "true"},
        },
        "rootfs": {"type": "layers", "diff_ids": [l.diff_id for l in ls]},
        "history": [{"created": CREATED, "created_by": "tests/images/build.py layer %d" % (i + 1)}
                    for i in range(len(ls))],
    }
    if variant:
        cfg["variant"] = variant
    if arch != "amd64":
        cfg["config"]["Labels"]["org.berth.test.note"] = (
            "test artifact: this config says %s but its busybox is amd64" % arch)
    return canonical(cfg)


def single(kind="oci", salt="", arch="amd64", variant=None, _layers=None):
    """One image manifest: kind "oci" or "docker"."""
    mt, cmt, lmt = MEDIA[kind]
    ls = _layers or layers(salt)
    cfg = config(ls, arch, variant)
    doc = {
        "schemaVersion": 2,
        "mediaType": mt,
        "config": {"mediaType": cmt, "digest": sha256(cfg), "size": len(cfg)},
        "layers": [{"mediaType": lmt, "digest": l.digest, "size": l.size} for l in ls],
    }
    if kind == "oci":
        doc["annotations"] = {"org.opencontainers.image.title": "berth test image"}
    blobs = {sha256(cfg): cfg}
    for l in ls:
        blobs[l.digest] = l.gz
    platform = {"architecture": arch, "os": "linux"}
    if variant:
        platform["variant"] = variant
    return Image(canonical(doc), mt, blobs, platform=platform)


def index(kind="oci", salt=""):
    """An image index (kind "oci") or manifest list ("docker") for linux/amd64 and linux/arm64."""
    ls = layers(salt)
    amd = single(kind, salt, "amd64", _layers=ls)
    arm = single(kind, salt, "arm64", "v8", _layers=ls)
    mt = OCI_INDEX if kind == "oci" else DOCKER_LIST
    doc = {"schemaVersion": 2, "mediaType": mt,
           "manifests": [amd.descriptor(), arm.descriptor()]}
    blobs = {}
    for child in (amd, arm):
        blobs.update(child.blobs)
        blobs[child.digest] = child.manifest
    return Image(canonical(doc), mt, blobs, children=(amd, arm))


def image(variant="oci", salt=""):
    """The image of a CLI variant: "oci", "docker", "index" or "docker-list"."""
    if variant in ("oci", "docker"):
        return single(variant, salt)
    if variant == "index":
        return index("oci", salt)
    if variant == "docker-list":
        return index("docker", salt)
    raise ValueError("unknown variant %r" % variant)


# --- OCI image layout ----------------------------------------------------------------

def write_blob(outdir, data):
    d = sha256(data)
    path = os.path.join(outdir, "blobs", "sha256", d.split(":", 1)[1])
    if not os.path.exists(path):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = path + ".tmp"
        with open(tmp, "wb") as f:
            f.write(data)
        os.rename(tmp, path)
    return d


def write_layout(outdir, images):
    """
    Write (or add to) an OCI image layout at outdir holding images:
    {tag: Image}. Returns outdir.
    """
    os.makedirs(os.path.join(outdir, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(outdir, "oci-layout"), "w") as f:
        f.write('{"imageLayoutVersion":"1.0.0"}')
    idx_path = os.path.join(outdir, "index.json")
    idx = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    if os.path.exists(idx_path):
        with open(idx_path) as f:
            idx = json.load(f)
    for tag, img in sorted(images.items()):
        for data in img.blobs.values():
            write_blob(outdir, data)
        write_blob(outdir, img.manifest)
        ref = "org.opencontainers.image.ref.name"
        idx["manifests"] = [m for m in idx["manifests"]
                            if m.get("annotations", {}).get(ref) != tag]
        d = {"mediaType": img.media_type, "digest": img.digest, "size": img.size,
             "annotations": {ref: tag}}
        idx["manifests"].append(d)
    with open(idx_path, "wb") as f:
        f.write(canonical(idx))
    return outdir


def write_dir(outdir, img):
    """
    Write img in the layout of skopeo's dir: transport (manifest.json, each
    blob named by its hex digest, an index's children as HEX.manifest.json).
    skopeo's oci: transport only lists OCI media types in index.json, so the
    Docker schema-2 variants are pushed from here.
    """
    os.makedirs(outdir, exist_ok=True)
    with open(os.path.join(outdir, "version"), "w") as f:
        f.write("Directory Transport Version: 1.1\n")
    children = {c.digest for c in img.children}
    for d, data in img.blobs.items():
        hexd = d.split(":", 1)[1]
        name = hexd + ".manifest.json" if d in children else hexd
        with open(os.path.join(outdir, name), "wb") as f:
            f.write(data)
    with open(os.path.join(outdir, "manifest.json"), "wb") as f:
        f.write(img.manifest)
    return outdir


def read_layout_blob(outdir, digest):
    with open(os.path.join(outdir, "blobs", *digest.split(":", 1)), "rb") as f:
        return f.read()


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("outdir")
    ap.add_argument("--variant", default="oci", choices=("oci", "docker", "index", "docker-list"))
    ap.add_argument("--tag", default="latest")
    ap.add_argument("--salt", default="", help="a different web page, so a different image")
    ap.add_argument("--format", default="oci", choices=("oci", "dir"),
                    help="oci: an OCI image layout (default); dir: skopeo's dir: layout, "
                         "which skopeo reads Docker media types from")
    a = ap.parse_args(argv)
    img = image(a.variant, a.salt)
    if a.format == "dir":
        write_dir(a.outdir, img)
        print("%s %s dir:%s" % (img.digest, img.media_type, a.outdir))
    else:
        write_layout(a.outdir, {a.tag: img})
        print("%s %s oci:%s:%s" % (img.digest, img.media_type, a.outdir, a.tag))
    return 0


if __name__ == "__main__":
    sys.exit(main())
