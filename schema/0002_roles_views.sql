-- 0002_roles_views: the two group roles, the analysts' views, and a comment
-- on every table, view and column, so that \d+ in psql is the reference.
--
-- Roles (NOLOGIN groups; operators grant them to login roles):
--   edumon_daemon   what edumond needs and nothing more: it reads the
--                   registry, catalog and tokens, appends submissions,
--                   observations and revisions, corrects observations in
--                   place and stamps tokens' last use. No DELETE, no
--                   TRUNCATE, no DDL; it owns nothing.
--   edumon_analyst  USAGE on the schema and SELECT on the v_* views only.
--                   The views run with their owner's rights, so analysts
--                   never need (and never get) the base tables, the tokens
--                   or the raw submission bodies.
-- Roles are cluster-wide: several databases of one cluster share them, so
-- they are created only if missing, and a concurrent creation by another
-- database's migration is tolerated. Every later migration that adds a
-- table or view grants what these roles need on it.
--
-- Running this migration needs the CREATEROLE attribute (or superuser).

DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'edumon_daemon') THEN
        BEGIN
            CREATE ROLE edumon_daemon NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'edumon_analyst') THEN
        BEGIN
            CREATE ROLE edumon_analyst NOLOGIN;
        EXCEPTION WHEN duplicate_object OR unique_violation THEN
            NULL;
        END;
    END IF;
END $$;

-- Start from nothing, whatever a previous hand-made setup granted.
REVOKE ALL ON SCHEMA edumon FROM PUBLIC, edumon_daemon, edumon_analyst;
REVOKE ALL ON ALL TABLES IN SCHEMA edumon FROM PUBLIC, edumon_daemon, edumon_analyst;
REVOKE ALL ON ALL SEQUENCES IN SCHEMA edumon FROM PUBLIC, edumon_daemon, edumon_analyst;

GRANT USAGE ON SCHEMA edumon TO edumon_daemon, edumon_analyst;

GRANT SELECT ON edumon.schema_migration, edumon.org_unit, edumon.metric, edumon.api_token,
                edumon.submission, edumon.observation, edumon.observation_revision
    TO edumon_daemon;
GRANT INSERT ON edumon.submission, edumon.observation, edumon.observation_revision
    TO edumon_daemon;
-- A correction replaces the current row in place; the unit key of a row
-- never changes (DESIGN.md section 10), so unit_id is not updatable.
GRANT UPDATE (metric_id, period_start, period_end, period, value, numerator, denominator,
              revision, submission_unit_id, submission_id, recorded_at)
    ON edumon.observation TO edumon_daemon;
GRANT UPDATE (last_used_at) ON edumon.api_token TO edumon_daemon;

-- ---------------------------------------------------------------------------
-- Comments on the schema and on 0001's tables.

COMMENT ON SCHEMA edumon IS
    'edumon: education-metrics monitoring. Analysts read the v_* views (role edumon_analyst); the base tables belong to edumond and the edumon CLI.';

COMMENT ON TABLE edumon.schema_migration IS
    'One row per schema migration applied by `edumon migrate` (the SQL files schema/NNNN_name.sql compiled into the binaries).';
COMMENT ON COLUMN edumon.schema_migration.version IS
    'Migration number, the leading number of its file name (0001_core.sql is 1). The database''s schema version is the highest one.';
COMMENT ON COLUMN edumon.schema_migration.name IS
    'Migration file name without .sql, e.g. 0001_core.';
COMMENT ON COLUMN edumon.schema_migration.applied_at IS
    'When the migration was committed.';

COMMENT ON TABLE edumon.org_unit IS
    'The organisation registry: province > city > district (GB/T 2260 division codes: 32 Jiangsu, 3207 Lianyungang, 320703 Lianyun) > school, childcare centre, guidance point. Loaded with `edumon schools import`; rows are updated by code and never deleted (set active = false instead).';
COMMENT ON COLUMN edumon.org_unit.id IS
    'Internal key, stable for the life of the unit; referenced by observations, submissions and tokens. Use code to talk about a unit.';
COMMENT ON COLUMN edumon.org_unit.code IS
    'Stable external code: the GB/T 2260 division code for offices (province 2 digits, city 4, district 6), the 10-digit national school identification code (学校标识码 AABBCCCCCC: AA school type 11 kindergarten, 21 primary, 31 junior secondary, 34 senior secondary, 36 secondary vocational, 51 special; BB province) for schools. Up to 32 of [0-9A-Za-z_-].';
COMMENT ON COLUMN edumon.org_unit.name IS
    'Official Chinese name, 1 to 200 characters, e.g. 连云区实验幼儿园.';
