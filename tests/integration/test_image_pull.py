"""
`berth image pull` and `berth images`, the agent's OCI distribution client
driven from the CLI, against two kinds of registry on 127.0.0.1:

- berth's own registry (a `berth server`), with the busybox test images of
  tests/images/build.py pushed by skopeo as an OCI manifest, an OCI index,
  a Docker schema-2 manifest and a Docker manifest list; pulled with user
  AWS and the ECR token, by tag, by digest and through an index, into an
  image store whose layers must hold /bin/busybox and layer 3's
  whiteouts; pulled again (nothing downloaded); refused with a wrong
  token and for a missing tag, with a message that says so.
- a small registry written here (http.server), for what berth's registry
  never does: Bearer tokens from a realm (the Docker token protocol),
  anonymous or with credentials; corrupt, oversized and missing content,
  each refused with nothing left in the store.

Nothing but 127.0.0.1 is contacted; every server and directory made here
is removed again.
"""
import base64
import hashlib
import http.server
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

import harness
from harness import BerthTestCase, Berth

sys.path.insert(0, os.path.join(harness.ROOT, "tests", "images"))
import build  # noqa: E402

IMGDIR = None
IMG = {}


def setUpModule():
    global IMGDIR
    IMGDIR = tempfile.mkdtemp(prefix="berth-itest-image-pull-")
    for v in ("oci", "index", "docker", "docker-list"):
        IMG[v] = build.image(v)
    IMG["other"] = build.image("oci", salt="other")
    build.write_layout(os.path.join(IMGDIR, "oci"),
                       {"latest": IMG["oci"], "index": IMG["index"], "other": IMG["other"]})
    build.write_dir(os.path.join(IMGDIR, "docker"), IMG["docker"])
    build.write_dir(os.path.join(IMGDIR, "docker-list"), IMG["docker-list"])
    os.makedirs(os.path.join(IMGDIR, "home"))


def tearDownModule():
    if IMGDIR:
        shutil.rmtree(IMGDIR, ignore_errors=True)


def skopeo_env():
    return harness.skopeo_env(os.path.join(IMGDIR, "home"))


def berth(*args, password=None, timeout=120):
    """Run the berth binary: (rc, stdout, stderr)."""
    p = subprocess.run([harness.BERTH_BIN] + list(args), capture_output=True, timeout=timeout,
                       input=(password or "").encode() + b"\n" if password is not None else None,
                       stdin=subprocess.DEVNULL if password is None else None)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def layer_dir(data_dir, diff_id):
    return os.path.join(data_dir, "layers", "sha256", diff_id.split(":", 1)[1])


def records(data_dir):
    d = os.path.join(data_dir, "images")
    if not os.path.isdir(d):
        return []
    out = []
    for n in sorted(os.listdir(d)):
        if n.endswith(".json") and len(n) == 69:
            with open(os.path.join(d, n)) as f:
                out.append(json.load(f))
    return out


def layers_in(data_dir):
    d = os.path.join(data_dir, "layers", "sha256")
    return sorted(n for n in os.listdir(d) if len(n) == 64) if os.path.isdir(d) else []


def recorded_whiteouts(layer):
    """{path: 'w' | 'o'} from a layer's .berth-whiteouts file (layers.h)."""
    p = os.path.join(layer, ".berth-whiteouts")
    if not os.path.exists(p):
        return {}
    with open(p, "rb") as f:
        recs = [r for r in f.read().split(b"\0") if r]
    return {r[2:].decode(): r[:1].decode() for r in recs}


