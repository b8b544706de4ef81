"""
What berth answered survives the server: after `kill -9` (and after a
clean stop) a server started on the same data directory has every cluster
and task definition revision, and goes on numbering revisions where it was.
"""
from botocore.exceptions import ClientError

import harness
from harness import BerthTestCase


class Restart(BerthTestCase):

    shared_server = False

    def test_task_definition_revisions_survive_kill_9(self):
        b = self.new_berth()
        ecs = b.client()
        td = {"family": "many",
              "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 32,
                                        "environment": [{"name": "N", "value": "0"}]}]}
        try:
            ecs.register_task_definition(**td)
        except ClientError as e:
            if e.response["Error"]["Code"] == "UnknownOperationException":
                self.skipTest("berth has no RegisterTaskDefinition yet (branch taskdefs)")
            raise
        for n in range(2, 201):
            td["containerDefinitions"][0]["environment"][0]["value"] = str(n)
            got = ecs.register_task_definition(**td)["taskDefinition"]["revision"]
            self.assertEqual(got, n)
        ecs.deregister_task_definition(taskDefinition="many:7")

        self.assertEqual(b.kill(), -9)
        b.start()
        ecs = b.client()

        arns = ecs.get_paginator("list_task_definitions").paginate(
            familyPrefix="many", status="ACTIVE").build_full_result()["taskDefinitionArns"]
        want = ["arn:aws:ecs:%s:%s:task-definition/many:%d" % (b.region, b.account_id, n)
                for n in range(1, 201) if n != 7]
        self.assertEqual(arns, want)
        inactive = ecs.list_task_definitions(familyPrefix="many", status="INACTIVE")
        self.assertEqual([a.rsplit(":", 1)[1] for a in inactive["taskDefinitionArns"]], ["7"])
        d = ecs.describe_task_definition(taskDefinition="many:150")["taskDefinition"]
        self.assertEqual(d["containerDefinitions"][0]["environment"], [{"name": "N", "value": "150"}])
        self.assertEqual(ecs.describe_task_definition(taskDefinition="many")["taskDefinition"]
                         ["revision"], 200)
        nxt = ecs.register_task_definition(**td)["taskDefinition"]
        self.assertEqual(nxt["revision"], 201)
        self.assertEqual(nxt["taskDefinitionArn"],
                         "arn:aws:ecs:%s:%s:task-definition/many:201" % (b.region, b.account_id))

    def test_clusters_survive_kill_9(self):
        b = self.new_berth()
        ecs = b.client()
        for i in range(5):
            ecs.create_cluster(clusterName="keep-%d" % i, tags=[{"key": "i", "value": str(i)}],
                               settings=[{"name": "containerInsights", "value": "enabled"}])
        ecs.delete_cluster(cluster="keep-3")
        ecs.tag_resource(resourceArn=ecs.describe_clusters(clusters=["keep-1"])["clusters"][0]
                         ["clusterArn"], tags=[{"key": "late", "value": "yes"}])
        before = ecs.describe_clusters(clusters=["keep-%d" % i for i in range(5)],
                                       include=["TAGS", "SETTINGS"])["clusters"]

        self.assertEqual(b.kill(), -9)
        b.start()
        ecs = b.client()

        after = ecs.describe_clusters(clusters=["keep-%d" % i for i in range(5)],
                                      include=["TAGS", "SETTINGS"])
        self.assertEqual(after["failures"], [])
        self.assertEqual(after["clusters"], before)
        self.assertEqual([c["status"] for c in after["clusters"]],
                         ["ACTIVE", "ACTIVE", "ACTIVE", "INACTIVE", "ACTIVE"])
        self.assertEqual(after["clusters"][1]["tags"],
                         [{"key": "i", "value": "1"}, {"key": "late", "value": "yes"}])
        arns = ecs.list_clusters()["clusterArns"]
        self.assertEqual(sorted(a.rsplit("/", 1)[1] for a in arns),
                         ["keep-0", "keep-1", "keep-2", "keep-4"])

    def test_clean_stop_and_restart(self):
        b = self.new_berth()
        ecs = b.client()
        ecs.create_cluster(clusterName="before-stop")
        self.assertEqual(b.stop(), 0, "berth server did not exit 0 on SIGTERM:\n" + b.log_tail())
        b.start()
        ecs = b.client()
        d = ecs.describe_clusters(clusters=["before-stop"])
        self.assertEqual(d["clusters"][0]["status"], "ACTIVE")
        # and it keeps taking writes
        ecs.create_cluster(clusterName="after-restart")
        self.assertEqual(len(ecs.list_clusters()["clusterArns"]), 2)

    def test_two_servers_cannot_share_a_data_dir(self):
        # a second server on a data directory in use must not corrupt it: it
        # either refuses to start or serves the same state
        b = self.new_berth()
        b.client().create_cluster(clusterName="shared")
        b2 = harness.Berth()
        self.addCleanup(b2.cleanup)
        b2.data_dir = b.data_dir
        try:
            b2.start()
        except harness.ServerError:
            return
        d = b2.client().describe_clusters(clusters=["shared"])
        self.assertEqual(d["clusters"][0]["clusterName"], "shared")


if __name__ == "__main__":
    harness.main()
