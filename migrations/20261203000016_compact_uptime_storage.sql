-- Compact uptime storage: rollups in one row per miner and UTC day, raw samples in one row per
-- round.
--
-- Rollups: a day's row carries its 24 hours in two arrays (hour h of the day at index h + 1;
-- 0 rounds = no round in that hour: unknown), instead of 24 hourly rows and a daily row, each
-- with its own tuple header, timestamps and index entries (2,711 bytes per miner-day). A day's
-- hours sum to the day: both are keyed by the UTC time of the same rounds.
--
-- Raw samples: the round's samples as parallel arrays (compressed by TOAST) instead of a row
-- per miner per round (121 bytes a sample). They are written once and read only by round.
--
-- The old names stay as read-only views in the old shape for queries and tools written against
-- them.

CREATE TABLE uptime_days (
    miner_id    BIGINT    NOT NULL REFERENCES miners (id),
    -- UTC days since the Unix epoch.
    day         BIGINT    NOT NULL,
    netuid      INTEGER   NOT NULL,
    rounds      INTEGER   NOT NULL CHECK (rounds > 0),
    up          INTEGER   NOT NULL CHECK (up BETWEEN 0 AND rounds),
    hour_rounds INTEGER[] NOT NULL CHECK (cardinality(hour_rounds) = 24 AND 0 <= ALL (hour_rounds)),
    hour_up     INTEGER[] NOT NULL CHECK (cardinality(hour_up) = 24 AND 0 <= ALL (hour_up)),
    PRIMARY KEY (miner_id, day)
-- Every round updates the day's row of every miner it probed (288 times a day by default).
-- Half of each page is left free so that those updates stay on their page (HOT: no index entry,
-- the dead versions pruned in place): 0.7 KB per miner-day instead of 6.4 KB with full pages.
) WITH (fillfactor = 50);
CREATE INDEX uptime_days_netuid ON uptime_days (netuid, day);

CREATE TEMP TABLE hours_by_day AS
SELECT k.netuid, k.miner_id, k.day,
       sum(coalesce(x.rounds, 0))::int AS rounds, sum(coalesce(x.up, 0))::int AS up,
       array_agg(coalesce(x.rounds, 0) ORDER BY i) AS hour_rounds,
       array_agg(coalesce(x.up, 0) ORDER BY i) AS hour_up
  FROM (SELECT DISTINCT netuid, miner_id, floor(hour / 24.0)::bigint AS day FROM uptime_hourly) k
 CROSS JOIN generate_series(0, 23) AS i
  LEFT JOIN uptime_hourly x ON x.miner_id = k.miner_id AND x.hour = k.day * 24 + i
 GROUP BY k.netuid, k.miner_id, k.day;

-- The daily row's totals where there is one (its hours may have been pruned earlier), else the
-- hours'.
INSERT INTO uptime_days (netuid, miner_id, day, rounds, up, hour_rounds, hour_up)
SELECT coalesce(d.netuid, h.netuid), coalesce(d.miner_id, h.miner_id), coalesce(d.day, h.day),
       coalesce(d.rounds, h.rounds), coalesce(d.up, h.up),
       coalesce(h.hour_rounds, array_fill(0, ARRAY[24])),
       coalesce(h.hour_up, array_fill(0, ARRAY[24]))
  FROM uptime_daily d
  FULL JOIN hours_by_day h ON h.miner_id = d.miner_id AND h.day = d.day;
DROP TABLE hours_by_day;

DROP TABLE uptime_hourly;
DROP TABLE uptime_daily;

CREATE VIEW uptime_daily AS
SELECT netuid, miner_id, day, to_timestamp(day * 86400) AS started_at, rounds, up
  FROM uptime_days;

CREATE VIEW uptime_hourly AS
SELECT d.netuid, d.miner_id, d.day * 24 + h.i - 1 AS hour,
       to_timestamp((d.day * 24 + h.i - 1) * 3600) AS started_at,
       d.hour_rounds[h.i] AS rounds, d.hour_up[h.i] AS up
  FROM uptime_days d
 CROSS JOIN generate_series(1, 24) AS h(i)
 WHERE d.hour_rounds[h.i] > 0;

CREATE TABLE uptime_round_samples (
    round_id      BIGINT             PRIMARY KEY REFERENCES uptime_rounds (id) ON DELETE CASCADE,
    -- Parallel arrays, one element per sample, by miner id.
    miner_ids     BIGINT[]           NOT NULL,
    up            BOOLEAN[]          NOT NULL,
    reported      BOOLEAN[]          NOT NULL,
    latency_ms    INTEGER[]          NOT NULL,
    compute_score DOUBLE PRECISION[] NOT NULL
        CHECK (0 <= ALL (compute_score) AND 'Infinity' > ALL (compute_score)),
    error         TEXT[]             NOT NULL,
    CHECK (cardinality(up) = cardinality(miner_ids)
       AND cardinality(reported) = cardinality(miner_ids)
       AND cardinality(latency_ms) = cardinality(miner_ids)
       AND cardinality(compute_score) = cardinality(miner_ids)
       AND cardinality(error) = cardinality(miner_ids))
);

INSERT INTO uptime_round_samples
SELECT round_id, array_agg(miner_id ORDER BY miner_id), array_agg(up ORDER BY miner_id),
       array_agg(reported ORDER BY miner_id), array_agg(latency_ms ORDER BY miner_id),
       array_agg(compute_score ORDER BY miner_id), array_agg(error ORDER BY miner_id)
  FROM uptime_samples GROUP BY round_id;
DROP TABLE uptime_samples;

CREATE VIEW uptime_samples AS
SELECT s.round_id, x.miner_id, x.up, x.reported, x.latency_ms, x.compute_score, x.error
  FROM uptime_round_samples s
 CROSS JOIN LATERAL unnest(s.miner_ids, s.up, s.reported, s.latency_ms, s.compute_score,
                           s.error) AS x(miner_id, up, reported, latency_ms, compute_score, error);
