"""
The container runtime on its own (agent/runtime.h), driven through the
internal `berth container` verb: no server, no agent. Each test runs real
containers with runc from the busybox test image (tests/images/build.py),
unpacked into a layer store: exit codes and the log, a stop that has to
escalate to SIGKILL, memory limits in the cgroup and OOM kills, whiteouts,
a read-only root, a container that outlives the process that started it,
and removal that leaves no mount, cgroup, runc state or directory.

Needs root and runc (skipped otherwise). Every container is removed in
tearDown, and whatever a failing test leaves is killed and unmounted at the
end of the module.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import unittest

import harness

sys.path.insert(0, os.path.join(harness.ROOT, "tests", "images"))
import build  # noqa: E402

TMP = None
LAYOUT = None
DATA = None


def available():
    return os.geteuid() == 0 and shutil.which("runc") is not None and \
        os.path.exists(build.BUSYBOX)


def setUpModule():
    global TMP, LAYOUT, DATA
    if not available():
        return
    TMP = tempfile.mkdtemp(prefix="berth-itest-runtime-")
    LAYOUT = build.write_layout(os.path.join(TMP, "image"), {"latest": build.image("oci")})
    DATA = os.path.join(TMP, "data")


def tearDownModule():
    if not TMP:
        return
    # whatever a failed test left: containers, shims, mounts
    root = os.path.join(DATA, "runc")
    if os.path.isdir(root):
        ids = subprocess.run(["runc", "--root", root, "list", "-q"], capture_output=True,
                             timeout=30).stdout.decode().split()
        for cid in ids:
            subprocess.run(["runc", "--root", root, "delete", "--force", cid],
                           capture_output=True, timeout=30)
    for pid in shims():
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for m in sorted((m for m in mounts() if m.startswith(TMP)), key=len, reverse=True):
        subprocess.run(["umount", "-l", m], capture_output=True, timeout=30)
    shutil.rmtree(TMP, ignore_errors=True)


def mounts():
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f]


def shims():
    return harness.shims(TMP) if TMP else []


def cgroup_dirs(cid):
    """The cgroup directories of container cid that exist, in every hierarchy."""
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            fstype = fields[fields.index("-") + 1]
            if fstype in ("cgroup", "cgroup2"):
                d = os.path.join(fields[4], "berth", cid)
                if os.path.isdir(d):
                    found.append(d)
    return found


def memory_cgroup_file(cid, v1, v2):
    v1_path = "/sys/fs/cgroup/memory/berth/%s/%s" % (cid, v1)
    return v1_path if os.path.exists(v1_path) else "/sys/fs/cgroup/berth/%s/%s" % (cid, v2)


@unittest.skipUnless(available(), "needs root, runc and busybox")
class RuntimeTest(unittest.TestCase):
    def setUp(self):
        self.ids = []

    def tearDown(self):
        for cid in self.ids:
            if os.path.isdir(os.path.join(DATA, "containers", cid)):
                self.berth("rm", cid)

    def berth(self, verb, *args, check=True, timeout=60):
        p = subprocess.run([harness.BERTH_BIN, "container", verb, "--data-dir", DATA] +
                           list(args), capture_output=True, timeout=timeout)
        if check and p.returncode != 0:
            self.fail("berth container %s %s: status %d: %s" %
                      (verb, " ".join(args), p.returncode, p.stderr.decode()))
        return p

    def run_container(self, cid, command, definition=None, check=True):
        args = ["--id", cid]
        if definition is not None:
            args += ["--def", json.dumps(definition)]
        self.ids.append(cid)
        p = self.berth("run", *(args + [LAYOUT, "--"] + command), check=check)
        return json.loads(p.stdout) if p.returncode == 0 else p

    def wait(self, cid, timeout_ms=20000):
        st = json.loads(self.berth("wait", "--timeout", str(timeout_ms), cid).stdout)
        self.assertTrue(st["exited"], st)
        return st

    def log(self, cid):
        with open(os.path.join(DATA, "containers", cid, "log"), encoding="utf-8") as f:
            return [json.loads(line) for line in f]

    def stdout_lines(self, cid):
        return [r["l"] for r in self.log(cid) if r["s"] == "stdout"]

    def test_echo_hello_and_exit_codes(self):
        st = self.run_container("hello", ["echo", "hello"])
        self.assertGreater(st["pid"], 0)
        st = self.wait("hello")
        self.assertEqual(st["exitCode"], 0)
        self.assertEqual(st["signal"], 0)
        self.assertEqual(st["reason"], "")
        self.assertGreaterEqual(st["finishedAt"], st["startedAt"])
        recs = self.log("hello")
        self.assertEqual([(r["s"], r["l"]) for r in recs], [("stdout", "hello")])
        self.assertIsInstance(recs[0]["t"], int)

        self.run_container("three", ["sh", "-c", "echo oops >&2; exit 3"])
        st = self.wait("three")
        self.assertEqual(st["exitCode"], 3)
        self.assertIn({"s": "stderr", "l": "oops"},
                      [{"s": r["s"], "l": r["l"]} for r in self.log("three")])

    def test_log_lines_split_and_kept_utf8(self):
        self.run_container("longline", [
            "sh", "-c", "busybox head -c 40000 /dev/zero | busybox tr '\\0' a; echo; "
                        "busybox printf 'bad \\377 byte\\n'; busybox printf 'no newline'"])
        self.assertEqual(self.wait("longline")["exitCode"], 0)
        lines = self.stdout_lines("longline")
        self.assertEqual([len(x) for x in lines[:3]], [16384, 16384, 40000 - 2 * 16384])
        self.assertEqual(lines[3], "bad \ufffd byte")
        self.assertEqual(lines[4], "no newline")

    def test_signals_reach_the_container(self):
        # nothing the shim ignores is ignored in the container
        self.run_container("sigs", ["cat", "/proc/self/status"])
        self.wait("sigs")
        ign = [x for x in self.stdout_lines("sigs") if x.startswith("SigIgn:")][0]
        mask = int(ign.split()[1], 16)
        for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGPIPE, signal.SIGTERM):
            self.assertFalse(mask & (1 << (sig - 1)), "%s ignored: %s" % (sig, ign))
        # a container that handles SIGTERM stops at once, with its own exit code
        self.run_container("term", ["sh", "-c",
                                    "trap 'exit 143' TERM; while :; do busybox sleep 0.1; done"])
        t0 = time.monotonic()
        st = json.loads(self.berth("stop", "--timeout", "20", "term").stdout)
        self.assertLess(time.monotonic() - t0, 5)
        self.assertEqual((st["exitCode"], st["signal"]), (143, 0))

    def test_stop_escalates_to_sigkill(self):
        self.run_container("stubborn", ["sh", "-c", "trap '' TERM; busybox sleep 1000"])
        t0 = time.monotonic()
        st = json.loads(self.berth("stop", "--timeout", "2", "stubborn").stdout)
        elapsed = time.monotonic() - t0
        self.assertGreaterEqual(elapsed, 1.9)
        self.assertLess(elapsed, 10)
        self.assertTrue(st["exited"])
        self.assertEqual((st["exitCode"], st["signal"]), (137, 9))
        self.assertFalse(st["oomKilled"])

    def test_memory_and_cpu_in_the_cgroup(self):
        self.run_container("limits", ["busybox", "sleep", "1000"],
                           {"memory": 64, "memoryReservation": 32, "cpu": 256})
        with open(memory_cgroup_file("limits", "memory.limit_in_bytes", "memory.max")) as f:
            self.assertEqual(int(f.read()), 64 << 20)
        with open(memory_cgroup_file("limits", "memory.soft_limit_in_bytes",
                                     "memory.low")) as f:
            self.assertEqual(int(f.read()), 32 << 20)
        if os.path.exists("/sys/fs/cgroup/cpu/berth/limits/cpu.shares"):
            with open("/sys/fs/cgroup/cpu/berth/limits/cpu.shares") as f:
                self.assertEqual(int(f.read()), 256)

    def test_oom_kill_reported(self):
        self.run_container("oom", ["busybox", "dd", "if=/dev/zero", "of=/dev/null",
                                   "bs=100M", "count=1"], {"memory": 16})
        st = self.wait("oom")
        self.assertEqual((st["exitCode"], st["signal"]), (137, 9))
        self.assertTrue(st["oomKilled"])
        self.assertEqual(st["reason"], "OutOfMemoryError: Container killed due to memory usage")

    def test_whiteouts_of_layer_3(self):
        self.run_container("wh", ["sh", "-c", "ls -A /www/old; ls -A /etc; ls -A /"])
        self.assertEqual(self.wait("wh")["exitCode"], 0)
        out = self.stdout_lines("wh")
        self.assertEqual(out[0], "new.txt")  # /www/old holds only layer 3's file
        self.assertNotIn("motd", " ".join(out))
        self.assertNotIn(".berth-whiteouts", " ".join(out))

    def test_readonly_root(self):
        self.run_container("ro", ["sh", "-c", "echo x > /x || exit 9"],
                           {"readonlyRootFilesystem": True})
        self.assertEqual(self.wait("ro")["exitCode"], 9)
        self.assertIn("Read-only file system", " ".join(r["l"] for r in self.log("ro")))
        # the same without it writes
        self.run_container("rw", ["sh", "-c", "echo x > /x || exit 9"])
        self.assertEqual(self.wait("rw")["exitCode"], 0)

    def test_missing_command_fails_the_start(self):
        p = self.run_container("nope", [], {"entryPoint": ["/bin/nope"]}, check=False)
        self.assertEqual(p.returncode, 1)
        self.assertIn(b"CannotStartContainerError: ", p.stderr)
        self.assertIn(b"/bin/nope", p.stderr)
        self.assertFalse(os.path.exists(os.path.join(DATA, "containers", "nope")))
        self.assertEqual(cgroup_dirs("nope"), [])

    def test_container_outlives_its_starter(self):
        # the starter (an agent, here a shell in a session of its own) is killed
        # with SIGKILL with everything in its process group; the container goes on
        self.ids.append("survivor")
        starter = subprocess.Popen(
            ["sh", "-c", '"$0" container run --data-dir "$1" --id survivor "$2" -- '
                         "sh -c 'busybox sleep 2; echo done; exit 7' && busybox sleep 100",
             harness.BERTH_BIN, DATA, LAYOUT],
            stdout=subprocess.PIPE, start_new_session=True)
        line = starter.stdout.readline()
        self.assertTrue(json.loads(line)["running"])
        os.killpg(starter.pid, signal.SIGKILL)
        starter.wait()
        starter.stdout.close()
        st = json.loads(self.berth("state", "survivor").stdout)
        self.assertTrue(st["running"], st)
        st = self.wait("survivor")
        self.assertEqual(st["exitCode"], 7)
        self.assertEqual(self.stdout_lines("survivor"), ["done"])

    def test_shim_killed_is_reported(self):
        self.run_container("orphan", ["busybox", "sleep", "1000"])
        shim = int(open(os.path.join(DATA, "containers", "orphan", "shim.pid")).read())
        os.kill(shim, signal.SIGKILL)
        time.sleep(0.2)
        # the container runs on, unwatched; once it ends, its exit code is unknown
        st = json.loads(self.berth("state", "orphan").stdout)
        self.assertTrue(st["running"], st)
        self.berth("stop", "--timeout", "1", "orphan")
        st = self.wait("orphan")
        self.assertEqual(st["exitCode"], -1)
        self.assertIn("berth shim", st["reason"])

    def test_rm_leaves_nothing(self):
        st = self.run_container("gone", ["busybox", "sleep", "1000"], {"memory": 32})
        cdir = os.path.join(DATA, "containers", "gone")
        self.assertIn(os.path.join(cdir, "rootfs"), mounts())
        self.assertNotEqual(cgroup_dirs("gone"), [])
        self.assertTrue(os.path.isdir(os.path.join(DATA, "runc", "gone")))
        self.berth("rm", "gone")
        self.assertFalse(any(m.startswith(cdir) for m in mounts()))
        self.assertEqual(cgroup_dirs("gone"), [])
        self.assertFalse(os.path.exists(os.path.join(DATA, "runc", "gone")))
        self.assertFalse(os.path.exists(cdir))
        self.assertFalse(os.path.exists("/proc/%d" % st["pid"]) and
                         b"sleep" in open("/proc/%d/cmdline" % st["pid"], "rb").read())
        self.assertEqual(self.berth("ls").stdout.decode().split().count("gone"), 0)


if __name__ == "__main__":
    unittest.main()
