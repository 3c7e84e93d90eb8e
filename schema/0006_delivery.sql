-- 0006_delivery: where alert events are sent (channels), what was sent and
-- how it went (notifications), what monitors have muted (silences), and the
-- reminder event.
--
-- The outbox is edumon.alert_event itself: it is written in the same
-- transaction as the alert change. Every writer of alert_event takes the
-- transaction-level advisory lock edumon.event_lock_key() before inserting,
-- so event ids are assigned in commit order and a reader that has seen id N
-- has seen every event below N (no gaps for a cursor to skip). edumond's
-- dispatcher walks the events past edumon.delivery_cursor, and in one
-- transaction adds a notification row for every (event, channel) that
-- matches and moves the cursor: an event is matched exactly once, and a
-- notification row, once committed, is sent at least once.
--
-- edumond is the only writer of notification and delivery_cursor; channels
-- are managed with `edumon channel`, silences with `edumon silence` or the
-- API.

CREATE FUNCTION edumon.event_lock_key() RETURNS bigint
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT 111482141241199::bigint $$;
COMMENT ON FUNCTION edumon.event_lock_key() IS
    'Key of the transaction-level advisory lock every writer of edumon.alert_event takes before inserting (pg_advisory_xact_lock), so that event ids increase in commit order.';

ALTER TABLE edumon.alert_event DROP CONSTRAINT alert_event_kind_check;
ALTER TABLE edumon.alert_event ADD CONSTRAINT alert_event_kind_check
    CHECK (kind IN ('fired', 'escalated', 'deescalated', 'resolved', 'acknowledged',
                    'reminder'));
COMMENT ON COLUMN edumon.alert_event.kind IS
    'fired, escalated, deescalated, resolved, acknowledged, or reminder (a firing alert nobody acknowledged, announced again after the reminder interval).';
CREATE INDEX alert_event_id_idx ON edumon.alert_event (id);

CREATE TABLE edumon.channel (
    id             integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit_id        integer NOT NULL REFERENCES edumon.org_unit (id),
    kind           text NOT NULL CHECK (kind IN ('webhook', 'wecom', 'dingtalk', 'alertmanager')),
    name           text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    url            text NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2000),
    secret         text CHECK (length(secret) BETWEEN 1 AND 500),
    min_severity   text NOT NULL DEFAULT 'warning'
                   CHECK (min_severity IN ('info', 'warning', 'critical')),
    subunits       boolean NOT NULL DEFAULT false,
    allow_private  boolean NOT NULL DEFAULT false,
    rate_per_min   integer NOT NULL CHECK (rate_per_min BETWEEN 0 AND 100000),
    start_event_id bigint NOT NULL DEFAULT 0,
    created_at     timestamptz NOT NULL DEFAULT now(),
    created_by     text NOT NULL DEFAULT current_user,
    removed_at     timestamptz,
    UNIQUE (unit_id, name)
);
COMMENT ON TABLE edumon.channel IS
    'Where a unit''s alert events are sent. A channel on a district receives the alerts of the district and of its schools; with subunits, a city''s channel also receives its districts'' (and their schools''). Removed channels stay, with removed_at set, so their notifications keep their meaning.';
COMMENT ON COLUMN edumon.channel.id IS 'Channel number, as `edumon channel list` shows it.';
COMMENT ON COLUMN edumon.channel.unit_id IS 'The unit whose alerts the channel receives.';
COMMENT ON COLUMN edumon.channel.kind IS
    'webhook (Alertmanager webhook format, HMAC-signed), wecom (WeCom group robot), dingtalk (DingTalk custom robot) or alertmanager (Prometheus Alertmanager v2 API, base URL).';
COMMENT ON COLUMN edumon.channel.name IS 'A name unique within the unit, for people.';
COMMENT ON COLUMN edumon.channel.url IS
    'Receiver URL. Robot URLs carry their access key: this column is as secret as secret.';
