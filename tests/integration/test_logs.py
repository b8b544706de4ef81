"""
The CloudWatch Logs API (Logs_20140328.*) through boto3 and the aws CLI:
log groups and streams, PutLogEvents (sorting, rejected events, limits,
sequence tokens), GetLogEvents (tokens, startFromHead, time bounds, limit),
FilterLogEvents (terms, phrases, ?any, -exclude, stream selection,
pagination), retention, and AWS's errors for each mistake. Every boto3
response is checked against AWS's model by the harness.
"""
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import harness
from harness import Agent, Berth, BerthTestCase

sys.path.insert(0, os.path.join(harness.ROOT, "tests", "images"))
import build  # noqa: E402

CLUSTER = "logs"
# Debian's aws CLI v2 has `aws logs tail`; the CLI v1 does not.
AWS_V2 = "/usr/bin/aws"


def now_ms():
    return int(time.time() * 1000)


class LogsApi(BerthTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.logs = cls.berth.client("logs")

    def group(self, name, **kw):
        self.logs.create_log_group(logGroupName=name, **kw)
        self.addCleanup(self._delete_group, name)
        return name

    def _delete_group(self, name):
        try:
            self.logs.delete_log_group(logGroupName=name)
        except Exception:
            pass

    def put(self, group, stream, messages, ts=None, **kw):
        t = now_ms() if ts is None else ts
        events = [{"timestamp": t + i, "message": m} for i, m in enumerate(messages)]
        return self.logs.put_log_events(logGroupName=group, logStreamName=stream,
                                        logEvents=events, **kw)

    def test_groups(self):
        self.group("/ecs/app-one")
        self.group("/ecs/app-two", logGroupClass="INFREQUENT_ACCESS")
        self.group("other")
        self.assertClientError("ResourceAlreadyExistsException", self.logs.create_log_group,
                               logGroupName="other")
        got = self.logs.describe_log_groups(logGroupNamePrefix="/ecs/")["logGroups"]
        self.assertEqual([g["logGroupName"] for g in got], ["/ecs/app-one", "/ecs/app-two"])
        g = got[0]
        self.assertEqual(g["arn"], "arn:aws:logs:%s:%s:log-group:/ecs/app-one:*"
                         % (harness.REGION, "000000000000"))
        self.assertEqual(g["logGroupArn"], g["arn"][:-2])
        self.assertEqual(g["logGroupClass"], "STANDARD")
        self.assertNotIn("retentionInDays", g)
        self.assertEqual(got[1]["logGroupClass"], "INFREQUENT_ACCESS")
        got = self.logs.describe_log_groups(logGroupNamePattern="APP-T")["logGroups"]
        self.assertEqual([g["logGroupName"] for g in got], ["/ecs/app-two"])
        # pagination with limit
        names, token = [], None
        while True:
            kw = {"logGroupNamePrefix": "/ecs/", "limit": 1}
            if token:
                kw["nextToken"] = token
            page = self.logs.describe_log_groups(**kw)
            names += [g["logGroupName"] for g in page["logGroups"]]
            token = page.get("nextToken")
            if not token:
                break
        self.assertEqual(names, ["/ecs/app-one", "/ecs/app-two"])
        # errors
        self.assertClientError("InvalidParameterException", self.logs.create_log_group,
                               logGroupName="bad name!")
        self.assertClientError("InvalidParameterException", self.logs.describe_log_groups,
                               logGroupNamePrefix="a", logGroupNamePattern="b")
        self.assertClientError("InvalidParameterException", self.logs.describe_log_groups,
                               limit=51)
        self.assertClientError("InvalidParameterException", self.logs.describe_log_groups,
                               nextToken="!!not-a-token")
        self.logs.delete_log_group(logGroupName="other")
        self.assertClientError("ResourceNotFoundException", self.logs.delete_log_group,
                               logGroupName="other")

    def test_streams(self):
        g = self.group("streams")
        self.assertClientError("ResourceNotFoundException", self.logs.create_log_stream,
                               logGroupName="no-such-group", logStreamName="s")
        for s in ("b/1", "a/2", "a/1"):
            self.logs.create_log_stream(logGroupName=g, logStreamName=s)
        self.assertClientError("ResourceAlreadyExistsException", self.logs.create_log_stream,
                               logGroupName=g, logStreamName="a/1")
        self.assertClientError("InvalidParameterException", self.logs.create_log_stream,
                               logGroupName=g, logStreamName="has:colon")
        got = self.logs.describe_log_streams(logGroupName=g)["logStreams"]
        self.assertEqual([s["logStreamName"] for s in got], ["a/1", "a/2", "b/1"])
        self.assertTrue(got[0]["arn"].endswith(":log-group:streams:log-stream:a/1"))
        self.assertNotIn("lastEventTimestamp", got[0])
        got = self.logs.describe_log_streams(logGroupName=g, logStreamNamePrefix="a/",
                                             descending=True)["logStreams"]
        self.assertEqual([s["logStreamName"] for s in got], ["a/2", "a/1"])
        self.put(g, "b/1", ["x"], ts=now_ms() - 5000)
        self.put(g, "a/1", ["y"], ts=now_ms() - 1000)
        got = self.logs.describe_log_streams(logGroupName=g, orderBy="LastEventTime",
                                             descending=True, limit=2)
        self.assertEqual([s["logStreamName"] for s in got["logStreams"]], ["a/1", "b/1"])
        rest = self.logs.describe_log_streams(logGroupName=g, orderBy="LastEventTime",
                                              descending=True, nextToken=got["nextToken"])
        self.assertEqual([s["logStreamName"] for s in rest["logStreams"]], ["a/2"])
        self.assertNotIn("nextToken", rest)
        self.assertClientError("InvalidParameterException", self.logs.describe_log_streams,
                               logGroupName=g, orderBy="LastEventTime", logStreamNamePrefix="a")
        self.assertClientError("ResourceNotFoundException", self.logs.describe_log_streams,
                               logGroupName="no-such-group")
        self.logs.delete_log_stream(logGroupName=g, logStreamName="a/2")
        self.assertClientError("ResourceNotFoundException", self.logs.delete_log_stream,
                               logGroupName=g, logStreamName="a/2")

    def test_put_and_get(self):
        g = self.group("events")
        self.logs.create_log_stream(logGroupName=g, logStreamName="s")
        t0 = now_ms() - 60000
        # out of order in the batch: stored by timestamp (stable for equal ones)
        out = self.logs.put_log_events(logGroupName=g, logStreamName="s", logEvents=[
            {"timestamp": t0 + 2, "message": "third"},
            {"timestamp": t0, "message": "first"},
            {"timestamp": t0 + 1, "message": "second"},
            {"timestamp": t0 + 2, "message": "fourth"},
        ])
        self.assertEqual(out["nextSequenceToken"], "4")
        self.assertNotIn("rejectedLogEventsInfo", out)
        self.put(g, "s", ["m%d" % i for i in range(100)], ts=t0 + 10)
        got = self.logs.get_log_events(logGroupName=g, logStreamName="s", startFromHead=True)
        msgs = [e["message"] for e in got["events"]]
        self.assertEqual(msgs, ["first", "second", "third", "fourth"] + ["m%d" % i for i in range(100)])
        self.assertTrue(got["nextForwardToken"].startswith("f/"))
        self.assertTrue(got["nextBackwardToken"].startswith("b/"))
        self.assertTrue(all(e["ingestionTime"] >= e["timestamp"] for e in got["events"]))
        # the forward token at the end finds nothing now, then what comes later
        again = self.logs.get_log_events(logGroupName=g, logStreamName="s",
                                         nextToken=got["nextForwardToken"])
        self.assertEqual(again["events"], [])
        self.assertEqual(again["nextForwardToken"], got["nextForwardToken"])
        self.put(g, "s", ["later"], ts=t0 + 500)
        again = self.logs.get_log_events(logGroupName=g, logStreamName="s",
                                         nextToken=got["nextForwardToken"])
        self.assertEqual([e["message"] for e in again["events"]], ["later"])
        # without startFromHead: the last `limit` events; backward tokens page back
        tail = self.logs.get_log_events(logGroupName=g, logStreamName="s", limit=3)
        self.assertEqual([e["message"] for e in tail["events"]], ["m98", "m99", "later"])
        back = self.logs.get_log_events(logGroupName=g, logStreamName="s", limit=3,
                                        nextToken=tail["nextBackwardToken"])
        self.assertEqual([e["message"] for e in back["events"]], ["m95", "m96", "m97"])
        # forward paging with limit walks everything once, in order
        seen, token = [], None
        for _ in range(100):
            kw = {"logGroupName": g, "logStreamName": "s", "limit": 7, "startFromHead": True}
            if token:
                kw["nextToken"] = token
            page = self.logs.get_log_events(**kw)
            if not page["events"]:
                break
            seen += [e["message"] for e in page["events"]]
            token = page["nextForwardToken"]
        self.assertEqual(seen, msgs + ["later"])
        # time bounds: startTime inclusive, endTime exclusive
        got = self.logs.get_log_events(logGroupName=g, logStreamName="s", startFromHead=True,
                                       startTime=t0 + 1, endTime=t0 + 11)
        self.assertEqual([e["message"] for e in got["events"]], ["second", "third", "fourth", "m0"])
        # logGroupIdentifier takes the ARN
        arn = "arn:aws:logs:%s:000000000000:log-group:events" % harness.REGION
        got = self.logs.get_log_events(logGroupIdentifier=arn, logStreamName="s", limit=1)
        self.assertEqual([e["message"] for e in got["events"]], ["later"])
        # errors
        self.assertClientError("InvalidParameterException", self.logs.get_log_events,
                               logGroupName=g, logStreamName="s", nextToken="x/1/2")
        self.assertClientError("ResourceNotFoundException", self.logs.get_log_events,
                               logGroupName=g, logStreamName="nope")
        self.assertClientError("InvalidParameterException", self.logs.get_log_events,
                               logGroupName=g, logGroupIdentifier=arn, logStreamName="s")
        self.assertClientError("InvalidParameterException", self.logs.get_log_events,
                               logGroupName=g, logStreamName="s", limit=10001)

    def test_put_limits_and_rejections(self):
        g = self.group("limits")
        self.logs.create_log_stream(logGroupName=g, logStreamName="s")
        self.assertClientError("ResourceNotFoundException", self.put, g, "nope", ["x"])
        self.assertClientError("ResourceNotFoundException", self.put, "no-such-group", "s", ["x"])
        # 10,000 events is the most a batch takes
        self.assertClientError("InvalidParameterException", self.put, g, "s", ["x"] * 10001)
        out = self.put(g, "s", ["x"] * 10000, ts=now_ms() - 20000)
        self.assertEqual(out["nextSequenceToken"], "10000")
        # 1 MiB counting 26 bytes an event
        big = "y" * (1048576 // 4 - 26)
        self.put(g, "s", [big] * 4)
        self.assertClientError("InvalidParameterException", self.put, g, "s", [big] * 4 + ["z"])
        # more than 24 hours between the first and the last event
        t = now_ms()
        self.assertClientError("InvalidParameterException", self.logs.put_log_events,
                               logGroupName=g, logStreamName="s", logEvents=[
                                   {"timestamp": t - 25 * 3600 * 1000, "message": "a"},
                                   {"timestamp": t, "message": "b"}])
        # too old (14 days) and too new (2 hours) are rejected, the rest kept
        self.logs.create_log_stream(logGroupName=g, logStreamName="r")
        day = 24 * 3600 * 1000
        out = self.logs.put_log_events(logGroupName=g, logStreamName="r", logEvents=[
            {"timestamp": t - 14 * day - 3600 * 1000, "message": "old"},
            {"timestamp": t - 14 * day + 3600 * 1000, "message": "kept"},
        ])
        self.assertEqual(out["rejectedLogEventsInfo"], {"tooOldLogEventEndIndex": 1})
        out = self.logs.put_log_events(logGroupName=g, logStreamName="r", logEvents=[
            {"timestamp": t, "message": "now"},
            {"timestamp": t + 3 * 3600 * 1000, "message": "future"},
        ])
        self.assertEqual(out["rejectedLogEventsInfo"], {"tooNewLogEventStartIndex": 1})
        got = self.logs.get_log_events(logGroupName=g, logStreamName="r", startFromHead=True)
        self.assertEqual([e["message"] for e in got["events"]], ["kept", "now"])

    def test_sequence_tokens(self):
        g = self.group("tokens")
        self.logs.create_log_stream(logGroupName=g, logStreamName="s")
        out = self.put(g, "s", ["a", "b"])
        self.assertEqual(out["nextSequenceToken"], "2")
        out = self.put(g, "s", ["c"], sequenceToken="2")
        self.assertEqual(out["nextSequenceToken"], "3")
        # the same batch sent again with its old token is not stored twice
        err = self.assertClientError("DataAlreadyAcceptedException", self.put, g, "s", ["c"],
                                     sequenceToken="2")
        self.assertTrue(err.response["Error"]["Message"].endswith("3"))
        self.assertClientError("InvalidSequenceTokenException", self.put, g, "s", ["d"],
                               sequenceToken="99")
        # no token: always accepted, as AWS does now
        self.put(g, "s", ["d"])
        got = self.logs.get_log_events(logGroupName=g, logStreamName="s", startFromHead=True)
        self.assertEqual([e["message"] for e in got["events"]], ["a", "b", "c", "d"])
        s = self.logs.describe_log_streams(logGroupName=g)["logStreams"][0]
        self.assertEqual(s["uploadSequenceToken"], "4")

    def test_filter(self):
        g = self.group("filter")
        t = now_ms() - 10000
        for s in ("web/1", "web/2", "db/1"):
            self.logs.create_log_stream(logGroupName=g, logStreamName=s)
        self.put(g, "web/1", ["GET /index 200", "ERROR disk full", "GET /x 404"], ts=t)
        self.put(g, "web/2", ["WARN slow request", "ERROR out of memory", "Exiting"], ts=t + 1)
        self.put(g, "db/1", ["ERROR Exiting now", "checkpoint"], ts=t + 2)

        def msgs(**kw):
            return [(e["logStreamName"], e["message"])
                    for e in self.logs.filter_log_events(logGroupName=g, **kw)["events"]]

        self.assertEqual(msgs(filterPattern="ERROR"), [
            ("web/1", "ERROR disk full"), ("web/2", "ERROR out of memory"),
            ("db/1", "ERROR Exiting now")])
        self.assertEqual(msgs(filterPattern='"out of memory"'), [("web/2", "ERROR out of memory")])
        self.assertEqual(msgs(filterPattern="ERROR -Exiting"), [
            ("web/1", "ERROR disk full"), ("web/2", "ERROR out of memory")])
        self.assertEqual(msgs(filterPattern="?WARN ?404"), [
            ("web/2", "WARN slow request"), ("web/1", "GET /x 404")])
        self.assertEqual(msgs(filterPattern="ERROR", logStreamNamePrefix="web/"), [
            ("web/1", "ERROR disk full"), ("web/2", "ERROR out of memory")])
        self.assertEqual(msgs(filterPattern="ERROR", logStreamNames=["db/1"]),
                         [("db/1", "ERROR Exiting now")])
        self.assertEqual(len(msgs()), 8)
        self.assertEqual(msgs(filterPattern="error"), [])  # case-sensitive, as CloudWatch
        self.assertEqual(msgs(startTime=t + 1, endTime=t + 2), [
            ("web/1", "ERROR disk full"), ("web/2", "WARN slow request")])
        # pagination: limit 2 walks all 8 with distinct eventIds
        ids, token = [], None
        while True:
            kw = {"logGroupName": g, "limit": 2}
            if token:
                kw["nextToken"] = token
            page = self.logs.filter_log_events(**kw)
            ids += [e["eventId"] for e in page["events"]]
            token = page.get("nextToken")
            if not token:
                break
        self.assertEqual(len(ids), 8)
        self.assertEqual(len(set(ids)), 8)
        # the paginator follows nextToken too
        pages = self.logs.get_paginator("filter_log_events").paginate(
            logGroupName=g, filterPattern="ERROR", PaginationConfig={"PageSize": 1})
        self.assertEqual(sum(len(p["events"]) for p in pages), 3)
        # errors
        self.assertClientError("InvalidParameterException", self.logs.filter_log_events,
                               logGroupName=g, filterPattern='{ $.level = "x" }')
        self.assertClientError("InvalidParameterException", self.logs.filter_log_events,
                               logGroupName=g, filterPattern='"unclosed')
        self.assertClientError("InvalidParameterException", self.logs.filter_log_events,
                               logGroupName=g, logStreamNames=["a"], logStreamNamePrefix="a")
        self.assertClientError("ResourceNotFoundException", self.logs.filter_log_events,
                               logGroupName="no-such-group")
        self.assertClientError("InvalidParameterException", self.logs.filter_log_events,
                               logGroupName=g, nextToken="e/1/2")

    def test_retention(self):
        g = self.group("retention")
        self.logs.create_log_stream(logGroupName=g, logStreamName="s")
        day = 24 * 3600 * 1000
        t = now_ms()
        self.logs.put_log_events(logGroupName=g, logStreamName="s", logEvents=[
            {"timestamp": t - 2 * day, "message": "two days old"},
            {"timestamp": t - 2 * day + 1, "message": "two days old too"},
        ])
        self.put(g, "s", ["fresh"])
        self.assertClientError("InvalidParameterException", self.logs.put_retention_policy,
                               logGroupName=g, retentionInDays=2)
        self.assertClientError("ResourceNotFoundException", self.logs.put_retention_policy,
                               logGroupName="no-such-group", retentionInDays=1)
        self.logs.put_retention_policy(logGroupName=g, retentionInDays=1)
        d = self.logs.describe_log_groups(logGroupNamePrefix=g)["logGroups"][0]
        self.assertEqual(d["retentionInDays"], 1)
        got = self.logs.get_log_events(logGroupName=g, logStreamName="s", startFromHead=True)
        self.assertEqual([e["message"] for e in got["events"]], ["fresh"])
        # an event older than the retention is rejected as expired
        out = self.logs.put_log_events(logGroupName=g, logStreamName="s", logEvents=[
            {"timestamp": t - 2 * day, "message": "expired"},
            {"timestamp": t - 2 * day + 5, "message": "expired too"}])
        self.assertEqual(out["rejectedLogEventsInfo"]["expiredLogEventEndIndex"], 2)
        self.logs.delete_retention_policy(logGroupName=g)
        d = self.logs.describe_log_groups(logGroupNamePrefix=g)["logGroups"][0]
        self.assertNotIn("retentionInDays", d)

    def test_cli(self):
        b = self.berth
        self.addCleanup(self._delete_group, "cli-group")
        rc, out, err = b.aws("logs", "create-log-group", "--log-group-name", "cli-group")
        self.assertEqual(rc, 0, err)
        self.assertCliError(b.aws("logs", "create-log-group", "--log-group-name", "cli-group"),
                            "ResourceAlreadyExistsException")
        rc, out, err = b.aws("logs", "create-log-stream", "--log-group-name", "cli-group",
                             "--log-stream-name", "s")
        self.assertEqual(rc, 0, err)
        t = now_ms()
        rc, out, err = b.aws("logs", "put-log-events", "--log-group-name", "cli-group",
                             "--log-stream-name", "s", "--log-events",
                             "timestamp=%d,message=hello" % t,
                             "timestamp=%d,message=world" % (t + 1))
        self.assertEqual(rc, 0, err)
        rc, out, err = b.aws("logs", "get-log-events", "--log-group-name", "cli-group",
                             "--log-stream-name", "s", "--start-from-head")
        self.assertEqual(rc, 0, err)
        self.assertEqual([e["message"] for e in out["events"]], ["hello", "world"])
        rc, out, err = b.aws("logs", "filter-log-events", "--log-group-name", "cli-group",
                             "--filter-pattern", "world")
        self.assertEqual(rc, 0, err)
        self.assertEqual([e["message"] for e in out["events"]], ["world"])
        rc, out, err = b.aws("logs", "describe-log-streams", "--log-group-name", "cli-group")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out["logStreams"][0]["logStreamName"], "s")
        self.assertCliError(b.aws("logs", "get-log-events", "--log-group-name", "cli-group",
                                  "--log-stream-name", "nope"), "ResourceNotFoundException")
        self.assertCliError(b.aws("logs", "start-query", "--log-group-name", "cli-group",
                                  "--start-time", "0", "--end-time", "1", "--query-string", "x"),
                            "UnknownOperationException")

    def test_survives_restart(self):
        b = self.new_berth()
        logs = b.client("logs")
        logs.create_log_group(logGroupName="durable")
        logs.create_log_stream(logGroupName="durable", logStreamName="s")
        t = now_ms()
        logs.put_log_events(logGroupName="durable", logStreamName="s",
                            logEvents=[{"timestamp": t + i, "message": "line %d" % i}
                                       for i in range(1000)])
        b.kill()
        b.start()
        logs = b.client("logs")
        got = logs.get_log_events(logGroupName="durable", logStreamName="s", startFromHead=True)
        self.assertEqual([e["message"] for e in got["events"]],
                         ["line %d" % i for i in range(1000)])


def push_image(berth, layout, ref, home):
    rc, pw, err = berth.aws("ecr", "get-login-password")
    assert rc == 0, err
    p = subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", "--dest-creds",
                        "AWS:" + pw.strip(), "oci:%s:latest" % layout, "docker://" + ref],
                       env=harness.skopeo_env(home), capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode()


