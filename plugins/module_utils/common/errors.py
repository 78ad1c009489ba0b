# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""The collection's one error hierarchy.

Helpers raise these; only a module's main() (or a filter, or the callback) turns them
into fail_json / AnsibleFilterError. Every message says what to fix.

IncidentResponseError
  InvalidInput          a parameter is unusable; nothing was touched
    SeverityError       not one of P0..P3
  ClusterError          the Kubernetes API refused or failed a request
    ClusterUnreachable  the API server could not be reached at all
    NotFound            the namespace or object does not exist
  GuardrailError        refused: it could take the service down or lose data
  VerificationFailed    an action ran but the service did not become healthy in time
  IncidentError         an incident record cannot be read or written
"""

from __future__ import annotations


class IncidentResponseError(Exception):
    """Base class: the message says what to fix."""

    def __init__(self, message, status=None):
        super(IncidentResponseError, self).__init__(message)
        self.status = status


class InvalidInput(IncidentResponseError, ValueError):
    """A parameter is unusable; raised before anything is read or changed."""


class SeverityError(InvalidInput):
    """A severity that is not one of P0..P3."""


class ClusterError(IncidentResponseError):
    """The Kubernetes API refused or failed a request."""


class ClusterUnreachable(ClusterError):
    """The Kubernetes API server could not be reached at all."""


class NotFound(ClusterError):
    """The namespace or object does not exist."""

    def __init__(self, message, status=404):
        super(NotFound, self).__init__(message, status=status)


class GuardrailError(IncidentResponseError):
    """An action was refused because it could take the service down or lose data."""


class VerificationFailed(IncidentResponseError):
    """An action ran but the workload did not become healthy in time."""


class IncidentError(IncidentResponseError):
    """Anything that stops an incident record from being read or written."""
