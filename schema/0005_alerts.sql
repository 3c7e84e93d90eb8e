-- 0005_alerts: alerts, their history, the aggregate figures the rules judge
-- and the evaluation clock.
--
-- One alert row per (rule, scope unit, period): its fingerprint is
-- alert_fingerprint() of lib/ruleeval.h, so re-evaluating the same data, a
-- restart or a re-posted observation finds the same row. A breach that
-- clears and comes back reopens the same row (a new episode, recorded in
-- alert_event); the row always shows the latest episode.
--
-- edumond is the only writer of alert, alert_event (except acknowledgements,
-- which the API writes), rule_figure and evaluation_clock.

CREATE TABLE edumon.alert (
    id             bigint GENERATED ALWAYS AS IDENTITY,
    fingerprint    text NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    rule_id        text NOT NULL CHECK (rule_id ~ '^[a-z0-9_.-]{1,64}$'),
    rule_sha256    text NOT NULL CHECK (rule_sha256 ~ '^[0-9a-f]{64}$'),
    unit_id        integer NOT NULL REFERENCES edumon.org_unit (id),
    metric_id      smallint NOT NULL REFERENCES edumon.metric (id),
    period         text NOT NULL,
    period_start   date NOT NULL,
    period_end     date NOT NULL CHECK (period_end > period_start),
    state          text NOT NULL CHECK (state IN ('firing', 'resolved')),
    severity       text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    value          double precision,
    bound          double precision,
    op             text NOT NULL CHECK (op IN ('<', '<=', '>', '>=', '==', '!=')),
    title          text NOT NULL,
    message        text NOT NULL,
    fired_at       timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    resolved_at    timestamptz,
    resolved_value double precision,
    acked_at       timestamptz,
    acked_token_id integer REFERENCES edumon.api_token (id),
    acked_by       text,
    ack_note       text CHECK (length(ack_note) <= 2000),
    CHECK ((state = 'resolved') = (resolved_at IS NOT NULL)),
    -- Keys carry the unit, as DESIGN.md section 10 asks of large tables (a
    -- distributed alert table would be distributed by unit_id); the
    -- fingerprint names the unit anyway, and ids are unique by themselves.
    PRIMARY KEY (unit_id, id),
    UNIQUE (unit_id, fingerprint)
);
CREATE INDEX alert_id_idx ON edumon.alert (id);
CREATE INDEX alert_state_fired_idx ON edumon.alert (state, fired_at DESC, id DESC);
CREATE INDEX alert_unit_idx ON edumon.alert (unit_id);
CREATE INDEX alert_rule_idx ON edumon.alert (rule_id, period_start);

COMMENT ON TABLE edumon.alert IS
    'Alerts: one row per (rule, scope unit, period), found by a stable fingerprint. state is firing or resolved; severity is the severity in force (or the last one before resolution). A breach that clears and returns reopens the row; every change is in edumon.alert_event.';
COMMENT ON COLUMN edumon.alert.id IS 'Alert number, as in the API (/v1/alerts/{id}) and in receipts.';
COMMENT ON COLUMN edumon.alert.fingerprint IS
    'Hex SHA-256 of rule id, NUL, unit code, NUL, canonical period: the same for every evaluation of the same episode.';
COMMENT ON COLUMN edumon.alert.rule_id IS 'Id of the rule that fired (edumon.rule.id).';
COMMENT ON COLUMN edumon.alert.rule_sha256 IS 'Version of the rule definition that last judged the alert (edumon.rule.sha256).';
COMMENT ON COLUMN edumon.alert.unit_id IS 'The unit judged: the school for school rules, the district or city for aggregate rules.';
COMMENT ON COLUMN edumon.alert.metric_id IS 'The metric judged.';
COMMENT ON COLUMN edumon.alert.period IS 'Canonical period string, e.g. 2026, 2026-09, 2026-W14, 2026-T1, 2026-11-23.';
COMMENT ON COLUMN edumon.alert.period_start IS 'First day of the period (inclusive).';
COMMENT ON COLUMN edumon.alert.period_end IS 'First day after the period (exclusive).';
COMMENT ON COLUMN edumon.alert.state IS 'firing or resolved.';
COMMENT ON COLUMN edumon.alert.severity IS 'info, warning or critical: in force while firing, the last one once resolved.';
COMMENT ON COLUMN edumon.alert.value IS
    'The last judged value: a fraction 0..1 for rates, a coefficient of variation for dispersion, days overdue for missing reports, a count for quotas.';
