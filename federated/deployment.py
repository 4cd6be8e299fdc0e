"""Flower's deployment engine on this machine: a SuperLink and one SuperNode per device, each its own
process, on the loopback interface only, and the run submitted with ``flwr run``.

The processes are Flower's own (``flower-superlink``, ``flower-supernode``, ``flwr run``); this module
only starts them with free loopback ports, waits for the run's report, and always stops them.
``flwr run`` would make the SuperLink install the app's dependencies with ``uv sync`` from the network;
the SuperLink is started with ``--disable-runtime-dependency-installation`` (Flower's supported offline
mode) and the app (``federated/flower-app``) runs in this environment, where the project is installed.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ground.errors import BadInputError

from .config import FleetConfig
from .report import Report, Round

log = logging.getLogger(__name__)

APP = Path(__file__).resolve().parent / "flower-app"


def _free_ports(n: int) -> list[int]:
    socks = []
    for _ in range(n):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        socks.append(s)
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def _wait_port(port: int, deadline: float, proc: subprocess.Popen, what: str, logfile: Path) -> None:
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}:\n{_tail(logfile)}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.3)
    raise TimeoutError(f"{what} did not listen on 127.0.0.1:{port} in time:\n{_tail(logfile)}")


def _tail(path: Path, chars: int = 3000) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError:
        return "(no log)"


def _tool(name: str) -> str:
    """Flower's executable beside this interpreter (a venv), else on PATH."""
    here = Path(sys.executable).parent / name
    found = str(here) if here.exists() else shutil.which(name)
    if not found:
        raise BadInputError(f"Flower's '{name}' is not installed", fix="pip install -e \".[federated]\"")
    return found


def _descendants(roots: list[int]) -> list[int]:
    """Every process below ``roots`` (Flower's SuperExec, ServerApp and ClientApp processes), from ``ps``."""
    try:
        table = subprocess.run(["ps", "-A", "-o", "pid=,ppid="], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    children: dict[int, list[int]] = {}
    for line in table.splitlines():
        fields = line.split()
        if len(fields) == 2 and fields[0].isdigit() and fields[1].isdigit():
            children.setdefault(int(fields[1]), []).append(int(fields[0]))
    found, stack = [], list(roots)
    while stack:
        for child in children.get(stack.pop(), []):
            found.append(child)
            stack.append(child)
    return found


def _stop(procs: list[subprocess.Popen]) -> None:
    """Stop every process started here and everything below them (some of Flower's children start their
    own sessions): SIGTERM, then SIGKILL what is left after 10 s."""
    tree = _descendants([p.pid for p in procs if p.poll() is None])
    for proc in reversed(procs):
        if proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except (ProcessLookupError, PermissionError):
                pass
    for pid in tree:
        try:
            os.kill(pid, signal.SIGTERM)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + 10
    for proc in procs:
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
    while time.monotonic() < deadline and any(_alive(pid) for pid in tree):
        time.sleep(0.2)
    for proc in procs:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.wait()
    for pid in tree:
        if _alive(pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def _alive(pid: int) -> bool:
    """Whether ``pid`` still runs (a zombie, exited but not yet reaped by its parent, does not)."""
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:
        stat = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True,
                              timeout=5).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return True
    return bool(stat) and not stat.startswith("Z")


def run_config_args(config: FleetConfig, report_dir: Path, output: Path | None) -> str:
    """The ``--run-config`` string for ``flwr run`` (TOML values, keys as in flower-app/pyproject.toml)."""
    values = {**config.as_dict(), "report": str(report_dir), "output": str(output or "")}
    parts = []
    for k, v in values.items():
        parts.append(f"{k.replace('_', '-')}={json.dumps(v) if isinstance(v, str) else v}")
    return " ".join(parts)


def run_local(config: FleetConfig, report_dir: Path, output: Path | None = None, *, timeout: float = 600,
              progress: bool = True, workdir: Path | None = None) -> Report:
    """Run ``config`` on a SuperLink and ``config.clients`` SuperNodes on localhost; return the report.

    Every process is stopped when the run ends, fails or exceeds ``timeout`` seconds.
    """
    from tqdm import tqdm

    config = config.resolved()
    report_dir = Path(report_dir).resolve()
    output = Path(output).resolve() if output else None
    work = Path(workdir or tempfile.mkdtemp(prefix="coreml-fleet-"))
    home = work / "flwr-home"
    home.mkdir(parents=True, exist_ok=True)
    link_port, *appio = _free_ports(1 + config.clients)   # Flower 1.42 serves its Control, Fleet and
    # Runtime APIs on one HTTP port; each SuperNode has its own port for its ClientApps
    (home / "config.toml").write_text(
        f'[superlink]\ndefault = "fleet"\n\n[superlink.fleet]\naddress = "127.0.0.1:{link_port}"\ninsecure = true\n')
    root = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "FLWR_HOME": str(home), "PYTHONUNBUFFERED": "1",
           "PYTHONPATH": os.pathsep.join([root, os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])}
    report_file = report_dir / "report.json"
    if report_file.exists():
        report_file.unlink()
    procs: list[subprocess.Popen] = []
    deadline = time.monotonic() + timeout

    def start(args: list[str], name: str) -> tuple[subprocess.Popen, Path]:
        logfile = work / f"{name}.log"
        proc = subprocess.Popen(args, env=env, cwd=work, stdout=open(logfile, "wb"), stderr=subprocess.STDOUT,
                                start_new_session=True)
        procs.append(proc)
        return proc, logfile

    try:
        link, link_log = start([_tool("flower-superlink"), "--insecure", "--disable-runtime-dependency-installation",
                                "--host", "127.0.0.1", "--port", str(link_port)], "superlink")
        _wait_port(link_port, deadline, link, "the SuperLink", link_log)
        for i, port in enumerate(appio):
            start([_tool("flower-supernode"), "--insecure", "--superlink", f"127.0.0.1:{link_port}",
                   "--host", "127.0.0.1", "--port", str(port),
                   "--node-config", f"partition-id={i} num-partitions={config.clients}"], f"supernode-{i}")
        submit, submit_log = start([_tool("flwr"), "run", str(APP), "fleet", "--stream",
                                    "--run-config", run_config_args(config, report_dir, output)], "flwr-run")
        bar = tqdm(total=config.rounds, desc="rounds", unit="round", disable=not progress)
        done = 0
        try:
            while True:
                state = _read(report_file)
                if state is not None:
                    bar.update(len(state["rounds"]) - done)
                    done = len(state["rounds"])
                    if state.get("finished"):
                        break
                if link.poll() is not None:
                    raise RuntimeError(f"the SuperLink exited with {link.returncode}:\n{_tail(link_log)}")
                if submit.poll() not in (None, 0):
                    raise RuntimeError(f"flwr run failed ({submit.returncode}):\n{_tail(submit_log)}")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"the deployment run did not finish in {timeout:.0f} s "
                                       f"({done} rounds done); the run's log:\n{_tail(submit_log)}")
                time.sleep(0.5)
        finally:
            bar.close()
    finally:
        _stop(procs)
    return _report_from(state)


def _read(path: Path):
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _report_from(state: dict) -> Report:
    from .report import Dropped

    report = Report(state["config"], state["clients"], state["initial"], engine=state["engine"])
    for r in state["rounds"]:
        report.rounds.append(Round(**{**r, "dropped": [Dropped(**d) for d in r["dropped"]]}))
    return report