class ImagePullCase(BerthTestCase):
    """A store directory per test, removed afterwards."""

    shared_server = False

    def store(self):
        d = tempfile.mkdtemp(prefix="berth-itest-store-", dir=IMGDIR)
        self.addCleanup(shutil.rmtree, d, True)
        return os.path.join(d, "data")

    def assertPulled(self, result, digest=None):
        rc, out, err = result
        self.assertEqual(rc, 0, "berth image pull failed: %s" % err)
        got = out.strip()
        self.assertRegex(got, r"^sha256:[0-9a-f]{64}$")
        if digest:
            self.assertEqual(got, digest)
        return got

    def assertRefused(self, result, *words):
        rc, out, err = result
        self.assertEqual(rc, 1, "berth image pull: rc %d, out %r, err %r" % (rc, out, err))
        self.assertEqual(out, "")
        self.assertTrue(err.startswith("berth image pull: "), err)
        for w in words:
            self.assertIn(w, err)
        return err

    def assertNothingStored(self, data_dir):
        self.assertEqual(records(data_dir), [])
        self.assertEqual(layers_in(data_dir), [])
        dl = os.path.join(data_dir, "downloads")
        self.assertEqual(os.listdir(dl) if os.path.isdir(dl) else [], [])

    def assertImageUnpacked(self, data_dir, img):
        """The layers of img (an image manifest) are in the store, whiteouts included."""
        diff_ids = json.loads(img.blobs[img.config_digest()])["rootfs"]["diff_ids"]
        self.assertEqual(len(diff_ids), 3)
        l1, l2, l3 = (layer_dir(data_dir, d) for d in diff_ids)
        bb = os.path.join(l1, "bin", "busybox")
        self.assertTrue(os.path.isfile(bb))
        self.assertTrue(os.stat(bb).st_mode & stat.S_IXUSR)
        with open(bb, "rb") as f:
            self.assertEqual(hashlib.sha256(f.read()).digest(),
                             hashlib.sha256(build.busybox_bytes()).digest())
        self.assertEqual(os.readlink(os.path.join(l1, "bin", "sh")), "busybox")
        self.assertTrue(os.path.isfile(os.path.join(l2, "www", "old", "stale.txt")))
        self.assertTrue(os.path.isfile(os.path.join(l3, "www", "old", "new.txt")))
        # layer 3's whiteouts: overlayfs's own form, or recorded (layers.h)
        recorded = recorded_whiteouts(l3)
        motd = os.path.join(l3, "etc", "motd")
        if "etc/motd" in recorded:
            self.assertEqual(recorded["etc/motd"], "w")
        else:
            st = os.lstat(motd)
            self.assertTrue(stat.S_ISCHR(st.st_mode), "etc/motd is no whiteout in layer 3")
            self.assertEqual(st.st_rdev, 0)
        if "www/old" in recorded:
            self.assertEqual(recorded["www/old"], "o")
        else:
            self.assertEqual(os.getxattr(os.path.join(l3, "www", "old"),
                                         "trusted.overlay.opaque"), b"y")
        self.assertFalse(os.path.exists(os.path.join(l3, "etc", ".wh.motd")))
        self.assertFalse(os.path.exists(os.path.join(l3, "www", "old", ".wh..wh..opq")))


# =====================================================================================