COMMENT ON COLUMN edumon.alert.bound IS 'The bound the value was judged against, in the same units.';
COMMENT ON COLUMN edumon.alert.op IS 'The comparison that makes value a breach of bound.';
COMMENT ON COLUMN edumon.alert.title IS 'Chinese title of the rule.';
COMMENT ON COLUMN edumon.alert.message IS 'Chinese message with unit, value, bound and period filled in.';
COMMENT ON COLUMN edumon.alert.fired_at IS 'When the current episode started firing.';
COMMENT ON COLUMN edumon.alert.updated_at IS 'When the row last changed.';
COMMENT ON COLUMN edumon.alert.resolved_at IS 'When the current episode resolved; NULL while firing.';
COMMENT ON COLUMN edumon.alert.resolved_value IS 'The value that cleared the breach.';
COMMENT ON COLUMN edumon.alert.acked_at IS 'When a monitor acknowledged the current episode; NULL if nobody has (cleared when the alert fires again).';
COMMENT ON COLUMN edumon.alert.acked_token_id IS 'Token that acknowledged it.';
COMMENT ON COLUMN edumon.alert.acked_by IS 'Who acknowledged it (name given with the acknowledgement, else the token label).';
COMMENT ON COLUMN edumon.alert.ack_note IS 'Note given with the acknowledgement.';

CREATE TABLE edumon.alert_event (
    id                 bigint GENERATED ALWAYS AS IDENTITY,
    alert_unit_id      integer NOT NULL,
    alert_id           bigint NOT NULL,
    at                 timestamptz NOT NULL DEFAULT now(),
    kind               text NOT NULL CHECK (kind IN ('fired', 'escalated', 'deescalated',
                                                     'resolved', 'acknowledged')),
    severity           text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    value              double precision,
    bound              double precision,
    submission_unit_id integer,
    submission_id      uuid,
    token_id           integer REFERENCES edumon.api_token (id),
    note               text,
    PRIMARY KEY (alert_unit_id, id),
    FOREIGN KEY (alert_unit_id, alert_id) REFERENCES edumon.alert (unit_id, id)
    -- No foreign key to submission: a district alert's event names a
    -- school's submission, which a distributed layout would keep elsewhere.
);
CREATE INDEX alert_event_alert_idx ON edumon.alert_event (alert_unit_id, alert_id, id);
CREATE INDEX alert_event_submission_idx ON edumon.alert_event (submission_id)
    WHERE submission_id IS NOT NULL;

COMMENT ON TABLE edumon.alert_event IS
    'Every change of every alert, in order: fired, escalated, deescalated, resolved, acknowledged.';
COMMENT ON COLUMN edumon.alert_event.id IS 'Event number, increasing.';
COMMENT ON COLUMN edumon.alert_event.alert_unit_id IS 'The alert''s unit (edumon.alert.unit_id): with alert_id, the alert''s key.';
COMMENT ON COLUMN edumon.alert_event.alert_id IS 'The alert (edumon.alert.id).';
COMMENT ON COLUMN edumon.alert_event.at IS 'When the change was recorded.';
COMMENT ON COLUMN edumon.alert_event.kind IS 'fired, escalated, deescalated, resolved or acknowledged.';
COMMENT ON COLUMN edumon.alert_event.severity IS 'Severity after the change (for resolved: the one that was in force).';
COMMENT ON COLUMN edumon.alert_event.value IS 'The value judged at the change.';
COMMENT ON COLUMN edumon.alert_event.bound IS 'The bound judged against.';
COMMENT ON COLUMN edumon.alert_event.submission_unit_id IS 'Unit key of the submission that caused the change, if one did.';
COMMENT ON COLUMN edumon.alert_event.submission_id IS 'The submission that caused the change; NULL for changes made by the clock (deadlines, quotas) or at start-up.';
COMMENT ON COLUMN edumon.alert_event.token_id IS 'For acknowledgements: the token used.';
COMMENT ON COLUMN edumon.alert_event.note IS 'For acknowledgements: who and the note given.';

