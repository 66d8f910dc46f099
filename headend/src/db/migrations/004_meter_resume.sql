-- 004: what ingestion resumes a meter with, as one function (headend/src/db/meter_state.ts
-- loadMeterState). A worker of a shared subscription reloads a meter each time another
-- worker moved it on (docs/scale.md); as a plain statement this query took longer to plan
-- (~1.4 ms) than to run (~0.6 ms). A PL/pgSQL function keeps its plan per connection.
-- Read-only: nothing is stored here, and a later head-end may drop or replace it.
CREATE FUNCTION meter_resume(m bytea, keep bigint)
RETURNS TABLE (epoch bigint, counters bigint[], tags bytea[], age_s float8, seqs bigint[], datas bytea[],
               cp_seq bigint, cp_hash bytea, agg bigint, clone boolean, reserved bigint)
LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN QUERY
    SELECT w.epoch, w.counters, w.tags, w.age_s, r.seqs, r.datas, cp.seq, cp.hash,
           (SELECT max(a.last_seq) FROM aggregates a WHERE a.meter_id = m),
           EXISTS (SELECT 1 FROM clone_evidence c WHERE c.meter_id = m),
           (SELECT d.reserved_to FROM downlink_counters d WHERE d.meter_id = m AND d.epoch = w.epoch)
    FROM (SELECT e.epoch,
                 array_agg(f.counter ORDER BY f.counter DESC) FILTER (WHERE f.counter IS NOT NULL) AS counters,
                 array_agg(f.tag ORDER BY f.counter DESC) FILTER (WHERE f.counter IS NOT NULL) AS tags,
                 EXTRACT(EPOCH FROM now() - max(f.received_at) FILTER (WHERE f.counter = f.top))::float8 AS age_s
          FROM (SELECT max(u.epoch) AS epoch FROM uplink_frames u WHERE u.meter_id = m) e
          LEFT JOIN LATERAL (SELECT n.counter, n.tag, n.received_at, max(n.counter) OVER () AS top FROM
                                (SELECT u.counter, u.tag, u.received_at FROM uplink_frames u WHERE u.meter_id = m AND u.epoch = e.epoch
                                 ORDER BY u.counter DESC LIMIT 256) n) f ON true
          GROUP BY e.epoch) w
    CROSS JOIN (SELECT array_agg(x.seq ORDER BY x.seq) AS seqs, array_agg(x.data ORDER BY x.seq) AS datas
                FROM records x WHERE x.meter_id = m AND x.seq > (SELECT max(y.seq) FROM records y WHERE y.meter_id = m) - keep) r
    LEFT JOIN LATERAL (SELECT u.checkpoint_seq AS seq, u.checkpoint_hash AS hash FROM uplink_frames u
                       WHERE u.meter_id = m AND u.checkpoint_seq IS NOT NULL ORDER BY u.checkpoint_seq DESC LIMIT 1) cp ON true;
END
$$;
