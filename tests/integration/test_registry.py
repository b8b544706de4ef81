"""
The built-in registry with real clients: the OCI Distribution v2 API under
/v2/ driven by skopeo and by hand-made HTTP requests (uploads in chunks,
mounts, deletion, tag listing, every error code of the spec provoked on
purpose), and ECR's API (aws CLI and boto3) on the images pushed.

Images come from tests/images/build.py (busybox-static), never from the
internet. Whatever the server does not serve yet is skipped with the
reason, not failed: a /v2/ endpoint answering 404 without an OCI error
body, 405 or 501; an ECR action answered with UnknownOperationException;
a server without --registry-create-on-push.

After each refused request, test_errors_* check that nothing stored was
corrupted: the reference image pushed at the start still reads back byte
for byte, and every blob file on disk hashes to its name.
"""
import base64
import hashlib
import hmac
import http.client
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
import urllib.error
import urllib.request
import uuid

import harness
from harness import BerthTestCase, Berth, ServerError

sys.path.insert(0, os.path.join(harness.ROOT, "tests", "images"))
import build  # noqa: E402

ECR_PREFIX = "AmazonEC2ContainerRegistry_V20150921"
CREATE_ON_PUSH = "--registry-create-on-push"
ZERO_DIGEST = "sha256:" + "0" * 64
BASE_REPO, BASE_TAG = "base/app", "v1"

IMG = {}        # variant -> build.Image
IMGDIR = None   # temp dir with the OCI layout and dir: layouts below
OCI = None      # OCI layout: tags latest (oci), other (oci, salt), index (index)


def setUpModule():
    global IMGDIR, OCI
    IMGDIR = tempfile.mkdtemp(prefix="berth-itest-images-")
    IMG["oci"] = build.image("oci")
    IMG["other"] = build.image("oci", salt="other")
    IMG["third"] = build.image("oci", salt="third")
    IMG["index"] = build.image("index")
    IMG["docker"] = build.image("docker")
    IMG["docker-list"] = build.image("docker-list")
    OCI = os.path.join(IMGDIR, "oci")
    build.write_layout(OCI, {"latest": IMG["oci"], "other": IMG["other"],
                             "third": IMG["third"], "index": IMG["index"]})
    build.write_dir(os.path.join(IMGDIR, "docker"), IMG["docker"])
    build.write_dir(os.path.join(IMGDIR, "docker-list"), IMG["docker-list"])
    os.makedirs(os.path.join(IMGDIR, "home"))
    with open(os.path.join(IMGDIR, "auth.json"), "w") as f:
        f.write('{"auths":{}}')


def tearDownModule():
    if IMGDIR:
        shutil.rmtree(IMGDIR, ignore_errors=True)


def sha256(data):
    return build.sha256(data)


def mint_password(access_key, secret, expires_at):
    """An ECR token password as src/registry/token.c makes it (registry.h's contract)."""
    payload = ("%s:%d" % (access_key, expires_at)).encode()
    mac = hmac.new(secret.encode(), b"berth-ecr-token:" + payload, hashlib.sha256).hexdigest()
    return base64.urlsafe_b64encode(payload).rstrip(b"=").decode() + "." + mac


def basic(password, user="AWS"):
    return "Basic " + base64.b64encode(("%s:%s" % (user, password)).encode()).decode()


def skopeo_env():
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"HOME": os.path.join(IMGDIR, "home"),
                "XDG_RUNTIME_DIR": os.path.join(IMGDIR, "home"),
                "XDG_CONFIG_HOME": os.path.join(IMGDIR, "home", ".config"),
                "REGISTRY_AUTH_FILE": os.path.join(IMGDIR, "auth.json")})
    return env


def run(argv, timeout=60, stdin=None, input=None):
    p = subprocess.run(argv, env=skopeo_env(), capture_output=True, timeout=timeout,
                       stdin=stdin if input is None else None, input=input)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")


def read_blobs_of_layout(path, img):
    """{digest: bytes} read back from an OCI layout for img's blobs."""
    return {d: build.read_layout_blob(path, d) for d in img.blobs}


def link_next(resp):
    """The target of a Link: <...>; rel="next" header, or None."""
    link = resp.headers.get("link")
    if not link:
        return None
    m = re.match(r'\s*<([^>]+)>\s*;\s*rel="?next"?', link)
    if not m:
        raise AssertionError("malformed Link header %r" % link)
    u = urllib.parse.urlsplit(m.group(1))
    return u.path + ("?" + u.query if u.query else "")


