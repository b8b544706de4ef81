"""
The berth CLI against a real server: the seed's story walked with `berth`
alone (register a task definition from the JSON `aws ecs
register-task-definition --cli-input-json` takes, create a cluster, a real
agent joins it, run tasks and wait for them, ps, stop, instances, delete
the cluster), its tables and --json checked against what boto3 reads, its
errors (the server's exception type and message, exit 1; usage errors,
exit 2), --help on every verb, where it finds endpoint and credentials
(environment, ~/.aws profiles, berth's config, a `berth dev` data
directory), and `berth task run --wait` in `berth dev`. The service and
logs verbs are checked when the server has those APIs, and skipped with
the reason otherwise.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import harness
from harness import Agent, Berth, BerthTestCase

sys.path.insert(0, os.path.join(harness.ROOT, "tests", "images"))
import build  # noqa: E402

IMGDIR = None
CLUSTER = "story"
# the CLI under test; BERTH_CLI_BIN runs it against another build's server (BERTH_BIN)
CLI_BIN = os.path.abspath(os.environ.get("BERTH_CLI_BIN") or harness.BERTH_BIN)

NOUN_VERBS = {
    "cluster": ["ls", "create", "rm"],
    "taskdef": ["register", "ls", "show", "rm"],
    "task": ["run", "ls", "show", "stop"],
    "service": ["ls", "create", "scale", "update", "events", "rm"],
    "instance": ["ls", "drain", "activate", "rm"],
}


def setUpModule():
    global IMGDIR
    IMGDIR = tempfile.mkdtemp(prefix="berth-itest-cli-")
    build.write_layout(os.path.join(IMGDIR, "oci"), {"latest": build.image("oci")})
    os.makedirs(os.path.join(IMGDIR, "home"))


def tearDownModule():
    if IMGDIR:
        shutil.rmtree(IMGDIR, ignore_errors=True)


def runc_available():
    return shutil.which("runc") is not None and os.geteuid() == 0


def push(berth, name):
    rc, pw, err = berth.aws("ecr", "get-login-password")
    assert rc == 0, err
    ref = "127.0.0.1:%d/%s:latest" % (berth.port, name)
    p = subprocess.run(["skopeo", "copy", "--dest-tls-verify=false", "--dest-creds",
                        "AWS:" + pw.strip(), "oci:%s:latest" % os.path.join(IMGDIR, "oci"),
                        "docker://" + ref],
                       env=harness.skopeo_env(os.path.join(IMGDIR, "home")),
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode()
    return ref


def cli_env(endpoint=None, keys=True, **extra):
    """The CLI's environment: nothing of the user's, the test's keys unless keys=False."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("AWS_") and not k.startswith("BERTH_")}
    env["HOME"] = extra.pop("HOME", os.path.join(IMGDIR, "home"))
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    if endpoint:
        env["AWS_ENDPOINT_URL"] = endpoint
    if keys:
        env["AWS_ACCESS_KEY_ID"] = harness.ACCESS_KEY
        env["AWS_SECRET_ACCESS_KEY"] = harness.SECRET_KEY
    env.update(extra)
    return env


def table(text):
    """Parse an aligned table: a list of dicts keyed by header, split at the headers' columns."""
    lines = text.rstrip("\n").split("\n")
    header = lines[0]
    starts = [m.start() for m in re.finditer(r"(?:(?<=  )|^)\S", header)]
    names = [header[s:e].strip() for s, e in zip(starts, starts[1:] + [None])]
    rows = []
    for line in lines[1:]:
        cells = [line[s:e].strip() if s < len(line) else ""
                 for s, e in zip(starts, starts[1:] + [None])]
        rows.append(dict(zip(names, cells)))
    return names, rows


class CliTestCase(BerthTestCase):
    def berth_cli(self, *args, env=None, input=None, timeout=120, cwd=None):
        p = subprocess.run([CLI_BIN] + list(args), capture_output=True,
                           env=env if env is not None else cli_env(self.berth.endpoint),
                           input=input, timeout=timeout, cwd=cwd)
        return p.returncode, p.stdout.decode(), p.stderr.decode()

    def ok(self, *args, **kw):
        rc, out, err = self.berth_cli(*args, **kw)
        self.assertEqual(rc, 0, "berth %s: %s%s" % (" ".join(args), out, err))
        return out

    def fails(self, code, *args, **kw):
        """The CLI exits 1 and names the server's exception code in its message."""
        rc, out, err = self.berth_cli(*args, **kw)
        self.assertEqual(rc, 1, "berth %s: %r %r" % (" ".join(args), out, err))
        self.assertIn(": %s: " % code, err)
        return err


