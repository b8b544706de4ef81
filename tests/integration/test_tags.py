"""
TagResource, UntagResource and ListTagsForResource on clusters and task
definitions, with the tag rules of the ECS API reference (Tag): at most 50
tags a resource, keys of 1..128 and values of 0..256 characters of letters,
numbers, spaces and + - = . _ : / @, no key starting with aws: in any case.
"""
from botocore.exceptions import ClientError

import harness
from harness import BerthTestCase


def tags_of(n, prefix="k"):
    return [{"key": "%s%02d" % (prefix, i), "value": "v%d" % i} for i in range(n)]


class ClusterTags(BerthTestCase):

    def cluster(self, name, tags=None):
        kw = {"clusterName": name}
        if tags is not None:
            kw["tags"] = tags
        return self.ecs.create_cluster(**kw)["cluster"]["clusterArn"]

    def tags(self, arn):
        return self.ecs.list_tags_for_resource(resourceArn=arn)["tags"]

    def test_tag_list_untag(self):
        arn = self.cluster("tag-basic")
        self.assertEqual(self.tags(arn), [])
        out = self.ecs.tag_resource(resourceArn=arn, tags=[{"key": "a", "value": "1"},
                                                            {"key": "b", "value": "2"}])
        self.assertEqual({k: v for k, v in out.items() if k != "ResponseMetadata"}, {})
        self.assertEqual(sorted(map(str, self.tags(arn))),
                         sorted(map(str, [{"key": "a", "value": "1"}, {"key": "b", "value": "2"}])))
        # an existing key takes the new value; others are left as they are
        self.ecs.tag_resource(resourceArn=arn, tags=[{"key": "a", "value": "one"},
                                                     {"key": "c", "value": ""}])
        got = {t["key"]: t["value"] for t in self.tags(arn)}
        self.assertEqual(got, {"a": "one", "b": "2", "c": ""})
        self.ecs.untag_resource(resourceArn=arn, tagKeys=["b", "not-there"])
        got = {t["key"]: t["value"] for t in self.tags(arn)}
        self.assertEqual(got, {"a": "one", "c": ""})
        # what DescribeClusters says agrees
        d = self.ecs.describe_clusters(clusters=[arn], include=["TAGS"])["clusters"][0]
        self.assertEqual({t["key"]: t["value"] for t in d["tags"]}, got)

    def test_through_cli(self):
        arn = self.cluster("tag-cli")
        rc, out, err = self.berth.aws("ecs", "tag-resource", "--resource-arn", arn,
                                      "--tags", "key=env,value=prod", "key=tier,value=web")
        self.assertEqual(rc, 0, err)
        rc, out, err = self.berth.aws("ecs", "list-tags-for-resource", "--resource-arn", arn)
        self.assertEqual(rc, 0, err)
        self.assertEqual({t["key"]: t["value"] for t in out["tags"]}, {"env": "prod", "tier": "web"})
        rc, out, err = self.berth.aws("ecs", "untag-resource", "--resource-arn", arn,
                                      "--tag-keys", "env")
        self.assertEqual(rc, 0, err)
        self.assertEqual(self.tags(arn), [{"key": "tier", "value": "web"}])

    def test_aws_prefix_refused(self):
        arn = self.cluster("tag-aws")
        for key in ("aws:created", "AWS:x", "Aws:y", "aWs:z"):
            with self.subTest(key=key):
                self.assertClientError("InvalidParameterException", self.ecs.tag_resource,
                                       resourceArn=arn, tags=[{"key": key, "value": "v"}])
        self.assertEqual(self.tags(arn), [])
        # a key merely containing aws: is fine
        self.ecs.tag_resource(resourceArn=arn, tags=[{"key": "my-aws:key", "value": "v"}])
        self.assertEqual(self.tags(arn), [{"key": "my-aws:key", "value": "v"}])

    def test_aws_prefix_refused_at_create(self):
        self.assertClientError("InvalidParameterException", self.ecs.create_cluster,
                               clusterName="tag-aws-create", tags=[{"key": "aws:a", "value": "b"}])

    def test_at_most_50(self):
        arn = self.cluster("tag-50")
        self.assertClientError("InvalidParameterException", self.ecs.tag_resource,
                               resourceArn=arn, tags=tags_of(51))
        self.assertEqual(self.tags(arn), [])
        self.ecs.tag_resource(resourceArn=arn, tags=tags_of(30))
        # 30 + 21 new keys is 51
        self.assertClientError("InvalidParameterException", self.ecs.tag_resource,
                               resourceArn=arn, tags=tags_of(21, "n"))
        self.assertEqual(len(self.tags(arn)), 30)
        # 30 + 20 new keys and 5 changed ones is 50
        self.ecs.tag_resource(resourceArn=arn, tags=tags_of(20, "n") + tags_of(5))
        self.assertEqual(len(self.tags(arn)), 50)
        # a new value for a key it has is fine at 50
        self.ecs.tag_resource(resourceArn=arn, tags=[{"key": "k00", "value": "changed"}])
        got = {t["key"]: t["value"] for t in self.tags(arn)}
        self.assertEqual(len(got), 50)
        self.assertEqual(got["k00"], "changed")

    def test_at_most_50_at_create(self):
        self.assertClientError("InvalidParameterException", self.ecs.create_cluster,
                               clusterName="tag-51-create", tags=tags_of(51))
        arn = self.cluster("tag-50-create", tags_of(50))
        self.assertEqual(len(self.tags(arn)), 50)

    def test_key_and_value_limits(self):
        arn = self.cluster("tag-limits")
        self.ecs.tag_resource(resourceArn=arn, tags=[{"key": "k" * 128, "value": "v" * 256}])
        self.assertEqual(self.tags(arn), [{"key": "k" * 128, "value": "v" * 256}])
        bad = [
            [{"key": "k" * 129, "value": "v"}],
            [{"key": "k", "value": "v" * 257}],
            [{"key": "hash#", "value": "v"}],
            [{"key": "ok", "value": "bang!"}],
            [{"key": "dup", "value": "1"}, {"key": "dup", "value": "2"}],
        ]
        for tags in bad:
            with self.subTest(tags=str(tags)[:60]):
                self.assertClientError("InvalidParameterException", self.ecs.tag_resource,
                                       resourceArn=arn, tags=tags)
        # botocore refuses an empty key itself: send that one by hand
        r = self.berth.request("TagResource", {"resourceArn": arn, "tags": [{"key": "", "value": "v"}]})
        self.assertError(r, "InvalidParameterException", 400)
        self.assertEqual(len(self.tags(arn)), 1)
        # the allowed punctuation, spaces and letters beyond ASCII (counted as characters)
        odd = [{"key": "a b+c-d=e.f_g:h/i@j", "value": "x y+z"},
               {"key": "\u00e9t\u00e9", "value": "\u00fc" * 256}]
        self.ecs.tag_resource(resourceArn=arn, tags=odd)
        got = {t["key"]: t["value"] for t in self.tags(arn)}
        self.assertEqual(got["a b+c-d=e.f_g:h/i@j"], "x y+z")
        self.assertEqual(got["\u00e9t\u00e9"], "\u00fc" * 256)

    def test_bad_arns(self):
        b = self.berth
        for arn in ("not-an-arn", "arn:aws:ecs:%s:%s:bogus/x" % (b.region, b.account_id),
                    "arn:aws:ecs:%s:%s:cluster/" % (b.region, b.account_id),
                    "arn:aws:s3:::bucket", ""):
            with self.subTest(arn=arn):
                self.assertClientError("InvalidParameterException", self.ecs.list_tags_for_resource,
                                       resourceArn=arn)
                self.assertClientError("InvalidParameterException", self.ecs.tag_resource,
                                       resourceArn=arn, tags=[{"key": "a", "value": "b"}])

    def test_concurrent_tagging_loses_nothing(self):
        # 16 clients tag the same cluster at once, each with its own key
        import concurrent.futures
        arn = self.cluster("tag-race")
        clients = [self.berth.client() for _ in range(16)]

        def tag(i):
            clients[i].tag_resource(resourceArn=arn, tags=[{"key": "c%02d" % i, "value": str(i)}])
        with concurrent.futures.ThreadPoolExecutor(16) as ex:
            for f in [ex.submit(tag, i) for i in range(16)]:
                f.result()
        got = {t["key"]: t["value"] for t in self.tags(arn)}
        self.assertEqual(got, {"c%02d" % i: str(i) for i in range(16)})

    def test_missing_cluster(self):
        arn = "arn:aws:ecs:%s:%s:cluster/no-such-cluster" % (self.berth.region, self.berth.account_id)
        self.assertClientError("ClusterNotFoundException", self.ecs.list_tags_for_resource,
                               resourceArn=arn)
        self.assertClientError("ClusterNotFoundException", self.ecs.tag_resource,
                               resourceArn=arn, tags=[{"key": "a", "value": "b"}])
        self.assertClientError("ClusterNotFoundException", self.ecs.untag_resource,
                               resourceArn=arn, tagKeys=["a"])
        res = self.berth.aws("ecs", "list-tags-for-resource", "--resource-arn", arn)
        self.assertCliError(res, "ClusterNotFoundException")


