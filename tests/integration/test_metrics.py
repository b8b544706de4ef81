"""
/metrics of `berth server` and `berth agent --metrics-listen`: the bodies
are Prometheus text exposition format (checked by promtool from Debian's
prometheus package when it is installed, and always by the strict parser
below), and their values move when work is done: API requests and their
latency by action and status, tasks by state, the placement step, store
commits, registry bytes in and out (a skopeo push and an agent's pull),
and on the agent its images, layers, bytes pulled and containers.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import harness
from harness import Agent, Berth, BerthTestCase

sys.path.insert(0, os.path.join(harness.ROOT, "tests", "images"))
import build  # noqa: E402

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL = r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"'
SAMPLE = re.compile(r"^(%s)(?:\{((?:%s)(?:,%s)*)?\})? (\S+)$" % (NAME, LABEL, LABEL))
IMGDIR = None


def setUpModule():
    global IMGDIR
    IMGDIR = tempfile.mkdtemp(prefix="berth-itest-metrics-")
    build.write_layout(os.path.join(IMGDIR, "oci"), {"latest": build.image("oci")})
    os.makedirs(os.path.join(IMGDIR, "home"))


def tearDownModule():
    if IMGDIR:
        shutil.rmtree(IMGDIR, ignore_errors=True)


def parse(text):
    """
    Parse a text exposition strictly: {(name, frozenset(labels)): value}.
    Every sample belongs to a family announced by one HELP and one TYPE line
    before it; families are not interleaved; histograms have cumulative
    buckets ending in +Inf equal to _count, and a _sum.
    """
    assert text.endswith("\n"), "the body does not end with a line feed"
    samples, types, helps, seen_done = {}, {}, set(), set()
    current = None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = "line %d: %r" % (n, line)
        if line.startswith("# HELP "):
            name = line.split(" ")[2]
            assert re.fullmatch(NAME, name), where
            assert name not in helps, "second HELP " + where
            helps.add(name)
            continue
        if line.startswith("# TYPE "):
            parts = line.split(" ")
            assert len(parts) == 4 and parts[3] in ("counter", "gauge", "histogram",
                                                    "summary", "untyped"), where
            assert parts[2] not in types, "second TYPE " + where
            assert parts[2] in helps, "TYPE before HELP " + where
            if current:
                seen_done.add(current)
            types[parts[2]] = parts[3]
            current = parts[2]
            continue
        assert not line.startswith("#"), where
        m = SAMPLE.match(line)
        assert m, "not a sample: " + where
        name, value = m.group(1), m.group(m.lastindex)
        labels = dict(re.findall(LABEL, m.group(2) or ""))
        family = name
        if types.get(current) == "histogram":
            for suffix in ("_bucket", "_sum", "_count"):
                if name == current + suffix:
                    family = current
        assert family == current, "sample outside its family: " + where
        assert family not in seen_done, "family interleaved: " + where
        v = float(value)  # accepts +Inf, NaN, 1e+20
        key = (name, frozenset(labels.items()))
        assert key not in samples, "duplicate sample " + where
        samples[key] = v
    # histograms: cumulative buckets, +Inf == _count
    for name, kind in types.items():
        if kind != "histogram":
            continue
        series = {}
        for (n, labels), v in samples.items():
            if n == name + "_bucket":
                d = dict(labels)
                le = d.pop("le")
                series.setdefault(frozenset(d.items()), []).append((float(le), v))
        for labels, buckets in series.items():
            buckets.sort()
            counts = [v for _, v in buckets]
            assert counts == sorted(counts), "%s%s not cumulative" % (name, dict(labels))
            assert buckets[-1][0] == float("inf"), "%s has no +Inf bucket" % name
            assert samples[(name + "_count", labels)] == counts[-1]
            assert (name + "_sum", labels) in samples
    return samples


def value(samples, name, **labels):
    return samples.get((name, frozenset(labels.items())), 0.0)


def promtool_check(test, text):
    if not shutil.which("promtool"):
        return
    p = subprocess.run(["promtool", "check", "metrics"], input=text.encode(),
                       capture_output=True, timeout=60)
    test.assertEqual(p.returncode, 0, p.stdout.decode() + p.stderr.decode())


def scrape(test, endpoint):
    r = harness.http_request(endpoint, "GET", "/metrics")
    test.assertEqual(r.status, 200)
    test.assertTrue(r.headers["content-type"].startswith("text/plain; version=0.0.4"),
                    r.headers)
    text = r.body.decode()
    promtool_check(test, text)
    return parse(text)


class ParserTest(BerthTestCase):
    shared_server = False

    def test_parser_refuses_what_promtool_would(self):
        good = "# HELP a_total A.\n# TYPE a_total counter\na_total{x=\"1\"} 2\n"
        self.assertEqual(value(parse(good), "a_total", x="1"), 2)
        for bad in (good.replace("a_total{", "a-total{"),        # bad name
                    good.replace('"1"', '"\\q"'),                 # bad escape
                    good[:-1],                                    # no final line feed
                    good + good,                                  # family twice
                    good.replace("# HELP a_total A.\n", ""),      # no HELP
                    good + "b 1\n"):                              # sample outside a family
            with self.assertRaises(AssertionError, msg=bad):
                parse(bad)


class ServerMetricsTest(BerthTestCase):
    server_kw = {"extra_args": ["--registry-create-on-push"]}

    def test_requests_tasks_and_commits_move(self):
        before = scrape(self, self.berth.endpoint)
        ok0 = value(before, "berth_api_requests_total", service="ecs",
                    action="CreateCluster", code="200")
        self.ecs.create_cluster(clusterName="m1")
        self.assertClientError("ClusterNotFoundException", self.ecs.delete_cluster,
                               cluster="nope")
        # an instance registered through the API, and a task placed on it
        self.ecs.register_container_instance(
            cluster="m1",
            totalResources=[{"name": "CPU", "type": "INTEGER", "integerValue": 1024},
                            {"name": "MEMORY", "type": "INTEGER", "integerValue": 1024}],
            versionInfo={"agentVersion": "0.1.0"})
        self.ecs.register_task_definition(
            family="m", containerDefinitions=[{"name": "c", "image": "busybox", "memory": 64}])
        self.ecs.run_task(cluster="m1", taskDefinition="m", count=2)
        # unsupported operations are counted, but under action="unknown"
        harness.signed_request(self.berth.endpoint, "NoSuchOperation")
        after = scrape(self, self.berth.endpoint)
        self.assertEqual(value(after, "berth_api_requests_total", service="ecs",
                               action="CreateCluster", code="200"), ok0 + 1)
        self.assertEqual(value(after, "berth_api_requests_total", service="ecs",
                               action="DeleteCluster", code="400"), 1)
        self.assertGreaterEqual(value(after, "berth_api_requests_total", service="ecs",
                                      action="unknown", code="400"), 1)
        self.assertGreaterEqual(value(after, "berth_api_request_duration_seconds_count",
                                      service="ecs", action="RunTask"), 1)
        self.assertGreater(value(after, "berth_api_request_duration_seconds_sum",
                                 service="ecs", action="RunTask"), 0)
        self.assertEqual(value(after, "berth_tasks", cluster="m1", state="PENDING"), 2)
        self.assertEqual(value(after, "berth_container_instances", cluster="m1",
                               status="ACTIVE"), 1)
        self.assertGreaterEqual(value(after, "berth_scheduler_loop_duration_seconds_count",
                                      loop="placement"), 1)
        self.assertGreater(value(after, "berth_store_commits_total", result="ok"),
                           value(before, "berth_store_commits_total", result="ok"))
        self.assertEqual(value(after, "berth_store_commit_duration_seconds_count"),
                         value(after, "berth_store_commits_total", result="ok")
                         + value(after, "berth_store_commits_total", result="failed"))
        # the gauge says what DescribeTasks says, also once StopTask was asked
        arns = self.ecs.list_tasks(cluster="m1")["taskArns"]
        self.ecs.stop_task(cluster="m1", task=arns[0])
        tally = {}
        for t in self.ecs.describe_tasks(cluster="m1", tasks=arns)["tasks"]:
            tally[t["lastStatus"]] = tally.get(t["lastStatus"], 0) + 1
        later = scrape(self, self.berth.endpoint)
        got = {dict(labels)["state"]: v for (n, labels), v in later.items()
               if n == "berth_tasks" and dict(labels)["cluster"] == "m1"}
        self.assertEqual(got, tally)

    def test_registry_bytes_move(self):
        before = scrape(self, self.berth.endpoint)
        rc, pw, err = self.berth.aws("ecr", "get-login-password")
        self.assertEqual(rc, 0, err)
        ref = "127.0.0.1:%d/metrics/busybox:latest" % self.berth.port
        layout = os.path.join(IMGDIR, "oci")
        p = subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", "--dest-creds",
                            "AWS:" + pw.strip(), "oci:%s:latest" % layout, "docker://" + ref],
                           env=harness.skopeo_env(os.path.join(IMGDIR, "home")),
                           capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        pushed = sum(os.path.getsize(os.path.join(dp, f))
                     for dp, _, fs in os.walk(os.path.join(layout, "blobs")) for f in fs)
        mid = scrape(self, self.berth.endpoint)
        got_in = (value(mid, "berth_registry_received_bytes_total")
                  - value(before, "berth_registry_received_bytes_total"))
        # every blob and the manifest went up once (the index of the layout did not)
        self.assertGreater(got_in, pushed * 0.5)
        self.assertGreaterEqual(value(mid, "berth_registry_requests_total",
                                      method="PUT", code="201"), 2)
        p = subprocess.run(["skopeo", "inspect", "--tls-verify=false", "--creds",
                            "AWS:" + pw.strip(), "docker://" + ref],
                           env=harness.skopeo_env(os.path.join(IMGDIR, "home")),
                           capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        after = scrape(self, self.berth.endpoint)
        self.assertGreater(value(after, "berth_registry_sent_bytes_total"),
                           value(mid, "berth_registry_sent_bytes_total"))

    def test_metrics_is_get_only_and_healthz_untouched(self):
        r = harness.http_request(self.berth.endpoint, "POST", "/metrics")
        self.assertEqual(r.status, 404)
        self.assertEqual(harness.http_request(self.berth.endpoint, "GET", "/healthz").status,
                         200)


def runc_available():
    return shutil.which("runc") is not None and os.geteuid() == 0


class AgentMetricsTest(BerthTestCase):
    shared_server = False

    def test_agent_metrics_move(self):
        if not runc_available():
            self.skipTest("needs root and runc")
        berth = self.new_berth(extra_args=["--registry-create-on-push"])
        ecs = berth.client("ecs")
        ecs.create_cluster(clusterName="am")
        rc, pw, err = berth.aws("ecr", "get-login-password")
        self.assertEqual(rc, 0, err)
        image = "127.0.0.1:%d/metrics/agent:latest" % berth.port
        p = subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", "--dest-creds",
                            "AWS:" + pw.strip(), "oci:%s:latest" % os.path.join(IMGDIR, "oci"),
                            "docker://" + image],
                           env=harness.skopeo_env(os.path.join(IMGDIR, "home")),
                           capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        port = harness.free_port()
        agent = Agent(berth, cluster="am",
                      extra_args=["--metrics-listen", "127.0.0.1:%d" % port])
        self.addCleanup(agent.cleanup)
        agent.start()
        endpoint = "http://127.0.0.1:%d" % port
        before = scrape(self, endpoint)
        self.assertEqual(value(before, "berth_agent_registered"), 1)
        self.assertEqual(value(before, "berth_agent_images"), 0)
        self.assertEqual(value(before, "berth_agent_pulled_bytes_total"), 0)
        ecs.register_task_definition(family="am", containerDefinitions=[
            {"name": "c", "image": image, "memory": 64, "command": ["sleep", "300"]}])
        arn = ecs.run_task(cluster="am", taskDefinition="am")["tasks"][0]["taskArn"]
        ecs.get_waiter("tasks_running").wait(cluster="am", tasks=[arn],
                                             WaiterConfig={"Delay": 1, "MaxAttempts": 90})
        running = scrape(self, endpoint)
        self.assertEqual(value(running, "berth_agent_images"), 1)
        self.assertGreaterEqual(value(running, "berth_agent_layers"), 1)
        self.assertGreaterEqual(value(running, "berth_agent_pulled_layers_total"), 1)
        # the agent protocol is counted apart from ECS
        self.assertGreaterEqual(value(scrape(self, berth.endpoint), "berth_api_requests_total",
                                      service="agent", action="Poll", code="200"), 1)
        self.assertGreater(value(running, "berth_agent_pulled_bytes_total"), 0)
        self.assertGreater(value(running, "berth_agent_image_bytes"), 0)
        self.assertEqual(value(running, "berth_agent_containers_running"), 1)
        self.assertEqual(value(running, "berth_agent_tasks", status="RUNNING"), 1)
        # the server sent what the agent pulled
        server = scrape(self, berth.endpoint)
        self.assertGreaterEqual(value(server, "berth_registry_sent_bytes_total"),
                                value(running, "berth_agent_pulled_bytes_total"))
        ecs.stop_task(cluster="am", task=arn)
        ecs.get_waiter("tasks_stopped").wait(cluster="am", tasks=[arn],
                                             WaiterConfig={"Delay": 1, "MaxAttempts": 90})
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            stopped = scrape(self, endpoint)
            if value(stopped, "berth_agent_containers_running") == 0:
                break
            time.sleep(0.5)
        self.assertEqual(value(stopped, "berth_agent_containers_running"), 0)
        r = harness.http_request(endpoint, "GET", "/nothing")
        self.assertEqual(r.status, 404)
        r = harness.http_request(endpoint, "POST", "/metrics")
        self.assertEqual(r.status, 405)

    def test_dev_serves_both(self):
        if not runc_available():
            self.skipTest("needs root and runc")
        port = harness.free_port()
        b = Berth(command="dev", extra_args=["--agent-metrics-listen", "127.0.0.1:%d" % port])
        self.addCleanup(b.cleanup)
        self.addCleanup(harness.remove_containers, os.path.join(b.data_dir, "agent"), b.tmp)
        b.start()
        endpoint = "http://127.0.0.1:%d" % port
        deadline = time.monotonic() + 30
        registered = 0
        while time.monotonic() < deadline and not registered:
            try:
                registered = value(scrape(self, endpoint), "berth_agent_registered")
            except OSError:
                pass  # the agent starts once the server listens
            time.sleep(0.2)
        self.assertEqual(registered, 1, b.log_tail())
        server = scrape(self, b.endpoint)
        self.assertEqual(value(server, "berth_container_instances", cluster="default",
                               status="ACTIVE"), 1)
        self.assertGreaterEqual(value(server, "berth_api_requests_total", service="ecs",
                                      action="RegisterContainerInstance", code="200"), 1)

    def test_listen_address_refused(self):
        berth = self.new_berth()
        agent = Agent(berth, extra_args=["--metrics-listen", "nonsense"])
        self.addCleanup(agent.cleanup)
        with self.assertRaises(harness.ServerError) as cm:
            agent.start()
        self.assertIn("--metrics-listen", str(cm.exception))


if __name__ == "__main__":
    harness.main()