COMMENT ON COLUMN edumon.channel.secret IS
    'HMAC key: the webhook signature key, or the DingTalk signing secret; NULL for none.';
COMMENT ON COLUMN edumon.channel.min_severity IS 'Events of a lower severity are not sent here.';
COMMENT ON COLUMN edumon.channel.subunits IS
    'Also receive the alerts of the units below that are offices themselves (a city''s districts) and theirs.';
COMMENT ON COLUMN edumon.channel.allow_private IS
    'Permit a receiver on loopback, private or link-local addresses (refused otherwise, at configuration and at every connect).';
COMMENT ON COLUMN edumon.channel.rate_per_min IS
    'Messages a minute at most (0: no limit). Events that wait are grouped into the next message.';
COMMENT ON COLUMN edumon.channel.start_event_id IS
    'Events up to this id (the last one when the channel was added) are not sent here: a new channel does not receive the past.';
COMMENT ON COLUMN edumon.channel.created_at IS 'When the channel was added.';
COMMENT ON COLUMN edumon.channel.created_by IS 'Database role that added it.';
COMMENT ON COLUMN edumon.channel.removed_at IS 'When it was removed; NULL while in use.';

CREATE TABLE edumon.silence (
    id          integer GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    unit_id     integer REFERENCES edumon.org_unit (id),
    rule_id     text CHECK (rule_id ~ '^[a-z0-9_.-]{1,64}$'),
    metric_id   smallint REFERENCES edumon.metric (id),
    label_key   text CHECK (label_key ~ '^[A-Za-z_][A-Za-z0-9_]{0,63}$'),
    label_value text CHECK (length(label_value) <= 200),
    starts_at   timestamptz NOT NULL DEFAULT now(),
    ends_at     timestamptz NOT NULL,
    created_by  text NOT NULL CHECK (length(created_by) BETWEEN 1 AND 200),
    comment     text NOT NULL CHECK (length(comment) BETWEEN 1 AND 2000),
    token_id    integer REFERENCES edumon.api_token (id),
    created_at  timestamptz NOT NULL DEFAULT now(),
    expired_at  timestamptz,
    CHECK (ends_at > starts_at),
    CHECK ((label_key IS NULL) = (label_value IS NULL)),
    CHECK (unit_id IS NOT NULL OR rule_id IS NOT NULL OR metric_id IS NOT NULL
           OR label_key IS NOT NULL)
);
CREATE INDEX silence_ends_idx ON edumon.silence (ends_at);
COMMENT ON TABLE edumon.silence IS
    'Mutes: an alert event that matches every matcher given (unit and everything below it, rule, metric, rule label) while the silence is in force is recorded as silenced, not sent.';
COMMENT ON COLUMN edumon.silence.id IS 'Silence number.';
COMMENT ON COLUMN edumon.silence.unit_id IS 'Matches alerts on this unit and on every unit below it; NULL: any unit.';
COMMENT ON COLUMN edumon.silence.rule_id IS 'Matches alerts of this rule; NULL: any rule.';
COMMENT ON COLUMN edumon.silence.metric_id IS 'Matches alerts on this metric; NULL: any metric.';
COMMENT ON COLUMN edumon.silence.label_key IS 'With label_value: matches alerts whose rule has this label with this value.';
COMMENT ON COLUMN edumon.silence.label_value IS 'See label_key.';
COMMENT ON COLUMN edumon.silence.starts_at IS 'In force from.';
COMMENT ON COLUMN edumon.silence.ends_at IS 'In force until (exclusive). Expiring a silence sets it to the time of expiry.';
COMMENT ON COLUMN edumon.silence.created_by IS 'Who asked for it.';
COMMENT ON COLUMN edumon.silence.comment IS 'Why.';
COMMENT ON COLUMN edumon.silence.token_id IS 'Token used, when made through the API.';
COMMENT ON COLUMN edumon.silence.created_at IS 'When it was made.';
COMMENT ON COLUMN edumon.silence.expired_at IS 'When it was expired early; NULL otherwise.';

