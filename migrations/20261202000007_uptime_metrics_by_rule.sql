-- Uptime rule metrics were stored as a positional array in the order the rules were reported;
-- reading them back by today's order would silently change what history means when a rule is
-- added or moved. They become an object keyed by rule name, in the stored per-miner detail and
-- inside every weight explanation that carries it. The names below are the order of the array
-- as every earlier release wrote it.
CREATE OR REPLACE FUNCTION pg_temp.metrics_by_rule(metrics jsonb) RETURNS jsonb
LANGUAGE sql IMMUTABLE AS $$
    SELECT coalesce(jsonb_object_agg(r.name, m.value), '{}'::jsonb)
      FROM jsonb_array_elements(metrics) WITH ORDINALITY AS m(value, i)
      JOIN unnest(ARRAY['reliability', 'consistency', 'longevity', 'recovery', 'stability',
                        'peak_hours', 'off_peak', 'weekend', 'holidays', 'maintenance',
                        'all_week', 'hours_streak', 'days_streak', 'perfect_month',
                        'perfect_week', 'early_adopter', 'network_supporter',
                        'community_contributor', 'trend']) WITH ORDINALITY AS r(name, i)
        USING (i)
$$;

UPDATE uptime_multipliers
   SET bonuses = jsonb_set(bonuses::jsonb, '{metrics}',
                           pg_temp.metrics_by_rule(bonuses::jsonb -> 'metrics'))::json
 WHERE json_typeof(bonuses -> 'metrics') = 'array';

UPDATE weight_entries
   SET explain = jsonb_set(explain, '{uptime,why,detail,metrics}',
                           pg_temp.metrics_by_rule(explain #> '{uptime,why,detail,metrics}'))
 WHERE jsonb_typeof(explain #> '{uptime,why,detail,metrics}') = 'array';
