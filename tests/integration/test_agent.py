"""
berth agent end to end: a real `berth server` with its registry, a real
`berth agent` on this machine running containers with runc, driven with
boto3 and the aws CLI as a user of ECS would: register a task definition
whose image was pushed to the server with skopeo, RunTask, wait for the
task, StopTask, and read what DescribeTasks says about it.

What a container did is read back from its exit code (`sh -c 'test ...'`),
so the tests need no log shipping. Every container, shim, mount and
directory is removed at the end (harness.Agent.cleanup).
"""
import io
import http.server
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time

import tarfile

import harness
from harness import Agent, Berth, BerthTestCase

sys.path.insert(0, os.path.join(harness.ROOT, "tests", "images"))
import build  # noqa: E402

CLUSTER = "itest"
IMGDIR = None


def setUpModule():
    global IMGDIR
    IMGDIR = tempfile.mkdtemp(prefix="berth-itest-agent-images-")
    build.write_layout(os.path.join(IMGDIR, "oci"), {"latest": build.image("oci")})
    os.makedirs(os.path.join(IMGDIR, "home"))


def tearDownModule():
    if IMGDIR:
        shutil.rmtree(IMGDIR, ignore_errors=True)


def skopeo_env():
    return harness.skopeo_env(os.path.join(IMGDIR, "home"))


def push_image(berth, layout, ref):
    """skopeo copy the image tagged latest in OCI layout to ref, on berth's registry."""
    rc, pw, err = berth.aws("ecr", "get-login-password")
    assert rc == 0, err
    p = subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", "--dest-creds",
                        "AWS:" + pw.strip(), "oci:%s:latest" % layout, "docker://" + ref],
                       env=skopeo_env(), capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode()


def runc_available():
    return shutil.which("runc") is not None and os.geteuid() == 0