COMMENT ON COLUMN edumon.org_unit.kind IS
    'province, city or district (education bureaus: offices), or school, childcare (托育机构, ages 0-3) or guidance_point (科学育儿指导站/点).';
COMMENT ON COLUMN edumon.org_unit.parent_id IS
    'The unit directly above (org_unit.id); NULL only for a root (normally the province). A unit''s parent ranks above it: province > city > district > school/childcare/guidance_point.';
COMMENT ON COLUMN edumon.org_unit.stages IS
    'School stages taught: any of preschool, primary, junior, senior, special, vocational. A nine-year school is {primary,junior}; empty for offices, childcare centres and guidance points.';
COMMENT ON COLUMN edumon.org_unit.urban IS
    'true for an urban (城区) unit, false for a rural (乡村) one. Meaningless for offices (true).';
COMMENT ON COLUMN edumon.org_unit.public IS
    'true for a public (公办) unit, false for a private (民办) one. Meaningless for offices (true).';
COMMENT ON COLUMN edumon.org_unit.active IS
    'false once the unit has closed or merged: its history stays, it no longer reports and no new token can be made for it.';
COMMENT ON COLUMN edumon.org_unit.created_at IS
    'When the unit was first imported.';
COMMENT ON COLUMN edumon.org_unit.updated_at IS
    'When an import last changed the unit.';

COMMENT ON TABLE edumon.metric IS
    'The metric catalog (deploy/metrics.csv, loaded with `edumon catalog load`): what schools report, how, and for which period. Rows are updated by code and never deleted, because observations reference them.';
COMMENT ON COLUMN edumon.metric.id IS
    'Internal key referenced by observations. Use code to talk about a metric.';
COMMENT ON COLUMN edumon.metric.code IS
    'Stable metric code used in the API and in rules, e.g. junior_progression_rate; lower case, digits and _.';
COMMENT ON COLUMN edumon.metric.name_zh IS
    'Chinese name as district staff know it, e.g. 初中毕业生升入高中段学校比例; used in alert texts.';
COMMENT ON COLUMN edumon.metric.name_en IS
    'English name.';
COMMENT ON COLUMN edumon.metric.unit IS
    'Display unit of the value: % for rates (the stored value is a fraction 0..1; multiply by 100 to show), 人 (persons), 次 (times), 班 (classes), 分钟 (minutes), 元 (yuan); empty if none.';
COMMENT ON COLUMN edumon.metric.kind IS
    'rate: reported as numerator and denominator counts, value = numerator / denominator, aggregated as sum(numerator) / sum(denominator); count: a whole number of things (aggregated by sum); value: any other measurement (not summed).';
COMMENT ON COLUMN edumon.metric.period_kind IS
    'The one period kind the metric is reported for: day (2021-09-15), week (2021-W37), month (2021-09), quarter (2021-Q3), term (2021-2022-1), school_year (2021-2022, Sep 1 to Aug 31) or year (2021).';
COMMENT ON COLUMN edumon.metric.min_value IS
    'Smallest valid value (for a rate, of numerator / denominator, normally 0); submissions outside [min_value, max_value] are rejected.';
COMMENT ON COLUMN edumon.metric.max_value IS
    'Largest valid value (for a rate normally 1).';
COMMENT ON COLUMN edumon.metric.stages IS
    'School stages that report the metric; empty means any stage.';
COMMENT ON COLUMN edumon.metric.unit_kinds IS
    'Kinds of org_unit that report the metric (school, childcare, guidance_point, district, ...).';
COMMENT ON COLUMN edumon.metric.description IS
    'What exactly is counted, and the source plan and target it comes from.';

COMMENT ON TABLE edumon.api_token IS
    'API bearer tokens (`edumon token create/list/revoke`). Only the SHA-256 of a token is stored; the token itself is shown once, at creation. Not readable by analysts.';
COMMENT ON COLUMN edumon.api_token.id IS
    'Token number, as shown by `edumon token list` and used by `edumon token revoke`.';
COMMENT ON COLUMN edumon.api_token.token_sha256 IS
    'SHA-256 of the whole token text (32 bytes). The clear token is never stored.';
COMMENT ON COLUMN edumon.api_token.prefix IS
    'First characters of the token (edm_ and 6 more), to tell tokens apart in listings and logs; not enough to use it.';
COMMENT ON COLUMN edumon.api_token.role IS
    'school: writes its own unit (a school, childcare centre or guidance point); reporter: a district, city or province office that writes its own unit and every unit beneath it; monitor: an office that reads its subtree (alerts, series); admin: everything, no unit.';
