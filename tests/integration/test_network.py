"""
Task networking end to end: a real `berth server` and `berth agent` running
busybox httpd in bridge, awsvpc, host and none network modes, reached with
curl from the host's loopback and from a second network namespace the test
makes to stand for another machine ("peer": a veth pair 10.N.9.1/30 on
the host, 10.N.9.2/30 inside).

The agent gets a bridge and subnet of this run's own (BRIDGE, SUBNET: N
from 200 to 249, names and N from the process id) so it collides with
nothing else: test files run in parallel, and so may two runs of this one
(the harness's other agents take 10.100-199). Traffic goes
only to loopback, the peer namespace and the bridge's subnet. At the end no
interface, namespace, nft table or rule of the agent is left, and that is
asserted (test_zz_nothing_left).
"""
import os
import shutil
import subprocess
import sys
import tempfile
import time

import harness
from harness import Agent, Berth, BerthTestCase

sys.path.insert(0, os.path.join(harness.ROOT, "tests", "images"))
import build  # noqa: E402
import test_agent  # noqa: E402

CLUSTER = "itest-net"
_K = os.getpid() % 100000
NET = "10.%d" % (200 + _K % 50)
BRIDGE = "btn%d" % _K
SUBNET = NET + ".0.0/24"
PORT_RANGE = "41000-41999"
PEER_NS = "berth-itest-net-peer-%d" % _K
PEER_HOST_IF, PEER_NS_IF = "btn%dh" % _K, "btn%dp" % _K
HOST_ADDR, PEER_ADDR = NET + ".9.1", NET + ".9.2"
INDEX_HTML = "hello from berth"  # the test image's /www/index.html says so
IMGDIR = None
IP_FORWARD = None


def sh(*argv, check=True, timeout=30):
    p = subprocess.run(list(argv), capture_output=True, timeout=timeout)
    if check and p.returncode != 0:
        raise AssertionError("%s: %s" % (" ".join(argv), p.stderr.decode()))
    return p


def remove_peer():
    sh("ip", "netns", "del", PEER_NS, check=False)
    sh("ip", "link", "del", PEER_HOST_IF, check=False)


def setUpModule():
    global IMGDIR, IP_FORWARD
    if os.geteuid() != 0 or not shutil.which("runc") or not shutil.which("nft"):
        raise harness.unittest.SkipTest("needs root, runc and nft")
    IMGDIR = tempfile.mkdtemp(prefix="berth-itest-net-images-")
    build.write_layout(os.path.join(IMGDIR, "oci"), {"latest": build.image("oci")})
    os.makedirs(os.path.join(IMGDIR, "home"))
    test_agent.IMGDIR = IMGDIR
    with open("/proc/sys/net/ipv4/ip_forward") as f:
        IP_FORWARD = f.read().strip()
    # the other machine: a namespace of ours, reached through a veth pair of ours
    remove_peer()
    sh("ip", "netns", "add", PEER_NS)
    sh("ip", "link", "add", PEER_HOST_IF, "type", "veth", "peer", "name", PEER_NS_IF,
       "netns", PEER_NS)
    sh("ip", "addr", "add", HOST_ADDR + "/30", "dev", PEER_HOST_IF)
    sh("ip", "link", "set", PEER_HOST_IF, "up")
    sh("ip", "-n", PEER_NS, "addr", "add", PEER_ADDR + "/30", "dev", PEER_NS_IF)
    sh("ip", "-n", PEER_NS, "link", "set", PEER_NS_IF, "up")
    sh("ip", "-n", PEER_NS, "link", "set", "lo", "up")
    # the peer reaches the bridge's subnet (awsvpc tasks' own addresses) through the host
    sh("ip", "-n", PEER_NS, "route", "add", SUBNET, "via", HOST_ADDR)


