-- 0003_rules: the rules in force, mirrored from the rules directory by
-- edumond at start and on every successful reload, so that analysts (and,
-- later, alerts) can join to the exact definition that judged a figure.
--
-- A row is one version of one rule: (id, sha256 of its canonical
-- definition). Editing a rule adds a row; the old version stays, inactive.

CREATE TABLE edumon.rule (
    id           text NOT NULL CHECK (id ~ '^[a-z0-9_.-]{1,64}$'),
    sha256       text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    title        text NOT NULL,
    kind         text NOT NULL CHECK (kind IN ('threshold', 'missing', 'trend', 'dispersion',
                                               'quota')),
    metric_code  text,
    scope        text NOT NULL CHECK (scope IN ('school', 'district', 'city')),
    definition   jsonb NOT NULL,
    source_file  text NOT NULL,
    ruleset      text NOT NULL CHECK (ruleset ~ '^[0-9a-f]{64}$'),
    active       boolean NOT NULL DEFAULT true,
    first_loaded timestamptz NOT NULL DEFAULT now(),
    last_loaded  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (id, sha256)
);
CREATE UNIQUE INDEX rule_active_idx ON edumon.rule (id) WHERE active;

COMMENT ON TABLE edumon.rule IS
    'Threshold rules edumond has loaded: one row per version of a rule (id plus the SHA-256 of its canonical definition). Rows are never deleted; active marks the versions in force.';
COMMENT ON COLUMN edumon.rule.id IS 'Rule id as written in the rules file, e.g. class_size.school.';
COMMENT ON COLUMN edumon.rule.sha256 IS 'Hex SHA-256 of the canonical JSON definition: a changed rule is a new row.';
COMMENT ON COLUMN edumon.rule.title IS 'Chinese title district staff read in alerts.';
COMMENT ON COLUMN edumon.rule.kind IS 'threshold, missing, trend, dispersion or quota.';
COMMENT ON COLUMN edumon.rule.metric_code IS 'Code of the metric the rule judges (edumon.metric.code).';
COMMENT ON COLUMN edumon.rule.scope IS 'Where the rule is judged: each school, or the aggregate of a district or city.';
COMMENT ON COLUMN edumon.rule.definition IS 'The full canonical definition (bands, filters, for, resolve margin, message template ...).';
COMMENT ON COLUMN edumon.rule.source_file IS 'Rules file the definition was read from.';
COMMENT ON COLUMN edumon.rule.ruleset IS 'Version hash of the whole rule set this definition was last loaded with.';
COMMENT ON COLUMN edumon.rule.active IS 'True for the version in force; at most one active row per id.';
COMMENT ON COLUMN edumon.rule.first_loaded IS 'When this version was first loaded.';
COMMENT ON COLUMN edumon.rule.last_loaded IS 'When this version was last (re)loaded by a daemon.';

CREATE VIEW edumon.v_rule AS
SELECT r.id, r.title, r.kind, r.metric_code, m.name_zh AS metric_name, r.scope, r.definition,
       r.source_file, r.sha256, r.ruleset, r.first_loaded, r.last_loaded
FROM edumon.rule r
LEFT JOIN edumon.metric m ON m.code = r.metric_code
WHERE r.active;

COMMENT ON VIEW edumon.v_rule IS 'The rules in force, with the Chinese name of the metric each judges.';
COMMENT ON COLUMN edumon.v_rule.id IS 'Rule id.';
COMMENT ON COLUMN edumon.v_rule.title IS 'Chinese title.';
COMMENT ON COLUMN edumon.v_rule.kind IS 'threshold, missing, trend, dispersion or quota.';
COMMENT ON COLUMN edumon.v_rule.metric_code IS 'Metric code.';
COMMENT ON COLUMN edumon.v_rule.metric_name IS 'Chinese name of the metric.';
COMMENT ON COLUMN edumon.v_rule.scope IS 'school, district or city.';
COMMENT ON COLUMN edumon.v_rule.definition IS 'Canonical JSON definition.';
COMMENT ON COLUMN edumon.v_rule.source_file IS 'Rules file it came from.';
COMMENT ON COLUMN edumon.v_rule.sha256 IS 'SHA-256 of the definition.';
COMMENT ON COLUMN edumon.v_rule.ruleset IS 'Version hash of the rule set in force.';
COMMENT ON COLUMN edumon.v_rule.first_loaded IS 'When this version was first loaded.';
COMMENT ON COLUMN edumon.v_rule.last_loaded IS 'When it was last loaded.';

GRANT SELECT, INSERT ON edumon.rule TO edumon_daemon;
GRANT UPDATE (active, ruleset, last_loaded) ON edumon.rule TO edumon_daemon;
GRANT SELECT ON edumon.v_rule TO edumon_analyst;