class AgentTest(BerthTestCase):
    shared_server = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not runc_available():
            raise harness.unittest.SkipTest("needs root and runc")
        cls.berth = Berth(extra_args=["--registry-create-on-push"])
        cls.berth.start()
        cls.addClassCleanup(cls.berth.cleanup)
        cls.ecs = cls.berth.client("ecs")
        cls.ecs.create_cluster(clusterName=CLUSTER)
        cls.host = "127.0.0.1:%d" % cls.berth.port
        cls.image = "%s/itest/busybox:latest" % cls.host
        push_image(cls.berth, os.path.join(IMGDIR, "oci"), cls.image)
        cls.agent = Agent(cls.berth, cluster=CLUSTER)
        cls.addClassCleanup(cls.agent.cleanup)
        cls.agent.start()

    # --- helpers ---

    def register(self, family, containers, **kw):
        for c in containers:
            c.setdefault("image", self.image)
            c.setdefault("memory", 64)
        r = self.ecs.register_task_definition(family=family, containerDefinitions=containers,
                                              **kw)
        return r["taskDefinition"]["taskDefinitionArn"]

    def run_task(self, td, **kw):
        r = self.ecs.run_task(cluster=CLUSTER, taskDefinition=td, **kw)
        self.assertEqual(r["failures"], [])
        self.assertEqual(len(r["tasks"]), 1)
        return r["tasks"][0]["taskArn"]

    def wait(self, arn, waiter, timeout=90):
        self.ecs.get_waiter(waiter).wait(cluster=CLUSTER, tasks=[arn],
                                        WaiterConfig={"Delay": 1, "MaxAttempts": timeout})
        return self.describe(arn)

    def describe(self, arn):
        r = self.ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])
        self.assertEqual(r["failures"], [])
        return r["tasks"][0]

    def remaining(self):
        r = self.ecs.describe_container_instances(cluster=CLUSTER,
                                                  containerInstances=[self.agent.instance_arn])
        ci = r["containerInstances"][0]
        return {x["name"]: x.get("integerValue") for x in ci["remainingResources"]}, ci

    def runc_ids(self):
        root = os.path.join(self.agent.data_dir, "runc")
        if not os.path.isdir(root):
            return []
        p = subprocess.run(["runc", "--root", root, "list", "-q"], capture_output=True,
                           timeout=30)
        return p.stdout.decode().split()

    # --- tests ---

    def test_registration(self):
        res, ci = self.remaining()
        self.assertTrue(ci["agentConnected"])
        self.assertEqual(ci["status"], "ACTIVE")
        reg = {x["name"]: x for x in ci["registeredResources"]}
        self.assertEqual(reg["CPU"]["integerValue"], os.cpu_count() * 1024)
        self.assertGreater(reg["MEMORY"]["integerValue"], 0)
        self.assertIn("22", reg["PORTS"]["stringSetValue"])
        attrs = {a["name"]: a.get("value") for a in ci["attributes"]}
        self.assertEqual(attrs["ecs.os-type"], "linux")
        self.assertIn("ecs.cpu-architecture", attrs)
        self.assertEqual(ci["versionInfo"]["agentVersion"].split(".")[0], "0")

    def test_exit_code_and_essential(self):
        td = self.register("exit3", [{"name": "main", "command": ["sh", "-c", "exit 3"]}])
        before, _ = self.remaining()
        arn = self.run_task(td)
        t = self.wait(arn, "tasks_stopped")
        self.assertEqual(t["lastStatus"], "STOPPED")
        self.assertEqual(t["desiredStatus"], "STOPPED")
        self.assertEqual(t["stopCode"], "EssentialContainerExited")
        self.assertEqual(t["stoppedReason"], "Essential container in task exited")
        c = t["containers"][0]
        self.assertEqual(c["lastStatus"], "STOPPED")
        self.assertEqual(c["exitCode"], 3)
        self.assertTrue(c.get("runtimeId"))
        self.assertTrue(c.get("imageDigest", "").startswith("sha256:"))
        self.assertLessEqual(t["pullStartedAt"], t["pullStoppedAt"])
        self.assertLessEqual(t["pullStoppedAt"], t["stoppedAt"])
        # resources are released once the task has stopped
        deadline = time.monotonic() + 10
        while self.remaining()[0] != before and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertEqual(self.remaining()[0], before)
        # and the container is gone from the host
        deadline = time.monotonic() + 10
        while c["runtimeId"] in self.runc_ids() and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertNotIn(c["runtimeId"], self.runc_ids())
        # the agent keeps nothing of a task it reported STOPPED: no record, no container dir
        task_id = arn.rsplit("/", 1)[1]
        record = os.path.join(self.agent.data_dir, "tasks", task_id + ".json")
        cdir = os.path.join(self.agent.data_dir, "containers", c["runtimeId"])
        deadline = time.monotonic() + 10
        while (os.path.exists(record) or os.path.exists(cdir)) and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertFalse(os.path.exists(record), record)
        self.assertFalse(os.path.exists(cdir), cdir)

    def test_environment_and_overrides(self):
        td = self.register("envcheck", [{
            "name": "main",
            "command": ["sh", "-c", 'test "$FOO" = from-def && exit 10 || exit 11'],
            "environment": [{"name": "FOO", "value": "from-def"}],
        }])
        t = self.wait(self.run_task(td), "tasks_stopped")
        self.assertEqual(t["containers"][0]["exitCode"], 10)
        over = {"containerOverrides": [{
            "name": "main",
            "command": ["sh", "-c", 'test "$FOO" = over && test "$BAR" = b && exit 20 || exit 21'],
            "environment": [{"name": "FOO", "value": "over"}, {"name": "BAR", "value": "b"}],
        }]}
        t = self.wait(self.run_task(td, overrides=over), "tasks_stopped")
        self.assertEqual(t["containers"][0]["exitCode"], 20)
        self.assertEqual(t["overrides"]["containerOverrides"][0]["name"], "main")

    def test_run_and_stop(self):
        td = self.register("sleeper", [{
            "name": "main",
            "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"],
        }])
        arn = self.run_task(td)
        t = self.wait(arn, "tasks_running")
        self.assertEqual(t["lastStatus"], "RUNNING")
        self.assertIn("startedAt", t)
        self.assertEqual(t["containers"][0]["lastStatus"], "RUNNING")
        self.assertIn(t["containers"][0]["runtimeId"], self.runc_ids())
        self.ecs.stop_task(cluster=CLUSTER, task=arn, reason="itest stops it")
        t = self.wait(arn, "tasks_stopped", timeout=60)
        self.assertEqual(t["stopCode"], "UserInitiated")
        self.assertEqual(t["stoppedReason"], "itest stops it")
        self.assertEqual(t["containers"][0]["exitCode"], 0)

    def test_stop_timeout_kills(self):
        # PID 1 ignoring SIGTERM is killed after stopTimeout
        td = self.register("stubborn", [{
            "name": "main", "stopTimeout": 2,
            "command": ["sh", "-c", "trap '' TERM; while true; do sleep 1; done"],
        }])
        arn = self.run_task(td)
        self.wait(arn, "tasks_running")
        t0 = time.monotonic()
        self.ecs.stop_task(cluster=CLUSTER, task=arn)
        t = self.wait(arn, "tasks_stopped", timeout=60)
        self.assertGreaterEqual(time.monotonic() - t0, 2)
        self.assertEqual(t["containers"][0]["exitCode"], 137)

    def test_depends_on_and_non_essential(self):
        td = self.register("ordered", [
            {"name": "init", "essential": False, "command": ["sh", "-c", "exit 0"]},
            {"name": "app", "command": ["sh", "-c", "exit 5"],
             "dependsOn": [{"containerName": "init", "condition": "SUCCESS"}]},
        ])
        t = self.wait(self.run_task(td), "tasks_stopped")
        codes = {c["name"]: c.get("exitCode") for c in t["containers"]}
        self.assertEqual(codes, {"init": 0, "app": 5})
        self.assertEqual(t["stopCode"], "EssentialContainerExited")

    def test_pull_failure(self):
        td = self.register("nopull", [{"name": "main",
                                       "image": "%s/itest/missing:latest" % self.host}])
        t = self.wait(self.run_task(td), "tasks_stopped")
        self.assertEqual(t["stopCode"], "TaskFailedToStart")
        self.assertTrue(t["stoppedReason"].startswith("CannotPullContainerError"),
                        t["stoppedReason"])
        self.assertNotIn("exitCode", t["containers"][0])

    def test_start_timeout(self):
        """A container waited for that runs past its startTimeout stops the task (ECS's agent)."""
        td = self.register("starttimeout", [
            {"name": "slow", "essential": False, "startTimeout": 2,
             "command": ["sh", "-c", "trap 'exit 0' TERM; sleep 60 & wait; exit 7"]},
            {"name": "main", "command": ["sh", "-c", "exit 0"],
             "dependsOn": [{"containerName": "slow", "condition": "COMPLETE"}]}])
        t = self.wait(self.run_task(td), "tasks_stopped")
        c = {x["name"]: x for x in t["containers"]}
        self.assertTrue(t["stoppedReason"].startswith("DependencyConditionNotMet"), t)
        self.assertTrue(c["main"].get("reason", "").startswith("DependencyConditionNotMet"), t)
        self.assertNotIn("exitCode", c["main"])
        # slow was stopped (its TERM trap), it did not run to its end (7)
        self.assertEqual(c["slow"].get("exitCode"), 0, t)

    def test_stalled_registry_and_missing_attribute(self):
        """
        A registry that never answers fails the task with CannotPullContainerError
        after the agent's inactivity timeout and its retries; a definition needing an
        attribute the agent does not advertise is not placed (ATTRIBUTE).
        """
        stall = threading.Event()

        class Stalling(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                stall.wait(120)

            def log_message(self, *a):
                pass

        srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stalling)
        srv.daemon_threads = True
        threading.Thread(target=srv.serve_forever, daemon=True).start()

        def close():
            stall.set()
            srv.shutdown()
            srv.server_close()
        self.addCleanup(close)
        agent = Agent(self.berth, cluster=CLUSTER,
                      extra_args=["--image-pull-inactivity-timeout", "1"])
        # the other tests place on the class's agent alone: deregistered once
        # it has stopped (cleanups run last first), as a running agent exits
        # with an error when its instance is deregistered under it
        self.addCleanup(lambda: self.ecs.deregister_container_instance(
            cluster=CLUSTER, containerInstance=agent.instance_arn, force=True))
        self.addCleanup(agent.cleanup)
        agent.start()
        td = self.register("stalled", [{
            "name": "main", "image": "127.0.0.1:%d/itest/stalled:latest" % srv.server_port}])
        r = self.ecs.start_task(cluster=CLUSTER, taskDefinition=td,
                                containerInstances=[agent.instance_arn])
        self.assertEqual(r["failures"], [])
        t = self.wait(r["tasks"][0]["taskArn"], "tasks_stopped")
        self.assertEqual(t["stopCode"], "TaskFailedToStart")
        self.assertTrue(t["stoppedReason"].startswith("CannotPullContainerError"),
                        t["stoppedReason"])
        self.assertIn("nothing received for 1 s: the server stalled", t["stoppedReason"])
        # task-iam-role is not something berth's agent does
        td = self.register("role", [{"name": "main"}],
                           taskRoleArn="arn:aws:iam::000000000000:role/app")
        r = self.ecs.run_task(cluster=CLUSTER, taskDefinition=td)
        self.assertEqual(r["tasks"], [])
        self.assertEqual({f["reason"] for f in r["failures"]}, {"ATTRIBUTE"})
        self.assertIn(agent.instance_arn, {f["arn"] for f in r["failures"]})

    def test_volumes(self):
        host_dir = tempfile.mkdtemp(prefix="berth-itest-volume-")
        self.addCleanup(shutil.rmtree, host_dir, True)
        td = self.register("volumes", [
            {"name": "writer", "essential": False,
             "command": ["sh", "-c", "echo hi > /data/f && echo x > /host/out"],
             "mountPoints": [{"sourceVolume": "scratch", "containerPath": "/data"},
                             {"sourceVolume": "hostdir", "containerPath": "/host"}]},
            {"name": "reader",
             "command": ["sh", "-c", 'test "$(cat /data/f)" = hi || exit 1; '
                                     'touch /data/g 2>/dev/null && exit 2; exit 6'],
             "volumesFrom": [{"sourceContainer": "writer", "readOnly": True}],
             "dependsOn": [{"containerName": "writer", "condition": "COMPLETE"}]},
        ], volumes=[{"name": "scratch"}, {"name": "hostdir", "host": {"sourcePath": host_dir}}])
        t = self.wait(self.run_task(td), "tasks_stopped")
        codes = {c["name"]: c.get("exitCode") for c in t["containers"]}
        self.assertEqual(codes, {"writer": 0, "reader": 6})
        with open(os.path.join(host_dir, "out")) as f:
            self.assertEqual(f.read(), "x\n")
        task_id = t["taskArn"].rsplit("/", 1)[1]
        vols = os.path.join(self.agent.data_dir, "volumes", task_id)
        deadline = time.monotonic() + 10
        while os.path.exists(vols) and time.monotonic() < deadline:
            time.sleep(0.2)
        self.assertFalse(os.path.exists(vols), "the task's volumes were left behind")

    def test_health_checks(self):
        td = self.register("health", [
            {"name": "app",
             "command": ["sh", "-c", "touch /tmp/ok; trap 'exit 0' TERM; "
                                     "while true; do sleep 1; done"],
             "healthCheck": {"command": ["CMD-SHELL", "test -f /tmp/ok"], "interval": 5,
                             "timeout": 2, "retries": 2}},
            {"name": "sick", "essential": False,
             "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"],
             "healthCheck": {"command": ["CMD", "/bin/sh", "-c", "exit 1"], "interval": 5,
                             "timeout": 2, "retries": 1}},
            {"name": "after", "essential": False, "command": ["sh", "-c", "exit 0"],
             "dependsOn": [{"containerName": "app", "condition": "HEALTHY"}]},
        ])
        arn = self.run_task(td)
        self.wait(arn, "tasks_running")
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            t = self.describe(arn)
            health = {c["name"]: c.get("healthStatus") for c in t["containers"]}
            after = [c for c in t["containers"] if c["name"] == "after"][0]
            if health["app"] == "HEALTHY" and health["sick"] == "UNHEALTHY" and \
                    "exitCode" in after:
                break
            time.sleep(0.5)
        self.assertEqual(health["app"], "HEALTHY")
        self.assertEqual(health["sick"], "UNHEALTHY")
        # the task's health is its essential containers'
        self.assertEqual(t["healthStatus"], "HEALTHY")
        # "after" waited for app to be healthy, then ran
        self.assertEqual(after.get("exitCode"), 0)
        self.ecs.stop_task(cluster=CLUSTER, task=arn)
        self.wait(arn, "tasks_stopped")

    def test_health_check_timeout_kills_its_processes(self):
        """A check past its timeout is killed with what it started, nothing lingers."""
        def count(marker):
            n = 0
            for pid in os.listdir("/proc"):
                if not pid.isdigit():
                    continue
                try:
                    with open("/proc/%s/cmdline" % pid, "rb") as f:
                        if f.read() == b"sleep\0" + marker + b"\0":
                            n += 1
                except OSError:
                    pass
            return n

        td = self.register("hang", [{
            "name": "app",
            "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"],
            # a background child and a foreground one, both far past the timeout
            "healthCheck": {"command": ["CMD-SHELL", "sleep 7321 & sleep 7322"],
                            "interval": 5, "timeout": 2, "retries": 1}}])
        arn = self.run_task(td)
        self.wait(arn, "tasks_running")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.describe(arn)["containers"][0].get("healthStatus") == "UNHEALTHY":
                break
            time.sleep(0.5)
        self.assertEqual(self.describe(arn)["containers"][0].get("healthStatus"), "UNHEALTHY")
        # two more checks time out; at any moment at most the running check's two are there
        # (a check's processes that lingered would add up, two a check)
        most = 0
        end = time.monotonic() + 12
        while time.monotonic() < end:
            most = max(most, count(b"7321"), count(b"7322"))
            time.sleep(0.2)
        self.assertLessEqual(most, 1)
        self.ecs.stop_task(cluster=CLUSTER, task=arn)
        self.wait(arn, "tasks_stopped")
        self.assertEqual((count(b"7321"), count(b"7322")), (0, 0))

    def test_out_of_memory(self):
        td = self.register("hog", [{
            "name": "main", "memory": 16,
            "command": ["sh", "-c", "x=$(busybox head -c 268435456 /dev/zero | busybox tr "
                                    "'\\0' a); exit 0"],
        }])
        t = self.wait(self.run_task(td), "tasks_stopped")
        c = t["containers"][0]
        self.assertEqual(c["exitCode"], 137, t)
        self.assertEqual(c["reason"], "OutOfMemoryError: Container killed due to memory usage")
        self.assertEqual(t["stopCode"], "EssentialContainerExited")

    @staticmethod
    def children(pid):
        """{child pid: state letter} of the processes whose parent is pid."""
        out = {}
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % d) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if int(fields[1]) == pid:
                out[int(d)] = fields[0]
        return out

    def test_init_process(self):
        # linuxParameters.initProcessEnabled: berth-init is the container's pid 1 and
        # the command its child; the orphans the command leaves are re-parented to it
        # and reaped when they end; SIGTERM reaches the command, whose exit code is
        # the container's
        td = self.register("with-init", [{
            "name": "main", "stopTimeout": 30,
            "linuxParameters": {"initProcessEnabled": True},
            "command": ["sh", "-c", "trap 'exit 42' TERM; for i in 1 2 3; do (sleep 3 &); done; "
                                    "while true; do sleep 1; done"],
        }])
        arn = self.run_task(td)
        t = self.wait(arn, "tasks_running")
        rid = t["containers"][0]["runtimeId"]
        with open(os.path.join(self.agent.data_dir, "containers", rid, "started")) as f:
            init = json.load(f)["pid"]
        with open("/proc/%d/cmdline" % init, "rb") as f:
            self.assertEqual(f.read().split(b"\0")[:2], [b"/dev/init", b"--"])
        # the three orphaned sleeps are the init's children beside sh, for a while
        deadline = time.monotonic() + 30
        while len(self.children(init)) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        self.assertGreaterEqual(len(self.children(init)), 4, self.children(init))
        # once they end, none stays behind as a zombie: only sh is left
        while len(self.children(init)) > 1 and time.monotonic() < deadline + 30:
            time.sleep(0.1)
        kids = self.children(init)
        self.assertEqual(len(kids), 1, kids)
        self.assertNotIn("Z", kids.values())
        t0 = time.monotonic()
        self.ecs.stop_task(cluster=CLUSTER, task=arn)
        t = self.wait(arn, "tasks_stopped", timeout=60)
        # SIGTERM, not the SIGKILL 30 s later (137)
        self.assertEqual(t["containers"][0]["exitCode"], 42, t)
        self.assertLess(time.monotonic() - t0, 30)

    def push_layout(self, name, img):
        path = os.path.join(IMGDIR, name)
        build.write_layout(path, {"latest": img})
        ref = "%s/itest/%s:latest" % (self.host, name)
        push_image(self.berth, path, ref)
        return ref

    def test_malicious_layers_write_nothing_outside(self):
        outside = tempfile.mkdtemp(prefix="berth-itest-outside-")
        self.addCleanup(shutil.rmtree, outside, True)
        cases = {
            "dotdot": [("../../../../../../%s/dotdot" % outside.lstrip("/"), "file")],
            "abs-symlink": [("evil", "symlink", outside), ("evil/pwned", "file")],
            "rel-symlink": [("up", "symlink", "../../../../../../../.." + outside),
                            ("up/pwned2", "file")],
            "hardlink": [("hl", "link", "../../../../../../etc/passwd")],
        }
        for name, entries in cases.items():
            img = build.single("oci", _layers=build.layers() + [evil_layer(entries)])
            ref = self.push_layout("evil-" + name, img)
            td = self.register("evil-" + name, [{"name": "main", "image": ref,
                                                 "command": ["sh", "-c", "exit 0"]}])
            t = self.wait(self.run_task(td), "tasks_stopped")
            self.assertEqual(t["stopCode"], "TaskFailedToStart", (name, t))
            self.assertTrue(t["stoppedReason"].startswith("CannotPullContainerError"),
                            (name, t["stoppedReason"]))
        self.assertEqual(os.listdir(outside), [])
        layers_tmp = os.path.join(self.agent.data_dir, "layers", "sha256")
        self.assertEqual([n for n in os.listdir(layers_tmp) if n.startswith(".tmp")], [])

    def test_agent_restart_keeps_containers(self):
        td = self.register("survivor", [{
            "name": "main",
            "command": ["sh", "-c", "trap 'exit 7' TERM; while true; do sleep 1; done"],
        }])
        arn = self.run_task(td)
        t = self.wait(arn, "tasks_running")
        rid = t["containers"][0]["runtimeId"]
        # a crash: the container keeps running under its shim
        self.agent.kill()
        self.assertIn(rid, self.runc_ids())
        self.assertTrue(self.agent.shims())
        self.agent.start()
        self.assertEqual(self.describe(arn)["lastStatus"], "RUNNING")
        self.ecs.stop_task(cluster=CLUSTER, task=arn)
        t = self.wait(arn, "tasks_stopped", timeout=60)
        self.assertEqual(t["containers"][0]["exitCode"], 7)
        self.assertNotIn(rid, self.runc_ids())

    def test_exit_while_agent_away(self):
        td = self.register("quick", [{"name": "main",
                                      "command": ["sh", "-c", "sleep 2; exit 9"]}])
        arn = self.run_task(td)
        self.wait(arn, "tasks_running")
        self.agent.stop()
        time.sleep(3)
        self.assertEqual(self.describe(arn)["lastStatus"], "RUNNING")
        self.agent.start()
        t = self.wait(arn, "tasks_stopped")
        self.assertEqual(t["containers"][0]["exitCode"], 9)