CREATE TABLE edumon.rule_figure (
    rule_id      text NOT NULL CHECK (rule_id ~ '^[a-z0-9_.-]{1,64}$'),
    unit_id      integer NOT NULL REFERENCES edumon.org_unit (id),
    period_start date NOT NULL,
    period       text NOT NULL,
    value        double precision,
    numerator    bigint,
    denominator  bigint,
    reported     integer NOT NULL CHECK (reported >= 0),
    expected     integer NOT NULL CHECK (expected >= 0),
    judged       boolean NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (rule_id, unit_id, period_start)
);

COMMENT ON TABLE edumon.rule_figure IS
    'The aggregate figure each district or city rule last computed, per scope unit and period, with how many of the expected units had reported. judged is false while the figure is provisional (too few reports and the deadline not passed): such a figure never raises an alert.';
COMMENT ON COLUMN edumon.rule_figure.rule_id IS 'Rule id.';
COMMENT ON COLUMN edumon.rule_figure.unit_id IS 'The district or city.';
COMMENT ON COLUMN edumon.rule_figure.period_start IS 'First day of the period.';
COMMENT ON COLUMN edumon.rule_figure.period IS 'Canonical period string.';
COMMENT ON COLUMN edumon.rule_figure.value IS
    'The aggregate: sum(numerator)/sum(denominator) for rates, the sum for counts, the mean for values, the coefficient of variation for dispersion rules; NULL when undefined.';
COMMENT ON COLUMN edumon.rule_figure.numerator IS 'Sum of numerators (rates) or of counts.';
COMMENT ON COLUMN edumon.rule_figure.denominator IS 'Sum of denominators (rates).';
COMMENT ON COLUMN edumon.rule_figure.reported IS 'Units in scope (after the rule''s filters) that reported for the period.';
COMMENT ON COLUMN edumon.rule_figure.expected IS 'Units in scope that are expected to report.';
COMMENT ON COLUMN edumon.rule_figure.judged IS 'True once complete enough (or past the deadline) to be judged; false while provisional.';
COMMENT ON COLUMN edumon.rule_figure.updated_at IS 'When the figure was last computed.';