class RegistryCase(BerthTestCase):
    """
    A berth server with --registry-create-on-push when the server has the
    option (cls.create_on_push says), helpers to reach /v2/ and ECR, and a
    reference image (BASE_REPO:BASE_TAG) pushed at the start.
    """

    shared_server = False
    create_on_push_wanted = True

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.berth, cls.create_on_push = cls.start_server(cls.create_on_push_wanted)
        cls.ecr = cls.berth.client("ecr")
        cls._ecr_ops = {}
        r = harness.http_request(cls.berth.endpoint, "GET", "/v2/")
        cls.has_v2 = r.status in (200, 401)
        cls.host = "127.0.0.1:%d" % cls.berth.port
        cls.password = cls.get_password(cls.berth)
        cls.base_pushed = None

    @classmethod
    def start_server(cls, create_on_push):
        """(Berth started, whether it has create-on-push); added to the class cleanups."""
        if create_on_push:
            b = Berth(extra_args=[CREATE_ON_PUSH])
            try:
                b.start()
                cls.addClassCleanup(b.cleanup)
                return b, True
            except ServerError as e:
                b.cleanup()
                if CREATE_ON_PUSH not in str(e):
                    raise
        b = Berth()
        b.start()
        cls.addClassCleanup(b.cleanup)
        return b, False

    # --- what the server has ---

    @classmethod
    def ecr_has(cls, op, berth=None):
        berth = berth or cls.berth
        key = (berth.port, op)
        if key not in cls._ecr_ops:
            r = berth.request("%s.%s" % (ECR_PREFIX, op), b"{}", service="ecr")
            # the ECR actions answer "this server runs no registry" until the
            # registry is wired into the server
            cls._ecr_ops[key] = not (r.error_type == "UnknownOperationException" or
                                     (r.status >= 500 and "no registry" in r.message))
        return cls._ecr_ops[key]

    def need_ecr(self, *ops):
        for op in ops:
            if not self.ecr_has(op):
                self.skipTest("ECR %s is not on this server yet (branch reg-ecr)" % op)

    def need_v2(self):
        if not self.has_v2:
            self.skipTest("GET /v2/ answers 404: the distribution API is not on this server "
                          "yet (branch reg-dist)")

    def need_create_on_push(self):
        if not self.create_on_push:
            self.skipTest("berth server has no %s yet (branch reg-dist)" % CREATE_ON_PUSH)

    @classmethod
    def get_password(cls, berth):
        """GetAuthorizationToken's password, or one made by hand while it is missing."""
        if cls.ecr_has("GetAuthorizationToken", berth):
            r = berth.client("ecr").get_authorization_token()
            tok = base64.b64decode(r["authorizationData"][0]["authorizationToken"]).decode()
            assert tok.startswith("AWS:"), tok
            return tok[4:]
        return mint_password(berth.access_key, berth.secret_key, int(time.time()) + 3600)

    # --- /v2/ over HTTP ---

    def v2(self, method, path, body=b"", headers=None, auth=True, berth=None, password=None,
           implemented=True):
        """
        A request to /v2/ with basic auth. implemented=True skips the test
        when the server plainly does not have the endpoint yet.
        """
        berth = berth or self.berth
        h = dict(headers or {})
        if auth:
            h["Authorization"] = basic(password or self.password)
        if body and "Content-Type" not in h:
            h["Content-Type"] = "application/octet-stream"
        if method in ("PUT", "POST", "PATCH") and "Content-Length" not in h:
            h["Content-Length"] = str(len(body))
        r = harness.http_request(berth.endpoint, method, path, body, h)
        # a client's mistake is never the server's error (clients retry a 5xx)
        self.assertLess(r.status, 500, "%s %s: %r" % (method, path[:200], r))
        if implemented and (r.status in (404, 405, 501) and method != "HEAD" and
                            not self._oci_errors(r)):
            self.skipTest("%s %s answers %d %r: not on this server yet"
                          % (method, path.split("?")[0], r.status, r.body[:80]))
        return r

    @staticmethod
    def _oci_errors(r):
        if isinstance(r.json, dict) and isinstance(r.json.get("errors"), list):
            return r.json["errors"]
        return None

    def assertOciError(self, r, status, code):
        self.assertEqual(r.status, status, "%r: wanted %d %s" % (r, status, code))
        errs = self._oci_errors(r)
        self.assertTrue(errs, "no OCI error body {\"errors\": [...]} in %r" % r)
        self.assertEqual(errs[0].get("code"), code, repr(r))
        self.assertIsInstance(errs[0].get("message", ""), str)
        self.assertTrue(r.headers.get("content-type", "").startswith("application/json"),
                        r.headers)

    def assertOciErrorHead(self, r, status):
        self.assertEqual(r.status, status, repr(r))
        self.assertEqual(r.body, b"")

    def upload_path(self, r):
        """The path (and query) of an upload's Location header."""
        loc = r.headers.get("location")
        self.assertTrue(loc, "no Location in %r %r" % (r, r.headers))
        u = urllib.parse.urlsplit(loc)
        if u.netloc:
            self.assertEqual(u.netloc, self.host, loc)
        return u.path + ("?" + u.query if u.query else "")

    @staticmethod
    def with_query(path, q):
        return path + ("&" if "?" in path else "?") + q

    def push_blob(self, repo, data, berth=None):
        """Monolithic POST ?digest=, or nothing when the repository has it."""
        d = sha256(data)
        if self.v2("HEAD", "/v2/%s/blobs/%s" % (repo, d), berth=berth).status == 200:
            return d
        r = self.v2("POST", "/v2/%s/blobs/uploads/?digest=%s" % (repo, d), data, berth=berth)
        if r.status == 202:
            # the server wants an upload session: PUT the whole blob to it
            r = self.v2("PUT", self.with_query(self.upload_path(r), "digest=" + d), data,
                        berth=berth)
        self.assertEqual(r.status, 201, "pushing blob %s: %r" % (d, r))
        return d

    def put_manifest(self, repo, ref, img_or_bytes, media_type=None, berth=None):
        if isinstance(img_or_bytes, build.Image):
            body, media_type = img_or_bytes.manifest, media_type or img_or_bytes.media_type
        else:
            body = img_or_bytes
        return self.v2("PUT", "/v2/%s/manifests/%s" % (repo, ref), body,
                       {"Content-Type": media_type or build.OCI_MANIFEST}, berth=berth)

    def push_http(self, repo, img, ref=None, berth=None):
        """Push img (and an index's children) by plain HTTP; returns the manifest PUT's response."""
        for child in img.children:
            for d, data in child.blobs.items():
                self.push_blob(repo, data, berth)
            r = self.put_manifest(repo, child.digest, child, berth=berth)
            self.assertEqual(r.status, 201, r)
        if not img.children:
            for d, data in img.blobs.items():
                self.push_blob(repo, data, berth)
        r = self.put_manifest(repo, ref or img.digest, img, berth=berth)
        self.assertEqual(r.status, 201, "PUT manifest %s:%s: %r" % (repo, ref, r))
        self.assertEqual(r.headers.get("docker-content-digest"), img.digest)
        return r

    def ensure_repo(self, name, **kw):
        """A repository: CreateRepository when ECR has it, else left to create-on-push."""
        if self.ecr_has("CreateRepository"):
            try:
                self.ecr.create_repository(repositoryName=name, **kw)
            except self.ecr.exceptions.RepositoryAlreadyExistsException:
                pass
        elif kw:
            self.skipTest("ECR CreateRepository is not on this server yet (branch reg-ecr)")
        else:
            self.need_create_on_push()

    # --- skopeo ---

    def skopeo(self, *args, timeout=60):
        return run(["skopeo", "--insecure-policy"] + list(args), timeout=timeout)

    def ref(self, repo, tag_or_digest, berth=None):
        berth = berth or self.berth
        sep = "@" if tag_or_digest.startswith("sha256:") else ":"
        return "docker://127.0.0.1:%d/%s%s%s" % (berth.port, repo, sep, tag_or_digest)

    def push(self, src, repo, tag, *extra, berth=None, password=None):
        """skopeo copy SRC docker://berth/REPO:TAG; returns (rc, out, err)."""
        return self.skopeo("copy", "--dest-tls-verify=false",
                           "--dest-creds", "AWS:" + (password or self.password), *extra,
                           src, self.ref(repo, tag, berth))

    def pull(self, repo, tag, dest, *extra, berth=None):
        return self.skopeo("copy", "--src-tls-verify=false", "--src-creds", "AWS:" + self.password,
                           *extra, self.ref(repo, tag, berth), dest)

    def assertPushed(self, src, repo, tag, *extra, berth=None, password=None):
        rc, out, err = self.push(src, repo, tag, *extra, berth=berth, password=password)
        self.assertEqual(rc, 0, "skopeo copy %s to %s:%s failed:\n%s" % (src, repo, tag, err))

    def tmpdir(self):
        d = tempfile.mkdtemp(prefix="berth-itest-pull-", dir=IMGDIR)
        self.addCleanup(shutil.rmtree, d, True)
        return d

    # --- the reference image and the store's consistency ---

    def base(self):
        """Push the reference image once (skopeo, by tag); later tests check it is intact."""
        self.need_v2()
        cls = type(self)
        if cls.base_pushed is None:
            self.ensure_repo(BASE_REPO)
            cls.base_pushed = False
            self.assertPushed("oci:%s:latest" % OCI, BASE_REPO, BASE_TAG)
            cls.base_pushed = True
        if not cls.base_pushed:
            self.skipTest("the reference image could not be pushed (see the first failure)")
        return IMG["oci"]

    def assertImageReads(self, repo, ref, img, berth=None):
        """GET the manifest and every blob over /v2/: byte for byte img's."""
        r = self.v2("GET", "/v2/%s/manifests/%s" % (repo, ref), berth=berth,
                    headers={"Accept": ", ".join([build.OCI_MANIFEST, build.OCI_INDEX,
                                                  build.DOCKER_MANIFEST, build.DOCKER_LIST])})
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.body, img.manifest, "manifest %s:%s differs" % (repo, ref))
        self.assertEqual(r.headers.get("docker-content-digest"), img.digest)
        self.assertEqual(r.headers.get("content-type"), img.media_type)
        for d, data in img.blobs.items():
            if any(d == c.digest for c in img.children):
                continue
            b = self.v2("GET", "/v2/%s/blobs/%s" % (repo, d), berth=berth)
            self.assertEqual(b.status, 200, "blob %s: %r" % (d, b))
            self.assertEqual(sha256(b.body), d,
                             "blob %s of %s:%s reads back wrong" % (d, repo, ref))

    def assertStoreIntact(self, berth=None):
        """The reference image reads back, and every blob on disk hashes to its name."""
        berth = berth or self.berth
        if type(self).base_pushed:
            self.assertImageReads(BASE_REPO, BASE_TAG, IMG["oci"], berth)
        self.assertBlobFilesValid(berth)

    def blob_dir(self, berth=None):
        return os.path.join((berth or self.berth).data_dir, "registry", "blobs", "sha256")

    def assertBlobFilesValid(self, berth=None):
        d = self.blob_dir(berth)
        for name in os.listdir(d):
            if re.fullmatch(r"[0-9a-f]{64}", name):
                h = hashlib.sha256()
                with open(os.path.join(d, name), "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
                self.assertEqual(h.hexdigest(), name, "blob file %s holds other content" % name)

    def blob_files(self, digest, berth=None):
        hexd = digest.split(":", 1)[1]
        return [n for n in os.listdir(self.blob_dir(berth)) if hexd in n]


# =====================================================================================

class Auth(RegistryCase):

    def test_v2_challenge_without_credentials(self):
        self.need_v2()
        r = self.v2("GET", "/v2/", auth=False)
        self.assertOciError(r, 401, "UNAUTHORIZED")
        challenge = r.headers.get("www-authenticate", "")
        self.assertRegex(challenge, r'^Basic realm="[^"]+"', r.headers)

    def test_v2_with_token(self):
        self.need_v2()
        r = self.v2("GET", "/v2/")
        self.assertEqual(r.status, 200, r)
        # the API version check of the distribution spec, which docker clients look for
        self.assertEqual(r.headers.get("docker-distribution-api-version"), "registry/2.0")

    def test_v2_refuses_bad_credentials(self):
        self.need_v2()
        b = self.berth
        cases = {
            "wrong user": basic(self.password, user="admin"),
            "garbage password": basic("not-a-token"),
            "signed with another secret": basic(mint_password(b.access_key, "other-secret",
                                                              int(time.time()) + 3600)),
            "unknown key": basic(mint_password("AKIDNOSUCHKEY0000000", b.secret_key,
                                               int(time.time()) + 3600)),
            "expired": basic(mint_password(b.access_key, b.secret_key, int(time.time()) - 10)),
            "not basic": "Bearer " + self.password,
            "not base64": "Basic !!!!",
        }
        for what, auth in cases.items():
            with self.subTest(what):
                r = self.v2("GET", "/v2/", auth=False, headers={"Authorization": auth})
                self.assertOciError(r, 401, "UNAUTHORIZED")
                self.assertTrue(r.headers.get("www-authenticate", "").startswith("Basic "))

    def test_every_endpoint_needs_auth(self):
        self.base()
        d = IMG["oci"].layer_digests()[0]
        for method, path in (("GET", "/v2/%s/manifests/%s" % (BASE_REPO, BASE_TAG)),
                             ("GET", "/v2/%s/blobs/%s" % (BASE_REPO, d)),
                             ("GET", "/v2/%s/tags/list" % BASE_REPO),
                             ("GET", "/v2/_catalog"),
                             ("POST", "/v2/%s/blobs/uploads/" % BASE_REPO),
                             ("PUT", "/v2/%s/manifests/stolen" % BASE_REPO),
                             ("DELETE", "/v2/%s/manifests/%s" % (BASE_REPO, BASE_TAG))):
            with self.subTest(method=method, path=path):
                body = IMG["oci"].manifest if method == "PUT" else b""
                r = self.v2(method, path, body, {"Content-Type": build.OCI_MANIFEST}, auth=False)
                self.assertOciError(r, 401, "UNAUTHORIZED")
        self.assertStoreIntact()

    def test_token_revoked_with_its_key(self):
        """A token is signed with its key's secret: removing the key revokes it."""
        self.need_v2()
        self.need_ecr("GetAuthorizationToken")
        k2 = ("AKIDBERTHITEST000002", "second-secret-for-registry-tokens")
        b = self.new_berth(credentials=[(b_key, b_secret) for b_key, b_secret in
                                        [(harness.ACCESS_KEY, harness.SECRET_KEY), k2]])
        c2 = b.client("ecr", access_key=k2[0], secret_key=k2[1])
        tok = base64.b64decode(c2.get_authorization_token()["authorizationData"][0]
                               ["authorizationToken"]).decode()[4:]
        self.assertEqual(self.v2("GET", "/v2/", berth=b, password=tok).status, 200)
        b.stop()
        with open(b.credentials_file, "w") as f:
            f.write("%s %s\n" % (harness.ACCESS_KEY, harness.SECRET_KEY))
        b.start()
        r = self.v2("GET", "/v2/", berth=b, password=tok)
        self.assertOciError(r, 401, "UNAUTHORIZED")
        self.assertEqual(self.v2("GET", "/v2/", berth=b, password=self.get_password(b)).status,
                         200)

    def test_get_authorization_token(self):
        self.need_ecr("GetAuthorizationToken")
        t0 = time.time()
        data = self.ecr.get_authorization_token()["authorizationData"]
        self.assertEqual(len(data), 1)
        tok = base64.b64decode(data[0]["authorizationToken"]).decode()
        self.assertTrue(tok.startswith("AWS:"), tok)
        self.assertEqual(data[0]["proxyEndpoint"], "http://" + self.host)
        left = data[0]["expiresAt"].timestamp() - t0
        self.assertTrue(12 * 3600 - 60 <= left <= 12 * 3600 + 60, left)
        if self.has_v2:
            r = self.v2("GET", "/v2/", password=tok[4:])
            self.assertEqual(r.status, 200, r)

    def test_login_with_get_login_password(self):
        self.need_v2()
        self.need_ecr("GetAuthorizationToken")
        authfile = os.path.join(self.tmpdir(), "auth.json")
        aws = subprocess.Popen(["aws", "--endpoint-url", self.berth.endpoint, "--region",
                                harness.REGION, "ecr", "get-login-password"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               stdin=subprocess.DEVNULL)
        try:
            login = subprocess.run(["skopeo", "login", "--password-stdin", "--username", "AWS",
                                    "--tls-verify=false", "--authfile", authfile, self.host],
                                   stdin=aws.stdout, capture_output=True, env=skopeo_env(),
                                   timeout=60)
        finally:
            aws.stdout.close()
            aws_err = aws.stderr.read().decode()
            aws.stderr.close()
            self.assertEqual(aws.wait(30), 0, aws_err)
        self.assertEqual(login.returncode, 0, login.stderr.decode())
        self.assertIn("Login Succeeded", login.stdout.decode())
        with open(authfile) as f:
            auths = json.load(f)["auths"]
        user, pw = base64.b64decode(auths[self.host]["auth"]).decode().split(":", 1)
        self.assertEqual(user, "AWS")
        r = self.v2("GET", "/v2/", password=pw)
        self.assertEqual(r.status, 200, r)
        # the stored login is what skopeo then uses
        self.base()
        rc, out, err = run(["skopeo", "inspect", "--tls-verify=false", "--authfile", authfile,
                            self.ref(BASE_REPO, BASE_TAG)])
        self.assertEqual(rc, 0, err)
        self.assertEqual(json.loads(out)["Digest"], IMG["oci"].digest)
        # and a wrong password is refused at login
        bad = run(["skopeo", "login", "--username", "AWS", "--password", "wrong",
                   "--tls-verify=false", "--authfile", authfile + ".bad", self.host])
        self.assertNotEqual(bad[0], 0, bad)


# =====================================================================================

class PushPull(RegistryCase):

    def test_copy_by_tag_and_back(self):
        img = self.base()
        # back to a fresh OCI layout
        out = os.path.join(self.tmpdir(), "oci")
        rc, _, err = self.pull(BASE_REPO, BASE_TAG, "oci:%s:back" % out)
        self.assertEqual(rc, 0, err)
        with open(os.path.join(out, "index.json")) as f:
            idx = json.load(f)
        self.assertEqual([m["digest"] for m in idx["manifests"]], [img.digest])
        self.assertEqual(build.read_layout_blob(out, img.digest), img.manifest)
        self.assertEqual(read_blobs_of_layout(out, img), img.blobs)
        # and to dir:
        d = os.path.join(self.tmpdir(), "dir")
        rc, _, err = self.pull(BASE_REPO, BASE_TAG, "dir:" + d)
        self.assertEqual(rc, 0, err)
        with open(os.path.join(d, "manifest.json"), "rb") as f:
            self.assertEqual(f.read(), img.manifest)
        for dg, data in img.blobs.items():
            with open(os.path.join(d, dg.split(":")[1]), "rb") as f:
                self.assertEqual(f.read(), data, dg)

    def test_copy_by_digest(self):
        img = self.base()
        d = os.path.join(self.tmpdir(), "dir")
        rc, _, err = self.pull(BASE_REPO, img.digest, "dir:" + d)
        self.assertEqual(rc, 0, err)
        with open(os.path.join(d, "manifest.json"), "rb") as f:
            self.assertEqual(f.read(), img.manifest)
        # pushed by digest: the manifest lands without a tag
        self.ensure_repo("bydigest/app")
        other = IMG["other"]
        self.assertPushed("oci:%s:other" % OCI, "bydigest/app", other.digest)
        self.assertImageReads("bydigest/app", other.digest, other)
        r = self.v2("GET", "/v2/bydigest/app/tags/list")
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json.get("tags") or [], [])

    def test_http_manifest_and_blob_reads(self):
        img = self.base()
        path = "/v2/%s/manifests/%s" % (BASE_REPO, BASE_TAG)
        h = self.v2("HEAD", path, headers={"Accept": build.OCI_MANIFEST})
        self.assertEqual(h.status, 200, h)
        self.assertEqual(h.headers.get("docker-content-digest"), img.digest)
        self.assertEqual(int(h.headers.get("content-length", -1)), img.size)
        self.assertEqual(h.headers.get("content-type"), build.OCI_MANIFEST)
        # repeated Accept lines, as skopeo sends them
        c = http.client.HTTPConnection("127.0.0.1", self.berth.port, timeout=30)
        try:
            c.putrequest("GET", path)
            c.putheader("Authorization", basic(self.password))
            for mt in (build.DOCKER_MANIFEST, build.DOCKER_LIST, build.OCI_MANIFEST):
                c.putheader("Accept", mt)
            c.endheaders()
            r = c.getresponse()
            self.assertEqual((r.status, r.read()), (200, img.manifest))
        finally:
            c.close()
        layer = img.layer_digests()[0]
        data = img.blobs[layer]
        bpath = "/v2/%s/blobs/%s" % (BASE_REPO, layer)
        h = self.v2("HEAD", bpath)
        self.assertEqual(h.status, 200, h)
        self.assertEqual(int(h.headers.get("content-length", -1)), len(data))
        self.assertEqual(h.headers.get("docker-content-digest"), layer)
        r = self.v2("GET", bpath, headers={"Range": "bytes=100-4195"})
        self.assertEqual(r.status, 206, r)
        self.assertEqual(r.body, data[100:4196])
        self.assertEqual(r.headers.get("content-range"), "bytes 100-4195/%d" % len(data))
        r = self.v2("GET", bpath, headers={"Range": "bytes=%d-" % (len(data) - 10)})
        self.assertEqual((r.status, r.body), (206, data[-10:]))
        r = self.v2("GET", bpath, headers={"Range": "bytes=%d-" % (len(data) + 10)})
        self.assertEqual(r.status, 416, r)

    def test_skopeo_inspect(self):
        img = self.base()
        r = self.put_manifest(BASE_REPO, "v1-alias", img)
        self.assertEqual(r.status, 201, r)
        rc, out, err = self.skopeo("inspect", "--tls-verify=false", "--creds",
                                   "AWS:" + self.password, self.ref(BASE_REPO, BASE_TAG))
        self.assertEqual(rc, 0, err)
        info = json.loads(out)
        self.assertEqual(info["Digest"], img.digest)
        self.assertEqual(info["Architecture"], "amd64")
        self.assertEqual(info["Layers"], img.layer_digests())
        self.assertIn("GREETING=hello from the image", info["Env"])
        self.assertTrue({BASE_TAG, "v1-alias"} <= set(info["RepoTags"]), info["RepoTags"])
        rc, out, err = self.skopeo("inspect", "--raw", "--tls-verify=false", "--creds",
                                   "AWS:" + self.password, self.ref(BASE_REPO, BASE_TAG))
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.encode(), img.manifest)
        rc, out, err = self.skopeo("inspect", "--config", "--raw", "--tls-verify=false", "--creds",
                                   "AWS:" + self.password, self.ref(BASE_REPO, BASE_TAG))
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.encode(), img.blobs[img.config_digest()])

    def test_index_push_and_pull_all(self):
        self.need_v2()
        idx = IMG["index"]
        self.ensure_repo("multi/app")
        self.assertPushed("oci:%s:index" % OCI, "multi/app", "list", "--all")
        self.assertImageReads("multi/app", "list", idx)
        for child in idx.children:
            self.assertImageReads("multi/app", child.digest, child)
        d = os.path.join(self.tmpdir(), "all")
        rc, _, err = self.pull("multi/app", "list", "dir:" + d, "--all")
        self.assertEqual(rc, 0, err)
        with open(os.path.join(d, "manifest.json"), "rb") as f:
            self.assertEqual(f.read(), idx.manifest)
        for child in idx.children:
            with open(os.path.join(d, child.digest.split(":")[1] + ".manifest.json"), "rb") as f:
                self.assertEqual(f.read(), child.manifest)
            for dg, data in child.blobs.items():
                with open(os.path.join(d, dg.split(":")[1]), "rb") as f:
                    self.assertEqual(f.read(), data)
        # without --all skopeo picks this machine's platform out of the index
        d = os.path.join(self.tmpdir(), "one")
        rc, _, err = self.pull("multi/app", "list", "dir:" + d, "--override-arch", "arm64")
        self.assertEqual(rc, 0, err)
        with open(os.path.join(d, "manifest.json"), "rb") as f:
            self.assertEqual(f.read(), idx.children[1].manifest)

    def test_docker_media_types(self):
        self.need_v2()
        self.ensure_repo("docker/app")
        img, lst = IMG["docker"], IMG["docker-list"]
        self.assertPushed("dir:" + os.path.join(IMGDIR, "docker"), "docker/app", "v2")
        self.assertImageReads("docker/app", "v2", img)
        self.assertPushed("dir:" + os.path.join(IMGDIR, "docker-list"), "docker/app", "list",
                          "--all")
        self.assertImageReads("docker/app", "list", lst)
        d = os.path.join(self.tmpdir(), "d")
        rc, _, err = self.pull("docker/app", "v2", "dir:" + d)
        self.assertEqual(rc, 0, err)
        with open(os.path.join(d, "manifest.json"), "rb") as f:
            self.assertEqual(f.read(), img.manifest)
        rc, out, err = self.skopeo("inspect", "--raw", "--tls-verify=false", "--creds",
                                   "AWS:" + self.password, self.ref("docker/app", "list"))
        self.assertEqual(rc, 0, err)
        self.assertEqual(out.encode(), lst.manifest)

    def test_push_to_missing_repository_creates_it(self):
        self.need_v2()
        self.need_create_on_push()
        self.assertPushed("oci:%s:latest" % OCI, "created/on/push", "v1")
        self.assertImageReads("created/on/push", "v1", IMG["oci"])
        r = self.v2("GET", "/v2/_catalog")
        self.assertIn("created/on/push", r.json["repositories"])
        if self.ecr_has("DescribeRepositories"):
            repo = self.ecr.describe_repositories(
                repositoryNames=["created/on/push"])["repositories"][0]
            self.assertEqual(repo["repositoryName"], "created/on/push")
            self.assertEqual(repo["repositoryUri"], "%s/created/on/push" % self.host)


