"""
Task definitions through the aws CLI (--cli-input-json file://...) and
boto3: RegisterTaskDefinition with every container field a user story
needs, validation, revisions, DescribeTaskDefinition, ListTaskDefinitions,
ListTaskDefinitionFamilies, DeregisterTaskDefinition and
DeleteTaskDefinitions, as the ECS API reference describes them.

Skipped while berth has no RegisterTaskDefinition (branch taskdefs).
"""
import copy
import json
import os
import tempfile

from botocore.exceptions import ClientError

import harness
from harness import BerthTestCase

# a mistake in a task definition: ECS answers ClientException (some checks
# InvalidParameterException)
CLIENTISH = ("ClientException", "InvalidParameterException")

WEB = {
    "name": "web",
    "image": "127.0.0.1:9400/web:1.0",
    "cpu": 256,
    "memory": 512,
    "memoryReservation": 256,
    "portMappings": [{"containerPort": 8080, "hostPort": 8081, "protocol": "tcp"}],
    "essential": True,
    "entryPoint": ["/bin/sh", "-c"],
    "command": ["exec httpd -f -p 8080 -h /srv/www"],
    "environment": [{"name": "MODE", "value": "prod"}, {"name": "EMPTY", "value": ""}],
    "environmentFiles": [{"value": "arn:aws:s3:::berth-config/web.env", "type": "s3"}],
    "workingDirectory": "/srv",
    "user": "1000:1000",
    "healthCheck": {"command": ["CMD-SHELL", "wget -q -O /dev/null http://localhost:8080/ || exit 1"],
                    "interval": 10, "timeout": 3, "retries": 3, "startPeriod": 5},
    "dependsOn": [{"containerName": "init", "condition": "SUCCESS"}],
    "stopTimeout": 20,
    "startTimeout": 60,
    "logConfiguration": {"logDriver": "awslogs",
                         "options": {"awslogs-group": "/berth/web", "awslogs-region": "us-east-1",
                                     "awslogs-stream-prefix": "web"}},
    "mountPoints": [{"sourceVolume": "data", "containerPath": "/srv/data", "readOnly": False}],
    "volumesFrom": [{"sourceContainer": "init", "readOnly": True}],
    "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 4096}],
    "linuxParameters": {"capabilities": {"add": ["NET_ADMIN"], "drop": ["MKNOD"]},
                        "initProcessEnabled": True, "sharedMemorySize": 64,
                        "tmpfs": [{"containerPath": "/run", "size": 16}]},
    "readonlyRootFilesystem": True,
    "privileged": False,
    "dockerLabels": {"com.example.app": "web", "com.example.tier": "front"},
    "links": ["init:setup"],
    "hostname": "web",
    "dnsServers": ["10.0.0.2"],
    "extraHosts": [{"hostname": "db", "ipAddress": "10.0.0.5"}],
    "secrets": [{"name": "DB_PASSWORD",
                 "valueFrom": "arn:aws:ssm:us-east-1:000000000000:parameter/db-password"}],
}
INIT = {"name": "init", "image": "busybox", "memory": 64, "essential": False,
        "command": ["sh", "-c", "mkdir -p /srv/www"]}
FULL = {
    "family": "web-full",
    "executionRoleArn": "arn:aws:iam::000000000000:role/ecsTaskExecutionRole",
    "networkMode": "bridge",
    "cpu": "512",
    "memory": "1024",
    "requiresCompatibilities": ["EC2"],
    "placementConstraints": [{"type": "memberOf", "expression": "attribute:ecs.os-type == linux"}],
    "volumes": [{"name": "data", "host": {"sourcePath": "/srv/data"}},
                {"name": "scratch", "dockerVolumeConfiguration": {"scope": "task", "driver": "local"}}],
    "tags": [{"key": "team", "value": "web"}],
    "containerDefinitions": [WEB, INIT],
}