CREATE TABLE edumon.notification (
    id               bigint GENERATED ALWAYS AS IDENTITY,
    channel_id       integer NOT NULL REFERENCES edumon.channel (id),
    event_id         bigint NOT NULL,
    alert_unit_id    integer NOT NULL,
    alert_id         bigint NOT NULL,
    kind             text NOT NULL CHECK (kind IN ('fired', 'escalated', 'deescalated',
                                                   'resolved', 'reminder')),
    severity         text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    state            text NOT NULL CHECK (state IN ('pending', 'delivered', 'failed', 'silenced')),
    silence_id       integer REFERENCES edumon.silence (id),
    attempts         integer NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL DEFAULT now(),
    next_attempt_at  timestamptz NOT NULL DEFAULT now(),
    first_attempt_at timestamptz,
    last_attempt_at  timestamptz,
    done_at          timestamptz,
    last_status      integer,
    last_error       text,
    delivery_id      text,
    CHECK ((state = 'silenced') = (silence_id IS NOT NULL)),
    -- Keyed by channel, which a distributed layout would place it by; no
    -- foreign key to alert_event (two large tables).
    PRIMARY KEY (channel_id, id)
);
CREATE INDEX notification_pending_idx ON edumon.notification (channel_id, id)
    WHERE state = 'pending';
CREATE INDEX notification_failed_idx ON edumon.notification (done_at)
    WHERE state = 'failed';
CREATE INDEX notification_alert_idx ON edumon.notification (alert_unit_id, alert_id);
COMMENT ON TABLE edumon.notification IS
    'One row per (alert event, channel) that matched: what was to be sent where, and how it went. Sent at least once: a daemon stopped mid-delivery sends pending rows again after restart (receivers drop duplicates by delivery id).';
COMMENT ON COLUMN edumon.notification.id IS 'Notification number.';
COMMENT ON COLUMN edumon.notification.channel_id IS 'The channel (edumon.channel.id).';
COMMENT ON COLUMN edumon.notification.event_id IS 'The alert event (edumon.alert_event.id).';
COMMENT ON COLUMN edumon.notification.alert_unit_id IS 'The alert''s unit (edumon.alert.unit_id).';
COMMENT ON COLUMN edumon.notification.alert_id IS 'The alert (edumon.alert.id).';
COMMENT ON COLUMN edumon.notification.kind IS 'The event: fired, escalated, deescalated, resolved or reminder.';
COMMENT ON COLUMN edumon.notification.severity IS 'Severity of the event.';
COMMENT ON COLUMN edumon.notification.state IS
    'pending (to send or to retry), delivered, failed (given up: the receiver refused it, or kept failing past the retry horizon) or silenced (muted by a silence, never sent).';
COMMENT ON COLUMN edumon.notification.silence_id IS 'The silence that muted it.';
COMMENT ON COLUMN edumon.notification.attempts IS 'Sends tried so far.';
COMMENT ON COLUMN edumon.notification.created_at IS 'When the event was matched to the channel.';
COMMENT ON COLUMN edumon.notification.next_attempt_at IS 'Not sent (again) before this time.';
COMMENT ON COLUMN edumon.notification.first_attempt_at IS 'When sending was first tried.';
COMMENT ON COLUMN edumon.notification.last_attempt_at IS 'When sending was last tried.';
COMMENT ON COLUMN edumon.notification.done_at IS 'When it was delivered or given up.';
COMMENT ON COLUMN edumon.notification.last_status IS 'HTTP status of the last attempt; NULL when no response came.';
COMMENT ON COLUMN edumon.notification.last_error IS 'Why the last attempt failed (network error, HTTP status, the robot''s error code).';
COMMENT ON COLUMN edumon.notification.delivery_id IS
    'The X-Edumon-Delivery id of the message that carried it (one message may carry several events: a digest).';