class FromBerthRegistry(ImagePullCase):
    """berth's own registry, as the agent pulls from it: user AWS and the ECR token."""

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.berth = Berth(extra_args=["--registry-create-on-push"])
        cls.addClassCleanup(cls.berth.cleanup)
        cls.berth.start()
        rc, pw, err = cls.berth.aws("ecr", "get-login-password")
        assert rc == 0, err
        cls.password = pw.strip()
        cls.host = "127.0.0.1:%d" % cls.berth.port
        pushes = [("oci:%s:latest" % os.path.join(IMGDIR, "oci"), "itest/busybox:latest"),
                  ("oci:%s:other" % os.path.join(IMGDIR, "oci"), "itest/busybox:other"),
                  ("oci:%s:index" % os.path.join(IMGDIR, "oci"), "itest/busybox:index"),
                  ("dir:%s" % os.path.join(IMGDIR, "docker"), "itest/docker:latest"),
                  ("dir:%s" % os.path.join(IMGDIR, "docker-list"), "itest/docker:list")]
        for src, dest in pushes:
            # the manifest lists are copied whole: every platform, as pushed
            p = subprocess.run(["skopeo", "--insecure-policy", "copy", "--all",
                                "--preserve-digests", "--dest-tls-verify=false",
                                "--dest-creds", "AWS:" + cls.password, src,
                                "docker://%s/%s" % (cls.host, dest)],
                               env=skopeo_env(), capture_output=True, timeout=120)
            assert p.returncode == 0, "skopeo copy %s: %s" % (src, p.stderr.decode())

    def pull(self, data_dir, ref, password=True, *extra):
        args = ["image", "pull", "--data-dir", data_dir] + list(extra)
        if password:
            args += ["--username", "AWS", "--password-stdin"]
        return berth(*(args + ["%s/%s" % (self.host, ref)]),
                     password=(self.password if password is True else password) if password
                     else None)

    def test_pull_by_tag_then_again(self):
        data = self.store()
        t0 = time.monotonic()
        digest = self.assertPulled(self.pull(data, "itest/busybox:latest"), IMG["oci"].digest)
        first = time.monotonic() - t0
        self.assertImageUnpacked(data, IMG["oci"])
        [rec] = records(data)
        self.assertEqual(rec["digest"], digest)
        self.assertEqual(rec["references"], ["%s/itest/busybox:latest" % self.host])
        self.assertEqual(rec["config"]["config"]["WorkingDir"], "/www")
        self.assertEqual(len(rec["diffIds"]), 3)
        self.assertEqual(rec["size"], sum(l["size"] for l in IMG["oci"].doc["layers"]))
        before = {n: os.stat(os.path.join(data, "layers", "sha256", n)).st_ino
                  for n in layers_in(data)}
        self.assertEqual(len(before), 3)
        # again: the same layer directories, nothing unpacked anew
        t0 = time.monotonic()
        self.assertPulled(self.pull(data, "itest/busybox:latest"), digest)
        again = time.monotonic() - t0
        after = {n: os.stat(os.path.join(data, "layers", "sha256", n)).st_ino
                 for n in layers_in(data)}
        self.assertEqual(before, after)
        self.assertEqual(len(records(data)), 1)
        self.assertLess(again, max(first, 1.0) * 5)
        # by digest, into a second store: the same image
        data2 = self.store()
        self.assertPulled(self.pull(data2, "itest/busybox@" + digest), digest)
        self.assertImageUnpacked(data2, IMG["oci"])

    def test_index_gives_this_machines_manifest(self):
        data = self.store()
        amd64 = IMG["index"].children[0]
        self.assertEqual(amd64.platform["architecture"], "amd64")
        # by tag and by the index's own digest: the amd64 manifest's digest
        self.assertPulled(self.pull(data, "itest/busybox:index"), amd64.digest)
        self.assertPulled(self.pull(data, "itest/busybox@" + IMG["index"].digest), amd64.digest)
        self.assertImageUnpacked(data, amd64)
        [rec] = records(data)
        self.assertEqual(rec["config"]["architecture"], "amd64")
        self.assertEqual(sorted(rec["references"]),
                         sorted(["%s/itest/busybox:index" % self.host,
                                 "%s/itest/busybox@%s" % (self.host, IMG["index"].digest)]))

    def test_docker_media_types(self):
        data = self.store()
        self.assertPulled(self.pull(data, "itest/docker:latest"), IMG["docker"].digest)
        self.assertImageUnpacked(data, IMG["docker"])
        # the list's amd64 entry is that very manifest: one image, two names
        amd64 = IMG["docker-list"].children[0]
        self.assertEqual(amd64.digest, IMG["docker"].digest)
        self.assertPulled(self.pull(data, "itest/docker:list"), amd64.digest)
        [rec] = records(data)
        self.assertEqual(sorted(rec["references"]), ["%s/itest/docker:%s" % (self.host, t)
                                                     for t in ("latest", "list")])
        # the same layers as the OCI image's, under Docker media types: shared
        self.assertPulled(self.pull(data, "itest/busybox:latest"), IMG["oci"].digest)
        self.assertEqual(len(layers_in(data)), 3)
        self.assertEqual(len(records(data)), 2)

    def test_images_lists_the_store(self):
        data = self.store()
        rc, out, err = berth("images", "--data-dir", data)
        self.assertEqual((rc, err), (0, ""))
        self.assertEqual(out.split(), ["REPOSITORY", "TAG", "DIGEST", "SIZE"])
        self.assertFalse(os.path.exists(data), "listing created the store")
        self.assertPulled(self.pull(data, "itest/busybox:latest"))
        self.assertPulled(self.pull(data, "itest/busybox:other"))
        self.assertPulled(self.pull(data, "itest/busybox:index"))
        for cmd in (["images"], ["image", "ls"]):
            rc, out, err = berth(*(cmd + ["--data-dir", data]))
            self.assertEqual((rc, err), (0, ""))
            lines = [l.split() for l in out.splitlines()]
            self.assertEqual(lines[0], ["REPOSITORY", "TAG", "DIGEST", "SIZE"])
            repo = "%s/itest/busybox" % self.host
            self.assertEqual([l[:3] for l in lines[1:]],
                             [[repo, "index", IMG["index"].children[0].digest],
                              [repo, "latest", IMG["oci"].digest],
                              [repo, "other", IMG["other"].digest]])
            self.assertRegex(lines[1][3], r"^[0-9.]+[kM]B$")

    def test_two_pulls_at_once(self):
        """Two processes pull one image into one store: both succeed, one copy of each layer."""
        data = self.store()
        argv = [harness.BERTH_BIN, "image", "pull", "--data-dir", data, "--username", "AWS",
                "--password-stdin", "%s/itest/busybox:latest" % self.host]
        procs = [subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE) for _ in range(3)]
        for p in procs:
            out, err = p.communicate(self.password.encode() + b"\n", timeout=120)
            self.assertEqual(p.returncode, 0, err.decode())
            self.assertEqual(out.decode().strip(), IMG["oci"].digest)
        self.assertEqual(len(layers_in(data)), 3)
        self.assertImageUnpacked(data, IMG["oci"])
        self.assertEqual(len(records(data)), 1)
        self.assertEqual(os.listdir(os.path.join(data, "layers", "sha256")).__len__(), 3,
                         "temporary directories left: %s"
                         % os.listdir(os.path.join(data, "layers", "sha256")))

    def test_refusals(self):
        data = self.store()
        # a wrong token
        self.assertRefused(self.pull(data, "itest/busybox:latest", "not-a-token"),
                           "refused the credentials of user 'AWS'", "itest/busybox")
        # none at all
        self.assertRefused(self.pull(data, "itest/busybox:latest", False),
                           "asks for credentials and none were given")
        # a missing tag, a missing repository
        self.assertRefused(self.pull(data, "itest/busybox:nosuchtag"),
                           "itest/busybox: manifest 'nosuchtag' not found")
        self.assertRefused(self.pull(data, "itest/nosuchrepo:latest"), "not found")
        # a missing digest
        self.assertRefused(self.pull(data, "itest/busybox@sha256:" + "0" * 64), "not found")
        # a bad reference: no request at all
        err = self.assertRefused(berth("image", "pull", "--data-dir", data, "Itest/UPPER:x"),
                                 "invalid reference format")
        self.assertIn("lowercase", err)
        self.assertRefused(berth("image", "pull", "--data-dir", data, "a/b@sha256:abc"),
                           "invalid reference format: bad digest")
        self.assertNothingStored(data)

    def test_command_line(self):
        data = self.store()
        rc, out, err = berth("image", "pull", "--data-dir", data)
        self.assertEqual(rc, 2)
        self.assertIn("usage: berth image pull", err)
        rc, out, err = berth("image", "pull", "--username", "AWS", "x")
        self.assertEqual(rc, 2)
        self.assertIn("--username and --password-stdin go together", err)
        rc, out, err = berth("image", "frobnicate")
        self.assertEqual(rc, 2)
        self.assertIn("'frobnicate' is not a verb", err)
        rc, out, err = berth("image", "help")
        self.assertEqual(rc, 0)
        self.assertIn("pull", out)
        rc, out, err = berth("image", "pull", "--help")
        self.assertEqual(rc, 0)
        self.assertIn("--insecure-registry", out)
        self.assertFalse(os.path.exists(data))


