"""
Differential test: the same requests sent to berth and to moto_server
(a widely used ECS emulator) get responses with the same field names and
JSON types, recursively; values (ARNs, ids, times, counts) aside. Errors
must have the same __type and HTTP status.

Where moto disagrees with AWS's documentation, berth follows AWS: every
such difference is listed in KNOWN_DIFFERENCES with the AWS page that
decides it, rather than loosening the comparison.

Skipped when moto is not installed (it is not on a fresh Debian).
"""
import copy
import fnmatch
import json
import re
import unittest

import harness

# Where moto is wrong against AWS's documentation. Keys are fnmatch patterns
# over a difference as structure_diff words it, list indexes written [*]:
# "Operation.member[*].member: only berth has it". Values say why berth is right.
_TUTORIAL = ("AWS's own create-cluster output in the ECS Developer Guide "
             "(https://docs.aws.amazon.com/AmazonECS/latest/developerguide/ECS_AWSCLI_Fargate.html) "
             "and the aws-cli examples create-cluster.rst, update-cluster-settings.rst")
KNOWN_DIFFERENCES = {
    # a Cluster always carries these lists, empty when there is nothing in them
    "*.cluster.statistics: only berth has it": _TUTORIAL,
    "*.cluster.tags: only berth has it": _TUTORIAL,
    "*.cluster.capacityProviders: only berth has it": _TUTORIAL,
    "*.cluster.defaultCapacityProviderStrategy: only berth has it": _TUTORIAL,
    "DescribeClusters.clusters[*].statistics: only berth has it": _TUTORIAL,
    "DescribeClusters.clusters[*].tags: only berth has it": _TUTORIAL,
    "DescribeClusters.clusters[*].capacityProviders: only berth has it": _TUTORIAL,
    "DescribeClusters.clusters[*].defaultCapacityProviderStrategy: only berth has it": _TUTORIAL,
    # moto returns settings whatever `include` says
    "DescribeClusters.clusters[*].settings: only moto has it":
        "DescribeClusters API reference, include: SETTINGS - 'If SETTINGS is specified, "
        "the settings for the cluster are included' (and only then)",
    # members of a TaskDefinition that moto leaves out
    "*.registeredAt: only berth has it":
        "ECS API reference, TaskDefinition: registeredAt, the time it was registered",
    "*.registeredBy: only berth has it":
        "ECS API reference, TaskDefinition: registeredBy, the principal that registered it",
    "*.deregisteredAt: only berth has it":
        "ECS API reference, TaskDefinition: deregisteredAt, the time it was deregistered",
    "*.deleteRequestedAt: only berth has it":
        "ECS API reference, TaskDefinition: deleteRequestedAt, the time deletion was requested",
    "*.requiresAttributes: only berth has it":
        "ECS API reference, TaskDefinition: requiresAttributes, the container instance "
        "attributes the task needs (e.g. com.amazonaws.ecs.capability.logging-driver.*)",
    "*.containerDefinitions[*].systemControls: only berth has it":
        "ECS API reference, ContainerDefinition: systemControls; ECS returns it as [] in every "
        "container definition it describes",
    "RegisterTaskDefinition.tags: only berth has it":
        "RegisterTaskDefinition API reference, response element tags: 'The list of tags "
        "associated with the task definition'",
    # moto ignores maxResults
    "ListClusters.nextToken: only berth has it":
        "ListClusters API reference, maxResults: 'ListClusters only returns maxResults results "
        "in a single page along with a nextToken response element'",
}

CLUSTER_TAGS = [{"key": "team", "value": "infra"}]
TD = {
    "family": "diff-web",
    "networkMode": "bridge",
    "cpu": "256",
    "memory": "512",
    "requiresCompatibilities": ["EC2"],
    "volumes": [{"name": "data", "host": {"sourcePath": "/srv/data"}}],
    "tags": [{"key": "app", "value": "web"}],
    "containerDefinitions": [{
        "name": "web", "image": "busybox", "cpu": 128, "memory": 256, "memoryReservation": 128,
        "portMappings": [{"containerPort": 8080, "hostPort": 8081, "protocol": "tcp"}],
        "essential": True, "command": ["httpd", "-f"],
        "environment": [{"name": "A", "value": "1"}],
        "mountPoints": [{"sourceVolume": "data", "containerPath": "/data", "readOnly": True}],
        "logConfiguration": {"logDriver": "json-file", "options": {"max-size": "1m"}},
        "healthCheck": {"command": ["CMD", "true"], "interval": 10, "timeout": 2, "retries": 2},
        "ulimits": [{"name": "nofile", "softLimit": 1024, "hardLimit": 2048}],
        "dockerLabels": {"a": "b"},
    }],
}

