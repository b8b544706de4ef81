"""
Tasks on the server side, with fake agents written here that speak the
real agent protocol (docs/agent-protocol.md): RegisterContainerInstance,
BerthAgent_V1.Poll signed with botocore's SigV4, and ECS's
SubmitTaskStateChange. No containers run: these tests pin what RunTask,
StartTask, StopTask, DescribeTasks and ListTasks answer, how placement
reserves and gives back resources, how reports are applied, and how the
long poll behaves (woken at once, holding no server thread, surviving a
server restart). test_agent.py runs the same with real containers.
"""
import collections
import json
import subprocess
import sys
import threading
import time

from botocore.exceptions import WaiterError

import harness
from harness import Berth, BerthTestCase

CLUSTER = "tasks"
AGENT = "BerthAgent_V1."


# What the fake agents advertise of what a task definition's requiresAttributes names:
# berth's agent's capabilities, and task-eni, as an ECS agent with awsvpc has it.
CAPABILITIES = [{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.%d" % v}
                for v in range(17, 45)] + [
    {"name": "ecs.capability.container-health-check"},
    {"name": "ecs.capability.container-ordering"},
    {"name": "ecs.capability.task-eni"}]


def register(ecs, cluster, cpu=2048, memory=4096, ports=("22",), attributes=()):
    r = ecs.register_container_instance(
        cluster=cluster,
        totalResources=[
            {"name": "CPU", "type": "INTEGER", "integerValue": cpu},
            {"name": "MEMORY", "type": "INTEGER", "integerValue": memory},
            {"name": "PORTS", "type": "STRINGSET", "stringSetValue": list(ports)},
            {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []},
        ],
        versionInfo={"agentVersion": "0.1.0"},
        attributes=[{"name": "ecs.os-type", "value": "linux"}] + CAPABILITIES + list(attributes))
    return r["containerInstance"]["containerInstanceArn"]


class FakeAgent:
    def __init__(self, berth, cluster, arn):
        self.berth, self.cluster, self.arn, self.seq = berth, cluster, arn, 0

    def poll(self, wait=0, since=None):
        body = {"cluster": self.cluster, "containerInstance": self.arn,
                "since": self.seq if since is None else since, "waitSeconds": wait}
        r = self.berth.request(AGENT + "Poll", json.dumps(body))
        assert r.status == 200, (r.status, r.body)
        doc = json.loads(r.body)
        self.seq = doc["seq"]
        return doc

    def report(self, task, status, containers=None, reason=None):
        kw = {"cluster": self.cluster, "task": task, "status": status}
        if containers is not None:
            kw["containers"] = containers
        if reason:
            kw["reason"] = reason
        return self.berth.client().submit_task_state_change(**kw)


class TasksTest(BerthTestCase):
    server_kw = {"extra_args": ["--agent-timeout", "3", "--threads", "2"]}

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ecs.create_cluster(clusterName=CLUSTER)
        cls.arns = [register(cls.ecs, CLUSTER, attributes=[{"name": "zone", "value": z}])
                    for z in ("a", "b")]
        cls.agents = [FakeAgent(cls.berth, CLUSTER, a) for a in cls.arns]
        for a in cls.agents:
            a.poll()
        cls.td = cls.ecs.register_task_definition(
            family="web", containerDefinitions=[
                {"name": "app", "image": "busybox", "memory": 512, "cpu": 256,
                 "portMappings": [{"containerPort": 80}]},
                {"name": "side", "image": "busybox", "memoryReservation": 64}],
        )["taskDefinition"]["taskDefinitionArn"]

    def setUp(self):
        # keep both fake agents connected
        for a in self.agents:
            a.poll()

    def remaining(self, arn):
        ci = self.ecs.describe_container_instances(cluster=CLUSTER, containerInstances=[arn])
        ci = ci["containerInstances"][0]
        return {r["name"]: r.get("integerValue") for r in ci["remainingResources"]}, ci

    def stop_all(self, arns):
        for t in arns:
            self.ecs.stop_task(cluster=CLUSTER, task=t)
        for a in self.agents:
            for t in a.poll()["tasks"]:
                if t["taskArn"] in arns:
                    a.report(t["taskArn"], "STOPPED")

    def test_run_places_reserves_and_releases(self):
        before = [self.remaining(a)[0] for a in self.arns]
        r = self.ecs.run_task(cluster=CLUSTER, taskDefinition="web", count=4, startedBy="itest",
                              tags=[{"key": "k", "value": "v"}])
        self.assertEqual(r["failures"], [])
        tasks = r["tasks"]
        self.assertEqual(len(tasks), 4)
        by_instance = {}
        for t in tasks:
            by_instance.setdefault(t["containerInstanceArn"], []).append(t["taskArn"])
            self.assertEqual(t["lastStatus"], "PENDING")
            self.assertEqual(t["desiredStatus"], "RUNNING")
            self.assertEqual(t["group"], "family:web")
            self.assertEqual(t["launchType"], "EC2")
            self.assertEqual(t["memory"], "576")
            self.assertEqual(t["startedBy"], "itest")
            self.assertEqual([c["name"] for c in t["containers"]], ["app", "side"])
            self.assertTrue(t["taskArn"].startswith(
                "arn:aws:ecs:us-east-1:000000000000:task/%s/" % CLUSTER))
        # spread: two on each instance
        self.assertEqual(sorted(len(v) for v in by_instance.values()), [2, 2])
        for arn, b in zip(self.arns, before):
            left, ci = self.remaining(arn)
            self.assertEqual(left["MEMORY"], b["MEMORY"] - 2 * 576)
            self.assertEqual(left["CPU"], b["CPU"] - 2 * 256)
            self.assertEqual(ci["pendingTasksCount"], 2)
        # the agents see them, with their task definition
        for a in self.agents:
            listed = {t["taskArn"]: t for t in a.poll()["tasks"]}
            for t in by_instance[a.arn]:
                self.assertIn(t, listed)
                self.assertEqual(listed[t]["taskDefinition"]["family"], "web")
        # running, then stopped: counts follow, resources come back once
        agent = self.agents[0]
        mine = by_instance[agent.arn]
        for t in mine:
            agent.report(t, "RUNNING", [{"containerName": "app", "status": "RUNNING",
                                         "runtimeId": "r1"}])
        _, ci = self.remaining(agent.arn)
        self.assertEqual((ci["runningTasksCount"], ci["pendingTasksCount"]), (2, 0))
        d = self.ecs.describe_tasks(cluster=CLUSTER, tasks=[mine[0]], include=["TAGS"])
        t = d["tasks"][0]
        self.assertEqual(t["lastStatus"], "RUNNING")
        self.assertEqual(t["connectivity"], "CONNECTED")
        self.assertIn("startedAt", t)
        self.assertEqual(t["tags"], [{"key": "k", "value": "v"}])
        self.assertEqual(t["containers"][0]["runtimeId"], "r1")
        for _ in range(2):  # the second report changes nothing
            agent.report(mine[0], "STOPPED", [{"containerName": "app", "status": "STOPPED",
                                               "exitCode": 3}], reason="Essential container in task exited")
        t = self.ecs.describe_tasks(cluster=CLUSTER, tasks=[mine[0]])["tasks"][0]
        self.assertEqual(t["lastStatus"], "STOPPED")
        self.assertEqual(t["desiredStatus"], "STOPPED")
        self.assertEqual(t["stopCode"], "EssentialContainerExited")
        self.assertEqual(t["stoppedReason"], "Essential container in task exited")
        self.assertEqual(t["containers"][0]["exitCode"], 3)
        self.assertEqual(t["containers"][1]["lastStatus"], "STOPPED")
        version = t["version"]
        # late and backward reports change nothing
        agent.report(mine[0], "RUNNING")
        t = self.ecs.describe_tasks(cluster=CLUSTER, tasks=[mine[0]])["tasks"][0]
        self.assertEqual((t["lastStatus"], t["version"]), ("STOPPED", version))
        left, ci = self.remaining(agent.arn)
        self.assertEqual(left["MEMORY"], before[0]["MEMORY"] - 576)
        self.assertEqual(ci["runningTasksCount"], 1)
        self.stop_all([x["taskArn"] for x in tasks])
        for arn, b in zip(self.arns, before):
            self.assertEqual(self.remaining(arn)[0], b)

    def test_failures(self):
        big = self.ecs.register_task_definition(
            family="big", containerDefinitions=[{"name": "a", "image": "x", "memory": 100000}])
        r = self.ecs.run_task(cluster=CLUSTER, taskDefinition="big")
        self.assertEqual(r["tasks"], [])
        self.assertEqual({f["reason"] for f in r["failures"]}, {"RESOURCE:MEMORY"})
        self.assertEqual({f["arn"] for f in r["failures"]}, set(self.arns))
        # a static host port: one task per instance, the third finds none free
        self.ecs.register_task_definition(
            family="port", containerDefinitions=[{"name": "a", "image": "x", "memory": 8,
                                                  "portMappings": [{"containerPort": 80,
                                                                    "hostPort": 8081}]}])
        r = self.ecs.run_task(cluster=CLUSTER, taskDefinition="port", count=3)
        self.assertEqual(len(r["tasks"]), 2)
        self.assertEqual({f["reason"] for f in r["failures"]}, {"RESOURCE:PORTS"})
        self.stop_all([t["taskArn"] for t in r["tasks"]])
        self.assertClientError("ClientException", self.ecs.run_task, cluster=CLUSTER,
                               taskDefinition="nosuchfamily")
        self.assertClientError("InvalidParameterException", self.ecs.run_task, cluster=CLUSTER,
                               taskDefinition="web", launchType="FARGATE")
        self.assertClientError("InvalidParameterException", self.ecs.run_task, cluster=CLUSTER,
                               taskDefinition="web", count=11)
        self.assertClientError("InvalidParameterException", self.ecs.run_task, cluster=CLUSTER,
                               taskDefinition="web",
                               overrides={"containerOverrides": [{"name": "nope"}]})
        self.assertClientError("InvalidParameterException", self.ecs.run_task, cluster=CLUSTER,
                               taskDefinition="web",
                               placementConstraints=[{"type": "memberOf",
                                                      "expression": "attribute:zone =="}])
        self.assertClientError("ClusterNotFoundException", self.ecs.run_task,
                               cluster="nocluster", taskDefinition="web")
        self.ecs.create_cluster(clusterName="empty")
        self.assertClientError("InvalidParameterException", self.ecs.run_task, cluster="empty",
                               taskDefinition="web")

    def test_member_of_and_start_task(self):
        r = self.ecs.run_task(cluster=CLUSTER, taskDefinition="web", count=2,
                              placementConstraints=[{"type": "memberOf",
                                                     "expression": "attribute:zone == b"}])
        self.assertEqual({t["containerInstanceArn"] for t in r["tasks"]}, {self.arns[1]})
        arns = [t["taskArn"] for t in r["tasks"]]
        r = self.ecs.start_task(cluster=CLUSTER, taskDefinition="web",
                                containerInstances=[self.arns[0], "nosuch"])
        self.assertEqual([t["containerInstanceArn"] for t in r["tasks"]], [self.arns[0]])
        self.assertEqual(r["failures"], [{"arn": "nosuch", "reason": "MISSING"}])
        self.stop_all(arns + [r["tasks"][0]["taskArn"]])

    def test_start_task_as_ecs_answers(self):
        ecs = self.ecs
        ecs.create_cluster(clusterName="st")
        a, b, c = (register(ecs, "st") for _ in range(3))
        for arn in (a, b, c):
            FakeAgent(self.berth, "st", arn).poll()
        ecs.register_task_definition(family="st-big", containerDefinitions=[
            {"name": "m", "image": "x", "memory": 1500}])
        # one instance named three times: two tasks fit in its 4096 MiB, the third does not
        r = ecs.start_task(cluster="st", taskDefinition="st-big", containerInstances=[a, a, a])
        self.assertEqual([t["containerInstanceArn"] for t in r["tasks"]], [a, a])
        self.assertEqual(r["failures"], [{"arn": a, "reason": "RESOURCE:MEMORY"}])
        ci = ecs.describe_container_instances(cluster="st", containerInstances=[a])
        ci = ci["containerInstances"][0]
        mem = {x["name"]: x.get("integerValue") for x in ci["remainingResources"]}["MEMORY"]
        self.assertEqual((mem, ci["pendingTasksCount"]), (4096 - 3000, 2))
        # draining, deregistered and unknown instances
        ecs.update_container_instances_state(cluster="st", containerInstances=[b],
                                             status="DRAINING")
        ecs.deregister_container_instance(cluster="st", containerInstance=c)
        r = ecs.start_task(cluster="st", taskDefinition="st-big",
                           containerInstances=[b, c, "0123456789abcdef0123456789abcdef"])
        self.assertEqual(r["tasks"], [])
        self.assertEqual(r["failures"], [
            {"arn": b, "reason": "DRAINING"}, {"arn": c, "reason": "INACTIVE"},
            {"arn": "0123456789abcdef0123456789abcdef", "reason": "MISSING"}])
        # a definition requiring what no instance has: ATTRIBUTE, from both calls
        td = ecs.register_task_definition(
            family="st-role", taskRoleArn="arn:aws:iam::000000000000:role/app",
            containerDefinitions=[{"name": "m", "image": "x", "memory": 8}])["taskDefinition"]
        self.assertIn({"name": "com.amazonaws.ecs.capability.task-iam-role"},
                      td["requiresAttributes"])
        r = ecs.run_task(cluster="st", taskDefinition="st-role")
        self.assertEqual(r["tasks"], [])
        self.assertEqual(r["failures"], [{"arn": a, "reason": "ATTRIBUTE"}])
        r = ecs.start_task(cluster="st", taskDefinition="st-role", containerInstances=[a])
        self.assertEqual(r["failures"], [{"arn": a, "reason": "ATTRIBUTE"}])
        # the health check's capabilities are advertised: placed
        ecs.register_task_definition(family="st-hc", containerDefinitions=[
            {"name": "m", "image": "x", "memory": 8,
             "healthCheck": {"command": ["CMD", "true"]}}])
        r = ecs.run_task(cluster="st", taskDefinition="st-hc")
        self.assertEqual([t["containerInstanceArn"] for t in r["tasks"]], [a])

    def test_stop_wakes_the_poll(self):
        agent = self.agents[0]
        r = self.ecs.run_task(cluster=CLUSTER, taskDefinition="web",
                              placementConstraints=[{"type": "memberOf",
                                                     "expression": "attribute:zone == a"}])
        arn = r["tasks"][0]["taskArn"]
        agent.poll()
        got = {}

        def wait():
            t0 = time.monotonic()
            got["doc"] = agent.poll(wait=20)
            got["t"] = time.monotonic() - t0

        th = threading.Thread(target=wait)
        th.start()
        time.sleep(0.5)
        t_stop = time.monotonic()
        self.ecs.stop_task(cluster=CLUSTER, task=arn, reason="because")
        th.join(30)
        # from sending StopTask to the agent holding the answer: StopTask's own
        # round trip, its commit, and the wake-up of the suspended poll
        woke = time.monotonic() - t_stop
        print("poll woke %.1f ms after StopTask was sent" % (woke * 1000), file=sys.stderr)
        self.assertLess(woke, 0.5, "the poll was not woken by StopTask")
        t = [x for x in got["doc"]["tasks"] if x["taskArn"] == arn][0]
        self.assertEqual(t["desiredStatus"], "STOPPED")
        d = self.ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]
        self.assertEqual((d["stopCode"], d["stoppedReason"]), ("UserInitiated", "because"))
        agent.report(arn, "STOPPED")
        self.assertNotIn(arn, [x["taskArn"] for x in agent.poll()["tasks"]])
        # StopTask of a stopped task answers it unchanged
        again = self.ecs.stop_task(cluster=CLUSTER, task=arn, reason="other")["task"]
        self.assertEqual(again["stoppedReason"], "because")

    def test_spread_three_over_two(self):
        r = self.ecs.run_task(cluster=CLUSTER, taskDefinition="web", count=3)
        self.assertEqual(r["failures"], [])
        on = collections.Counter(t["containerInstanceArn"] for t in r["tasks"])
        self.assertEqual(sorted(on.values()), [1, 2])
        self.assertEqual(set(on), set(self.arns))
        self.stop_all([t["taskArn"] for t in r["tasks"]])

    def test_waiters(self):
        agent = self.agents[0]
        zone_a = [{"type": "memberOf", "expression": "attribute:zone == a"}]
        arn = self.ecs.run_task(cluster=CLUSTER, taskDefinition="web",
                                placementConstraints=zone_a)["tasks"][0]["taskArn"]
        fast = {"Delay": 1, "MaxAttempts": 30}

        def later(status, containers=None):
            time.sleep(1.5)
            agent.report(arn, status, containers)

        th = threading.Thread(target=later, args=("RUNNING", [
            {"containerName": "app", "status": "RUNNING", "runtimeId": "r"},
            {"containerName": "side", "status": "RUNNING", "runtimeId": "s"}]))
        th.start()
        t0 = time.monotonic()
        self.ecs.get_waiter("tasks_running").wait(cluster=CLUSTER, tasks=[arn],
                                                  WaiterConfig=fast)
        self.assertGreater(time.monotonic() - t0, 1.0)
        th.join()
        rc, _, err = self.berth.aws("ecs", "wait", "tasks-running", "--cluster", CLUSTER,
                                    "--tasks", arn)
        self.assertEqual(rc, 0, err)
        d = self.ecs.describe_clusters(clusters=[CLUSTER])["clusters"][0]
        self.assertGreaterEqual(d["runningTasksCount"], 1)

        self.ecs.stop_task(cluster=CLUSTER, task=arn)
        th = threading.Thread(target=later, args=("STOPPED",))
        th.start()
        t0 = time.monotonic()
        self.ecs.get_waiter("tasks_stopped").wait(cluster=CLUSTER, tasks=[arn],
                                                  WaiterConfig=fast)
        self.assertGreater(time.monotonic() - t0, 1.0)
        th.join()
        rc, _, err = self.berth.aws("ecs", "wait", "tasks-stopped", "--cluster", CLUSTER,
                                    "--tasks", arn)
        self.assertEqual(rc, 0, err)
        t = self.ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])["tasks"][0]
        self.assertEqual((t["stopCode"], t["stoppedReason"]),
                         ("UserInitiated", "Task stopped by user"))
        # tasks-running gives up on a stopped task, and on a missing one
        for tasks in ([arn], ["0" * 32]):
            with self.assertRaises(WaiterError):
                self.ecs.get_waiter("tasks_running").wait(
                    cluster=CLUSTER, tasks=tasks, WaiterConfig={"Delay": 1, "MaxAttempts": 2})

    def test_instance_status_wakes_the_poll(self):
        b = self.new_berth()
        ecs = b.client()
        ecs.create_cluster(clusterName="c")
        arn = register(ecs, "c")
        agent = FakeAgent(b, "c", arn)
        agent.poll()
        ecs.register_task_definition(family="t", containerDefinitions=[
            {"name": "a", "image": "x", "memory": 8}])
        task = ecs.run_task(cluster="c", taskDefinition="t")["tasks"][0]["taskArn"]
        agent.poll()
        agent.report(task, "RUNNING")
        agent.poll()
        got = {}

        def wait():
            got["doc"] = agent.poll(wait=20)
            got["t"] = time.monotonic()

        # draining: the agent learns it at once
        th = threading.Thread(target=wait)
        th.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        ecs.update_container_instances_state(cluster="c", containerInstances=[arn],
                                             status="DRAINING")
        th.join(30)
        self.assertLess(got["t"] - t0, 0.5)
        self.assertEqual(got["doc"]["containerInstanceStatus"], "DRAINING")
        self.assertEqual([t["taskArn"] for t in got["doc"]["tasks"]], [task])
        # ECS refuses to deregister an instance with tasks, unless forced
        self.assertClientError("InvalidParameterException",
                               ecs.deregister_container_instance, cluster="c",
                               containerInstance=arn)
        self.assertClientError("ClusterContainsContainerInstancesException",
                               ecs.delete_cluster, cluster="c")
        th = threading.Thread(target=wait)
        th.start()
        time.sleep(0.3)
        t0 = time.monotonic()
        ecs.deregister_container_instance(cluster="c", containerInstance=arn, force=True)
        th.join(30)
        self.assertLess(got["t"] - t0, 0.5)
        self.assertEqual(got["doc"]["containerInstanceStatus"], "INACTIVE")
        self.assertEqual(got["doc"]["tasks"], [])
        # the orphaned task is no longer accounted for: stopped, the cluster can go
        t = ecs.describe_tasks(cluster="c", tasks=[task])["tasks"][0]
        self.assertEqual((t["lastStatus"], t["desiredStatus"], t["stopCode"]),
                         ("STOPPED", "STOPPED", "UserInitiated"))
        ecs.delete_cluster(cluster="c")

    def test_definition_constraints_tags_and_network(self):
        self.ecs.register_task_definition(
            family="pinned", containerDefinitions=[{"name": "a", "image": "x", "memory": 8}],
            networkMode="awsvpc",
            placementConstraints=[{"type": "memberOf", "expression": "attribute:zone == b"}],
            tags=[{"key": "team", "value": "infra"}, {"key": "env", "value": "td"}])
        net = {"awsvpcConfiguration": {"subnets": ["subnet-1"], "assignPublicIp": "DISABLED"}}
        r = self.ecs.run_task(cluster=CLUSTER, taskDefinition="pinned", count=2,
                              propagateTags="TASK_DEFINITION",
                              tags=[{"key": "env", "value": "run"}], networkConfiguration=net)
        self.assertEqual({t["containerInstanceArn"] for t in r["tasks"]}, {self.arns[1]})
        arns = [t["taskArn"] for t in r["tasks"]]
        d = self.ecs.describe_tasks(cluster=CLUSTER, tasks=arns, include=["TAGS"])["tasks"]
        for t in d:
            self.assertEqual(sorted((x["key"], x["value"]) for x in t["tags"]),
                             [("env", "run"), ("team", "infra")])
        polled = {t["taskArn"]: t for t in self.agents[1].poll()["tasks"]}
        for a in arns:
            self.assertEqual(polled[a]["networkConfiguration"], net)
        # the task definition's constraint and the request's must both hold
        r2 = self.ecs.run_task(cluster=CLUSTER, taskDefinition="pinned", networkConfiguration=net,
                               placementConstraints=[{"type": "memberOf",
                                                      "expression": "attribute:zone == a"}])
        self.assertEqual(r2["tasks"], [])
        self.assertEqual(len(r2["failures"]), 2)
        self.assertClientError("InvalidParameterException", self.ecs.run_task, cluster=CLUSTER,
                               taskDefinition="pinned", propagateTags="SERVICE",
                               networkConfiguration=net)
        # awsvpc needs a networkConfiguration
        self.assertClientError("InvalidParameterException", self.ecs.run_task, cluster=CLUSTER,
                               taskDefinition="pinned")
        self.assertEqual(self.ecs.list_tasks(cluster=CLUSTER, family="pinned",
                                             desiredStatus="PENDING")["taskArns"], [])
        self.stop_all(arns)

    def test_long_polls_hold_no_thread(self):
        # --threads 2: ten agents waiting must not keep the API from answering
        seq = self.agents[1].poll()["seq"]

        def wait():
            FakeAgent(self.berth, CLUSTER, self.arns[1]).poll(wait=4, since=seq)

        threads = [threading.Thread(target=wait) for _ in range(10)]
        for th in threads:
            th.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        self.ecs.list_clusters()
        self.assertLess(time.monotonic() - t0, 1.0)
        for th in threads:
            th.join(30)

    def test_poll_errors_and_auth(self):
        r = self.berth.unsigned(AGENT + "Poll", json.dumps({"containerInstance": self.arns[0]}))
        self.assertEqual(r.status, 403)
        self.assertEqual(r.error_type, "MissingAuthenticationTokenException")
        body = json.dumps({"cluster": CLUSTER, "containerInstance": self.arns[0]})
        r = self.berth.request(AGENT + "Poll", body, secret_key="not-the-secret")
        self.assertEqual(r.status, 403)
        self.assertEqual(r.error_type, "InvalidSignatureException")
        r = self.berth.request(AGENT + "Poll", body, service="ecr")
        self.assertEqual(r.status, 403)
        self.assertEqual(r.error_type, "InvalidSignatureException")
        r = self.berth.request(AGENT + "Poll", json.dumps({"cluster": CLUSTER,
                                                           "containerInstance": "nosuch"}))
        self.assertEqual(r.error_type, "InvalidParameterException")
        r = self.berth.request(AGENT + "Poll", json.dumps({"cluster": CLUSTER,
                                                           "containerInstance": self.arns[0],
                                                           "waitSeconds": 99}))
        self.assertEqual(r.error_type, "InvalidParameterException")
        r = self.berth.request(AGENT + "Poll", json.dumps({"cluster": "nocluster",
                                                           "containerInstance": self.arns[0]}))
        self.assertEqual(r.error_type, "ClusterNotFoundException")
        r = self.berth.request(AGENT + "Nope", "{}")
        self.assertEqual(r.error_type, "UnknownOperationException")

    def test_list_and_describe(self):
        r = self.ecs.run_task(cluster=CLUSTER, taskDefinition="web", count=5, startedBy="lister")
        arns = sorted(t["taskArn"] for t in r["tasks"])
        got = []
        token = None
        while True:
            kw = {"cluster": CLUSTER, "startedBy": "lister", "maxResults": 2}
            if token:
                kw["nextToken"] = token
            page = self.ecs.list_tasks(**kw)
            self.assertLessEqual(len(page["taskArns"]), 2)
            got += page["taskArns"]
            token = page.get("nextToken")
            if not token:
                break
        self.assertEqual(sorted(got), arns)
        self.assertEqual(sorted(self.ecs.list_tasks(cluster=CLUSTER, family="web",
                                                    startedBy="lister")["taskArns"]), arns)
        on0 = self.ecs.list_tasks(cluster=CLUSTER, startedBy="lister",
                                  containerInstance=self.arns[0])["taskArns"]
        self.assertTrue(set(on0) < set(arns))
        self.assertEqual(self.ecs.list_tasks(cluster=CLUSTER, family="nope")["taskArns"], [])
        d = self.ecs.describe_tasks(cluster=CLUSTER, tasks=[arns[0], "0" * 32])
        self.assertEqual(len(d["tasks"]), 1)
        self.assertEqual(d["failures"], [{"arn": "0" * 32, "reason": "MISSING"}])
        self.stop_all(arns)
        stopped = self.ecs.list_tasks(cluster=CLUSTER, startedBy="lister",
                                      desiredStatus="STOPPED")["taskArns"]
        self.assertEqual(sorted(stopped), arns)
        self.assertEqual(self.ecs.list_tasks(cluster=CLUSTER, startedBy="lister")["taskArns"], [])
        # the aws CLI and its waiter
        rc, out, err = self.berth.aws("ecs", "wait", "tasks-stopped", "--cluster", CLUSTER,
                                      "--tasks", arns[0])
        self.assertEqual(rc, 0, err)

    def test_shutdown_with_polls_held(self):
        # SIGTERM while agents wait: every suspended poll is resumed, the server
        # exits at once and cleanly (under ASan, a leaked waiter fails the exit)
        b = self.new_berth(extra_args=["--threads", "2"])
        ecs = b.client()
        ecs.create_cluster(clusterName="c")
        arn = register(ecs, "c")
        seq = FakeAgent(b, "c", arn).poll()["seq"]
        ended = []

        def wait():
            try:
                FakeAgent(b, "c", arn).poll(wait=30, since=seq)
                ended.append("answered")
            except Exception as e:  # the connection may close instead
                ended.append(type(e).__name__)

        threads = [threading.Thread(target=wait) for _ in range(5)]
        for th in threads:
            th.start()
        time.sleep(0.5)
        t0 = time.monotonic()
        rc = b.stop()
        self.assertEqual(rc, 0, b.log_tail())
        self.assertLess(time.monotonic() - t0, 5)
        for th in threads:
            th.join(10)
        self.assertEqual(len(ended), 5, ended)

    def test_unknown_instance_poll(self):
        r = self.berth.request(AGENT + "Poll", json.dumps(
            {"cluster": CLUSTER, "containerInstance": "0" * 32, "waitSeconds": 5}))
        self.assertEqual(r.error_type, "InvalidParameterException")

    def test_agent_timeout_and_restart(self):
        b = self.new_berth(extra_args=["--agent-timeout", "2"])
        ecs = b.client()
        ecs.create_cluster(clusterName="c")
        arn = register(ecs, "c")
        agent = FakeAgent(b, "c", arn)
        seq = agent.poll()["seq"]
        ci = ecs.describe_container_instances(cluster="c", containerInstances=[arn])
        self.assertTrue(ci["containerInstances"][0]["agentConnected"])
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            ci = ecs.describe_container_instances(cluster="c", containerInstances=[arn])
            if not ci["containerInstances"][0]["agentConnected"]:
                break
            time.sleep(0.5)
        self.assertFalse(ci["containerInstances"][0]["agentConnected"])
        # a disconnected agent gets no task
        ecs.register_task_definition(family="t", containerDefinitions=[
            {"name": "a", "image": "x", "memory": 8}])
        r = ecs.run_task(cluster="c", taskDefinition="t")
        self.assertEqual([f["reason"] for f in r["failures"]], ["AGENT"])
        # polling again reconnects it
        agent.poll()
        r = ecs.run_task(cluster="c", taskDefinition="t")
        self.assertEqual(len(r["tasks"]), 1)
        # after a restart, a poll with the old seq is answered at once, with the task
        b.restart()
        agent.berth = b
        t0 = time.monotonic()
        doc = agent.poll(wait=20, since=seq)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual([t["taskArn"] for t in doc["tasks"]], [r["tasks"][0]["taskArn"]])

    def test_stopped_tasks_are_purged(self):
        b = self.new_berth(extra_args=["--task-retention", "2"])
        ecs = b.client()
        ecs.create_cluster(clusterName="p")
        arn = register(ecs, "p")
        agent = FakeAgent(b, "p", arn)
        agent.poll()
        ecs.register_task_definition(family="t", containerDefinitions=[
            {"name": "a", "image": "x", "memory": 8}])
        tasks = [t["taskArn"] for t in ecs.run_task(cluster="p", taskDefinition="t",
                                                     count=3)["tasks"]]
        agent.report(tasks[0], "RUNNING")
        agent.report(tasks[1], "STOPPED")
        # describable right after it stopped
        d = ecs.describe_tasks(cluster="p", tasks=[tasks[1]])
        self.assertEqual(d["tasks"][0]["lastStatus"], "STOPPED")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            d = ecs.describe_tasks(cluster="p", tasks=tasks)
            if d["failures"]:
                break
            time.sleep(0.5)
        self.assertEqual(d["failures"], [{"arn": tasks[1], "reason": "MISSING"}])
        self.assertEqual(sorted(t["taskArn"] for t in d["tasks"]), sorted([tasks[0], tasks[2]]))
        self.assertEqual(ecs.list_tasks(cluster="p", desiredStatus="STOPPED")["taskArns"], [])
        self.assertEqual(sorted(ecs.list_tasks(cluster="p")["taskArns"]),
                         sorted([tasks[0], tasks[2]]))
        ci = ecs.describe_container_instances(cluster="p", containerInstances=[arn])
        self.assertEqual((ci["containerInstances"][0]["runningTasksCount"],
                          ci["containerInstances"][0]["pendingTasksCount"]), (1, 1))
        # the running ones stay, however long they run; once stopped they go too
        time.sleep(3)
        self.assertEqual(len(ecs.describe_tasks(cluster="p", tasks=tasks)["tasks"]), 2)
        ecs.stop_task(cluster="p", task=tasks[0])
        agent.report(tasks[0], "STOPPED")
        agent.report(tasks[2], "STOPPED")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if not ecs.describe_tasks(cluster="p", tasks=tasks)["tasks"]:
                break
            time.sleep(0.5)
        self.assertEqual(ecs.describe_tasks(cluster="p", tasks=tasks)["tasks"], [])
        # with no task left, the cluster can go
        ecs.deregister_container_instance(cluster="p", containerInstance=arn)
        ecs.delete_cluster(cluster="p")

    def test_task_retention_refused_out_of_range(self):
        for bad in ("0", "2592001", "x"):
            p = subprocess.run([harness.BERTH_BIN, "server", "--task-retention", bad],
                               capture_output=True, text=True, timeout=30)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn("--task-retention", p.stderr)


if __name__ == "__main__":
    harness.main()
