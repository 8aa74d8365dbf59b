-- High availability: several daemons share one database; one of them, the leader, submits.
-- The lease is a session advisory lock held on a dedicated connection; this row records who
-- holds it and the fencing token of their term, which every submission write re-checks in its
-- own transaction (with the lock's presence in pg_locks), so a leader that lost the lock cannot
-- write even before it notices.
CREATE TABLE leader_lease (
    scope        TEXT        PRIMARY KEY,
    -- Incremented at each acquisition: the fencing token.
    token        BIGINT      NOT NULL,
    holder       TEXT        NOT NULL,
    -- Backend pid of the holder's lease connection (whose session holds the advisory lock).
    holder_pid   INTEGER     NOT NULL,
    acquired_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- Set when the holder let go on a clean shutdown: the next one need not wait out the
    -- takeover delay.
    released_at  TIMESTAMPTZ
);

-- Every change of leadership, for the operator's "who led when".
CREATE TABLE leader_log (
    id        BIGSERIAL   PRIMARY KEY,
    scope     TEXT        NOT NULL,
    token     BIGINT      NOT NULL,
    instance  TEXT        NOT NULL,
    event     TEXT        NOT NULL CHECK (event IN ('acquired', 'leading', 'lost', 'released')),
    detail    TEXT        NOT NULL DEFAULT '',
    at        TIMESTAMPTZ NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX leader_log_scope ON leader_log (scope, id);
