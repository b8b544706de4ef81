"""
harness.py: what berth's integration tests share.

Starts the real `berth server` binary (BERTH_BIN, default ./build/berth) on a
free loopback port with a temporary data directory, and drives it with real
clients: the aws CLI (always with --endpoint-url: Debian's CLI v2 ignores
AWS_ENDPOINT_URL), boto3, and hand-made HTTP requests signed with botocore's
SigV4 signer (or not signed at all) for bodies no SDK would send.

Every client is confined to 127.0.0.1: credentials come from the environment
set here, the instance metadata service is disabled, the user's ~/.aws files
are hidden and proxies are bypassed. Every process and directory the harness
creates is removed again, also when a test fails.

Also starts `moto_server` (test_differential.py compares berth with it).
"""

import datetime
import http.client
import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BERTH_BIN = os.path.abspath(os.environ.get("BERTH_BIN") or os.path.join(ROOT, "build", "berth"))

ACCESS_KEY = "AKIDBERTHITEST000001"
SECRET_KEY = "berth-itest-secret-key-0000000000000001"
REGION = "us-east-1"
ACCOUNT_ID = "000000000000"
ECS_PREFIX = "AmazonEC2ContainerServiceV20141113"
START_TIMEOUT = 15.0

# The clients run here must never reach anything but the server under test:
# no config or credentials files, no instance metadata, no proxy.
_EMPTY_DIR = tempfile.mkdtemp(prefix="berth-itest-home-")
for _k in list(os.environ):
    if _k.startswith("AWS_") or _k.lower() in ("http_proxy", "https_proxy", "all_proxy"):
        del os.environ[_k]
os.environ.update({
    "AWS_CONFIG_FILE": os.path.join(_EMPTY_DIR, "config"),
    "AWS_SHARED_CREDENTIALS_FILE": os.path.join(_EMPTY_DIR, "credentials"),
    "AWS_EC2_METADATA_DISABLED": "true",
    "AWS_DEFAULT_REGION": REGION,
    "AWS_ACCESS_KEY_ID": ACCESS_KEY,
    "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    "AWS_PAGER": "",
    "AWS_MAX_ATTEMPTS": "1",
    "AWS_RETRY_MODE": "standard",
    "NO_PROXY": "127.0.0.1,localhost",
    "no_proxy": "127.0.0.1,localhost",
})


def _cleanup_everything():
    # a run cut short (an exception in a class fixture, SIGTERM) still leaves nothing behind
    for s in STARTED:
        try:
            s.cleanup()
        except Exception:
            pass
    shutil.rmtree(_EMPTY_DIR, ignore_errors=True)


def _on_sigterm(sig, frame):
    sys.exit(128 + sig)


import atexit  # noqa: E402

atexit.register(_cleanup_everything)
signal.signal(signal.SIGTERM, _on_sigterm)

# Every server started in this process, for the runner's failure report.
STARTED = []

import itertools  # noqa: E402

_AGENT_SEQ = itertools.count()


