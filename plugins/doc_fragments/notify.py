# -*- coding: utf-8 -*-
# Copyright (c) 2026, AI Orchestrator SRE team
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations


class ModuleDocFragment:
    # The notifier's settings; the argument spec is module_utils.notify.settings.notify_settings_spec()
    # (a unit test keeps both in step). The roles pass the inventory variable incident_notify.
    DOCUMENTATION = r"""
options:
  settings:
    description:
      - Where notifications go. A channel whose endpoint, key or address is not set is not used;
        its messages are recorded in the outbox as C(not_sent) with their text, never sent to a default address.
      - The roles pass the inventory variable C(incident_notify); keep its secrets in Ansible Vault.
    type: dict
    default: {}
    suboptions:
      http:
        description: Timeouts and retries of every HTTP channel (Slack, PagerDuty, Statuspage); also used for SMTP.
        type: dict
        default: {}
        suboptions:
          timeout:
            description: Seconds to wait for one answer.
            type: float
            default: 10.0
          retries:
            description: Retries of one send after a network error, HTTP 429 or 5xx (bounded; a notifier never blocks remediation).
            type: int
            default: 3
          backoff:
            description: First wait between retries in seconds, doubled each time.
            type: float
            default: 1.0
          max_retry_after:
            description: Longest C(Retry-After) honoured, in seconds.
            type: float
            default: 30.0
          validate_certs:
            description: Verify TLS certificates.
            type: bool
            default: true
          ca_path:
            description: PEM bundle of the CAs to trust (also for SMTP STARTTLS).
            type: path
      slack:
        description: Slack Web API (a bot token with C(channels:manage), C(channels:join), C(channels:read), C(chat:write), C(channels:history)).
        type: dict
        default: {}
        suboptions:
          api_url:
            description: Base URL of the Web API, V(https://slack.com/api). Unset, nothing goes to Slack.
            type: str
          token:
            description: Bot token (C(xoxb-...)).
            type: str
      pagerduty:
        description: PagerDuty Events API v2.
        type: dict
        default: {}
        suboptions:
          events_url:
            description: The enqueue URL, V(https://events.pagerduty.com/v2/enqueue). Unset, nobody is paged.
            type: str
          routing_keys:
            description:
              - Integration (routing) key per escalation step (C(Primary on-call), C(Engineering manager), ...) and per
                owner team (C(development), C(infrastructure), C(database)). A step or team without a key is not paged.
            type: dict
            default: {}
          api_url:
            description:
              - REST API v2, V(https://api.pagerduty.com). With O(settings.pagerduty.api_token), escalation_check.yml reads each
                incident's acknowledgement back instead of paging the next step while PagerDuty's own policy escalates.
            type: str
          api_token:
            description: A read-only REST API key.
            type: str
      statuspage:
        description: Atlassian Statuspage REST API v1.
        type: dict
        default: {}
        suboptions:
          api_url:
            description: V(https://api.statuspage.io/v1).
            type: str
          page_id:
            description: The page's id.
            type: str
          api_key:
            description: API key, sent in the C(Authorization) header as C(OAuth <key>).
            type: str
          components:
            description: Service (workload) name -> Statuspage component id; services not listed are not shown.
            type: dict
            default: {}
          enabled:
            description:
              - V(true) publishes at once. V(false) drafts each status page message into the incident record for a person
                to approve with C(playbooks/notify_approve.yml).
            type: bool
            default: false
      email:
        description: SMTP.
        type: dict
        default: {}
        suboptions:
          host:
            description: SMTP server. Unset, no mail is sent.
            type: str
          port:
            description: SMTP port.
            type: int
            default: 587
          security:
            description: V(starttls) upgrades before authenticating, V(ssl) is SMTPS, V(none) sends in clear (test servers only).
            type: str
            default: starttls
            choices: [starttls, ssl, none]
          username:
            description: SMTP user; unset sends without authentication.
            type: str
          password:
            description: SMTP password.
            type: str
          sender:
            description: The From address.
            type: str
          ca_path:
            description: PEM bundle of the CAs that sign the SMTP server's certificate; unset uses O(settings.http.ca_path).
            type: path
          validate_certs:
            description: Verify the SMTP server's certificate; unset uses O(settings.http.validate_certs).
            type: bool
          oncall_to:
            description: On-call addresses (the runbook's contact is oncall@ai-orchestrator.com; set it explicitly).
            type: list
            elements: str
            default: []
          support_to:
            description: The business-hours support queue (P3).
            type: list
            elements: str
            default: []
          team_to:
            description: Owner team -> addresses, for escalations.
            type: dict
            default: {}
          chain_to:
            description: Escalation chain step (C(Team lead), C(Engineering manager), C(CTO), ...) -> addresses, for the escalation timeline.
            type: dict
            default: {}
      customers:
        description:
          - Who the customers are, for the runbook's "P0/P1 incidents affecting multiple customers".
          - A customer is affected when one of its C(services) is among the incident's services (V(*) for all).
          - Without a list nobody can judge, and the status page and customer mail are drafted for a person.
        type: dict
        default: {}
        suboptions:
          list:
            description: Customers as C({name, email, services}).
            type: list
            elements: dict
            default: []
          file:
            description: A JSON list, or a CSV with columns C(name), C(email), C(services) (separated by C(;)), added to O(settings.customers.list).
            type: path
          multiple_min:
            description: How many affected customers make "multiple".
            type: int
            default: 2
          email_enabled:
            description: V(true) mails affected customers at once; V(false) drafts the mails for approval.
            type: bool
            default: false
"""
