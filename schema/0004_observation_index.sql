-- 0004_observation_index: the secondary index of observation also carries
-- unit_id. With (metric_id, period_start) alone the planner may answer an
-- exact-key lookup (the writer's corrections, idempotent replays) through
-- it and then filter every school's row of that metric and day: with 2000
-- schools, 2000 heap fetches per key. (metric_id, period_start, unit_id)
-- serves the analysts' "one metric, one period" scans just as well and makes
-- every key lookup exact, whichever index the planner picks.
DROP INDEX edumon.observation_metric_period_idx;
CREATE INDEX observation_metric_period_unit_idx
    ON edumon.observation (metric_id, period_start, unit_id);
