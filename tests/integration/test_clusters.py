"""
Clusters through boto3 and the aws CLI: CreateCluster, DescribeClusters,
ListClusters (and both clients' automatic pagination), UpdateCluster,
UpdateClusterSettings and DeleteCluster, as the ECS API reference
describes them.
"""
import base64

import harness
from harness import BerthTestCase

INSIGHTS_ON = [{"name": "containerInsights", "value": "enabled"}]
EXEC_CONFIG = {"executeCommandConfiguration": {"logging": "DEFAULT"}}


class Clusters(BerthTestCase):

    def arn(self, name, b=None):
        b = b or self.berth
        return "arn:aws:ecs:%s:%s:cluster/%s" % (b.region, b.account_id, name)

    # --- CreateCluster ---

    def test_create_default(self):
        c = self.ecs.create_cluster()["cluster"]
        self.assertEqual(c["clusterName"], "default")
        self.assertEqual(c["clusterArn"], self.arn("default"))
        self.assertEqual(c["status"], "ACTIVE")
        for k in ("registeredContainerInstancesCount", "runningTasksCount", "pendingTasksCount",
                  "activeServicesCount"):
            self.assertEqual(c[k], 0, k)

    def test_create_with_tags_and_settings(self):
        tags = [{"key": "team", "value": "infra"}, {"key": "empty", "value": ""}]
        c = self.ecs.create_cluster(clusterName="tagged", tags=tags, settings=INSIGHTS_ON,
                                    configuration=EXEC_CONFIG)["cluster"]
        self.assertEqual(c["clusterName"], "tagged")
        self.assertEqual(c["tags"], tags)
        self.assertEqual(c["settings"], INSIGHTS_ON)
        d = self.ecs.describe_clusters(clusters=["tagged"],
                                       include=["TAGS", "SETTINGS", "CONFIGURATIONS"])["clusters"][0]
        self.assertEqual(d["tags"], tags)
        self.assertEqual(d["settings"], INSIGHTS_ON)
        self.assertEqual(d["configuration"], EXEC_CONFIG)

    def test_create_through_cli(self):
        rc, out, err = self.berth.aws("ecs", "create-cluster", "--cluster-name", "from-cli",
                                      "--tags", "key=owner,value=cli",
                                      "--settings", "name=containerInsights,value=enabled")
        self.assertEqual(rc, 0, err)
        c = out["cluster"]
        self.assertEqual(c["clusterArn"], self.arn("from-cli"))
        self.assertEqual(c["tags"], [{"key": "owner", "value": "cli"}])
        self.assertEqual(c["settings"], INSIGHTS_ON)

    def test_create_is_idempotent(self):
        a = self.ecs.create_cluster(clusterName="twice")["cluster"]
        b = self.ecs.create_cluster(clusterName="twice")["cluster"]
        self.assertEqual(a["clusterArn"], b["clusterArn"])
        self.assertEqual(b["status"], "ACTIVE")
        arns = self.ecs.list_clusters()["clusterArns"]
        self.assertEqual(arns.count(self.arn("twice")), 1)

    def test_invalid_names(self):
        for name in ("has space", "bang!", "a" * 256, "caf\u00e9", "slash/name", "dot.name"):
            with self.subTest(name=name):
                self.assertClientError("InvalidParameterException", self.ecs.create_cluster,
                                       clusterName=name)
        # the longest valid name
        c = self.ecs.create_cluster(clusterName="A-_9" * 63 + "xyz")["cluster"]
        self.assertEqual(len(c["clusterName"]), 255)

    def test_refused_create_stores_nothing(self):
        self.assertClientError("InvalidParameterException", self.ecs.create_cluster,
                               clusterName="refused-tags", tags=[{"key": "aws:x", "value": "y"}])
        d = self.ecs.describe_clusters(clusters=["refused-tags"])
        self.assertEqual(d["clusters"], [])
        self.assertEqual(d["failures"], [{"arn": self.arn("refused-tags"), "reason": "MISSING"}])

    def test_create_bad_setting(self):
        for s in ([{"name": "containerInsights", "value": "sometimes"}],
                  [{"name": "noSuchSetting", "value": "enabled"}]):
            with self.subTest(settings=s):
                self.assertClientError("InvalidParameterException", self.ecs.create_cluster,
                                       clusterName="bad-setting", settings=s)

    # --- DescribeClusters ---

    def test_describe_includes(self):
        tags = [{"key": "k", "value": "v"}]
        self.ecs.create_cluster(clusterName="incl", tags=tags, settings=INSIGHTS_ON,
                                configuration=EXEC_CONFIG)
        plain = self.ecs.describe_clusters(clusters=["incl"])["clusters"][0]
        self.assertFalse(plain.get("tags"), "tags without include TAGS: %r" % plain)
        self.assertFalse(plain.get("statistics"), plain)
        self.assertNotIn("settings", plain)
        self.assertNotIn("configuration", plain)

        full = self.ecs.describe_clusters(
            clusters=["incl"], include=["TAGS", "SETTINGS", "STATISTICS", "CONFIGURATIONS"])
        self.assertEqual(full["failures"], [])
        c = full["clusters"][0]
        self.assertEqual(c["tags"], tags)
        self.assertEqual(c["settings"], INSIGHTS_ON)
        self.assertEqual(c["configuration"], EXEC_CONFIG)
        self.assertTrue(c["statistics"])
        stats = {s["name"]: s["value"] for s in c["statistics"]}
        for v in stats.values():
            self.assertRegex(v, r"^[0-9]+$")
        self.assertEqual(stats.get("runningEC2TasksCount"), "0", stats)

        only_tags = self.ecs.describe_clusters(clusters=["incl"], include=["TAGS"])["clusters"][0]
        self.assertEqual(only_tags["tags"], tags)
        self.assertNotIn("settings", only_tags)

    def test_describe_by_name_and_arn_with_missing(self):
        self.ecs.create_cluster(clusterName="present")
        other_region = "arn:aws:ecs:ap-south-1:%s:cluster/present" % self.berth.account_id
        d = self.ecs.describe_clusters(clusters=["present", self.arn("present"), "absent",
                                                 self.arn("absent-too"), other_region])
        self.assertEqual([c["clusterArn"] for c in d["clusters"]],
                         [self.arn("present"), self.arn("present")])
        self.assertEqual(d["failures"], [
            {"arn": self.arn("absent"), "reason": "MISSING"},
            {"arn": self.arn("absent-too"), "reason": "MISSING"},
            {"arn": other_region, "reason": "MISSING"},
        ])

    def test_describe_through_cli(self):
        self.ecs.create_cluster(clusterName="cli-desc", tags=[{"key": "a", "value": "b"}])
        rc, out, err = self.berth.aws("ecs", "describe-clusters", "--clusters", "cli-desc",
                                      "missing-one", "--include", "TAGS", "STATISTICS")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out["clusters"][0]["tags"], [{"key": "a", "value": "b"}])
        self.assertEqual(out["failures"], [{"arn": self.arn("missing-one"), "reason": "MISSING"}])

    def test_describe_over_100(self):
        self.assertClientError("InvalidParameterException", self.ecs.describe_clusters,
                               clusters=["c%d" % i for i in range(101)])

    # --- ListClusters ---

    def test_list_pagination(self):
        b = self.new_berth()
        ecs = b.client()
        names = ["page-%02d" % i for i in range(25)]
        for n in names:
            ecs.create_cluster(clusterName=n)
        want = sorted(self.arn(n, b) for n in names)

        # the CLI follows nextToken by itself; --page-size sets maxResults
        rc, out, err = b.aws("ecs", "list-clusters", "--page-size", "7")
        self.assertEqual(rc, 0, err)
        self.assertEqual(sorted(out["clusterArns"]), want)
        self.assertEqual(len(out["clusterArns"]), 25)
        self.assertNotIn("nextToken", out)

        # boto3's paginator: pages of 7, 7, 7, 4, each token new
        pages = list(ecs.get_paginator("list_clusters").paginate(PaginationConfig={"PageSize": 7}))
        self.assertEqual([len(p["clusterArns"]) for p in pages], [7, 7, 7, 4])
        tokens = [p.get("nextToken") for p in pages]
        self.assertEqual(len(set(tokens[:-1])), 3)
        self.assertIsNone(tokens[-1])
        got = [a for p in pages for a in p["clusterArns"]]
        self.assertEqual(sorted(got), want)
        self.assertEqual(len(set(got)), 25)

        # MaxItems across pages resumes where it stopped
        first = ecs.get_paginator("list_clusters").paginate(
            PaginationConfig={"PageSize": 7, "MaxItems": 10}).build_full_result()
        self.assertEqual(len(first["clusterArns"]), 10)
        rest = ecs.get_paginator("list_clusters").paginate(
            PaginationConfig={"PageSize": 7, "StartingToken": first["NextToken"]}).build_full_result()
        self.assertEqual(sorted(first["clusterArns"] + rest["clusterArns"]), want)

        # the default page holds up to 100
        self.assertEqual(sorted(ecs.list_clusters()["clusterArns"]), want)
        # exactly a page's worth: no token
        full = ecs.list_clusters(maxResults=25)
        self.assertEqual(len(full["clusterArns"]), 25)
        self.assertNotIn("nextToken", full)

    def test_list_skips_deleted_in_pages(self):
        b = self.new_berth()
        ecs = b.client()
        for i in range(6):
            ecs.create_cluster(clusterName="d%d" % i)
        for i in (1, 2, 4):
            ecs.delete_cluster(cluster="d%d" % i)
        got = []
        for p in ecs.get_paginator("list_clusters").paginate(PaginationConfig={"PageSize": 2}):
            self.assertLessEqual(len(p["clusterArns"]), 2)
            got += p["clusterArns"]
        self.assertEqual(sorted(got), [self.arn(n, b) for n in ("d0", "d3", "d5")])

    def test_list_bad_max_results(self):
        for n in (0, 101, -1):
            with self.subTest(maxResults=n):
                self.assertClientError("InvalidParameterException", self.ecs.list_clusters,
                                       maxResults=n)

    def test_list_garbage_token(self):
        forged = base64.urlsafe_b64encode(b"service/x/y").decode()
        for token in ("garbage", "!!!!", forged, "A" * 5000):
            with self.subTest(token=token[:20]):
                self.assertClientError("InvalidParameterException", self.ecs.list_clusters,
                                       nextToken=token)

    # --- UpdateCluster, UpdateClusterSettings ---

    def test_update_cluster(self):
        self.ecs.create_cluster(clusterName="upd")
        c = self.ecs.update_cluster(cluster="upd", settings=INSIGHTS_ON,
                                    configuration=EXEC_CONFIG)["cluster"]
        self.assertEqual(c["clusterArn"], self.arn("upd"))
        self.assertEqual(c["settings"], INSIGHTS_ON)
        self.assertEqual(c["configuration"], EXEC_CONFIG)
        d = self.ecs.describe_clusters(clusters=[self.arn("upd")],
                                       include=["SETTINGS", "CONFIGURATIONS"])["clusters"][0]
        self.assertEqual(d["settings"], INSIGHTS_ON)
        self.assertEqual(d["configuration"], EXEC_CONFIG)

    def test_update_cluster_settings(self):
        self.ecs.create_cluster(clusterName="sett")
        d = self.ecs.describe_clusters(clusters=["sett"], include=["SETTINGS"])["clusters"][0]
        self.assertEqual(d["settings"], [{"name": "containerInsights", "value": "disabled"}])
        rc, out, err = self.berth.aws("ecs", "update-cluster-settings", "--cluster", "sett",
                                      "--settings", "name=containerInsights,value=enabled")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out["cluster"]["settings"], INSIGHTS_ON)
        d = self.ecs.describe_clusters(clusters=["sett"], include=["SETTINGS"])["clusters"][0]
        self.assertEqual(d["settings"], INSIGHTS_ON)

    def test_update_cluster_settings_bad_value(self):
        self.ecs.create_cluster(clusterName="sett-bad")
        self.assertClientError("InvalidParameterException", self.ecs.update_cluster_settings,
                               cluster="sett-bad",
                               settings=[{"name": "containerInsights", "value": "maybe"}])
        d = self.ecs.describe_clusters(clusters=["sett-bad"], include=["SETTINGS"])["clusters"][0]
        self.assertEqual(d["settings"], [{"name": "containerInsights", "value": "disabled"}])

    # --- DeleteCluster ---

    def test_delete_and_recreate(self):
        self.ecs.create_cluster(clusterName="gone", tags=[{"key": "a", "value": "1"}])
        c = self.ecs.delete_cluster(cluster="gone")["cluster"]
        self.assertEqual(c["status"], "INACTIVE")
        self.assertEqual(c["clusterArn"], self.arn("gone"))
        d = self.ecs.describe_clusters(clusters=["gone"])
        self.assertEqual(d["failures"], [])
        self.assertEqual(d["clusters"][0]["status"], "INACTIVE")
        self.assertNotIn(self.arn("gone"), self.ecs.list_clusters()["clusterArns"])
        c = self.ecs.create_cluster(clusterName="gone")["cluster"]
        self.assertEqual(c["status"], "ACTIVE")
        self.assertIn(self.arn("gone"), self.ecs.list_clusters()["clusterArns"])

    def test_delete_through_cli_by_arn(self):
        self.ecs.create_cluster(clusterName="cli-del")
        rc, out, err = self.berth.aws("ecs", "delete-cluster", "--cluster", self.arn("cli-del"))
        self.assertEqual(rc, 0, err)
        self.assertEqual(out["cluster"]["status"], "INACTIVE")

    def test_missing_cluster(self):
        calls = [
            (self.ecs.delete_cluster, {"cluster": "never-was"}),
            (self.ecs.update_cluster, {"cluster": "never-was", "settings": INSIGHTS_ON}),
            (self.ecs.update_cluster_settings, {"cluster": "never-was", "settings": INSIGHTS_ON}),
            (self.ecs.delete_cluster, {"cluster": self.arn("never-was")}),
        ]
        for fn, kw in calls:
            with self.subTest(fn=fn.__name__, **kw):
                self.assertClientError("ClusterNotFoundException", fn, **kw)
        res = self.berth.aws("ecs", "delete-cluster", "--cluster", "never-was")
        self.assertCliError(res, "ClusterNotFoundException")

    def test_update_deleted_cluster(self):
        self.ecs.create_cluster(clusterName="upd-gone")
        self.ecs.delete_cluster(cluster="upd-gone")
        self.assertClientError("ClusterNotFoundException", self.ecs.update_cluster_settings,
                               cluster="upd-gone", settings=INSIGHTS_ON)


if __name__ == "__main__":
    harness.main()
