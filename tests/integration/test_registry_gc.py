"""
The registry's garbage collector and upload sweep, against a real server
collecting every second (--registry-gc-interval 1) with a short grace period
(--registry-gc-grace 3) and uploads removed after one idle second
(--registry-upload-max-age 1); and the same with a grace of an hour, which
must spare what it would otherwise remove.

What the collector keeps: every stored manifest, everything a manifest
references (config, layers, child manifests), and every blob younger than
the grace period (an upload waiting for its manifest). Everything else goes,
file and repository links together: a blob uploaded and never named by a
manifest once the grace has passed, a deleted image's own blobs, layers of
a deleted repository that no other image has (blobs.h, docs/registry.md).
A push needs a grace longer than itself (from its first blob to its
manifest): the Pushing class runs with 30 s, so that nothing it pushes is
ever old; the Racing class with 4 s, pushing again the layers of an image
it deleted just as they become old enough to go.

Waits for an event poll with a deadline. A collection is known to have run
when an upload session left idle for it is gone (the sweep runs first in
each pass): gc_passes(n) waits for n of those. The only sleeps let blobs
age past (or to about) the grace; a HEAD or GET renews a blob's age, so
that age is read from the file, never polled through /v2/.
"""
import os
import random
import threading
import time
import uuid

import harness
from harness import Berth
import test_registry
from test_registry import (CREATE_ON_PUSH, IMG, RegistryCase, build, read_blobs_of_layout,
                           sha256)
# the images test_registry builds, and removes again; unittest finds them here by name
from test_registry import setUpModule, tearDownModule  # noqa: F401

GC_EVERY_SECOND = ["--registry-gc-interval", "1", "--registry-upload-max-age", "1"]
WAIT = 30.0  # seconds: generous for the sanitizer build on a loaded machine


