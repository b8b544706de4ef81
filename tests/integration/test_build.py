"""
`berth build` and the local image store verbs (push, save, load, tag, rm),
driven through the real binary:

- a multi-stage Dockerfile (ARG before FROM, RUN in shell and exec form,
  COPY --from, COPY --chown by name, ENV, WORKDIR, USER, EXPOSE, LABEL,
  ENTRYPOINT and CMD) builds an image whose files, owners, environment and
  entrypoint are right: checked in the layers and config, and by running
  the image through the runtime (`berth container run` of the saved
  archive) and reading what its entrypoint printed;
- a rebuild with nothing changed takes every layer from the cache (the
  build's report and the same digest); an edit to one file rebuilds only
  the layers from that step on (the diff_ids before it are unchanged);
- `berth image push` to a `berth server`'s registry (user AWS and the ECR
  token) gives an image that skopeo pulls byte for byte;
- `berth image save` writes an OCI archive skopeo reads; `load` brings it
  back with the same digest, and saving again gives the same bytes;
- every Dockerfile error names its line; a failed RUN leaves no container;
- `berth image rm` removes names, then the image and its layers.

The base image is the busybox-static test image (tests/images/build.py),
loaded from an OCI archive. Needs root and runc (skipped otherwise); every
container, mount and directory is removed afterwards.
"""
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import time
import unittest

import harness
from harness import Berth, BerthTestCase

sys.path.insert(0, os.path.join(harness.ROOT, "tests", "images"))
import build  # noqa: E402

TMP = None
BASE = "itest/busybox:base"

DOCKERFILE = """\
# syntax=docker/dockerfile:1
ARG BASE=itest/busybox:base
FROM $BASE AS builder
RUN ["/bin/busybox", "--install", "-s", "/bin"]
RUN echo 'web:x:1000:1000:web:/home/web:/bin/sh' >> /etc/passwd && \\
    echo 'web:x:1000:' > /etc/group && \\
    mkdir -p /out && echo "built by $(id -u)" > /out/built.txt

FROM builder
ENV GREETING="hello world" \\
    PORT=8080
WORKDIR /srv/www
COPY --chown=web:web app/ ./
COPY --from=builder /out/built.txt /srv/
RUN rm /www/index.html && echo done > /srv/run.txt
USER web
EXPOSE 8080
LABEL org.example.app=web
ENTRYPOINT ["/bin/sh", "-c", "echo \\"$GREETING|$(id -u):$(id -g)|$(pwd)|$PORT\\"; ls -ln /srv/www; cat /srv/built.txt; test -e /www/index.html || echo gone", "--"]
CMD ["ignored"]
"""


def available():
    return os.geteuid() == 0 and shutil.which("runc") is not None and \
        os.path.exists(build.BUSYBOX) and shutil.which("skopeo") is not None


def berth(*args, password=None, timeout=300):
    p = subprocess.run([harness.BERTH_BIN] + list(args), capture_output=True, timeout=timeout,
                       input=(password + "\n").encode() if password is not None else None,
                       stdin=subprocess.DEVNULL if password is None else None)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def sha256_file(path):
    with open(path, "rb") as f:
        return "sha256:" + hashlib.sha256(f.read()).hexdigest()


def oci_archive(layout_dir, out):
    with tarfile.open(out, "w") as tf:
        for name in sorted(os.listdir(layout_dir)):
            tf.add(os.path.join(layout_dir, name), arcname=name)


def setUpModule():
    global TMP
    if not available():
        return
    TMP = tempfile.mkdtemp(prefix="berth-itest-build-")
    # the base: the busybox test image with a file a RUN deletes
    img = build.image("oci")
    build.write_layout(os.path.join(TMP, "base"), {"base": img})
    # another base, for pulling: one the store does not have with its blobs
    build.write_layout(os.path.join(TMP, "other"), {"other": build.image("oci", salt="other")})
    oci_archive(os.path.join(TMP, "base"), os.path.join(TMP, "base.tar"))
    os.makedirs(os.path.join(TMP, "home"))


