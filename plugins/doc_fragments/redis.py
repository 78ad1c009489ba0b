# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment(object):
    # Redis connection options, the same for every module in the
    # ai_orchestrator.incident_response.redis action group.
    # Kept in step with module_utils/redis/connection.py redis_argument_spec() (a unit test checks it).
    DOCUMENTATION = r"""
options:
  url:
    description:
      - The server as a URL, V(redis://[[USER]:PASSWORD@]HOST[:PORT][/DB]) or V(rediss://...) for TLS (C(?db=N) works
        too). Options given explicitly (O(redis_host), O(port), O(db), O(username), O(password), O(tls)) override
        what the URL says.
      - Treated as a secret, since it may carry a password, and never logged.
    type: str
  redis_host:
    description:
      - Host name or IP address of the Redis server. When not set, the host of O(url), then V(127.0.0.1).
      - With O(connect_via=port_forward) the client connects to the forward's local end; this name is then only
        what the server's TLS certificate is checked against (such as V(redis.ai-orchestrator.svc)).
      - Named so (not C(host)) because O(host) is the Kubernetes API server's URL, for the port-forward and exec.
    type: str
  port:
    description:
      - TCP port of the server. When not set, the port of O(url), then V(6379).
    type: int
  db:
    description:
      - Database number to work in. When not set, the database of O(url), then V(0).
    type: int
  username:
    description:
      - ACL user (Redis 6 or later) to authenticate as, with O(password). When not set, the user of O(url), else
        the C(default) user.
      - The diagnosis needs C(+info +ping +command +scan +type +pttl) and the read commands of the keys it checks
        (C(+@read) and C(+info) cover them); a pipeline over O(connect_via=exec) also uses C(+eval) when allowed.
    type: str
  password:
    description:
      - Password of O(username) (or of the C(default) user, C(requirepass)). When not set, the password of O(url),
        then the environment variable C(REDISCLI_AUTH), then C(REDIS_PASSWORD), of the control node.
      - Never logged, never part of a message or a returned value. Over O(connect_via=exec) it is written to
        redis-cli's standard input (C(--askpass)), never put on a command line.
      - Over O(connect_via=exec) without any password, redis-cli in the container uses the container's own
        C(REDISCLI_AUTH), as C(kubectl exec ... redis-cli) would.
    type: str
  tls:
    description:
      - Connect with TLS. When not set, true for a V(rediss://) O(url), else false.
    type: bool
  tls_ca_cert:
    description:
      - PEM file of the CA certificates that sign the server's certificate. When not set, the system's CAs.
      - Over O(connect_via=exec) this (and O(tls_client_cert), O(tls_client_key)) is a path in the container.
    type: path
  tls_client_cert:
    description:
      - Client certificate (PEM) for servers that require one (C(tls-auth-clients yes)), with O(tls_client_key).
    type: path
  tls_client_key:
    description:
      - Private key of O(tls_client_cert).
    type: path
  tls_validate_certs:
    description:
      - Check the server's certificate against O(tls_ca_cert) and its name against O(redis_host) (or the url's host).
      - Set to false only on a network you control.
    type: bool
    default: true
  connect_timeout:
    description:
      - Seconds to wait for the server to accept the connection before failing with C(error_kind=connection) or
        C(timeout). More than 0.
    type: float
    default: 5.0
  socket_timeout:
    description:
      - Seconds any one command may take before failing with C(error_kind=timeout). More than 0. A server that
        does not answer in seconds is blocked or overloaded, and the runbook escalates rather than waits.
    type: float
    default: 10.0
  connect_via:
    description:
      - V(direct) connects to O(redis_host) (or O(url)) with the redis-py library, as any client would.
      - V(port_forward) reaches the Redis pod through the Kubernetes API server, as C(kubectl port-forward) does,
        for a control node outside the cluster's network. It needs O(pod) and O(pod_namespace), the cluster
        options (O(kubeconfig), O(context), ...), the kubernetes and websocket-client Python libraries, and RBAC in
        that namespace of C(get) on C(pods) and both C(get) and C(create) on C(pods/portforward); a workload in
        O(pod) also needs C(get) on C(statefulsets) or C(deployments) and C(list) on C(pods) (and C(replicasets)).
      - V(exec) runs C(redis-cli) (7.0 or later, for C(--json)) in the pod's container through the API server, as
        C(kubectl exec POD -- redis-cli) does; it needs RBAC C(create) on C(pods/exec) besides the pod reads
        above. Each command is one exec (a pipeline one C(EVAL)), so it is slower than the other two; replies
        are the same. It cannot send binary arguments (a restore of C(DUMP) payloads needs another transport).
    type: str
    choices: [direct, port_forward, exec]
    default: direct
  pod:
    description:
      - With O(connect_via=port_forward) or V(exec), the Redis pod, as a pod name or V(statefulset/NAME) or
        V(deployment/NAME) for a Ready pod of that workload (the StatefulSet's first ordinal when it is Ready).
    type: str
  pod_namespace:
    description:
      - Namespace of O(pod).
    type: str
  pod_port:
    description:
      - The port Redis listens on inside the pod. With O(connect_via=exec) it is passed to redis-cli (C(-p))
        only when it is not V(6379).
    type: int
    default: 6379
  pod_container:
    description:
      - With O(connect_via=exec), the container to run redis-cli in. When not set, the pod's default container
        (annotation C(kubectl.kubernetes.io/default-container)), else its first.
    type: str
requirements:
  - redis >= 4.1 (the redis-py Python library, on the control node) for O(connect_via=direct) and V(port_forward)
  - kubernetes and websocket-client (Python libraries) for O(connect_via=port_forward) and V(exec)
notes:
  - The module runs on the control node (or the AWX execution node) and connects to Redis from there, so run it
    with a local connection or delegate it to localhost.
  - Every failure to connect or to run a step returns C(error_kind) - V(connection), V(timeout), V(tls), V(auth),
    V(permission), V(unknown_command), V(readonly), V(cluster), V(not_found) (the pod), V(library),
    V(invalid_input) or V(error) - with a message that says what to check. A playbook branches on C(error_kind),
    never on the message.
  - Set the options once for a play with C(module_defaults) and the group
    C(group/ai_orchestrator.incident_response.redis).
"""