def aws_v2_env(berth):
    e = dict(os.environ)
    e.update({"AWS_ACCESS_KEY_ID": harness.ACCESS_KEY, "AWS_SECRET_ACCESS_KEY": harness.SECRET_KEY,
              "AWS_DEFAULT_REGION": harness.REGION, "AWS_EC2_METADATA_DISABLED": "true",
              "AWS_PAGER": ""})
    return e


class Awslogs(BerthTestCase):
    """Containers logging through awslogs, shipped by a real agent."""
    shared_server = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if shutil.which("runc") is None or os.geteuid() != 0:
            raise harness.unittest.SkipTest("needs root and runc")
        cls.tmp = tempfile.mkdtemp(prefix="berth-itest-logs-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        build.write_layout(os.path.join(cls.tmp, "oci"), {"latest": build.image("oci")})
        os.makedirs(os.path.join(cls.tmp, "home"))
        cls.berth = Berth(extra_args=["--registry-create-on-push"])
        cls.berth.start()
        cls.addClassCleanup(cls.berth.cleanup)
        cls.ecs = cls.berth.client("ecs")
        cls.logs = cls.berth.client("logs")
        cls.ecs.create_cluster(clusterName=CLUSTER)
        cls.image = "127.0.0.1:%d/itest/busybox:latest" % cls.berth.port
        push_image(cls.berth, os.path.join(cls.tmp, "oci"), cls.image,
                   os.path.join(cls.tmp, "home"))
        cls.agent = Agent(cls.berth, cluster=CLUSTER)
        cls.addClassCleanup(cls.agent.cleanup)
        cls.agent.start()

    def register(self, family, command, options):
        r = self.ecs.register_task_definition(family=family, containerDefinitions=[{
            "name": "main", "image": self.image, "memory": 64, "command": command,
            "logConfiguration": {"logDriver": "awslogs", "options": options}}])
        return r["taskDefinition"]["taskDefinitionArn"]

    def run_task(self, td):
        r = self.ecs.run_task(cluster=CLUSTER, taskDefinition=td)
        self.assertEqual(r["failures"], [])
        return r["tasks"][0]["taskArn"]

    def wait(self, arn, waiter, timeout=120):
        self.ecs.get_waiter(waiter).wait(cluster=CLUSTER, tasks=[arn],
                                        WaiterConfig={"Delay": 1, "MaxAttempts": timeout})
        return self.ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]

    def all_events(self, group, stream):
        out, token = [], None
        while True:
            kw = {"logGroupName": group, "logStreamName": stream, "startFromHead": True}
            if token:
                kw["nextToken"] = token
            page = self.logs.get_log_events(**kw)
            if not page["events"]:
                return out
            out += page["events"]
            token = page["nextForwardToken"]

    def test_advertised(self):
        ci = self.ecs.describe_container_instances(
            cluster=CLUSTER, containerInstances=[self.agent.instance_arn])["containerInstances"][0]
        names = [a["name"] for a in ci["attributes"]]
        self.assertIn("com.amazonaws.ecs.capability.logging-driver.awslogs", names)

    def test_10000_lines_across_an_agent_crash(self):
        # 10 bursts of 1,000 lines a second apart; line 5000 holds a term to find
        script = ('i=0; while [ $i -lt 10000 ]; do '
                  'if [ $i -eq 5000 ]; then echo "line $i needle"; else echo "line $i"; fi; '
                  'i=$((i+1)); if [ $((i % 1000)) -eq 0 ]; then sleep 1; fi; done; '
                  'echo "to stderr" >&2')
        td = self.register("chatty", ["sh", "-c", script], {
            "awslogs-group": "/ecs/chatty", "awslogs-region": harness.REGION,
            "awslogs-stream-prefix": "app", "awslogs-create-group": "true"})
        arn = self.run_task(td)
        task_id = arn.rsplit("/", 1)[1]
        stream = "app/main/" + task_id
        self.wait(arn, "tasks_running")
        # wait until shipping is under way, then crash the agent in the middle
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                n = len(self.logs.get_log_events(logGroupName="/ecs/chatty", logStreamName=stream,
                                                 startFromHead=True)["events"])
            except self.logs.exceptions.ResourceNotFoundException:
                n = 0
            if n >= 1000:
                break
            time.sleep(0.2)
        self.assertGreaterEqual(n, 1000)
        self.assertLess(n, 10001)
        self.agent.kill()
        time.sleep(2)
        self.agent.start()
        t = self.wait(arn, "tasks_stopped")
        self.assertEqual(t["containers"][0].get("exitCode"), 0, t)
        events = self.all_events("/ecs/chatty", stream)
        msgs = [e["message"] for e in events]
        want = ["line %d" % i if i != 5000 else "line 5000 needle" for i in range(10000)]
        self.assertEqual(len(msgs), 10001)
        self.assertEqual(msgs[:10000], want)  # complete, in order, nothing twice
        self.assertEqual(msgs[10000], "to stderr")
        ts = [e["timestamp"] for e in events]
        self.assertEqual(ts, sorted(ts))
        # the aws CLI reads the same
        rc, out, err = self.berth.aws("logs", "get-log-events", "--log-group-name", "/ecs/chatty",
                                      "--log-stream-name", stream, "--start-from-head")
        self.assertEqual(rc, 0, err)
        self.assertEqual([e["message"] for e in out["events"]], msgs[:10000])  # one page
        rc, out, err = self.berth.aws("logs", "get-log-events", "--log-group-name", "/ecs/chatty",
                                      "--log-stream-name", stream, "--next-token",
                                      out["nextForwardToken"])
        self.assertEqual(rc, 0, err)
        self.assertEqual([e["message"] for e in out["events"]], msgs[10000:])
        rc, out, err = self.berth.aws("logs", "filter-log-events", "--log-group-name",
                                      "/ecs/chatty", "--filter-pattern", "needle")
        self.assertEqual(rc, 0, err)
        self.assertEqual([(e["logStreamName"], e["message"]) for e in out["events"]],
                         [(stream, "line 5000 needle")])
        # `aws logs tail` (the CLI v2) prints every line, in order
        if os.access(AWS_V2, os.X_OK):
            p = subprocess.run([AWS_V2, "--endpoint-url", self.berth.endpoint, "logs", "tail",
                                "/ecs/chatty", "--since", "1h", "--format", "short"],
                               env=aws_v2_env(self.berth), capture_output=True, timeout=120)
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            lines = p.stdout.decode().splitlines()
            self.assertEqual([l.split(" ", 1)[1] for l in lines], msgs)

    def test_tail_follow(self):
        if not os.access(AWS_V2, os.X_OK):
            self.skipTest("needs Debian's aws CLI v2 (scripts/deps test installs it)")
        td = self.register("follow", ["sh", "-c",
                                      "trap 'exit 0' TERM; i=0; while true; do echo tick $i; i=$((i+1)); sleep 0.5; done"],
                           {"awslogs-group": "/ecs/follow", "awslogs-region": harness.REGION,
                            "awslogs-stream-prefix": "f", "awslogs-create-group": "true"})
        arn = self.run_task(td)
        self.addCleanup(self.ecs.stop_task, cluster=CLUSTER, task=arn)
        self.wait(arn, "tasks_running")
        p = subprocess.Popen([AWS_V2, "--endpoint-url", self.berth.endpoint, "logs", "tail",
                              "/ecs/follow", "--follow", "--format", "short"],
                             env=aws_v2_env(self.berth), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, start_new_session=True)
        self.addCleanup(lambda: p.poll() is None and os.killpg(p.pid, signal.SIGKILL))
        seen = []
        deadline = time.monotonic() + 90
        import select
        while time.monotonic() < deadline and len(seen) < 12:
            r, _, _ = select.select([p.stdout], [], [], 1.0)
            if r:
                line = p.stdout.readline().decode()
                if not line:
                    break
                seen.append(line.rstrip("\n").split(" ", 1)[1])
        os.killpg(p.pid, signal.SIGKILL)
        p.wait()
        self.assertGreaterEqual(len(seen), 12, p.stderr.read().decode())
        first = int(seen[0].split()[1])
        self.assertEqual(seen, ["tick %d" % i for i in range(first, first + len(seen))])

    def test_bad_options(self):
        td = self.register("badlogs", ["true"], {
            "awslogs-group": "/ecs/bad", "awslogs-region": "eu-west-3"})
        t = self.wait(self.run_task(td), "tasks_stopped")
        self.assertIn("awslogs-region", t["containers"][0].get("reason", ""), t)
        self.assertTrue(t["stoppedReason"].startswith("CannotStartContainerError"), t)

    def test_missing_group_without_create(self):
        # the group must exist when awslogs-create-group is not set: nothing is
        # shipped, and the task still runs and stops
        td = self.register("nogroup", ["sh", "-c", "echo hi"], {
            "awslogs-group": "/ecs/absent", "awslogs-region": harness.REGION,
            "awslogs-stream-prefix": "x"})
        t = self.wait(self.run_task(td), "tasks_stopped")
        self.assertEqual(t["containers"][0].get("exitCode"), 0, t)
        self.assertClientError("ResourceNotFoundException", self.logs.describe_log_streams,
                               logGroupName="/ecs/absent")

    def test_multiline(self):
        self.logs.create_log_group(logGroupName="/ecs/multi")
        script = ("printf 'ERROR first\\n  at a\\n  at b\\nINFO second\\nERROR third\\n  at c\\n'")
        td = self.register("multi", ["sh", "-c", script], {
            "awslogs-group": "/ecs/multi", "awslogs-region": harness.REGION,
            "awslogs-stream-prefix": "m", "awslogs-multiline-pattern": "^[A-Z]+ "})
        arn = self.run_task(td)
        self.wait(arn, "tasks_stopped")
        msgs = [e["message"] for e in self.all_events("/ecs/multi",
                                                     "m/main/" + arn.rsplit("/", 1)[1])]
        self.assertEqual(msgs, ["ERROR first\n  at a\n  at b", "INFO second",
                                "ERROR third\n  at c"])

    def test_datetime_format(self):
        self.logs.create_log_group(logGroupName="/ecs/dates")
        script = ("printf '2024-01-02 10:00:00 one\\ncontinued\\n2024-01-02 10:00:01 two\\n'")
        td = self.register("dates", ["sh", "-c", script], {
            "awslogs-group": "/ecs/dates", "awslogs-region": harness.REGION,
            "awslogs-stream-prefix": "d", "awslogs-datetime-format": "%Y-%m-%d %H:%M:%S"})
        arn = self.run_task(td)
        self.wait(arn, "tasks_stopped")
        msgs = [e["message"] for e in self.all_events("/ecs/dates",
                                                     "d/main/" + arn.rsplit("/", 1)[1])]
        self.assertEqual(msgs, ["2024-01-02 10:00:00 one\ncontinued", "2024-01-02 10:00:01 two"])


if __name__ == "__main__":
    harness.main()
