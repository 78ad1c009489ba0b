-- Schema and seed data of the drill's `orchestrator` database: the tables the
-- runbook's recovery checks touch (workflows, executions) and what they hang off.
-- Loaded once by drill/dataplane.sh when the database is created. Deterministic:
-- every fresh drill has the same rows, with times relative to the load.
\set ON_ERROR_STOP on
BEGIN;

CREATE EXTENSION IF NOT EXISTS pg_stat_statements;

CREATE TABLE users (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email        text NOT NULL UNIQUE,
    display_name text NOT NULL,
    role         text NOT NULL CHECK (role IN ('admin', 'editor', 'viewer')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE engine_configs (
    engine          text PRIMARY KEY CHECK (engine IN ('langflow', 'n8n', 'langsmith')),
    base_url        text NOT NULL,
    health_path     text NOT NULL,
    timeout_seconds integer NOT NULL DEFAULT 30 CHECK (timeout_seconds > 0),
    enabled         boolean NOT NULL DEFAULT true,
    settings        jsonb NOT NULL DEFAULT '{}',
    created_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workflows (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name       text NOT NULL,
    engine     text NOT NULL REFERENCES engine_configs (engine),
    owner_id   bigint NOT NULL REFERENCES users (id),
    definition jsonb NOT NULL,
    version    integer NOT NULL DEFAULT 1,
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (owner_id, name)
);
CREATE INDEX workflows_engine_idx ON workflows (engine) WHERE active;

CREATE TABLE executions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    workflow_id  bigint NOT NULL REFERENCES workflows (id) ON DELETE CASCADE,
    triggered_by bigint REFERENCES users (id) ON DELETE SET NULL,
    status       text NOT NULL
                 CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'timeout', 'cancelled')),
    started_at   timestamptz NOT NULL,
    finished_at  timestamptz,
    duration_ms  integer GENERATED ALWAYS AS
                 ((extract(epoch FROM finished_at - started_at) * 1000)::integer) STORED,
    error        text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    CHECK (finished_at IS NULL OR finished_at >= started_at)
);
CREATE INDEX executions_workflow_started_idx ON executions (workflow_id, started_at DESC);
-- What the failure-rate investigation scans: recent failures only.
CREATE INDEX executions_failures_idx ON executions (started_at DESC)
    WHERE status IN ('failed', 'timeout');

INSERT INTO users (email, display_name, role) VALUES
    ('ada@ai-orchestrator.com', 'Ada Admin', 'admin'),
    ('ben@ai-orchestrator.com', 'Ben Builder', 'editor'),
    ('cho@ai-orchestrator.com', 'Cho Chen', 'editor'),
    ('dev@ai-orchestrator.com', 'Dev Patel', 'editor'),
    ('eva@ai-orchestrator.com', 'Eva Ortiz', 'viewer'),
    ('fay@ai-orchestrator.com', 'Fay Nguyen', 'viewer');

INSERT INTO engine_configs (engine, base_url, health_path, timeout_seconds, settings) VALUES
    ('langflow', 'http://langflow-service:7860', '/health', 60, '{"api_version": "v1"}'),
    ('n8n', 'http://n8n-service:5678', '/healthz', 30, '{"webhook_path": "/webhook"}'),
    ('langsmith', 'http://langsmith-service:1984', '/ok', 30, '{"project": "ai-orchestrator"}');

-- 8 workflows per engine, owned round-robin by the editors; the last of each is retired.
INSERT INTO workflows (name, engine, owner_id, definition, version, active, created_at)
SELECT format('%s-%s', e.engine, w.name),
       e.engine,
       2 + (w.n + e.k) % 3,
       jsonb_build_object('engine', e.engine, 'steps', 2 + w.n % 5, 'trigger', w.trigger),
       1 + w.n % 3,
       w.n < 8,
       now() - make_interval(days => 60 - w.n * 5)
FROM (VALUES ('langflow', 0), ('n8n', 1), ('langsmith', 2)) AS e (engine, k)
CROSS JOIN (VALUES (1, 'support-triage', 'webhook'), (2, 'doc-summarizer', 'api'),
                   (3, 'lead-enrichment', 'schedule'), (4, 'invoice-extract', 'webhook'),
                   (5, 'rag-answer', 'api'), (6, 'nightly-report', 'schedule'),
                   (7, 'slack-digest', 'schedule'), (8, 'legacy-import', 'api')) AS w (n, name, trigger)
ORDER BY e.k, w.n;

-- 360 executions over the last 24 hours, spread over the active workflows. The
-- status mix gives a normal failure rate (about 10 %) with langsmith worse (20 %).
INSERT INTO executions (workflow_id, triggered_by, status, started_at, finished_at, error)
SELECT w.id,
       CASE WHEN i % 4 = 0 THEN NULL ELSE 1 + i % 6 END,
       s.status,
       s.started,
       CASE WHEN s.status IN ('queued', 'running') THEN NULL
            ELSE s.started + make_interval(secs => 0.4 + (i * 37 % 90) / 3.0) END,
       CASE s.status WHEN 'failed' THEN 'engine returned HTTP 500'
                     WHEN 'timeout' THEN 'no response from engine within timeout' END
FROM generate_series(1, 360) AS i
JOIN LATERAL (SELECT id, engine FROM workflows WHERE active
              ORDER BY id OFFSET i % 21 LIMIT 1) AS w ON true
CROSS JOIN LATERAL (SELECT
    now() - make_interval(mins => i * 4) AS started,
    CASE WHEN i <= 3 THEN 'running'
         WHEN i <= 5 THEN 'queued'
         WHEN i % 10 = 7 THEN 'failed'
         WHEN w.engine = 'langsmith' AND i % 10 = 3 THEN 'timeout'
         WHEN i % 40 = 11 THEN 'cancelled'
         ELSE 'succeeded' END AS status) AS s
ORDER BY i DESC;

COMMIT;
ANALYZE;