def free_port():
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _kill_group(proc, sig):
    try:
        os.killpg(proc.pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class ServerError(Exception):
    pass


class Server:
    """Base of a server process in its own process group, with its stderr in a file."""

    name = "server"

    def __init__(self):
        self.proc = None
        self.port = None
        self.tmp = tempfile.mkdtemp(prefix="berth-itest-%s-" % self.name)
        self.stderr_path = os.path.join(self.tmp, "stderr.log")
        self._stderr_file = None
        self._log_cache = ""
        STARTED.append(self)

    @property
    def endpoint(self):
        return "http://127.0.0.1:%d" % self.port

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def _spawn(self, argv, env, stdout):
        self._stderr_file = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(
            argv, env=env, stdin=subprocess.DEVNULL, stdout=stdout,
            stderr=self._stderr_file, start_new_session=True)

    def log(self):
        """The server's stderr so far (kept after the directory is gone)."""
        try:
            with open(self.stderr_path, "rb") as f:
                self._log_cache = f.read().decode("utf-8", "replace")
        except OSError:
            pass
        return self._log_cache

    def log_tail(self, lines=40):
        return "\n".join(self.log().splitlines()[-lines:])

    def stop(self, timeout=10.0):
        """SIGTERM, wait; SIGKILL the group if it does not go. Returns the exit status."""
        if self.proc is None:
            return None
        rc = self.proc.poll()
        if rc is None:
            _kill_group(self.proc, signal.SIGTERM)
            try:
                rc = self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                _kill_group(self.proc, signal.SIGKILL)
                rc = self.proc.wait()
                raise ServerError("%s did not stop within %.0fs of SIGTERM:\n%s"
                                  % (self.name, timeout, self.log_tail(40)))
            finally:
                self._reap()
        # whatever the main process left behind in its group goes too
        _kill_group(self.proc, signal.SIGKILL)
        self._reap()
        return rc

    def kill(self):
        """kill -9 the whole process group, as a crash would."""
        if self.proc is None:
            return None
        _kill_group(self.proc, signal.SIGKILL)
        rc = self.proc.wait()
        self._reap()
        return rc

    def _reap(self):
        if self.proc and self.proc.stdout:
            self.proc.stdout.close()
        if self._stderr_file:
            self._stderr_file.close()
            self._stderr_file = None
        self.log()

    def cleanup(self):
        """Stop the process (hard) and remove every file; safe to call twice."""
        if self.proc is not None and self.proc.poll() is None:
            self.kill()
        elif self.proc is not None:
            _kill_group(self.proc, signal.SIGKILL)
            self._reap()
        self.log()
        shutil.rmtree(self.tmp, ignore_errors=True)


class Berth(Server):
    """
    A `berth server`. The data directory stays the same across
    stop()/kill()/start(), so a restart finds the state the last run left.

    credentials: None to pass the key pair through BERTH_ACCESS_KEY_ID and
    BERTH_SECRET_ACCESS_KEY, or a list of (key, secret) written to a
    --credentials file. env_keys=False passes neither.
    """

    def cleanup(self):
        """
        Stop with SIGTERM and require a clean exit: under ASan/UBSan a leak or
        an error found while serving shows as a non-zero status. Then remove
        everything, as Server.cleanup does.
        """
        rc = None
        if self.proc is not None and self.proc.poll() is None:
            rc = self.stop()
        log = self.log_tail(60) if rc not in (None, 0) else ""
        super().cleanup()
        if rc not in (None, 0):
            raise ServerError("berth server exited with status %s on SIGTERM:\n%s" % (rc, log))

    name = "berth"

    def __init__(self, region=None, account_id=None, credentials=None, env_keys=True,
                 extra_args=(), command="server"):
        super().__init__()
        self.command = command
        self.region = region or REGION
        self.account_id = account_id or ACCOUNT_ID
        self.data_dir = os.path.join(self.tmp, "data")
        self.access_key, self.secret_key = ACCESS_KEY, SECRET_KEY
        self.credentials_file = None
        if credentials is not None:
            self.credentials_file = os.path.join(self.tmp, "credentials")
            with open(self.credentials_file, "w") as f:
                f.write("# berth integration test keys\n")
                for k, s in credentials:
                    f.write("%s %s\n" % (k, s))
            self.access_key, self.secret_key = credentials[0]
        self.env_keys = env_keys
        self.extra_args = list(extra_args)

    def argv(self):
        argv = [BERTH_BIN, self.command, "--listen", "127.0.0.1:0", "--data-dir", self.data_dir]
        if self.credentials_file:
            argv += ["--credentials", self.credentials_file]
        if self.region != REGION:
            argv += ["--region", self.region]
        if self.account_id != ACCOUNT_ID:
            argv += ["--account-id", self.account_id]
        return argv + self.extra_args

    def env(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AWS_") and not k.startswith("BERTH_")}
        if self.env_keys and not self.credentials_file:
            env["BERTH_ACCESS_KEY_ID"] = ACCESS_KEY
            env["BERTH_SECRET_ACCESS_KEY"] = SECRET_KEY
        return env

    def start(self, timeout=START_TIMEOUT):
        """Start and wait for `listening on port N`; returns self."""
        if self.running:
            raise ServerError("berth is already running")
        if not os.access(BERTH_BIN, os.X_OK):
            raise ServerError("no berth binary at %s (set BERTH_BIN)" % BERTH_BIN)
        os.makedirs(self.data_dir, exist_ok=True)
        self._spawn(self.argv(), self.env(), subprocess.PIPE)
        deadline = time.monotonic() + timeout
        out = b""
        fd = self.proc.stdout.fileno()
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                self.kill()
                raise ServerError("berth did not print 'listening on port N' within %.0fs; "
                                  "stdout %r; stderr:\n%s" % (timeout, out, self.log_tail()))
            ready, _, _ = select.select([fd], [], [], min(left, 0.2))
            if ready:
                chunk = os.read(fd, 4096)
                if not chunk:
                    rc = self.proc.wait()
                    self._reap()
                    raise ServerError("berth exited with status %s before listening; stderr:\n%s"
                                      % (rc, self.log_tail()))
                out += chunk
                for line in out.decode("utf-8", "replace").splitlines():
                    if line.startswith("listening on port "):
                        self.port = int(line.split()[-1])
                        return self
            elif self.proc.poll() is not None:
                rc = self.proc.wait()
                self._reap()
                raise ServerError("berth exited with status %s before listening; stderr:\n%s"
                                  % (rc, self.log_tail()))

    def restart(self):
        self.stop()
        return self.start()

    def run_to_exit(self, timeout=10.0):
        """Run with the current options expecting it to exit: (rc, stdout, stderr)."""
        os.makedirs(self.data_dir, exist_ok=True)
        p = subprocess.run(self.argv(), env=self.env(), stdin=subprocess.DEVNULL,
                           capture_output=True, timeout=timeout, start_new_session=True)
        return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")

    # clients bound to this server
    def client(self, service="ecs", **kw):
        kw.setdefault("region", self.region)
        kw.setdefault("access_key", self.access_key)
        kw.setdefault("secret_key", self.secret_key)
        return client(self.endpoint, service, **kw)

    def aws(self, *args, **kw):
        kw.setdefault("region", self.region)
        kw.setdefault("access_key", self.access_key)
        kw.setdefault("secret_key", self.secret_key)
        return aws(self.endpoint, *args, **kw)

    def request(self, operation, body=b"{}", **kw):
        kw.setdefault("region", self.region)
        kw.setdefault("access_key", self.access_key)
        kw.setdefault("secret_key", self.secret_key)
        return signed_request(self.endpoint, operation, body, **kw)

    def unsigned(self, operation, body=b"{}", **kw):
        return unsigned_request(self.endpoint, operation, body, **kw)


class Agent(Server):
    """
    A `berth agent` joined to a running Berth server's cluster, with its own
    data directory (kept across stop()/kill()/start(), as a host's disk is).

    cleanup() also removes what the agent's containers leave when a test
    kills it: their shims, runc's state, mounts under the data directory and
    berth's cgroups.
    """

    name = "agent"

    def __init__(self, server, cluster="default", extra_args=()):
        super().__init__()
        self.server = server
        self.cluster = cluster
        self.data_dir = os.path.join(self.tmp, "data")
        self.extra_args = list(extra_args)
        self.instance_arn = None
        # test files run in parallel: each agent gets a bridge and subnet of its own
        if "--bridge" not in self.extra_args:
            key = (os.getpid() * 8 + next(_AGENT_SEQ)) % 25600
            self.extra_args += ["--bridge", "bh%d" % key, "--bridge-subnet",
                                "10.%d.%d.0/24" % (100 + key // 256, key % 256)]
        self.bridge = self.extra_args[self.extra_args.index("--bridge") + 1]

    def argv(self):
        # ports the kernel picks for the introspection API and the task
        # metadata endpoint: agents of tests running at once never collide
        return [BERTH_BIN, "agent", "--server", self.server.endpoint, "--cluster", self.cluster,
                "--data-dir", self.data_dir, "--region", self.server.region,
                "--poll-wait", "5", "--log-level", "debug",
                "--introspection-port", "0", "--metadata-port", "0"] + self.extra_args

    def listening(self, what):
        """The port the agent's last start logged for `what` ("introspection API", ...)."""
        port = None
        for line in self.log().splitlines():
            if ("agent: %s on 127.0.0.1:" % what) in line:
                port = int(line.rsplit(":", 1)[1])
        return port

    def env(self):
        env = {k: v for k, v in os.environ.items()
               if not k.startswith("AWS_") and not k.startswith("BERTH_")}
        env["BERTH_ACCESS_KEY_ID"] = self.server.access_key
        env["BERTH_SECRET_ACCESS_KEY"] = self.server.secret_key
        return env

    def start(self, timeout=START_TIMEOUT):
        """Start and wait until it has registered; returns self."""
        seen = len(self.log())
        self._spawn(self.argv(), self.env(), subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = self.log()[seen:]
            for line in text.splitlines():
                if "registered as " in line:
                    self.instance_arn = line.split("registered as ")[-1].strip()
                    return self
            if self.proc.poll() is not None:
                rc = self.proc.wait()
                self._reap()
                raise ServerError("berth agent exited with status %s before registering:\n%s"
                                  % (rc, self.log_tail()))
            time.sleep(0.05)
        self.kill()
        raise ServerError("berth agent did not register within %.0fs:\n%s"
                          % (timeout, self.log_tail()))

    def cleanup(self):
        rc = None
        if self.proc is not None and self.proc.poll() is None:
            rc = self.stop()
        log = self.log_tail(60) if rc not in (None, 0) else ""
        self.remove_containers()
        remove_network(self.bridge)
        super().cleanup()
        if rc not in (None, 0):
            raise ServerError("berth agent exited with status %s on SIGTERM:\n%s" % (rc, log))

    def shims(self):
        """Pids of the shims serving this agent's containers."""
        return shims(self.data_dir)

    def remove_containers(self):
        """Kill every container and shim of this agent and undo their mounts and cgroups."""
        remove_containers(self.data_dir, self.tmp)


def bridge_veth_prefix(bridge):
    """The prefix of the names of the host ends of the veths on an agent's bridge (network.c)."""
    h = 2166136261
    for b in bridge.encode():
        h = ((h ^ b) * 16777619) & 0xffffffff
    return "v%06x" % (h & 0xffffff)


def berth_links(bridge):
    """The links of an agent whose bridge is named bridge: the bridge and its veths."""
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True,
                         timeout=30).stdout.decode()
    names = [line.split(":")[1].strip().split("@")[0] for line in out.splitlines()]
    prefix = bridge_veth_prefix(bridge)
    return [n for n in names if n == bridge or n.startswith(prefix)]


def nft_table_exists(bridge):
    return subprocess.run(["nft", "list", "table", "ip", "berth_" + bridge],
                          capture_output=True, timeout=30).returncode == 0


def remove_network(bridge):
    """Remove what an agent killed mid-test leaves of its network: veths, bridge, nft table."""
    if shutil.which("ip") is None or os.geteuid() != 0:
        return
    for name in berth_links(bridge):
        subprocess.run(["ip", "link", "del", name], capture_output=True, timeout=30)
    if shutil.which("nft") and nft_table_exists(bridge):
        subprocess.run(["nft", "delete", "table", "ip", "berth_" + bridge],
                       capture_output=True, timeout=30)


def skopeo_env(home):
    """The environment skopeo runs in: no AWS settings, its home and auth file under home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update({"HOME": home, "XDG_RUNTIME_DIR": home,
                "XDG_CONFIG_HOME": os.path.join(home, ".config"),
                "REGISTRY_AUTH_FILE": os.path.join(home, "auth.json")})
    return env


def shims(data_dir):
    """Pids of the `berth shim` processes of the agent whose data directory is data_dir."""
    pids = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/cmdline" % pid, "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if len(argv) > 1 and argv[1] == b"shim" and any(data_dir.encode() in a for a in argv):
            pids.append(int(pid))
    return pids


def remove_containers(data_dir, mount_root):
    """
    Kill the containers and shims of the agent whose data directory is
    data_dir (runc state in DATA-DIR/runc), and unmount whatever is
    mounted under mount_root.
    """
    root = os.path.join(data_dir, "runc")
    # runc's containers, and crun's (through the agent's wrapper when it wrote one)
    runtimes = ["runc"]
    wrapper = os.path.join(data_dir, "crun-legacy-cgroups")
    if os.path.exists(wrapper):
        runtimes.append(wrapper)
    elif shutil.which("crun"):
        runtimes.append("crun")
    for rt in runtimes if os.path.isdir(root) else []:
        out = subprocess.run([rt, "--root", root, "list", "-q"], capture_output=True,
                             timeout=30).stdout.decode().split()
        for cid in out:
            subprocess.run([rt, "--root", root, "kill", cid, "KILL"],
                           capture_output=True, timeout=30)
        for cid in out:
            subprocess.run([rt, "--root", root, "delete", "--force", cid],
                           capture_output=True, timeout=30)
    for pid in shims(data_dir):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    with open("/proc/self/mountinfo") as f:
        mounts = [line.split()[4] for line in f]
    for m in sorted((m for m in mounts if m.startswith(mount_root)), key=len, reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True, timeout=30)


class Moto(Server):
    """`moto_server` on a free loopback port (skip when moto is not installed)."""

    name = "moto"

    def __init__(self):
        super().__init__()
        self.region, self.account_id = REGION, "123456789012"
        self.access_key, self.secret_key = ACCESS_KEY, SECRET_KEY

    @staticmethod
    def available():
        try:
            import moto  # noqa: F401
        except ImportError:
            return False
        return shutil.which("moto_server") is not None

    def start(self, timeout=START_TIMEOUT):
        self.port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("BERTH_")}
        self._spawn(["moto_server", "-H", "127.0.0.1", "-p", str(self.port)], env,
                    subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                self._reap()
                raise ServerError("moto_server exited: %s" % self.log_tail())
            try:
                c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=1)
                c.request("GET", "/moto-api/")
                c.getresponse().read()
                c.close()
                return self
            except OSError:
                time.sleep(0.1)
        self.kill()
        raise ServerError("moto_server did not answer within %.0fs" % timeout)

    def client(self, service="ecs", **kw):
        # moto adds members of its own: the differential test compares it with berth instead
        kw.setdefault("check_model", False)
        return Berth.client(self, service, **kw)

    aws = Berth.aws
    request = Berth.request

    def log_tail(self, lines=40):
        # werkzeug's access log says nothing a failure report needs
        kept = [l for l in self.log().splitlines() if '"POST / HTTP' not in l
                and '"GET /moto-api/ HTTP' not in l]
        return "\n".join(kept[-lines:])



# --- response checking against AWS's model --------------------------------------

def shape_errors(shape, value, path="$"):
    """
    How value (decoded JSON) differs from botocore's shape: wrong JSON types,
    members the model does not have, enum values it does not list. A list of
    strings, empty when it fits.
    """
    t = shape.type_name
    errs = []
    if value is None:
        return ["%s: null (AWS leaves absent members out)" % path]
    if t == "structure":
        if not isinstance(value, dict):
            return ["%s: %s where the model has a structure %s" % (path, type(value).__name__, shape.name)]
        for k, v in value.items():
            if k not in shape.members:
                errs.append("%s.%s: not a member of %s" % (path, k, shape.name))
            else:
                errs += shape_errors(shape.members[k], v, "%s.%s" % (path, k))
    elif t == "list":
        if not isinstance(value, list):
            return ["%s: %s where the model has a list" % (path, type(value).__name__)]
        for i, v in enumerate(value):
            errs += shape_errors(shape.member, v, "%s[%d]" % (path, i))
    elif t == "map":
        if not isinstance(value, dict):
            return ["%s: %s where the model has a map" % (path, type(value).__name__)]
        for k, v in value.items():
            errs += shape_errors(shape.value, v, "%s[%r]" % (path, k))
    elif t == "string":
        if not isinstance(value, str):
            errs.append("%s: %s where the model has a string" % (path, type(value).__name__))
        elif shape.enum and value not in shape.enum:
            errs.append("%s: %r is not one of %s's values" % (path, value, shape.name))
    elif t in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            errs.append("%s: %r where the model has an %s" % (path, value, t))
    elif t in ("float", "double"):
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            errs.append("%s: %r where the model has a %s" % (path, value, t))
    elif t == "boolean":
        if not isinstance(value, bool):
            errs.append("%s: %r where the model has a boolean" % (path, value))
    elif t == "timestamp":
        # JSON 1.1 sends epoch seconds as a number
        if not isinstance(value, (int, float)) or isinstance(value, bool):
            errs.append("%s: %r where the model has a timestamp (epoch seconds)" % (path, value))
    elif t == "blob":
        if not isinstance(value, str):
            errs.append("%s: %r where the model has a blob (base64 string)" % (path, value))
    return errs


_models = {}


def service_model(service="ecs"):
    if service not in _models:
        import botocore.session
        _models[service] = botocore.session.get_session().get_service_model(service)
    return _models[service]


def response_errors(operation, status, body, service="ecs"):
    """How a raw response body breaks the model of operation's output or of an error."""
    try:
        doc = json.loads(body)
    except ValueError:
        return ["body is not JSON: %r" % body[:200]]
    if status >= 300:
        if not isinstance(doc, dict) or not isinstance(doc.get("__type"), str):
            return ["error body without a string __type: %r" % body[:200]]
        bad = ["error member %s is %r" % (k, v) for k, v in doc.items()
               if k in ("message", "Message") and not isinstance(v, str)]
        return bad
    op = service_model(service).operation_model(operation)
    if op.output_shape is None:
        return [] if doc == {} else ["%s has no output, got %r" % (operation, body[:200])]
    return shape_errors(op.output_shape, doc)


class ModelMismatch(AssertionError):
    pass


def _check_after_call(http_response, model, **kw):
    errs = response_errors(model.name, http_response.status_code, http_response.content,
                           model.service_model.service_name)
    if errs:
        raise ModelMismatch("%s response does not fit AWS's model:\n  %s\nbody: %s"
                            % (model.name, "\n  ".join(errs[:20]),
                               http_response.content[:1000].decode("utf-8", "replace")))


# --- clients -----------------------------------------------------------------

def client(endpoint, service="ecs", region=REGION, access_key=ACCESS_KEY, secret_key=SECRET_KEY,
           session_token=None, check_model=True, **config):
    """
    A boto3 client of endpoint that never retries, so errors surface at once.
    With check_model, every response's raw JSON is checked against AWS's
    model (types, member names, enum values) and a mismatch raises
    ModelMismatch from the call.
    """
    import boto3
    from botocore.config import Config

    assert endpoint.startswith("http://127.0.0.1:"), endpoint
    session = boto3.session.Session(aws_access_key_id=access_key,
                                    aws_secret_access_key=secret_key,
                                    aws_session_token=session_token, region_name=region)
    cfg = Config(retries={"max_attempts": 1}, connect_timeout=5, read_timeout=30, **config)
    c = session.client(service, endpoint_url=endpoint, config=cfg)
    if check_model:
        c.meta.events.register("after-call", _check_after_call)
    return c


def aws(endpoint, *args, region=REGION, access_key=ACCESS_KEY, secret_key=SECRET_KEY,
        session_token=None, env=None, timeout=60):
    """
    Run `aws --endpoint-url ENDPOINT --output json ARGS...`; returns
    (rc, parsed JSON or stdout text, stderr text).
    """
    assert endpoint.startswith("http://127.0.0.1:"), endpoint
    e = dict(os.environ)
    e.update({"AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key,
              "AWS_DEFAULT_REGION": region})
    if session_token:
        e["AWS_SESSION_TOKEN"] = session_token
    if env:
        e.update(env)
    argv = ["aws", "--endpoint-url", endpoint, "--output", "json", "--region", region] + list(args)
    p = subprocess.run(argv, env=e, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=timeout)
    out = p.stdout.decode("utf-8", "replace")
    try:
        parsed = json.loads(out) if out.strip() else out
    except ValueError:
        parsed = out
    return p.returncode, parsed, p.stderr.decode("utf-8", "replace")


class Response:
    """A raw HTTP response: status, headers (lower-case names), body, and json if it is JSON."""

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    @property
    def error_type(self):
        """__type without its namespace# prefix, as clients read it."""
        if isinstance(self.json, dict) and isinstance(self.json.get("__type"), str):
            return self.json["__type"].rsplit("#", 1)[-1]
        return None

    @property
    def message(self):
        if isinstance(self.json, dict):
            return self.json.get("message") or self.json.get("Message") or ""
        return ""

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:500])


def _body_bytes(body):
    if isinstance(body, (dict, list)):
        return json.dumps(body).encode()
    if isinstance(body, str):
        return body.encode()
    return body


def http_request(endpoint, method, path, body=b"", headers=None, timeout=30):
    assert endpoint.startswith("http://127.0.0.1:"), endpoint
    port = int(endpoint.rsplit(":", 1)[1])
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        data = r.read()
        return Response(r.status, {k.lower(): v for k, v in r.getheaders()}, data)
    finally:
        c.close()


def _target(operation):
    if operation is None:
        return None
    return operation if "." in operation else "%s.%s" % (ECS_PREFIX, operation)


def unsigned_request(endpoint, operation, body=b"{}", headers=None, method="POST", path="/"):
    """POST a JSON 1.1 request without any signature."""
    h = {"Content-Type": "application/x-amz-json-1.1"}
    if _target(operation):
        h["X-Amz-Target"] = _target(operation)
    h.update(headers or {})
    return http_request(endpoint, method, path, _body_bytes(body), h)


def sign(endpoint, method, path, body, headers, region=REGION, service="ecs",
         access_key=ACCESS_KEY, secret_key=SECRET_KEY, session_token=None, when=None):
    """
    Headers of a SigV4-signed request, signed by botocore's signer as of
    datetime `when` (UTC; default now).
    """
    from botocore.auth import SigV4Auth, SIGV4_TIMESTAMP
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    class AtTime(SigV4Auth):
        # botocore's add_auth with the clock replaced
        def add_auth(self, request):
            t = when or datetime.datetime.now(datetime.timezone.utc)
            request.context["timestamp"] = t.strftime(SIGV4_TIMESTAMP)
            self._modify_request_before_signing(request)
            canonical = self.canonical_request(request)
            sts = self.string_to_sign(request, canonical)
            self._inject_signature_to_request(request, self.signature(sts, request))

    req = AWSRequest(method=method, url=endpoint + path, data=body, headers=dict(headers))
    AtTime(Credentials(access_key, secret_key, session_token), service, region).add_auth(req)
    return dict(req.headers.items())


def signed_request(endpoint, operation, body=b"{}", headers=None, method="POST", path="/",
                   **sign_kw):
    """
    POST a JSON 1.1 request with any body (bytes, str, or a dict to encode),
    signed with SigV4; operation None leaves X-Amz-Target out. Returns a Response.
    """
    body = _body_bytes(body)
    h = {"Content-Type": "application/x-amz-json-1.1"}
    if _target(operation):
        h["X-Amz-Target"] = _target(operation)
    h.update(headers or {})
    return http_request(endpoint, method, path, body, sign(endpoint, method, path, body, h,
                                                             **sign_kw))


# --- test case bases -----------------------------------------------------------

class BerthTestCase(unittest.TestCase):
    """
    One berth server for the whole class (cls.berth, cls.ecs: a boto3
    client). Tests that need their own server call self.new_berth().
    """

    server_kw = {}
    shared_server = True  # False: no class server, each test makes its own

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        if not cls.shared_server:
            return
        # BERTH_ITEST_TARGET=moto runs the class against moto_server instead: a
        # way to check a test's own logic against another implementation
        if os.environ.get("BERTH_ITEST_TARGET") == "moto":
            cls.berth = Moto()
        else:
            cls.berth = Berth(**cls.server_kw)
        cls.addClassCleanup(cls.berth.cleanup)
        cls.berth.start()
        cls.ecs = cls.berth.client()

    def new_berth(self, start=True, **kw):
        b = Moto() if os.environ.get("BERTH_ITEST_TARGET") == "moto" else Berth(**kw)
        self.addCleanup(b.cleanup)
        if start:
            b.start()
        return b

    def assertClientError(self, code, fn, *args, **kw):
        """Call fn and expect a botocore ClientError with this code; returns the error."""
        from botocore.exceptions import ClientError

        with self.assertRaises(ClientError) as cm:
            fn(*args, **kw)
        err = cm.exception.response["Error"]
        self.assertEqual(err.get("Code"), code, "wanted %s, got %r" % (code, cm.exception.response))
        status = cm.exception.response["ResponseMetadata"]["HTTPStatusCode"]
        self.assertTrue(400 <= status < 500, "a client mistake answered with %d" % status)
        return cm.exception

    def assertError(self, resp, error_type, status=400):
        """A raw Response is the JSON error error_type with this status."""
        self.assertIsInstance(resp.json, dict, "error body is not JSON: %r" % resp)
        self.assertEqual(resp.error_type, error_type, repr(resp))
        if status is not None:
            self.assertEqual(resp.status, status, repr(resp))
        self.assertIsInstance(resp.json.get("message", ""), str, repr(resp))
        self.assertTrue(resp.headers.get("content-type", "").startswith("application/x-amz-json-1.1"),
                        resp.headers)

    def assertCliError(self, result, code):
        rc, out, err = result
        self.assertNotEqual(rc, 0, "the aws CLI succeeded: %r" % (out,))
        self.assertIn("(%s)" % code, err)


def main():
    unittest.main(module="__main__", verbosity=int(os.environ.get("BERTH_ITEST_VERBOSE", "1")))


if __name__ == "__main__":
    sys.exit("harness.py is a library; run tests/run-integration")