class NoCreateOnPush(RegistryCase):
    """A server without --registry-create-on-push: a push needs the repository first."""

    create_on_push_wanted = False

    def test_push_to_missing_repository_fails(self):
        self.need_v2()
        rc, out, err = self.push("oci:%s:latest" % OCI, "missing/repo", "v1")
        self.assertNotEqual(rc, 0, "skopeo pushed to a repository that does not exist")
        self.assertRegex(err.lower(), r"name.unknown|not found|does not exist")
        r = self.v2("POST", "/v2/missing/repo/blobs/uploads/")
        self.assertOciError(r, 404, "NAME_UNKNOWN")
        r = self.v2("POST", "/v2/missing/repo/blobs/uploads/?digest=%s" % sha256(b"x"), b"x")
        self.assertOciError(r, 404, "NAME_UNKNOWN")
        r = self.put_manifest("missing/repo", "v1", IMG["oci"])
        self.assertOciError(r, 404, "NAME_UNKNOWN")
        r = self.v2("GET", "/v2/_catalog")
        self.assertEqual(r.status, 200, r)
        self.assertNotIn("missing/repo", r.json.get("repositories") or [])
        self.assertEqual(self.blob_files(IMG["oci"].layer_digests()[0]), [])
        if self.ecr_has("CreateRepository"):
            self.ecr.create_repository(repositoryName="missing/repo")
            self.assertPushed("oci:%s:latest" % OCI, "missing/repo", "v1")
            self.assertImageReads("missing/repo", "v1", IMG["oci"])