# =====================================================================================

class FakeRegistry:
    """
    A registry on 127.0.0.1 serving one repository ("test/img") from
    {path: (status, content type, body)}, behind auth:
      None      anonymous
      "basic"   Basic user:secret
      "bearer"  a Bearer challenge whose realm is /token on the same server;
                the token service wants Basic user:secret when creds_for_token
                is set, and anything otherwise
    Every request is kept in .log as (method, path, headers). .plan maps a
    path to what its next requests get instead, one item each, in order:
    (status, headers) for an error answer, "stall": headers that never
    come (the connection is held until close()), or "drop": the connection
    closed with no answer.
    """

    USER, SECRET, TOKEN = "alice", "s3cret", "tok-123"

    def __init__(self, auth=None, creds_for_token=True, token_key="token"):
        self.auth = auth
        self.creds_for_token = creds_for_token
        self.token_key = token_key
        self.routes = {}
        self.plan = {}
        self.closing = threading.Event()
        self.log = []
        self.lock = threading.Lock()
        reg = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                reg.handle(self)

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.host = "127.0.0.1:%d" % self.port
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(10)

    def basic_ok(self, h):
        want = "Basic " + base64.b64encode(("%s:%s" % (self.USER, self.SECRET)).encode()).decode()
        return h.get("Authorization") == want

    def send(self, req, status, body=b"", ctype="application/json", headers=()):
        req.send_response(status)
        req.send_header("Content-Type", ctype)
        req.send_header("Content-Length", str(len(body)))
        for k, v in headers:
            req.send_header(k, v)
        req.end_headers()
        try:
            req.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass  # a client that refuses a body

    def handle(self, req):
        u = urllib.parse.urlsplit(req.path)
        with self.lock:
            self.log.append(("GET", req.path, dict(req.headers.items())))
            planned = self.plan.get(u.path)
            step = planned.pop(0) if planned else None
        if step == "stall":
            self.closing.wait(120)
            return
        if step == "drop":
            req.close_connection = True
            return
        if step is not None:
            return self.send(req, step[0], b'{"errors":[{"code":"UNAVAILABLE"}]}',
                             headers=step[1])
        unauthorized = b'{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}'
        if u.path == "/token":
            if self.auth != "bearer" or (self.creds_for_token and not self.basic_ok(req.headers)):
                return self.send(req, 401, unauthorized)
            return self.send(req, 200, json.dumps({self.token_key: self.TOKEN}).encode())
        if self.auth == "basic" and not self.basic_ok(req.headers):
            return self.send(req, 401, unauthorized,
                             headers=[("WWW-Authenticate", 'Basic realm="fake"')])
        if self.auth == "bearer" and req.headers.get("Authorization") != "Bearer " + self.TOKEN:
            challenge = ('Bearer realm="http://%s/token",service="fake-registry",'
                         'scope="repository:test/img:pull"' % self.host)
            return self.send(req, 401, unauthorized, headers=[("WWW-Authenticate", challenge)])
        r = self.routes.get(u.path)
        if r is None:
            return self.send(req, 404, b'{"errors":[{"code":"MANIFEST_UNKNOWN"}]}')
        status, ctype, body = r
        headers = []
        if "/manifests/" in u.path and status == 200:
            headers.append(("Docker-Content-Digest", build.sha256(body)))
        self.send(req, status, body, ctype, headers)

    def serve(self, img, tag="v1"):
        """Routes for img (and an index's children) under test/img."""
        for child in img.children:
            self.routes["/v2/test/img/manifests/" + child.digest] = (200, child.media_type,
                                                                     child.manifest)
        for d, data in img.blobs.items():
            self.routes["/v2/test/img/blobs/" + d] = (200, "application/octet-stream", data)
        for ref in (tag, img.digest):
            self.routes["/v2/test/img/manifests/" + ref] = (200, img.media_type, img.manifest)

    def blob_requests(self):
        return [p for m, p, h in self.log if "/blobs/" in p]