COMMENT ON COLUMN edumon.api_token.unit_id IS
    'The unit the token acts for (org_unit.id); NULL exactly for admin tokens.';
COMMENT ON COLUMN edumon.api_token.label IS
    'Free text naming the holder or purpose, e.g. 连云区实验小学 MIS export.';
COMMENT ON COLUMN edumon.api_token.created_at IS
    'When the token was created.';
COMMENT ON COLUMN edumon.api_token.last_used_at IS
    'When edumond last accepted the token (updated at most every few minutes); NULL if never used.';
COMMENT ON COLUMN edumon.api_token.revoked_at IS
    'When the token was revoked; a revoked token is refused. NULL while valid.';

COMMENT ON TABLE edumon.submission IS
    'One row per accepted API request (JSON or CSV), never updated: the audit trail and the replay source. Its observations are in observation / observation_revision with the same (unit_id, id).';
COMMENT ON COLUMN edumon.submission.unit_id IS
    'The unit of the token that sent the request (a school, or the office of a reporter token), org_unit.id. Part of the key.';
COMMENT ON COLUMN edumon.submission.id IS
    'Submission id (UUID) returned to the client in the receipt.';
COMMENT ON COLUMN edumon.submission.token_id IS
    'The token that sent the request (api_token.id).';
COMMENT ON COLUMN edumon.submission.idempotency_key IS
    'The client''s Idempotency-Key header or submission_id field (generated if absent): a retry with the same key and body gets the original receipt, with another body a 409.';
COMMENT ON COLUMN edumon.submission.body_sha256 IS
    'SHA-256 of the request body, to recognise an identical retry.';
COMMENT ON COLUMN edumon.submission.content_type IS
    'Media type of the body: application/json or text/csv.';
COMMENT ON COLUMN edumon.submission.body IS
    'The request body exactly as received (UTF-8 text). Not readable by analysts.';
COMMENT ON COLUMN edumon.submission.observations IS
    'Number of observations the submission recorded.';
COMMENT ON COLUMN edumon.submission.received_at IS
    'When the submission was committed.';

COMMENT ON TABLE edumon.observation IS
    'The time series: the current value of each (unit, metric, period). A resubmission for the same key is a correction: the row is replaced and its previous version kept in observation_revision. Range-partitioned by period_start (one partition per calendar year).';
COMMENT ON COLUMN edumon.observation.unit_id IS
    'The unit the figure is about (org_unit.id); never changes.';
COMMENT ON COLUMN edumon.observation.metric_id IS
    'The metric (metric.id).';
COMMENT ON COLUMN edumon.observation.period_start IS
    'First day of the period (inclusive), in the deployment''s time zone (Asia/Shanghai by default).';
COMMENT ON COLUMN edumon.observation.period_end IS
    'First day after the period (exclusive): the period is [period_start, period_end).';
COMMENT ON COLUMN edumon.observation.period IS
    'The period as written by schools, in the metric''s period kind: 2021-09-15, 2021-W37, 2021-09, 2021-Q3, 2021-2022-1, 2021-2022 or 2021.';
COMMENT ON COLUMN edumon.observation.value IS
    'The figure, in the metric''s unit; for a rate numerator / denominator as a fraction 0..1 (not a percentage).';
COMMENT ON COLUMN edumon.observation.numerator IS
    'For a rate: the count meeting the condition (e.g. graduates who progressed); NULL for count and value metrics.';
COMMENT ON COLUMN edumon.observation.denominator IS
    'For a rate: the count it is taken of (e.g. all graduates), > 0; NULL for count and value metrics.';
COMMENT ON COLUMN edumon.observation.revision IS
    'Version number of this figure: 1 for the first report, +1 for each correction.';
COMMENT ON COLUMN edumon.observation.submission_unit_id IS
    'unit_id of the submission that recorded this version (the sender''s unit: the school itself or a reporter office).';
COMMENT ON COLUMN edumon.observation.submission_id IS
    'id of the submission that recorded this version.';
COMMENT ON COLUMN edumon.observation.recorded_at IS
    'When this version was committed.';

COMMENT ON TABLE edumon.observation_revision IS
    'Superseded versions of observations: when a figure is corrected, the replaced row is copied here in the same transaction, so nothing a school ever sent is lost.';
COMMENT ON COLUMN edumon.observation_revision.unit_id IS
    'The unit the figure is about (org_unit.id).';
COMMENT ON COLUMN edumon.observation_revision.metric_id IS
    'The metric (metric.id).';
COMMENT ON COLUMN edumon.observation_revision.period_start IS
    'First day of the period (inclusive).';
