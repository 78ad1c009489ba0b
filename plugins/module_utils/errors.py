# -*- coding: utf-8 -*-
# Copyright: (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

"""Exceptions raised by the collection's helpers; only a module's main() turns them into fail_json."""

from __future__ import annotations


class IncidentResponseError(Exception):
    """Base class: the message says what to fix."""

    def __init__(self, message, status=None):
        super(IncidentResponseError, self).__init__(message)
        self.status = status


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