def tearDownModule():
    if not TMP:
        return
    harness.remove_containers(os.path.join(TMP, "data"), TMP)
    for d in os.listdir(TMP):
        if d.startswith("data"):
            harness.remove_containers(os.path.join(TMP, d), TMP)
    shutil.rmtree(TMP, ignore_errors=True)


@unittest.skipUnless(available(), "needs root, runc, skopeo and busybox-static")
class BuildCase(BerthTestCase):
    shared_server = False

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="case-", dir=TMP)
        self.data = os.path.join(self.dir, "data")
        self.ctx = os.path.join(self.dir, "ctx")
        os.makedirs(os.path.join(self.ctx, "app", "css"))
        self.write("app/index.html", "<p>hello from berth build</p>\n")
        self.write("app/css/site.css", "p { color: teal }\n")
        self.write("Dockerfile", DOCKERFILE)
        self.write(".dockerignore", "app/*.bak\n")
        self.write("app/notes.bak", "not copied\n")
        rc, out, err = berth("image", "load", "--data-dir", self.data, "-i",
                             os.path.join(TMP, "base.tar"), "-t", BASE)
        self.assertEqual(rc, 0, err)
        self.addCleanup(self.cleanup)

    def cleanup(self):
        harness.remove_containers(self.data, self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, rel, text):
        with open(os.path.join(self.ctx, rel), "w") as f:
            f.write(text)

    def build(self, tag="itest/web:1", *extra, ok=True):
        rc, out, err = berth("build", "--data-dir", self.data, "-t", tag, *extra, self.ctx)
        if ok:
            self.assertEqual(rc, 0, out + err)
        return rc, out, err

    def record(self, ref="itest/web:1"):
        want = "docker.io/" + ref
        d = os.path.join(self.data, "images")
        for n in os.listdir(d):
            if n.endswith(".json"):
                with open(os.path.join(d, n)) as f:
                    rec = json.load(f)
                if want in rec.get("references", []):
                    return rec
        self.fail("no record names %s" % ref)

    def layer_dir(self, diff_id):
        return os.path.join(self.data, "layers", "sha256", diff_id.split(":", 1)[1])

    def blob(self, digest):
        return os.path.join(self.data, "blobs", "sha256", digest.split(":", 1)[1])


