# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the collection's playbooks, modules and molecule scenarios the way an operator does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import drill

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent


def ansible_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update(
        PATH="%s:%s:%s" % (drill.kubectl_path().parent, VENV_BIN, env.get("PATH", "")),
        ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"),
        ANSIBLE_FORCE_COLOR="false",
        ANSIBLE_NOCOLOR="1",
        DRILL_KUBECONFIG=drill.kubeconfig(),
    )
    env.setdefault("ANSIBLE_COLLECTIONS_PATH", str(Path.home() / ".cache/aio-collections"))
    env.update(extra)
    return env


def playbook(name: str, *args: str, timeout: float = 600, **env: str) -> subprocess.CompletedProcess:
    """ansible-playbook playbooks/NAME.yml ARGS against the drill inventory."""
    cmd = [str(VENV_BIN / "ansible-playbook"), "-i", str(ROOT / "inventory/drill.yml"), str(ROOT / "playbooks" / name), *args]
    return subprocess.run(cmd, cwd=ROOT, env=ansible_env(**env), capture_output=True, text=True, timeout=timeout, check=False)


def recap(result: subprocess.CompletedProcess) -> dict[str, int]:
    """The PLAY RECAP counters of host 'drill'."""
    for line in result.stdout.splitlines():
        if line.startswith("drill ") and "ok=" in line:
            return dict((k, int(v)) for k, v in (part.split("=") for part in line.split(":", 1)[1].split()))
    raise AssertionError("no PLAY RECAP for drill in:\n" + result.stdout[-3000:] + result.stderr[-2000:])


def incidents(folder: Path) -> list[dict]:
    """The incident records under `folder`, oldest first, each with its timeline as `_events`
    and its directory as `_dir`."""
    found = []
    for path in sorted(folder.glob("incident-*/incident.json")):
        record = json.loads(path.read_text())
        record["_events"] = [json.loads(line) for line in (path.parent / "timeline.jsonl").read_text().splitlines()]
        record["_dir"] = path.parent
        found.append(record)
    return found


def module(name: str, check: bool = False, **args) -> dict:
    """Run one of the collection's modules on localhost and return its JSON result."""
    cmd = [
        str(VENV_BIN / "ansible"), "localhost", "-m", "ai_orchestrator.incident_response." + name,
        "-a", json.dumps(args), "-e", "ansible_python_interpreter=" + sys.executable, "-o",
    ]
    if check:
        cmd.append("--check")
    proc = subprocess.run(cmd, cwd=ROOT, env=ansible_env(ANSIBLE_LOAD_CALLBACK_PLUGINS="0"), capture_output=True, text=True, timeout=600, check=False)
    out = proc.stdout.strip()
    try:
        result = json.loads(out.split("=>", 1)[1])
    except (IndexError, ValueError):
        raise AssertionError("unexpected output from %s: %s %s" % (name, out[-2000:], proc.stderr[-2000:]))
    # The oneline output marks failure outside the JSON.
    result["failed"] = "| FAILED!" in out.split("=>", 1)[0]
    return result


def molecule(scenario: str, command: str = "test", timeout: float = 900) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(VENV_BIN / "molecule"), command, "-s", scenario],
        cwd=ROOT, env=ansible_env(), capture_output=True, text=True, timeout=timeout, check=False,
    )


HISTORY = "incident-response.ai-orchestrator.io/remediation-history"


def reset() -> None:
    """Put the platform fixture back as shipped (drill/fault.sh reset), unless it already is.

    The check costs a few reads; the full reset re-applies the fixture and waits for every
    rollout (about 5 s), so tests that left nothing behind do not pay for it.
    """
    apps = drill.apps()
    workloads = apps.list_namespaced_deployment(drill.NAMESPACE).items + apps.list_namespaced_stateful_set(drill.NAMESPACE).items
    if not drill.fixture_intact() and not any(HISTORY in (w.metadata.annotations or {}) for w in workloads):
        return
    subprocess.run(["bash", str(ROOT / "drill/fault.sh"), "reset"], check=True, capture_output=True, timeout=300)


def service_account_token(name: str, namespace: str = "default") -> str:
    """A real token of a ServiceAccount that has no role bindings."""
    drill.kubectl("create", "serviceaccount", name, namespace=namespace, check=False)
    return drill.kubectl("create", "token", name, namespace=namespace).stdout.strip()


def kubeconfig_with_token(folder: Path, token: str) -> str:
    """The drill kubeconfig with its client certificate swapped for a bearer token."""
    import yaml

    cfg = yaml.safe_load(Path(drill.kubeconfig()).read_text())
    for user in cfg["users"]:
        user["user"] = {"token": token}
    path = Path(folder) / "kubeconfig-token"
    path.write_text(yaml.safe_dump(cfg))
    return str(path)


def env_down() -> bool:
    """True when no drill process runs any more (cluster, data plane, load model)."""
    status = subprocess.run(["bash", str(ROOT / "drill/env.sh"), "status"], capture_output=True, timeout=60, check=False)
    left = subprocess.run(["pgrep", "-f", drill.env()["DRILL_HOME"]], capture_output=True, text=True, check=False)
    return status.returncode != 0 and not left.stdout.strip()
