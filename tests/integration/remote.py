"""Tokens served over p11-kit's RPC, for test_remote*.py: `p11-kit server`
exporting a module's token on a unix socket in a temporary directory,
pkcs11prov as its client through p11-kit-client.so (found through
P11_KIT_SERVER_ADDRESS), and sign_loop clients of it.

The server runs in a process group of its own (it forks a p11-kit remote
per client connection) and is stopped, or killed to play a restart, by
group."""
import os
import re
import signal
import subprocess
import time
from pathlib import Path

from helpers import child_env, write_openssl_cnf
from keyops import c_program

P11KIT_CLIENT = os.path.join(
    subprocess.run(["pkg-config", "--variable=p11_module_path", "p11-kit-1"],
                   capture_output=True, text=True, check=True).stdout.strip(),
    "p11-kit-client.so")


def p11kit_version():
    out = subprocess.run(["pkg-config", "--modversion", "p11-kit-1"],
                         capture_output=True, text=True, check=True).stdout
    return tuple(int(x) for x in out.strip().split(".")[:2])


class P11KitServer:
    """`p11-kit server` exporting the tokens of module that match the URI
    exported; start, kill (the whole group, as a service manager stops
    it) and start again."""

    def __init__(self, directory, env, module, exported):
        self.socket = Path(directory) / "p11kit.sock"
        self.log = Path(directory) / "p11kit-server.log"
        self.env, self.module, self.exported = env, module, exported
        self.proc = None

    @property
    def address(self):
        return f"unix:path={self.socket}"

    def client_env(self):
        """What a client of this server needs, besides OPENSSL_CONF."""
        return {"P11_KIT_SERVER_ADDRESS": self.address,
                "PKCS11PROV_MODULE": P11KIT_CLIENT}

    def start(self):
        if self.socket.exists():
            self.socket.unlink()
        with open(self.log, "a") as log:
            self.proc = subprocess.Popen(
                ["p11-kit", "server", "-f", "-n", str(self.socket),
                 "--provider", self.module, self.exported],
                env=child_env(self.env, preload=False),
                stdout=subprocess.DEVNULL, stderr=log,
                start_new_session=True)
        deadline = time.monotonic() + 10
        while not self.socket.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("p11-kit server did not start: "
                                   + self.log.read_text())
            time.sleep(0.02)

    def kill(self):
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)
        self.proc = None

    def children(self):
        """The p11-kit remote processes the server runs, one per client
        connection: each holds that client's sessions."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                found.append(int(stat.parent.name))
        return found

    def wait_for_children(self, before, timeout=10):
        """The client processes started since `before` that are still
        there after at most timeout seconds."""
        deadline = time.monotonic() + timeout
        while (left := set(self.children()) - set(before)) \
                and time.monotonic() < deadline:
            time.sleep(0.05)
        return left


def sign_loop(srv, uri, directory, seconds, threads=1, env=None,
              prefix=()):
    """Starts sign_loop (the key loaded once, signatures verified in
    software) against the server; returns (Popen, directory). Its output
    goes to files: a pipe nobody reads while the test waits would fill
    with error lines and stop the program. prefix: a command it runs
    under (setpriv)."""
    directory.mkdir(exist_ok=True)
    conf = write_openssl_cnf(directory)
    with open(directory / "out", "w") as out, \
            open(directory / "err", "w") as err:
        proc = subprocess.Popen(
            [*prefix, str(c_program("sign_loop")), "--seconds", str(seconds),
             "--threads", str(threads), uri],
            env=child_env({"OPENSSL_CONF": conf, **srv.client_env(),
                           **(env or {})}),
            stdout=out, stderr=err, start_new_session=True)
    return proc, directory


class LoopResult:
    """What a sign_loop run did: status, per-second (ok, failed), the
    totals (None when the key never loaded) and its output."""

    def __init__(self, started, timeout):
        proc, directory = started
        self.hung = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.hung = True
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        self.status = proc.returncode
        out = (directory / "out").read_text()
        self.stderr = (directory / "err").read_text(errors="replace")
        self.seconds = {int(s): (int(ok), int(failed)) for s, ok, failed in
                        re.findall(r"^second (\d+): ok (\d+) failed (\d+)$",
                                   out, re.M)}
        total = re.search(r"^signed: (\d+) failed: (\d+) wrong: (\d+)$", out,
                          re.M)
        self.signed, self.failed, self.wrong = \
            (int(n) for n in total.groups()) if total else (None,) * 3
        self.text = f"{out}\n--- stderr:\n{self.stderr[-4000:]}"


BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC
 "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
    <allow own="*"/>
  </policy>
</busconfig>
"""


class TpmResourceManager:
    """tpm2-abrmd in front of a TPM, on a D-Bus bus of its own (its socket
    in directory, its configuration ours: the system's bus and
    configuration are never touched). Both are stopped by PID. tcti is
    what clients give tpm2-pkcs11 instead of the TPM's own."""

    def __init__(self, directory, tpm_tcti):
        self.directory = Path(directory)
        self.bus_socket = self.directory / "bus"
        self.name = f"org.pkcs11prov.Tabrmd.p{os.getpid()}"
        self.tpm_tcti = tpm_tcti
        self.bus = self.broker = None

    @property
    def env(self):
        return {"DBUS_SESSION_BUS_ADDRESS": f"unix:path={self.bus_socket}"}

    @property
    def tcti(self):
        return f"tabrmd:bus_name={self.name},bus_type=session"

    def start(self):
        config = self.directory / "bus.conf"
        config.write_text(BUS_CONFIG.format(socket=self.bus_socket))
        log = open(self.directory / "broker.log", "a")
        self.bus = subprocess.Popen(
            ["dbus-daemon", f"--config-file={config}", "--nofork",
             "--nopidfile"], env=child_env(preload=False), stdout=log,
            stderr=log, start_new_session=True)
        broker = ["tpm2-abrmd", "--session", "--flush-all",
                  f"--dbus-name={self.name}", f"--tcti={self.tpm_tcti}"]
        if os.geteuid() == 0:
            broker.append("--allow-root")
        deadline = time.monotonic() + 10
        while not self.bus_socket.exists():
            self._check(deadline, self.bus, "dbus-daemon")
        self.broker = subprocess.Popen(
            broker, env=child_env(self.env, preload=False), stdout=log,
            stderr=log, start_new_session=True)
        log.close()
        # Ready once a client reaches the TPM through it.
        while subprocess.run(
                ["tpm2_getcap", "handles-transient"],
                env=child_env({**self.env, "TPM2TOOLS_TCTI": self.tcti},
                              preload=False),
                capture_output=True).returncode != 0:
            self._check(deadline, self.broker, "tpm2-abrmd")

    def _check(self, deadline, proc, what):
        if proc.poll() is not None or time.monotonic() > deadline:
            self.stop()
            raise RuntimeError(f"{what} did not start: "
                               + (self.directory / "broker.log").read_text())
        time.sleep(0.05)

    def stop(self):
        for proc in (self.broker, self.bus):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.broker = self.bus = None