CREATE TABLE edumon.evaluation_clock (
    id          boolean PRIMARY KEY DEFAULT true CHECK (id),
    last_day    date NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

COMMENT ON TABLE edumon.evaluation_clock IS
    'One row: the last day (in the deployment''s time zone) whose deadlines edumond has evaluated. After a restart it catches up on the days since.';
COMMENT ON COLUMN edumon.evaluation_clock.id IS 'Always true: the table has one row.';
COMMENT ON COLUMN edumon.evaluation_clock.last_day IS 'Last day whose deadlines (missing reports, quotas, aggregates) were evaluated.';
COMMENT ON COLUMN edumon.evaluation_clock.updated_at IS 'When it was written.';

CREATE VIEW edumon.v_alert AS
SELECT a.id, a.fingerprint, a.rule_id, a.title AS rule_title, r.kind AS rule_kind,
       a.state, a.severity,
       u.code AS unit_code, u.name AS unit_name, u.kind AS unit_kind,
       vu.district_code, vu.district_name, vu.city_code, vu.city_name,
       m.code AS metric_code, m.name_zh AS metric_name,
       a.period, a.period_start, a.period_end, a.value, a.op, a.bound, a.message,
       a.fired_at, a.updated_at, a.resolved_at, a.resolved_value,
       a.acked_at, a.acked_by, a.ack_note
FROM edumon.alert a
JOIN edumon.org_unit u ON u.id = a.unit_id
JOIN edumon.v_unit vu ON vu.code = u.code
JOIN edumon.metric m ON m.id = a.metric_id
LEFT JOIN edumon.rule r ON r.id = a.rule_id AND r.sha256 = a.rule_sha256;

COMMENT ON VIEW edumon.v_alert IS
    'Alerts with rule, unit, district, city and metric names: one row per (rule, unit, period).';
COMMENT ON COLUMN edumon.v_alert.id IS 'Alert number.';
COMMENT ON COLUMN edumon.v_alert.fingerprint IS 'Stable fingerprint of (rule, unit, period).';
COMMENT ON COLUMN edumon.v_alert.rule_id IS 'Rule id.';
COMMENT ON COLUMN edumon.v_alert.rule_title IS 'Chinese title of the rule.';
COMMENT ON COLUMN edumon.v_alert.rule_kind IS 'threshold, missing, trend, dispersion or quota.';
COMMENT ON COLUMN edumon.v_alert.state IS 'firing or resolved.';
COMMENT ON COLUMN edumon.v_alert.severity IS 'info, warning or critical.';
COMMENT ON COLUMN edumon.v_alert.unit_code IS 'Code of the unit judged (school, district or city).';
COMMENT ON COLUMN edumon.v_alert.unit_name IS 'Name of the unit judged.';
COMMENT ON COLUMN edumon.v_alert.unit_kind IS 'Kind of the unit judged.';
COMMENT ON COLUMN edumon.v_alert.district_code IS 'District the unit belongs to (the unit itself for a district rule); NULL above district level.';
COMMENT ON COLUMN edumon.v_alert.district_name IS 'District name.';
COMMENT ON COLUMN edumon.v_alert.city_code IS 'City the unit belongs to.';
COMMENT ON COLUMN edumon.v_alert.city_name IS 'City name.';
COMMENT ON COLUMN edumon.v_alert.metric_code IS 'Metric code.';
COMMENT ON COLUMN edumon.v_alert.metric_name IS 'Chinese name of the metric.';
COMMENT ON COLUMN edumon.v_alert.period IS 'Canonical period string.';
COMMENT ON COLUMN edumon.v_alert.period_start IS 'First day of the period.';
COMMENT ON COLUMN edumon.v_alert.period_end IS 'First day after the period.';
COMMENT ON COLUMN edumon.v_alert.value IS 'Last judged value (a fraction for rates).';
COMMENT ON COLUMN edumon.v_alert.op IS 'Comparison that makes value a breach of bound.';
COMMENT ON COLUMN edumon.v_alert.bound IS 'The bound.';
COMMENT ON COLUMN edumon.v_alert.message IS 'Chinese message.';
COMMENT ON COLUMN edumon.v_alert.fired_at IS 'When the current episode started.';
COMMENT ON COLUMN edumon.v_alert.updated_at IS 'When the alert last changed.';
COMMENT ON COLUMN edumon.v_alert.resolved_at IS 'When it resolved; NULL while firing.';
COMMENT ON COLUMN edumon.v_alert.resolved_value IS 'The value that cleared it.';
COMMENT ON COLUMN edumon.v_alert.acked_at IS 'When it was acknowledged.';
COMMENT ON COLUMN edumon.v_alert.acked_by IS 'Who acknowledged it.';
COMMENT ON COLUMN edumon.v_alert.ack_note IS 'Acknowledgement note.';

CREATE VIEW edumon.v_alert_event AS
SELECT e.id, e.alert_id, a.rule_id, u.code AS unit_code, u.name AS unit_name, a.period,
       e.at, e.kind, e.severity, e.value, e.bound, e.submission_id, e.note
FROM edumon.alert_event e
JOIN edumon.alert a ON a.unit_id = e.alert_unit_id AND a.id = e.alert_id
JOIN edumon.org_unit u ON u.id = a.unit_id;

COMMENT ON VIEW edumon.v_alert_event IS 'The history of every alert, oldest first by id.';
COMMENT ON COLUMN edumon.v_alert_event.id IS 'Event number.';
COMMENT ON COLUMN edumon.v_alert_event.alert_id IS 'Alert number (v_alert.id).';
COMMENT ON COLUMN edumon.v_alert_event.rule_id IS 'Rule id.';
COMMENT ON COLUMN edumon.v_alert_event.unit_code IS 'Code of the unit judged.';
COMMENT ON COLUMN edumon.v_alert_event.unit_name IS 'Name of the unit judged.';
COMMENT ON COLUMN edumon.v_alert_event.period IS 'Canonical period string.';
COMMENT ON COLUMN edumon.v_alert_event.at IS 'When the change was recorded.';
COMMENT ON COLUMN edumon.v_alert_event.kind IS 'fired, escalated, deescalated, resolved or acknowledged.';
COMMENT ON COLUMN edumon.v_alert_event.severity IS 'Severity after the change.';
COMMENT ON COLUMN edumon.v_alert_event.value IS 'Value judged.';
COMMENT ON COLUMN edumon.v_alert_event.bound IS 'Bound judged against.';
COMMENT ON COLUMN edumon.v_alert_event.submission_id IS 'Submission that caused it (see v_submission), if any.';
COMMENT ON COLUMN edumon.v_alert_event.note IS 'Acknowledgement: who and the note.';

CREATE VIEW edumon.v_rule_figure AS
SELECT f.rule_id, r.title AS rule_title, u.code AS unit_code, u.name AS unit_name,
       f.period, f.period_start, f.value, f.numerator, f.denominator, f.reported, f.expected,
       f.judged, f.updated_at
FROM edumon.rule_figure f
JOIN edumon.org_unit u ON u.id = f.unit_id
LEFT JOIN edumon.rule r ON r.id = f.rule_id AND r.active;

COMMENT ON VIEW edumon.v_rule_figure IS
    'District and city figures as the rules see them, provisional (judged = false) or judged.';
COMMENT ON COLUMN edumon.v_rule_figure.rule_id IS 'Rule id.';
COMMENT ON COLUMN edumon.v_rule_figure.rule_title IS 'Chinese title of the rule.';
COMMENT ON COLUMN edumon.v_rule_figure.unit_code IS 'District or city code.';
COMMENT ON COLUMN edumon.v_rule_figure.unit_name IS 'District or city name.';
COMMENT ON COLUMN edumon.v_rule_figure.period IS 'Canonical period string.';
COMMENT ON COLUMN edumon.v_rule_figure.period_start IS 'First day of the period.';
COMMENT ON COLUMN edumon.v_rule_figure.value IS 'The aggregate (fraction for rates, CV for dispersion).';
COMMENT ON COLUMN edumon.v_rule_figure.numerator IS 'Sum of numerators or counts.';
COMMENT ON COLUMN edumon.v_rule_figure.denominator IS 'Sum of denominators.';
COMMENT ON COLUMN edumon.v_rule_figure.reported IS 'Units that reported.';
COMMENT ON COLUMN edumon.v_rule_figure.expected IS 'Units expected to report.';
COMMENT ON COLUMN edumon.v_rule_figure.judged IS 'False while provisional.';
COMMENT ON COLUMN edumon.v_rule_figure.updated_at IS 'When it was computed.';

GRANT SELECT, INSERT ON edumon.alert, edumon.alert_event, edumon.rule_figure,
                        edumon.evaluation_clock
    TO edumon_daemon;
GRANT UPDATE (rule_sha256, period, period_end, state, severity, value, bound, op, title, message,
              fired_at, updated_at, resolved_at, resolved_value, acked_at, acked_token_id,
              acked_by, ack_note)
    ON edumon.alert TO edumon_daemon;
GRANT UPDATE (period, value, numerator, denominator, reported, expected, judged, updated_at)
    ON edumon.rule_figure TO edumon_daemon;
GRANT UPDATE (last_day, updated_at) ON edumon.evaluation_clock TO edumon_daemon;
GRANT SELECT ON edumon.v_alert, edumon.v_alert_event, edumon.v_rule_figure TO edumon_analyst;
