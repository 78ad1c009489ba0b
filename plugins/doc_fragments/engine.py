# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):
    # HTTP settings for the workflow engines (Langflow, n8n, LangSmith) and the API gateway, the same for
    # every module in the ai_orchestrator.incident_response.engine action group.
    # Kept in step with module_utils/http/client.py engine_argument_spec() (a unit test checks it).
    DOCUMENTATION = r"""
options:
  timeout:
    description:
      - Seconds to wait for an engine to accept the connection and, after that, for each part of its answer.
        Must be above 0. An engine that does not answer in time is reported with C(error_kind=timeout).
    type: float
    default: 5.0
  retries:
    description:
      - How many times a request is tried again after a refused connection, a timeout, a dropped connection or
        an answer with status V(429), V(500), V(502), V(503) or V(504). V(0) tries once.
      - TLS and DNS failures are never tried again; they do not go away by waiting.
    type: int
    default: 2
  backoff:
    description:
      - Seconds before the first retry; each further retry waits twice as long as the one before, at most 8 s.
        When the engine answers with C(Retry-After), that wait is used instead, at most 30 s.
    type: float
    default: 0.5
  validate_certs:
    description:
      - Whether to verify an HTTPS engine's certificate. Only V(false) for a test server.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the CA certificates that sign the engines' certificates, when the system's store does not.
    type: path
  client_cert:
    description:
      - PEM file of a client certificate, for engines (or a proxy in front of them) that authenticate clients
        by certificate. It may hold the private key too.
    type: path
  client_key:
    description:
      - PEM file of the private key of O(client_cert), when that file does not hold it.
    type: path
notes:
  - The module runs on the control node (or the AWX execution node) and talks to the engines directly, through
    the proxy the standard C(https_proxy), C(http_proxy) and C(no_proxy) variables name.
  - API keys and header values are never logged and never appear in a returned value or message; they are not
    sent along a redirect to another host, scheme or port.
  - Set the options once for a play with C(module_defaults) and the group
    C(group/ai_orchestrator.incident_response.engine).
"""
