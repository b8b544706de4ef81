"""
SigV4 authentication as AWS does it: refused requests get the error types
AWS answers with, real clients (boto3, the aws CLI) get in with the
configured key pairs, and the server's own options (--credentials,
--region, --account-id) take effect.
"""
import datetime
import unittest

import harness
from harness import BerthTestCase, Berth, ECS_PREFIX

SECOND_PAIR = ("AKIDBERTHITEST000002", "a-second-secret/with+odd=chars")


class Signatures(BerthTestCase):

    def test_no_authorization(self):
        r = self.berth.unsigned("ListClusters", {})
        self.assertError(r, "MissingAuthenticationTokenException", 403)

    def test_unknown_access_key(self):
        r = self.berth.request("ListClusters", {}, access_key="AKIDNOSUCHKEY0000000")
        # AWS: "The security token included in the request is invalid."
        self.assertError(r, "UnrecognizedClientException", None)
        self.assertIn(r.status, (400, 403), r)

    def test_wrong_secret(self):
        r = self.berth.request("ListClusters", {}, secret_key="not-the-secret")
        self.assertError(r, "InvalidSignatureException", None)
        self.assertIn(r.status, (400, 403), r)

    def test_signature_expired(self):
        # AWS accepts a request within 15 minutes of its X-Amz-Date
        old = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=20)
        r = self.berth.request("ListClusters", {}, when=old)
        self.assertError(r, "InvalidSignatureException", None)
        self.assertIn(r.status, (400, 403), r)
        self.assertIn("Signature expired", r.message)

    def test_signature_from_the_future(self):
        later = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(minutes=20)
        r = self.berth.request("ListClusters", {}, when=later)
        self.assertError(r, "InvalidSignatureException", None)
        self.assertIn(r.status, (400, 403), r)

    def test_a_few_minutes_of_clock_skew_is_fine(self):
        skewed = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=4)
        r = self.berth.request("ListClusters", {}, when=skewed)
        self.assertEqual(r.status, 200, r)

    def test_wrong_region_in_scope(self):
        r = self.berth.request("ListClusters", {}, region="eu-central-1")
        self.assertError(r, "InvalidSignatureException", None)
        self.assertIn(r.status, (400, 403), r)

    def test_wrong_service_in_scope(self):
        r = self.berth.request("ListClusters", {}, service="ecr")
        self.assertError(r, "InvalidSignatureException", None)
        self.assertIn(r.status, (400, 403), r)

    def test_body_changed_after_signing(self):
        body = b'{"clusterName": "signed-name"}'
        headers = {"Content-Type": "application/x-amz-json-1.1",
                   "X-Amz-Target": ECS_PREFIX + ".CreateCluster"}
        signed = harness.sign(self.berth.endpoint, "POST", "/", body, headers)
        r = harness.http_request(self.berth.endpoint, "POST", "/",
                                 b'{"clusterName": "other-name"}', signed)
        self.assertError(r, "InvalidSignatureException", None)
        # nothing was created under either name
        d = self.ecs.describe_clusters(clusters=["signed-name", "other-name"])
        self.assertEqual(d["clusters"], [])

    def test_target_changed_after_signing(self):
        headers = {"Content-Type": "application/x-amz-json-1.1",
                   "X-Amz-Target": ECS_PREFIX + ".ListClusters"}
        signed = harness.sign(self.berth.endpoint, "POST", "/", b"{}", headers)
        signed["X-Amz-Target"] = ECS_PREFIX + ".DescribeClusters"
        r = harness.http_request(self.berth.endpoint, "POST", "/", b"{}", signed)
        self.assertError(r, "InvalidSignatureException", None)

    def test_garbled_authorization(self):
        for auth in ("AWS4-HMAC-SHA256", "Basic Zm9vOmJhcg==",
                     "AWS4-HMAC-SHA256 Credential=%s/20200101/us-east-1/ecs/aws4_request"
                     % harness.ACCESS_KEY):
            with self.subTest(auth=auth):
                r = self.berth.unsigned("ListClusters", {}, headers={
                    "Authorization": auth, "X-Amz-Date": "20200101T000000Z"})
                self.assertIsNotNone(r.error_type, r)
                self.assertIn(r.status, (400, 403), r)

    def test_lowercase_headers_and_more_signed_headers(self):
        # as the JS SDK v3 signs: every header in lower case, nine of them signed
        import hashlib
        body = b"{}"
        headers = {"content-type": "application/x-amz-json-1.1",
                   "x-amz-target": ECS_PREFIX + ".ListClusters",
                   "x-amz-content-sha256": hashlib.sha256(body).hexdigest(),
                   "amz-sdk-invocation-id": "6f1d6a8a-1f5e-4b55-8a2b-1e2f3a4b5c6d",
                   "amz-sdk-request": "attempt=1; max=3",
                   "x-amz-user-agent": "aws-sdk-js/3.0.0",
                   "content-length": str(len(body))}
        signed = harness.sign(self.berth.endpoint, "POST", "/", body, headers)
        self.assertIn("amz-sdk-request", signed["Authorization"])
        r = harness.http_request(self.berth.endpoint, "POST", "/", body, signed)
        self.assertEqual(r.status, 200, r)
        self.assertIsInstance(r.json["clusterArns"], list)

    def test_session_token_boto3(self):
        ecs = self.berth.client(session_token="FQoGZXIvYXdzEBYaDFakeSessionToken==")
        self.assertIsInstance(ecs.list_clusters()["clusterArns"], list)

    def test_session_token_cli(self):
        rc, out, err = self.berth.aws("ecs", "list-clusters",
                                      session_token="FQoGZXIvYXdzEBYaDFakeSessionToken==")
        self.assertEqual(rc, 0, err)
        self.assertIsInstance(out["clusterArns"], list)

    def test_cli_with_wrong_secret(self):
        res = self.berth.aws("ecs", "list-clusters", secret_key="wrong")
        self.assertCliError(res, "InvalidSignatureException")

    def test_boto3_with_unknown_key(self):
        ecs = self.berth.client(access_key="AKIDNOSUCHKEY0000000")
        self.assertClientError("UnrecognizedClientException", ecs.list_clusters)


