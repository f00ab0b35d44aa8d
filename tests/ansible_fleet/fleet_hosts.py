"""A fleet of SSH hosts on this machine, for the Ansible collection's playbooks.

Each host is a network namespace this test makes, with a veth pair to it
(10.231.N.1 here, 10.231.N.2 there: addresses that exist only on these
veths) and its own sshd, run as a plain process inside the namespace with
its own host key, config and authorized key. The namespaces share the
file system and the process table: a host's files are its own directory
(``hostN/app``), and its holders are started inside its namespace, so that
what a play finds on host N is exactly what holds host N's files, and a
restarted holder can be seen to run in host N's namespace.

Everything started here is ended by pid, and the namespaces and veths are
removed, however the test ends.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
COLLECTIONS = REPO  # the folder that holds ansible_collections/
PLAYBOOKS = Path(__file__).resolve().parent / "playbooks"
SSHD = "/usr/sbin/sshd"
SUBNET = "10.231"  # 10.231.N.0/24 per host, only on this test's veths

HOLDER = textwrap.dedent(
    """\
    import os, sys, time

    path, log = sys.argv[1], sys.argv[2]
    held = open(path, "rb")
    with open(f"/proc/{os.getpid()}/stat", "rb") as stat:
        start = stat.read().rsplit(b")", 1)[1].split()[19].decode()
    with open(log, "a") as out:
        out.write(f"{os.getpid()} {start} {held.read().decode()}\\n")
    while True:
        time.sleep(60)
    """
)


def start_time(pid: int) -> str | None:
    """The start time (clock ticks since boot) of ``pid``, None when gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stat:
            return stat.read().rsplit(b")", 1)[1].split()[19].decode()
    except OSError:
        return None


def run(*argv: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    """Run a setup command; its failure fails the test with its output."""
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kwargs)  # type: ignore[call-overload, no-any-return]


@dataclass
class Host:
    """One host of the fleet: its namespace, address, sshd, files and holders."""

    index: int
    tag: str
    root: Path
    netns: str = ""
    veth: str = ""
    sshd: subprocess.Popen[bytes] | None = None
    holders: list[int] = field(default_factory=list)
    stale_holder: int = 0
    plain_holder: int = 0

    @property
    def name(self) -> str:
        """The inventory name."""
        return f"host{self.index}"

    @property
    def address(self) -> str:
        """The host's address, inside its namespace."""
        return f"{SUBNET}.{self.index}.2"

    @property
    def app(self) -> Path:
        """The host's application directory (its files in use)."""
        return self.root / "app"

    @property
    def lib(self) -> Path:
        """The host's library directory (stale copies)."""
        return self.root / "lib"

    @property
    def plain(self) -> Path:
        """A directory whose file a holder not registered for restart holds."""
        return self.root / "plain"

    @property
    def log(self) -> Path:
        """Where each holder writes its pid, start time and what it read."""
        return self.root / "holders.log"

    @property
    def store(self) -> Path:
        """The host's rstrtmgr session store (RSTRTMGR_STATE_DIR)."""
        return self.root / "store"

    def netns_inode(self) -> int:
        """The inode of the host's network namespace."""
        return os.stat(f"/run/netns/{self.netns}").st_ino

    def logged(self) -> dict[int, tuple[str, str]]:
        """Every holder that ever ran on this host: pid -> (start time, content)."""
        seen: dict[int, tuple[str, str]] = {}
        if self.log.exists():
            for line in self.log.read_text().splitlines():
                pid, start, content = line.split(" ", 2)
                seen[int(pid)] = (start, content)
        return seen