class GcCase(RegistryCase):
    """A server collecting every second with the grace period of cls.grace."""

    grace = "0"

    @classmethod
    def start_server(cls, create_on_push):
        b = Berth(extra_args=[CREATE_ON_PUSH, "--registry-gc-grace", cls.grace] + GC_EVERY_SECOND)
        cls.addClassCleanup(b.cleanup)
        b.start()
        return b, True

    # --- waiting on the collector ---

    def wait_for(self, cond, what, timeout=WAIT):
        deadline = time.monotonic() + timeout
        while not cond():
            if time.monotonic() > deadline:
                self.fail("%s: not within %.0fs" % (what, timeout))
            time.sleep(0.1)

    def upload_files(self, session_uuid, berth=None):
        d = os.path.join((berth or self.berth).data_dir, "registry", "uploads")
        return [n for n in os.listdir(d) if n.startswith(session_uuid)]

    def idle_session(self, repo="gc/marker", data=b"idle", berth=None, password=None):
        """An upload session with a few bytes, left idle: (its path, its uuid)."""
        r = self.v2("POST", "/v2/%s/blobs/uploads/" % repo, berth=berth, password=password)
        self.assertEqual(r.status, 202, r)
        path = self.upload_path(r)
        r = self.v2("PATCH", path, data, {"Content-Range": "0-%d" % (len(data) - 1)},
                    berth=berth, password=password)
        self.assertEqual(r.status, 202, r)
        session = r.headers.get("docker-upload-uuid")
        self.assertTrue(session, r.headers)
        self.assertTrue(self.upload_files(session, berth), "no files for upload %s" % session)
        return self.upload_path(r), session

    def gc_passes(self, n=2, berth=None, password=None):
        """Wait until n more collections ran (each one's sweep removes a session it saw idle)."""
        for _ in range(n):
            _, session = self.idle_session(berth=berth, password=password)
            self.wait_for(lambda: not self.upload_files(session, berth),
                          "upload %s swept" % session)

    def has_blob(self, digest, berth=None):
        return os.path.exists(os.path.join(self.blob_dir(berth), digest.split(":", 1)[1]))

    def wait_blob_gone(self, digest, berth=None):
        self.wait_for(lambda: not self.has_blob(digest, berth), "blob %s collected" % digest)

    def wait_past_grace(self, digests, berth=None):
        """
        Wait until the files of digests are older than the grace (by their
        mtime: a HEAD or GET renews it, so this cannot poll /v2/), then for
        a collection to have run.
        """
        d = self.blob_dir(berth)
        last = max(os.stat(os.path.join(d, x.split(":", 1)[1])).st_mtime for x in digests)
        time.sleep(max(0.0, last + float(self.grace) + 0.5 - time.time()))
        self.gc_passes(1, berth=berth)

    def upload(self, repo, data):
        """POST, then PUT the whole blob: an ordinary two-step upload."""
        r = self.v2("POST", "/v2/%s/blobs/uploads/" % repo)
        self.assertEqual(r.status, 202, r)
        d = sha256(data)
        r = self.v2("PUT", self.with_query(self.upload_path(r), "digest=" + d), data)
        self.assertEqual(r.status, 201, r)
        self.assertTrue(self.has_blob(d))
        return d

    def orphan_file(self, data, berth=None):
        """A blob file no key references, as a crash between commit and link leaves."""
        d = sha256(data)
        with open(os.path.join(self.blob_dir(berth), d.split(":", 1)[1]), "wb") as f:
            f.write(data)
        return d

    def delete_blob(self, repo, digest):
        r = self.v2("DELETE", "/v2/%s/blobs/%s" % (repo, digest))
        self.assertEqual(r.status, 202, r)

    def delete_manifest(self, repo, digest):
        r = self.v2("DELETE", "/v2/%s/manifests/%s" % (repo, digest))
        self.assertEqual(r.status, 202, r)

    def layout(self, images):
        """An OCI layout of its own holding images ({tag: Image}), for skopeo to push from."""
        return build.write_layout(os.path.join(self.tmpdir(), "layout"), images)

    def blob_names(self, berth=None):
        return sorted(os.listdir(self.blob_dir(berth)))

    def ecr_delete_image(self, repo, digest, berth=None):
        ecr = (berth or self.berth).client("ecr")
        out = ecr.batch_delete_image(repositoryName=repo, imageIds=[{"imageDigest": digest}])
        self.assertEqual(out["failures"], [], out)

    def assertPulls(self, repo, ref, img):
        """skopeo pulls it, byte for byte."""
        d = os.path.join(self.tmpdir(), "pull")
        rc, _, err = self.pull(repo, ref, "oci:%s:x" % d)
        self.assertEqual(rc, 0, err)
        self.assertEqual(build.read_layout_blob(d, img.digest), img.manifest)
        self.assertEqual(read_blobs_of_layout(d, img), img.blobs)