class CrunTest(BerthTestCase):
    """
    --runtime crun: a task runs, exits with its code, stops on StopTask, is
    killed at its memory limit, passes and fails its health checks (crun
    exec). Skipped, saying so, when crun is not installed.
    """

    shared_server = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not runc_available():
            raise harness.unittest.SkipTest("needs root and runc")
        if shutil.which("crun") is None:
            raise harness.unittest.SkipTest("crun is not installed (Debian package crun)")
        cls.berth = Berth(extra_args=["--registry-create-on-push"])
        cls.berth.start()
        cls.addClassCleanup(cls.berth.cleanup)
        cls.ecs = cls.berth.client("ecs")
        cls.ecs.create_cluster(clusterName=CLUSTER)
        cls.image = "127.0.0.1:%d/itest/busybox:latest" % cls.berth.port
        push_image(cls.berth, os.path.join(IMGDIR, "oci"), cls.image)
        cls.agent = Agent(cls.berth, cluster=CLUSTER, extra_args=["--runtime", "crun"])
        cls.addClassCleanup(cls.agent.cleanup)
        cls.agent.start()

    register, run_task, wait, describe = (AgentTest.register, AgentTest.run_task,
                                          AgentTest.wait, AgentTest.describe)
    # the memory limit holds under crun too (its cgroups are v1's, as runc's here)
    test_out_of_memory = AgentTest.test_out_of_memory
    test_health_checks = AgentTest.test_health_checks
    test_health_check_timeout_kills_its_processes = \
        AgentTest.test_health_check_timeout_kills_its_processes

    def test_task_runs_under_crun(self):
        td = self.register("crun", [
            {"name": "main", "memory": 32,
             "command": ["sh", "-c", "test -x /bin/busybox && echo hi; exit 3"]}])
        t = self.wait(self.run_task(td), "tasks_stopped")
        c = t["containers"][0]
        self.assertEqual(c.get("exitCode"), 3, t)
        self.assertEqual(t["stopCode"], "EssentialContainerExited")
        # a long one, stopped
        td = self.register("crun-long", [
            {"name": "main", "memory": 32,
             "command": ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]}])
        arn = self.run_task(td)
        self.wait(arn, "tasks_running")
        self.ecs.stop_task(cluster=CLUSTER, task=arn)
        t = self.wait(arn, "tasks_stopped")
        self.assertEqual(t["containers"][0].get("exitCode"), 0, t)