# =====================================================================================

class Uploads(RegistryCase):

    def chunks(self, n=5, size=70000):
        data = b"".join(hashlib.sha256(b"chunk %d" % i).digest() * (size // 32 + 1)
                        for i in range(n))[: n * size - 17]
        return data, [data[i:i + size] for i in range(0, len(data), size)]

    def start_upload(self, repo):
        r = self.v2("POST", "/v2/%s/blobs/uploads/" % repo)
        self.assertEqual(r.status, 202, r)
        self.assertTrue(r.headers.get("docker-upload-uuid"), r.headers)
        return self.upload_path(r)

    def patch(self, path, chunk, start):
        return self.v2("PATCH", path, chunk, {
            "Content-Type": "application/octet-stream",
            "Content-Range": "%d-%d" % (start, start + len(chunk) - 1)})

    def test_chunked_upload(self):
        self.need_v2()
        self.ensure_repo("up/chunked")
        data, parts = self.chunks()
        digest = sha256(data)
        path = self.start_upload("up/chunked")
        r = self.v2("GET", path)
        self.assertEqual(r.status, 204, r)
        off = 0
        for chunk in parts[:-1]:
            r = self.patch(path, chunk, off)
            self.assertEqual(r.status, 202, r)
            off += len(chunk)
            self.assertEqual(r.headers.get("range"), "0-%d" % (off - 1))
            path = self.upload_path(r)
            # upload status
            s = self.v2("GET", path)
            self.assertEqual(s.status, 204, s)
            self.assertEqual(s.headers.get("range"), "0-%d" % (off - 1))
            self.assertTrue(s.headers.get("docker-upload-uuid"))
        self.assertEqual(self.v2("HEAD", "/v2/up/chunked/blobs/" + digest).status, 404)
        # the last chunk comes with the PUT
        r = self.v2("PUT", self.with_query(path, "digest=" + digest), parts[-1])
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.headers.get("docker-content-digest"), digest)
        self.assertEqual(urllib.parse.urlsplit(r.headers.get("location", "")).path,
                         "/v2/up/chunked/blobs/" + digest)
        g = self.v2("GET", "/v2/up/chunked/blobs/" + digest)
        self.assertEqual((g.status, g.body), (200, data))
        # the session is gone
        r = self.v2("GET", path)
        self.assertOciError(r, 404, "BLOB_UPLOAD_UNKNOWN")
        self.assertEqual(len(self.blob_files(digest)), 1)

    def test_chunked_upload_then_empty_put(self):
        self.need_v2()
        self.ensure_repo("up/chunked")
        data, parts = self.chunks(3, 1000)
        path = self.start_upload("up/chunked")
        off = 0
        for chunk in parts:
            r = self.patch(path, chunk, off)
            self.assertEqual(r.status, 202, r)
            off += len(chunk)
            path = self.upload_path(r)
        r = self.v2("PUT", self.with_query(path, "digest=" + sha256(data)))
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.v2("GET", "/v2/up/chunked/blobs/" + sha256(data)).body, data)

    def test_out_of_order_chunk(self):
        self.need_v2()
        self.ensure_repo("up/chunked")
        data, parts = self.chunks(3, 1000)
        path = self.start_upload("up/chunked")
        r = self.patch(path, parts[0], 0)
        self.assertEqual(r.status, 202, r)
        path = self.upload_path(r)
        # skip parts[1]: a gap
        r = self.patch(path, parts[2], 2000)
        self.assertEqual(r.status, 416, r)
        # overlapping what is already there
        r = self.patch(path, parts[1], 500)
        self.assertEqual(r.status, 416, r)
        s = self.v2("GET", path)
        self.assertEqual((s.status, s.headers.get("range")), (204, "0-999"))
        # the session goes on from where it was
        r = self.patch(path, parts[1], 1000)
        self.assertEqual(r.status, 202, r)
        r = self.v2("PUT", self.with_query(self.upload_path(r), "digest=" + sha256(data)),
                    parts[2])
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.v2("GET", "/v2/up/chunked/blobs/" + sha256(data)).body, data)

    def test_post_then_put_whole_blob(self):
        self.need_v2()
        self.ensure_repo("up/chunked")
        data = b"POST, then one PUT with everything\n" * 300
        path = self.start_upload("up/chunked")
        r = self.v2("PUT", self.with_query(path, "digest=" + sha256(data)), data)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.headers.get("docker-content-digest"), sha256(data))
        self.assertEqual(self.v2("GET", "/v2/up/chunked/blobs/" + sha256(data)).body, data)

    def test_chunk_length_differs_from_content_range(self):
        self.need_v2()
        self.ensure_repo("up/chunked")
        path = self.start_upload("up/chunked")
        r = self.patch(path, b"x" * 100, 0)
        self.assertEqual(r.status, 202, r)
        path = self.upload_path(r)
        # says 100 bytes, carries 50
        r = self.v2("PATCH", path, b"y" * 50, {"Content-Range": "100-199"})
        self.assertIn(r.status, (400, 416), r)
        s = self.v2("GET", path)
        self.assertEqual((s.status, s.headers.get("range")), (204, "0-99"))
        r = self.v2("PUT", self.with_query(path, "digest=" + sha256(b"x" * 100)))
        self.assertEqual(r.status, 201, r)

    def test_cancel_upload(self):
        self.need_v2()
        self.ensure_repo("up/chunked")
        path = self.start_upload("up/chunked")
        r = self.patch(path, b"abandoned", 0)
        path = self.upload_path(r)
        r = self.v2("DELETE", path)
        self.assertEqual(r.status, 204, r)
        self.assertOciError(self.v2("GET", path), 404, "BLOB_UPLOAD_UNKNOWN")
        self.assertOciError(self.v2("DELETE", path), 404, "BLOB_UPLOAD_UNKNOWN")
        self.assertEqual(self.v2("HEAD", "/v2/up/chunked/blobs/" + sha256(b"abandoned")).status,
                         404)

    def test_monolithic_post(self):
        self.need_v2()
        self.ensure_repo("up/mono")
        data = b"monolithic blob\n" * 1000
        d = sha256(data)
        r = self.v2("POST", "/v2/up/mono/blobs/uploads/?digest=" + d, data)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.headers.get("docker-content-digest"), d)
        self.assertEqual(urllib.parse.urlsplit(r.headers.get("location", "")).path,
                         "/v2/up/mono/blobs/" + d)
        h = self.v2("HEAD", "/v2/up/mono/blobs/" + d)
        self.assertEqual((h.status, int(h.headers.get("content-length", -1))), (200, len(data)))
        self.assertEqual(self.v2("GET", "/v2/up/mono/blobs/" + d).body, data)
        # the same blob again: still one file
        r = self.v2("POST", "/v2/up/mono/blobs/uploads/?digest=" + d, data)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(len(self.blob_files(d)), 1)

    def test_cross_repository_mount(self):
        self.need_v2()
        self.ensure_repo("mount/a")
        self.ensure_repo("mount/b")
        data = b"blob to mount\n" * 100
        d = self.push_blob("mount/a", data)
        self.assertEqual(self.v2("HEAD", "/v2/mount/b/blobs/" + d).status, 404)
        r = self.v2("POST", "/v2/mount/b/blobs/uploads/?mount=%s&from=mount/a" % d)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(r.headers.get("docker-content-digest"), d)
        self.assertEqual(urllib.parse.urlsplit(r.headers.get("location", "")).path,
                         "/v2/mount/b/blobs/" + d)
        self.assertEqual(self.v2("GET", "/v2/mount/b/blobs/" + d).body, data)
        self.assertEqual(len(self.blob_files(d)), 1)
        # a source that does not have it: an ordinary upload session instead
        for q in ("mount=%s&from=mount/a" % ZERO_DIGEST, "mount=%s&from=no/such/repo" % d):
            with self.subTest(q=q):
                r = self.v2("POST", "/v2/mount/b/blobs/uploads/?" + q)
                self.assertEqual(r.status, 202, r)
                path = self.upload_path(r)
                self.assertEqual(self.v2("GET", path).status, 204)
                # podman deletes the session it does not use
                self.assertEqual(self.v2("DELETE", path).status, 204)
        self.assertEqual(self.v2("HEAD", "/v2/mount/b/blobs/" + ZERO_DIGEST).status, 404)

    def test_delete_blob(self):
        self.need_v2()
        self.ensure_repo("up/del")
        d = self.push_blob("up/del", b"a blob to delete")
        r = self.v2("DELETE", "/v2/up/del/blobs/" + d)
        self.assertEqual(r.status, 202, r)
        self.assertEqual(self.v2("HEAD", "/v2/up/del/blobs/" + d).status, 404)
        self.assertOciError(self.v2("GET", "/v2/up/del/blobs/" + d), 404, "BLOB_UNKNOWN")
        self.assertOciError(self.v2("DELETE", "/v2/up/del/blobs/" + d), 404, "BLOB_UNKNOWN")


# =====================================================================================

