#!/usr/bin/env python
# SPDX-License-Identifier: GPL-3.0-or-later
"""Drill load model: traffic that needs N replicas to stay under its limits.

A Deployment or StatefulSet annotated `drill.incident-response.io/load-replicas: "N"`
carries load that N replicas can serve. While it has fewer replicas, every one of
its pods gets `drill.incident-response.io/usage=high` (kwok then reports CPU and
memory near the limits, so `kubectl top` and metrics-server show exhaustion); once
scaled to N or more, the label goes and usage falls back to normal. This is what
makes "resource exhaustion, fixed by scaling up" a drill that can actually be fixed.

The pod link: a Deployment (any namespace) annotated `drill.incident-response.io/standin:
<service>` (langflow, n8n, langsmith or gateway: the HTTP stand-ins of
drill/dataplane/platform_http.py) stands for that stand-in's pods. While it has no ready
replica (all pods crash, or it is scaled to 0), the stand-in is put in mode down through the
control API (PUT /modes/<service> {"mode": "down", "by": "pod-link"}), so an engine whose pods
are all down refuses connections as the real one would. Once every annotated Deployment of the
service has a ready replica again the stand-in goes back to ok - only if its mode is still the
one the link set (a mode a test or drill/fault.sh set is left alone).

The pods' behaviour: a Deployment annotated `drill.incident-response.io/serves: <service>`
(fixture: api-gateway serves gateway) has its ready pods stand for that stand-in's request
handling. Each poll the link sends the stand-in (PUT /pods/<service>, "by": "pod-link") the
shares of its API requests that those pods spoil: pods labelled
`drill.incident-response.io/http-fault=errors` (a bad release, drill/fault.sh release) answer
FRACTION of them with 500, `=slow` make FRACTION of them take 3 s (FRACTION: the pod's
annotation drill.incident-response.io/http-fault-fraction, default 0.3), and pods with
`drill.incident-response.io/usage=high` (CPU saturated: the load model above, or a usage-high
fault) make all of theirs take 3 s - each scaled by that pod's share of the ready pods. A
rollout undo (the label gone), or scaling to the replicas the load needs, clears it. Modes are
not touched.

Runs until killed; polls every --interval seconds with one list per kind.
"""

from __future__ import annotations

import argparse
import json
import os
import ssl
import subprocess
import sys
import time
import urllib.request

LOAD = "drill.incident-response.io/load-replicas"
USAGE = "drill.incident-response.io/usage"
STANDIN = "drill.incident-response.io/standin"
SERVES = "drill.incident-response.io/serves"
HTTP_FAULT = "drill.incident-response.io/http-fault"
HTTP_FAULT_FRACTION = "drill.incident-response.io/http-fault-fraction"
DEFAULT_FRACTION = 0.3
SHARES = ("errors", "slow", "hot")
LINK = "pod-link"  # the `by` of the modes the link sets


class Api(object):
    def __init__(self, kubeconfig, kubectl):
        # kubectl reads the kubeconfig for us (YAML) and hands it over as JSON: stdlib only here.
        view = subprocess.run([kubectl, "--kubeconfig", kubeconfig, "config", "view", "--raw", "--minify", "-o", "json"],
                              capture_output=True, text=True, check=True)
        cfg = json.loads(view.stdout)
        cluster, user = cfg["clusters"][0]["cluster"], cfg["users"][0]["user"]
        self.server = cluster["server"].rstrip("/")
        self.ctx = ssl.create_default_context(cafile=_path(cluster.get("certificate-authority"), kubeconfig))
        if cluster.get("insecure-skip-tls-verify"):
            self.ctx.check_hostname = False
            self.ctx.verify_mode = ssl.CERT_NONE
        if user.get("client-certificate"):
            self.ctx.load_cert_chain(_path(user["client-certificate"], kubeconfig), _path(user["client-key"], kubeconfig))
        self.token = user.get("token")

    def call(self, method, path, body=None, content_type="application/json"):
        req = urllib.request.Request(self.server + path, method=method, data=None if body is None else json.dumps(body).encode())
        req.add_header("Accept", "application/json")
        if body is not None:
            req.add_header("Content-Type", content_type)
        if self.token:
            req.add_header("Authorization", "Bearer " + self.token)
        with urllib.request.urlopen(req, context=self.ctx, timeout=10) as resp:
            return json.loads(resp.read() or b"{}")