COMMENT ON COLUMN edumon.observation_revision.revision IS
    'Version number of the superseded figure (1 = first report).';
COMMENT ON COLUMN edumon.observation_revision.period IS
    'The period as written by schools.';
COMMENT ON COLUMN edumon.observation_revision.value IS
    'The superseded figure (for a rate a fraction 0..1).';
COMMENT ON COLUMN edumon.observation_revision.numerator IS
    'For a rate: the superseded numerator count; NULL otherwise.';
COMMENT ON COLUMN edumon.observation_revision.denominator IS
    'For a rate: the superseded denominator count; NULL otherwise.';
COMMENT ON COLUMN edumon.observation_revision.submission_unit_id IS
    'unit_id of the submission that had recorded this version.';
COMMENT ON COLUMN edumon.observation_revision.submission_id IS
    'id of the submission that had recorded this version.';
COMMENT ON COLUMN edumon.observation_revision.recorded_at IS
    'When this version had been committed.';
COMMENT ON COLUMN edumon.observation_revision.superseded_at IS
    'When the correction that replaced this version was committed.';

-- The yearly partitions of observation are tables of their own; give them
-- the parent's column comments so that every relation is documented.
DO $$
DECLARE
    part regclass;
    col record;
BEGIN
    FOR part IN
        SELECT i.inhrelid::regclass FROM pg_catalog.pg_inherits i
        WHERE i.inhparent = 'edumon.observation'::regclass
    LOOP
        EXECUTE format('COMMENT ON TABLE %s IS %L', part,
                       format('Partition of edumon.observation holding %s. Query edumon.observation (or the views) instead.',
                              CASE WHEN pg_catalog.pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT'
                                   THEN 'the periods outside every yearly partition'
                                   ELSE 'the periods starting in ' || substr(c.relname, 14) END))
            FROM pg_catalog.pg_class c WHERE c.oid = part;
        FOR col IN
            SELECT a.attname, pg_catalog.col_description(a.attrelid, a.attnum) AS comment
            FROM pg_catalog.pg_attribute a
            WHERE a.attrelid = 'edumon.observation'::regclass AND a.attnum > 0 AND NOT a.attisdropped
        LOOP
            EXECUTE format('COMMENT ON COLUMN %s.%I IS %L', part, col.attname, col.comment);
        END LOOP;
    END LOOP;
END $$;

-- ---------------------------------------------------------------------------
-- Views for analysts. They are plain views owned by the migrating role, so
-- edumon_analyst reads them without any right on the tables beneath.

CREATE VIEW edumon.v_unit AS
WITH RECURSIVE chain (unit_id, ancestor_id, depth) AS (
    SELECT u.id, u.id, 0 FROM edumon.org_unit u
    UNION ALL
    SELECT c.unit_id, a.parent_id, c.depth + 1
    FROM chain c JOIN edumon.org_unit a ON a.id = c.ancestor_id
    WHERE a.parent_id IS NOT NULL AND c.depth < 32
), resolved AS (
    SELECT c.unit_id,
           (array_agg(c.ancestor_id ORDER BY c.depth) FILTER (WHERE a.kind = 'district'))[1] AS district_id,
           (array_agg(c.ancestor_id ORDER BY c.depth) FILTER (WHERE a.kind = 'city'))[1] AS city_id,
           (array_agg(c.ancestor_id ORDER BY c.depth) FILTER (WHERE a.kind = 'province'))[1] AS province_id
    FROM chain c JOIN edumon.org_unit a ON a.id = c.ancestor_id
    GROUP BY c.unit_id
)
SELECT u.code, u.name, u.kind, u.stages, u.urban, u.public, u.active,
       p.code AS parent_code, p.name AS parent_name,
       d.code AS district_code, d.name AS district_name,
       ci.code AS city_code, ci.name AS city_name,
       pr.code AS province_code, pr.name AS province_name,
       u.created_at, u.updated_at
FROM edumon.org_unit u
JOIN resolved r ON r.unit_id = u.id
LEFT JOIN edumon.org_unit p ON p.id = u.parent_id
LEFT JOIN edumon.org_unit d ON d.id = r.district_id
LEFT JOIN edumon.org_unit ci ON ci.id = r.city_id
LEFT JOIN edumon.org_unit pr ON pr.id = r.province_id;

COMMENT ON VIEW edumon.v_unit IS
    'Every org unit with its parent and, resolved up the hierarchy, its district, city and province (codes and names). For a school the district is the bureau it reports to.';
