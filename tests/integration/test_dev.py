"""
`berth dev`: the server and an agent in one process. The first lines of
the story: start it, push an image to its registry, register a task
definition, run a task in the cluster "default" (which its agent created),
and read the container's exit code back; then stop it with SIGTERM.
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

import harness
from harness import Berth, BerthTestCase

sys.path.insert(0, os.path.join(harness.ROOT, "tests", "images"))
import build  # noqa: E402


class DevTest(BerthTestCase):
    shared_server = False

    def setUp(self):
        if os.geteuid() != 0 or not shutil.which("runc"):
            self.skipTest("berth dev's agent needs root and runc")
        self.images = tempfile.mkdtemp(prefix="berth-itest-dev-images-")
        self.addCleanup(shutil.rmtree, self.images, True)
        build.write_layout(os.path.join(self.images, "oci"), {"latest": build.image("oci")})

    def test_story_start(self):
        b = Berth(command="dev", extra_args=["--registry-create-on-push"])
        self.addCleanup(b.cleanup)
        # what a failed test may leave: containers under DATA-DIR/agent
        self.addCleanup(harness.remove_containers, os.path.join(b.data_dir, "agent"), b.tmp)
        # and its network, should it be left: berth dev's agent has the default bridge
        self.addCleanup(harness.remove_network, "berth0")
        b.start()
        ecs = b.client()
        deadline = time.monotonic() + 20
        arns = []
        while time.monotonic() < deadline and not arns:
            try:
                arns = ecs.list_container_instances(cluster="default")["containerInstanceArns"]
            except Exception:
                pass
            time.sleep(0.2)
        self.assertEqual(len(arns), 1, b.log_tail())
        rc, pw, err = b.aws("ecr", "get-login-password")
        self.assertEqual(rc, 0, err)
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["HOME"] = self.images
        image = "127.0.0.1:%d/app:v1" % b.port
        p = subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", "--dest-creds",
                            "AWS:" + pw.strip(),
                            "oci:%s:latest" % os.path.join(self.images, "oci"),
                            "docker://" + image], env=env, capture_output=True, timeout=120)
        self.assertEqual(p.returncode, 0, p.stderr.decode())
        ecs.register_task_definition(family="app", containerDefinitions=[
            {"name": "app", "image": image, "memory": 32,
             "command": ["sh", "-c", "test -f /www/index.html && exit 4"]}])
        arn = ecs.run_task(taskDefinition="app")["tasks"][0]["taskArn"]
        ecs.get_waiter("tasks_stopped").wait(tasks=[arn],
                                             WaiterConfig={"Delay": 1, "MaxAttempts": 60})
        t = ecs.describe_tasks(tasks=[arn])["tasks"][0]
        self.assertEqual(t["containers"][0]["exitCode"], 4, t)
        self.assertEqual(t["stopCode"], "EssentialContainerExited")


if __name__ == "__main__":
    harness.main()
