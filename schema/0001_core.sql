-- 0001_core: the registry, the metric catalog, tokens, submissions and the
-- observation time series.
--
-- Distribution rules (DESIGN.md section 10): every key of a large table
-- includes the unit it would be distributed by; foreign keys run from large
-- tables to small ones only; no triggers on large tables.

CREATE SCHEMA IF NOT EXISTS edumon;

CREATE TABLE edumon.schema_migration (
    version     integer PRIMARY KEY,
    name        text NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE edumon.org_unit (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (code ~ '^[0-9A-Za-z_-]{1,32}$'),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind        text NOT NULL CHECK (kind IN ('province', 'city', 'district', 'school',
                                              'childcare', 'guidance_point')),
    parent_id   integer REFERENCES edumon.org_unit (id),
    stages      text[] NOT NULL DEFAULT '{}'
                CHECK (stages <@ ARRAY['preschool', 'primary', 'junior', 'senior',
                                       'special', 'vocational']),
    urban       boolean NOT NULL DEFAULT true,
    public      boolean NOT NULL DEFAULT true,
    active      boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (parent_id IS DISTINCT FROM id)
);
CREATE INDEX org_unit_parent_idx ON edumon.org_unit (parent_id);

CREATE TABLE edumon.metric (
    id           smallint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code         text NOT NULL UNIQUE CHECK (code ~ '^[a-z][a-z0-9_]{0,63}$'),
    name_zh      text NOT NULL,
    name_en      text NOT NULL,
    unit         text NOT NULL DEFAULT '',
    kind         text NOT NULL CHECK (kind IN ('rate', 'count', 'value')),
    period_kind  text NOT NULL CHECK (period_kind IN ('day', 'week', 'month', 'quarter',
                                                      'term', 'school_year', 'year')),
    min_value    double precision NOT NULL,
    max_value    double precision NOT NULL,
    stages       text[] NOT NULL DEFAULT '{}',
    unit_kinds   text[] NOT NULL,
    description  text NOT NULL DEFAULT '',
    CHECK (min_value <= max_value)
);

CREATE TABLE edumon.api_token (
    id            integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    token_sha256  bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    prefix        text NOT NULL,
    role          text NOT NULL CHECK (role IN ('school', 'reporter', 'monitor', 'admin')),
    unit_id       integer REFERENCES edumon.org_unit (id),
    label         text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    last_used_at  timestamptz,
    revoked_at    timestamptz,
    CHECK ((role = 'admin') = (unit_id IS NULL))
);

-- One row per accepted request, never updated: the audit trail and the
-- replay source. unit_id is the unit of the token that sent it (a school, or
-- the office of a reporter).
CREATE TABLE edumon.submission (
    unit_id          integer NOT NULL REFERENCES edumon.org_unit (id),
    id               uuid NOT NULL,
    token_id         integer NOT NULL REFERENCES edumon.api_token (id),
    idempotency_key  text NOT NULL CHECK (length(idempotency_key) BETWEEN 1 AND 200),
    body_sha256      bytea NOT NULL,
    content_type     text NOT NULL,
    body             text NOT NULL,
    observations     integer NOT NULL,
    received_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (unit_id, id),
    UNIQUE (unit_id, idempotency_key)
);

-- The current value of each (unit, metric, period). A correction replaces
-- the row; the replaced version moves to observation_revision in the same
-- transaction.
CREATE TABLE edumon.observation (
    unit_id             integer NOT NULL REFERENCES edumon.org_unit (id),
    metric_id           smallint NOT NULL REFERENCES edumon.metric (id),
    period_start        date NOT NULL,
    period_end          date NOT NULL,
    period              text NOT NULL,
    value               double precision NOT NULL,
    numerator           bigint,
    denominator         bigint,
    revision            integer NOT NULL DEFAULT 1,
    submission_unit_id  integer NOT NULL,
    submission_id       uuid NOT NULL,
    recorded_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (unit_id, metric_id, period_start),
    CHECK (period_end > period_start),
    CHECK ((numerator IS NULL) = (denominator IS NULL)),
    CHECK (denominator IS NULL OR (denominator > 0 AND numerator BETWEEN 0 AND denominator))
) PARTITION BY RANGE (period_start);

CREATE TABLE edumon.observation_revision (
    unit_id             integer NOT NULL REFERENCES edumon.org_unit (id),
    metric_id           smallint NOT NULL REFERENCES edumon.metric (id),
    period_start        date NOT NULL,
    revision            integer NOT NULL,
    period              text NOT NULL,
    value               double precision NOT NULL,
    numerator           bigint,
    denominator         bigint,
    submission_unit_id  integer NOT NULL,
    submission_id       uuid NOT NULL,
    recorded_at         timestamptz NOT NULL,
    superseded_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (unit_id, metric_id, period_start, revision)
);

-- Yearly partitions for the years schools report about, and a default
-- partition so that no valid period is ever refused for want of one.
DO $$
BEGIN
    FOR y IN 2000..2040 LOOP
        EXECUTE format('CREATE TABLE edumon.observation_y%s PARTITION OF edumon.observation
                        FOR VALUES FROM (%L) TO (%L)', y, make_date(y, 1, 1), make_date(y + 1, 1, 1));
    END LOOP;
END $$;
CREATE TABLE edumon.observation_default PARTITION OF edumon.observation DEFAULT;

CREATE INDEX observation_metric_period_idx ON edumon.observation (metric_id, period_start);
