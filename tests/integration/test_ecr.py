"""
The ECR API with real clients (the aws CLI and boto3, every response checked
against AWS's model): repositories, their tags, tag mutability, deletion
with and without --force, authorization tokens (get-login-password, then
basic auth on /v2/), and the image operations on an image pushed with
skopeo from an OCI layout built here.

The image tests need the /v2/ API and skopeo; they are skipped without them.
"""
import base64
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import tarfile
import tempfile
import unittest

import harness
from harness import BerthTestCase

ARN = "arn:aws:ecr:%s:%s:repository/%%s" % (harness.REGION, harness.ACCOUNT_ID)


def _blob(layout, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(layout, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest, len(data)


def _layer(files):
    """A gzipped tar of {path: bytes}, reproducible."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as t:
        for path, data in sorted(files.items()):
            info = tarfile.TarInfo(path)
            info.size, info.mtime, info.mode = len(data), 0, 0o644
            t.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


def build_layout(path, tag="latest", layers=2, seed="x"):
    """An OCI image layout at path holding one small image of `layers` layers."""
    os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)
    with open(os.path.join(path, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    descs, diff_ids = [], []
    for i in range(layers):
        data = ("%s layer %d\n" % (seed, i)).encode() * (i + 1)
        gz = _layer({"file%d.txt" % i: data})
        digest, size = _blob(path, gz)
        descs.append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                      "digest": digest, "size": size})
        diff_ids.append("sha256:" + hashlib.sha256(gzip.decompress(gz)).hexdigest())
    config = json.dumps({"architecture": "amd64", "os": "linux",
                         "config": {"Cmd": ["/bin/sh"]},
                         "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()
    cdigest, csize = _blob(path, config)
    manifest = json.dumps({"schemaVersion": 2,
                           "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      "digest": cdigest, "size": csize},
                           "layers": descs}).encode()
    mdigest, msize = _blob(path, manifest)
    with open(os.path.join(path, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "manifests": [
            {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": mdigest,
             "size": msize, "annotations": {"org.opencontainers.image.ref.name": tag}}]}, f)
    return {"manifest": manifest.decode(), "digest": mdigest,
            "size": csize + sum(d["size"] for d in descs)}


class Repositories(BerthTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ecr = cls.berth.client("ecr")

    def test_create_describe_delete(self):
        rc, out, err = self.berth.aws("ecr", "create-repository", "--repository-name", "team/web",
                                      "--image-tag-mutability", "IMMUTABLE",
                                      "--tags", "Key=env,Value=prod")
        self.assertEqual(rc, 0, err)
        repo = out["repository"]
        self.assertEqual(repo["repositoryArn"], ARN % "team/web")
        self.assertEqual(repo["registryId"], harness.ACCOUNT_ID)
        self.assertEqual(repo["repositoryUri"], "127.0.0.1:%d/team/web" % self.berth.port)
        self.assertEqual(repo["imageTagMutability"], "IMMUTABLE")
        self.assertEqual(repo["encryptionConfiguration"], {"encryptionType": "AES256"})
        self.assertEqual(repo["imageScanningConfiguration"], {"scanOnPush": False})

        self.assertCliError(self.berth.aws("ecr", "create-repository", "--repository-name",
                                           "team/web"), "RepositoryAlreadyExistsException")
        self.assertCliError(self.berth.aws("ecr", "create-repository", "--repository-name",
                                           "Bad..Name"), "InvalidParameterException")

        rc, out, err = self.berth.aws("ecr", "describe-repositories", "--repository-names",
                                      "team/web")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out["repositories"][0]["repositoryUri"], repo["repositoryUri"])
        self.assertCliError(self.berth.aws("ecr", "describe-repositories", "--repository-names",
                                           "nope"), "RepositoryNotFoundException")

        rc, out, err = self.berth.aws("ecr", "put-image-tag-mutability", "--repository-name",
                                      "team/web", "--image-tag-mutability", "MUTABLE")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out, {"registryId": harness.ACCOUNT_ID, "repositoryName": "team/web",
                               "imageTagMutability": "MUTABLE"})

        rc, out, err = self.berth.aws("ecr", "list-tags-for-resource", "--resource-arn",
                                      ARN % "team/web")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out["tags"], [{"Key": "env", "Value": "prod"}])
        self.ecr.tag_resource(resourceArn=ARN % "team/web", tags=[{"Key": "tier", "Value": "1"}])
        self.ecr.untag_resource(resourceArn=ARN % "team/web", tagKeys=["env"])
        self.assertEqual(self.ecr.list_tags_for_resource(resourceArn=ARN % "team/web")["tags"],
                         [{"Key": "tier", "Value": "1"}])

        rc, out, err = self.berth.aws("ecr", "delete-repository", "--repository-name", "team/web")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out["repository"]["repositoryName"], "team/web")
        self.assertCliError(self.berth.aws("ecr", "delete-repository", "--repository-name",
                                           "team/web"), "RepositoryNotFoundException")

    def test_pagination(self):
        for i in range(7):
            self.ecr.create_repository(repositoryName="page/r%d" % i)
        # the CLI follows nextToken to the end, asking 2 at a time
        rc, out, err = self.berth.aws("ecr", "describe-repositories", "--page-size", "2")
        self.assertEqual(rc, 0, err)
        names = [r["repositoryName"] for r in out["repositories"]]
        self.assertEqual(sorted(n for n in names if n.startswith("page/")),
                         ["page/r%d" % i for i in range(7)])
        self.assertEqual(len(names), len(set(names)))
        first = self.ecr.describe_repositories(maxResults=3)
        self.assertEqual(len(first["repositories"]), 3)
        self.assertIn("nextToken", first)
        for i in range(7):
            self.ecr.delete_repository(repositoryName="page/r%d" % i)

    def test_login_password(self):
        rc, out, err = self.berth.aws("ecr", "get-login-password")
        self.assertEqual(rc, 0, err)
        password = out.strip() if isinstance(out, str) else str(out)
        data = self.ecr.get_authorization_token()["authorizationData"][0]
        self.assertEqual(data["proxyEndpoint"], "http://127.0.0.1:%d" % self.berth.port)
        user, _, pw = base64.b64decode(data["authorizationToken"]).decode().partition(":")
        self.assertEqual(user, "AWS")
        self.assertTrue(pw and password)
        # /v2/ takes the password as basic auth for user AWS, and nothing else
        r = harness.http_request(self.berth.endpoint, "GET", "/v2/")
        if r.status == 404:
            self.skipTest("this server has no /v2/ API yet")
        self.assertEqual(r.status, 401)
        auth = base64.b64encode(("AWS:" + password).encode()).decode()
        r = harness.http_request(self.berth.endpoint, "GET", "/v2/",
                                 headers={"Authorization": "Basic " + auth})
        self.assertEqual(r.status, 200)
        # the last character changed (to "0", or to "1" when it was "0")
        wrong = password[:-1] + ("1" if password.endswith("0") else "0")
        bad = base64.b64encode(("AWS:" + wrong).encode()).decode()
        r = harness.http_request(self.berth.endpoint, "GET", "/v2/",
                                 headers={"Authorization": "Basic " + bad})
        self.assertEqual(r.status, 401)

    def test_unsupported_operation(self):
        self.assertClientError("UnknownOperationException", self.ecr.get_lifecycle_policy,
                               repositoryName="whatever")


@unittest.skipUnless(shutil.which("skopeo"), "skopeo is not installed")
class Images(BerthTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ecr = cls.berth.client("ecr")
        r = harness.http_request(cls.berth.endpoint, "GET", "/v2/")
        if r.status == 404:
            raise unittest.SkipTest("this server has no /v2/ API yet")
        cls.tmp = tempfile.mkdtemp(prefix="berth-itest-ecr-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.password = cls.ecr.get_authorization_token()["authorizationData"][0]
        cls.password = base64.b64decode(cls.password["authorizationToken"]).decode()[4:]

    def push(self, repo, tag, seed):
        layout = os.path.join(self.tmp, "%s-%s" % (repo.replace("/", "_"), seed))
        image = build_layout(layout, tag=tag, seed=seed)
        dest = "docker://127.0.0.1:%d/%s:%s" % (self.berth.port, repo, tag)
        p = subprocess.run(["skopeo", "copy", "--dest-tls-verify=false",
                            "--dest-creds", "AWS:" + self.password,
                            "oci:%s:%s" % (layout, tag), dest],
                           capture_output=True, text=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr)
        return image

    def test_images(self):
        self.ecr.create_repository(repositoryName="img/app")
        one = self.push("img/app", "v1", "one")
        two = self.push("img/app", "v2", "two")

        ids = self.ecr.list_images(repositoryName="img/app")["imageIds"]
        self.assertEqual(sorted((i["imageTag"], i["imageDigest"]) for i in ids),
                         [("v1", one["digest"]), ("v2", two["digest"])])
        details = self.ecr.describe_images(repositoryName="img/app",
                                           imageIds=[{"imageTag": "v1"}])["imageDetails"]
        self.assertEqual(len(details), 1)
        d = details[0]
        self.assertEqual(d["imageDigest"], one["digest"])
        self.assertEqual(d["imageTags"], ["v1"])
        self.assertEqual(d["imageSizeInBytes"], one["size"])
        self.assertEqual(d["imageManifestMediaType"], "application/vnd.oci.image.manifest.v1+json")
        self.assertEqual(d["artifactMediaType"], "application/vnd.oci.image.config.v1+json")
        self.assertEqual(d["repositoryName"], "img/app")
        self.assertClientError("ImageNotFoundException", self.ecr.describe_images,
                               repositoryName="img/app", imageIds=[{"imageTag": "nope"}])

        got = self.ecr.batch_get_image(repositoryName="img/app",
                                       imageIds=[{"imageTag": "v2"}, {"imageTag": "nope"},
                                                 {"imageDigest": one["digest"],
                                                  "imageTag": "v2"}])
        self.assertEqual(len(got["images"]), 1)
        self.assertEqual(got["images"][0]["imageManifest"], two["manifest"])
        self.assertEqual(sorted(f["failureCode"] for f in got["failures"]),
                         ["ImageNotFound", "ImageTagDoesNotMatchDigest"])

        # put-image: retag v1 as stable; again is ImageAlreadyExistsException
        rc, out, err = self.berth.aws("ecr", "put-image", "--repository-name", "img/app",
                                      "--image-tag", "stable", "--image-manifest", one["manifest"])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out["image"]["imageId"], {"imageDigest": one["digest"],
                                                   "imageTag": "stable"})
        self.assertCliError(self.berth.aws("ecr", "put-image", "--repository-name", "img/app",
                                           "--image-tag", "stable", "--image-manifest",
                                           one["manifest"]), "ImageAlreadyExistsException")
        self.assertClientError("ImageDigestDoesNotMatchException", self.ecr.put_image,
                               repositoryName="img/app", imageTag="x",
                               imageManifest=one["manifest"], imageDigest=two["digest"])
        missing = json.loads(one["manifest"])
        missing["layers"][0]["digest"] = "sha256:" + "0" * 64
        self.assertClientError("LayersNotFoundException", self.ecr.put_image,
                               repositoryName="img/app", imageTag="x",
                               imageManifest=json.dumps(missing))

        # an immutable tag refuses to move
        self.ecr.put_image_tag_mutability(repositoryName="img/app",
                                          imageTagMutability="IMMUTABLE")
        self.assertClientError("ImageTagAlreadyExistsException", self.ecr.put_image,
                               repositoryName="img/app", imageTag="stable",
                               imageManifest=two["manifest"])
        self.ecr.put_image_tag_mutability(repositoryName="img/app", imageTagMutability="MUTABLE")

        untagged = self.ecr.list_images(repositoryName="img/app",
                                        filter={"tagStatus": "UNTAGGED"})["imageIds"]
        self.assertEqual(untagged, [])

        # delete by tag: v1 goes, its image stays (stable still names it);
        # by digest: the image with every tag
        out = self.ecr.batch_delete_image(repositoryName="img/app",
                                          imageIds=[{"imageTag": "v1"}, {"imageTag": "nope"}])
        self.assertEqual(out["imageIds"], [{"imageDigest": one["digest"], "imageTag": "v1"}])
        self.assertEqual(out["failures"][0]["failureCode"], "ImageNotFound")
        out = self.ecr.batch_delete_image(repositoryName="img/app",
                                          imageIds=[{"imageDigest": one["digest"]}])
        self.assertEqual(out["imageIds"], [{"imageDigest": one["digest"], "imageTag": "stable"}])
        # deleting the last tag deletes the image
        self.ecr.batch_delete_image(repositoryName="img/app", imageIds=[{"imageTag": "v2"}])
        self.assertEqual(self.ecr.list_images(repositoryName="img/app")["imageIds"], [])

        self.push("img/app", "v3", "three")
        self.assertClientError("RepositoryNotEmptyException", self.ecr.delete_repository,
                               repositoryName="img/app")
        rc, out, err = self.berth.aws("ecr", "delete-repository", "--repository-name", "img/app",
                                      "--force")
        self.assertEqual(rc, 0, err)
        self.assertClientError("RepositoryNotFoundException", self.ecr.list_images,
                               repositoryName="img/app")


if __name__ == "__main__":
    harness.main()