@dataclass
class Fleet:
    """The hosts, the client's key and files, and the Python the modules run."""

    base: Path
    python: str
    hosts: list[Host]
    key: Path
    known_hosts: Path
    created_run_sshd: bool = False

    def env(self) -> dict[str, str]:
        """The environment of ansible-playbook: this fleet's config only."""
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("ANSIBLE_", "SSH_")) and k != "RSTRTMGR_STATE_DIR"
        }
        env.update(
            ANSIBLE_CONFIG=str(self.base / "ansible.cfg"),
            ANSIBLE_HOME=str(self.base / "ansible-home"),
            ANSIBLE_NOCOLOR="1",
            ANSIBLE_FORCE_COLOR="0",
        )
        return env

    def playbook(self, name: str, *extra: str) -> tuple[float, dict[str, object]]:
        """Run a playbook over every host: its wall time and each host's results."""
        results = self.base / "results.json"
        results.unlink(missing_ok=True)
        ansible = Path(sys.executable).with_name("ansible-playbook")
        began = time.monotonic()
        done = subprocess.run(
            [
                str(ansible),
                "-i",
                str(self.base / "inventory.yml"),
                str(PLAYBOOKS / name),
                "-e",
                f"results_file={results}",
                *extra,
            ],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        took = time.monotonic() - began
        if done.returncode != 0 or not results.exists():
            raise AssertionError(
                f"ansible-playbook {name} exited {done.returncode}:\n"
                f"{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
            )
        return took, json.loads(results.read_text())

    def syntax_check(self, playbook: Path) -> None:
        """Fail unless ``ansible-playbook --syntax-check`` accepts ``playbook``."""
        ansible = Path(sys.executable).with_name("ansible-playbook")
        done = subprocess.run(
            [
                str(ansible),
                "-i",
                str(self.base / "inventory.yml"),
                "--syntax-check",
                str(playbook),
            ],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"{playbook.name}:\n{done.stdout}\n{done.stderr}")

    def adhoc(self, host: str, module: str, args: str, *extra: str) -> str:
        """Run one module on one host ad hoc; its output (it may fail)."""
        ansible = Path(sys.executable).with_name("ansible")
        done = subprocess.run(
            [
                str(ansible),
                host,
                "-i",
                str(self.base / "inventory.yml"),
                "-m",
                module,
                "-a",
                args,
                *extra,
            ],
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        return done.stdout + done.stderr


def _free_subnets(count: int) -> None:
    """Fail unless no address of 10.231.1..count is on this machine already."""
    shown = run("ip", "-o", "-4", "addr", "show").stdout
    for n in range(1, count + 1):
        if f" {SUBNET}.{n}." in shown:
            raise RuntimeError(f"{SUBNET}.{n}.0/24 is in use here: another fleet runs")


def _wait_for_port(address: str, sshd: subprocess.Popen[bytes]) -> None:
    """Wait (at most 10 s) until sshd accepts connections on ``address``."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if sshd.poll() is not None:
            raise RuntimeError(f"sshd for {address} exited with {sshd.returncode}")
        with contextlib.suppress(OSError), socket.create_connection((address, 22), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"sshd on {address} did not answer within 10 s")


def _start_network(host: Host) -> None:
    host.netns = f"rsmfleet-{host.tag}-{host.index}"
    host.veth = f"rsf{host.tag}h{host.index}"
    peer = f"rsf{host.tag}n{host.index}"
    run("ip", "netns", "add", host.netns)
    run("ip", "link", "add", host.veth, "type", "veth", "peer", "name", peer)
    run("ip", "link", "set", peer, "netns", host.netns)
    run("ip", "addr", "add", f"{SUBNET}.{host.index}.1/24", "dev", host.veth)
    run("ip", "link", "set", host.veth, "up")
    inside = ("ip", "netns", "exec", host.netns)
    run(*inside, "ip", "addr", "add", f"{host.address}/24", "dev", peer)
    run(*inside, "ip", "link", "set", peer, "up")
    run(*inside, "ip", "link", "set", "lo", "up")


def _start_sshd(host: Host, authorized: Path) -> str:
    """Start the host's sshd; its known_hosts line."""
    key = host.root / "ssh_host_ed25519_key"
    run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key))
    config = host.root / "sshd_config"
    config.write_text(
        textwrap.dedent(
            f"""\
            ListenAddress {host.address}
            Port 22
            HostKey {key}
            PidFile {host.root}/sshd.pid
            AuthorizedKeysFile {authorized}
            PermitRootLogin prohibit-password
            PasswordAuthentication no
            KbdInteractiveAuthentication no
            UsePAM no
            StrictModes no
            MaxStartups 50
            Subsystem sftp internal-sftp
            """
        )
    )
    log = (host.root / "sshd.log").open("wb")
    host.sshd = subprocess.Popen(
        ["ip", "netns", "exec", host.netns, SSHD, "-D", "-e", "-f", str(config)],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log.close()
    _wait_for_port(host.address, host.sshd)
    public = Path(f"{key}.pub").read_text().split()
    return f"{host.address} {public[0]} {public[1]}\n"


def launch_holder(host: Host, python: str, path: Path, *, launch: bool = True) -> int:
    """Start a holder of ``path`` in the host's namespace through ``rstrtmgr launch``.

    With ``launch=False``, without it: a holder not registered for restart.

    Detached (its parent exits at once), as a service would be: the shutdown
    waits for it to exit, not to be reaped by this test. Its pid, once it
    holds the file.
    """
    before = set(host.logged())
    rstrtmgr = str(Path(python).with_name("rstrtmgr"))
    script = host.root.parent / "holder.py"
    subprocess.run(
        [
            "ip",
            "netns",
            "exec",
            host.netns,
            "sh",
            "-c",
            '"$@" </dev/null >/dev/null 2>&1 &',
            "sh",
            *([rstrtmgr, "launch", "--"] if launch else []),
            python,
            str(script),
            str(path),
            str(host.log),
        ],
        env={**os.environ, "RSTRTMGR_STATE_DIR": str(host.store)},
        check=True,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        new = set(host.logged()) - before
        if new:
            (pid,) = new
            return pid
        time.sleep(0.05)
    raise RuntimeError(f"the holder of {path} did not start within 20 s")


def _write_ansible_files(fleet: Fleet) -> None:
    base = fleet.base
    # One connection per task, none left behind (no ControlPersist master);
    # no ssh_config of this machine's user (-F /dev/null).
    ssh_options = [
        "ControlMaster=no",
        "ControlPersist=no",
        "IdentitiesOnly=yes",
        f"UserKnownHostsFile={fleet.known_hosts}",
        "StrictHostKeyChecking=yes",
        "ConnectTimeout=10",
    ]
    (base / "ansible.cfg").write_text(
        textwrap.dedent(
            f"""\
            [defaults]
            collections_path = {COLLECTIONS}
            host_key_checking = True
            remote_tmp = {base}/remote-tmp
            local_tmp = {base}/local-tmp
            forks = 10
            gathering = explicit
            interpreter_python = {fleet.python}
            retry_files_enabled = False

            [ssh_connection]
            pipelining = True
            ssh_args = -F /dev/null {" ".join(f"-o {option}" for option in ssh_options)}
            """
        )
    )
    hosts = {}
    for host in fleet.hosts:
        hosts[host.name] = {
            "ansible_host": host.address,
            "ansible_user": "root",
            "ansible_ssh_private_key_file": str(fleet.key),
            "app_dir": str(host.app),
            "lib_dir": str(host.lib),
            "plain_dir": str(host.plain),
            "rstrtmgr_state_dir": str(host.store),
        }
    inventory = {"all": {"children": {"fleet": {"hosts": hosts}}}}
    (base / "inventory.yml").write_text(json.dumps(inventory, indent=2))


@contextlib.contextmanager
def fleet(count: int, python: str) -> Iterator[Fleet]:
    """``count`` SSH hosts in network namespaces; all of it removed at the end."""
    _free_subnets(count)
    base = Path(tempfile.mkdtemp(prefix="rstrtmgr-fleet-"))
    os.chmod(base, 0o755)
    tag = f"{os.getpid() % 100000}"
    hosts = [
        Host(index=n, tag=tag, root=base / f"host{n}") for n in range(1, count + 1)
    ]
    made = Fleet(
        base=base,
        python=python,
        hosts=hosts,
        key=base / "id_ed25519",
        known_hosts=base / "known_hosts",
    )
    if not os.path.isdir("/run/sshd"):  # sshd's privilege separation directory
        os.makedirs("/run/sshd", mode=0o755)
        made.created_run_sshd = True
    try:
        run("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(made.key))
        authorized = base / "authorized_keys"
        shutil.copy(f"{made.key}.pub", authorized)
        (base / "holder.py").write_text(HOLDER)
        known = []
        for host in hosts:
            host.root.mkdir()
            host.app.mkdir()
            host.lib.mkdir()
            host.plain.mkdir()
            _start_network(host)
            known.append(_start_sshd(host, authorized))
        made.known_hosts.write_text("".join(known))
        _write_ansible_files(made)
        yield made
    finally:
        _tear_down(made)


def _end(pid: int, start: str) -> None:
    """SIGKILL ``pid`` if it is still the process that started at ``start``."""
    if start_time(pid) == start:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


def _tear_down(made: Fleet) -> None:
    for host in made.hosts:
        # Every holder that ran, first or restarted, logged its pid and start.
        for pid, (start, _) in host.logged().items():
            _end(pid, start)
        if host.sshd is not None:
            host.sshd.terminate()
            try:
                host.sshd.wait(10)
            except subprocess.TimeoutExpired:
                host.sshd.kill()
                host.sshd.wait()
        if host.veth:
            subprocess.run(
                ["ip", "link", "del", host.veth], check=False, capture_output=True
            )
        if host.netns:
            subprocess.run(
                ["ip", "netns", "del", host.netns], check=False, capture_output=True
            )
    if made.created_run_sshd:
        with contextlib.suppress(OSError):
            os.rmdir("/run/sshd")
    shutil.rmtree(made.base, ignore_errors=True)