COMMENT ON COLUMN edumon.v_unit.code IS
    'Unit code: GB/T 2260 division code for offices, 10-digit national school identification code for schools.';
COMMENT ON COLUMN edumon.v_unit.name IS 'Official Chinese name.';
COMMENT ON COLUMN edumon.v_unit.kind IS
    'province, city, district, school, childcare or guidance_point.';
COMMENT ON COLUMN edumon.v_unit.stages IS
    'School stages taught (preschool, primary, junior, senior, special, vocational); empty for non-schools.';
COMMENT ON COLUMN edumon.v_unit.urban IS 'true urban (城区), false rural (乡村).';
COMMENT ON COLUMN edumon.v_unit.public IS 'true public (公办), false private (民办).';
COMMENT ON COLUMN edumon.v_unit.active IS 'false once closed or merged.';
COMMENT ON COLUMN edumon.v_unit.parent_code IS 'Code of the unit directly above; NULL for a root.';
COMMENT ON COLUMN edumon.v_unit.parent_name IS 'Name of the unit directly above; NULL for a root.';
COMMENT ON COLUMN edumon.v_unit.district_code IS
    'Code of the nearest district at or above the unit (the unit itself for a district); NULL for cities, provinces and units directly under a city.';
COMMENT ON COLUMN edumon.v_unit.district_name IS 'Name of that district.';
COMMENT ON COLUMN edumon.v_unit.city_code IS
    'Code of the nearest city at or above the unit (the unit itself for a city); NULL for provinces.';
COMMENT ON COLUMN edumon.v_unit.city_name IS 'Name of that city.';
COMMENT ON COLUMN edumon.v_unit.province_code IS 'Code of the province at or above the unit.';
COMMENT ON COLUMN edumon.v_unit.province_name IS 'Name of that province.';
COMMENT ON COLUMN edumon.v_unit.created_at IS 'When the unit was first imported.';
COMMENT ON COLUMN edumon.v_unit.updated_at IS 'When an import last changed the unit.';

CREATE VIEW edumon.v_metric AS
SELECT m.code, m.name_zh, m.name_en, m.unit, m.kind, m.period_kind, m.min_value, m.max_value,
       m.stages, m.unit_kinds, m.description
FROM edumon.metric m;

COMMENT ON VIEW edumon.v_metric IS
    'The metric catalog: what is reported, by which units and stages, for which period kind. Join on metric_code to find who should report a metric.';
COMMENT ON COLUMN edumon.v_metric.code IS 'Metric code, as metric_code in the other views.';
COMMENT ON COLUMN edumon.v_metric.name_zh IS 'Chinese name as district staff know it.';
COMMENT ON COLUMN edumon.v_metric.name_en IS 'English name.';
COMMENT ON COLUMN edumon.v_metric.unit IS
    'Display unit (% for rates, whose values are fractions 0..1; 人, 次, 班, ...).';
COMMENT ON COLUMN edumon.v_metric.kind IS
    'rate (numerator and denominator counts; aggregate as sum/sum), count or value.';
COMMENT ON COLUMN edumon.v_metric.period_kind IS
    'Period kind it is reported for: day, week, month, quarter, term, school_year or year.';
COMMENT ON COLUMN edumon.v_metric.min_value IS 'Smallest valid value (for a rate, of the fraction).';
COMMENT ON COLUMN edumon.v_metric.max_value IS 'Largest valid value (for a rate normally 1).';
COMMENT ON COLUMN edumon.v_metric.stages IS
    'School stages that report it; empty means any stage. Compare with v_unit.stages using &&.';
COMMENT ON COLUMN edumon.v_metric.unit_kinds IS
    'Kinds of unit that report it (school, childcare, guidance_point, district, ...), as v_unit.kind.';
COMMENT ON COLUMN edumon.v_metric.description IS
    'What exactly is counted, the target and the source plan.';

CREATE VIEW edumon.v_observation AS
SELECT u.code AS unit_code, u.name AS unit_name, u.kind AS unit_kind,
       vu.district_code, vu.district_name,
       m.code AS metric_code, m.name_zh AS metric_name_zh, m.unit AS metric_unit,
       m.kind AS metric_kind,
       o.period, o.period_start, o.period_end,
       o.value, o.numerator, o.denominator, o.revision, o.recorded_at, o.submission_id
FROM edumon.observation o
JOIN edumon.org_unit u ON u.id = o.unit_id
JOIN edumon.v_unit vu ON vu.code = u.code
JOIN edumon.metric m ON m.id = o.metric_id;

COMMENT ON VIEW edumon.v_observation IS
    'Every current observation (the latest revision of each unit, metric and period) with codes and names joined in. Corrections replace rows here; the history is in v_observation_revision.';
