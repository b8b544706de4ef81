"""
Services on the server side: CreateService, UpdateService, DeleteService,
DescribeServices and ListServices, and the service scheduler behind them,
driven by boto3 and the aws CLI, with simulated agents written here that
speak the real agent protocol (docs/agent-protocol.md): each registers a
container instance, long-polls BerthAgent_V1.Poll, and reports the tasks
it is given RUNNING (or STOPPED, for the task definitions told to fail)
with ECS's SubmitTaskStateChange, and STOPPED when they are desired
STOPPED. No containers run; test_services_agents.py runs real agents.
"""
import json
import threading
import time

from botocore.exceptions import ClientError

import harness
from harness import BerthTestCase

AGENT = "BerthAgent_V1."
DEADLINE = 60  # seconds any convergence may take on a loaded machine


# What berth's agent advertises of what a task definition's requiresAttributes
# names (agent_write_capabilities), so that placement takes these fake agents.
CAPABILITIES = [{"name": "com.amazonaws.ecs.capability.docker-remote-api.1.%d" % v}
                for v in range(17, 45)] + [
    {"name": "ecs.capability.container-health-check"},
    {"name": "ecs.capability.container-ordering"},
    {"name": "ecs.capability.task-eni"},
    {"name": "com.amazonaws.ecs.capability.logging-driver.awslogs"}]


def register(ecs, cluster, cpu=4096, memory=8192, ports=("22",), attributes=()):
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


class SimAgent:
    """
    One simulated container instance on its own thread. fail: task
    definition families whose tasks fail to start; unhealthy: families
    whose tasks are reported UNHEALTHY once RUNNING; healthy: reported
    HEALTHY. pause() stops polling (the agent is lost), resume() starts
    again.
    """

    def __init__(self, berth, cluster, attributes=(), fail=(), unhealthy=(), healthy=()):
        self.berth, self.cluster = berth, cluster
        self.ecs = berth.client()
        self.arn = register(self.ecs, cluster, attributes=attributes)
        self.fail, self.unhealthy, self.healthy = set(fail), set(unhealthy), set(healthy)
        self.seq, self.running = 0, set()
        self.paused = threading.Event()
        self.done = threading.Event()
        self.reported = {}  # task ARN -> last status reported
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _poll(self, wait):
        body = {"cluster": self.cluster, "containerInstance": self.arn, "since": self.seq,
                "waitSeconds": wait}
        r = self.berth.request(AGENT + "Poll", json.dumps(body))
        if r.status != 200:
            raise RuntimeError("poll: %s %s" % (r.status, r.body))
        doc = json.loads(r.body)
        self.seq = doc["seq"]
        return doc

    def _report(self, task, status, reason=None):
        kw = {"cluster": self.cluster, "task": task["taskArn"], "status": status,
              "containers": [{"containerName": c["name"], "status": status,
                              "runtimeId": "sim-" + c["name"]}
                             for c in task["containers"]]}
        if reason:
            kw["reason"] = reason
            for c in kw["containers"]:
                c["reason"] = reason
        if status == "STOPPED" and not reason:
            for c in kw["containers"]:
                c["exitCode"] = 0
        self.ecs.submit_task_state_change(**kw)
        self.reported[task["taskArn"]] = status

    def _health(self, task, status):
        body = {"cluster": self.cluster, "task": task["taskArn"],
                "containers": [{"containerName": c["name"], "healthStatus": status}
                               for c in task["containers"]]}
        self.berth.request(AGENT + "ReportHealth", json.dumps(body))

    def _handle(self, task):
        arn, family = task["taskArn"], task["taskDefinition"]["family"]
        if task["desiredStatus"] == "STOPPED":
            if self.reported.get(arn) != "STOPPED":
                self.running.discard(arn)
                self._report(task, "STOPPED")
            return
        if arn in self.reported:
            return
        if family in self.fail:
            self._report(task, "STOPPED",
                         reason="CannotPullContainerError: simulated pull failure")
            return
        self._report(task, "RUNNING")
        self.running.add(arn)
        if family in self.unhealthy:
            self._health(task, "UNHEALTHY")
        elif family in self.healthy:
            self._health(task, "HEALTHY")

    def _run(self):
        while not self.done.is_set():
            if self.paused.is_set():
                time.sleep(0.1)
                continue
            try:
                doc = self._poll(2)
                for t in doc["tasks"]:
                    self._handle(t)
            except Exception:  # the server restarting, or going away at the end
                if self.done.is_set():
                    return
                time.sleep(0.2)
                self.ecs = self.berth.client()  # a restarted server listens elsewhere

    def pause(self):
        self.paused.set()

    def resume(self):
        self.paused.clear()

    def stop(self):
        self.done.set()
        self.thread.join(timeout=10)

    def crash(self, task_arn, reason="Essential container in task exited"):
        """A running task's container dies: report it STOPPED with an exit code."""
        self.running.discard(task_arn)
        t = self.ecs.describe_tasks(cluster=self.cluster, tasks=[task_arn])["tasks"][0]
        kw = {"cluster": self.cluster, "task": task_arn, "status": "STOPPED", "reason": reason,
              "containers": [{"containerName": c["name"], "status": "STOPPED", "exitCode": 137}
                             for c in t["containers"]]}
        self.ecs.submit_task_state_change(**kw)
        self.reported[task_arn] = "STOPPED"


