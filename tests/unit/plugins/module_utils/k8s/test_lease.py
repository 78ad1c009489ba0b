# -*- coding: utf-8 -*-
# SPDX-License-Identifier: GPL-3.0-or-later
"""The service Lease: names, MicroTime, expiry, the decisions, and acquire/release on an in-memory API.

The in-memory API here does what the real one does for Leases and nothing more: create
fails with 409 AlreadyExists, a PUT whose resourceVersion is not the stored one fails
with 409 Conflict, a DELETE checks its uid/resourceVersion preconditions. The real API
server's behaviour is checked in tests/integration/test_service_lease.py.
"""
from __future__ import annotations

import copy
import itertools
import json

import pytest

from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.common.errors import ClusterError, InvalidInput, NotFound
from ansible_collections.ai_orchestrator.incident_response.plugins.module_utils.k8s import lease as ls
from ansible_collections.ai_orchestrator.incident_response.plugins.modules import service_lease
from ansible_collections.ai_orchestrator.incident_response.tests.unit.plugins.module_utils.k8s import fixtures_k8s as f

NS = "ai-orchestrator"
NAME = "incident-response-api-gateway"
ME, OTHER = "awx-job-42@node1", "alice@laptop:4711"


class Clock(object):
    def __init__(self, now=f.NOW):
        self.now = now

    def time(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def conflict(what):
    return ClusterError("%s failed with HTTP 409: conflict" % what, status=409)


class LeaseAPI(object):
    """Leases and namespaces of an API server, with its optimistic concurrency."""

    host = "https://fake-apiserver.test:6443"

    def __init__(self, dry_run=False, namespaces=(NS,)):
        self.dry_run = dry_run
        self.namespaces = set(namespaces)
        self.leases = {}  # path -> Lease
        self.writes = []  # (method, path, body, dry_run)
        self.before_write = []  # callables run before the next writes, one each: another run acting meanwhile
        self._rv = itertools.count(100)
        self.unproven = []

    def _version(self, obj):
        obj["metadata"]["resourceVersion"] = str(next(self._rv))
        return obj

    def store(self, lease):
        """Seed a Lease as another run left it."""
        lease = copy.deepcopy(lease)
        lease["metadata"].setdefault("uid", "uid-" + lease["metadata"]["name"])
        self.leases[ls.lease_path(lease["metadata"]["namespace"], lease["metadata"]["name"])] = self._version(lease)
        return lease

    def _write(self, method, path, body):
        self.writes.append((method, path, copy.deepcopy(body), self.dry_run))
        if self.before_write:
            self.before_write.pop(0)()

    def get(self, path, **query):
        if path.startswith("/api/v1/namespaces/"):
            if path.rsplit("/", 1)[1] not in self.namespaces:
                raise NotFound("GET %s: not found" % path)
            return {"metadata": {"name": path.rsplit("/", 1)[1]}}
        if path not in self.leases:
            raise NotFound("GET %s: not found" % path)
        return copy.deepcopy(self.leases[path])

    def post(self, path, body):
        self._write("POST", path, body)
        target = path + "/" + body["metadata"]["name"]
        if target in self.leases:
            raise conflict("POST %s (AlreadyExists)" % path)
        created = self._version(dict(copy.deepcopy(body), metadata=dict(body["metadata"], uid="uid-new")))
        if not self.dry_run:
            self.leases[target] = created
        return copy.deepcopy(created)

    def request(self, method, path, body=None, **kwargs):
        self._write(method, path, body)
        stored = self.leases.get(path)
        if stored is None:
            raise NotFound("%s %s: not found" % (method, path))
        if method == "PUT":
            if body["metadata"].get("resourceVersion") != stored["metadata"]["resourceVersion"]:
                raise conflict("PUT %s" % path)
            updated = self._version(copy.deepcopy(body))
            if not self.dry_run:
                self.leases[path] = updated
            return copy.deepcopy(updated)
        if method == "DELETE":
            pre = body["preconditions"]
            if pre["uid"] != stored["metadata"]["uid"] or pre["resourceVersion"] != stored["metadata"]["resourceVersion"]:
                raise conflict("DELETE %s" % path)
            if not self.dry_run:
                del self.leases[path]
            return {"kind": "Status", "status": "Success"}
        raise NotImplementedError(method)

    def lease(self, name=NAME):
        return self.leases.get(ls.lease_path(NS, name))


def held(holder=OTHER, renewed_ago=10, duration=900, incident="incident-2027-01-15-075500", transitions=2):
    """A Lease as another run left it: acquired a minute before its last renewal, renewed_ago seconds ago."""
    lease = ls.new_lease(NS, "api-gateway", holder, incident, duration, f.NOW - renewed_ago - 60)
    lease["spec"]["renewTime"] = ls.micro_time(f.NOW - renewed_ago)
    lease["spec"]["leaseTransitions"] = transitions
    return lease


def leases(api, clock=None):
    return ls.Leases(api, NS, clock=clock or Clock())


# --- names and times -------------------------------------------------------------


def test_lease_name_is_prefixed_and_validated():
    assert ls.lease_name("api-gateway") == NAME
    assert ls.lease_name("svc.v2") == "incident-response-svc.v2"
    for bad in ("", "API-Gateway", "-api", "api_gateway", "api-", "a..b"):
        with pytest.raises(InvalidInput, match="not a DNS-1123 name"):
            ls.lease_name(bad)
    longest = "a" * (ls.MAX_NAME - len(ls.NAME_PREFIX))
    assert len(ls.lease_name(longest)) == ls.MAX_NAME
    with pytest.raises(InvalidInput, match="longer than 253"):
        ls.lease_name(longest + "b")


def test_micro_time_is_rfc3339_with_microseconds_and_reads_back():
    stamp = ls.micro_time(f.NOW + 0.25)
    assert stamp == "2027-01-15T08:00:00.250000Z"
    assert ls.micro_epoch(stamp) == f.NOW + 0.25
    assert ls.micro_epoch("2027-01-15T08:00:00Z") == f.NOW  # a plain Time reads too
    assert ls.micro_epoch(None) is None and ls.micro_epoch("garbage") is None


def test_duration_has_a_floor():
    ls.check_duration(30)
    for bad in (29, 0, -5, None):
        with pytest.raises(InvalidInput, match="duration_seconds must be at least 30"):
            ls.check_duration(bad)


# --- expiry and decisions ----------------------------------------------------------


def test_expiry_counts_from_the_last_renewal():
    lease = held(renewed_ago=100, duration=900)
    assert ls.expires(lease) == f.NOW + 800
    assert not ls.expired(lease, f.NOW) and not ls.expired(lease, f.NOW + 799.9)
    assert ls.expired(lease, f.NOW + 800)  # at the instant it runs out, it is free


def test_expiry_falls_back_to_the_acquire_time():
    lease = held(renewed_ago=100, duration=900)
    del lease["spec"]["renewTime"]
    assert ls.expires(lease) == f.NOW - 160 + 900


@pytest.mark.parametrize("drop", ["times", "leaseDurationSeconds"])
def test_a_lease_without_times_or_duration_counts_as_expired(drop):
    lease = held()
    for key in (["renewTime", "acquireTime"] if drop == "times" else [drop]):
        del lease["spec"][key]
    assert ls.expires(lease) is None and ls.expired(lease, f.NOW)
    assert ls.decide(lease, ME, f.NOW) == ls.TAKE_OVER


def test_holder_info_says_who_for_which_incident_and_until_when():
    info = ls.holder_info(held(renewed_ago=100, duration=900), f.NOW)
    assert info == {
        "holder": OTHER,
        "incident_id": "incident-2027-01-15-075500",
        "acquired_at": ls.micro_time(f.NOW - 160),
        "renewed_at": ls.micro_time(f.NOW - 100),
        "expires_at": ls.micro_time(f.NOW + 800),
        "expires_in_seconds": 800,
    }
    assert ls.holder_info(held(renewed_ago=1000), f.NOW)["expires_in_seconds"] == 0
    free = held()
    free["spec"]["holderIdentity"] = ""
    assert ls.holder_info(free, f.NOW) is None


@pytest.mark.parametrize(
    "lease,me,decision",
    [
        (None, ME, ls.CREATE),
        (held(holder=ME), ME, ls.RENEW),
        (held(holder=ME, renewed_ago=5000), ME, ls.RENEW),  # our own, expired: still ours to renew
        (held(), ME, ls.HELD),
        (held(renewed_ago=901), ME, ls.TAKE_OVER),
        (held(holder=""), ME, ls.TAKE_OVER),
    ],
    ids=["missing", "ours", "ours-expired", "theirs", "theirs-expired", "nobody"],
)
def test_decide(lease, me, decision):
    assert ls.decide(lease, me, f.NOW) == decision


def test_decide_release():
    assert ls.decide_release(None, ME) == ls.ABSENT
    assert ls.decide_release(held(holder=""), ME) == ls.ABSENT
    assert ls.decide_release(held(holder=ME), ME) == ls.RELEASED
    assert ls.decide_release(held(), ME) == ls.NOT_HOLDER
    assert ls.decide_release(held(renewed_ago=5000), ME) == ls.NOT_HOLDER  # expired, but not ours to delete


def test_takeover_counts_a_transition_and_drops_the_old_incident():
    lease = held(renewed_ago=1000)
    lease["metadata"]["resourceVersion"] = "41"
    body = ls.updated_lease(lease, ls.TAKE_OVER, ME, None, 300, f.NOW)
    assert body["metadata"]["resourceVersion"] == "41"  # the precondition
    assert body["spec"] == {"holderIdentity": ME, "leaseDurationSeconds": 300, "acquireTime": ls.micro_time(f.NOW),
                            "renewTime": ls.micro_time(f.NOW), "leaseTransitions": 3}
    assert ls.INCIDENT_ANNOTATION not in body["metadata"]["annotations"]


def test_renewal_keeps_acquire_time_and_incident_unless_a_new_one_is_given():
    lease = held(holder=ME, renewed_ago=100)
    body = ls.updated_lease(lease, ls.RENEW, ME, None, 900, f.NOW)
    assert body["spec"]["acquireTime"] == lease["spec"]["acquireTime"] and body["spec"]["leaseTransitions"] == 2
    assert body["spec"]["renewTime"] == ls.micro_time(f.NOW)
    assert body["metadata"]["annotations"][ls.INCIDENT_ANNOTATION] == "incident-2027-01-15-075500"
    body = ls.updated_lease(lease, ls.RENEW, ME, "incident-2027-01-15-080000", 900, f.NOW)
    assert body["metadata"]["annotations"][ls.INCIDENT_ANNOTATION] == "incident-2027-01-15-080000"


# --- acquire and release -------------------------------------------------------------


def test_acquire_creates_a_missing_lease():
    api = LeaseAPI()
    result = leases(api).acquire("api-gateway", ME, "incident-2027-01-15-080000", 900)
    assert result["acquired"] and result["changed"] and result["action"] == ls.CREATE
    assert result["lease"] == {"name": NAME, "namespace": NS}
    assert result["held_by"]["holder"] == ME and result["held_by"]["expires_in_seconds"] == 900
    stored = api.lease()
    assert stored["spec"]["holderIdentity"] == ME and stored["spec"]["leaseDurationSeconds"] == 900
    assert stored["metadata"]["annotations"] == {ls.INCIDENT_ANNOTATION: "incident-2027-01-15-080000"}
    assert stored["metadata"]["labels"][ls.SERVICE_LABEL] == "api-gateway"
    assert [w[0] for w in api.writes] == ["POST"]


def test_acquire_reports_a_lease_held_by_another_run_without_writing():
    api = LeaseAPI()
    api.store(held(renewed_ago=100))
    result = leases(api).acquire("api-gateway", ME)
    assert not result["acquired"] and not result["changed"] and result["action"] == ls.HELD
    assert result["held_by"]["holder"] == OTHER and result["held_by"]["incident_id"] == "incident-2027-01-15-075500"
    assert result["held_by"]["expires_in_seconds"] == 800
    assert "held by %s (incident incident-2027-01-15-075500), 800s left" % OTHER in result["msg"]
    assert api.writes == []


def test_acquire_renews_our_own_lease_with_its_resource_version():
    api = LeaseAPI()
    seeded = api.store(held(holder=ME, renewed_ago=100))
    version = api.lease()["metadata"]["resourceVersion"]
    result = leases(api).acquire("api-gateway", ME, duration=600)
    assert result["acquired"] and result["action"] == ls.RENEW
    [(method, _path, body, _dry)] = api.writes
    assert method == "PUT" and body["metadata"]["resourceVersion"] == version
    assert api.lease()["spec"]["renewTime"] == ls.micro_time(f.NOW) and api.lease()["spec"]["acquireTime"] == seeded["spec"]["acquireTime"]
    assert api.lease()["spec"]["leaseDurationSeconds"] == 600


def test_acquire_takes_over_an_expired_lease():
    api = LeaseAPI()
    api.store(held(renewed_ago=901))
    result = leases(api).acquire("api-gateway", ME, "incident-2027-01-15-080000")
    assert result["acquired"] and result["action"] == ls.TAKE_OVER and "expired" in result["msg"]
    assert api.lease()["spec"]["holderIdentity"] == ME and api.lease()["spec"]["leaseTransitions"] == 3


def test_losing_the_race_to_create_reports_the_winner():
    """Both read 'no Lease'; the other run creates first; our create gets AlreadyExists, we read it and report it."""
    api = LeaseAPI()
    api.before_write.append(lambda: api.store(held(renewed_ago=0)))
    result = leases(api).acquire("api-gateway", ME)
    assert not result["acquired"] and result["action"] == ls.HELD and result["held_by"]["holder"] == OTHER
    assert [w[0] for w in api.writes] == ["POST"]


def test_losing_the_race_to_take_over_reports_the_winner():
    api = LeaseAPI()
    api.store(held(renewed_ago=1000))

    def other_takes_over():
        lease = api.lease()
        lease["spec"].update(holderIdentity="bob@desk:1", renewTime=ls.micro_time(f.NOW))
        api.store(lease)

    api.before_write.append(other_takes_over)
    result = leases(api).acquire("api-gateway", ME)
    assert not result["acquired"] and result["held_by"]["holder"] == "bob@desk:1"
    assert [w[0] for w in api.writes] == ["PUT"]


def test_a_lease_that_keeps_changing_fails_after_bounded_tries():
    api = LeaseAPI()
    api.store(held(holder=ME))
    api.before_write.extend([lambda: api.store(api.lease())] * ls.CONFLICT_TRIES)
    with pytest.raises(ClusterError, match="changed under this run 5 times in a row"):
        leases(api).acquire("api-gateway", ME)
    assert len(api.writes) == ls.CONFLICT_TRIES


def test_release_deletes_only_our_own_lease_with_preconditions():
    api = LeaseAPI()
    api.store(held(holder=ME))
    stored = api.lease()
    result = leases(api).release("api-gateway", ME)
    assert result["changed"] and result["action"] == ls.RELEASED and result["held_by"] is None and not result["acquired"]
    [(method, _path, body, _dry)] = api.writes
    assert method == "DELETE" and body["preconditions"] == {"uid": stored["metadata"]["uid"], "resourceVersion": stored["metadata"]["resourceVersion"]}
    assert api.lease() is None


def test_release_of_someone_elses_lease_changes_nothing_and_says_whose():
    api = LeaseAPI()
    api.store(held())
    result = leases(api).release("api-gateway", ME)
    assert not result["changed"] and result["action"] == ls.NOT_HOLDER and result["held_by"]["holder"] == OTHER
    assert "not by this run: left as it is" in result["msg"] and api.writes == [] and api.lease() is not None


def test_release_of_a_missing_lease_changes_nothing():
    result = leases(LeaseAPI()).release("api-gateway", ME)
    assert not result["changed"] and result["action"] == ls.ABSENT and "nothing to release" in result["msg"]


def test_release_after_a_takeover_meanwhile_leaves_the_new_holder():
    api = LeaseAPI()
    api.store(held(holder=ME, renewed_ago=2000))

    def other_takes_over():
        lease = api.lease()
        lease["spec"].update(holderIdentity=OTHER, renewTime=ls.micro_time(f.NOW))
        api.store(lease)

    api.before_write.append(other_takes_over)
    result = leases(api).release("api-gateway", ME)
    assert result["action"] == ls.NOT_HOLDER and not result["changed"] and api.lease()["spec"]["holderIdentity"] == OTHER


def test_check_mode_sends_dry_runs_and_says_what_would_happen():
    api = LeaseAPI(dry_run=True)
    result = leases(api).acquire("api-gateway", ME)
    assert result["acquired"] and result["changed"] and result["action"] == ls.CREATE
    assert result["msg"].startswith("check mode, nothing written: would have acquired")
    assert api.leases == {} and [w[3] for w in api.writes] == [True]
    api = LeaseAPI(dry_run=True)
    api.store(held())
    result = leases(api).acquire("api-gateway", ME)
    assert not result["acquired"] and result["action"] == ls.HELD and api.writes == []


def test_check_mode_release_says_dry_run_in_the_delete_options():
    """The API server takes a DELETE's options from its body and then ignores the dryRun query parameter."""
    api = LeaseAPI(dry_run=True)
    api.store(held(holder=ME))
    result = leases(api).release("api-gateway", ME)
    assert result["action"] == ls.RELEASED and result["changed"] and "check mode" in result["msg"]
    [(method, _path, body, dry_run)] = api.writes
    assert method == "DELETE" and dry_run and body["dryRun"] == ["All"] and api.lease() is not None


def test_an_unknown_namespace_fails_before_any_write():
    api = LeaseAPI(namespaces=())
    with pytest.raises(NotFound, match="namespace 'ai-orchestrator' does not exist in the cluster at https://fake-apiserver.test:6443"):
        leases(api).acquire("api-gateway", ME)
    assert api.writes == []


# --- the module's run() ------------------------------------------------------------


def params(**kw):
    p = dict((name, spec.get("default")) for name, spec in service_lease.argspec().items())
    p.update(namespace=NS, service="api-gateway", holder=ME)
    p.update(kw)
    return p


def test_module_run_acquires_and_releases():
    api = LeaseAPI()
    assert service_lease.run(api, params(incident_id="incident-1"), clock=Clock())["action"] == ls.CREATE
    assert service_lease.run(api, params(holder=OTHER), clock=Clock())["action"] == ls.HELD
    assert service_lease.run(api, params(state="absent"), clock=Clock())["action"] == ls.RELEASED
    json.dumps(service_lease.run(api, params(state="absent"), clock=Clock()))  # results are plain JSON


@pytest.mark.parametrize(
    "kw,message",
    [
        ({"duration_seconds": 29}, "duration_seconds must be at least 30, not 29"),
        ({"service": "Api_Gateway"}, "not a DNS-1123 name"),
        ({"holder": "  "}, "holder must name this run"),
    ],
)
def test_module_validates_before_touching_the_cluster(kw, message):
    api = LeaseAPI(namespaces=())
    with pytest.raises(InvalidInput, match=message):
        service_lease.run(api, params(**kw))
    assert api.writes == []
