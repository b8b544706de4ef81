"""
The task metadata endpoint v4 and the agent's introspection API, with a
real server and agent: a container in host network mode reads its own
documents from ECS_CONTAINER_METADATA_URI_V4 with busybox wget (its output
comes back through the awslogs driver), and the test checks them against
what DescribeTasks says; the introspection API (/v1/metadata, /v1/tasks)
is read with plain HTTP.
"""
import json
import os
import shutil
import sys
import tempfile
import urllib.error
import urllib.request

import harness
from harness import Agent, Berth, BerthTestCase

sys.path.insert(0, os.path.join(harness.ROOT, "tests", "images"))
import build  # noqa: E402
from test_logs import push_image  # noqa: E402

CLUSTER = "meta"


def get(port, path):
    """GET http://127.0.0.1:port/path: (status, parsed JSON)."""
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


class Metadata(BerthTestCase):
    shared_server = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if shutil.which("runc") is None or os.geteuid() != 0:
            raise harness.unittest.SkipTest("needs root and runc")
        cls.tmp = tempfile.mkdtemp(prefix="berth-itest-meta-")
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
        cls.logs.create_log_group(logGroupName="/ecs/meta")

    def run_and_wait(self, td, waiter="tasks_stopped"):
        r = self.ecs.run_task(cluster=CLUSTER, taskDefinition=td)
        self.assertEqual(r["failures"], [])
        arn = r["tasks"][0]["taskArn"]
        self.ecs.get_waiter(waiter).wait(cluster=CLUSTER, tasks=[arn],
                                        WaiterConfig={"Delay": 1, "MaxAttempts": 120})
        return self.ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]

    def test_container_reads_its_metadata(self):
        u = '"$ECS_CONTAINER_METADATA_URI_V4"'
        # as an application would, once it has started (the agent learns of
        # the start a moment after the container runs)
        script = "sleep 1; " + "; ".join("wget -q -O - %s%s; echo" % (u, p)
                                         for p in ("", "/task", "/stats", "/task/stats"))
        td = self.ecs.register_task_definition(
            family="meta-reader", networkMode="host", containerDefinitions=[{
                "name": "reader", "image": self.image, "memory": 64, "cpu": 128,
                "command": ["sh", "-c", script],
                "logConfiguration": {"logDriver": "awslogs", "options": {
                    "awslogs-group": "/ecs/meta", "awslogs-region": harness.REGION,
                    "awslogs-stream-prefix": "r"}}}])["taskDefinition"]
        t = self.run_and_wait(td["taskDefinitionArn"])
        c = t["containers"][0]
        self.assertEqual(c.get("exitCode"), 0, t)
        task_id = t["taskArn"].rsplit("/", 1)[1]
        events = self.logs.get_log_events(logGroupName="/ecs/meta",
                                          logStreamName="r/reader/" + task_id,
                                          startFromHead=True)["events"]
        docs = [json.loads(e["message"]) for e in events]
        self.assertEqual(len(docs), 4, [e["message"][:200] for e in events])
        me, task, stats, task_stats = docs
        # the container document
        self.assertEqual(me["DockerId"], c["runtimeId"])
        self.assertEqual(me["Name"], "reader")
        self.assertEqual(me["Image"], self.image)
        self.assertEqual(me["ImageID"], c["imageDigest"])
        self.assertEqual(me["KnownStatus"], "RUNNING")
        self.assertEqual(me["DesiredStatus"], "RUNNING")
        self.assertEqual(me["Limits"], {"CPU": 128, "Memory": 64})
        self.assertEqual(me["Type"], "NORMAL")
        self.assertEqual(me["ContainerARN"], c["containerArn"])
        self.assertEqual(me["Labels"]["com.amazonaws.ecs.task-arn"], t["taskArn"])
        self.assertEqual(me["Labels"]["com.amazonaws.ecs.cluster"], t["clusterArn"])
        self.assertEqual(me["Labels"]["com.amazonaws.ecs.task-definition-family"], "meta-reader")
        self.assertEqual(me["Labels"]["com.amazonaws.ecs.task-definition-version"],
                         str(td["revision"]))
        self.assertEqual(me["LogDriver"], "awslogs")
        self.assertEqual(me["LogOptions"]["awslogs-stream"], "r/reader/" + task_id)
        self.assertEqual(me["Networks"], [{"NetworkMode": "host"}])
        self.assertRegex(me["StartedAt"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        # the task document
        self.assertEqual(task["TaskARN"], t["taskArn"])
        self.assertEqual(task["Cluster"], t["clusterArn"])
        self.assertEqual(task["Family"], "meta-reader")
        self.assertEqual(task["Revision"], str(td["revision"]))
        self.assertEqual(task["KnownStatus"], "RUNNING")
        self.assertEqual(task["LaunchType"], "EC2")
        self.assertEqual([x["DockerId"] for x in task["Containers"]], [c["runtimeId"]])
        self.assertIn("PullStartedAt", task)
        # statistics from the container's cgroups
        self.assertEqual(stats["id"], c["runtimeId"])
        self.assertEqual(stats["name"], "/reader")
        self.assertGreater(stats["memory_stats"]["usage"], 0)
        self.assertEqual(stats["memory_stats"]["limit"], 64 << 20)
        self.assertGreater(stats["cpu_stats"]["cpu_usage"]["total_usage"], 0)
        self.assertGreater(stats["cpu_stats"]["system_cpu_usage"], 0)
        self.assertGreaterEqual(stats["pids_stats"]["current"], 1)
        self.assertEqual(list(task_stats), [c["runtimeId"]])
        self.assertGreater(task_stats[c["runtimeId"]]["memory_stats"]["usage"], 0)

    def test_no_uri_without_host_network(self):
        # other network modes have no way to the agent yet: no URI rather than a dead one
        td = self.ecs.register_task_definition(
            family="meta-bridge", containerDefinitions=[{
                "name": "c", "image": self.image, "memory": 64,
                "command": ["sh", "-c", 'test -z "$ECS_CONTAINER_METADATA_URI_V4"']}])
        t = self.run_and_wait(td["taskDefinition"]["taskDefinitionArn"])
        self.assertEqual(t["containers"][0].get("exitCode"), 0, t)

    def test_introspection(self):
        port = self.agent.listening("introspection API")
        self.assertIsNotNone(port, self.agent.log_tail())
        status, doc = get(port, "/v1/metadata")
        self.assertEqual(status, 200)
        self.assertEqual(doc["Cluster"], CLUSTER)
        self.assertEqual(doc["ContainerInstanceArn"], self.agent.instance_arn)
        self.assertIn("Version", doc)
        td = self.ecs.register_task_definition(
            family="meta-intro", containerDefinitions=[{
                "name": "sleeper", "image": self.image, "memory": 32,
                "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 0.2; done"]}])
        t = self.run_and_wait(td["taskDefinition"]["taskDefinitionArn"], "tasks_running")
        self.addCleanup(self.ecs.stop_task, cluster=CLUSTER, task=t["taskArn"])
        rid = t["containers"][0]["runtimeId"]
        status, doc = get(port, "/v1/tasks")
        self.assertEqual(status, 200)
        mine = [x for x in doc["Tasks"] if x["Arn"] == t["taskArn"]]
        self.assertEqual(len(mine), 1, doc)
        self.assertEqual(mine[0]["KnownStatus"], "RUNNING")
        self.assertEqual(mine[0]["DesiredStatus"], "RUNNING")
        self.assertEqual(mine[0]["Family"], "meta-intro")
        self.assertEqual(mine[0]["Version"], str(td["taskDefinition"]["revision"]))
        self.assertEqual(mine[0]["Containers"],
                         [{"DockerId": rid, "DockerName": rid, "Name": "sleeper"}])
        status, one = get(port, "/v1/tasks?taskarn=" + t["taskArn"])
        self.assertEqual((status, one), (200, mine[0]))
        status, one = get(port, "/v1/tasks?dockerid=" + rid)
        self.assertEqual((status, one), (200, mine[0]))
        status, _ = get(port, "/v1/tasks?taskarn=arn:aws:ecs:us-east-1:000000000000:task/x/y")
        self.assertEqual(status, 404)
        status, _ = get(port, "/v1/nothing")
        self.assertEqual(status, 404)
        # the metadata endpoint answers for known containers only
        mport = self.agent.listening("task metadata endpoint")
        status, doc = get(mport, "/v4/%s" % rid)
        self.assertEqual((status, doc["Name"]), (200, "sleeper"))
        status, _ = get(mport, "/v4/no-such-container")
        self.assertEqual(status, 404)
        status, _ = get(mport, "/v4/%s/nothing" % rid)
        self.assertEqual(status, 404)


if __name__ == "__main__":
    harness.main()