class ServicesTest(BerthTestCase):
    server_kw = {"extra_args": ["--agent-timeout", "3", "--service-backoff-max", "2"]}

    def setUp(self):
        self.agents = []

    def tearDown(self):
        for a in self.agents:
            a.stop()

    # helpers
    def cluster(self, name, n_agents=2, **agent_kw):
        self.ecs.create_cluster(clusterName=name)
        for i in range(n_agents):
            self.agents.append(SimAgent(self.berth, name, **agent_kw))
        return self.agents[-n_agents:]

    def definition(self, family, **container):
        c = {"name": "app", "image": "busybox", "memory": 64, "cpu": 64}
        c.update(container)
        return self.ecs.register_task_definition(
            family=family, containerDefinitions=[c])["taskDefinition"]["taskDefinitionArn"]

    def describe(self, cluster, name):
        return self.ecs.describe_services(cluster=cluster, services=[name])["services"][0]

    def wait_for(self, what, fn, timeout=DEADLINE):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = fn()
            if last:
                return last
            time.sleep(0.2)
        self.fail("timed out waiting for %s (last: %r)" % (what, last))

    def wait_stable(self, cluster, name):
        w = self.ecs.get_waiter("services_stable")
        w.wait(cluster=cluster, services=[name], WaiterConfig={"Delay": 1, "MaxAttempts": DEADLINE})
        return self.describe(cluster, name)

    def tasks(self, cluster, name, desired="RUNNING"):
        arns = self.ecs.list_tasks(cluster=cluster, serviceName=name,
                                   desiredStatus=desired)["taskArns"]
        if not arns:
            return []
        out = []
        for i in range(0, len(arns), 100):
            out += self.ecs.describe_tasks(cluster=cluster, tasks=arns[i:i + 100])["tasks"]
        return out

    def messages(self, svc):
        return [e["message"] for e in svc["events"]]

    # tests
    def test_create_describe_list_errors(self):
        self.cluster("errs", n_agents=0)
        td = self.definition("errs")
        E = self.assertClientError
        E("InvalidParameterException", self.ecs.create_service, cluster="errs",
          serviceName="bad name!", taskDefinition=td, desiredCount=1)
        E("InvalidParameterException", self.ecs.create_service, cluster="errs",
          serviceName="s", taskDefinition=td)
        e = E("InvalidParameterException", self.ecs.create_service, cluster="errs",
              serviceName="s", taskDefinition=td, schedulingStrategy="DAEMON", desiredCount=1)
        self.assertIn("does not support a desired count", str(e))
        E("ClientException", self.ecs.create_service, cluster="errs", serviceName="s",
          taskDefinition="nope:1", desiredCount=1)
        E("InvalidParameterException", self.ecs.create_service, cluster="errs",
          serviceName="s", taskDefinition=td, desiredCount=1, launchType="FARGATE")
        E("InvalidParameterException", self.ecs.create_service, cluster="errs",
          serviceName="s", taskDefinition=td, desiredCount=1,
          deploymentConfiguration={"minimumHealthyPercent": 150})
        E("InvalidParameterException", self.ecs.create_service, cluster="errs",
          serviceName="s", taskDefinition=td, desiredCount=1,
          placementConstraints=[{"type": "memberOf", "expression": "attribute:x =="}])
        E("InvalidParameterException", self.ecs.create_service, cluster="errs",
          serviceName="s", taskDefinition=td, desiredCount=1,
          placementStrategy=[{"type": "binpack", "field": "disk"}])
        E("ClusterNotFoundException", self.ecs.create_service, cluster="nope",
          serviceName="s", taskDefinition=td, desiredCount=1)
        s = self.ecs.create_service(cluster="errs", serviceName="s", taskDefinition=td,
                                    desiredCount=0, tags=[{"key": "k", "value": "v"}],
                                    clientToken="tok")["service"]
        self.assertEqual(s["status"], "ACTIVE")
        self.assertEqual(s["serviceArn"],
                         "arn:aws:ecs:us-east-1:000000000000:service/errs/s")
        self.assertEqual(s["schedulingStrategy"], "REPLICA")
        self.assertEqual(s["deploymentConfiguration"]["maximumPercent"], 200)
        self.assertEqual(s["deploymentConfiguration"]["minimumHealthyPercent"], 100)
        self.assertEqual(len(s["deployments"]), 1)
        d = s["deployments"][0]
        self.assertEqual((d["status"], d["rolloutState"]), ("PRIMARY", "IN_PROGRESS"))
        self.assertRegex(d["id"], r"^ecs-svc/\d{19}$")
        # the same clientToken: the same service; another: not idempotent
        again = self.ecs.create_service(cluster="errs", serviceName="s", taskDefinition=td,
                                        desiredCount=0, clientToken="tok")["service"]
        self.assertEqual(again["deployments"][0]["id"], d["id"])
        e = E("InvalidParameterException", self.ecs.create_service, cluster="errs",
              serviceName="s", taskDefinition=td, desiredCount=0)
        self.assertIn("not idempotent", str(e))
        # describe: by name and ARN, missing ones as failures, tags when asked
        r = self.ecs.describe_services(cluster="errs", services=["s", s["serviceArn"], "gone"],
                                       include=["TAGS"])
        self.assertEqual([x["serviceName"] for x in r["services"]], ["s", "s"])
        self.assertEqual(r["services"][0]["tags"], [{"key": "k", "value": "v"}])
        self.assertEqual(r["failures"], [{"arn": "gone", "reason": "MISSING"}])
        E("InvalidParameterException", self.ecs.describe_services, cluster="errs",
          services=["a"] * 11)
        # list, with pagination and filters
        for i in range(3):
            self.ecs.create_service(cluster="errs", serviceName="p%d" % i, taskDefinition=td,
                                    desiredCount=0)
        pages = list(self.ecs.get_paginator("list_services").paginate(
            cluster="errs", PaginationConfig={"PageSize": 2}))
        arns = [a for p in pages for a in p["serviceArns"]]
        self.assertEqual(len(pages), 2)
        self.assertEqual(sorted(a.rsplit("/", 1)[1] for a in arns), ["p0", "p1", "p2", "s"])
        self.assertEqual(self.ecs.list_services(cluster="errs", launchType="FARGATE")["serviceArns"], [])
        self.assertEqual(self.ecs.list_services(cluster="errs",
                                                schedulingStrategy="DAEMON")["serviceArns"], [])
        # update and delete
        E("ServiceNotFoundException", self.ecs.update_service, cluster="errs", service="gone",
          desiredCount=1)
        E("ServiceNotFoundException", self.ecs.delete_service, cluster="errs", service="gone")
        self.ecs.update_service(cluster="errs", service="p0", desiredCount=2)
        e = E("InvalidParameterException", self.ecs.delete_service, cluster="errs", service="p0")
        self.assertIn("scaled above 0", str(e))
        # a cluster with services is not deleted
        E("ClusterContainsServicesException", self.ecs.delete_cluster, cluster="errs")
        for n in ("s", "p0", "p1", "p2"):
            d = self.ecs.delete_service(cluster="errs", service=n, force=True)["service"]
            self.assertEqual(d["status"], "DRAINING")
        E("ServiceNotActiveException", self.ecs.update_service, cluster="errs", service="s",
          desiredCount=1)
        self.wait_for("services INACTIVE", lambda: all(
            x["status"] == "INACTIVE" for x in self.ecs.describe_services(
                cluster="errs", services=["s", "p0", "p1", "p2"])["services"]))
        self.assertEqual(self.ecs.list_services(cluster="errs")["serviceArns"], [])
        # INACTIVE: the name can be used again
        self.ecs.create_service(cluster="errs", serviceName="s", taskDefinition=td,
                                desiredCount=0)
        self.ecs.delete_service(cluster="errs", service="s")

    def test_keeps_desired_count_and_scales(self):
        agents = self.cluster("keep")
        td = self.definition("keep")
        self.ecs.create_service(cluster="keep", serviceName="web", taskDefinition=td,
                                desiredCount=2)
        s = self.wait_stable("keep", "web")
        self.assertEqual((s["runningCount"], s["pendingCount"]), (2, 0))
        dep = s["deployments"][0]
        self.assertEqual((dep["rolloutState"], dep["runningCount"]), ("COMPLETED", 2))
        msgs = self.messages(s)
        self.assertIn("(service web) has reached a steady state.", msgs)
        self.assertTrue(any(m.startswith("(service web) has started 2 tasks: (task ")
                            for m in msgs), msgs)
        tasks = self.tasks("keep", "web")
        self.assertEqual(len(tasks), 2)
        for t in tasks:
            self.assertEqual(t["group"], "service:web")
            self.assertEqual(t["startedBy"], dep["id"])
        # spread over the two instances
        self.assertEqual(len({t["containerInstanceArn"] for t in tasks}), 2)
        # the aws CLI's waiter agrees
        rc, out, err = self.berth.aws("ecs", "wait", "services-stable", "--cluster", "keep",
                                      "--services", "web")
        self.assertEqual(rc, 0, err)

        # a task dies: it is replaced
        victim = tasks[0]
        owner = next(a for a in agents if a.arn == victim["containerInstanceArn"])
        owner.crash(victim["taskArn"])
        self.wait_for("a replacement", lambda: len(
            [t for t in self.tasks("keep", "web") if t["lastStatus"] == "RUNNING"
             and t["taskArn"] != victim["taskArn"]]) == 2)
        s = self.wait_stable("keep", "web")
        self.assertGreaterEqual(self.messages(s).count("(service web) has reached a steady state."), 2)

        # scale 2 -> 4 -> 1
        self.ecs.update_service(cluster="keep", service="web", desiredCount=4)
        s = self.wait_stable("keep", "web")
        self.assertEqual(s["runningCount"], 4)
        self.ecs.update_service(cluster="keep", service="web", desiredCount=1)
        s = self.wait_stable("keep", "web")
        self.assertEqual(s["runningCount"], 1)
        self.assertTrue(any(m.startswith("(service web) has stopped 3 running tasks:")
                            for m in self.messages(s)), self.messages(s))
        stopped = [t for t in self.tasks("keep", "web", desired="STOPPED")
                   if t.get("stopCode") == "ServiceSchedulerInitiated"]
        self.assertEqual(len(stopped), 3)
        for t in stopped:
            self.assertTrue(t["stoppedReason"].startswith("Scaling activity initiated by (deployment ecs-svc/"))
        # events newest first
        times = [e["createdAt"] for e in s["events"]]
        self.assertEqual(times, sorted(times, reverse=True))

        # deleting with force drains it
        self.ecs.delete_service(cluster="keep", service="web", force=True)
        self.wait_for("INACTIVE", lambda: self.describe("keep", "web")["status"] == "INACTIVE")
        self.assertEqual(self.tasks("keep", "web"), [])

    def test_rolling_deployment_keeps_the_floor(self):
        self.cluster("roll", n_agents=3)
        td1 = self.definition("roll")
        td2 = self.definition("roll", environment=[{"name": "V", "value": "2"}])
        self.ecs.create_service(cluster="roll", serviceName="r", taskDefinition=td1,
                                desiredCount=4,
                                deploymentConfiguration={"minimumHealthyPercent": 50,
                                                         "maximumPercent": 200})
        self.wait_stable("roll", "r")
        low = []
        stop = threading.Event()

        def watch():
            ecs = self.berth.client()
            while not stop.is_set():
                arns = ecs.list_tasks(cluster="roll", serviceName="r")["taskArns"]
                arns += ecs.list_tasks(cluster="roll", serviceName="r",
                                       desiredStatus="STOPPED")["taskArns"]
                running = 0
                for i in range(0, len(arns), 100):
                    for t in ecs.describe_tasks(cluster="roll", tasks=arns[i:i + 100])["tasks"]:
                        running += t["lastStatus"] == "RUNNING"
                low.append(running)
                time.sleep(0.05)

        w = threading.Thread(target=watch)
        w.start()
        try:
            u = self.ecs.update_service(cluster="roll", service="r", taskDefinition=td2)["service"]
            self.assertEqual([d["status"] for d in u["deployments"]], ["PRIMARY", "ACTIVE"])
            self.assertEqual(u["taskDefinition"], td2)
            s = self.wait_stable("roll", "r")
        finally:
            stop.set()
            w.join()
        self.assertGreaterEqual(min(low), 2, "running tasks dropped below the floor")
        self.assertEqual(len(s["deployments"]), 1)
        self.assertEqual(s["deployments"][0]["taskDefinition"], td2)
        self.assertEqual(s["deployments"][0]["rolloutState"], "COMPLETED")
        tasks = self.tasks("roll", "r")
        self.assertEqual(len(tasks), 4)
        self.assertEqual({t["taskDefinitionArn"] for t in tasks}, {td2})
        self.assertTrue(any("deployment completed." in m for m in self.messages(s)))
        # forceNewDeployment replaces them again, same revision
        first = {t["taskArn"] for t in tasks}
        self.ecs.update_service(cluster="roll", service="r", forceNewDeployment=True)
        self.wait_for("all replaced", lambda: not first & {
            t["taskArn"] for t in self.tasks("roll", "r")} and
            len(self.describe("roll", "r")["deployments"]) == 1)
        self.ecs.update_service(cluster="roll", service="r", desiredCount=0)
        self.wait_stable("roll", "r")
        self.ecs.delete_service(cluster="roll", service="r")

    def test_circuit_breaker_rolls_back(self):
        self.cluster("cb", fail={"cb-bad"})
        good = self.definition("cb-good")
        bad = self.definition("cb-bad")
        self.ecs.create_service(
            cluster="cb", serviceName="c", taskDefinition=good, desiredCount=2,
            deploymentConfiguration={"deploymentCircuitBreaker": {"enable": True,
                                                                   "rollback": True}})
        self.wait_stable("cb", "c")
        self.ecs.update_service(cluster="cb", service="c", taskDefinition=bad)

        def failed():
            s = self.describe("cb", "c")
            return s if any(d["rolloutState"] == "FAILED" for d in s["deployments"]) else None

        s = self.wait_for("the circuit breaker", failed)
        bad_dep = next(d for d in s["deployments"] if d["rolloutState"] == "FAILED")
        self.assertEqual(bad_dep["taskDefinition"], bad)
        self.assertGreaterEqual(bad_dep["failedTasks"], 3)  # the threshold for 2 tasks
        s = self.wait_stable("cb", "c")
        self.assertEqual(s["taskDefinition"], good)
        self.assertEqual(s["deployments"][0]["taskDefinition"], good)
        msgs = self.messages(s)
        self.assertTrue(any(m.startswith("(service c) (deployment %s) deployment failed"
                                         % bad_dep["id"]) for m in msgs), msgs)
        self.assertTrue(any("rolling back" in m for m in msgs), msgs)
        self.assertIn("(service c) is unable to consistently start tasks successfully. For "
                      "more information, see the Troubleshooting section of the Amazon ECS "
                      "Developer Guide.", msgs)
        self.assertEqual({t["taskDefinitionArn"] for t in self.tasks("cb", "c")}, {good})
        # the failed tasks: TaskFailedToStart
        codes = {t.get("stopCode") for t in self.tasks("cb", "c", desired="STOPPED")
                 if t["taskDefinitionArn"] == bad}
        self.assertEqual(codes, {"TaskFailedToStart"})
        self.ecs.delete_service(cluster="cb", service="c", force=True)

    def test_unhealthy_tasks_are_replaced(self):
        self.cluster("health", n_agents=1, unhealthy={"sick"})
        td = self.definition("sick", healthCheck={"command": ["CMD-SHELL", "exit 1"],
                                                  "interval": 5, "retries": 1})
        self.ecs.create_service(cluster="health", serviceName="h", taskDefinition=td,
                                desiredCount=1, healthCheckGracePeriodSeconds=0)
        self.wait_for("an unhealthy task stopped", lambda: [
            t for t in self.tasks("health", "h", desired="STOPPED")
            if t.get("stoppedReason") == "Task failed container health checks"
            and t.get("stopCode") == "ServiceSchedulerInitiated"])
        self.ecs.delete_service(cluster="health", service="h", force=True)

    def test_daemon_follows_instances(self):
        self.cluster("dmn", n_agents=2)
        td = self.definition("dmn")
        s = self.ecs.create_service(cluster="dmn", serviceName="d", taskDefinition=td,
                                    schedulingStrategy="DAEMON")["service"]
        self.assertEqual(s["schedulingStrategy"], "DAEMON")
        self.assertEqual(s["deploymentConfiguration"]["maximumPercent"], 100)
        self.assertEqual(s["deploymentConfiguration"]["minimumHealthyPercent"], 0)
        E = self.assertClientError
        E("InvalidParameterException", self.ecs.update_service, cluster="dmn", service="d",
          desiredCount=3)
        s = self.wait_stable("dmn", "d")
        self.assertEqual(s["desiredCount"], 2)
        per = lambda: sorted(t["containerInstanceArn"] for t in self.tasks("dmn", "d"))
        self.assertEqual(per(), sorted(a.arn for a in self.agents))
        # a third instance joins: it gets one
        self.agents.append(SimAgent(self.berth, "dmn"))
        self.wait_for("three daemon tasks", lambda: self.describe("dmn", "d")["runningCount"] == 3)
        self.assertEqual(per(), sorted(a.arn for a in self.agents))
        # one is drained: its task goes, the count follows
        self.ecs.update_container_instances_state(cluster="dmn",
                                                  containerInstances=[self.agents[0].arn],
                                                  status="DRAINING")
        self.wait_for("two daemon tasks", lambda: per() == sorted(a.arn for a in self.agents[1:]))
        s = self.wait_stable("dmn", "d")
        self.assertEqual(s["desiredCount"], 2)
        self.ecs.delete_service(cluster="dmn", service="d")
        self.wait_for("INACTIVE", lambda: self.describe("dmn", "d")["status"] == "INACTIVE")

    def test_draining_moves_tasks(self):
        agents = self.cluster("drain", n_agents=2)
        td = self.definition("drain")
        self.ecs.create_service(cluster="drain", serviceName="m", taskDefinition=td,
                                desiredCount=4)
        self.wait_stable("drain", "m")
        self.ecs.update_container_instances_state(cluster="drain",
                                                  containerInstances=[agents[0].arn],
                                                  status="DRAINING")
        self.wait_for("tasks moved", lambda: {
            t["containerInstanceArn"] for t in self.tasks("drain", "m")} == {agents[1].arn}
            and len(self.tasks("drain", "m")) == 4)
        s = self.wait_stable("drain", "m")
        self.assertEqual(s["runningCount"], 4)
        ci = self.ecs.describe_container_instances(cluster="drain",
                                                   containerInstances=[agents[0].arn])
        self.assertEqual(ci["containerInstances"][0]["runningTasksCount"], 0)
        self.ecs.delete_service(cluster="drain", service="m", force=True)

    def test_lost_agent_tasks_replaced(self):
        agents = self.cluster("lost", n_agents=2)
        td = self.definition("lost")
        self.ecs.create_service(cluster="lost", serviceName="l", taskDefinition=td,
                                desiredCount=2,
                                placementConstraints=[{"type": "distinctInstance"}])
        self.wait_stable("lost", "l")
        spare = SimAgent(self.berth, "lost")
        self.agents.append(spare)
        gone = agents[0]
        mine = [t["taskArn"] for t in self.tasks("lost", "l")
                if t["containerInstanceArn"] == gone.arn]
        self.assertEqual(len(mine), 1)
        gone.pause()  # its agent stops talking (--agent-timeout 3)
        self.wait_for("the lost task replaced on the spare", lambda: spare.arn in {
            t["containerInstanceArn"] for t in self.tasks("lost", "l")
            if t["lastStatus"] == "RUNNING"})
        t = self.ecs.describe_tasks(cluster="lost", tasks=mine)["tasks"][0]
        self.assertEqual((t["desiredStatus"], t["stopCode"]), ("STOPPED", "ServiceSchedulerInitiated"))
        # it comes back: it stops what it ran, nothing runs twice
        gone.resume()
        self.wait_for("the old task stopped", lambda: self.ecs.describe_tasks(
            cluster="lost", tasks=mine)["tasks"][0]["lastStatus"] == "STOPPED")
        s = self.wait_stable("lost", "l")
        self.assertEqual(s["runningCount"], 2)
        running = self.tasks("lost", "l")
        self.assertEqual(len(running), 2)
        self.assertEqual(gone.running, set())
        self.ecs.delete_service(cluster="lost", service="l", force=True)

    def test_unplaceable_and_backoff_events(self):
        self.cluster("full", n_agents=1)
        td = self.definition("huge", memory=100000)
        self.ecs.create_service(cluster="full", serviceName="f", taskDefinition=td,
                                desiredCount=1)
        s = self.wait_for("an unplaced event", lambda: [
            m for m in self.messages(self.describe("full", "f"))
            if m.startswith("(service f) was unable to place a task because no container "
                            "instance met all of its requirements.")])
        self.assertIn("has insufficient memory available", s[0])
        self.ecs.delete_service(cluster="full", service="f", force=True)


