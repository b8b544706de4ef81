"""
Services with real agents: a `berth server` with three `berth agent`s on
this machine running containers with runc (and a fourth that joins), in
the order of the seed's story: a service of 2; a container killed and
replaced, with the events to show it; scaled 2 -> 4 -> 1; updated to
revision 2 with minimumHealthyPercent 50 and maximumPercent 200 while a
watcher checks that running tasks never drop below the floor; a failing
revision rolled back by the circuit breaker; a DAEMON service following a
fourth agent that joins; an instance drained; an agent killed with -9 and
its tasks replaced elsewhere. test_services.py covers the same scheduler
with simulated agents.
"""
import json
import os
import signal
import subprocess
import threading
import time

import harness
from harness import Agent, Berth, BerthTestCase

import test_agent
from test_agent import push_image, runc_available

CLUSTER = "story"
DEADLINE = 180
SLEEPER = ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]


def setUpModule():
    test_agent.setUpModule()


def tearDownModule():
    test_agent.tearDownModule()


class ServiceStoryTest(BerthTestCase):
    shared_server = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not runc_available():
            raise harness.unittest.SkipTest("needs root and runc")
        cls.berth = Berth(extra_args=["--registry-create-on-push", "--agent-timeout", "12",
                                      "--service-backoff-max", "2"])
        cls.berth.start()
        cls.addClassCleanup(cls.berth.cleanup)
        cls.ecs = cls.berth.client("ecs")
        cls.ecs.create_cluster(clusterName=CLUSTER)
        cls.host = "127.0.0.1:%d" % cls.berth.port
        cls.image = "%s/itest/busybox:latest" % cls.host
        push_image(cls.berth, os.path.join(test_agent.IMGDIR, "oci"), cls.image)
        cls.agents = []
        for _ in range(3):
            cls.agents.append(cls.new_agent())

    @classmethod
    def new_agent(cls):
        a = Agent(cls.berth, cluster=CLUSTER)
        cls.addClassCleanup(a.cleanup)
        a.start()
        return a

    def register(self, family, image=None, **extra):
        c = {"name": "main", "image": image or self.image, "memory": 32, "cpu": 16,
             "command": SLEEPER, "stopTimeout": 2}
        c.update(extra)
        return self.ecs.register_task_definition(
            family=family, containerDefinitions=[c])["taskDefinition"]["taskDefinitionArn"]

    def describe(self, name):
        return self.ecs.describe_services(cluster=CLUSTER, services=[name])["services"][0]

    def stable(self, name):
        self.ecs.get_waiter("services_stable").wait(
            cluster=CLUSTER, services=[name], WaiterConfig={"Delay": 1, "MaxAttempts": DEADLINE})
        return self.describe(name)

    def running(self, name):
        arns = self.ecs.list_tasks(cluster=CLUSTER, serviceName=name)["taskArns"]
        if not arns:
            return []
        return [t for t in self.ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"]
                if t["lastStatus"] == "RUNNING"]

    def wait_for(self, what, fn, timeout=DEADLINE):
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            last = fn()
            if last:
                return last
            time.sleep(0.5)
        self.fail("timed out waiting for %s (last: %r)" % (what, last))

    def agent_of(self, task):
        return next(a for a in self.agents if a.instance_arn == task["containerInstanceArn"])

    def container_pid(self, agent, runtime_id):
        p = subprocess.run(["runc", "--root", os.path.join(agent.data_dir, "runc"), "state",
                            runtime_id], capture_output=True, timeout=30)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        return json.loads(p.stdout)["pid"]

    def test_story(self):
        ecs = self.ecs
        rev1 = self.register("story")
        ecs.create_service(cluster=CLUSTER, serviceName="web", taskDefinition=rev1,
                           desiredCount=2, deploymentConfiguration={
                               "minimumHealthyPercent": 50, "maximumPercent": 200,
                               "deploymentCircuitBreaker": {"enable": True, "rollback": True}})
        s = self.stable("web")
        self.assertEqual(s["runningCount"], 2)
        tasks = self.running("web")
        self.assertEqual(len({t["containerInstanceArn"] for t in tasks}), 2)

        # a container is killed: its task stops and a replacement starts
        victim = tasks[0]
        pid = self.container_pid(self.agent_of(victim), victim["containers"][0]["runtimeId"])
        os.kill(pid, signal.SIGKILL)
        self.wait_for("the victim stopped", lambda: ecs.describe_tasks(
            cluster=CLUSTER, tasks=[victim["taskArn"]])["tasks"][0]["lastStatus"] == "STOPPED")
        dead = ecs.describe_tasks(cluster=CLUSTER, tasks=[victim["taskArn"]])["tasks"][0]
        self.assertEqual(dead["stopCode"], "EssentialContainerExited")
        self.assertEqual(dead["containers"][0]["exitCode"], 137)
        self.wait_for("a replacement running", lambda: len(
            [t for t in self.running("web") if t["taskArn"] != victim["taskArn"]]) == 2)
        s = self.stable("web")
        msgs = [e["message"] for e in s["events"]]
        self.assertTrue(any(m.startswith("(service web) has started 1 tasks: (task ")
                            for m in msgs), msgs)
        self.assertGreaterEqual(msgs.count("(service web) has reached a steady state."), 2)

        # scaled 2 -> 4 -> 1, then back to 4
        for n in (4, 1, 4):
            ecs.update_service(cluster=CLUSTER, service="web", desiredCount=n)
            s = self.stable("web")
            self.assertEqual(s["runningCount"], n)
            self.assertEqual(len(self.running("web")), n)

        # revision 2, min 50 max 200: running tasks never below 2
        rev2 = self.register("story", environment=[{"name": "REV", "value": "2"}])
        seen, stop = [], threading.Event()

        def watch():
            c = self.berth.client()
            while not stop.is_set():
                arns = c.list_tasks(cluster=CLUSTER, serviceName="web")["taskArns"]
                arns += c.list_tasks(cluster=CLUSTER, serviceName="web",
                                     desiredStatus="STOPPED")["taskArns"][:100 - len(arns)]
                n = sum(t["lastStatus"] == "RUNNING" for t in
                        c.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"]) if arns else 0
                seen.append(n)
                time.sleep(0.1)

        w = threading.Thread(target=watch)
        w.start()
        try:
            ecs.update_service(cluster=CLUSTER, service="web", taskDefinition=rev2)
            s = self.stable("web")
        finally:
            stop.set()
            w.join()
        self.assertGreaterEqual(min(seen), 2, "running tasks fell below the floor: %r" % seen)
        self.assertEqual({t["taskDefinitionArn"] for t in self.running("web")}, {rev2})

        # revision 3 cannot start (its image is missing): the circuit breaker rolls back
        rev3 = self.register("story", image="%s/itest/missing:latest" % self.host)
        ecs.update_service(cluster=CLUSTER, service="web", taskDefinition=rev3)
        self.wait_for("the deployment failed", lambda: any(
            "deployment failed: tasks failed to start." in e["message"]
            for e in self.describe("web")["events"]))
        s = self.stable("web")
        self.assertEqual(s["taskDefinition"], rev2)
        self.assertEqual({t["taskDefinitionArn"] for t in self.running("web")}, {rev2})
        self.assertEqual(len(self.running("web")), 4)
        self.assertTrue(any("deployment failed: tasks failed to start." in e["message"]
                            for e in s["events"]))

        # a DAEMON service follows a fourth agent that joins
        ecs.create_service(cluster=CLUSTER, serviceName="dmn", taskDefinition=rev1,
                           schedulingStrategy="DAEMON")
        s = self.stable("dmn")
        self.assertEqual(s["runningCount"], 3)
        self.agents.append(self.new_agent())
        self.wait_for("four daemon tasks", lambda: len(self.running("dmn")) == 4)
        self.assertEqual({t["containerInstanceArn"] for t in self.running("dmn")},
                         {a.instance_arn for a in self.agents})

        # an instance drained: web's tasks move, the daemon's task there stops
        drained = self.agents[0]
        ecs.update_container_instances_state(cluster=CLUSTER,
                                             containerInstances=[drained.instance_arn],
                                             status="DRAINING")
        self.wait_for("nothing on the drained instance", lambda: not [
            t for t in self.running("web") + self.running("dmn")
            if t["containerInstanceArn"] == drained.instance_arn])
        self.assertEqual(self.stable("web")["runningCount"], 4)
        self.assertEqual(self.stable("dmn")["runningCount"], 3)

        # an agent killed with -9: its tasks are replaced elsewhere
        lost = self.agents[1]
        lost_tasks = [t["taskArn"] for t in self.running("web")
                      if t["containerInstanceArn"] == lost.instance_arn]
        lost.kill()
        self.wait_for("agentConnected false", lambda: not ecs.describe_container_instances(
            cluster=CLUSTER, containerInstances=[lost.instance_arn])[
                "containerInstances"][0]["agentConnected"])
        self.wait_for("web whole again elsewhere", lambda: len(
            [t for t in self.running("web") if t["containerInstanceArn"] not in
             (lost.instance_arn, drained.instance_arn)]) == 4)
        for t in ecs.describe_tasks(cluster=CLUSTER, tasks=lost_tasks)["tasks"] if lost_tasks else []:
            self.assertEqual((t["desiredStatus"], t["stopCode"]),
                             ("STOPPED", "ServiceSchedulerInitiated"))
        s = self.stable("web")
        self.assertEqual(s["runningCount"], 4)

        for name in ("web", "dmn"):
            ecs.delete_service(cluster=CLUSTER, service=name, force=True)
        self.wait_for("services INACTIVE", lambda: all(
            self.describe(n)["status"] == "INACTIVE" for n in ("web", "dmn")))


if __name__ == "__main__":
    harness.main()