class Build(BuildCase):
    def test_multi_stage_image_is_right(self):
        rc, out, err = self.build()
        digest = out.strip().splitlines()[-1]
        rec = self.record()
        self.assertEqual(rec["digest"], digest)
        cfg = rec["config"]["config"]
        self.assertEqual(cfg["User"], "web")
        self.assertEqual(cfg["WorkingDir"], "/srv/www")
        self.assertIn("GREETING=hello world", cfg["Env"])
        self.assertIn("PORT=8080", cfg["Env"])
        self.assertEqual(cfg["ExposedPorts"], {"8080/tcp": {}})
        # its own label beside the base image's
        self.assertEqual(cfg["Labels"]["org.example.app"], "web")
        self.assertEqual(cfg["Labels"]["org.berth.test"], "true")
        self.assertEqual(cfg["Entrypoint"][:2], ["/bin/sh", "-c"])
        self.assertEqual(cfg["Cmd"], ["ignored"])
        # the manifest and config are blobs of the store, named by their digests
        self.assertEqual(sha256_file(self.blob(digest)), digest)
        with open(self.blob(digest)) as f:
            manifest = json.load(f)
        self.assertEqual(sha256_file(self.blob(manifest["config"]["digest"])),
                         manifest["config"]["digest"])
        self.assertEqual(len(manifest["layers"]), len(rec["diffIds"]))
        for layer in manifest["layers"]:
            self.assertEqual(sha256_file(self.blob(layer["digest"])), layer["digest"])
        # the COPY --chown layer: owned by web (1000), .dockerignore'd file left out
        copied = [d for d in rec["diffIds"]
                  if os.path.exists(os.path.join(self.layer_dir(d), "srv/www/index.html"))]
        self.assertEqual(len(copied), 1)
        top = self.layer_dir(copied[0])
        st = os.lstat(os.path.join(top, "srv/www/css/site.css"))
        self.assertEqual((st.st_uid, st.st_gid), (1000, 1000))
        self.assertFalse(os.path.exists(os.path.join(top, "srv/www/notes.bak")))

        # run it through the runtime: its entrypoint reports what it sees
        layout = os.path.join(self.dir, "layout")
        rc, _, err = berth("image", "save", "--data-dir", self.data, "-o",
                           os.path.join(self.dir, "web.tar"), "itest/web:1")
        self.assertEqual(rc, 0, err)
        os.makedirs(layout)
        with tarfile.open(os.path.join(self.dir, "web.tar")) as tf:
            tf.extractall(layout)
        rc, out, err = berth("container", "run", "--data-dir", self.data, "--id", "web-check",
                             layout + ":1")
        self.assertEqual(rc, 0, err)
        rc, out, err = berth("container", "wait", "--data-dir", self.data, "--timeout", "60000",
                             "web-check")
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out).get("exitCode"), 0, out)
        with open(os.path.join(self.data, "containers", "web-check", "log")) as f:
            lines = [json.loads(x)["l"] for x in f]
        berth("container", "rm", "--data-dir", self.data, "web-check")
        self.assertEqual(lines[0], "hello world|1000:1000|/srv/www|8080", lines)
        listing = "\n".join(lines)
        self.assertRegex(listing, r"-rw-r--r--\s+1\s+1000\s+1000\s+\d+ .* index.html")
        self.assertRegex(listing, r"drwx\S*\s+\d+\s+1000\s+1000 .* css")
        self.assertIn("built by 0", lines)
        self.assertIn("gone", lines)  # the RUN's deletion is a whiteout in its layer

    def test_unchanged_rebuild_uses_the_cache(self):
        _, out1, _ = self.build()
        _, out2, _ = self.build()
        self.assertEqual(out1.strip().splitlines()[-1], out2.strip().splitlines()[-1])
        report = [x for x in out2.splitlines() if x.startswith("built ")][0]
        self.assertRegex(report, r", 0 built$")
        self.assertNotIn("  | ", out2)  # no RUN ran: no output of one

    def test_edit_rebuilds_only_from_that_step(self):
        self.build()
        before = self.record()["diffIds"]
        self.write("app/css/site.css", "p { color: navy }\n")
        _, out, _ = self.build()
        after = self.record()["diffIds"]
        self.assertEqual(len(before), len(after))
        # base layers, the two RUNs of the builder and WORKDIR's are the same...
        changed = [i for i, (a, b) in enumerate(zip(before, after)) if a != b]
        self.assertTrue(changed, "the edit changed no layer")
        first = changed[0]
        self.assertTrue(os.path.exists(os.path.join(self.layer_dir(after[first]),
                                                    "srv/www/css/site.css")))
        self.assertEqual(before[:first], after[:first])
        # ... and the steps after the COPY ran again: the RUN's output shows
        self.assertIn("STEP 10/15: RUN rm /www/index.html", out)
        report = [x for x in out.splitlines() if x.startswith("built ")][0]
        self.assertRegex(report, r"\d+ layers cached, 3 built$")

    def test_save_load_round_trip(self):
        _, out, _ = self.build()
        digest = out.strip().splitlines()[-1]
        archive = os.path.join(self.dir, "web.tar")
        rc, _, err = berth("image", "save", "--data-dir", self.data, "-o", archive, "itest/web:1")
        self.assertEqual(rc, 0, err)
        p = subprocess.run(["skopeo", "inspect", "oci-archive:" + archive],
                           capture_output=True, timeout=120,
                           env=harness.skopeo_env(os.path.join(TMP, "home")))
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        info = json.loads(p.stdout)
        self.assertEqual(info["Digest"], digest)
        self.assertEqual(info["Labels"]["org.example.app"], "web")
        other = os.path.join(self.dir, "data2")
        rc, out, err = berth("image", "load", "--data-dir", other, "-i", archive)
        self.assertEqual(rc, 0, err)
        self.assertIn("loaded %s as docker.io/itest/web:1" % digest, out)
        again = os.path.join(self.dir, "again.tar")
        rc, _, err = berth("image", "save", "--data-dir", other, "-o", again, "itest/web:1")
        self.assertEqual(rc, 0, err)
        with tarfile.open(archive) as a, tarfile.open(again) as b:
            self.assertEqual(a.getnames(), b.getnames())
        with open(archive, "rb") as a, open(again, "rb") as b:
            self.assertEqual(a.read(), b.read())
        # a broken archive is refused, and nothing is recorded from it
        with open(archive, "rb") as f:
            data = bytearray(f.read())
        data[len(data) // 2] ^= 0xff
        with open(os.path.join(self.dir, "bad.tar"), "wb") as f:
            f.write(data)
        third = os.path.join(self.dir, "data3")
        rc, _, err = berth("image", "load", "--data-dir", third, "-i",
                           os.path.join(self.dir, "bad.tar"))
        self.assertEqual(rc, 1)
        self.assertIn("berth image load:", err)
        rc, out, _ = berth("images", "--data-dir", third)
        self.assertEqual(out.strip().splitlines()[1:], [])

    def test_tag_and_rm(self):
        self.build()
        rc, _, err = berth("image", "tag", "--data-dir", self.data, "itest/web:1", "itest/web:2")
        self.assertEqual(rc, 0, err)
        rc, out, _ = berth("images", "--data-dir", self.data)
        self.assertIn("docker.io/itest/web", out)
        self.assertEqual(len([x for x in out.splitlines() if "itest/web" in x]), 2)
        diff_ids = self.record("itest/web:2")["diffIds"]
        rc, out, err = berth("image", "rm", "--data-dir", self.data, "itest/web:1")
        self.assertEqual(rc, 0, err)
        self.assertIn("0 layers deleted", out)
        rc, out, err = berth("image", "rm", "--data-dir", self.data, "itest/web:2")
        self.assertEqual(rc, 0, err)
        # the base image still holds its own layers: the build's are gone
        base = self.record(BASE)["diffIds"]
        for d in diff_ids:
            self.assertEqual(os.path.exists(self.layer_dir(d)), d in base, d)
        rc, _, err = berth("image", "rm", "--data-dir", self.data, "itest/web:2")
        self.assertEqual(rc, 1)
        self.assertIn("not on this host", err)

    def test_add_extracts_a_local_tar_and_refuses_a_url(self):
        with tarfile.open(os.path.join(self.ctx, "site.tar.gz"), "w:gz") as tf:
            for name, data in (("site/a.txt", b"a\n"), ("site/sub/b.txt", b"b\n")):
                ti = tarfile.TarInfo(name)
                ti.size, ti.uid, ti.gid = len(data), 7, 8
                tf.addfile(ti, io.BytesIO(data))
        with open(os.path.join(self.ctx, "plain.txt"), "w") as f:
            f.write("not a tar\n")
        self.write("Dockerfile", "FROM %s\nADD site.tar.gz /opt/\nADD --chown=5:6 plain.txt "
                   "/opt/plain.txt\n" % BASE)
        self.build("itest/add:1")
        ids = self.record("itest/add:1")["diffIds"]
        top, below = self.layer_dir(ids[-1]), self.layer_dir(ids[-2])
        with open(os.path.join(below, "opt/site/sub/b.txt")) as f:
            self.assertEqual(f.read(), "b\n")
        st = os.lstat(os.path.join(below, "opt/site/a.txt"))
        self.assertEqual((st.st_uid, st.st_gid), (7, 8))  # the tar's owners
        st = os.lstat(os.path.join(top, "opt/plain.txt"))
        self.assertEqual((st.st_uid, st.st_gid), (5, 6))
        self.assertFalse(os.path.exists(os.path.join(below, "opt/site.tar.gz")))
        # a tar whose entries climb out is refused, naming the line; nothing lands outside
        with tarfile.open(os.path.join(self.ctx, "evil.tar"), "w") as tf:
            ti = tarfile.TarInfo("../../../../escaped.txt")
            ti.size = 2
            tf.addfile(ti, io.BytesIO(b"x\n"))
        self.write("Dockerfile", "FROM %s\nADD evil.tar /opt/\n" % BASE)
        rc, out, err = self.build("itest/evil:1", ok=False)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("line 2: ADD: evil.tar", err)
        for d in (self.dir, self.data, os.path.join(self.data, "build")):
            self.assertFalse(os.path.exists(os.path.join(d, "escaped.txt")))

    def test_copy_from_an_image(self):
        self.write("Dockerfile", "FROM scratch\nCOPY --from=%s /bin/busybox /bin/sh\n" % BASE)
        self.build("itest/tiny:1")
        ids = self.record("itest/tiny:1")["diffIds"]
        self.assertEqual(len(ids), 1)
        with open(os.path.join(self.layer_dir(ids[0]), "bin/sh"), "rb") as f:
            self.assertEqual(f.read(), build.busybox_bytes())
        _, out, _ = self.build("itest/tiny:1")
        self.assertIn(", 0 built", out)

    def test_interrupted_build_leaves_nothing(self):
        self.write("Dockerfile", "FROM %s\nRUN [\"/bin/busybox\", \"sleep\", \"300\"]\n" % BASE)
        p = subprocess.Popen([harness.BERTH_BIN, "build", "--data-dir", self.data, "-t",
                              "itest/slow:1", self.ctx], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
        containers = os.path.join(self.data, "containers")
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            if os.path.isdir(containers) and any(n.startswith("build-")
                                                 for n in os.listdir(containers)):
                break
            time.sleep(0.05)
        else:
            p.kill()
            self.fail("the RUN's container never appeared")
        p.send_signal(signal.SIGINT)
        out, err = p.communicate(timeout=120)
        self.assertEqual(p.returncode, 1, err)
        self.assertIn("line 2: RUN interrupted", err.decode())
        self.assertEqual(os.listdir(containers), [])
        scratch = os.path.join(self.data, "build")
        self.assertEqual(os.listdir(scratch) if os.path.isdir(scratch) else [], [])
        runc = subprocess.run(["runc", "--root", os.path.join(self.data, "runc"), "list", "-q"],
                              capture_output=True, timeout=30)
        self.assertEqual(runc.stdout.decode().split(), [])


class Errors(BuildCase):
    CASES = [
        ("FROM itest/busybox:base\nFROBNICATE x\n", 2, "unknown instruction 'FROBNICATE'"),
        ("RUN true\n", 1, "before the first FROM"),
        ("FROM itest/busybox:base\n\nCOPY missing.txt /x\n", 3, "missing.txt"),
        ("FROM itest/busybox:base\n# a comment\nRUN echo 'unterminated\n", 3, None),
        ("FROM itest/busybox:base\nRUN exit 3\n", 2, "exited with 3"),
        ("FROM itest/busybox:base\nADD https://example.com/x.tgz /x\n", 2, "URL"),
        ("FROM itest/busybox:base\nCOPY --chown=nobody app/ /x/\n", 2, "no user 'nobody'"),
        ("FROM itest/busybox:base\nCOPY --from=nowhere /a /b\n", 2, "--from=nowhere"),
        ("FROM itest/busybox:base\nHEALTHCHECK CMD true\n", 2, "not supported"),
        ("FROM itest/busybox:base\nEXPOSE 99999\n", 2, "EXPOSE"),
        ("FROM itest/busybox:base\nENV NOVALUE\n", 2, "no value"),
        ("FROM itest/busybox:base\nCOPY \\\n  app/index.html \\\n  ../escape /x/\n", 2,
         "escape"),
        ("FROM itest/busybox:base\nCOPY app/index.html\n", 2, "destination"),
        ("FROM itest/busybox:base\nCOPY app/index.html \"\"\n", 2, "an empty destination"),
        ("FROM itest/busybox:base AS a\nFROM itest/busybox:base AS a\n", 2, "exists already"),
        # a loopback registry nothing listens on: the pull fails, naming the line
        ("FROM 127.0.0.1:1/not/here:1\n", 1, "FROM 127.0.0.1:1/not/here:1"),
    ]

    def test_every_error_names_its_line(self):
        for text, line, words in self.CASES:
            with self.subTest(dockerfile=text):
                self.write("Dockerfile", text)
                rc, out, err = self.build("itest/bad:1", ok=False)
                self.assertEqual(rc, 1, out + err)
                self.assertIn("line %d: " % line, err)
                if words:
                    self.assertIn(words, err)
                # nothing recorded, no container or scratch directory left behind
                rc, out, _ = berth("images", "--data-dir", self.data)
                self.assertNotIn("itest/bad", out)
                for sub in ("containers", "build"):
                    d = os.path.join(self.data, sub)
                    self.assertEqual(os.listdir(d) if os.path.isdir(d) else [], [], sub)


@unittest.skipUnless(available(), "needs root, runc, skopeo and busybox-static")
class Push(BuildCase):
    def test_push_to_berth_registry_pulls_byte_for_byte_with_skopeo(self):
        server = self.new_berth(extra_args=["--registry-create-on-push"])
        rc, pw, err = server.aws("ecr", "get-login-password")
        self.assertEqual(rc, 0, err)
        pw = pw.strip()
        host = "127.0.0.1:%d" % server.port
        _, out, _ = self.build()
        digest = out.strip().splitlines()[-1]
        # no credentials: refused with a clear message
        rc, _, err = berth("image", "push", "--data-dir", self.data, "itest/web:1",
                           "%s/itest/web:1" % host)
        self.assertEqual(rc, 1)
        self.assertIn("credentials", err)
        rc, out, err = berth("image", "push", "--data-dir", self.data, "--username", "AWS",
                             "--password-stdin", "itest/web:1", "%s/itest/web:1" % host,
                             password=pw)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.strip().splitlines()[-1], digest)
        # a second push finds every blob there already
        rc, out, err = berth("image", "push", "--data-dir", self.data, "--username", "AWS",
                             "--password-stdin", "itest/web:1", "%s/itest/web:1" % host,
                             password=pw)
        self.assertEqual(rc, 0, err)
        self.assertNotIn("pushed ", out)
        dest = os.path.join(self.dir, "pulled")
        env = harness.skopeo_env(os.path.join(TMP, "home"))
        p = subprocess.run(["skopeo", "--insecure-policy", "copy", "--src-tls-verify=false",
                            "--src-creds", "AWS:" + pw, "docker://%s/itest/web:1" % host,
                            "dir:" + dest], capture_output=True, timeout=120, env=env)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        with open(os.path.join(dest, "manifest.json"), "rb") as f:
            pulled = f.read()
        with open(self.blob(digest), "rb") as f:
            self.assertEqual(pulled, f.read())
        manifest = json.loads(pulled)
        for d in [manifest["config"]["digest"]] + [x["digest"] for x in manifest["layers"]]:
            with open(os.path.join(dest, d.split(":", 1)[1]), "rb") as a, \
                    open(self.blob(d), "rb") as b:
                self.assertEqual(a.read(), b.read(), d)
        # and the ECR API lists it under its digest
        rc, out, err = server.aws("ecr", "describe-images", "--repository-name", "itest/web")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out["imageDetails"][0]["imageDigest"], digest)

    def test_pulled_images_push_on_and_a_base_without_blobs_is_repacked(self):
        server = self.new_berth(extra_args=["--registry-create-on-push"])
        rc, pw, err = server.aws("ecr", "get-login-password")
        self.assertEqual(rc, 0, err)
        pw = pw.strip()
        host = "127.0.0.1:%d" % server.port
        env = harness.skopeo_env(os.path.join(TMP, "home"))
        p = subprocess.run(["skopeo", "--insecure-policy", "copy", "--dest-tls-verify=false",
                            "--dest-creds", "AWS:" + pw,
                            "oci:%s:other" % os.path.join(TMP, "other"),
                            "docker://%s/itest/busybox:other" % host],
                           capture_output=True, timeout=120, env=env)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        rc, out, err = berth("image", "pull", "--data-dir", self.data, "--username", "AWS",
                             "--password-stdin", "%s/itest/busybox:other" % host, password=pw)
        self.assertEqual(rc, 0, err)
        pulled = out.strip()
        # `berth image pull` keeps the blobs: the image pushes on as it came
        rc, out, err = berth("image", "push", "--data-dir", self.data, "--username", "AWS",
                             "--password-stdin", "%s/itest/busybox:other" % host,
                             "%s/itest/mirror:1" % host, password=pw)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.strip().splitlines()[-1], pulled)
        # an image the agent pulled has no blobs: its record has no "layers"
        rec_path = os.path.join(self.data, "images", pulled.split(":", 1)[1] + ".json")
        with open(rec_path) as f:
            rec = json.load(f)
        self.assertEqual(len(rec["layers"]), 3)
        del rec["layers"], rec["configDigest"]
        with open(rec_path, "w") as f:
            json.dump(rec, f)
        rc, _, err = berth("image", "save", "--data-dir", self.data, "-o",
                           os.path.join(self.dir, "x.tar"), "%s/itest/busybox:other" % host)
        self.assertEqual(rc, 1)
        self.assertIn("has no blobs in this store", err)
        self.write("Dockerfile", "FROM %s/itest/busybox:other\nCOPY app/ /www/app/\n"
                   "RUN [\"/bin/busybox\", \"cat\", \"/www/app/index.html\"]\n" % host)
        _, out, _ = self.build("%s/itest/web:2" % host)
        self.assertIn("repacking the 3 layers", out)
        self.assertIn("  | <p>hello from berth build</p>", out)
        digest = out.strip().splitlines()[-1]
        rc, out, err = berth("image", "push", "--data-dir", self.data, "--username", "AWS",
                             "--password-stdin", "%s/itest/web:2" % host, password=pw)
        self.assertEqual(rc, 0, err)
        p = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--creds", "AWS:" + pw,
                            "docker://%s/itest/web:2" % host],
                           capture_output=True, timeout=120, env=env)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        info = json.loads(p.stdout)
        self.assertEqual(info["Digest"], digest)
        self.assertEqual(len(info["Layers"]), 5)
        # a rebuild repacks nothing again
        _, out, _ = self.build("%s/itest/web:2" % host)
        self.assertIn(", 0 built", out)
        self.assertEqual(out.strip().splitlines()[-1], digest)