class FromOtherRegistries(ImagePullCase):
    """Registries that are not berth's: the token protocol, and content that lies."""

    def fake(self, **kw):
        r = FakeRegistry(**kw)
        self.addCleanup(r.close)
        return r

    def pull(self, data, reg, ref="v1", user=None, password=None):
        args = ["image", "pull", "--data-dir", data]
        if user:
            args += ["--username", user, "--password-stdin"]
        sep = "@" if ref.startswith("sha256:") else ":"
        return berth(*(args + ["%s/test/img%s%s" % (reg.host, sep, ref)]), password=password)

    def test_bearer_token_with_credentials(self):
        reg = self.fake(auth="bearer")
        reg.serve(IMG["oci"])
        data = self.store()
        self.assertPulled(self.pull(data, reg, user=reg.USER, password=reg.SECRET),
                          IMG["oci"].digest)
        self.assertImageUnpacked(data, IMG["oci"])
        tokens = [(p, h) for m, p, h in reg.log if p.startswith("/token")]
        self.assertGreaterEqual(len(tokens), 1)
        q = urllib.parse.parse_qs(urllib.parse.urlsplit(tokens[0][0]).query)
        self.assertEqual(q, {"service": ["fake-registry"], "scope": ["repository:test/img:pull"]})
        self.assertTrue(reg.basic_ok(tokens[0][1]), "the token was asked for without the creds")
        # every registry request after the challenge carried the token, not the password
        for m, p, h in reg.log:
            if p.startswith("/v2/") and "Authorization" in h:
                self.assertEqual(h["Authorization"], "Bearer " + reg.TOKEN)
        self.assertEqual(len(reg.blob_requests()), 4)  # config + 3 layers

    def test_bearer_token_anonymous(self):
        """Public images behind a token service (Docker Hub's way): an anonymous token."""
        reg = self.fake(auth="bearer", creds_for_token=False, token_key="access_token")
        reg.serve(IMG["index"])
        data = self.store()
        self.assertPulled(self.pull(data, reg), IMG["index"].children[0].digest)
        self.assertImageUnpacked(data, IMG["index"].children[0])
        tokens = [h for m, p, h in reg.log if p.startswith("/token")]
        self.assertNotIn("Authorization", tokens[0])

    def test_bearer_token_refused(self):
        reg = self.fake(auth="bearer")
        reg.serve(IMG["oci"])
        data = self.store()
        self.assertRefused(self.pull(data, reg, user=reg.USER, password="wrong"),
                           "the token service http://%s/token answered 401" % reg.host)
        self.assertRefused(self.pull(data, reg), "answered 401")
        self.assertNothingStored(data)

    def test_basic_auth(self):
        reg = self.fake(auth="basic")
        reg.serve(IMG["oci"])
        data = self.store()
        self.assertRefused(self.pull(data, reg), "asks for credentials and none were given")
        self.assertRefused(self.pull(data, reg, user=reg.USER, password="nope"),
                           "refused the credentials of user 'alice'")
        self.assertNothingStored(data)
        self.assertPulled(self.pull(data, reg, user=reg.USER, password=reg.SECRET),
                          IMG["oci"].digest)

    def test_corrupt_blob_refused(self):
        """The third layer's bytes are not its digest's: refused, and nothing stored."""
        reg = self.fake()
        reg.serve(IMG["oci"])
        l3 = IMG["oci"].layer_digests()[2]
        good = IMG["oci"].blobs[l3]
        bad = bytearray(good)
        bad[len(bad) // 2] ^= 0xFF
        reg.routes["/v2/test/img/blobs/" + l3] = (200, "application/octet-stream", bytes(bad))
        data = self.store()
        self.assertRefused(self.pull(data, reg), "layer " + l3)
        self.assertNothingStored(data)
        # truncated
        reg.routes["/v2/test/img/blobs/" + l3] = (200, "application/octet-stream", good[:-20])
        self.assertRefused(self.pull(data, reg), "layer " + l3)
        self.assertNothingStored(data)
        # longer than its descriptor
        reg.routes["/v2/test/img/blobs/" + l3] = (200, "application/octet-stream",
                                                  good + b"\0" * 100)
        self.assertRefused(self.pull(data, reg), "more than the %d bytes" % len(good))
        self.assertNothingStored(data)
        # missing
        del reg.routes["/v2/test/img/blobs/" + l3]
        self.assertRefused(self.pull(data, reg), "test/img: layer %s: " % l3, "not found (404)")
        self.assertNothingStored(data)
        # and once it is right, it pulls
        reg.routes["/v2/test/img/blobs/" + l3] = (200, "application/octet-stream", good)
        self.assertPulled(self.pull(data, reg), IMG["oci"].digest)

    def test_manifests_that_lie(self):
        reg = self.fake()
        reg.serve(IMG["oci"])
        data = self.store()
        img = IMG["oci"]
        # asked for by digest, something else comes back
        reg.routes["/v2/test/img/manifests/" + img.digest] = (200, img.media_type,
                                                              IMG["other"].manifest)
        self.assertRefused(self.pull(data, reg, img.digest), "not the %s asked for" % img.digest)
        # a config that is not its digest's
        cfg = img.config_digest()
        reg.routes["/v2/test/img/blobs/" + cfg] = (200, "application/json", b"{}")
        self.assertRefused(self.pull(data, reg), "the config's content is")
        # a config that lists two layers for three
        doc = json.loads(img.blobs[cfg])
        doc["rootfs"]["diff_ids"] = doc["rootfs"]["diff_ids"][:2]
        cfg2 = build.canonical(doc)
        m = img.doc
        m["config"]["digest"], m["config"]["size"] = build.sha256(cfg2), len(cfg2)
        reg.routes["/v2/test/img/blobs/" + build.sha256(cfg2)] = (200, "application/json", cfg2)
        reg.routes["/v2/test/img/manifests/v1"] = (200, img.media_type, build.canonical(m))
        self.assertRefused(self.pull(data, reg), "3 layers and the config 2 diff_ids")
        # a huge manifest
        reg.routes["/v2/test/img/manifests/v1"] = (200, img.media_type,
                                                   b"{" + b" " * (4 << 20) + b"}")
        self.assertRefused(self.pull(data, reg), "the manifest is over 4194304 bytes")
        # not an image: an artifact's config media type
        m = img.doc
        m["config"]["mediaType"] = "application/vnd.cncf.helm.config.v1+json"
        reg.routes["/v2/test/img/manifests/v1"] = (200, img.media_type, build.canonical(m))
        self.assertRefused(self.pull(data, reg), "not a container image")
        # an index without this machine's platform
        idx = IMG["index"].doc
        idx["manifests"] = [d for d in idx["manifests"]
                            if d["platform"]["architecture"] != "amd64"]
        reg.routes["/v2/test/img/manifests/v1"] = (200, build.OCI_INDEX, build.canonical(idx))
        self.assertRefused(self.pull(data, reg), "no manifest for platform linux/amd64")
        # a server error
        reg.routes["/v2/test/img/manifests/v1"] = (503, "text/plain", b"down for maintenance")
        self.assertRefused(self.pull(data, reg), "HTTP 503")
        self.assertNothingStored(data)

    def test_retries_server_errors(self):
        """503 (with Retry-After), 429, 502 and a dropped connection are tried again."""
        reg = self.fake()
        reg.serve(IMG["oci"])
        l2 = IMG["oci"].layer_digests()[1]
        manifest = "/v2/test/img/manifests/v1"
        reg.plan[manifest] = [(503, [("Retry-After", "1")]), (429, [])]
        reg.plan["/v2/test/img/blobs/" + l2] = [(502, []), "drop"]
        data = self.store()
        t0 = time.monotonic()
        self.assertPulled(self.pull(data, reg), IMG["oci"].digest)
        # Retry-After's second, then 1 s of back-off: at least 1.5 s in all
        self.assertGreaterEqual(time.monotonic() - t0, 1.5)
        self.assertImageUnpacked(data, IMG["oci"])
        self.assertEqual([p for m, p, h in reg.log].count(manifest), 3)
        self.assertEqual(reg.blob_requests().count("/v2/test/img/blobs/" + l2), 3)
        # a registry that keeps failing: four attempts, then the pull fails
        reg.plan[manifest] = [(503, [])] * 10
        data = self.store()
        self.assertRefused(self.pull(data, reg), "HTTP 503")
        self.assertEqual(len(reg.plan[manifest]), 6)
        self.assertNothingStored(data)

    def test_stalled_registry_fails(self):
        """A registry that stops answering fails the pull after the inactivity timeout."""
        reg = self.fake()
        reg.serve(IMG["oci"])
        l3 = IMG["oci"].layer_digests()[2]
        data = self.store()
        # one stall, then an answer: the retry gets the layer
        reg.plan["/v2/test/img/blobs/" + l3] = ["stall"]
        self.assertPulled(berth("image", "pull", "--data-dir", data, "--inactivity-timeout", "1",
                                "%s/test/img:v1" % reg.host), IMG["oci"].digest)
        # a registry that never answers: every attempt stalls, the pull fails
        reg.plan["/v2/test/img/manifests/v1"] = ["stall"] * 4
        data = self.store()
        t0 = time.monotonic()
        rc, out, err = berth("image", "pull", "--data-dir", data, "--inactivity-timeout", "1",
                             "%s/test/img:v1" % reg.host)
        self.assertEqual(rc, 1, err)
        self.assertIn("/v2/test/img/manifests/v1", err)
        self.assertIn("nothing received for 1 s: the server stalled", err)
        self.assertLess(time.monotonic() - t0, 60)
        self.assertEqual(reg.plan["/v2/test/img/manifests/v1"], [])
        self.assertNothingStored(data)
        self.assertEqual(berth("image", "pull", "--inactivity-timeout", "0", "x")[0], 2)

    def test_nothing_listening(self):
        data = self.store()
        port = harness.free_port()
        rc, out, err = berth("image", "pull", "--data-dir", data, "127.0.0.1:%d/a/b:c" % port)
        self.assertEqual(rc, 1)
        self.assertIn("http://127.0.0.1:%d/v2/a/b/manifests/c" % port, err)
        self.assertNothingStored(data)


if __name__ == "__main__":
    harness.main()