class TaskDefinitionTags(BerthTestCase):

    def register(self, family, tags=None):
        kw = {"family": family,
              "containerDefinitions": [{"name": "app", "image": "busybox", "memory": 64}]}
        if tags:
            kw["tags"] = tags
        try:
            return self.ecs.register_task_definition(**kw)
        except ClientError as e:
            if e.response["Error"]["Code"] == "UnknownOperationException":
                self.skipTest("berth has no RegisterTaskDefinition yet (branch taskdefs)")
            raise

    def test_tag_task_definition(self):
        out = self.register("tagged-td", [{"key": "app", "value": "web"}])
        arn = out["taskDefinition"]["taskDefinitionArn"]
        self.assertEqual(out.get("tags"), [{"key": "app", "value": "web"}])
        self.assertEqual(self.ecs.list_tags_for_resource(resourceArn=arn)["tags"],
                         [{"key": "app", "value": "web"}])
        self.ecs.tag_resource(resourceArn=arn, tags=[{"key": "rev", "value": "1"}])
        self.ecs.untag_resource(resourceArn=arn, tagKeys=["app"])
        self.assertEqual(self.ecs.list_tags_for_resource(resourceArn=arn)["tags"],
                         [{"key": "rev", "value": "1"}])
        d = self.ecs.describe_task_definition(taskDefinition=arn, include=["TAGS"])
        self.assertEqual(d["tags"], [{"key": "rev", "value": "1"}])
        # tags belong to one revision
        arn2 = self.register("tagged-td")["taskDefinition"]["taskDefinitionArn"]
        self.assertTrue(arn2.endswith(":2"), arn2)
        self.assertEqual(self.ecs.list_tags_for_resource(resourceArn=arn2)["tags"], [])

    def test_aws_prefix_and_limit(self):
        arn = self.register("tag-rules-td")["taskDefinition"]["taskDefinitionArn"]
        self.assertClientError("InvalidParameterException", self.ecs.tag_resource,
                               resourceArn=arn, tags=[{"key": "aws:x", "value": "y"}])
        self.assertClientError("InvalidParameterException", self.ecs.tag_resource,
                               resourceArn=arn, tags=tags_of(51))
        self.assertEqual(self.ecs.list_tags_for_resource(resourceArn=arn)["tags"], [])

    def test_missing_revision(self):
        self.register("tag-missing-td")
        b = self.berth
        arn = "arn:aws:ecs:%s:%s:task-definition/tag-missing-td:99" % (b.region, b.account_id)
        # the API reference lists ClientException and, for TagResource,
        # ResourceNotFoundException: either names the mistake
        with self.assertRaises(ClientError) as cm:
            self.ecs.list_tags_for_resource(resourceArn=arn)
        self.assertIn(cm.exception.response["Error"]["Code"],
                      ("ClientException", "ResourceNotFoundException"))
        with self.assertRaises(ClientError) as cm:
            self.ecs.tag_resource(resourceArn=arn, tags=[{"key": "a", "value": "b"}])
        self.assertIn(cm.exception.response["Error"]["Code"],
                      ("ClientException", "ResourceNotFoundException"))


if __name__ == "__main__":
    harness.main()