COMMENT ON COLUMN edumon.v_observation.unit_code IS 'Code of the unit the figure is about.';
COMMENT ON COLUMN edumon.v_observation.unit_name IS 'Chinese name of that unit.';
COMMENT ON COLUMN edumon.v_observation.unit_kind IS
    'Kind of that unit: school, childcare, guidance_point, or an office (district, city, province) reporting its own figure.';
COMMENT ON COLUMN edumon.v_observation.district_code IS
    'Code of the district the unit belongs to (the unit itself for a district); NULL above district level.';
COMMENT ON COLUMN edumon.v_observation.district_name IS 'Name of that district.';
COMMENT ON COLUMN edumon.v_observation.metric_code IS 'Metric code, e.g. junior_progression_rate.';
COMMENT ON COLUMN edumon.v_observation.metric_name_zh IS 'Chinese name of the metric.';
COMMENT ON COLUMN edumon.v_observation.metric_unit IS
    'Display unit of value (% for rates, whose value is nevertheless a fraction 0..1).';
COMMENT ON COLUMN edumon.v_observation.metric_kind IS 'rate, count or value.';
COMMENT ON COLUMN edumon.v_observation.period IS
    'Period as written by schools (2021-09, 2021-2022-1, 2021-2022, ...).';
COMMENT ON COLUMN edumon.v_observation.period_start IS 'First day of the period (inclusive).';
COMMENT ON COLUMN edumon.v_observation.period_end IS 'First day after the period (exclusive).';
COMMENT ON COLUMN edumon.v_observation.value IS
    'The figure in the metric''s unit; for a rate numerator / denominator as a fraction 0..1.';
COMMENT ON COLUMN edumon.v_observation.numerator IS 'Rate numerator (count); NULL for count and value metrics.';
COMMENT ON COLUMN edumon.v_observation.denominator IS 'Rate denominator (count, > 0); NULL for count and value metrics.';
COMMENT ON COLUMN edumon.v_observation.revision IS '1 for the first report, +1 for each correction.';
COMMENT ON COLUMN edumon.v_observation.recorded_at IS 'When this revision was committed.';
COMMENT ON COLUMN edumon.v_observation.submission_id IS
    'The submission that recorded this revision (v_submission.submission_id).';

CREATE VIEW edumon.v_observation_revision AS
SELECT u.code AS unit_code, u.name AS unit_name, u.kind AS unit_kind,
       vu.district_code, vu.district_name,
       m.code AS metric_code, m.name_zh AS metric_name_zh, m.unit AS metric_unit,
       m.kind AS metric_kind,
       h.period, h.period_start, h.period_end,
       h.value, h.numerator, h.denominator, h.revision, h.recorded_at, h.submission_id,
       h.superseded_at
FROM (
    SELECT r.unit_id, r.metric_id, r.period, r.period_start, o.period_end,
           r.value, r.numerator, r.denominator, r.revision, r.recorded_at, r.submission_id,
           r.superseded_at
    FROM edumon.observation_revision r
    LEFT JOIN edumon.observation o
        ON o.unit_id = r.unit_id AND o.metric_id = r.metric_id AND o.period_start = r.period_start
    UNION ALL
    SELECT o.unit_id, o.metric_id, o.period, o.period_start, o.period_end,
           o.value, o.numerator, o.denominator, o.revision, o.recorded_at, o.submission_id,
           NULL::timestamptz
    FROM edumon.observation o
) h
JOIN edumon.org_unit u ON u.id = h.unit_id
JOIN edumon.v_unit vu ON vu.code = u.code
JOIN edumon.metric m ON m.id = h.metric_id;

COMMENT ON VIEW edumon.v_observation_revision IS
    'The full history of every observation: each superseded revision plus the current one (superseded_at NULL), with the same column names as v_observation. Order by revision to follow corrections.';
