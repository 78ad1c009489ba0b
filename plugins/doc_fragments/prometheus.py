# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):
    # Prometheus connection options, the same for every module in the
    # ai_orchestrator.incident_response.prometheus action group.
    # Kept in step with module_utils/prometheus/client.py prometheus_argument_spec() (a unit test checks it).
    DOCUMENTATION = r"""
options:
  url:
    description:
      - Base URL of the Prometheus server (or of a Prometheus-compatible query API such as Thanos Query or
        Mimir), with its path prefix when it runs under one, for example V(https://prometheus.example.com)
        or V(https://monitoring.example.com/prometheus). The module adds C(/api/v1/...).
      - Credentials written into the URL (V(https://user:password@host)) are used for basic
        authentication and removed from every returned URL and message; prefer O(url_username) and
        O(url_password).
      - Set it once for a play with C(module_defaults) and the group
        C(group/ai_orchestrator.incident_response.prometheus).
    type: str
    required: true
  timeout:
    description:
      - Seconds to wait for an answer; also sent as the query's evaluation timeout, so Prometheus stops
        working on a query nobody waits for any more. Must be above 0.
    type: int
    default: 10
  bearer_token:
    description:
      - "Token sent as C(Authorization: Bearer <token>), as Prometheus's C(web.yml) C(authorization) or an
        OAuth proxy in front of it expects."
      - Mutually exclusive with O(url_username) and O(url_password).
    type: str
  url_username:
    description:
      - User name for HTTP basic authentication (Prometheus's C(web.yml) C(basic_auth_users)), sent with the
        first request.
    type: str
  url_password:
    description:
      - Password for HTTP basic authentication, with O(url_username).
    type: str
  validate_certs:
    description:
      - Whether to verify the server's TLS certificate. Only V(false) for a test server.
    type: bool
    default: true
  ca_path:
    description:
      - PEM file of the CA certificates that sign the server's certificate, when the system's store does not.
    type: path
  headers:
    description:
      - "Extra HTTP headers for every request, such as V({X-Scope-OrgID: tenant-a}) for a multi-tenant
        Mimir or Cortex."
      - Headers are logged like any other option; give secrets with O(bearer_token) or O(url_password).
        An C(Authorization) header here together with either of those fails.
    type: dict
    default: {}
notes:
  - The module runs on the control node (or the AWX execution node) and talks to Prometheus directly, through
    the proxy the standard C(https_proxy), C(http_proxy) and C(no_proxy) variables name.
  - Credentials are never sent along a redirect, and never appear in a returned URL or message.
"""