class ServicesRestartTest(BerthTestCase):
    shared_server = False

    def test_scheduler_survives_restart(self):
        b = self.new_berth(extra_args=["--agent-timeout", "5"])
        ecs = b.client()
        ecs.create_cluster(clusterName="rs")
        agents = [SimAgent(b, "rs") for _ in range(2)]
        try:
            td = ecs.register_task_definition(family="rs", containerDefinitions=[
                {"name": "app", "image": "x", "memory": 32}])["taskDefinition"]["taskDefinitionArn"]
            ecs.create_service(cluster="rs", serviceName="s", taskDefinition=td, desiredCount=2)
            w = ecs.get_waiter("services_stable")
            w.wait(cluster="rs", services=["s"], WaiterConfig={"Delay": 1, "MaxAttempts": DEADLINE})
            b.restart()
            ecs = b.client()
            ecs.update_service(cluster="rs", service="s", desiredCount=3)
            w = ecs.get_waiter("services_stable")
            w.wait(cluster="rs", services=["s"], WaiterConfig={"Delay": 1, "MaxAttempts": DEADLINE})
            s = ecs.describe_services(cluster="rs", services=["s"])["services"][0]
            self.assertEqual(s["runningCount"], 3)
            self.assertEqual(len(ecs.list_tasks(cluster="rs", serviceName="s")["taskArns"]), 3)
        finally:
            for a in agents:
                a.stop()