class CliBasicsTest(CliTestCase):
    """What needs no agent: help, usage errors, configuration, tables and --json."""

    def test_help_on_every_verb(self):
        out = self.ok("help")
        for noun in list(NOUN_VERBS) + ["ps", "stop", "logs"]:
            self.assertIn("\n  %s " % noun, out)
        self.assertEqual(self.ok("--help"), out)
        for noun, verbs in NOUN_VERBS.items():
            listing = self.ok(noun, "--help")
            for verb in verbs:
                self.assertIn("\n  %s " % verb, listing)
                text = self.ok(noun, verb, "--help")
                self.assertTrue(text.startswith("usage: berth %s %s " % (noun, verb)), text)
                self.assertIn("--json", text)
            rc, out, err = self.berth_cli(noun)
            self.assertEqual(rc, 2)
            self.assertIn("usage: berth %s" % noun, err)
            rc, out, err = self.berth_cli(noun, "frobnicate")
            self.assertEqual(rc, 2)
            self.assertIn("'frobnicate' is not a verb", err)
        for short in ("ps", "stop", "logs"):
            self.assertTrue(self.ok(short, "--help").startswith("usage: berth "))

    def test_usage_errors_exit_2(self):
        for args, what in ((["cluster", "create"], "expected one cluster name"),
                           (["cluster", "ls", "extra"], "unexpected argument 'extra'"),
                           (["task", "run", "--count", "11", "x"], "--count takes 1 to 10"),
                           (["task", "run", "--count", "two", "x"], "--count takes 1 to 10"),
                           (["cluster", "ls", "--no-such-option"], "unrecognized option"),
                           (["service", "scale", "s", "many"], "a count is 0 to"),
                           (["service", "update", "s"], "nothing to update"),
                           (["stop"], "expected a task")):
            rc, out, err = self.berth_cli(*args)
            self.assertEqual(rc, 2, (args, out, err))
            self.assertIn(what, err, args)

    def test_server_errors_exit_1_with_type_and_message(self):
        err = self.fails("ClusterNotFoundException", "cluster", "rm", "no-such-cluster")
        self.assertIn("berth cluster rm: ClusterNotFoundException: ", err)
        self.fails("ClientException", "taskdef", "show", "no-such-family")
        self.fails("ClusterNotFoundException", "ps", "--cluster", "no-such-cluster")
        # a wrong key: the server's refusal, as the aws CLI would show it
        env = cli_env(self.berth.endpoint, AWS_SECRET_ACCESS_KEY="wrong")
        self.fails("InvalidSignatureException", "cluster", "ls", env=env)
        env = cli_env(self.berth.endpoint, AWS_ACCESS_KEY_ID="AKIDUNKNOWN")
        self.fails("UnrecognizedClientException", "cluster", "ls", env=env)
        # nobody listening: the endpoint is named, exit 1
        rc, out, err = self.berth_cli("cluster", "ls",
                                      env=cli_env("http://127.0.0.1:%d" % harness.free_port()))
        self.assertEqual(rc, 1)
        self.assertIn("endpoint http://127.0.0.1:", err)
        # bad input files
        path = os.path.join(IMGDIR, "bad.json")
        with open(path, "w") as f:
            f.write("{\"family\": ")
        rc, out, err = self.berth_cli("taskdef", "register", path)
        self.assertEqual(rc, 1)
        self.assertIn("is not JSON", err)
        rc, out, err = self.berth_cli("taskdef", "register", "/nonexistent/td.json")
        self.assertEqual(rc, 1)
        self.assertIn("No such file", err)
        self.fails("InvalidParameterException", "taskdef", "register", "-",
                   input=b"{\"family\": \"x\"}")

    def test_hostile_error_messages_are_neutralised(self):
        # a server answering an error whose message carries terminal escape sequences
        import http.server
        import threading

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length", 0)))
                body = json.dumps({"__type": "ClientException",
                                   "message": "bad\x1b]0;owned\x07\x1b[31mred\nline"}).encode()
                self.send_response(400)
                self.send_header("Content-Type", "application/x-amz-json-1.1")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *a):
                pass

        srv = http.server.HTTPServer(("127.0.0.1", 0), Handler)
        th = threading.Thread(target=srv.serve_forever, daemon=True)
        th.start()
        self.addCleanup(th.join, 10)
        self.addCleanup(srv.shutdown)
        rc, out, err = self.berth_cli(
            "cluster", "ls", env=cli_env("http://127.0.0.1:%d" % srv.server_address[1]))
        self.assertEqual(rc, 1)
        self.assertIn("ClientException: bad ]0;owned  [31mred line", err)
        self.assertNotIn("\x1b", err)

    def test_where_the_cli_finds_endpoint_and_credentials(self):
        home = tempfile.mkdtemp(prefix="berth-itest-cli-home-")
        self.addCleanup(shutil.rmtree, home, True)
        os.makedirs(os.path.join(home, ".aws"))
        with open(os.path.join(home, ".aws", "credentials"), "w") as f:
            f.write("[default]\naws_access_key_id = AKIDWRONG\naws_secret_access_key = x\n"
                    "[itest]\naws_access_key_id = %s\naws_secret_access_key = %s\n"
                    % (harness.ACCESS_KEY, harness.SECRET_KEY))
        with open(os.path.join(home, ".aws", "config"), "w") as f:
            f.write("[default]\nendpoint_url = %s\n"
                    "[profile itest]\nregion = %s\nendpoint_url = %s\n"
                    % (self.berth.endpoint, harness.REGION, self.berth.endpoint))
        self.ok("cluster", "create", "cfg")
        env = cli_env(None, keys=False, HOME=home)
        # the default profile's key is unknown to the server
        self.fails("UnrecognizedClientException", "cluster", "ls", env=env)
        out = self.ok("cluster", "ls", "--profile", "itest", env=env)
        self.assertIn("cfg", out)
        env["AWS_PROFILE"] = "itest"
        self.assertIn("cfg", self.ok("cluster", "ls", env=env))
        # AWS_ENDPOINT_URL_ECS beats the profile's endpoint_url
        env["AWS_ENDPOINT_URL_ECS"] = "http://127.0.0.1:%d" % harness.free_port()
        rc, out, err = self.berth_cli("cluster", "ls", env=env)
        self.assertEqual(rc, 1)
        self.assertIn(env["AWS_ENDPOINT_URL_ECS"], err)
        # --endpoint-url beats both
        out = self.ok("cluster", "ls", "--endpoint-url", self.berth.endpoint, env=env)
        self.assertIn("cfg", out)
        # a profile named but found nowhere
        rc, out, err = self.berth_cli("cluster", "ls", "--profile", "nope", env=env)
        self.assertEqual(rc, 1)
        self.assertIn("profile 'nope'", err)
        # berth's own config file: endpoint, keys and default cluster
        conf = os.path.join(home, "berth.conf")
        with open(conf, "w") as f:
            f.write("endpoint_url = %s\ncluster = cfg\naws_access_key_id = %s\n"
                    "aws_secret_access_key = %s\n"
                    % (self.berth.endpoint, harness.ACCESS_KEY, harness.SECRET_KEY))
        env = cli_env(None, keys=False, HOME=home, BERTH_CONFIG=conf)
        os.unlink(os.path.join(home, ".aws", "credentials"))
        out = self.ok("instance", "ls", env=env)  # in cluster cfg: found, and empty
        self.assertEqual(table(out)[1], [])
        # no credentials anywhere
        env = cli_env(self.berth.endpoint, keys=False, HOME=home)
        rc, out, err = self.berth_cli("cluster", "ls", env=env, cwd=home)
        self.assertEqual(rc, 1)
        self.assertIn("no credentials", err)

    def test_bash_completion(self):
        if not shutil.which("bash"):
            self.skipTest("no bash")
        self.ok("cluster", "create", "completion-demo")
        script = os.path.join(harness.ROOT, "contrib", "berth.bash")
        bindir = os.path.dirname(CLI_BIN)

        def complete(*words):
            prog = ('source "$1"; shift; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); '
                    '_berth; printf "%s\\n" "${COMPREPLY[@]}"')
            env = cli_env(self.berth.endpoint)
            env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
            p = subprocess.run(["bash", "-c", prog, "bash", script] + list(words),
                               capture_output=True, env=env, timeout=60)
            self.assertEqual(p.returncode, 0, p.stderr.decode())
            return sorted(x for x in p.stdout.decode().split("\n") if x)

        self.assertEqual(complete("berth", "ta"), ["task", "taskdef"])
        self.assertEqual(complete("berth", "service", "sc"), ["scale"])
        self.assertEqual(complete("berth", "task", "run", "--w"), ["--wait"])
        self.assertIn("--json", complete("berth", "cluster", "ls", "--"))
        self.assertEqual(complete("berth", "ps", "--cluster", "completion-"),
                         ["completion-demo"])

    def test_tables_and_json_agree_with_boto3(self):
        for name in ("tbl-a", "tbl-with-a-longer-name"):
            self.assertEqual(self.ok("cluster", "create", name).strip(),
                             "arn:aws:ecs:%s:%s:cluster/%s"
                             % (harness.REGION, harness.ACCOUNT_ID, name))
        out = self.ok("cluster", "ls")
        names, rows = table(out)
        self.assertEqual(names, ["NAME", "STATUS", "INSTANCES", "RUNNING", "PENDING",
                                 "SERVICES"])
        # columns align: every row's STATUS starts where the header's does
        col = out.split("\n")[0].index("STATUS")
        for line in out.rstrip("\n").split("\n")[1:]:
            self.assertEqual(line[col - 2:col], "  ", line)
            self.assertNotEqual(line[col], " ", line)
        by_name = {r["NAME"]: r for r in rows}
        self.assertEqual(by_name["tbl-a"]["STATUS"], "ACTIVE")
        self.assertEqual(by_name["tbl-with-a-longer-name"]["INSTANCES"], "0")
        doc = json.loads(self.ok("cluster", "ls", "--json"))
        arns = sorted(self.ecs.list_clusters()["clusterArns"])
        self.assertEqual(sorted(c["clusterArn"] for c in doc["clusters"]), arns)
        self.assertEqual(doc["failures"], [])
        self.assertEqual(sorted(r["NAME"] for r in rows),
                         sorted(a.split("/")[-1] for a in arns))