class TagsAndDeletion(RegistryCase):

    def test_tags_list_pagination(self):
        self.need_v2()
        repo = "tags/app"
        self.ensure_repo(repo)
        img = IMG["oci"]
        tags = ["a1", "b2", "c3", "d4", "e5"]
        self.push_http(repo, img, tags[0])
        for t in tags[1:]:
            self.assertEqual(self.put_manifest(repo, t, img).status, 201)
        r = self.v2("GET", "/v2/%s/tags/list" % repo)
        self.assertEqual(r.status, 200, r)
        self.assertEqual(r.json, {"name": repo, "tags": tags})
        seen, path, pages = [], "/v2/%s/tags/list?n=2" % repo, 0
        while path:
            r = self.v2("GET", path)
            self.assertEqual(r.status, 200, r)
            self.assertLessEqual(len(r.json["tags"]), 2)
            seen += r.json["tags"]
            path = link_next(r)
            pages += 1
            self.assertLess(pages, 10, "pagination does not end")
        self.assertEqual(seen, tags)
        self.assertEqual(pages, 3)
        r = self.v2("GET", "/v2/%s/tags/list?n=2" % repo)
        self.assertEqual(link_next(r), "/v2/%s/tags/list?n=2&last=b2" % repo)
        r = self.v2("GET", "/v2/%s/tags/list?n=2&last=c3" % repo)
        self.assertEqual(r.json["tags"], ["d4", "e5"])
        r = self.v2("GET", "/v2/%s/tags/list?last=b2" % repo)
        self.assertEqual(r.json["tags"], ["c3", "d4", "e5"])
        r = self.v2("GET", "/v2/%s/tags/list?n=2&last=e5" % repo)
        self.assertEqual(r.json["tags"], [])
        self.assertIsNone(link_next(r))
        r = self.v2("GET", "/v2/%s/tags/list?n=0" % repo)
        self.assertEqual((r.status, r.json["tags"]), (200, []))
        # a count that is not a number is the client's mistake (405 would say the method is)
        for q in ("n=abc", "n=-1"):
            with self.subTest(q=q):
                r = self.v2("GET", "/v2/%s/tags/list?%s" % (repo, q))
                self.assertEqual(r.status, 400, r)

    def test_catalog(self):
        self.need_v2()
        names = ["cat/one", "cat/three", "cat/two"]
        for n in names:
            self.ensure_repo(n)
            self.push_http(n, IMG["oci"], "v1")
        r = self.v2("GET", "/v2/_catalog")
        self.assertEqual(r.status, 200, r)
        repos = r.json["repositories"]
        self.assertEqual(repos, sorted(repos))
        self.assertTrue(set(names) <= set(repos), repos)
        seen, path = [], "/v2/_catalog?n=1"
        while path:
            r = self.v2("GET", path)
            self.assertEqual(r.status, 200, r)
            self.assertLessEqual(len(r.json["repositories"]), 1)
            seen += r.json["repositories"]
            path = link_next(r)
            self.assertLessEqual(len(seen), len(repos), "catalog pagination does not end")
        self.assertEqual(seen, repos)
        r = self.v2("GET", "/v2/_catalog?n=2&last=cat/one")
        self.assertEqual(r.json["repositories"][:2], ["cat/three", "cat/two"])

    def test_delete_by_tag_and_by_digest(self):
        self.need_v2()
        repo = "del/app"
        self.ensure_repo(repo)
        img = IMG["other"]
        self.push_http(repo, img, "a")
        self.assertEqual(self.put_manifest(repo, "b", img).status, 201)
        self.assertEqual(self.put_manifest(repo, "c", img).status, 201)
        # a tag: only the tag goes
        r = self.v2("DELETE", "/v2/%s/manifests/a" % repo)
        self.assertEqual(r.status, 202, r)
        self.assertOciError(self.v2("GET", "/v2/%s/manifests/a" % repo), 404, "MANIFEST_UNKNOWN")
        self.assertImageReads(repo, "b", img)
        self.assertImageReads(repo, img.digest, img)
        self.assertEqual(self.v2("GET", "/v2/%s/tags/list" % repo).json["tags"], ["b", "c"])
        # the digest: the manifest and every tag of it go
        r = self.v2("DELETE", "/v2/%s/manifests/%s" % (repo, img.digest))
        self.assertEqual(r.status, 202, r)
        for ref in (img.digest, "b", "c"):
            self.assertOciError(self.v2("GET", "/v2/%s/manifests/%s" % (repo, ref)), 404,
                                "MANIFEST_UNKNOWN")
        self.assertEqual(self.v2("HEAD", "/v2/%s/manifests/%s" % (repo, img.digest)).status, 404)
        self.assertEqual(self.v2("GET", "/v2/%s/tags/list" % repo).json.get("tags") or [], [])
        r = self.v2("DELETE", "/v2/%s/manifests/%s" % (repo, img.digest))
        self.assertOciError(r, 404, "MANIFEST_UNKNOWN")
        # pushing it again works
        self.push_http(repo, img, "again")
        self.assertImageReads(repo, "again", img)
        self.assertStoreIntact()

    def test_ecr_batch_delete_image(self):
        self.need_v2()
        self.need_ecr("BatchDeleteImage", "ListImages")
        repo = "del/ecr"
        self.ensure_repo(repo)
        a, b = IMG["oci"], IMG["other"]
        self.push_http(repo, a, "keep")
        self.push_http(repo, b, "bytag")
        self.assertEqual(self.put_manifest(repo, "bytag2", b).status, 201)
        rc, out, err = self.berth.aws("ecr", "batch-delete-image", "--repository-name", repo,
                                      "--image-ids", "imageTag=bytag", "imageTag=nosuchtag")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out["imageIds"], [{"imageDigest": b.digest, "imageTag": "bytag"}])
        self.assertEqual(len(out["failures"]), 1, out)
        self.assertEqual(out["failures"][0]["imageId"], {"imageTag": "nosuchtag"})
        self.assertEqual(out["failures"][0]["failureCode"], "ImageNotFound")
        self.assertImageReads(repo, "bytag2", b)
        rc, out, err = self.berth.aws("ecr", "batch-delete-image", "--repository-name", repo,
                                      "--image-ids", "imageDigest=" + b.digest)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out["failures"], [])
        self.assertEqual(out["imageIds"], [{"imageDigest": b.digest, "imageTag": "bytag2"}])
        self.assertOciError(self.v2("GET", "/v2/%s/manifests/bytag2" % repo), 404,
                            "MANIFEST_UNKNOWN")
        ids = self.ecr.list_images(repositoryName=repo)["imageIds"]
        self.assertEqual(ids, [{"imageDigest": a.digest, "imageTag": "keep"}])
        self.assertImageReads(repo, "keep", a)


# =====================================================================================

class Immutability(RegistryCase):

    def test_immutable_tag_refuses_to_move(self):
        self.need_v2()
        self.need_ecr("CreateRepository", "PutImageTagMutability", "PutImage",
                      "DescribeRepositories")
        repo = "immutable/app"
        self.ensure_repo(repo)
        a, b = IMG["oci"], IMG["other"]
        self.assertPushed("oci:%s:latest" % OCI, repo, "v1")
        rc, out, err = self.berth.aws("ecr", "put-image-tag-mutability", "--repository-name", repo,
                                      "--image-tag-mutability", "IMMUTABLE")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out["imageTagMutability"], "IMMUTABLE")
        self.assertEqual(self.ecr.describe_repositories(repositoryNames=[repo])
                         ["repositories"][0]["imageTagMutability"], "IMMUTABLE")
        # skopeo cannot move v1 to another image
        rc, out, err = self.push("oci:%s:other" % OCI, repo, "v1")
        self.assertNotEqual(rc, 0, "skopeo moved an immutable tag")
        # nor can a manifest PUT (ECR answers TAG_INVALID)
        r = self.put_manifest(repo, "v1", b)
        self.assertOciError(r, 400, "TAG_INVALID")
        # a new tag is fine
        self.push_http(repo, b, "v2")
        # nor can PutImage
        self.assertClientError("ImageTagAlreadyExistsException", self.ecr.put_image,
                               repositoryName=repo, imageTag="v1",
                               imageManifest=b.manifest.decode(),
                               imageManifestMediaType=b.media_type)
        self.assertImageReads(repo, "v1", a)
        self.assertImageReads(repo, "v2", b)
        # back to MUTABLE: now it moves
        rc, out, err = self.berth.aws("ecr", "put-image-tag-mutability", "--repository-name", repo,
                                      "--image-tag-mutability", "MUTABLE")
        self.assertEqual(rc, 0, err)
        self.assertPushed("oci:%s:other" % OCI, repo, "v1")
        self.assertImageReads(repo, "v1", b)

    def test_created_immutable(self):
        self.need_v2()
        self.need_ecr("CreateRepository", "PutImage")
        repo = "immutable/created"
        r = self.ecr.create_repository(repositoryName=repo, imageTagMutability="IMMUTABLE")
        self.assertEqual(r["repository"]["imageTagMutability"], "IMMUTABLE")
        self.push_http(repo, IMG["oci"], "v1")
        self.push_http(repo, IMG["other"], "v2")
        r = self.put_manifest(repo, "v1", IMG["other"])
        self.assertOciError(r, 400, "TAG_INVALID")
        self.assertImageReads(repo, "v1", IMG["oci"])


# =====================================================================================