def evil_layer(entries):
    """A layer (build.Layer's shape) from (name, kind[, target]) entries, made as an attacker would."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tf:
        for e in entries:
            ti = tarfile.TarInfo(e[0])
            ti.mtime = 0
            if e[1] == "symlink":
                ti.type, ti.linkname = tarfile.SYMTYPE, e[2]
                tf.addfile(ti)
            elif e[1] == "link":
                ti.type, ti.linkname = tarfile.LNKTYPE, e[2]
                tf.addfile(ti)
            else:
                data = b"written by a malicious layer\n"
                ti.size = len(data)
                tf.addfile(ti, io.BytesIO(data))
    layer = build.Layer.__new__(build.Layer)
    layer.tar = out.getvalue()
    layer.gz = build._gzip(layer.tar)
    layer.diff_id = build.sha256(layer.tar)
    layer.digest = build.sha256(layer.gz)
    layer.size = len(layer.gz)
    return layer


class TwoAgentsTest(BerthTestCase):
    """A server on a fixed port with two agents, killed with -9 and restarted."""

    shared_server = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not runc_available():
            raise harness.unittest.SkipTest("needs root and runc")
        cls.port = harness.free_port()
        cls.berth = Berth(extra_args=["--registry-create-on-push", "--listen",
                                      "127.0.0.1:%d" % cls.port])
        cls.berth.start()
        cls.addClassCleanup(cls.berth.cleanup)
        cls.ecs = cls.berth.client("ecs")
        cls.ecs.create_cluster(clusterName=CLUSTER)
        cls.host = "127.0.0.1:%d" % cls.port
        cls.image = "%s/itest/busybox:latest" % cls.host
        push_image(cls.berth, os.path.join(IMGDIR, "oci"), cls.image)
        cls.agents = []
        for _ in range(2):
            a = Agent(cls.berth, cluster=CLUSTER)
            cls.addClassCleanup(a.cleanup)
            a.start()
            cls.agents.append(a)

    register = AgentTest.register
    run_task = AgentTest.run_task
    wait = AgentTest.wait
    describe = AgentTest.describe

    def test_spread_then_server_crash(self):
        td = self.register("pair", [{
            "name": "main",
            "command": ["sh", "-c", "trap 'exit 8' TERM; while true; do sleep 1; done"],
        }])
        r = self.ecs.run_task(cluster=CLUSTER, taskDefinition=td, count=4)
        self.assertEqual(r["failures"], [])
        arns = [t["taskArn"] for t in r["tasks"]]
        on = {}
        for t in r["tasks"]:
            on.setdefault(t["containerInstanceArn"], []).append(t["taskArn"])
        self.assertEqual(sorted(len(v) for v in on.values()), [2, 2])
        self.ecs.get_waiter("tasks_running").wait(cluster=CLUSTER, tasks=arns,
                                                 WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        # kill -9 the server; the tasks run on; it comes back on the same port
        self.berth.kill()
        time.sleep(1)
        self.berth.start()
        for t in self.ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"]:
            self.assertEqual(t["lastStatus"], "RUNNING")
        for a in self.agents:
            self.assertEqual(len(a.shims()), 2)
        # the agents reconnect and act on StopTask; nothing started twice
        for arn in arns:
            self.ecs.stop_task(cluster=CLUSTER, task=arn)
        self.ecs.get_waiter("tasks_stopped").wait(cluster=CLUSTER, tasks=arns,
                                                 WaiterConfig={"Delay": 1, "MaxAttempts": 90})
        for t in self.ecs.describe_tasks(cluster=CLUSTER, tasks=arns)["tasks"]:
            self.assertEqual(t["containers"][0]["exitCode"], 8)
        for a in self.agents:
            self.assertEqual(a.shims(), [])
        ci = self.ecs.describe_container_instances(
            cluster=CLUSTER, containerInstances=[a.instance_arn for a in self.agents])
        for c in ci["containerInstances"]:
            self.assertTrue(c["agentConnected"])
            self.assertEqual(c["runningTasksCount"], 0)


if __name__ == "__main__":
    harness.main()
