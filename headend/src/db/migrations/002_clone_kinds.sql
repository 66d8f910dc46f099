-- 002: two more kinds of clone evidence (docs/uplink.md §12, headend/src/ingest.ts):
-- 'counter-jump'        an authentic frame whose counter jumps past the last accepted one
--                       by more than a meter can use (a second device ran ahead);
-- 'checkpoint-rollback' a checkpoint (the meter's store head) behind one the meter
--                       reported before (a second device running behind, or a store rolled back).
ALTER TABLE clone_evidence DROP CONSTRAINT clone_evidence_kind_check;
ALTER TABLE clone_evidence ADD CONSTRAINT clone_evidence_kind_check
    CHECK (kind IN ('counter-regression', 'forked-chain', 'checkpoint-mismatch', 'counter-jump', 'checkpoint-rollback'));