def _path(value, kubeconfig):
    if not value:
        return None
    return value if os.path.isabs(value) else os.path.join(os.path.dirname(kubeconfig), value)


def reconcile(api, namespace):
    """One pass; returns the number of pods relabelled."""
    changed = 0
    for plural in ("deployments", "statefulsets"):
        for obj in api.call("GET", "/apis/apps/v1/namespaces/%s/%s" % (namespace, plural))["items"]:
            need = (obj["metadata"].get("annotations") or {}).get(LOAD)
            labels = obj["spec"]["selector"].get("matchLabels") or {}
            selector = ",".join("%s=%s" % kv for kv in sorted(labels.items()))
            pods = api.call("GET", "/api/v1/namespaces/%s/pods?labelSelector=%s" % (namespace, selector))["items"]
            hot = need is not None and obj["spec"].get("replicas", 1) < int(need)
            for pod in pods:
                has = (pod["metadata"].get("labels") or {}).get(USAGE) == "high"
                template_has = ((obj["spec"]["template"]["metadata"].get("labels") or {}).get(USAGE)) == "high"
                if need is None or template_has or has == hot:
                    continue  # not under load control, or a fault put on by hand
                patch = {"metadata": {"labels": {USAGE: "high" if hot else None}}}
                api.call("PATCH", "/api/v1/namespaces/%s/pods/%s" % (namespace, pod["metadata"]["name"]), patch, "application/merge-patch+json")
                changed += 1
    return changed


def standins_without_pods(api):
    """{service: [namespace/name of its annotated Deployments with no ready replica]} for every
    service some Deployment is annotated for (an empty list: all have a ready replica)."""
    out = {}
    for obj in api.call("GET", "/apis/apps/v1/deployments")["items"]:
        service = (obj["metadata"].get("annotations") or {}).get(STANDIN)
        if not service:
            continue
        down = out.setdefault(service, [])
        if not (obj.get("status") or {}).get("readyReplicas"):
            down.append("%s/%s" % (obj["metadata"]["namespace"], obj["metadata"]["name"]))
    return out


