-- 0007_channel_units: the units the channels carry, as one set.
--
-- channel_covers() answers for one (channel, unit) pair by walking up from
-- the unit. Asked for every firing alert (the dispatcher's reminders, once
-- a minute) it costs a walk per alert and channel: 1.1 s for 5,000 of
-- 80,000 alerts. channel_units() walks down from every channel once and
-- gives the same answer for every unit at a time.

-- Every unit some channel carries (channel_covers), with the lowest
-- minimum severity among the channels that carry it.
CREATE FUNCTION edumon.channel_units()
    RETURNS TABLE (unit_id integer, min_severity text)
    LANGUAGE sql STABLE PARALLEL SAFE AS $$
    WITH RECURSIVE down (unit_id, min_rank, subunits, depth) AS (
        SELECT c.unit_id, array_position(ARRAY['info', 'warning', 'critical'], c.min_severity),
               c.subunits, 0
        FROM edumon.channel c WHERE c.removed_at IS NULL
        UNION ALL
        -- A child is carried if it is no office (province, city, district),
        -- or if the channel takes its subunits.
        SELECT u.id, d.min_rank, d.subunits, d.depth + 1
        FROM down d JOIN edumon.org_unit u ON u.parent_id = d.unit_id
        WHERE d.depth < 32 AND (d.subunits OR u.kind NOT IN ('province', 'city', 'district'))
    )
    SELECT unit_id, (ARRAY['info', 'warning', 'critical'])[min(min_rank)]
    FROM down GROUP BY unit_id
$$;
COMMENT ON FUNCTION edumon.channel_units() IS
    'Every unit a channel carries (as edumon.channel_covers decides), with the lowest minimum severity among those channels.';