# (operation, body); "{cluster_arn:NAME}" and "{td_arn:FAMILY:REV}" are
# replaced by each server's ARN
CLUSTER_STEPS = [
    ("CreateCluster", {"clusterName": "diff-a", "tags": CLUSTER_TAGS,
                       "settings": [{"name": "containerInsights", "value": "enabled"}]}),
    ("CreateCluster", {"clusterName": "diff-b"}),
    ("CreateCluster", {"clusterName": "diff-a"}),
    ("DescribeClusters", {"clusters": ["diff-a", "diff-missing"]}),
    ("DescribeClusters", {"clusters": ["{cluster_arn:diff-a}"], "include": ["TAGS"]}),
    ("DescribeClusters", {"clusters": ["diff-a"], "include": ["SETTINGS"]}),
    ("ListClusters", {}),
    ("ListClusters", {"maxResults": 1}),
    ("TagResource", {"resourceArn": "{cluster_arn:diff-a}", "tags": [{"key": "x", "value": "y"}]}),
    ("ListTagsForResource", {"resourceArn": "{cluster_arn:diff-a}"}),
    ("UntagResource", {"resourceArn": "{cluster_arn:diff-a}", "tagKeys": ["x"]}),
    ("ListTagsForResource", {"resourceArn": "{cluster_arn:diff-a}"}),
    ("UpdateCluster", {"cluster": "diff-a",
                       "settings": [{"name": "containerInsights", "value": "disabled"}]}),
    ("DeleteCluster", {"cluster": "diff-b"}),
    ("DescribeClusters", {"clusters": ["diff-b"]}),
    ("DeleteCluster", {"cluster": "diff-never"}),
    ("ListTagsForResource", {"resourceArn": "{cluster_arn:diff-never}"}),
]

TD_STEPS = [
    ("RegisterTaskDefinition", TD),
    ("RegisterTaskDefinition", TD),
    ("DescribeTaskDefinition", {"taskDefinition": "diff-web:1"}),
    ("DescribeTaskDefinition", {"taskDefinition": "{td_arn:diff-web:2}", "include": ["TAGS"]}),
    ("ListTaskDefinitions", {}),
    ("ListTaskDefinitions", {"familyPrefix": "diff-web", "sort": "DESC"}),
    ("ListTaskDefinitionFamilies", {}),
    ("TagResource", {"resourceArn": "{td_arn:diff-web:1}", "tags": [{"key": "x", "value": "y"}]}),
    ("ListTagsForResource", {"resourceArn": "{td_arn:diff-web:1}"}),
    ("DeregisterTaskDefinition", {"taskDefinition": "diff-web:1"}),
    ("DescribeTaskDefinition", {"taskDefinition": "diff-web:1"}),
    ("ListTaskDefinitions", {"status": "INACTIVE"}),
    ("DeleteTaskDefinitions", {"taskDefinitions": ["diff-web:1"]}),
]


def json_type(v):
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"


def structure_diff(berth, moto, path):
    """Differences of field names and JSON types between two documents."""
    tb, tm = json_type(berth), json_type(moto)
    if tb != tm:
        return ["%s: berth has %s, moto %s" % (path, tb, tm)]
    out = []
    if tb == "object":
        for k in sorted(set(berth) | set(moto)):
            p = "%s.%s" % (path, k)
            if k not in moto:
                out.append("%s: only berth has it" % p)
            elif k not in berth:
                out.append("%s: only moto has it" % p)
            else:
                out += structure_diff(berth[k], moto[k], p)
    elif tb == "array":
        for i in range(min(len(berth), len(moto))):
            out += structure_diff(berth[i], moto[i], "%s[%d]" % (path, i))
    return out


def known(diff):
    generic = re.sub(r"\[\d+\]", "[*]", diff)
    return any(fnmatch.fnmatchcase(generic, pat.replace("[*]", "[[]*[]]"))
               for pat in KNOWN_DIFFERENCES)


@unittest.skipUnless(harness.Moto.available(), "moto is not installed")
class Differential(unittest.TestCase):

    @classmethod
    def setUpClass(cls):
        cls.berth = harness.Berth()
        cls.addClassCleanup(cls.berth.cleanup)
        cls.moto = harness.Moto()
        cls.addClassCleanup(cls.moto.cleanup)
        cls.berth.start()
        cls.moto.start()

    def expand(self, server, body):
        s = json.dumps(body)

        def sub(m):
            kind, rest = m.group(1), m.group(2)
            if kind == "cluster_arn":
                res = "cluster/" + rest
            else:
                res = "task-definition/" + rest
            return "arn:aws:ecs:%s:%s:%s" % (server.region, server.account_id, res)
        return json.loads(re.sub(r"\{(cluster_arn|td_arn):([^}]+)\}", sub, s))

    def run_steps(self, steps, skip_unknown=False):
        problems = []
        for i, (op, body) in enumerate(steps):
            rb = self.berth.request(op, self.expand(self.berth, copy.deepcopy(body)))
            rm = self.moto.request(op, self.expand(self.moto, copy.deepcopy(body)))
            where = "step %d %s" % (i, op)
            if skip_unknown and rb.error_type == "UnknownOperationException":
                self.skipTest("berth has no %s yet" % op)
            self.assertIsInstance(rb.json, dict, "%s: berth answered %r" % (where, rb))
            self.assertIsInstance(rm.json, dict, "%s: moto answered %r" % (where, rm))
            if rb.status != rm.status or rb.error_type != rm.error_type:
                d = "%s: berth %d %s, moto %d %s" % (op, rb.status, rb.error_type, rm.status,
                                                    rm.error_type)
                if not known(d):
                    problems.append("%s: %s\n   berth: %s\n   moto:  %s"
                                    % (where, d, rb.body[:300], rm.body[:300]))
                continue
            if rb.status >= 300:
                continue
            for d in structure_diff(rb.json, rm.json, op):
                if not known(d):
                    problems.append("%s: %s" % (where, d))
        if problems:
            self.fail("berth and moto differ (and no AWS page says berth is right):\n  "
                      + "\n  ".join(problems))

    def test_clusters_and_tags(self):
        self.run_steps(CLUSTER_STEPS)

    def test_task_definitions(self):
        self.run_steps(TD_STEPS, skip_unknown=True)


if __name__ == "__main__":
    harness.main()