CREATE TABLE edumon.delivery_cursor (
    id            boolean PRIMARY KEY DEFAULT true CHECK (id),
    last_event_id bigint NOT NULL,
    updated_at    timestamptz NOT NULL DEFAULT now()
);
INSERT INTO edumon.delivery_cursor (last_event_id)
    SELECT coalesce(max(id), 0) FROM edumon.alert_event;
COMMENT ON TABLE edumon.delivery_cursor IS
    'One row: the last alert event edumond has matched against the channels.';
COMMENT ON COLUMN edumon.delivery_cursor.id IS 'Always true: the table has one row.';
COMMENT ON COLUMN edumon.delivery_cursor.last_event_id IS 'Events up to this id have their notification rows.';
COMMENT ON COLUMN edumon.delivery_cursor.updated_at IS 'When the cursor last moved.';

-- The units at and above a unit, nearest first: each with whether an
-- office (province, city, district) lies between it and the unit (crossed).
CREATE FUNCTION edumon.unit_chain(unit integer)
    RETURNS TABLE (ancestor_id integer, crossed boolean)
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH RECURSIVE up (id, parent_id, office, depth, crossed) AS (
        SELECT u.id, u.parent_id, u.kind IN ('province', 'city', 'district'), 0, false
        FROM edumon.org_unit u WHERE u.id = unit
        UNION ALL
        SELECT p.id, p.parent_id, p.kind IN ('province', 'city', 'district'), up.depth + 1,
               up.crossed OR up.office
        FROM up JOIN edumon.org_unit p ON p.id = up.parent_id
        WHERE up.depth < 32
    )
    SELECT id, crossed FROM up ORDER BY depth
$$;
COMMENT ON FUNCTION edumon.unit_chain(integer) IS
    'The unit and every unit above it, nearest first, each with crossed: whether an office (province, city, district) lies strictly between it and the unit (the unit itself excluded).';

-- Does a channel on unit ch_unit (with subunits or not) receive alerts on
-- unit alert_unit? Yes when alert_unit is ch_unit, or lies below it with no
-- office (province, city, district) in between, or lies anywhere below it
-- when subunits is true.
CREATE FUNCTION edumon.channel_covers(ch_unit integer, subunits boolean, alert_unit integer)
    RETURNS boolean LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT EXISTS (SELECT 1 FROM edumon.unit_chain(alert_unit) c
                   WHERE c.ancestor_id = ch_unit AND (subunits OR NOT c.crossed))
$$;
COMMENT ON FUNCTION edumon.channel_covers(integer, boolean, integer) IS
    'Whether a channel on ch_unit receives alerts on alert_unit: the unit itself, units below it up to the next office, and, with subunits, everything below it.';

-- The silence in force at time t that mutes an alert (lowest id), or NULL.
CREATE FUNCTION edumon.silence_for(alert_unit integer, alert_rule text, alert_metric smallint,
                                   alert_rule_sha256 text, t timestamptz)
    RETURNS integer LANGUAGE sql STABLE PARALLEL SAFE AS $$
    SELECT s.id FROM edumon.silence s
    WHERE s.starts_at <= t AND t < s.ends_at AND s.expired_at IS NULL
      AND (s.rule_id IS NULL OR s.rule_id = alert_rule)
      AND (s.metric_id IS NULL OR s.metric_id = alert_metric)
      AND (s.unit_id IS NULL OR edumon.channel_covers(s.unit_id, true, alert_unit))
      AND (s.label_key IS NULL OR EXISTS (
            -- The canonical definition holds labels as [key, value] pairs.
            SELECT 1 FROM edumon.rule r, jsonb_array_elements(r.definition -> 'labels') l
            WHERE r.id = alert_rule AND r.sha256 = alert_rule_sha256
              AND l ->> 0 = s.label_key AND l ->> 1 = s.label_value))
    ORDER BY s.id LIMIT 1
$$;
COMMENT ON FUNCTION edumon.silence_for(integer, text, smallint, text, timestamptz) IS
    'The silence (lowest id) that mutes an alert at time t, or NULL.';