class ShortGrace(GcCase):
    """A grace of 3 s: enough for a push here to reach its manifest, short enough to wait out."""

    grace = "3"

    def test_unreferenced_blobs_are_collected(self):
        self.need_v2()
        # a file nothing references
        orphan = self.orphan_file(os.urandom(4096))
        self.wait_blob_gone(orphan)
        # an uploaded blob no manifest names goes once the grace (3 s) has passed
        data = os.urandom(100000)
        d = self.upload("gc/orphan", data)
        self.wait_blob_gone(d)
        # and once gone, the repository does not claim it
        self.assertEqual(self.v2("HEAD", "/v2/gc/orphan/blobs/" + d).status, 404)
        self.assertBlobFilesValid()

    def test_pushed_image_stays(self):
        self.need_v2()
        img = IMG["oci"]
        self.assertPushed("oci:%s:latest" % test_registry.OCI, "gc/keep", "v1")
        self.gc_passes(3)
        for d in list(img.blobs) + [img.digest]:
            self.assertTrue(self.has_blob(d), "blob %s of a pushed image was collected" % d)
        self.assertImageReads("gc/keep", "v1", img)
        self.assertPulls("gc/keep", "v1", img)

    def test_deleted_image_is_collected_shared_layer_stays(self):
        self.need_v2()
        a, b = IMG["other"], IMG["oci"]
        shared = set(a.layer_digests()) & set(b.layer_digests())
        only_a = (set(a.blobs) - set(b.blobs)) | {a.digest}
        self.assertTrue(shared and len(only_a) >= 3, (shared, only_a))
        self.push_http("gc/del-a", a, "v1")
        self.push_http("gc/del-b", b, "v1")
        self.gc_passes(1)
        self.assertTrue(all(self.has_blob(d) for d in a.blobs))
        # the image goes: its own blobs and links go with it, the shared layers stay
        self.delete_manifest("gc/del-a", a.digest)
        for d in only_a:
            self.wait_blob_gone(d)
        self.wait_past_grace(shared)
        for d in shared:
            self.assertTrue(self.has_blob(d), "shared layer %s was collected" % d)
            # gc/del-a no longer holds it; gc/del-b does
            self.assertEqual(self.v2("HEAD", "/v2/gc/del-a/blobs/" + d).status, 404)
            self.assertEqual(self.v2("HEAD", "/v2/gc/del-b/blobs/" + d).status, 200)
        self.assertImageReads("gc/del-b", "v1", b)
        self.assertPulls("gc/del-b", "v1", b)
        self.assertBlobFilesValid()

    def test_deleted_image_shares_layers_within_a_repository(self):
        """Two images in one repository: deleting one keeps the other whole."""
        self.need_v2()
        a, b = IMG["third"], IMG["oci"]
        self.push_http("gc/same", a, "a")
        self.push_http("gc/same", b, "b")
        self.delete_manifest("gc/same", a.digest)
        own = set(a.blobs) - set(b.blobs)
        for d in own | {a.digest}:
            self.wait_blob_gone(d)
        self.assertImageReads("gc/same", "b", b)
        self.assertOciError(self.v2("GET", "/v2/gc/same/manifests/a"), 404, "MANIFEST_UNKNOWN")

    def test_deleted_repository_is_collected(self):
        """DeleteRepository with force: every blob only its images had goes."""
        self.need_v2()
        self.need_ecr("DeleteRepository")
        img = build.image("oci", salt="doomed repository")
        self.push_http("gc/doomed", img, "v1")
        own = set(img.blobs) - set(IMG["oci"].blobs) | {img.digest}
        self.gc_passes(1)
        self.assertTrue(all(self.has_blob(d) for d in own))
        self.ecr.delete_repository(repositoryName="gc/doomed", force=True)
        for d in own:
            self.wait_blob_gone(d)
        self.assertBlobFilesValid()

    def test_skopeo_images_sharing_layers_one_deleted(self):
        """
        skopeo pushes A and B, which share two layers, to two repositories;
        BatchDeleteImage deletes A: its manifest, config and own layer leave
        the disk, the shared layers stay, and B pulls back byte for byte.
        """
        self.need_v2()
        self.need_ecr("BatchDeleteImage")
        a = build.image("oci", salt="gc skopeo a")
        b = build.image("oci", salt="gc skopeo b")
        shared = set(a.layer_digests()) & set(b.layer_digests())
        only_a = {a.digest, a.config_digest()} | (set(a.layer_digests()) - shared)
        self.assertEqual((len(shared), len(only_a)), (2, 3))
        src = self.layout({"a": a, "b": b})
        self.assertPushed("oci:%s:a" % src, "gc/sk-a", "v1")
        self.assertPushed("oci:%s:b" % src, "gc/sk-b", "v1")
        self.gc_passes(1)
        for d in set(a.blobs) | set(b.blobs) | {a.digest, b.digest}:
            self.assertTrue(self.has_blob(d), "blob %s of a pushed image is missing" % d)

        self.ecr_delete_image("gc/sk-a", a.digest)
        for d in only_a:
            self.wait_blob_gone(d)
        # gc/sk-a stops holding the shared layers once B's push is past the grace
        self.wait_past_grace(shared)
        for d in shared:
            self.assertTrue(self.has_blob(d), "shared layer %s was collected" % d)
            self.assertEqual(self.v2("HEAD", "/v2/gc/sk-a/blobs/" + d).status, 404)
            self.assertEqual(self.v2("HEAD", "/v2/gc/sk-b/blobs/" + d).status, 200)
        self.assertPulls("gc/sk-b", "v1", b)
        self.assertBlobFilesValid()

    def test_deleted_repository_leaves_no_blob(self):
        """
        A server of its own: two images, an index, an uploaded blob no
        manifest names; DeleteRepository with force, and the collector
        leaves no blob file at all. The server goes on working.
        """
        self.need_v2()
        self.need_ecr("DeleteRepository")
        b = self.new_berth(extra_args=[CREATE_ON_PUSH, "--registry-gc-grace", "2"] +
                           GC_EVERY_SECOND)
        pw = self.get_password(b)
        one, two = build.image("oci", salt="gc all one"), build.image("oci", salt="gc all two")
        src = self.layout({"one": one, "two": two})
        self.assertPushed("oci:%s:one" % src, "gc/all", "one", berth=b, password=pw)
        self.assertPushed("oci:%s:two" % src, "gc/all", "two", berth=b, password=pw)
        self.assertPushed("oci:%s:index" % test_registry.OCI, "gc/all", "multi", "--all",
                          berth=b, password=pw)
        orphan = os.urandom(3000)
        r = self.v2("POST", "/v2/gc/all/blobs/uploads/?digest=" + sha256(orphan), orphan,
                    berth=b, password=pw)
        self.assertEqual(r.status, 201, r)
        self.gc_passes(1, berth=b, password=pw)
        self.assertGreaterEqual(len(self.blob_names(b)), 10)

        b.client("ecr").delete_repository(repositoryName="gc/all", force=True)
        self.wait_for(lambda: not self.blob_names(b), "every blob file collected")
        # and the server still takes a push of the same image, which reads back whole
        self.assertPushed("oci:%s:one" % src, "gc/again", "v1", berth=b, password=pw)
        r = self.v2("GET", "/v2/gc/again/manifests/v1", berth=b, password=pw,
                    headers={"Accept": build.OCI_MANIFEST})
        self.assertEqual((r.status, r.body), (200, one.manifest), r)
        for d in one.blobs:
            r = self.v2("GET", "/v2/gc/again/blobs/" + d, berth=b, password=pw)
            self.assertEqual((r.status, sha256(r.body)), (200, d), r)

    def test_idle_upload_is_removed(self):
        self.need_v2()
        path, session = self.idle_session("gc/idle", b"some bytes")
        self.wait_for(lambda: not self.upload_files(session), "upload %s swept" % session)
        r = self.v2("PATCH", path, b"more", {"Content-Range": "10-13"})
        self.assertOciError(r, 404, "BLOB_UPLOAD_UNKNOWN")
        self.assertOciError(self.v2("GET", path), 404, "BLOB_UPLOAD_UNKNOWN")

    def test_upload_idle_time_counts_from_the_end_of_a_request(self):
        """
        A PATCH longer than the maximum age leaves its session idle from the
        end of the request, not from its start. Its own server: uploads live
        3 s, collections every second, so a sweep surely runs in the 1.5 s
        after the PATCH, and must spare the session.
        """
        self.need_v2()
        b = self.new_berth(extra_args=[CREATE_ON_PUSH, "--registry-gc-interval", "1",
                                       "--registry-upload-max-age", "3"])
        pw = self.get_password(b)
        chunks = [os.urandom(1000) for _ in range(10)]
        r = self.v2("POST", "/v2/gc/slow/blobs/uploads/", berth=b, password=pw)
        self.assertEqual(r.status, 202, r)
        path = self.upload_path(r)

        def dribble():
            for c in chunks:
                time.sleep(0.4)  # 4 s in all: longer than the maximum age
                yield c

        n = sum(len(c) for c in chunks)
        r = self.v2("PATCH", path, dribble(), {"Content-Range": "0-%d" % (n - 1),
                                               "Content-Length": str(n)}, berth=b, password=pw)
        self.assertEqual(r.status, 202, r)
        path = self.upload_path(r)
        time.sleep(1.5)  # at least one sweep, well within the maximum age
        s = self.v2("GET", path, berth=b, password=pw)
        self.assertEqual((s.status, s.headers.get("range")), (204, "0-%d" % (n - 1)), s)
        data = b"".join(chunks)
        r = self.v2("PUT", self.with_query(path, "digest=" + sha256(data)), berth=b, password=pw)
        self.assertEqual(r.status, 201, r)
        self.assertEqual(self.v2("GET", "/v2/gc/slow/blobs/" + sha256(data), berth=b,
                                 password=pw).body, data)

    def test_log_is_quiet_when_nothing_is_removed(self):
        self.need_v2()
        b = self.new_berth(extra_args=[CREATE_ON_PUSH, "--registry-gc-grace", "0"] +
                           GC_EVERY_SECOND)
        pw = self.get_password(b)
        # one pass that removes something, then at least two that remove nothing
        d = self.orphan_file(b"log test orphan", berth=b)
        self.wait_blob_gone(d, berth=b)
        before = b.log().count("registry garbage collection")
        time.sleep(2.5)  # two or three passes with nothing to remove
        after = b.log().count("registry garbage collection")
        self.assertEqual(after, before, "the collector logged with nothing removed:\n%s"
                         % b.log_tail(10))
        self.gc_passes(1, berth=b, password=pw)
        self.assertLessEqual(b.log().count("registry garbage collection"), before + 2)


