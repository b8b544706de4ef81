"""
The AWS JSON 1.1 protocol as berth serves it: routing by X-Amz-Target,
request bodies that no SDK would send, error shapes and status codes,
limits, and a server that keeps serving while some clients stall.
"""
import http.client
import select
import socket
import time
import unittest

import harness
from harness import BerthTestCase, ECS_PREFIX


class Protocol(BerthTestCase):

    # --- routing ---

    def test_real_operation_berth_lacks(self):
        # an operation of AWS's ECS model that berth does not serve
        r = self.berth.request("CreateCapacityProvider",
                               {"name": "cp", "autoScalingGroupProvider": {"autoScalingGroupArn": "x"}})
        self.assertError(r, "UnknownOperationException", 400)

    def test_made_up_operation(self):
        r = self.berth.request("FrobnicateWidgets", {})
        self.assertError(r, "UnknownOperationException", 400)

    def test_unknown_target_prefix(self):
        r = self.berth.request("AmazonEC2ContainerServiceV20991231.ListClusters", {})
        self.assertError(r, "UnknownOperationException", 400)

    def test_missing_target(self):
        r = self.berth.request(None, {})
        self.assertEqual(r.status, 400, r)
        self.assertError(r, "UnknownOperationException", 400)

    def test_unknown_operation_through_boto3(self):
        # what a client sees: the error code botocore parses from __type
        from botocore.exceptions import ClientError
        ecs = self.ecs
        with self.assertRaises(ClientError) as cm:
            ecs.create_capacity_provider(
                name="cp", autoScalingGroupProvider={"autoScalingGroupArn": "arn:aws:x"})
        self.assertEqual(cm.exception.response["Error"]["Code"], "UnknownOperationException")
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)

    # --- bodies ---

    def test_malformed_json(self):
        for body in (b'{"clusterName": ', b"not json", b'{"clusterName": "a",}', b"{} {}",
                     b'{"clusterName": "a"} x', b"\xff\xfe{}"):
            with self.subTest(body=body):
                r = self.berth.request("CreateCluster", body)
                self.assertError(r, "SerializationException", 400)

    def test_body_not_an_object(self):
        for body in (b"[]", b'"CreateCluster"', b"5", b"null", b"true"):
            with self.subTest(body=body):
                r = self.berth.request("ListClusters", body)
                self.assertError(r, "SerializationException", 400)

    def test_wrong_types(self):
        cases = [
            ("CreateCluster", {"clusterName": 5}),
            ("CreateCluster", {"clusterName": ["a"]}),
            ("CreateCluster", {"tags": {"key": "a", "value": "b"}}),
            ("CreateCluster", {"tags": [{"key": 1, "value": "b"}]}),
            ("CreateCluster", {"settings": [{"name": "containerInsights", "value": True}]}),
            ("DescribeClusters", {"clusters": "default"}),
            ("DescribeClusters", {"clusters": [1, 2]}),
            ("ListClusters", {"maxResults": "7"}),
            ("ListClusters", {"maxResults": True}),
            ("ListClusters", {"nextToken": 12}),
        ]
        for op, body in cases:
            with self.subTest(op=op, body=body):
                r = self.berth.request(op, body)
                self.assertError(r, "SerializationException", 400)

    def test_missing_required_member(self):
        for op, body in (("DeleteCluster", {}), ("UpdateClusterSettings", {"cluster": "default"}),
                         ("TagResource", {"tags": [{"key": "a", "value": "b"}]}),
                         ("ListTagsForResource", {})):
            with self.subTest(op=op):
                r = self.berth.request(op, body)
                self.assertError(r, "InvalidParameterException", 400)

    def test_empty_body_is_an_empty_object(self):
        # clients send {} for an operation without input; an empty body means the same
        r = self.berth.request("ListClusters", b"")
        self.assertEqual(r.status, 200, r)
        self.assertIsInstance(r.json.get("clusterArns"), list)

    def test_nothing_stored_by_a_refused_request(self):
        r = self.berth.request("CreateCluster", {"clusterName": "refused-proto", "tags": "x"})
        self.assertError(r, "SerializationException", 400)
        d = self.ecs.describe_clusters(clusters=["refused-proto"])
        self.assertEqual(d["clusters"], [])
        self.assertEqual([f["reason"] for f in d["failures"]], ["MISSING"])

    # --- responses ---

    def test_successful_response_shape(self):
        r = self.berth.request("CreateCluster", {"clusterName": "proto-shape"})
        self.assertEqual(r.status, 200, r)
        self.assertTrue(r.headers["content-type"].startswith("application/x-amz-json-1.1"))
        self.assertTrue(r.headers.get("x-amzn-requestid"), r.headers)
        self.assertEqual(harness.response_errors("CreateCluster", r.status, r.body), [])
        c = r.json["cluster"]
        self.assertIsInstance(c["clusterArn"], str)
        self.assertEqual(c["clusterName"], "proto-shape")
        self.assertEqual(c["status"], "ACTIVE")
        for k in ("registeredContainerInstancesCount", "runningTasksCount", "pendingTasksCount",
                  "activeServicesCount"):
            self.assertIs(type(c[k]), int, k)
            self.assertEqual(c[k], 0, k)

    def test_error_response_shape(self):
        r = self.berth.request("DescribeClusters", {"clusters": "x"})
        self.assertEqual(r.status, 400)
        self.assertTrue(r.headers.get("x-amzn-requestid"), r.headers)
        self.assertEqual(harness.response_errors("DescribeClusters", r.status, r.body), [])
        self.assertEqual(set(r.json), {"__type", "message"})
        self.assertTrue(r.message)

    def test_boto3_responses_fit_the_model(self):
        # the client's after-call hook checks every raw response against the
        # model; here, also the parsed types of the key fields
        ecs = self.ecs
        c = ecs.create_cluster(clusterName="proto-model", tags=[{"key": "k", "value": "v"}],
                               settings=[{"name": "containerInsights", "value": "enabled"}])["cluster"]
        self.assertIsInstance(c["clusterArn"], str)
        self.assertIsInstance(c["tags"], list)
        d = ecs.describe_clusters(clusters=["proto-model", "nope"],
                                  include=["TAGS", "SETTINGS", "STATISTICS", "CONFIGURATIONS"])
        self.assertIsInstance(d["clusters"][0]["statistics"], list)
        for s in d["clusters"][0]["statistics"]:
            self.assertIsInstance(s["name"], str)
            self.assertIsInstance(s["value"], str)
        self.assertIsInstance(d["failures"][0]["arn"], str)
        lst = ecs.list_clusters(maxResults=1)
        self.assertIsInstance(lst["clusterArns"], list)
        self.assertIsInstance(lst.get("nextToken", ""), str)
        t = ecs.list_tags_for_resource(resourceArn=c["clusterArn"])
        self.assertEqual(t["tags"], [{"key": "k", "value": "v"}])

    # --- other paths ---

    def test_healthz(self):
        r = harness.http_request(self.berth.endpoint, "GET", "/healthz")
        self.assertEqual(r.status, 200)
        self.assertEqual(r.body.strip(), b"ok")

    def test_unknown_path(self):
        r = harness.http_request(self.berth.endpoint, "GET", "/no-such-thing")
        self.assertEqual(r.status, 404)

    def test_get_on_the_json_api(self):
        r = self.berth.request("ListClusters", b"", method="GET")
        self.assertGreaterEqual(r.status, 400)
        self.assertLess(r.status, 500)

    # --- limits ---

    def _send_large(self, body_len):
        """Send a signed ListClusters with a body of body_len bytes; return the Response."""
        body = b"{}" + b" " * (body_len - 2)
        headers = {"Content-Type": "application/x-amz-json-1.1",
                   "X-Amz-Target": ECS_PREFIX + ".ListClusters"}
        headers = harness.sign(self.berth.endpoint, "POST", "/", body, headers)
        head = "POST / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nContent-Length: %d\r\n" % (
            self.berth.port, len(body))
        head += "".join("%s: %s\r\n" % kv for kv in headers.items()) + "\r\n"
        s = socket.create_connection(("127.0.0.1", self.berth.port), timeout=10)
        self.addCleanup(s.close)
        s.sendall(head.encode())
        # the server may answer as soon as it has seen Content-Length: stop
        # sending when it has, so that its close does not reset an unread answer
        sent = 0
        while sent < len(body):
            readable, _, _ = select.select([s], [], [], 0)
            if readable:
                break
            try:
                sent += s.send(body[sent:sent + 65536])
            except (BrokenPipeError, ConnectionResetError):
                break
        resp = http.client.HTTPResponse(s)
        resp.begin()
        data = resp.read()
        return harness.Response(resp.status, {k.lower(): v for k, v in resp.getheaders()}, data)

    def test_body_of_one_mib_is_accepted(self):
        r = self._send_large(1 << 20)
        self.assertEqual(r.status, 200, r)

    def test_body_over_one_mib_is_refused(self):
        r = self._send_large((1 << 20) + 1)
        self.assertEqual(r.status, 413, r)
        # and the server goes on serving
        self.assertIsInstance(self.ecs.list_clusters()["clusterArns"], list)
        r = harness.http_request(self.berth.endpoint, "GET", "/healthz")
        self.assertEqual(r.status, 200)

    def test_large_content_length_refused_without_body(self):
        # a client announcing 100 MiB is refused without being read
        s = socket.create_connection(("127.0.0.1", self.berth.port), timeout=10)
        self.addCleanup(s.close)
        s.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-amz-json-1.1\r\n"
                  b"X-Amz-Target: " + ECS_PREFIX.encode() + b".ListClusters\r\n"
                  b"Content-Length: 104857600\r\n\r\n{")
        resp = http.client.HTTPResponse(s)
        resp.begin()
        self.assertEqual(resp.status, 413)

    # --- slow clients ---

    def _stalled_sockets(self, n):
        socks = []
        for i in range(n):
            s = socket.create_connection(("127.0.0.1", self.berth.port), timeout=5)
            self.addCleanup(s.close)
            if i % 2:
                # stalls in the middle of its headers
                s.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Ty")
            else:
                # stalls in the middle of its body
                s.sendall(b"POST / HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                          b"Content-Type: application/x-amz-json-1.1\r\n"
                          b"X-Amz-Target: " + ECS_PREFIX.encode() + b".ListClusters\r\n"
                          b"Content-Length: 100\r\n\r\n{\"max")
            socks.append(s)
        return socks

    def _timed_request(self):
        ecs = self.berth.client()
        ecs.list_clusters()  # connection and client set up before the clock starts
        t0 = time.monotonic()
        out = ecs.describe_clusters(clusters=["default"])
        return time.monotonic() - t0, out

    def test_a_slow_client_does_not_hold_up_others(self):
        self._stalled_sockets(1)
        elapsed, out = self._timed_request()
        self.assertIn("failures", out)
        self.assertLess(elapsed, 1.0, "a request took %.2fs beside one stalled client" % elapsed)

    def test_more_slow_clients_than_threads(self):
        # berth serves with 8 threads by default: 40 stalled clients must not hold them all
        self._stalled_sockets(40)
        elapsed, out = self._timed_request()
        self.assertIn("failures", out)
        self.assertLess(elapsed, 1.0, "a request took %.2fs beside 40 stalled clients" % elapsed)


if __name__ == "__main__":
    harness.main()
