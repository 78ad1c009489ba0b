# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""Private Redis servers for the unit tests: tests/integration/redisenv.py's PrivateRedis (one
implementation for both trees), and LocalPodExec, a pod exec that runs the real redis-cli on
this host the way the drill's pod wrapper (drill/podbin/redis/redis-cli) does in redis-0."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

_INTEGRATION = str(Path(__file__).resolve().parents[4] / "integration")
if _INTEGRATION not in sys.path:
    sys.path.insert(0, _INTEGRATION)

import redisenv  # noqa: E402  (after the path above)
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s.podexec import ExecResult  # noqa: E402

PrivateRedis = redisenv.PrivateRedis
free_port = redisenv.free_port
REDIS_CLI = redisenv.REDIS_CLI


class LocalPodExec(object):
    """PodExec's interface (describe, run) for a "pod" whose redis-cli reaches ``server``: the
    wrapper's ``-h``/``-p`` come first, the pod's own REDISCLI_AUTH is ``pod_password``. Every
    call is kept in ``calls`` as (argv, stdin)."""

    def __init__(self, server, pod_password=None, namespace="ai-orchestrator", pod="redis-0", container="redis"):
        self.server = server
        self.pod_password = pod_password
        self.namespace, self.pod, self.container = namespace, pod, container
        self.calls = []

    def describe(self):
        return "pod %s/%s (container %s)" % (self.namespace, self.pod, self.container)

    def run(self, argv, stdin=None, timeout=None):
        self.calls.append((list(argv), stdin))
        env = dict(os.environ)
        env.pop("REDISCLI_AUTH", None)
        if self.pod_password:
            env["REDISCLI_AUTH"] = self.pod_password
        assert argv[0] == "redis-cli"
        prefix = self.server.cli_argv()
        feed = {"input": stdin} if stdin is not None else {"stdin": subprocess.DEVNULL}
        proc = subprocess.run(prefix + list(argv[1:]), capture_output=True, env=env, timeout=timeout or 30, check=False,
                              **feed)
        return ExecResult(proc.returncode, proc.stdout, proc.stderr)