class Pushing(GcCase):
    """
    Pushes while a collection runs every second, with a grace of 30 s: longer
    than any push here takes from its first blob to its manifest.
    """

    grace = "30"

    def test_pushes_while_collecting(self):
        """Pushes of new and known layers, one after another, with a collection every second."""
        self.need_v2()
        pushed = []
        deadline = time.monotonic() + 4.0  # several collections happen during the loop
        i = 0
        while i < 4 or time.monotonic() < deadline:
            img = build.image("oci", salt="loop %d" % i)  # a new layer 2 and config each time
            self.push_http("gc/loop", img, "t%d" % i)
            pushed.append(("gc/loop", "t%d" % i, img))
            self.assertPushed("oci:%s:latest" % test_registry.OCI, "gc/loop-skopeo", "t%d" % i)
            pushed.append(("gc/loop-skopeo", "t%d" % i, IMG["oci"]))
            i += 1
            self.assertLess(i, 50)
        self.gc_passes(2)
        for repo, tag, img in pushed:
            self.assertImageReads(repo, tag, img)
        self.assertPulls("gc/loop", "t0", pushed[0][2])
        self.assertPulls("gc/loop-skopeo", "t%d" % (i - 1), IMG["oci"])
        self.assertBlobFilesValid()

    def test_concurrent_pushes_while_collecting(self):
        """Four threads pushing new images by HTTP while collections run."""
        self.need_v2()
        results, pushed = {}, {}

        def pusher(t):
            try:
                for i in range(4):
                    img = build.image("oci", salt="thread %d push %d" % (t, i))
                    self.push_http("gc/conc%d" % t, img, "p%d" % i)
                    pushed[(t, i)] = img
                results[t] = "ok"
            except BaseException as e:  # reported in the test's thread
                results[t] = repr(e)

        threads = [threading.Thread(target=pusher, args=(t,)) for t in range(4)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(180)
        self.assertEqual(results, {t: "ok" for t in range(4)})
        self.gc_passes(1)
        for (t, i), img in sorted(pushed.items()):
            self.assertImageReads("gc/conc%d" % t, "p%d" % i, img)

    def test_many_uploads_while_collecting(self):
        """
        Eight threads committing small blobs for three seconds: whenever a
        collection starts, some commit is between writing its file and
        linking it. Every blob is younger than the grace: none may go.
        """
        self.need_v2()
        stop = time.monotonic() + 3.0
        results, done = {}, {}

        def uploader(t):
            mine = []
            try:
                while time.monotonic() < stop:
                    data = os.urandom(64) + b"thread %d blob %d" % (t, len(mine))
                    d = sha256(data)
                    r = self.v2("POST", "/v2/gc/many%d/blobs/uploads/?digest=%s" % (t % 2, d),
                                data)
                    if r.status != 201:
                        raise AssertionError("upload %s: %r" % (d, r))
                    mine.append(d)
                results[t] = "ok"
            except BaseException as e:  # reported in the test's thread
                results[t] = repr(e)
            done[t] = mine

        threads = [threading.Thread(target=uploader, args=(t,)) for t in range(8)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(120)
        self.assertEqual(results, {t: "ok" for t in range(8)})
        self.gc_passes(1)
        lost = [(t, d) for t, ds in done.items() for d in ds if not self.has_blob(d)]
        self.assertEqual(lost, [], "%d of %d blobs collected while their repository held them"
                         % (len(lost), sum(len(ds) for ds in done.values())))


class Racing(GcCase):
    """
    Pushes of exactly the layers a collection is about to remove: a grace
    of 4 s (longer than a push here), a collection every second, and an
    image deleted and left to age to about the grace before it is pushed
    again, by skopeo (which finds each layer still there, and renews it, or
    gone, and uploads it) or by ECR PutImage of the manifest alone (which
    renews nothing: it is refused with LayersNotFoundException when the
    layers went first, and otherwise must keep them).
    """

    grace = "4"

    def test_push_races_the_collection_of_its_layers(self):
        self.need_v2()
        self.need_ecr("BatchDeleteImage", "PutImage")
        img = build.image("oci", salt="gc race")
        src = self.layout({"race": img})
        rng = random.Random(os.getpid())
        grace = float(self.grace)
        for i in range(4):
            tag = "t%d" % i
            how = "skopeo"
            if i % 2:
                try:
                    self.ecr.put_image(repositoryName="gc/race", imageTag=tag,
                                       imageManifest=img.manifest.decode(),
                                       imageManifestMediaType=img.media_type)
                    how = "put-image"
                except self.ecr.exceptions.LayersNotFoundException:
                    how = "put-image refused, then skopeo"
            with self.subTest(push=i, how=how):
                if how != "put-image":
                    self.assertPushed("oci:%s:race" % src, "gc/race", tag)
                self.assertImageReads("gc/race", tag, img)
                # past the grace of every blob, with collections: only the manifest keeps them
                time.sleep(grace + 1.5)
                self.assertPulls("gc/race", tag, img)
            self.ecr_delete_image("gc/race", img.digest)
            # the pull just renewed every blob: let them age to about the grace
            time.sleep(rng.uniform(grace - 1.0, grace + 1.5))
        self.assertPushed("oci:%s:race" % src, "gc/race", "last")
        self.gc_passes(2)
        self.assertPulls("gc/race", "last", img)
        self.assertBlobFilesValid()


class WithGrace(GcCase):
    """An hour's grace: nothing young is collected, referenced or not."""

    grace = "3600"

    def test_young_unreferenced_blobs_stay(self):
        self.need_v2()
        orphan = self.orphan_file(os.urandom(2048))
        data = os.urandom(5000)
        d = self.upload("grace/app", data)
        self.delete_blob("grace/app", d)
        img = IMG["other"]
        self.push_http("grace/app", img, "v1")
        self.delete_manifest("grace/app", img.digest)
        self.gc_passes(3)
        for x in [orphan, d, img.digest] + list(img.blobs):
            self.assertTrue(self.has_blob(x), "young blob %s was collected" % x)
        self.assertBlobFilesValid()


class Options(GcCase):
    """Out-of-range values are refused at start with a message naming the option."""

    def test_invalid_values_refused(self):
        for opt, val in (("--registry-gc-grace", "-1"), ("--registry-gc-grace", "2592001"),
                         ("--registry-gc-grace", "1h"), ("--registry-gc-grace", ""),
                         ("--registry-upload-max-age", "0"),
                         ("--registry-upload-max-age", "99999999999"),
                         ("--registry-upload-max-age", "x")):
            with self.subTest(opt=opt, val=val):
                b = Berth(extra_args=[opt, val])
                self.addCleanup(b.cleanup)
                rc, out, err = b.run_to_exit()
                self.assertEqual(rc, 2, (out, err))
                self.assertIn(opt, err)
                self.assertNotIn("listening", out)

    def test_help_lists_options(self):
        b = Berth(extra_args=["--help"])
        self.addCleanup(b.cleanup)
        rc, out, err = b.run_to_exit()
        self.assertEqual(rc, 0, err)
        for opt in ("--registry-gc-grace", "--registry-upload-max-age"):
            self.assertIn(opt, out)


if __name__ == "__main__":
    harness.main()