def control_call(control, method, path, body=None):
    req = urllib.request.Request(control + path, method=method,
                                 data=None if body is None else json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"} if body is not None else {})
    with urllib.request.urlopen(req, timeout=5) as resp:
        return json.loads(resp.read() or b"{}")


def link_standins(api, control):
    """One pass of the pod link; returns {service: new mode} for what it switched."""
    wanted = standins_without_pods(api)
    modes = control_call(control, "GET", "/modes")
    switched = {}
    # Every service, annotated or not: a Deployment deleted while its stand-in was down by
    # the link must not leave it down.
    for service, state in sorted(modes.items()):
        down = wanted.get(service, [])
        if down and state.get("mode") != "down":
            control_call(control, "PUT", "/modes/" + service, {"mode": "down", "by": LINK})
            switched[service] = "down"
            print("pod link: %s down (no ready replica: %s)" % (service, ", ".join(down)), file=sys.stderr, flush=True)
        elif not down and state.get("mode") == "down" and state.get("by") == LINK:
            control_call(control, "PUT", "/modes/" + service, {"mode": "ok"})
            switched[service] = "ok"
            print("pod link: %s ok (its pods are ready again)" % service, file=sys.stderr, flush=True)
    return switched


def _ready(pod):
    if (pod["metadata"].get("deletionTimestamp")):
        return False
    return any(c.get("type") == "Ready" and c.get("status") == "True"
               for c in (pod.get("status") or {}).get("conditions") or [])


def _fraction(pod):
    try:
        value = float((pod["metadata"].get("annotations") or {}).get(HTTP_FAULT_FRACTION, DEFAULT_FRACTION))
    except ValueError:
        value = DEFAULT_FRACTION
    return min(max(value, 0.0), 1.0)


def pod_behaviour(api):
    """{service: {"ready", "errors", "slow", "hot", "build"}} for every service a Deployment
    serves (annotation SERVES), from the ready pods of those Deployments."""
    out = {}
    for obj in api.call("GET", "/apis/apps/v1/deployments")["items"]:
        service = (obj["metadata"].get("annotations") or {}).get(SERVES)
        if not service:
            continue
        labels = obj["spec"]["selector"].get("matchLabels") or {}
        selector = ",".join("%s=%s" % kv for kv in sorted(labels.items()))
        pods = api.call("GET", "/api/v1/namespaces/%s/pods?labelSelector=%s" % (obj["metadata"]["namespace"], selector))["items"]
        state = out.setdefault(service, {"ready": 0, "errors": 0.0, "slow": 0.0, "hot": 0.0, "build": "", "pods": []})
        for pod in pods:
            if _ready(pod):
                state["pods"].append(pod)
    for service, state in out.items():
        pods = state.pop("pods")
        state["ready"] = len(pods)
        for pod in pods:
            labels = pod["metadata"].get("labels") or {}
            fault = labels.get(HTTP_FAULT)
            if fault in ("errors", "slow"):
                state[fault] += _fraction(pod) / len(pods)
                image = pod["spec"]["containers"][0].get("image", "")
                state["build"] = image.rsplit(":", 1)[-1] if ":" in image.rsplit("/", 1)[-1] else image
            if labels.get(USAGE) == "high":
                state["hot"] += 1.0 / len(pods)
        for key in SHARES:
            state[key] = round(min(state[key], 1.0), 4)
    return out


def link_pods(api, control):
    """One pass of the pods' behaviour link; returns {service: what it sent} for what changed.
    Every service the stand-ins know is set: one no Deployment serves any more is cleared."""
    wanted = pod_behaviour(api)
    current = control_call(control, "GET", "/pods")
    sent = {}
    for service, state in sorted(current.items()):
        want = wanted.get(service, {"ready": 0, "errors": 0.0, "slow": 0.0, "hot": 0.0, "build": ""})
        have = dict((k, state.get(k)) for k in SHARES)
        if have == dict((k, want[k]) for k in SHARES) and (not any(have.values()) or state.get("build") == want["build"]):
            continue
        control_call(control, "PUT", "/pods/" + service, dict(want, by=LINK))
        sent[service] = want
        shares = ", ".join("%s %.0f%%" % (k, want[k] * 100) for k in SHARES)
        build = " (build %s)" % want["build"] if want["build"] else ""
        print("pod link: %s requests: %s%s" % (service, shares, build), file=sys.stderr, flush=True)
    return sent


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--kubectl", default="kubectl")
    parser.add_argument("--namespace", default="ai-orchestrator")
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--control", default="http://127.0.0.1:%s" % os.environ.get("DRILL_DRILLCTL_PORT", "58099"),
                        help="the HTTP stand-ins' control API (pod link); empty turns the link off")
    args = parser.parse_args()
    api = Api(args.kubeconfig, args.kubectl)
    link_error = None
    while True:
        try:
            reconcile(api, args.namespace)
        except Exception as exc:  # keep running through API restarts; say why
            print("load controller: %s" % exc, file=sys.stderr, flush=True)
        if args.control:
            try:
                link_standins(api, args.control)
                link_pods(api, args.control)
                link_error = None
            except Exception as exc:  # the data plane may be down: the load model keeps going
                if str(exc) != link_error:  # once, not every poll
                    print("pod link: %s" % exc, file=sys.stderr, flush=True)
                link_error = str(exc)
        time.sleep(args.interval)


if __name__ == "__main__":
    main()