def simple(family, **extra):
    td = {"family": family,
          "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 32}]}
    td.update(extra)
    return td


class TaskDefinitions(BerthTestCase):

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        try:
            cls.ecs.register_task_definition(**simple("probe"))
        except ClientError as e:
            if e.response["Error"]["Code"] == "UnknownOperationException":
                raise __import__("unittest").SkipTest(
                    "berth has no RegisterTaskDefinition yet (branch taskdefs)")
            raise

    def td_arn(self, family, rev):
        return "arn:aws:ecs:%s:%s:task-definition/%s:%d" % (
            self.berth.region, self.berth.account_id, family, rev)

    def register(self, td):
        return self.ecs.register_task_definition(**td)

    def assertEchoes(self, got, want):
        """Every field of the request comes back as it was sent."""
        for k, v in want.items():
            if k in ("tags", "containerDefinitions"):
                continue
            self.assertEqual(got.get(k), v, "task definition field %s" % k)
        self.assertEqual(len(got["containerDefinitions"]), len(want["containerDefinitions"]))
        by_name = {c["name"]: c for c in got["containerDefinitions"]}
        for c in want["containerDefinitions"]:
            g = by_name[c["name"]]
            for k, v in c.items():
                self.assertEqual(g.get(k), v, "container %s field %s" % (c["name"], k))

    # --- RegisterTaskDefinition ---

    def test_register_everything_boto3(self):
        td = copy.deepcopy(FULL)
        out = self.register(td)
        got = out["taskDefinition"]
        self.assertEqual(got["taskDefinitionArn"], self.td_arn("web-full", 1))
        self.assertEqual(got["family"], "web-full")
        self.assertEqual(got["revision"], 1)
        self.assertEqual(got["status"], "ACTIVE")
        self.assertIn("registeredAt", got)
        self.assertEchoes(got, td)
        self.assertEqual(out["tags"], td["tags"])

    def test_register_everything_cli(self):
        td = copy.deepcopy(FULL)
        td["family"] = "web-full-cli"
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(td, f)
        self.addCleanup(os.unlink, f.name)
        rc, out, err = self.berth.aws("ecs", "register-task-definition",
                                      "--cli-input-json", "file://" + f.name)
        self.assertEqual(rc, 0, err)
        got = out["taskDefinition"]
        self.assertEqual(got["taskDefinitionArn"], self.td_arn("web-full-cli", 1))
        self.assertEchoes(got, td)
        self.assertIsInstance(got["registeredAt"], (int, float))
        # and what DescribeTaskDefinition returns is the same document
        rc, d, err = self.berth.aws("ecs", "describe-task-definition", "--task-definition",
                                    "web-full-cli:1", "--include", "TAGS")
        self.assertEqual(rc, 0, err)
        self.assertEqual(d["taskDefinition"], got)
        self.assertEqual(d["tags"], td["tags"])

    def test_network_modes(self):
        for mode in ("bridge", "host", "awsvpc", "none"):
            with self.subTest(mode=mode):
                td = {"family": "net-" + mode, "networkMode": mode,
                      "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 32}]}
                got = self.register(td)["taskDefinition"]
                self.assertEqual(got["networkMode"], mode)

    def assertRefused(self, td, family=None):
        with self.assertRaises(ClientError) as cm:
            self.register(td)
        code = cm.exception.response["Error"]["Code"]
        self.assertIn(code, CLIENTISH, cm.exception.response)
        self.assertEqual(cm.exception.response["ResponseMetadata"]["HTTPStatusCode"], 400)
        return cm.exception

    def test_validation(self):
        def td_with(**container):
            c = {"name": "app", "image": "busybox", "memory": 64}
            c.update(container)
            return {"family": "refused", "containerDefinitions": [c]}

        no_memory = {"family": "refused",
                     "containerDefinitions": [{"name": "app", "image": "busybox"}]}
        cases = {
            "no memory anywhere": no_memory,
            "memoryReservation over memory": td_with(memory=64, memoryReservation=128),
            "no essential container": td_with(essential=False),
            "duplicate names": {"family": "refused", "containerDefinitions": [
                {"name": "app", "image": "busybox", "memory": 32},
                {"name": "app", "image": "busybox", "memory": 32}]},
            "no containers": {"family": "refused", "containerDefinitions": []},
            "bad family": dict(td_with(), family="bad family!"),
            "family too long": dict(td_with(), family="f" * 256),
            "bad container name": td_with(name="no spaces"),
            "no image": {"family": "refused",
                         "containerDefinitions": [{"name": "app", "memory": 32}]},
            "bad network mode": dict(td_with(), networkMode="overlay"),
            "unknown dependsOn": td_with(dependsOn=[{"containerName": "ghost",
                                                     "condition": "START"}]),
            "unknown volume": td_with(mountPoints=[{"sourceVolume": "nope",
                                                   "containerPath": "/x"}]),
            "zero memory": td_with(memory=0),
            "bad protocol": td_with(portMappings=[{"containerPort": 80, "protocol": "sctp"}]),
            "port out of range": td_with(portMappings=[{"containerPort": 70000}]),
            "tags with aws: prefix": dict(td_with(), tags=[{"key": "aws:x", "value": "y"}]),
        }
        for what, td in cases.items():
            with self.subTest(what):
                self.assertRefused(td)
        # a refused request stores nothing
        fams = self.ecs.list_task_definition_families(familyPrefix="refused", status="ALL")
        self.assertEqual(fams["families"], [])
        self.assertEqual(self.ecs.list_task_definitions(familyPrefix="refused",
                                                        status="INACTIVE")["taskDefinitionArns"], [])
        with self.assertRaises(ClientError) as cm:
            self.ecs.describe_task_definition(taskDefinition="refused")
        self.assertIn(cm.exception.response["Error"]["Code"], CLIENTISH)
        # and the first good registration of the family is revision 1
        got = self.register(simple("refused"))["taskDefinition"]
        self.assertEqual(got["revision"], 1)

    def test_task_level_memory_is_enough(self):
        td = {"family": "task-mem", "memory": "256",
              "containerDefinitions": [{"name": "app", "image": "busybox"}]}
        got = self.register(td)["taskDefinition"]
        self.assertEqual(got["memory"], "256")

    def test_memory_reservation_alone_is_enough(self):
        td = {"family": "soft-mem",
              "containerDefinitions": [{"name": "app", "image": "busybox", "memoryReservation": 64}]}
        got = self.register(td)["taskDefinition"]
        self.assertEqual(got["containerDefinitions"][0]["memoryReservation"], 64)

    # --- revisions, describe ---

    def test_revisions_per_family(self):
        revs = [self.register(simple("rev-a"))["taskDefinition"]["revision"] for _ in range(3)]
        self.assertEqual(revs, [1, 2, 3])
        self.assertEqual(self.register(simple("rev-b"))["taskDefinition"]["revision"], 1)
        self.assertEqual(self.register(simple("rev-a"))["taskDefinition"]["revision"], 4)

    def test_concurrent_registrations_get_distinct_revisions(self):
        import concurrent.futures
        clients = [self.berth.client() for _ in range(8)]

        def reg(i):
            return [clients[i].register_task_definition(**simple("race"))["taskDefinition"]["revision"]
                    for _ in range(5)]
        with concurrent.futures.ThreadPoolExecutor(8) as ex:
            revs = [r for f in [ex.submit(reg, i) for i in range(8)] for r in f.result()]
        self.assertEqual(sorted(revs), list(range(1, 41)))
        arns = self.ecs.get_paginator("list_task_definitions").paginate(
            familyPrefix="race").build_full_result()["taskDefinitionArns"]
        self.assertEqual(arns, [self.td_arn("race", n) for n in range(1, 41)])

    def test_describe_forms(self):
        for i in range(2):
            self.register(simple("desc", tags=[{"key": "n", "value": str(i + 1)}],
                                 cpu=str(128 * (i + 1))))
        latest = self.ecs.describe_task_definition(taskDefinition="desc")["taskDefinition"]
        self.assertEqual(latest["revision"], 2)
        self.assertEqual(latest["cpu"], "256")
        first = self.ecs.describe_task_definition(taskDefinition="desc:1")
        self.assertEqual(first["taskDefinition"]["revision"], 1)
        self.assertNotIn("tags", {k: v for k, v in first.items() if v})
        by_arn = self.ecs.describe_task_definition(taskDefinition=self.td_arn("desc", 1),
                                                   include=["TAGS"])
        self.assertEqual(by_arn["taskDefinition"], first["taskDefinition"])
        self.assertEqual(by_arn["tags"], [{"key": "n", "value": "1"}])
        for ref in ("desc:3", "nope", "nope:1", self.td_arn("desc", 9), "desc:0", "desc:x"):
            with self.subTest(ref=ref):
                with self.assertRaises(ClientError) as cm:
                    self.ecs.describe_task_definition(taskDefinition=ref)
                self.assertIn(cm.exception.response["Error"]["Code"], CLIENTISH)

    # --- listing ---

    def test_list_filters_sort_pagination(self):
        b = self.new_berth()
        ecs = b.client()
        for fam, n in (("alpha", 3), ("alpha-two", 2), ("beta", 4)):
            for _ in range(n):
                ecs.register_task_definition(**simple(fam))
        arn = lambda f, r: "arn:aws:ecs:%s:%s:task-definition/%s:%d" % (b.region, b.account_id, f, r)
        all_asc = ([arn("alpha", r) for r in (1, 2, 3)] + [arn("alpha-two", r) for r in (1, 2)]
                   + [arn("beta", r) for r in (1, 2, 3, 4)])
        self.assertEqual(ecs.list_task_definitions()["taskDefinitionArns"], all_asc)
        self.assertEqual(ecs.list_task_definitions(sort="DESC")["taskDefinitionArns"],
                         list(reversed(all_asc)))
        # familyPrefix is a whole family name here
        self.assertEqual(ecs.list_task_definitions(familyPrefix="alpha")["taskDefinitionArns"],
                         [arn("alpha", r) for r in (1, 2, 3)])
        self.assertEqual(ecs.list_task_definitions(familyPrefix="alpha", sort="DESC")
                         ["taskDefinitionArns"], [arn("alpha", r) for r in (3, 2, 1)])
        # pagination: CLI --page-size and boto3's paginator
        rc, out, err = b.aws("ecs", "list-task-definitions", "--page-size", "2")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out["taskDefinitionArns"], all_asc)
        pages = list(ecs.get_paginator("list_task_definitions").paginate(
            sort="DESC", PaginationConfig={"PageSize": 4}))
        self.assertEqual([len(p["taskDefinitionArns"]) for p in pages], [4, 4, 1])
        self.assertEqual([a for p in pages for a in p["taskDefinitionArns"]], list(reversed(all_asc)))
        for n in (0, 101):
            self.assertClientError("InvalidParameterException", ecs.list_task_definitions,
                                   maxResults=n)
        self.assertClientError("InvalidParameterException", ecs.list_task_definitions,
                               nextToken="garbage")

        # families: familyPrefix is a prefix there
        fams = ecs.list_task_definition_families()["families"]
        self.assertEqual(fams, ["alpha", "alpha-two", "beta"])
        self.assertEqual(ecs.list_task_definition_families(familyPrefix="alpha")["families"],
                         ["alpha", "alpha-two"])
        pages = list(ecs.get_paginator("list_task_definition_families").paginate(
            PaginationConfig={"PageSize": 2}))
        self.assertEqual([f for p in pages for f in p["families"]], ["alpha", "alpha-two", "beta"])
        rc, out, err = b.aws("ecs", "list-task-definition-families", "--page-size", "1")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out["families"], ["alpha", "alpha-two", "beta"])

        # status filters after deregistering every revision of alpha-two
        for r in (1, 2):
            ecs.deregister_task_definition(taskDefinition="alpha-two:%d" % r)
        self.assertEqual(ecs.list_task_definition_families(status="ACTIVE")["families"],
                         ["alpha", "beta"])
        self.assertEqual(ecs.list_task_definition_families(status="INACTIVE")["families"],
                         ["alpha-two"])
        self.assertEqual(ecs.list_task_definition_families(status="ALL")["families"],
                         ["alpha", "alpha-two", "beta"])
        self.assertEqual(ecs.list_task_definitions(status="INACTIVE")["taskDefinitionArns"],
                         [arn("alpha-two", 1), arn("alpha-two", 2)])
        self.assertNotIn(arn("alpha-two", 1), ecs.list_task_definitions()["taskDefinitionArns"])

    # --- deregister, delete ---

    def test_deregister_and_delete(self):
        for _ in range(3):
            self.register(simple("dereg"))
        out = self.ecs.deregister_task_definition(taskDefinition="dereg:2")["taskDefinition"]
        self.assertEqual(out["status"], "INACTIVE")
        self.assertEqual(out["revision"], 2)
        d = self.ecs.describe_task_definition(taskDefinition="dereg:2")["taskDefinition"]
        self.assertEqual(d["status"], "INACTIVE")
        self.assertIn("deregisteredAt", d)
        # the family's latest ACTIVE revision is what the bare name means
        self.assertEqual(self.ecs.describe_task_definition(taskDefinition="dereg")
                         ["taskDefinition"]["revision"], 3)
        self.assertEqual(self.ecs.list_task_definitions(familyPrefix="dereg")["taskDefinitionArns"],
                         [self.td_arn("dereg", 1), self.td_arn("dereg", 3)])

        # only an INACTIVE revision can be deleted
        res = self.ecs.delete_task_definitions(taskDefinitions=["dereg:2", "dereg:3"])
        self.assertEqual([t["taskDefinitionArn"] for t in res["taskDefinitions"]],
                         [self.td_arn("dereg", 2)])
        self.assertEqual(res["taskDefinitions"][0]["status"], "DELETE_IN_PROGRESS")
        self.assertEqual([f["arn"] for f in res["failures"]], [self.td_arn("dereg", 3)])
        self.assertNotIn(self.td_arn("dereg", 2),
                         self.ecs.list_task_definitions(familyPrefix="dereg", status="INACTIVE")
                         ["taskDefinitionArns"])
        # revision numbers are never reused
        self.assertEqual(self.register(simple("dereg"))["taskDefinition"]["revision"], 4)

    def test_deregister_through_cli(self):
        self.register(simple("dereg-cli"))
        rc, out, err = self.berth.aws("ecs", "deregister-task-definition", "--task-definition",
                                      self.td_arn("dereg-cli", 1))
        self.assertEqual(rc, 0, err)
        self.assertEqual(out["taskDefinition"]["status"], "INACTIVE")
        res = self.berth.aws("ecs", "deregister-task-definition", "--task-definition", "dereg-cli:7")
        rc, _, err = res
        self.assertNotEqual(rc, 0)
        self.assertRegex(err, r"\((ClientException|InvalidParameterException)\)")


if __name__ == "__main__":
    harness.main()