@unittest.skipUnless(available(), "needs root, runc, skopeo and busybox-static")
class AgentRunsBuiltImage(BerthTestCase):
    """An image built into an agent's store runs as a task: no registry involved."""

    shared_server = False

    def test_task_of_a_built_image(self):
        server = self.new_berth()
        ecs = server.client("ecs")
        ecs.create_cluster(clusterName="build")
        agent = harness.Agent(server, cluster="build",
                              extra_args=["--image-pull-behavior", "once"])
        self.addCleanup(agent.cleanup)
        agent.start()
        ctx = tempfile.mkdtemp(prefix="agent-ctx-", dir=TMP)
        with open(os.path.join(ctx, "app.txt"), "w") as f:
            f.write("app\n")
        with open(os.path.join(ctx, "Dockerfile"), "w") as f:
            f.write("FROM %s\n"
                    "RUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n"
                    "COPY --chown=1000:1000 app.txt /srv/app.txt\n"
                    "ENV GREETING=hi\n"
                    "USER 1000\n"
                    "WORKDIR /srv\n"
                    "ENTRYPOINT [\"/bin/sh\", \"-c\", \"test \\\"$GREETING\\\" = hi && "
                    "test $(id -u) = 1000 && test \\\"$(cat app.txt)\\\" = app && exit 42; "
                    "exit 1\"]\n" % BASE)
        rc, _, err = berth("image", "load", "--data-dir", agent.data_dir, "-i",
                           os.path.join(TMP, "base.tar"), "-t", BASE)
        self.assertEqual(rc, 0, err)
        rc, out, err = berth("build", "--data-dir", agent.data_dir, "-t", "itest/built:1", ctx)
        self.assertEqual(rc, 0, out + err)
        td = ecs.register_task_definition(
            family="built", containerDefinitions=[{"name": "app", "image": "itest/built:1",
                                                   "memory": 64}])["taskDefinition"]
        r = ecs.run_task(cluster="build", taskDefinition=td["taskDefinitionArn"])
        self.assertEqual(r["failures"], [])
        arn = r["tasks"][0]["taskArn"]
        ecs.get_waiter("tasks_stopped").wait(cluster="build", tasks=[arn],
                                             WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        task = ecs.describe_tasks(cluster="build", tasks=[arn])["tasks"][0]
        self.assertEqual(task["containers"][0].get("exitCode"), 42, task)


if __name__ == "__main__":
    harness.main()