COMMENT ON COLUMN edumon.v_observation_revision.unit_code IS 'Code of the unit the figure is about.';
COMMENT ON COLUMN edumon.v_observation_revision.unit_name IS 'Chinese name of that unit.';
COMMENT ON COLUMN edumon.v_observation_revision.unit_kind IS 'Kind of that unit.';
COMMENT ON COLUMN edumon.v_observation_revision.district_code IS 'Code of the district the unit belongs to.';
COMMENT ON COLUMN edumon.v_observation_revision.district_name IS 'Name of that district.';
COMMENT ON COLUMN edumon.v_observation_revision.metric_code IS 'Metric code.';
COMMENT ON COLUMN edumon.v_observation_revision.metric_name_zh IS 'Chinese name of the metric.';
COMMENT ON COLUMN edumon.v_observation_revision.metric_unit IS 'Display unit of value.';
COMMENT ON COLUMN edumon.v_observation_revision.metric_kind IS 'rate, count or value.';
COMMENT ON COLUMN edumon.v_observation_revision.period IS 'Period as written by schools.';
COMMENT ON COLUMN edumon.v_observation_revision.period_start IS 'First day of the period (inclusive).';
COMMENT ON COLUMN edumon.v_observation_revision.period_end IS 'First day after the period (exclusive).';
COMMENT ON COLUMN edumon.v_observation_revision.value IS
    'The figure of this revision; for a rate a fraction 0..1.';
COMMENT ON COLUMN edumon.v_observation_revision.numerator IS 'Rate numerator of this revision; NULL otherwise.';
COMMENT ON COLUMN edumon.v_observation_revision.denominator IS 'Rate denominator of this revision; NULL otherwise.';
COMMENT ON COLUMN edumon.v_observation_revision.revision IS 'Revision number: 1 first report, +1 per correction.';
COMMENT ON COLUMN edumon.v_observation_revision.recorded_at IS 'When this revision was committed.';
COMMENT ON COLUMN edumon.v_observation_revision.submission_id IS 'The submission that recorded this revision.';
COMMENT ON COLUMN edumon.v_observation_revision.superseded_at IS
    'When a correction replaced this revision; NULL for the current one.';

CREATE VIEW edumon.v_latest AS
SELECT u.code AS unit_code, u.name AS unit_name, u.kind AS unit_kind,
       vu.district_code, vu.district_name,
       m.code AS metric_code, m.name_zh AS metric_name_zh, m.unit AS metric_unit,
       m.kind AS metric_kind,
       o.period, o.period_start, o.period_end,
       o.value, o.numerator, o.denominator, o.revision, o.recorded_at, o.submission_id
FROM (
    SELECT DISTINCT ON (x.unit_id, x.metric_id) x.*
    FROM edumon.observation x
    ORDER BY x.unit_id, x.metric_id, x.period_start DESC
) o
JOIN edumon.org_unit u ON u.id = o.unit_id
JOIN edumon.v_unit vu ON vu.code = u.code
JOIN edumon.metric m ON m.id = o.metric_id;

COMMENT ON VIEW edumon.v_latest IS
    'For each unit and metric, the observation of the most recent period it reported (one row per unit and metric); same columns as v_observation.';
COMMENT ON COLUMN edumon.v_latest.unit_code IS 'Code of the unit the figure is about.';
COMMENT ON COLUMN edumon.v_latest.unit_name IS 'Chinese name of that unit.';
COMMENT ON COLUMN edumon.v_latest.unit_kind IS 'Kind of that unit.';
COMMENT ON COLUMN edumon.v_latest.district_code IS 'Code of the district the unit belongs to.';
COMMENT ON COLUMN edumon.v_latest.district_name IS 'Name of that district.';
COMMENT ON COLUMN edumon.v_latest.metric_code IS 'Metric code.';
COMMENT ON COLUMN edumon.v_latest.metric_name_zh IS 'Chinese name of the metric.';
COMMENT ON COLUMN edumon.v_latest.metric_unit IS 'Display unit of value.';
COMMENT ON COLUMN edumon.v_latest.metric_kind IS 'rate, count or value.';
COMMENT ON COLUMN edumon.v_latest.period IS 'The latest period the unit reported this metric for.';
COMMENT ON COLUMN edumon.v_latest.period_start IS 'First day of that period (inclusive).';
COMMENT ON COLUMN edumon.v_latest.period_end IS 'First day after that period (exclusive).';
COMMENT ON COLUMN edumon.v_latest.value IS 'The current figure for that period; for a rate a fraction 0..1.';
COMMENT ON COLUMN edumon.v_latest.numerator IS 'Rate numerator; NULL otherwise.';
COMMENT ON COLUMN edumon.v_latest.denominator IS 'Rate denominator; NULL otherwise.';
COMMENT ON COLUMN edumon.v_latest.revision IS 'Revision number of the current figure.';
COMMENT ON COLUMN edumon.v_latest.recorded_at IS 'When the current figure was committed.';
COMMENT ON COLUMN edumon.v_latest.submission_id IS 'The submission that recorded it.';