if __name__ == "__main__":
    harness.main()


class Simulated(harness.Agent):
    """`berth agent --simulate N`: N simulated instances in one process."""

    def __init__(self, server, cluster, n, extra_args=()):
        super().__init__(server, cluster=cluster, extra_args=extra_args)
        self.n = n

    def argv(self):
        return [harness.BERTH_BIN, "agent", "--server", self.server.endpoint, "--cluster",
                self.cluster, "--region", self.server.region, "--poll-wait", "5",
                "--simulate", str(self.n), "--log-level", "info"] + self.extra_args

    def start(self, timeout=60):
        self._spawn(self.argv(), self.env(), harness.subprocess.DEVNULL)
        ecs = self.server.client()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            c = ecs.describe_clusters(clusters=[self.cluster])["clusters"]
            if c and c[0]["registeredContainerInstancesCount"] >= self.n:
                return self
            if self.proc.poll() is not None:
                raise harness.ServerError("berth agent --simulate exited: %s" % self.log_tail())
            time.sleep(0.2)
        raise harness.ServerError("simulated instances did not register:\n%s" % self.log_tail())


class SimulatedPlacementTest(BerthTestCase):
    """Placement of services' tasks over 30 simulated instances in three zones."""

    server_kw = {"extra_args": ["--agent-timeout", "30"]}
    N = 30

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.ecs.create_cluster(clusterName="sim")
        cls.sim = Simulated(cls.berth, "sim", cls.N, extra_args=["--attribute", "tier=web"])
        cls.addClassCleanup(cls.sim.cleanup)
        cls.sim.start()
        arns = cls.ecs.list_container_instances(cluster="sim", maxResults=100)[
            "containerInstanceArns"]
        cis = cls.ecs.describe_container_instances(cluster="sim", containerInstances=arns)[
            "containerInstances"]
        cls.zone = {ci["containerInstanceArn"]: next(
            a["value"] for a in ci["attributes"] if a["name"] == "ecs.availability-zone")
            for ci in cis}
        cls.ecs.register_task_definition(family="small", containerDefinitions=[
            {"name": "app", "image": "x", "memory": 1024, "cpu": 10}])
        cls.ecs.register_task_definition(family="big", containerDefinitions=[
            {"name": "app", "image": "x", "memory": 4096, "cpu": 10}])

    def service(self, name, desired, td="small", **kw):
        self.ecs.create_service(cluster="sim", serviceName=name, taskDefinition=td,
                                desiredCount=desired, **kw)
        self.addCleanup(self.ecs.delete_service, cluster="sim", service=name, force=True)
        w = self.ecs.get_waiter("services_stable")
        w.wait(cluster="sim", services=[name], WaiterConfig={"Delay": 1, "MaxAttempts": DEADLINE})
        arns, token = [], None
        while True:
            kw2 = {"nextToken": token} if token else {}
            r = self.ecs.list_tasks(cluster="sim", serviceName=name, **kw2)
            arns += r["taskArns"]
            token = r.get("nextToken")
            if not token:
                break
        tasks = []
        for i in range(0, len(arns), 100):
            tasks += self.ecs.describe_tasks(cluster="sim", tasks=arns[i:i + 100])["tasks"]
        self.assertEqual(len(tasks), desired)
        return tasks

    def per(self, tasks, key):
        out = {}
        for t in tasks:
            k = key(t["containerInstanceArn"])
            out[k] = out.get(k, 0) + 1
        return out

    def test_default_spread_zones_then_instances(self):
        tasks = self.service("spread", 60)
        self.assertEqual(sorted(self.per(tasks, self.zone.get).values()), [20, 20, 20])
        self.assertEqual(sorted(self.per(tasks, lambda a: a).values()), [2] * self.N)

    def test_spread_instance_id(self):
        tasks = self.service("byid", 45, placementStrategy=[
            {"type": "spread", "field": "instanceId"}])
        self.assertEqual(sorted(self.per(tasks, lambda a: a).values()), [1] * 15 + [2] * 15)

    def test_binpack_memory(self):
        # 16384 MiB each: four "big" tasks fill an instance
        tasks = self.service("packed", 10, td="big", placementStrategy=[
            {"type": "binpack", "field": "memory"}])
        self.assertEqual(sorted(self.per(tasks, lambda a: a).values()), [2, 4, 4])

    def test_random(self):
        tasks = self.service("rnd", 20, placementStrategy=[{"type": "random"}])
        self.assertGreater(len(self.per(tasks, lambda a: a)), 1)

    def test_distinct_instance_and_unplaced(self):
        name = "distinct"
        self.ecs.create_service(cluster="sim", serviceName=name, taskDefinition="small",
                                desiredCount=self.N + 1,
                                placementConstraints=[{"type": "distinctInstance"}])
        self.addCleanup(self.ecs.delete_service, cluster="sim", service=name, force=True)
        deadline = time.monotonic() + DEADLINE
        while time.monotonic() < deadline:
            s = self.ecs.describe_services(cluster="sim", services=[name])["services"][0]
            msgs = [e["message"] for e in s["events"]]
            if s["runningCount"] == self.N and any("was unable to place a task" in m
                                                   for m in msgs):
                break
            time.sleep(0.5)
        self.assertEqual(s["runningCount"], self.N)
        self.assertTrue(any("DistinctInstance placement constraint unsatisfied" in m
                            for m in msgs), msgs)

    def test_member_of_expressions(self):
        tasks = self.service("zoneb", 9, placementConstraints=[
            {"type": "memberOf", "expression": "attribute:ecs.availability-zone == sim-b"}])
        self.assertEqual(set(self.per(tasks, self.zone.get)), {"sim-b"})
        zoneb = {t["containerInstanceArn"] for t in tasks}
        tasks = self.service("notb", 8, placementConstraints=[
            {"type": "memberOf",
             "expression": "attribute:ecs.availability-zone in [sim-a, 'sim-c'] and "
                           "attribute:tier == web and not(attribute:missing exists)"}])
        self.assertEqual(set(self.per(tasks, self.zone.get)), {"sim-a", "sim-c"})
        # task:group: only where the service "zoneb" runs
        tasks = self.service("follow", 5, placementConstraints=[
            {"type": "memberOf", "expression": "task:group == service:zoneb"}])
        self.assertEqual(set(self.per(tasks, self.zone.get)), {"sim-b"})
        self.assertLessEqual(set(self.per(tasks, lambda a: a)), zoneb)
        # and only where it does not
        tasks = self.service("avoid", 25, placementConstraints=[
            {"type": "memberOf", "expression": "task:group != service:zoneb"}])
        self.assertFalse(set(self.per(tasks, lambda a: a)) & zoneb)

    def test_bad_expressions_refused(self):
        for expr in ["attribute:ecs.availability-zone ==", "attribute:a in [x, y",
                     "(attribute:a == b", "attribute:a === b", "task:group exists and",
                     "attribute:a =~ '('", "x" * 2001]:
            e = self.assertClientError(
                "InvalidParameterException", self.ecs.create_service, cluster="sim",
                serviceName="bad", taskDefinition="small", desiredCount=1,
                placementConstraints=[{"type": "memberOf", "expression": expr}])
            self.assertTrue(str(e), expr)
        self.assertEqual(self.ecs.describe_services(cluster="sim", services=["bad"])[
            "failures"], [{"arn": "bad", "reason": "MISSING"}])