class Errors(RegistryCase):
    """Every error code of the spec provoked on purpose; nothing stored suffers."""

    def setUp(self):
        self.base()

    def test_blob_unknown(self):
        for repo in (BASE_REPO,):
            r = self.v2("GET", "/v2/%s/blobs/%s" % (repo, ZERO_DIGEST))
            self.assertOciError(r, 404, "BLOB_UNKNOWN")
            self.assertOciErrorHead(self.v2("HEAD", "/v2/%s/blobs/%s" % (repo, ZERO_DIGEST)), 404)
        # a blob of another repository is unknown here
        self.ensure_repo("errors/other")
        d = self.push_blob("errors/other", b"only in errors/other")
        self.assertOciError(self.v2("GET", "/v2/%s/blobs/%s" % (BASE_REPO, d)), 404,
                            "BLOB_UNKNOWN")
        self.assertStoreIntact()

    def test_digest_invalid(self):
        data = b"the real content\n" * 64
        real, wrong = sha256(data), sha256(b"something else")
        # PUT of an upload with the wrong digest
        r = self.v2("POST", "/v2/%s/blobs/uploads/" % BASE_REPO)
        self.assertEqual(r.status, 202, r)
        path = self.upload_path(r)
        r = self.v2("PATCH", path, data, {"Content-Range": "0-%d" % (len(data) - 1)})
        self.assertEqual(r.status, 202, r)
        r = self.v2("PUT", self.with_query(self.upload_path(r), "digest=" + wrong))
        self.assertOciError(r, 400, "DIGEST_INVALID")
        # monolithic, wrong digest
        r = self.v2("POST", "/v2/%s/blobs/uploads/?digest=%s" % (BASE_REPO, wrong), data)
        self.assertOciError(r, 400, "DIGEST_INVALID")
        # truncated: the first half of the content under the digest of all of it
        r = self.v2("POST", "/v2/%s/blobs/uploads/?digest=%s" % (BASE_REPO, real),
                    data[:len(data) // 2])
        self.assertOciError(r, 400, "DIGEST_INVALID")
        # digests that are not digests
        for bad in ("sha256:xyz", "sha256:" + "A" * 64, "md5:" + "0" * 32, "sha256:" + "0" * 63,
                    "nocolon"):
            with self.subTest(digest=bad):
                r = self.v2("POST", "/v2/%s/blobs/uploads/?digest=%s" % (BASE_REPO, bad), data)
                self.assertIn(r.status, (400,), r)
                self.assertOciError(r, 400, "DIGEST_INVALID")
        # a manifest PUT by a digest that is not its own
        r = self.put_manifest(BASE_REPO, IMG["other"].digest, IMG["oci"])
        self.assertOciError(r, 400, "DIGEST_INVALID")
        for d in (real, wrong):
            self.assertEqual(self.v2("HEAD", "/v2/%s/blobs/%s" % (BASE_REPO, d)).status, 404)
            self.assertEqual(self.blob_files(d), [])
        self.assertEqual(self.v2("HEAD", "/v2/%s/manifests/%s" % (BASE_REPO, IMG["other"].digest))
                         .status, 404)
        self.assertStoreIntact()

    def test_truncated_body(self):
        """A client that dies mid-upload leaves no blob behind, and the server goes on."""
        data = b"cut short\n" * 10000
        d = sha256(data)
        for method, path in (("POST", "/v2/%s/blobs/uploads/?digest=%s" % (BASE_REPO, d)),
                             ("PUT", "/v2/%s/manifests/cut" % BASE_REPO)):
            s = socket.create_connection(("127.0.0.1", self.berth.port), timeout=10)
            try:
                s.sendall(("%s %s HTTP/1.1\r\nHost: %s\r\nAuthorization: %s\r\n"
                           "Content-Type: %s\r\nContent-Length: %d\r\n\r\n"
                           % (method, path, self.host, basic(self.password),
                              "application/octet-stream" if method == "POST"
                              else build.OCI_MANIFEST, len(data))).encode())
                s.sendall(data[:len(data) // 3])
                time.sleep(0.2)
            finally:
                s.close()
        time.sleep(0.3)
        self.assertEqual(self.v2("GET", "/v2/").status, 200)
        self.assertEqual(self.v2("HEAD", "/v2/%s/blobs/%s" % (BASE_REPO, d)).status, 404)
        self.assertEqual(self.blob_files(d), [])
        self.assertEqual(self.v2("HEAD", "/v2/%s/manifests/cut" % BASE_REPO).status, 404)
        # the same blob, whole this time
        r = self.v2("POST", "/v2/%s/blobs/uploads/?digest=%s" % (BASE_REPO, d), data)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.v2("GET", "/v2/%s/blobs/%s" % (BASE_REPO, d)).body, data)
        self.assertStoreIntact()

    def test_manifest_invalid(self):
        img = IMG["oci"]
        good = img.doc
        cases = {
            "garbage": (b"\x00\xffnot json at all", build.OCI_MANIFEST),
            "empty": (b"", build.OCI_MANIFEST),
            "json array": (b"[1,2,3]", build.OCI_MANIFEST),
            "truncated json": (img.manifest[:-20], build.OCI_MANIFEST),
            "schemaVersion 1": (build.canonical(dict(good, schemaVersion=1)), build.OCI_MANIFEST),
            "schemaVersion 3": (build.canonical(dict(good, schemaVersion=3)), build.OCI_MANIFEST),
            "schemaVersion string": (build.canonical(dict(good, schemaVersion="2")),
                                     build.OCI_MANIFEST),
            "no config": (build.canonical({k: v for k, v in good.items() if k != "config"}),
                          build.OCI_MANIFEST),
            "layers not a list": (build.canonical(dict(good, layers={"a": 1})), build.OCI_MANIFEST),
            "bad layer digest": (build.canonical(dict(good, layers=[dict(good["layers"][0],
                                                                         digest="sha256:zz")])),
                                 build.OCI_MANIFEST),
            "negative size": (build.canonical(dict(good, config=dict(good["config"], size=-1))),
                              build.OCI_MANIFEST),
            "mediaType differs from Content-Type": (img.manifest, build.DOCKER_MANIFEST),
            "layer size that is not the blob's": (
                build.canonical(dict(good, layers=[dict(good["layers"][0], size=5)] +
                                     good["layers"][1:])), build.OCI_MANIFEST),
            "index without manifests": (build.canonical({"schemaVersion": 2,
                                                         "mediaType": build.OCI_INDEX}),
                                        build.OCI_INDEX),
        }
        for what, (body, ct) in cases.items():
            with self.subTest(what):
                r = self.put_manifest(BASE_REPO, "invalid", body, ct)
                self.assertOciError(r, 400, "MANIFEST_INVALID")
        self.assertOciError(self.v2("GET", "/v2/%s/manifests/invalid" % BASE_REPO), 404,
                            "MANIFEST_UNKNOWN")
        self.assertStoreIntact()

    def test_huge_manifest(self):
        img = IMG["oci"]
        doc = dict(img.doc)
        doc["annotations"] = {"padding": "x" * (4 << 20)}
        body = build.canonical(doc)
        self.assertGreater(len(body), 4 << 20)
        try:
            r = self.put_manifest(BASE_REPO, "huge", body)
        except (BrokenPipeError, ConnectionResetError) as e:
            self.fail("the server dropped the connection without answering a %d-byte "
                      "manifest: %r (a 4xx MANIFEST_INVALID is expected)" % (len(body), e))
        self.assertIn(r.status, (400, 413), r)
        self.assertOciError(r, r.status, "MANIFEST_INVALID")
        self.assertEqual(self.v2("HEAD", "/v2/%s/manifests/huge" % BASE_REPO).status, 404)
        self.assertEqual(self.blob_files(sha256(body)), [])
        # just under the limit with all blobs present is fine
        doc["annotations"] = {"padding": ""}
        small = len(build.canonical(doc))
        doc["annotations"] = {"padding": "x" * ((4 << 20) - small)}
        body = build.canonical(doc)
        self.assertEqual(len(body), 4 << 20)
        r = self.put_manifest(BASE_REPO, "big", body)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.v2("GET", "/v2/%s/manifests/big" % BASE_REPO).body, body)
        self.assertEqual(self.v2("DELETE", "/v2/%s/manifests/%s" % (BASE_REPO, sha256(body)))
                         .status, 202)
        self.assertStoreIntact()

    def test_manifest_blob_unknown(self):
        img = IMG["oci"]
        doc = img.doc
        missing_layer = dict(doc, layers=doc["layers"] + [{"mediaType": build.OCI_LAYER_GZIP,
                                                           "digest": ZERO_DIGEST, "size": 10}])
        missing_config = dict(doc, config=dict(doc["config"], digest=ZERO_DIGEST))
        idx = IMG["index"].doc
        missing_child = dict(idx, manifests=[dict(idx["manifests"][0], digest=ZERO_DIGEST)])
        for what, body, ct in (("layer", build.canonical(missing_layer), build.OCI_MANIFEST),
                               ("config", build.canonical(missing_config), build.OCI_MANIFEST),
                               ("index child", build.canonical(missing_child), build.OCI_INDEX)):
            with self.subTest(what):
                r = self.put_manifest(BASE_REPO, "missing-blobs", body, ct)
                self.assertOciError(r, 400, "MANIFEST_BLOB_UNKNOWN")
        # blobs that exist, but in another repository only
        self.ensure_repo("errors/empty")
        r = self.put_manifest("errors/empty", "v1", img)
        self.assertOciError(r, 400, "MANIFEST_BLOB_UNKNOWN")
        self.assertOciError(self.v2("GET", "/v2/%s/manifests/missing-blobs" % BASE_REPO), 404,
                            "MANIFEST_UNKNOWN")
        self.assertStoreIntact()

    BAD_NAMES = ["a/../b", "x/..", "..", "Upper/case", "UPPER", "bad!name", "bad%21name",
                 "a..b", "-lead", "trail-", "a//b", "a/", "sp%20ace", "tab%09", "a" * 257,
                 "a_-b", "caf%C3%A9"]

    def test_name_invalid(self):
        for name in self.BAD_NAMES:
            with self.subTest(name=name):
                r = self.v2("GET", "/v2/%s/tags/list" % name)
                self.assertOciError(r, 400, "NAME_INVALID")
                r = self.v2("POST", "/v2/%s/blobs/uploads/" % name)
                self.assertOciError(r, 400, "NAME_INVALID")
                r = self.put_manifest(name, "v1", IMG["oci"])
                self.assertOciError(r, 400, "NAME_INVALID")
        r = self.v2("GET", "/v2/_catalog")
        self.assertEqual(r.status, 200)
        for repo in r.json["repositories"]:
            self.assertRegex(repo, r"^[a-z0-9]+([._-][a-z0-9]+|__[a-z0-9]+)*"
                                   r"(/[a-z0-9]+([._-][a-z0-9]+|__[a-z0-9]+)*)*$")
        # the longest valid name
        if self.create_on_push or self.ecr_has("CreateRepository"):
            longest = "/".join(["a" * 63] * 3) + "/" + "b" * 64
            self.assertEqual(len(longest), 256)
            self.ensure_repo(longest)
            self.push_http(longest, IMG["oci"], "v1")
            self.assertImageReads(longest, "v1", IMG["oci"])
        self.assertStoreIntact()

    def test_name_unknown(self):
        for method, path in (("GET", "/v2/no/such/repo/tags/list"),
                             ("GET", "/v2/no/such/repo/manifests/latest"),
                             ("GET", "/v2/no/such/repo/blobs/" + IMG["oci"].config_digest())):
            with self.subTest(path=path):
                self.assertOciError(self.v2(method, path), 404, "NAME_UNKNOWN")

    def test_manifest_unknown(self):
        # a manifest of another repository is unknown here
        self.ensure_repo("errors/other")
        self.push_http("errors/other", IMG["third"], "v1")
        for ref in ("nosuchtag", ZERO_DIGEST, IMG["third"].digest):
            with self.subTest(ref=ref):
                r = self.v2("GET", "/v2/%s/manifests/%s" % (BASE_REPO, ref))
                self.assertOciError(r, 404, "MANIFEST_UNKNOWN")
                self.assertOciErrorHead(self.v2("HEAD", "/v2/%s/manifests/%s" % (BASE_REPO, ref)),
                                        404)

    def test_tag_invalid(self):
        for tag in (".dot", "-dash", "a" * 129, "bad%21", "t%20ag", "caf%C3%A9"):
            with self.subTest(tag=tag):
                r = self.put_manifest(BASE_REPO, tag, IMG["oci"])
                self.assertOciError(r, 400, "TAG_INVALID")
        # the longest valid tag
        longest = "A_" + "b.-" * 42
        self.assertEqual(len(longest), 128)
        self.assertEqual(self.put_manifest(BASE_REPO, longest, IMG["oci"]).status, 201)
        tags = self.v2("GET", "/v2/%s/tags/list" % BASE_REPO).json["tags"]
        self.assertIn(longest, tags)
        for t in tags:
            self.assertRegex(t, r"^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$")
        self.assertStoreIntact()

    def test_unauthorized(self):
        for auth in (None, basic("wrong")):
            with self.subTest(auth=auth):
                h = {"Authorization": auth} if auth else {}
                r = self.v2("PUT", "/v2/%s/manifests/%s" % (BASE_REPO, BASE_TAG),
                            IMG["other"].manifest, dict(h, **{"Content-Type": build.OCI_MANIFEST}),
                            auth=False)
                self.assertOciError(r, 401, "UNAUTHORIZED")
                r = self.v2("DELETE", "/v2/%s/manifests/%s" % (BASE_REPO, IMG["oci"].digest),
                            headers=h, auth=False)
                self.assertOciError(r, 401, "UNAUTHORIZED")
        self.assertStoreIntact()

    def test_blob_upload_unknown(self):
        fake = "/v2/%s/blobs/uploads/%s" % (BASE_REPO, uuid.uuid4())
        for method, body, h in (("GET", b"", {}),
                                ("PATCH", b"data", {"Content-Range": "0-3"}),
                                ("PUT", b"data", {}),
                                ("DELETE", b"", {})):
            with self.subTest(method=method):
                path = fake + ("?digest=" + sha256(b"data") if method == "PUT" else "")
                r = self.v2(method, path, body, h)
                self.assertOciError(r, 404, "BLOB_UPLOAD_UNKNOWN")
        for odd in ("../../../etc/passwd", "..%2F..%2Fblobs", "%00"):
            with self.subTest(odd=odd):
                r = self.v2("PATCH", "/v2/%s/blobs/uploads/%s" % (BASE_REPO, odd), b"x",
                            {"Content-Range": "0-0"}, implemented=False)
                # refused, or a redirect to the cleaned path: never served
                self.assertIn(r.status, (301, 400, 404), r)
        # a session of one repository is unknown in another
        self.ensure_repo("errors/other")
        r = self.v2("POST", "/v2/errors/other/blobs/uploads/")
        self.assertEqual(r.status, 202, r)
        path = self.upload_path(r).replace("/v2/errors/other/", "/v2/%s/" % BASE_REPO)
        self.assertOciError(self.v2("GET", path), 404, "BLOB_UPLOAD_UNKNOWN")
        self.assertStoreIntact()


    def test_zz_reference_image_still_pulls(self):
        """Last in its class (unittest sorts by name): after the refusals, skopeo pulls it whole."""
        img = IMG["oci"]
        d = os.path.join(self.tmpdir(), "after")
        rc, _, err = self.pull(BASE_REPO, BASE_TAG, "oci:%s:after" % d)
        self.assertEqual(rc, 0, err)
        self.assertEqual(build.read_layout_blob(d, img.digest), img.manifest)
        self.assertEqual(read_blobs_of_layout(d, img), img.blobs)
        self.assertBlobFilesValid()


# =====================================================================================

class Concurrency(RegistryCase):

    def test_two_pushes_of_the_same_layers(self):
        self.need_v2()
        self.need_create_on_push()
        img = IMG["oci"]
        for round_ in range(2):
            b = self.new_berth(extra_args=[CREATE_ON_PUSH])
            pw = self.get_password(b)
            results = {}

            def push(repo, tag):
                results[(repo, tag)] = self.push("oci:%s:latest" % OCI, repo, tag, berth=b,
                                                 password=pw)

            # the same repository (round 0), two repositories (round 1)
            targets = [("conc/one", "a"), ("conc/one", "b")] if round_ == 0 else \
                [("conc/one", "a"), ("conc/two", "a")]
            threads = [threading.Thread(target=push, args=t) for t in targets]
            for t in threads:
                t.start()
            for t in threads:
                t.join(120)
            for t, (rc, out, err) in results.items():
                self.assertEqual(rc, 0, "push to %s:%s: %s" % (t[0], t[1], err))
            self.assertEqual(len(results), 2)
            for digest in list(img.blobs) + [img.digest]:
                files = self.blob_files(digest, b)
                self.assertEqual(files, [digest.split(":")[1]],
                                 "blob %s on disk as %r" % (digest, files))
            self.assertBlobFilesValid(b)
            uploads = os.path.join(b.data_dir, "registry", "uploads")
            self.assertEqual(os.listdir(uploads), [], "uploads left behind")
            for repo, tag in targets:
                self.assertImageReads(repo, tag, img, berth=b)

    def test_many_uploads_of_one_blob_at_once(self):
        """Eight chunked uploads of the same 6 MiB blob, released together: one file."""
        self.need_v2()
        self.need_create_on_push()
        b = self.new_berth(extra_args=[CREATE_ON_PUSH])
        pw = self.get_password(b)
        data = b"".join(hashlib.sha256(b"%d" % i).digest() for i in range(6 << 15))
        digest = sha256(data)
        n = 8
        gate = threading.Barrier(n)
        results = [None] * n

        def upload(i):
            repo = "race/r%d" % (i % 2)
            try:
                r = self.v2("POST", "/v2/%s/blobs/uploads/" % repo, berth=b, password=pw,
                            implemented=False)
                path = self.upload_path(r)
                half = len(data) // 2
                r = self.v2("PATCH", path, data[:half], {"Content-Range": "0-%d" % (half - 1)},
                            berth=b, password=pw, implemented=False)
                path = self.upload_path(r)
                gate.wait(30)
                r = self.v2("PUT", self.with_query(path, "digest=" + digest), data[half:],
                            berth=b, password=pw, implemented=False)
                results[i] = (r.status, r.headers.get("docker-content-digest"))
            except Exception as e:  # reported below, in the test's thread
                results[i] = repr(e)

        threads = [threading.Thread(target=upload, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
        self.assertEqual(results, [(201, digest)] * n)
        self.assertEqual(self.blob_files(digest, b), [digest.split(":")[1]])
        self.assertBlobFilesValid(b)
        for repo in ("race/r0", "race/r1"):
            r = self.v2("GET", "/v2/%s/blobs/%s" % (repo, digest), berth=b, password=pw)
            self.assertEqual((r.status, sha256(r.body)), (200, digest))
        self.assertEqual(os.listdir(os.path.join(b.data_dir, "registry", "uploads")), [])


# =====================================================================================

class Restart(RegistryCase):
    """What the registry stores survives a restart, and so does an upload under way."""

    def test_images_and_uploads_survive_restart(self):
        self.need_v2()
        self.need_create_on_push()
        b = self.new_berth(extra_args=[CREATE_ON_PUSH])
        pw = self.get_password(b)
        self.assertPushed("oci:%s:latest" % OCI, "keep/app", "v1", berth=b, password=pw)
        data = b"an upload across a restart\n" * 4096
        r = self.v2("POST", "/v2/keep/app/blobs/uploads/", berth=b, password=pw)
        self.assertEqual(r.status, 202, r)
        path = self.upload_path(r)
        half = len(data) // 2
        r = self.v2("PATCH", path, data[:half], {"Content-Range": "0-%d" % (half - 1)},
                    berth=b, password=pw)
        self.assertEqual(r.status, 202, r)
        path = urllib.parse.urlsplit(r.headers["location"])
        path = path.path + ("?" + path.query if path.query else "")
        b.kill()
        b.start()
        # the token is still good: it is checked, not stored
        self.assertImageReads("keep/app", "v1", IMG["oci"], berth=b)
        s = self.v2("GET", path, berth=b, password=pw)
        self.assertEqual((s.status, s.headers.get("range")), (204, "0-%d" % (half - 1)))
        r = self.v2("PUT", self.with_query(path, "digest=" + sha256(data)), data[half:],
                    berth=b, password=pw)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.v2("GET", "/v2/keep/app/blobs/" + sha256(data), berth=b,
                                 password=pw).body, data)
        d = os.path.join(self.tmpdir(), "after")
        rc, _, err = self.skopeo("copy", "--src-tls-verify=false", "--src-creds", "AWS:" + pw,
                                 self.ref("keep/app", "v1", b), "oci:%s:v1" % d)
        self.assertEqual(rc, 0, err)
        self.assertEqual(read_blobs_of_layout(d, IMG["oci"]), IMG["oci"].blobs)
        self.assertBlobFilesValid(b)


# =====================================================================================

class EcrOnPushedImages(RegistryCase):

    REPO = "ecr/app"

    def setUp(self):
        self.need_v2()
        cls = type(self)
        if not getattr(cls, "pushed", False):
            self.ensure_repo(self.REPO)
            cls.t0 = time.time()
            self.assertPushed("oci:%s:latest" % OCI, self.REPO, "v1")
            self.assertEqual(self.put_manifest(self.REPO, "stable", IMG["oci"]).status, 201)
            self.push_http(self.REPO, IMG["other"])             # untagged
            self.push_http(self.REPO, IMG["index"], "multi")
            cls.t1 = time.time()
            cls.pushed = True

    def test_list_images(self):
        self.need_ecr("ListImages")
        a, b, idx = IMG["oci"], IMG["other"], IMG["index"]
        ids = self.ecr.list_images(repositoryName=self.REPO)["imageIds"]
        key = lambda i: (i["imageDigest"], i.get("imageTag", ""))  # noqa: E731
        tagged = [{"imageDigest": a.digest, "imageTag": "stable"},
                  {"imageDigest": a.digest, "imageTag": "v1"},
                  {"imageDigest": idx.digest, "imageTag": "multi"}]
        untagged = [{"imageDigest": d} for d in
                    [b.digest] + [c.digest for c in idx.children if c.digest != a.digest]]
        self.assertEqual(sorted(ids, key=key), sorted(tagged + untagged, key=key))
        r = self.ecr.list_images(repositoryName=self.REPO, filter={"tagStatus": "TAGGED"})
        self.assertEqual(sorted(r["imageIds"], key=key), sorted(tagged, key=key))
        r = self.ecr.list_images(repositoryName=self.REPO, filter={"tagStatus": "UNTAGGED"})
        self.assertEqual(sorted(r["imageIds"], key=key), sorted(untagged, key=key))
        # pagination
        seen, token = [], None
        while True:
            kw = {"nextToken": token} if token else {}
            r = self.ecr.list_images(repositoryName=self.REPO, maxResults=2, **kw)
            self.assertLessEqual(len(r["imageIds"]), 2)
            seen += r["imageIds"]
            token = r.get("nextToken")
            if not token:
                break
        self.assertEqual(sorted(seen, key=key), sorted(ids, key=key))
        rc, out, err = self.berth.aws("ecr", "list-images", "--repository-name", self.REPO,
                                      "--filter", "tagStatus=TAGGED")
        self.assertEqual(rc, 0, err)
        self.assertEqual(sorted(out["imageIds"], key=key), sorted(tagged, key=key))

    def test_describe_images(self):
        self.need_ecr("DescribeImages")
        a = IMG["oci"]
        r = self.ecr.describe_images(repositoryName=self.REPO, imageIds=[{"imageTag": "v1"}])
        self.assertEqual(len(r["imageDetails"]), 1)
        d = r["imageDetails"][0]
        self.assertEqual(d["registryId"], self.berth.account_id)
        self.assertEqual(d["repositoryName"], self.REPO)
        self.assertEqual(d["imageDigest"], a.digest)
        self.assertEqual(sorted(d["imageTags"]), ["stable", "v1"])
        self.assertEqual(d["imageManifestMediaType"], build.OCI_MANIFEST)
        self.assertEqual(d.get("artifactMediaType"), build.OCI_CONFIG)
        layers = sum(l["size"] for l in a.doc["layers"])
        self.assertIn(d["imageSizeInBytes"], (layers, layers + a.doc["config"]["size"]),
                      "sum of layers %d" % layers)
        pushed = d["imagePushedAt"].timestamp()
        self.assertTrue(self.t0 - 1 <= pushed <= self.t1 + 1, (self.t0, pushed, self.t1))
        # all of them, and by digest
        r = self.ecr.describe_images(repositoryName=self.REPO)
        by_digest = {x["imageDigest"]: x for x in r["imageDetails"]}
        self.assertIn(IMG["other"].digest, by_digest)
        self.assertNotIn("imageTags", by_digest[IMG["other"].digest])
        self.assertEqual(by_digest[IMG["index"].digest]["imageManifestMediaType"], build.OCI_INDEX)
        r = self.ecr.describe_images(repositoryName=self.REPO,
                                     imageIds=[{"imageDigest": IMG["other"].digest}])
        self.assertEqual(r["imageDetails"][0]["imageDigest"], IMG["other"].digest)
        self.assertClientError("ImageNotFoundException", self.ecr.describe_images,
                               repositoryName=self.REPO, imageIds=[{"imageTag": "nosuch"}])
        self.assertClientError("RepositoryNotFoundException", self.ecr.describe_images,
                               repositoryName="no/such/repo")

    def test_batch_get_image(self):
        self.need_ecr("BatchGetImage")
        a, idx = IMG["oci"], IMG["index"]
        r = self.ecr.batch_get_image(repositoryName=self.REPO,
                                     imageIds=[{"imageTag": "v1"}, {"imageTag": "multi"},
                                               {"imageTag": "nosuch"}])
        got = {i["imageId"].get("imageTag"): i for i in r["images"]}
        self.assertEqual(got["v1"]["imageManifest"].encode(), a.manifest)
        self.assertEqual(got["v1"]["imageId"]["imageDigest"], a.digest)
        self.assertEqual(got["v1"]["imageManifestMediaType"], build.OCI_MANIFEST)
        self.assertEqual(got["multi"]["imageManifest"].encode(), idx.manifest)
        self.assertEqual(got["multi"]["imageManifestMediaType"], build.OCI_INDEX)
        self.assertEqual(len(r["failures"]), 1, r["failures"])
        self.assertEqual(r["failures"][0]["imageId"], {"imageTag": "nosuch"})
        self.assertEqual(r["failures"][0]["failureCode"], "ImageNotFound")
        rc, out, err = self.berth.aws("ecr", "batch-get-image", "--repository-name", self.REPO,
                                      "--image-ids", "imageDigest=" + a.digest)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out["images"][0]["imageManifest"].encode(), a.manifest)

    def test_put_image_of_retrieved_manifest(self):
        self.need_ecr("BatchGetImage", "PutImage")
        a = IMG["oci"]
        m = self.ecr.batch_get_image(repositoryName=self.REPO,
                                     imageIds=[{"imageTag": "v1"}])["images"][0]["imageManifest"]
        rc, out, err = self.berth.aws("ecr", "put-image", "--repository-name", self.REPO,
                                      "--image-tag", "copied", "--image-manifest", m,
                                      "--image-manifest-media-type", build.OCI_MANIFEST)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out["image"]["imageId"], {"imageDigest": a.digest, "imageTag": "copied"})
        self.assertEqual(out["image"]["imageManifest"].encode(), a.manifest)
        self.assertImageReads(self.REPO, "copied", a)
        # the same manifest and tag again
        self.assertClientError("ImageAlreadyExistsException", self.ecr.put_image,
                               repositoryName=self.REPO, imageTag="copied", imageManifest=m)
        # a digest that is not the manifest's
        self.assertClientError("ImageDigestDoesNotMatchException", self.ecr.put_image,
                               repositoryName=self.REPO, imageTag="x", imageManifest=m,
                               imageDigest=IMG["other"].digest)
        # layers the repository does not have
        self.ensure_repo("ecr/empty")
        self.assertClientError("LayersNotFoundException", self.ecr.put_image,
                               repositoryName="ecr/empty", imageTag="x", imageManifest=m)
        self.assertClientError("InvalidParameterException", self.ecr.put_image,
                               repositoryName=self.REPO, imageTag="x", imageManifest="{not json")
        self.assertImageReads(self.REPO, "v1", a)

    def test_batch_delete_of_an_index_child(self):
        """ECR refuses to delete a manifest an index still names."""
        self.need_ecr("BatchDeleteImage")
        repo = "ecr/indexed"
        self.ensure_repo(repo)
        self.push_http(repo, IMG["index"], "multi")
        child = IMG["index"].children[1]
        r = self.ecr.batch_delete_image(repositoryName=repo,
                                        imageIds=[{"imageDigest": child.digest}])
        self.assertEqual(r["imageIds"], [])
        self.assertEqual(len(r["failures"]), 1, r)
        self.assertEqual(r["failures"][0]["failureCode"], "ImageReferencedByManifestList")
        self.assertImageReads(repo, child.digest, child)
        self.assertImageReads(repo, "multi", IMG["index"])

    def test_get_download_url_for_layer(self):
        self.need_ecr("GetDownloadUrlForLayer")
        layer = IMG["oci"].layer_digests()[0]
        r = self.ecr.get_download_url_for_layer(repositoryName=self.REPO, layerDigest=layer)
        self.assertEqual(r["layerDigest"], layer)
        u = urllib.parse.urlsplit(r["downloadUrl"])
        self.assertEqual(u.hostname, "127.0.0.1")
        # presigned: it reads the layer with no other credentials, byte for byte
        with urllib.request.urlopen(r["downloadUrl"], timeout=30) as resp:
            self.assertEqual(resp.status, 200)
            body = resp.read()
        self.assertEqual("sha256:" + hashlib.sha256(body).hexdigest(), layer)
        # a changed signature, or the URL's query on another path, is refused
        bad = r["downloadUrl"][:-1] + ("0" if r["downloadUrl"][-1] != "0" else "1")
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(bad, timeout=30)
        self.assertEqual(cm.exception.code, 401)
        other = "http://%s/v2/%s/manifests/latest?%s" % (u.netloc, self.REPO, u.query)
        with self.assertRaises(urllib.error.HTTPError) as cm:
            urllib.request.urlopen(other, timeout=30)
        self.assertIn(cm.exception.code, (401, 403))
        self.assertClientError("LayersNotFoundException", self.ecr.get_download_url_for_layer,
                               repositoryName=self.REPO, layerDigest=ZERO_DIGEST)

    def test_delete_repository(self):
        self.need_ecr("DeleteRepository")
        repo = "ecr/doomed"
        self.ensure_repo(repo)
        self.push_http(repo, IMG["third"], "v1")
        self.assertClientError("RepositoryNotEmptyException", self.ecr.delete_repository,
                               repositoryName=repo)
        self.assertImageReads(repo, "v1", IMG["third"])
        r = self.ecr.delete_repository(repositoryName=repo, force=True)
        self.assertEqual(r["repository"]["repositoryName"], repo)
        self.assertOciError(self.v2("GET", "/v2/%s/manifests/v1" % repo), 404, "NAME_UNKNOWN")
        self.assertOciError(self.v2("GET", "/v2/%s/tags/list" % repo), 404, "NAME_UNKNOWN")
        self.assertNotIn(repo, self.v2("GET", "/v2/_catalog").json["repositories"])
        # the blobs other repositories share are still there
        self.assertImageReads(self.REPO, "v1", IMG["oci"])

    def test_invalid_repository_names(self):
        self.need_ecr("CreateRepository")
        for name in ("Upper", "a..b", "-x", "a//b", "a" * 257, "bad!"):
            with self.subTest(name=name):
                self.assertClientError("InvalidParameterException", self.ecr.create_repository,
                                       repositoryName=name)


if __name__ == "__main__":
    harness.main()