CREATE VIEW edumon.v_district_rate AS
SELECT vu.district_code, vu.district_name,
       m.code AS metric_code, m.name_zh AS metric_name_zh,
       o.period, o.period_start, o.period_end,
       sum(o.numerator)::bigint AS numerator_sum,
       sum(o.denominator)::bigint AS denominator_sum,
       sum(o.numerator)::double precision / sum(o.denominator)::double precision AS rate,
       count(*)::integer AS schools_reporting
FROM edumon.observation o
JOIN edumon.metric m ON m.id = o.metric_id AND m.kind = 'rate'
JOIN edumon.org_unit u ON u.id = o.unit_id
    AND u.kind IN ('school', 'childcare', 'guidance_point')
JOIN edumon.v_unit vu ON vu.code = u.code AND vu.district_code IS NOT NULL
GROUP BY vu.district_code, vu.district_name, m.code, m.name_zh, o.period, o.period_start, o.period_end;

COMMENT ON VIEW edumon.v_district_rate IS
    'Per district, rate metric and period: the weighted rate of the district''s schools, sum(numerator) / sum(denominator) (10/10 and 80/100 give 90/110, never the mean of the schools'' rates). Only schools, childcare centres and guidance points count; a figure the district office reported about itself is in v_observation. A district with no school reporting has no row.';
COMMENT ON COLUMN edumon.v_district_rate.district_code IS 'District code (GB/T 2260, 6 digits).';
COMMENT ON COLUMN edumon.v_district_rate.district_name IS 'District name.';
COMMENT ON COLUMN edumon.v_district_rate.metric_code IS 'Metric code (a metric of kind rate).';
COMMENT ON COLUMN edumon.v_district_rate.metric_name_zh IS 'Chinese name of the metric.';
COMMENT ON COLUMN edumon.v_district_rate.period IS 'Period as written by schools.';
COMMENT ON COLUMN edumon.v_district_rate.period_start IS 'First day of the period (inclusive).';
COMMENT ON COLUMN edumon.v_district_rate.period_end IS 'First day after the period (exclusive).';
COMMENT ON COLUMN edumon.v_district_rate.numerator_sum IS
    'Sum of the reporting schools'' current numerators.';
COMMENT ON COLUMN edumon.v_district_rate.denominator_sum IS
    'Sum of the reporting schools'' current denominators (> 0).';
COMMENT ON COLUMN edumon.v_district_rate.rate IS
    'numerator_sum / denominator_sum as a fraction 0..1 (multiply by 100 for a percentage).';
COMMENT ON COLUMN edumon.v_district_rate.schools_reporting IS
    'Number of the district''s units (schools, childcare centres, guidance points) that reported the metric for the period.';

CREATE VIEW edumon.v_submission AS
SELECT s.id AS submission_id, u.code AS unit_code, u.name AS unit_name, u.kind AS unit_kind,
       vu.district_code, s.token_id, s.idempotency_key, s.content_type,
       s.observations, s.received_at
FROM edumon.submission s
JOIN edumon.org_unit u ON u.id = s.unit_id
JOIN edumon.v_unit vu ON vu.code = u.code;

COMMENT ON VIEW edumon.v_submission IS
    'Accepted submissions (API requests) without their raw bodies: who sent what and when. The bodies, which may hold data analysts are not meant to see, stay in edumon.submission for the daemon and administrators (replay, audit).';
COMMENT ON COLUMN edumon.v_submission.submission_id IS
    'Submission id (UUID), as in the client''s receipt and in v_observation.submission_id.';
COMMENT ON COLUMN edumon.v_submission.unit_code IS
    'Code of the sending unit: the school itself, or the office of a reporter token.';
COMMENT ON COLUMN edumon.v_submission.unit_name IS 'Name of the sending unit.';
COMMENT ON COLUMN edumon.v_submission.unit_kind IS 'Kind of the sending unit.';
COMMENT ON COLUMN edumon.v_submission.district_code IS 'District of the sending unit; NULL above district level.';
COMMENT ON COLUMN edumon.v_submission.token_id IS
    'Number of the token used (see `edumon token list`); the token itself is never visible.';
COMMENT ON COLUMN edumon.v_submission.idempotency_key IS
    'The client''s idempotency key (Idempotency-Key header or submission_id field).';
COMMENT ON COLUMN edumon.v_submission.content_type IS 'application/json or text/csv.';
COMMENT ON COLUMN edumon.v_submission.observations IS 'Number of observations the submission recorded.';
COMMENT ON COLUMN edumon.v_submission.received_at IS 'When the submission was committed.';

GRANT SELECT ON edumon.v_unit, edumon.v_metric, edumon.v_observation, edumon.v_observation_revision,
                edumon.v_latest, edumon.v_district_rate, edumon.v_submission
    TO edumon_analyst;