class CliStoryTest(CliTestCase):
    """The seed's story, with a real agent running the containers."""

    @classmethod
    def setUpClass(cls):
        if not runc_available():
            raise harness.unittest.SkipTest("needs root and runc")
        cls.server_kw = {"extra_args": ["--registry-create-on-push"]}
        super().setUpClass()
        cls.image = push(cls.berth, "cli/busybox")

    def td_file(self, family, command, **extra):
        doc = {"family": family,
               "containerDefinitions": [dict({"name": "main", "image": self.image,
                                              "memory": 32, "command": command}, **extra)]}
        path = os.path.join(IMGDIR, family + ".json")
        with open(path, "w") as f:
            json.dump(doc, f)
        return path

    def test_story(self):
        # the task definition JSON is the one the aws CLI takes
        path = self.td_file("story-ok", ["sh", "-c", "exit 0"])
        rc, out, err = self.berth.aws("ecs", "register-task-definition", "--cli-input-json",
                                      "file://" + path)
        self.assertEqual(rc, 0, err)
        arn = self.ok("taskdef", "register", path).strip()
        self.assertEqual(arn, "arn:aws:ecs:%s:%s:task-definition/story-ok:2"
                         % (harness.REGION, harness.ACCOUNT_ID))
        fail = self.td_file("story-fail", ["sh", "-c", "exit 3"])
        self.ok("taskdef", "register", "-", input=open(fail, "rb").read())
        sleeper = self.td_file("story-sleep", ["sh", "-c", 'trap "exit 0" TERM; sleep 600 & wait'])
        self.ok("taskdef", "register", sleeper)
        names, rows = table(self.ok("taskdef", "ls"))
        self.assertEqual(names, ["FAMILY", "REVISION", "ARN"])
        self.assertEqual([(r["FAMILY"], r["REVISION"]) for r in rows
                          if r["FAMILY"].startswith("story-")],
                         [("story-fail", "1"), ("story-ok", "1"), ("story-ok", "2"),
                          ("story-sleep", "1")])
        _, rows = table(self.ok("taskdef", "ls", "--family", "story-ok"))
        self.assertEqual([r["ARN"] for r in rows], [arn.replace(":2", ":1"), arn])
        out = self.ok("taskdef", "show", "story-ok")
        self.assertIn("Revision:     2\n", out)
        _, rows = table(out.split("\n\n", 1)[1])
        self.assertEqual(rows, [{"NAME": "main", "IMAGE": self.image, "CPU": "0",
                                 "MEMORY": "32", "ESSENTIAL": "yes", "PORTS": "-"}])

        # the cluster, and an agent joining it
        self.ok("cluster", "create", CLUSTER)
        agent = Agent(self.berth, cluster=CLUSTER)
        self.addCleanup(agent.cleanup)
        agent.start()
        env = cli_env(self.berth.endpoint, BERTH_CLUSTER=CLUSTER)
        _, rows = table(self.ok("instance", "ls", env=env))
        self.assertEqual(len(rows), 1)
        inst = rows[0]
        self.assertEqual(inst["INSTANCE"], agent.instance_arn.split("/")[-1])
        self.assertEqual((inst["STATUS"], inst["AGENT"]), ("ACTIVE", "connected"))
        self.assertRegex(inst["MEMORY"], r"^\d+/\d+$")

        # a task that exits 0, followed to its end
        rc, out, err = self.berth_cli("task", "run", "story-ok", "--wait", env=env,
                                      timeout=180)
        self.assertEqual(rc, 0, out + err)
        lines = out.split("\n")
        self.assertRegex(lines[0], r"^[0-9a-f]{32}$")
        self.assertNotIn("\r", out)  # no progress line: stdout is not a terminal
        _, rows = table("\n".join(lines[1:]))
        self.assertEqual([(r["TASK"], r["CONTAINER"], r["EXIT"]) for r in rows],
                         [(lines[0], "main", "0")])
        # one that exits 3: exit status 1 and the container named
        rc, out, err = self.berth_cli("task", "run", "story-fail", "--wait", env=env,
                                      timeout=180)
        self.assertEqual(rc, 1, out + err)
        self.assertIn("container main exited with a failure", err)
        _, rows = table("\n".join(out.split("\n")[1:]))
        self.assertEqual(rows[0]["EXIT"], "3")
        t = self.ecs.describe_tasks(cluster=CLUSTER, tasks=[out.split("\n")[0]])["tasks"][0]
        self.assertEqual(t["containers"][0]["exitCode"], 3)

        # on a terminal, a live progress line while it waits, rewritten in place
        self.td_file("story-slow", ["sh", "-c", "sleep 3"])
        self.ok("taskdef", "register", os.path.join(IMGDIR, "story-slow.json"))
        rc, out = self.on_tty(["task", "run", "story-slow", "--wait"], env)
        self.assertEqual(rc, 0, out)
        self.assertRegex(out, r"\r\x1b\[Kwaiting: 1 (PENDING|RUNNING) \(\d+s\)")
        self.assertRegex(out, r"\r\x1b\[KTASK +CONTAINER +EXIT +REASON")

        # a long one: ps, show, stop
        task = self.ok("task", "run", "story-sleep", env=env).strip()
        self.assertRegex(task, r"^[0-9a-f]{32}$")
        self.ecs.get_waiter("tasks_running").wait(cluster=CLUSTER, tasks=[task],
                                                  WaiterConfig={"Delay": 1, "MaxAttempts": 90})
        names, rows = table(self.ok("ps", env=env))
        self.assertEqual(names, ["TASK", "TASK DEFINITION", "STATUS", "DESIRED", "INSTANCE",
                                 "STARTED", "GROUP"])
        self.assertEqual([(r["TASK"], r["TASK DEFINITION"], r["STATUS"], r["DESIRED"],
                           r["INSTANCE"], r["GROUP"]) for r in rows],
                         [(task, "story-sleep:1", "RUNNING", "RUNNING", inst["INSTANCE"],
                           "family:story-sleep")])
        self.assertRegex(rows[0]["STARTED"], r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$")
        doc = json.loads(self.ok("ps", "--json", env=env))
        self.assertEqual([x["taskArn"].split("/")[-1] for x in doc["tasks"]], [task])
        self.assertEqual(doc["tasks"][0]["lastStatus"], "RUNNING")
        out = self.ok("task", "show", task, env=env)
        self.assertIn("Status:          RUNNING (desired RUNNING)", out)
        self.assertEqual(self.ok("stop", task, env=env).strip(), task)
        self.ecs.get_waiter("tasks_stopped").wait(cluster=CLUSTER, tasks=[task],
                                                  WaiterConfig={"Delay": 1, "MaxAttempts": 90})
        self.assertEqual(table(self.ok("ps", env=env))[1], [])
        _, rows = table(self.ok("ps", "-a", env=env))
        self.assertIn((task, "STOPPED"), [(r["TASK"], r["STATUS"]) for r in rows])
        t = self.ecs.describe_tasks(cluster=CLUSTER, tasks=[task])["tasks"][0]
        self.assertEqual(t["stoppedReason"], "Task stopped by berth CLI")
        self.fails("InvalidParameterException", "stop", "0" * 32, env=env)

        # instances: drain and activate
        out = self.ok("instance", "drain", inst["INSTANCE"], env=env)
        self.assertEqual(out, "%s DRAINING\n" % inst["INSTANCE"])
        self.assertEqual(table(self.ok("instance", "ls", env=env))[1][0]["STATUS"], "DRAINING")
        self.ok("instance", "activate", inst["INSTANCE"], env=env)
        doc = json.loads(self.ok("instance", "ls", "--json", env=env))
        self.assertEqual(doc["containerInstances"][0]["status"], "ACTIVE")

        # the cluster cannot go while it has an instance; then it can
        self.fails("ClusterContainsContainerInstancesException", "cluster", "rm", CLUSTER)
        agent.stop()
        self.ok("instance", "rm", inst["INSTANCE"], env=env)
        self.ok("cluster", "rm", CLUSTER)
        _, rows = table(self.ok("cluster", "ls"))
        self.assertNotIn(CLUSTER, [r["NAME"] for r in rows if r["STATUS"] == "ACTIVE"])

    def on_tty(self, args, env, timeout=180):
        """Run the CLI with its stdout on a pseudo-terminal: (status, what it wrote)."""
        import pty
        master, slave = pty.openpty()
        p = subprocess.Popen([CLI_BIN] + args, stdout=slave, stderr=slave,
                             stdin=subprocess.DEVNULL, env=env)
        os.close(slave)
        data = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = os.read(master, 4096)
            except OSError:  # EIO: the other end closed
                break
            if not chunk:
                break
            data += chunk
        os.close(master)
        rc = p.wait(timeout=30)
        return rc, data.decode(errors="replace")

    def test_services(self):
        self.ok("cluster", "create", "svc")
        rc, out, err = self.berth_cli("service", "ls", "--cluster", "svc")
        if rc == 1 and "UnknownOperationException" in err:
            self.skipTest("the server has no services yet: %s" % err.strip())
        self.assertEqual(rc, 0, err)
        self.assertEqual(table(out)[1], [])
        agent = Agent(self.berth, cluster="svc")
        self.addCleanup(agent.cleanup)
        agent.start()
        env = cli_env(self.berth.endpoint, BERTH_CLUSTER="svc")
        # containers that end on SIGTERM: a stop takes no stopTimeout
        quick = 'trap "exit 0" TERM; sleep %d & wait'
        self.ok("taskdef", "register", self.td_file("svc-web", ["sh", "-c", quick % 600]))
        self.ok("service", "create", "web", "svc-web", "--count", "2", "--wait", env=env,
                timeout=300)
        _, rows = table(self.ok("service", "ls", env=env))
        self.assertEqual([(r["NAME"], r["DESIRED"], r["RUNNING"]) for r in rows],
                         [("web", "2", "2")])
        self.assertEqual(len(table(self.ok("ps", "--service", "web", env=env))[1]), 2)
        self.ok("service", "scale", "web", "1", "--wait", env=env, timeout=300)
        self.ok("taskdef", "register", self.td_file("svc-web", ["sh", "-c", quick % 601]))
        self.ok("service", "update", "web", "--taskdef", "svc-web:2", "--wait", env=env,
                timeout=300)
        out = self.ok("service", "events", "web", env=env)
        events = out.splitlines()
        self.assertTrue(events, "a service that deployed twice has events")
        for line in events:
            self.assertRegex(line, r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  \S")
        doc = [json.loads(x) for x in
               self.ok("service", "events", "web", "--json", env=env).splitlines()]
        self.assertEqual([e["message"] for e in doc], [x[21:] for x in events])
        self.fails("ServiceNotFoundException", "service", "events", "nope", env=env)
        running = self.ecs.list_tasks(cluster="svc")["taskArns"]
        self.ok("service", "rm", "web", "--force", env=env)
        # its tasks stop before the agent does
        if running:
            self.ecs.get_waiter("tasks_stopped").wait(
                cluster="svc", tasks=running, WaiterConfig={"Delay": 1, "MaxAttempts": 120})


class CliLogsTest(CliTestCase):
    server_kw = {"extra_args": ["--registry-create-on-push"]}

    def test_logs_of_a_task(self):
        lg = subprocess.run(["aws", "--endpoint-url", self.berth.endpoint, "logs",
                             "describe-log-groups"], capture_output=True, timeout=60)
        if lg.returncode != 0:
            self.skipTest("the server has no CloudWatch Logs API yet: %s"
                          % lg.stderr.decode().strip())
        if not runc_available():
            self.skipTest("needs root and runc")
        image = push(self.berth, "cli/logs")
        self.ok("cluster", "create", "logs")
        agent = Agent(self.berth, cluster="logs")
        self.addCleanup(agent.cleanup)
        agent.start()
        env = cli_env(self.berth.endpoint, BERTH_CLUSTER="logs")
        doc = {"family": "chatty", "containerDefinitions": [{
            "name": "main", "image": image, "memory": 32,
            "command": ["sh", "-c", "for i in 1 2 3; do echo line $i; done"],
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": "/berth/cli", "awslogs-stream-prefix": "cli",
                "awslogs-region": harness.REGION, "awslogs-create-group": "true"}}}]}
        self.ok("taskdef", "register", "-", input=json.dumps(doc).encode())
        task = self.ok("task", "run", "chatty", "--wait", env=env, timeout=180).split("\n")[0]
        out = self.ok("logs", "-f", task, env=env, timeout=120)
        self.assertEqual(out, "line 1\nline 2\nline 3\n")


