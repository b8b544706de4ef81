"""
Container instances through boto3 and the aws CLI, as an agent and a user
see them: RegisterContainerInstance with ECS's resources, describing and
listing (filters, pagination), draining, attributes, tags,
deregistration, and what the cluster says about its instances
(registeredContainerInstancesCount, DeleteCluster refused while any is
registered).
"""
import harness
from harness import BerthTestCase

PORTS = ["22", "2375", "2376", "51678", "51679"]
RESOURCES = [
    {"name": "CPU", "type": "INTEGER", "integerValue": 2048},
    {"name": "MEMORY", "type": "INTEGER", "integerValue": 3900},
    {"name": "PORTS", "type": "STRINGSET", "stringSetValue": PORTS},
    {"name": "PORTS_UDP", "type": "STRINGSET", "stringSetValue": []},
]


def resource(ci, kind, name):
    return next(r for r in ci[kind] if r["name"] == name)


class ContainerInstances(BerthTestCase):

    def register(self, cluster, **kw):
        return self.ecs.register_container_instance(cluster=cluster, totalResources=RESOURCES,
                                                    **kw)["containerInstance"]

    def cluster_count(self, cluster):
        c = self.ecs.describe_clusters(clusters=[cluster])["clusters"][0]
        return c["registeredContainerInstancesCount"]

    def test_lifecycle(self):
        ecs = self.ecs
        ecs.create_cluster(clusterName="ci-life")
        a = self.register("ci-life", versionInfo={"agentVersion": "0.1.0"},
                          attributes=[{"name": "ecs.cpu-architecture", "value": "x86_64"},
                                      {"name": "stack", "value": "prod"}],
                          tags=[{"key": "team", "value": "infra"}])
        b = self.register("ci-life", instanceIdentityDocument='{"instanceId": "host-b"}',
                          attributes=[{"name": "stack", "value": "dev"}])
        prefix = "arn:aws:ecs:%s:%s:container-instance/ci-life/" % (self.berth.region,
                                                                    self.berth.account_id)
        for ci in (a, b):
            self.assertTrue(ci["containerInstanceArn"].startswith(prefix))
            self.assertEqual(len(ci["containerInstanceArn"]) - len(prefix), 32)
            self.assertEqual(ci["status"], "ACTIVE")
            self.assertTrue(ci["agentConnected"])
            self.assertEqual(ci["runningTasksCount"], 0)
            self.assertEqual(ci["pendingTasksCount"], 0)
            self.assertEqual(ci["version"], 1)
            self.assertEqual(resource(ci, "registeredResources", "CPU")["integerValue"], 2048)
            self.assertEqual(resource(ci, "remainingResources", "MEMORY")["integerValue"], 3900)
            self.assertEqual(resource(ci, "remainingResources", "PORTS")["stringSetValue"], PORTS)
            self.assertIn({"name": "ecs.os-type", "value": "linux"}, ci["attributes"])
            self.assertNotIn("agentUpdateStatus", ci)
        self.assertTrue(a["ec2InstanceId"].startswith("i-"))
        self.assertEqual(b["ec2InstanceId"], "host-b")
        self.assertEqual(a["versionInfo"], {"agentVersion": "0.1.0"})
        self.assertEqual(a["tags"], [{"key": "team", "value": "infra"}])
        self.assertEqual(self.cluster_count("ci-life"), 2)

        # describe by ARN and by id, one missing
        arn_a, arn_b = a["containerInstanceArn"], b["containerInstanceArn"]
        d = ecs.describe_container_instances(
            cluster="ci-life", containerInstances=[arn_a, arn_b.rsplit("/", 1)[1], "0" * 32],
            include=["TAGS", "CONTAINER_INSTANCE_HEALTH"])
        self.assertEqual([c["containerInstanceArn"] for c in d["containerInstances"]],
                         [arn_a, arn_b])
        self.assertEqual(d["containerInstances"][0]["tags"], a["tags"])
        self.assertEqual(d["containerInstances"][0]["healthStatus"]["overallStatus"], "OK")
        self.assertEqual(d["failures"], [{"arn": prefix + "0" * 32, "reason": "MISSING"}])

        # list, filtered
        lst = lambda **kw: sorted(ecs.list_container_instances(cluster="ci-life", **kw)
                                  ["containerInstanceArns"])
        self.assertEqual(lst(), sorted([arn_a, arn_b]))
        self.assertEqual(lst(filter="attribute:stack == prod"), [arn_a])
        self.assertEqual(lst(filter="attribute:ecs.cpu-architecture exists"), [arn_a])
        self.assertEqual(lst(filter="runningTasksCount > 1"), [])
        self.assertEqual(lst(filter="attribute:stack =~ (prod|dev)"), sorted([arn_a, arn_b]))
        self.assertEqual(lst(filter="attribute:stack in [dev, qa] or attribute:stack !exists"),
                         [arn_b])
        self.assertClientError("InvalidParameterException", ecs.list_container_instances,
                               cluster="ci-life", filter="attribute:stack ==")

        # drain one
        u = ecs.update_container_instances_state(cluster="ci-life", containerInstances=[arn_b],
                                                 status="DRAINING")
        self.assertEqual(u["containerInstances"][0]["status"], "DRAINING")
        self.assertEqual(lst(status="DRAINING"), [arn_b])
        self.assertEqual(lst(status="ACTIVE"), [arn_a])
        self.assertEqual(self.cluster_count("ci-life"), 2)

        # the cluster cannot go while instances are registered
        self.assertClientError("ClusterContainsContainerInstancesException", ecs.delete_cluster,
                               cluster="ci-life")
        for arn in (arn_a, arn_b):
            ci = ecs.deregister_container_instance(cluster="ci-life",
                                                   containerInstance=arn)["containerInstance"]
            self.assertEqual(ci["status"], "INACTIVE")
        self.assertEqual(lst(), [])
        d = ecs.describe_container_instances(cluster="ci-life", containerInstances=[arn_a])
        self.assertEqual(d["containerInstances"][0]["status"], "INACTIVE")
        self.assertEqual(self.cluster_count("ci-life"), 0)
        ecs.delete_cluster(cluster="ci-life")

    def test_pagination(self):
        b = self.new_berth()
        ecs = b.client()
        ecs.create_cluster(clusterName="ci-pages")
        arns = sorted(ecs.register_container_instance(cluster="ci-pages", totalResources=RESOURCES)
                      ["containerInstance"]["containerInstanceArn"] for _ in range(7))
        pages = list(ecs.get_paginator("list_container_instances").paginate(
            cluster="ci-pages", PaginationConfig={"PageSize": 3}))
        self.assertEqual([len(p["containerInstanceArns"]) for p in pages], [3, 3, 1])
        self.assertEqual(sorted(a for p in pages for a in p["containerInstanceArns"]), arns)
        rc, out, err = b.aws("ecs", "list-container-instances", "--cluster", "ci-pages",
                             "--page-size", "2")
        self.assertEqual(rc, 0, err)
        self.assertEqual(sorted(out["containerInstanceArns"]), arns)
        # ListAttributes pages too: each instance has ecs.os-type
        pages = list(ecs.get_paginator("list_attributes").paginate(
            cluster="ci-pages", targetType="container-instance", PaginationConfig={"PageSize": 4}))
        self.assertEqual([len(p["attributes"]) for p in pages], [4, 3])

    def test_attributes_and_tags(self):
        ecs = self.ecs
        ecs.create_cluster(clusterName="ci-attrs")
        arn = self.register("ci-attrs")["containerInstanceArn"]
        ecs.put_attributes(cluster="ci-attrs",
                           attributes=[{"name": "zone", "value": "a", "targetId": arn}])
        got = ecs.list_attributes(cluster="ci-attrs", targetType="container-instance",
                                  attributeName="zone")["attributes"]
        self.assertEqual(got, [{"name": "zone", "value": "a", "targetType": "container-instance",
                                "targetId": arn}])
        self.assertClientError("TargetNotFoundException", ecs.put_attributes, cluster="ci-attrs",
                               attributes=[{"name": "x", "targetId": "0" * 32,
                                            "targetType": "container-instance"}])
        self.assertClientError("AttributeLimitExceededException", ecs.put_attributes,
                               cluster="ci-attrs",
                               attributes=[{"name": "n%d" % i, "targetId": arn}
                                           for i in range(10)])
        ecs.delete_attributes(cluster="ci-attrs", attributes=[{"name": "zone", "targetId": arn}])
        got = ecs.list_attributes(cluster="ci-attrs", targetType="container-instance",
                                  attributeName="zone")["attributes"]
        self.assertEqual(got, [])

        # the CLI
        rc, out, err = self.berth.aws("ecs", "put-attributes", "--cluster", "ci-attrs",
                                      "--attributes", "name=color,value=blue,targetId=" + arn)
        self.assertEqual(rc, 0, err)
        rc, out, err = self.berth.aws("ecs", "list-attributes", "--cluster", "ci-attrs",
                                      "--target-type", "container-instance",
                                      "--attribute-name", "color")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out["attributes"][0]["value"], "blue")

        ecs.tag_resource(resourceArn=arn, tags=[{"key": "owner", "value": "me"}])
        self.assertEqual(ecs.list_tags_for_resource(resourceArn=arn)["tags"],
                         [{"key": "owner", "value": "me"}])

    def test_cli_register_and_errors(self):
        b = self.berth
        self.ecs.create_cluster(clusterName="ci-cli")
        rc, out, err = b.aws("ecs", "register-container-instance", "--cluster", "ci-cli",
                             "--total-resources",
                             "name=CPU,type=INTEGER,integerValue=2048",
                             "name=MEMORY,type=INTEGER,integerValue=3900",
                             "name=PORTS,type=STRINGSET,stringSetValue=" + ",".join(PORTS))
        self.assertEqual(rc, 0, err)
        ci = out["containerInstance"]
        self.assertEqual(resource(ci, "registeredResources", "PORTS")["stringSetValue"], PORTS)
        rc, out, err = b.aws("ecs", "describe-container-instances", "--cluster", "ci-cli",
                             "--container-instances", ci["containerInstanceArn"])
        self.assertEqual(rc, 0, err)
        self.assertEqual(out["containerInstances"][0]["containerInstanceArn"],
                         ci["containerInstanceArn"])
        self.assertClientError("ClusterNotFoundException", self.ecs.register_container_instance,
                               cluster="ci-none", totalResources=RESOURCES)
        self.assertClientError("InvalidParameterException", self.ecs.register_container_instance,
                               cluster="ci-cli",
                               totalResources=[{"name": "PORTS", "type": "STRINGSET",
                                                "stringSetValue": ["http"]}])
        self.assertClientError("ClusterNotFoundException", self.ecs.list_container_instances,
                               cluster="ci-none")
        self.assertClientError("InvalidParameterException",
                               self.ecs.deregister_container_instance, cluster="ci-cli",
                               containerInstance="0" * 32)
        rc, out, err = b.aws("ecs", "deregister-container-instance", "--cluster", "ci-cli",
                             "--container-instance", ci["containerInstanceArn"], "--force")
        self.assertEqual(rc, 0, err)
        self.assertEqual(out["containerInstance"]["status"], "INACTIVE")


if __name__ == "__main__":
    harness.main()
