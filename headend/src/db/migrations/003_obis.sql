-- 003: every register, profile channel and log named by its OBIS code (IEC 62056-6-1;
-- docs/obis.md). Additive: two reference tables and read-only views over the stored bytes;
-- nothing that ingestion writes changes. The rows of the two tables are headend/src/obis.ts
-- (OBIS_TABLE, RECORD_KIND_OBIS), which test/node/obis.test.ts holds them to.

CREATE TABLE obis_codes (
    code  text PRIMARY KEY CHECK (code ~ '^[0-9]{1,3}(\.[0-9]{1,3}){4}$'),
    name  text NOT NULL,
    unit  text NOT NULL,
    class text NOT NULL CHECK (class IN ('register', 'demand', 'profile', 'channel', 'log', 'data'))
);
INSERT INTO obis_codes (code, name, unit, class) VALUES
    ('1.0.1.8.0',   'active energy import (+A), total',            'Wh', 'register'),
    ('1.0.1.8.1',   'active energy import (+A), rate 1',           'Wh', 'register'),
    ('1.0.1.8.2',   'active energy import (+A), rate 2',           'Wh', 'register'),
    ('1.0.1.8.3',   'active energy import (+A), rate 3',           'Wh', 'register'),
    ('1.0.1.8.4',   'active energy import (+A), rate 4',           'Wh', 'register'),
    ('1.0.2.8.0',   'active energy export (−A), total',            'Wh', 'register'),
    ('1.0.2.8.1',   'active energy export (−A), rate 1',           'Wh', 'register'),
    ('1.0.2.8.2',   'active energy export (−A), rate 2',           'Wh', 'register'),
    ('1.0.2.8.3',   'active energy export (−A), rate 3',           'Wh', 'register'),
    ('1.0.2.8.4',   'active energy export (−A), rate 4',           'Wh', 'register'),
    ('1.0.1.6.0',   'maximum demand, active import (+A)',          'W',  'demand'),
    ('1.0.99.1.0',  'load profile (interval records)',             '',   'profile'),
    ('1.0.1.29.0',  'active energy import (+A) in the interval',   'Wh', 'channel'),
    ('1.0.2.29.0',  'active energy export (−A) in the interval',   'Wh', 'channel'),
    ('0.0.96.10.1', 'interval status (profile status)',            '',   'channel'),
    ('0.0.1.0.0',   'clock',                                       's',  'data'),
    ('0.0.99.98.0', 'standard event log',                          '',   'log'),
    ('0.0.99.98.1', 'fraud detection log (security log)',          '',   'log'),
    ('0.0.99.98.2', 'disconnector control log',                    '',   'log'),
    ('0.0.99.98.5', 'communication event log',                     '',   'log'),
    ('0.0.96.1.0',  'device id (meter id)',                        '',   'data');

-- The log (or profile) each chain record kind (src/wire/record.ts RecordKind) belongs to.
CREATE TABLE obis_record_kinds (
    kind smallint PRIMARY KEY CHECK (kind BETWEEN 1 AND 255),
    name text     NOT NULL,
    obis text     NOT NULL REFERENCES obis_codes (code)
);
INSERT INTO obis_record_kinds (kind, name, obis) VALUES
    (1,  'genesis',           '0.0.99.98.0'),
    (16, 'interval',          '1.0.99.1.0'),
    (17, 'register snapshot', '0.0.99.98.0'),
    (32, 'power down',        '0.0.99.98.0'),
    (33, 'power up',          '0.0.99.98.0'),
    (48, 'command rejected',  '0.0.99.98.1'),
    (49, 'key change',        '0.0.99.98.1'),
    (50, 'tamper',            '0.0.99.98.1'),
    (51, 'time set',          '0.0.99.98.0'),
    (52, 'store full',        '0.0.99.98.0'),
    (53, 'relay change',      '0.0.99.98.2'),
    (54, 'command accepted',  '0.0.99.98.1');

-- The reference tables are part of the schema: changed by a migration only.
CREATE TRIGGER obis_codes_fixed BEFORE INSERT OR UPDATE OR DELETE ON obis_codes
    FOR EACH ROW EXECUTE FUNCTION refuse_change('fixed by migration');
CREATE TRIGGER obis_record_kinds_fixed BEFORE INSERT OR UPDATE OR DELETE ON obis_record_kinds
    FOR EACH ROW EXECUTE FUNCTION refuse_change('fixed by migration');

-- An unsigned little-endian integer of n bytes at off (the register block and the interval record).
CREATE FUNCTION obis_uint_le(b bytea, off integer, n integer) RETURNS bigint
LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT coalesce(sum((get_byte(b, off + i)::bigint) << (8 * i)), 0)::bigint FROM generate_series(0, n - 1) AS i
$$;

-- The register codes in block order (src/wire/registers.ts registerValues): import, export,
-- import rates 1..4, export rates 1..4; each value a u48 LE of mWh at 2 + 6 * idx.
CREATE VIEW obis_register_block (idx, obis) AS VALUES
    (0, '1.0.1.8.0'), (1, '1.0.2.8.0'),
    (2, '1.0.1.8.1'), (3, '1.0.1.8.2'), (4, '1.0.1.8.3'), (5, '1.0.1.8.4'),
    (6, '1.0.2.8.1'), (7, '1.0.2.8.2'), (8, '1.0.2.8.3'), (9, '1.0.2.8.4');