class CliPeerTest(CliTestCase):
    """
    The service and logs verbs against moto_server, another implementation
    of the ECS and CloudWatch Logs APIs, while berth's server lacks them
    (their tests against berth above skip until it has them): the requests
    the CLI builds are accepted and its tables read the answers right.
    """

    shared_server = False

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not harness.Moto.available():
            raise harness.unittest.SkipTest("moto_server is not installed")
        cls.berth = harness.Moto()
        cls.addClassCleanup(cls.berth.cleanup)
        cls.berth.start()

    def test_services_and_logs_against_moto(self):
        env = cli_env(self.berth.endpoint, BERTH_CLUSTER="peer")
        self.ok("cluster", "create", "peer", env=env)
        doc = {"family": "peer-web", "containerDefinitions": [{
            "name": "main", "image": "busybox", "memory": 32,
            "logConfiguration": {"logDriver": "awslogs", "options": {
                "awslogs-group": "/peer/web", "awslogs-stream-prefix": "web"}}}]}
        self.ok("taskdef", "register", "-", input=json.dumps(doc).encode(), env=env)
        arn = self.ok("service", "create", "web", "peer-web", "--count", "2",
                      "--min-healthy", "50", "--circuit-breaker=rollback", env=env).strip()
        self.assertTrue(arn.endswith(":service/peer/web") or arn.endswith(":service/web"), arn)
        ecs = self.berth.client("ecs")
        svc = ecs.describe_services(cluster="peer", services=["web"])["services"][0]
        self.assertEqual(svc["desiredCount"], 2)
        # (moto keeps no deploymentConfiguration: the options are only accepted here)
        names, rows = table(self.ok("service", "ls", env=env))
        self.assertEqual(names, ["NAME", "STATUS", "DESIRED", "RUNNING", "PENDING",
                                 "TASK DEFINITION", "DEPLOYMENTS"])
        self.assertEqual([(r["NAME"], r["STATUS"], r["DESIRED"], r["TASK DEFINITION"])
                          for r in rows], [("web", "ACTIVE", "2", "peer-web:1")])
        self.ok("service", "scale", "web", "3", env=env)
        self.ok("taskdef", "register", "-", input=json.dumps(doc).encode(), env=env)
        self.ok("service", "update", "web", "--taskdef", "peer-web:2", env=env)
        svc = ecs.describe_services(cluster="peer", services=["web"])["services"][0]
        self.assertEqual((svc["desiredCount"], svc["taskDefinition"].split("/")[-1]),
                         (3, "peer-web:2"))
        doc = json.loads(self.ok("service", "ls", "--json", env=env))
        self.assertEqual([x["serviceName"] for x in doc["services"]], ["web"])
        rc, out, err = self.berth_cli("service", "events", "web", env=env)
        self.assertEqual(rc, 0, err)
        self.fails("ServiceNotFoundException", "service", "events", "nope", env=env)

        # logs of the service: every stream web/main/* of its group, with the task named
        logs = self.berth.client("logs")
        logs.create_log_group(logGroupName="/peer/web")
        now = int(time.time() * 1000)
        for task, lines in (("0123456789abcdef0123456789abcdef", ["one", "two"]),
                            ("fedcba9876543210fedcba9876543210", ["three"])):
            logs.create_log_stream(logGroupName="/peer/web",
                                   logStreamName="web/main/" + task)
            logs.put_log_events(logGroupName="/peer/web", logStreamName="web/main/" + task,
                                logEvents=[{"timestamp": now + i, "message": m}
                                           for i, m in enumerate(lines)])
        out = self.ok("logs", "web", env=env)
        self.assertEqual(sorted(out.splitlines()),
                         ["main/01234567 | one", "main/01234567 | two",
                          "main/fedcba98 | three"])
        # logs of one task: its own stream, read from the head
        ec2 = self.berth.client("ec2")
        image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        iid = ec2.run_instances(ImageId=image, MinCount=1, MaxCount=1)["Instances"][0]
        ecs.register_container_instance(cluster="peer", instanceIdentityDocument=json.dumps(
            {"instanceId": iid["InstanceId"], "region": harness.REGION}))
        task = json.loads(self.ok("task", "run", "peer-web", "--json", env=env))["tasks"][0]
        tid = task["taskArn"].split("/")[-1]
        logs.create_log_stream(logGroupName="/peer/web", logStreamName="web/main/" + tid)
        logs.put_log_events(logGroupName="/peer/web", logStreamName="web/main/" + tid,
                            logEvents=[{"timestamp": now, "message": "from the task"}])
        self.assertEqual(self.ok("logs", task["taskArn"], env=env), "from the task\n")
        out = self.ok("logs", "--json", task["taskArn"], env=env)
        self.assertEqual(json.loads(out)["message"], "from the task")
        self.ok("service", "rm", "web", "--force", env=env)


