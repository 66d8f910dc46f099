-- 005: privacy aggregates are register READS since e65fadf (docs/uplink.md §8): a daily or
-- monthly aggregate carries the import and export registers (whole Wh) at the close of its
-- last record, the interval that ends a UTC day or calendar month, not a sum of the
-- load-profile channels over first_seq..last_seq. So the view names them by the register
-- codes 1.0.1.8.0 / 1.0.2.8.0 (docs/obis.md), and a period's consumption is the difference
-- of two reads. Passages (import = export = 0xFFFFFFFF, no values) are never stored.
CREATE OR REPLACE VIEW obis_aggregates AS
SELECT a.meter_id, a.first_seq, a.last_seq, c.obis,
       CASE c.obis WHEN '1.0.1.8.0' THEN a.import_wh WHEN '1.0.2.8.0' THEN a.export_wh END::numeric AS value_wh,
       a.received_at
FROM aggregates a CROSS JOIN (VALUES ('1.0.1.8.0'), ('1.0.2.8.0')) AS c (obis);