def tearDownModule():
    remove_peer()
    harness.remove_network(BRIDGE)
    if IP_FORWARD is not None:
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write(IP_FORWARD)
    if IMGDIR:
        shutil.rmtree(IMGDIR, ignore_errors=True)


def curl(url, ns=None, timeout=5):
    """The body curl gets from url (from the peer namespace when ns), or None."""
    argv = ["curl", "-s", "--max-time", str(timeout), "--noproxy", "*", url]
    if ns:
        argv = ["ip", "netns", "exec", ns] + argv
    p = subprocess.run(argv, capture_output=True, timeout=timeout + 10)
    return p.stdout.decode() if p.returncode == 0 else None


def curl_until(url, ns=None, deadline_s=30):
    """Poll url until it answers (httpd needs a moment after the task is RUNNING)."""
    deadline = time.monotonic() + deadline_s
    body = None
    while time.monotonic() < deadline and body is None:
        body = curl(url, ns, timeout=3)
        if body is None:
            time.sleep(0.2)
    return body


HTTPD = ["httpd", "-f", "-h", "/www", "-p"]


class NetworkTest(BerthTestCase):
    shared_server = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.berth = Berth(extra_args=["--registry-create-on-push"])
        cls.berth.start()
        cls.addClassCleanup(cls.berth.cleanup)
        cls.ecs = cls.berth.client("ecs")
        cls.ecs.create_cluster(clusterName=CLUSTER)
        cls.image = "127.0.0.1:%d/itest/busybox:latest" % cls.berth.port
        test_agent.push_image(cls.berth, os.path.join(IMGDIR, "oci"), cls.image)
        cls.agent = Agent(cls.berth, cluster=CLUSTER,
                          extra_args=["--bridge", BRIDGE, "--bridge-subnet", SUBNET,
                                      "--host-port-range", PORT_RANGE])
        cls.addClassCleanup(cls.agent.cleanup)
        cls.agent.start()

    # --- helpers ---

    def register(self, family, containers, **kw):
        for c in containers:
            c.setdefault("image", self.image)
            c.setdefault("memory", 32)
            c.setdefault("stopTimeout", 2)  # httpd as pid 1 ignores SIGTERM
        r = self.ecs.register_task_definition(family=family, containerDefinitions=containers,
                                              **kw)
        return r["taskDefinition"]["taskDefinitionArn"]

    def run_task(self, td, **kw):
        r = self.ecs.run_task(cluster=CLUSTER, taskDefinition=td, **kw)
        self.assertEqual(r["failures"], [])
        arn = r["tasks"][0]["taskArn"]
        self.addCleanup(self.stop, arn)
        return arn, r["tasks"][0]

    def stop(self, arn):
        self.ecs.stop_task(cluster=CLUSTER, task=arn)
        return self.wait(arn, "tasks_stopped")

    def wait(self, arn, waiter, timeout=90):
        self.ecs.get_waiter(waiter).wait(cluster=CLUSTER, tasks=[arn],
                                        WaiterConfig={"Delay": 1, "MaxAttempts": timeout})
        return self.describe(arn)

    def describe(self, arn):
        r = self.ecs.describe_tasks(cluster=CLUSTER, tasks=[arn])
        self.assertEqual(r["failures"], [])
        return r["tasks"][0]

    def wait_exit(self, arn, name, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            t = self.describe(arn)
            c = [c for c in t["containers"] if c["name"] == name][0]
            if "exitCode" in c or t["lastStatus"] == "STOPPED":
                return c, t
            time.sleep(0.3)
        self.fail("container %s did not exit: %s" % (name, t))

    def assert_exits_0(self, td, name, **kw):
        """Run td and wait for its container name to exit: with code 0."""
        arn, _ = self.run_task(td, **kw)
        c, t = self.wait_exit(arn, name)
        self.assertEqual(c.get("exitCode"), 0, t)
        return arn

    def map_elements(self):
        p = sh("nft", "list", "map", "ip", "berth_" + BRIDGE, "ports", check=False)
        return p.stdout.decode()

    # --- bridge ---

    def test_bridge_static_and_dynamic_ports(self):
        static = harness.free_port()
        td = self.register("web", [{
            "name": "web",
            "command": ["sh", "-c", "httpd -h /www -p 81; exec httpd -f -h /www -p 80"],
            "portMappings": [{"containerPort": 80, "hostPort": static},
                             {"containerPort": 81}]}])
        arn, _ = self.run_task(td)
        t = self.wait(arn, "tasks_running")
        bindings = sorted(t["containers"][0]["networkBindings"],
                          key=lambda b: b["containerPort"])
        self.assertEqual(len(bindings), 2, t)
        self.assertEqual(bindings[0], {"bindIP": "0.0.0.0", "containerPort": 80,
                                       "hostPort": static, "protocol": "tcp"})
        dynamic = bindings[1]["hostPort"]
        self.assertEqual(bindings[1]["containerPort"], 81)
        self.assertTrue(41000 <= dynamic <= 41999, bindings)
        for port in (static, dynamic):
            body = curl_until("http://127.0.0.1:%d/" % port)
            self.assertIsNotNone(body, "nothing on 127.0.0.1:%d" % port)
            self.assertIn(INDEX_HTML, body)
            self.assertEqual(curl_until("http://%s:%d/" % (HOST_ADDR, port), ns=PEER_NS),
                             body, "the other machine gets nothing on port %d" % port)
        self.assertIn("tcp . %d" % static, self.map_elements())
        t = self.stop(arn)
        self.assertEqual(t["lastStatus"], "STOPPED")
        # the rules go with the task (the agent cleans up once it reported it STOPPED)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and "tcp . %d" % static in self.map_elements():
            time.sleep(0.2)
        self.assertNotIn("tcp . %d" % static, self.map_elements())
        self.assertIsNone(curl("http://127.0.0.1:%d/" % static, timeout=2))

    def test_bridge_interfaces_links_and_names(self):
        td = self.register("linked", [
            {"name": "web", "command": HTTPD + ["80"]},
            {"name": "client", "essential": False, "links": ["web:webalias"],
             "command": ["sh", "-c",
                         "test \"$(ls /sys/class/net | tr '\\n' ' ')\" = 'eth0 lo ' || exit 5; "
                         "for i in $(seq 1 100); do "
                         "busybox wget -q -O /tmp/a http://web/ && "
                         "busybox wget -q -O /tmp/b http://webalias/ && exit 0; "
                         "sleep 0.2; done; exit 7"]}])
        self.assert_exits_0(td, "client")

    def test_bridge_outbound_nat_and_hairpin(self):
        # a server on the other machine, which logs who calls
        www = tempfile.mkdtemp(prefix="berth-itest-net-www-")
        self.addCleanup(shutil.rmtree, www, True)
        with open(os.path.join(www, "index.html"), "w") as f:
            f.write("from the peer\n")
        log = open(os.path.join(www, "log"), "wb")
        peer = subprocess.Popen(["ip", "netns", "exec", PEER_NS, "busybox", "httpd", "-f", "-vv",
                                 "-p", "%s:8099" % PEER_ADDR, "-h", www],
                                stdin=subprocess.DEVNULL, stdout=log, stderr=log)
        self.addCleanup(peer.wait)
        self.addCleanup(peer.kill)
        self.addCleanup(log.close)
        static = harness.free_port()
        web = self.register("hairpin-web", [{"name": "web", "command": HTTPD + ["80"],
                                             "portMappings": [{"containerPort": 80,
                                                               "hostPort": static}]}])
        warn, _ = self.run_task(web)
        self.wait(warn, "tasks_running")
        gateway = SUBNET.split("/")[0].rsplit(".", 1)[0] + ".1"
        client = self.register("hairpin-client", [{"name": "c", "command": ["sh", "-c",
            "for i in $(seq 1 100); do "
            "busybox wget -q -O /tmp/a http://%s:8099/ && "
            "busybox wget -q -O /tmp/b http://%s:%d/ && exit 0; sleep 0.2; done; exit 7"
            % (PEER_ADDR, gateway, static)]}])
        self.assert_exits_0(client, "c")
        with open(os.path.join(www, "log")) as f:
            callers = f.read()
        # the other machine saw the host's address, not the container's: masqueraded
        self.assertIn(HOST_ADDR + ":", callers)
        self.assertNotIn(NET + ".0.", callers)

    def test_bridge_dns(self):
        td = self.register("dns", [{
            "name": "dns", "hostname": "myhost",
            "dnsServers": [NET + ".0.53"], "dnsSearchDomains": ["example.internal"],
            "extraHosts": [{"hostname": "db.example", "ipAddress": NET + ".7.7"}],
            "command": ["sh", "-c",
                        "r=$(cat /etc/resolv.conf); h=$(cat /etc/hosts); "
                        "case \"$r\" in *'nameserver %s.0.53'*) ;; *) exit 2;; esac; "
                        "case \"$r\" in *'search example.internal'*) ;; *) exit 3;; esac; "
                        "case \"$h\" in *'%s.7.7\tdb.example'*) ;; *) exit 4;; esac; "
                        "case \"$h\" in *'%s.0.'*'\tmyhost'*) ;; *) exit 5;; esac; "
                        "test \"$(cat /etc/hostname)\" = myhost || exit 6" % (NET, NET, NET)]}])
        self.assert_exits_0(td, "dns")

    def test_port_conflict(self):
        port = harness.free_port()
        td = self.register("conflict", [{"name": "web", "command": HTTPD + ["80"],
                                         "portMappings": [{"containerPort": 80,
                                                           "hostPort": port}]}])
        arn, _ = self.run_task(td)
        r = self.ecs.run_task(cluster=CLUSTER, taskDefinition=td)
        self.assertEqual(r["tasks"], [])
        self.assertEqual([f["reason"] for f in r["failures"]], ["RESOURCE:PORTS"])
        self.assertEqual(r["failures"][0]["arn"], self.agent.instance_arn)
        self.stop(arn)
        # given back when the task stopped
        arn2, _ = self.run_task(td)
        self.wait(arn2, "tasks_running")
        self.assertIsNotNone(curl_until("http://127.0.0.1:%d/" % port))

    def test_static_port_taken_on_the_host(self):
        # something on the host listens on the port: the task cannot have it
        import socket
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
            held.bind(("127.0.0.1", 0))
            held.listen(1)
            port = held.getsockname()[1]
            td = self.register("taken", [{"name": "web", "command": HTTPD + ["80"],
                                          "portMappings": [{"containerPort": 80,
                                                            "hostPort": port}]}])
            arn, _ = self.run_task(td)
            t = self.wait(arn, "tasks_stopped")
        self.assertEqual(t["stopCode"], "TaskFailedToStart", t)
        self.assertTrue(t["stoppedReason"].startswith("ResourceInitializationError:"), t)
        self.assertIn("%d/tcp" % port, t["stoppedReason"])

    def test_udp_binding(self):
        td = self.register("udp", [{"name": "a", "command": ["sh", "-c", "exec sleep 600"],
                                    "portMappings": [{"containerPort": 53, "protocol": "udp"},
                                                     {"containerPort": 54}]}])
        arn, _ = self.run_task(td)
        t = self.wait(arn, "tasks_running")
        b = sorted(t["containers"][0]["networkBindings"], key=lambda x: x["protocol"])
        self.assertEqual([(x["protocol"], x["containerPort"]) for x in b],
                         [("tcp", 54), ("udp", 53)])
        elements = self.map_elements()
        for x in b:
            self.assertTrue(41000 <= x["hostPort"] <= 41999, b)
            self.assertIn("%s . %d : " % (x["protocol"], x["hostPort"]), elements)

    # --- awsvpc ---

    def test_awsvpc(self):
        td = self.register("vpc", [
            {"name": "web", "command": HTTPD + ["8080"], "portMappings": [{"containerPort": 8080}]},
            {"name": "probe", "essential": False,
             "command": ["sh", "-c",
                         "for i in $(seq 1 100); do "
                         "busybox wget -q -O /tmp/a http://localhost:8080/ && exit 0; "
                         "sleep 0.2; done; exit 7"]}], networkMode="awsvpc")
        # ECS's checks of networkConfiguration
        with self.assertRaises(self.ecs.exceptions.InvalidParameterException) as cm:
            self.ecs.run_task(cluster=CLUSTER, taskDefinition=td)
        self.assertIn("Network Configuration must be provided", str(cm.exception))
        with self.assertRaises(self.ecs.exceptions.InvalidParameterException):
            self.ecs.run_task(cluster=CLUSTER, taskDefinition=td, networkConfiguration={
                "awsvpcConfiguration": {"subnets": []}})
        conf = {"awsvpcConfiguration": {"subnets": ["subnet-0berth"],
                                        "securityGroups": ["sg-0berth"]}}
        arn, started = self.run_task(td, networkConfiguration=conf)
        at = started["attachments"]
        self.assertEqual(len(at), 1)
        self.assertEqual(at[0]["type"], "ElasticNetworkInterface")
        self.assertEqual(at[0]["status"], "PRECREATED")
        self.assertEqual(at[0]["details"], [{"name": "subnetId", "value": "subnet-0berth"}])
        t = self.wait(arn, "tasks_running")
        at = t["attachments"][0]
        self.assertEqual(at["status"], "ATTACHED")
        details = {d["name"]: d["value"] for d in at["details"]}
        ip = details["privateIPv4Address"]
        self.assertTrue(ip.startswith(NET + ".0."), details)
        self.assertEqual(details["subnetId"], "subnet-0berth")
        self.assertTrue(details["networkInterfaceId"].startswith("eni-"), details)
        self.assertEqual(details["macAddress"],
                         "02:42:" + ":".join("%02x" % int(x) for x in ip.split(".")))
        self.assertEqual(details["privateDnsName"], "ip-%s.ec2.internal" % ip.replace(".", "-"))
        for c in t["containers"]:
            self.assertEqual(c["networkInterfaces"],
                             [{"attachmentId": at["id"], "privateIpv4Address": ip}])
            self.assertEqual(c["networkBindings"], [])
        c, t = self.wait_exit(arn, "probe")
        self.assertEqual(c.get("exitCode"), 0, t)
        body = curl_until("http://%s:8080/" % ip)
        self.assertIsNotNone(body, "the task is not reachable on %s" % ip)
        self.assertEqual(curl_until("http://%s:8080/" % ip, ns=PEER_NS), body)
        t = self.stop(arn)
        self.assertEqual(t["attachments"][0]["status"], "DELETED")

    def test_network_configuration_refused_outside_awsvpc(self):
        td = self.register("notvpc", [{"name": "a", "command": ["true"]}])
        with self.assertRaises(self.ecs.exceptions.InvalidParameterException) as cm:
            self.ecs.run_task(cluster=CLUSTER, taskDefinition=td, networkConfiguration={
                "awsvpcConfiguration": {"subnets": ["subnet-1"]}})
        self.assertIn("not valid for the given networkMode", str(cm.exception))

    # --- host and none ---

    def test_host(self):
        port = harness.free_port()
        td = self.register("hostnet", [{"name": "web", "command": HTTPD + [str(port)],
                                        "portMappings": [{"containerPort": port}]}],
                           networkMode="host")
        arn, _ = self.run_task(td)
        t = self.wait(arn, "tasks_running")
        self.assertEqual(t["containers"][0]["networkBindings"],
                         [{"bindIP": "0.0.0.0", "containerPort": port, "hostPort": port,
                           "protocol": "tcp"}])
        self.assertIsNotNone(curl_until("http://127.0.0.1:%d/" % port))

    def test_none(self):
        td = self.register("nonet", [{
            "name": "a",
            "command": ["sh", "-c", "test \"$(ls /sys/class/net)\" = lo"]}],
            networkMode="none")
        self.assert_exits_0(td, "a")

    # --- restart ---

    def test_restart_keeps_running_and_removes_gone(self):
        td = self.register("keep", [{"name": "web", "command": HTTPD + ["80"],
                                     "portMappings": [{"containerPort": 80}]}])
        keep, _ = self.run_task(td)
        gone, _ = self.run_task(td)
        t_keep = self.wait(keep, "tasks_running")
        t_gone = self.wait(gone, "tasks_running")
        port_keep = t_keep["containers"][0]["networkBindings"][0]["hostPort"]
        port_gone = t_gone["containers"][0]["networkBindings"][0]["hostPort"]
        self.assertIsNotNone(curl_until("http://127.0.0.1:%d/" % port_keep))
        self.assertIsNotNone(curl_until("http://127.0.0.1:%d/" % port_gone))
        records = os.path.join(self.agent.data_dir, "network")
        self.assertEqual(len(os.listdir(records)), 2)
        self.agent.kill()
        # while the agent is away, the server learns the task is gone
        self.ecs.submit_task_state_change(cluster=CLUSTER, task=gone, status="STOPPED",
                                          reason="gone while the agent was away")
        self.agent.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and len(os.listdir(records)) != 1:
            time.sleep(0.2)
        self.assertEqual(len(os.listdir(records)), 1, self.agent.log_tail())
        self.assertEqual(len(os.listdir(os.path.join(self.agent.data_dir, "netns"))), 1)
        self.assertNotIn("tcp . %d" % port_gone, self.map_elements())
        self.assertIn("tcp . %d" % port_keep, self.map_elements())
        self.assertIsNotNone(curl_until("http://127.0.0.1:%d/" % port_keep))
        self.assertEqual(curl_until("http://%s:%d/" % (HOST_ADDR, port_keep), ns=PEER_NS),
                         curl("http://127.0.0.1:%d/" % port_keep))

    def test_bad_options(self):
        for opt, value in (("--bridge", "bad name"), ("--bridge-subnet", "10.0.0.0/33"),
                           ("--bridge-subnet", "fd00::/64"), ("--host-port-range", "9-1")):
            p = subprocess.run([harness.BERTH_BIN, "agent", "--server", self.berth.endpoint,
                                opt, value], capture_output=True, timeout=30)
            self.assertEqual(p.returncode, 2, p.stderr)
            self.assertIn(opt, p.stderr.decode())

    # --- last: nothing left ---

    def test_zz_nothing_left(self):
        # every task stopped (each test's cleanup): the agent keeps no endpoint
        tasks = self.ecs.list_tasks(cluster=CLUSTER)["taskArns"]
        for arn in tasks:
            self.stop(arn)
        deadline = time.monotonic() + 60
        records = os.path.join(self.agent.data_dir, "network")
        while time.monotonic() < deadline and os.path.isdir(records) and os.listdir(records):
            time.sleep(0.2)
        self.assertEqual(os.listdir(records), [])
        self.assertEqual(os.listdir(os.path.join(self.agent.data_dir, "netns")), [])
        # stopping the agent takes the bridge and the table with it
        self.agent.stop()
        self.assertEqual(harness.berth_links(BRIDGE), [])
        self.assertFalse(harness.nft_table_exists(BRIDGE))
        with open("/proc/self/mountinfo") as f:
            self.assertNotIn(self.agent.data_dir, f.read())
        self.agent.start()


if __name__ == "__main__":
    harness.main()