class CliDevTest(CliTestCase):
    """`berth task run --wait` against `berth dev`, the CLI finding its keys in its data dir."""

    shared_server = False

    def test_run_wait_in_dev(self):
        if not runc_available():
            self.skipTest("berth dev's agent needs root and runc")
        b = Berth(command="dev", env_keys=False, extra_args=["--registry-create-on-push"])
        self.addCleanup(b.cleanup)
        self.addCleanup(harness.remove_containers, os.path.join(b.data_dir, "agent"), b.tmp)
        b.start()
        with open(os.path.join(b.data_dir, "credentials")) as f:
            key, secret = [ln for ln in f if not ln.startswith("#")][0].split()
        b.access_key, b.secret_key = key, secret
        self.berth = b
        env = cli_env(b.endpoint, keys=False, BERTH_DATA_DIR=b.data_dir)
        deadline = time.monotonic() + 30
        rows = []
        while time.monotonic() < deadline and not rows:
            rc, out, err = self.berth_cli("instance", "ls", env=env)
            if rc == 1 and "ClusterNotFoundException" in err:
                time.sleep(0.2)  # the agent creates "default" as it starts
                continue
            self.assertEqual(rc, 0, err)
            rows = table(out)[1]
            time.sleep(0.2)
        self.assertEqual(len(rows), 1, b.log_tail())
        rc, pw, err = b.aws("ecr", "get-login-password")
        self.assertEqual(rc, 0, err)
        image = push(b, "dev/app")
        doc = {"family": "dev-app", "containerDefinitions": [{
            "name": "app", "image": image, "memory": 32, "command": ["sh", "-c", "exit 0"]}]}
        self.ok("taskdef", "register", "-", input=json.dumps(doc).encode(), env=env)
        out = self.ok("task", "run", "dev-app", "--wait", env=env, timeout=180)
        _, rows = table("\n".join(out.split("\n")[1:]))
        self.assertEqual([(r["CONTAINER"], r["EXIT"]) for r in rows], [("app", "0")])
        # the same from the data directory's parent, as `berth dev` users run it
        os.symlink(b.data_dir, os.path.join(b.tmp, "berth-data"))
        env = cli_env(b.endpoint, keys=False)
        _, rows = table(self.ok("ps", "-a", env=env, cwd=b.tmp))
        self.assertEqual([r["STATUS"] for r in rows], ["STOPPED"])


if __name__ == "__main__":
    harness.main()