-- Every stored chain record with the log or profile it belongs to (header: version, kind,
-- seq u32 BE, time u32 BE, payload length, payload; docs/index-store.md).
CREATE VIEW obis_records AS
SELECT r.meter_id, r.seq, get_byte(r.data, 1) AS kind, k.name AS kind_name, k.obis,
       ((get_byte(r.data, 6)::bigint << 24) | (get_byte(r.data, 7) << 16) | (get_byte(r.data, 8) << 8) | get_byte(r.data, 9)) AS meter_time,
       substring(r.data FROM 12 FOR get_byte(r.data, 10)) AS payload,
       r.received_at
FROM records r LEFT JOIN obis_record_kinds k ON k.kind = get_byte(r.data, 1);

-- Load profile 1.0.99.1.0, one row per interval and channel: 0.0.1.0.0 its start (UTC s,
-- or meter seconds since power-up with status bit 0x08), 1.0.1.29.0 / 1.0.2.29.0 the
-- energy in Wh, 0.0.96.10.1 the status bits (docs/metrology.md, "Interval record").
CREATE VIEW obis_load_profile AS
SELECT p.meter_id, p.seq, '1.0.99.1.0'::text AS profile, c.obis,
       obis_uint_le(p.payload, 0, 4) AS interval_start,
       get_byte(p.payload, 4) AS length_min,
       CASE c.obis
           WHEN '0.0.1.0.0'   THEN obis_uint_le(p.payload, 0, 4)::numeric
           WHEN '1.0.1.29.0'  THEN obis_uint_le(p.payload, 8, 4)::numeric / 1000
           WHEN '1.0.2.29.0'  THEN obis_uint_le(p.payload, 12, 4)::numeric / 1000
           WHEN '0.0.96.10.1' THEN get_byte(p.payload, 5)::numeric
       END AS value
FROM obis_records p
CROSS JOIN (VALUES ('0.0.1.0.0'), ('1.0.1.29.0'), ('1.0.2.29.0'), ('0.0.96.10.1')) AS c (obis)
WHERE p.kind = 16 AND octet_length(p.payload) IN (16, 78);

-- Privacy aggregates (daily, monthly; docs/uplink.md §8): the same two channels summed over
-- the records first_seq..last_seq instead of one interval.
CREATE VIEW obis_aggregates AS
SELECT a.meter_id, a.first_seq, a.last_seq, c.obis,
       CASE c.obis WHEN '1.0.1.29.0' THEN a.import_wh WHEN '1.0.2.29.0' THEN a.export_wh END::numeric AS value_wh,
       a.received_at
FROM aggregates a CROSS JOIN (VALUES ('1.0.1.29.0'), ('1.0.2.29.0')) AS c (obis);

-- Registers named by OBIS, in Wh: from each interval record's block at its close (chained,
-- with the meter's time) and from each frame's register block (as received).
CREATE VIEW obis_registers AS
SELECT p.meter_id, 'interval'::text AS source, p.seq, p.meter_time, p.received_at, b.obis,
       obis_uint_le(p.payload, 16 + 2 + 6 * b.idx, 6)::numeric / 1000 AS value_wh
FROM obis_records p CROSS JOIN obis_register_block b
WHERE p.kind = 16 AND octet_length(p.payload) = 78
UNION ALL
SELECT f.meter_id, 'frame'::text, f.checkpoint_seq, NULL::bigint, f.received_at, b.obis,
       obis_uint_le(f.registers, 2 + 6 * b.idx, 6)::numeric / 1000
FROM uplink_frames f CROSS JOIN obis_register_block b
WHERE octet_length(f.registers) = 62;

-- Maximum demand 1.0.1.6.0 as the firmware computes it at each interval close
-- (src/metrology/metrology.ts closeRecord: floor(import mWh * 36 / (length min * 600)) W),
-- over every stored interval (the meter has no demand reset command: one billing period).
-- The meter's own value lives in its snapshot and is not on the wire (docs/obis.md).
CREATE VIEW obis_max_demand AS
SELECT DISTINCT ON (meter_id) meter_id, '1.0.1.6.0'::text AS obis,
       floor(obis_uint_le(payload, 8, 4) * 36 / (get_byte(payload, 4) * 600))::bigint AS value_w,
       obis_uint_le(payload, 0, 4) AS interval_start, seq
FROM obis_records
WHERE kind = 16 AND octet_length(payload) IN (16, 78) AND get_byte(payload, 4) > 0
ORDER BY meter_id, floor(obis_uint_le(payload, 8, 4) * 36 / (get_byte(payload, 4) * 600)) DESC, seq;

-- The event and security logs: every non-interval record under its log's code, and the
-- alerts the meters reported (src/wire/report.ts AlertKind) under theirs.
CREATE VIEW obis_event_log AS
SELECT meter_id, obis, 'record'::text AS source, seq, kind, kind_name AS event, meter_time, payload, received_at
FROM obis_records WHERE kind <> 16
UNION ALL
SELECT a.meter_id,
       CASE a.kind WHEN 1 THEN '0.0.99.98.1' WHEN 2 THEN '0.0.99.98.1' WHEN 3 THEN '0.0.99.98.0' WHEN 4 THEN '0.0.99.98.0' WHEN 5 THEN '0.0.99.98.5' END,
       'alert', NULL, a.kind,
       CASE a.kind WHEN 1 THEN 'tamper' WHEN 2 THEN 'command rejected' WHEN 3 THEN 'store full' WHEN 4 THEN 'source fault' WHEN 5 THEN 'bad downlink' ELSE 'alert ' || a.kind END || ' x' || a.count,
       NULL, NULL, a.received_at
FROM meter_alerts a;