CREATE VIEW edumon.v_channel AS
SELECT c.id, u.code AS unit_code, u.name AS unit_name, c.kind, c.name, c.min_severity,
       c.subunits, c.rate_per_min, c.created_at, c.created_by, c.removed_at
FROM edumon.channel c JOIN edumon.org_unit u ON u.id = c.unit_id;
COMMENT ON VIEW edumon.v_channel IS
    'Notification channels, without their URLs and secrets.';
COMMENT ON COLUMN edumon.v_channel.id IS 'Channel number.';
COMMENT ON COLUMN edumon.v_channel.unit_code IS 'Code of the unit whose alerts it receives.';
COMMENT ON COLUMN edumon.v_channel.unit_name IS 'Name of that unit.';
COMMENT ON COLUMN edumon.v_channel.kind IS 'webhook, wecom, dingtalk or alertmanager.';
COMMENT ON COLUMN edumon.v_channel.name IS 'Channel name, unique within the unit.';
COMMENT ON COLUMN edumon.v_channel.min_severity IS 'Lowest severity sent.';
COMMENT ON COLUMN edumon.v_channel.subunits IS 'Whether it also receives the alerts of the offices below (a city''s districts).';
COMMENT ON COLUMN edumon.v_channel.rate_per_min IS 'Messages a minute at most; 0 for no limit.';
COMMENT ON COLUMN edumon.v_channel.created_at IS 'When it was added.';
COMMENT ON COLUMN edumon.v_channel.created_by IS 'Database role that added it.';
COMMENT ON COLUMN edumon.v_channel.removed_at IS 'When it was removed; NULL while in use.';

CREATE VIEW edumon.v_notification AS
SELECT n.id, n.channel_id, c.name AS channel_name, c.kind AS channel_kind,
       n.event_id, n.alert_id, a.rule_id, u.code AS unit_code, u.name AS unit_name, a.period,
       n.kind, n.severity, n.state, n.silence_id, n.attempts, n.created_at, n.first_attempt_at,
       n.last_attempt_at, n.next_attempt_at, n.done_at, n.last_status, n.last_error,
       n.delivery_id
FROM edumon.notification n
JOIN edumon.channel c ON c.id = n.channel_id
JOIN edumon.alert a ON a.unit_id = n.alert_unit_id AND a.id = n.alert_id
JOIN edumon.org_unit u ON u.id = a.unit_id;
COMMENT ON VIEW edumon.v_notification IS
    'Every notification with its channel, alert and outcome: delivered, failed (with the last error), silenced, or pending.';
COMMENT ON COLUMN edumon.v_notification.id IS 'Notification number.';
COMMENT ON COLUMN edumon.v_notification.channel_id IS 'Channel number.';
COMMENT ON COLUMN edumon.v_notification.channel_name IS 'Channel name.';
COMMENT ON COLUMN edumon.v_notification.channel_kind IS 'webhook, wecom, dingtalk or alertmanager.';
COMMENT ON COLUMN edumon.v_notification.event_id IS 'The alert event (v_alert_event.id).';
COMMENT ON COLUMN edumon.v_notification.alert_id IS 'The alert (v_alert.id).';
COMMENT ON COLUMN edumon.v_notification.rule_id IS 'Rule of the alert.';
COMMENT ON COLUMN edumon.v_notification.unit_code IS 'Code of the unit the alert is on.';
COMMENT ON COLUMN edumon.v_notification.unit_name IS 'Name of that unit.';
COMMENT ON COLUMN edumon.v_notification.period IS 'Period of the alert.';
COMMENT ON COLUMN edumon.v_notification.kind IS 'fired, escalated, deescalated, resolved or reminder.';
COMMENT ON COLUMN edumon.v_notification.severity IS 'Severity of the event.';
COMMENT ON COLUMN edumon.v_notification.state IS 'pending, delivered, failed or silenced.';
COMMENT ON COLUMN edumon.v_notification.silence_id IS 'The silence that muted it (v_silence.id).';
COMMENT ON COLUMN edumon.v_notification.attempts IS 'Sends tried so far.';
COMMENT ON COLUMN edumon.v_notification.created_at IS 'When the event was matched to the channel.';
COMMENT ON COLUMN edumon.v_notification.first_attempt_at IS 'When sending was first tried.';
COMMENT ON COLUMN edumon.v_notification.last_attempt_at IS 'When sending was last tried.';
COMMENT ON COLUMN edumon.v_notification.next_attempt_at IS 'Not sent (again) before this time.';
COMMENT ON COLUMN edumon.v_notification.done_at IS 'When it was delivered or given up.';
COMMENT ON COLUMN edumon.v_notification.last_status IS 'HTTP status of the last attempt; NULL when no response came.';
COMMENT ON COLUMN edumon.v_notification.last_error IS 'Why the last attempt failed.';
COMMENT ON COLUMN edumon.v_notification.delivery_id IS 'Delivery id of the message that carried it (X-Edumon-Delivery).';