class ServerOptions(BerthTestCase):
    """Each test runs its own server."""

    shared_server = False

    def test_refuses_to_start_without_credentials(self):
        b = self.new_berth(start=False, env_keys=False)
        rc, out, err = b.run_to_exit()
        self.assertNotEqual(rc, 0)
        self.assertNotIn("listening on port", out)
        self.assertRegex(err, r"BERTH_ACCESS_KEY_ID|--credentials")

    def test_refuses_to_start_with_half_a_key_pair(self):
        b = self.new_berth(start=False, env_keys=False)
        env = b.env()
        env["BERTH_ACCESS_KEY_ID"] = harness.ACCESS_KEY
        b.env = lambda: env
        rc, out, err = b.run_to_exit()
        self.assertNotEqual(rc, 0)
        self.assertNotIn("listening on port", out)
        self.assertTrue(err.strip())

    def test_refuses_a_missing_credentials_file(self):
        b = self.new_berth(start=False, credentials=[SECOND_PAIR])
        b.credentials_file += ".missing"
        rc, out, err = b.run_to_exit()
        self.assertNotEqual(rc, 0)
        self.assertIn(b.credentials_file, err)

    def test_credentials_file_with_two_pairs(self):
        b = self.new_berth(credentials=[(harness.ACCESS_KEY, harness.SECRET_KEY), SECOND_PAIR])
        key2, secret2 = SECOND_PAIR
        c1 = b.client()
        c2 = b.client(access_key=key2, secret_key=secret2)
        arn = c1.create_cluster(clusterName="by-first")["cluster"]["clusterArn"]
        self.assertIn(arn, c2.list_clusters()["clusterArns"])
        rc, out, err = b.aws("ecs", "describe-clusters", "--clusters", "by-first",
                             access_key=key2, secret_key=secret2)
        self.assertEqual(rc, 0, err)
        self.assertEqual(out["clusters"][0]["clusterArn"], arn)
        # the second pair's key with the first pair's secret is not a pair
        bad = b.client(access_key=key2, secret_key=harness.SECRET_KEY)
        self.assertClientError("InvalidSignatureException", bad.list_clusters)

    def test_credentials_file_replaces_the_environment(self):
        # with --credentials, the keys in the environment are not accepted
        b = Berth(credentials=[SECOND_PAIR])
        self.addCleanup(b.cleanup)
        env = b.env()
        env["BERTH_ACCESS_KEY_ID"] = harness.ACCESS_KEY
        env["BERTH_SECRET_ACCESS_KEY"] = harness.SECRET_KEY
        b.env = lambda: env
        b.start()
        ecs = b.client(access_key=harness.ACCESS_KEY, secret_key=harness.SECRET_KEY)
        self.assertClientError("UnrecognizedClientException", ecs.list_clusters)

    def test_region_and_account_in_arns(self):
        b = self.new_berth(region="eu-west-3", account_id="111122223333")
        ecs = b.client()
        c = ecs.create_cluster(clusterName="paris", tags=[{"key": "city", "value": "Paris"}])
        self.assertEqual(c["cluster"]["clusterArn"], "arn:aws:ecs:eu-west-3:111122223333:cluster/paris")
        self.assertEqual(ecs.list_clusters()["clusterArns"],
                         ["arn:aws:ecs:eu-west-3:111122223333:cluster/paris"])
        d = ecs.describe_clusters(clusters=["arn:aws:ecs:eu-west-3:111122223333:cluster/paris"])
        self.assertEqual(d["clusters"][0]["clusterName"], "paris")
        t = ecs.list_tags_for_resource(resourceArn="arn:aws:ecs:eu-west-3:111122223333:cluster/paris")
        self.assertEqual(t["tags"], [{"key": "city", "value": "Paris"}])
        rc, out, err = b.aws("ecs", "describe-clusters", "--clusters", "paris")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out["clusters"][0]["clusterArn"],
                         "arn:aws:ecs:eu-west-3:111122223333:cluster/paris")
        # a client of another region signs for it and is refused
        other = b.client(region="us-east-1")
        self.assertClientError("InvalidSignatureException", other.list_clusters)

    def test_bad_region_and_account_options(self):
        for kw in ({"region": "EU WEST"}, {"account_id": "1234"}, {"account_id": "11112222333x"}):
            with self.subTest(**kw):
                b = self.new_berth(start=False, **kw)
                rc, out, err = b.run_to_exit()
                self.assertNotEqual(rc, 0)
                self.assertTrue(err.strip())


if __name__ == "__main__":
    harness.main()
