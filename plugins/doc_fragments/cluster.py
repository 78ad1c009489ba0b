# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):
    # Kubernetes connection options, the same for every module in the
    # ai_orchestrator.incident_response.cluster action group.
    # Kept in step with module_utils/k8s_client.py cluster_argument_spec().
    DOCUMENTATION = r"""
options:
  kubeconfig:
    description:
      - Path to a kubeconfig file.
      - When not set, C(K8S_AUTH_KUBECONFIG), then C(KUBECONFIG), then C(~/.kube/config) are used;
        inside a pod without any of them, the in-cluster service account.
    type: path
  context:
    description:
      - Name of the kubeconfig context to use. Falls back to C(K8S_AUTH_CONTEXT), then the
        kubeconfig's current context.
    type: str
  host:
    description:
      - URL of the Kubernetes API server, overriding the kubeconfig's. Falls back to C(K8S_AUTH_HOST).
    type: str
  api_key:
    description:
      - Bearer token for the API server. Falls back to C(K8S_AUTH_API_KEY).
      - With O(host) and no kubeconfig, these two alone define the connection.
    type: str
  validate_certs:
    description:
      - Whether to verify the API server's TLS certificate. Falls back to C(K8S_AUTH_VERIFY_SSL),
        then the kubeconfig.
    type: bool
    aliases: [verify_ssl]
  ca_cert:
    description:
      - Path to a CA bundle that signs the API server's certificate. Falls back to C(K8S_AUTH_SSL_CA_CERT).
    type: path
    aliases: [ssl_ca_cert]
  request_timeout:
    description:
      - Seconds one API request may take before the module gives up on it.
    type: int
    default: 30
requirements:
  - kubernetes >= 24.2.0 (Python library)
notes:
  - The module runs on the control node (or AWX execution node) and talks to the API server
    directly, so run it with a local connection or delegate it to localhost.
"""