CREATE VIEW edumon.v_silence AS
SELECT s.id, u.code AS unit_code, u.name AS unit_name, s.rule_id, m.code AS metric_code,
       s.label_key, s.label_value, s.starts_at, s.ends_at, s.created_by, s.comment,
       s.created_at, s.expired_at,
       (s.starts_at <= now() AND now() < s.ends_at) AS active
FROM edumon.silence s
LEFT JOIN edumon.org_unit u ON u.id = s.unit_id
LEFT JOIN edumon.metric m ON m.id = s.metric_id;
COMMENT ON VIEW edumon.v_silence IS 'Silences, with whether each is in force now.';
COMMENT ON COLUMN edumon.v_silence.id IS 'Silence number.';
COMMENT ON COLUMN edumon.v_silence.unit_code IS 'Matches alerts on this unit and below; NULL for any unit.';
COMMENT ON COLUMN edumon.v_silence.unit_name IS 'Name of that unit.';
COMMENT ON COLUMN edumon.v_silence.rule_id IS 'Matches alerts of this rule; NULL for any.';
COMMENT ON COLUMN edumon.v_silence.metric_code IS 'Matches alerts on this metric; NULL for any.';
COMMENT ON COLUMN edumon.v_silence.label_key IS 'With label_value: matches rules with this label.';
COMMENT ON COLUMN edumon.v_silence.label_value IS 'See label_key.';
COMMENT ON COLUMN edumon.v_silence.starts_at IS 'In force from.';
COMMENT ON COLUMN edumon.v_silence.ends_at IS 'In force until (exclusive).';
COMMENT ON COLUMN edumon.v_silence.created_by IS 'Who asked for it.';
COMMENT ON COLUMN edumon.v_silence.comment IS 'Why.';
COMMENT ON COLUMN edumon.v_silence.created_at IS 'When it was made.';
COMMENT ON COLUMN edumon.v_silence.expired_at IS 'When it was expired early; NULL otherwise.';
COMMENT ON COLUMN edumon.v_silence.active IS 'Whether it is in force now.';

GRANT SELECT ON edumon.channel, edumon.silence, edumon.notification, edumon.delivery_cursor
    TO edumon_daemon;
GRANT INSERT ON edumon.notification TO edumon_daemon;
GRANT UPDATE (state, silence_id, attempts, next_attempt_at, first_attempt_at, last_attempt_at,
              done_at, last_status, last_error, delivery_id)
    ON edumon.notification TO edumon_daemon;
GRANT UPDATE (last_event_id, updated_at) ON edumon.delivery_cursor TO edumon_daemon;
GRANT INSERT (unit_id, rule_id, metric_id, label_key, label_value, starts_at, ends_at,
              created_by, comment, token_id)
    ON edumon.silence TO edumon_daemon;
GRANT UPDATE (ends_at, expired_at) ON edumon.silence TO edumon_daemon;
GRANT SELECT ON edumon.v_channel, edumon.v_notification, edumon.v_silence TO edumon_analyst;
