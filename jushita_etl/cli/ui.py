"""``jushita-etl ui``: the operator's mode, the Dagster webserver and daemon for this project.

Imported on use: what a command needs, when it runs (``jushita-etl --help`` stays instant)."""

import sys
import time
from pathlib import Path

from jushita_etl.cli.common import data_paths


def cmd_ui(args) -> int:
    """The operator's mode: the Dagster webserver and daemon for this project (``dagster dev``), in a process group
    of their own so that SIGTERM or Ctrl-C stops every process they started, also when this command runs in the
    background (a shell starts background jobs with SIGINT ignored, and Dagster copies that to SIGTERM)."""
    import os
    import signal
    import subprocess

    from jushita_etl.build import PROJECT_DAGSTER_HOME, ensure_dagster_home

    paths = data_paths(args)
    home = ensure_dagster_home()
    if not (home / "dagster.yaml").exists() and (PROJECT_DAGSTER_HOME / "dagster.yaml").exists():
        import shutil

        shutil.copy(PROJECT_DAGSTER_HOME / "dagster.yaml", home / "dagster.yaml")
    workspace = PROJECT_DAGSTER_HOME.parent / "workspace.yaml"
    env = {**os.environ, "DAGSTER_HOME": str(home), "JUSHITA_DATA_DIR": str(paths.data_dir)}
    dagster = Path(sys.executable).parent / "dagster"
    proc = subprocess.Popen([str(dagster), "dev", "-w", str(workspace), "-h", args.host, "-p", str(args.port)],
                            cwd=workspace.parent, env=env, start_new_session=True,
                            preexec_fn=lambda: [signal.signal(s, signal.SIG_DFL) for s in (signal.SIGINT, signal.SIGTERM)])
    print(f"Dagster UI on http://{args.host}:{args.port} (instance {home}, data {paths.data_dir}); stop with Ctrl-C",
          file=sys.stderr, flush=True)
    stopping = []

    def stop(*_):
        stopping.append(True)
        try:
            os.killpg(proc.pid, signal.SIGTERM)
        except ProcessLookupError:
            pass

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    while proc.poll() is None:
        try:
            proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            if stopping and len(stopping) == 1:
                stopping.append(time.monotonic())
            if len(stopping) > 1 and time.monotonic() - stopping[1] > 8:  # the group must be gone within 10 s
                os.killpg(proc.pid, signal.SIGKILL)
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # anything of the group still left (a run's worker)
    except ProcessLookupError:
        pass
    return 0 if stopping else proc.returncode


def _register_ui(sub, common):
    p = sub.add_parser("ui", parents=[common], help="the Dagster webserver and daemon (sensors, schedules, backfills)")
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--host", default="127.0.0.1")
    p.set_defaults(func=cmd_ui)


def register(sub, common) -> None:
    """Add this module's subcommands to the parser."""
    _register_ui(sub, common)
