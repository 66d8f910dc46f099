-- 001: the head-end's state per meter (docs/headend-storage.md, "Schema").
-- Every meter id is the 8 bytes of the frame header; every seq, counter and epoch is a
-- u32 on the wire, so bigint columns are bounded to 0..2^32-1 here, once.

-- Every accepted uplink frame, keyed by the nonce it was opened under (meter, epoch,
-- counter). The newest rows of the newest epoch are the replay window: a counter at or
-- below the highest one is a replay, or a clone when its CCM tag differs (two devices
-- with one secret). The frame's registers and an explicit checkpoint ride along, so a
-- half-hourly frame costs one row here and one in `records`.
CREATE TABLE uplink_frames (
    meter_id        bytea       NOT NULL CHECK (octet_length(meter_id) = 8),
    epoch           bigint      NOT NULL CHECK (epoch BETWEEN 0 AND 4294967295),
    counter         bigint      NOT NULL CHECK (counter BETWEEN 1 AND 4294967295),
    tag             bytea       NOT NULL CHECK (octet_length(tag) = 16),
    registers       bytea       CHECK (octet_length(registers) <= 64),
    checkpoint_seq  bigint      CHECK (checkpoint_seq BETWEEN 0 AND 4294967295),
    checkpoint_hash bytea       CHECK (octet_length(checkpoint_hash) = 32),
    received_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (meter_id, epoch, counter),
    CHECK ((checkpoint_seq IS NULL) = (checkpoint_hash IS NULL))
);
-- the newest checkpoint per meter, without an index entry for every steady-state frame
CREATE INDEX uplink_frames_checkpoint ON uplink_frames (meter_id, checkpoint_seq) WHERE checkpoint_seq IS NOT NULL;

-- The meter's index-store records, the exact stored bytes (v1: version, kind, seq, time,
-- n, payload, prev hash, tag; 59 + n bytes), once per (meter, seq). A second copy with
-- other bytes is clone evidence and never replaces the first (the trigger below refuses
-- any change, whoever asks).
CREATE TABLE records (
    meter_id    bytea       NOT NULL CHECK (octet_length(meter_id) = 8),
    seq         bigint      NOT NULL CHECK (seq BETWEEN 0 AND 4294967295),
    data        bytea       NOT NULL CHECK (octet_length(data) BETWEEN 59 AND 187),
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (meter_id, seq)
);

-- Privacy aggregates (docs/uplink.md §8), once per (meter, last seq), same rule as records.
CREATE TABLE aggregates (
    meter_id    bytea       NOT NULL CHECK (octet_length(meter_id) = 8),
    last_seq    bigint      NOT NULL CHECK (last_seq BETWEEN 0 AND 4294967295),
    first_seq   bigint      NOT NULL CHECK (first_seq BETWEEN 0 AND last_seq),
    import_wh   bigint      NOT NULL CHECK (import_wh BETWEEN 0 AND 4294967295),
    export_wh   bigint      NOT NULL CHECK (export_wh BETWEEN 0 AND 4294967295),
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (meter_id, last_seq)
);

-- Alerts a meter reported (tamper, command rejected, store full, ...), per frame, so a
-- frame committed twice counts its alerts once.
CREATE TABLE meter_alerts (
    meter_id    bytea       NOT NULL CHECK (octet_length(meter_id) = 8),
    epoch       bigint      NOT NULL,
    counter     bigint      NOT NULL,
    kind        smallint    NOT NULL CHECK (kind BETWEEN 0 AND 255),
    count       integer     NOT NULL CHECK (count BETWEEN 0 AND 65535),
    received_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (meter_id, epoch, counter, kind)
);

-- The command log: every signed envelope sent (one per signer key and envelope counter,
-- which the meter requires to grow), with the downlink frame counter that carried it ...
CREATE TABLE commands (
    meter_id      bytea         NOT NULL CHECK (octet_length(meter_id) = 8),
    signer_key_id smallint      NOT NULL CHECK (signer_key_id BETWEEN 0 AND 255),
    counter       numeric(20,0) NOT NULL CHECK (counter >= 0 AND counter < 18446744073709551616),
    opcode        smallint      NOT NULL CHECK (opcode BETWEEN 0 AND 255),
    envelope      bytea         NOT NULL,
    down_epoch    bigint        CHECK (down_epoch BETWEEN 0 AND 4294967295),
    down_counter  bigint        CHECK (down_counter BETWEEN 1 AND 4294967295),
    sent_at       timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (meter_id, signer_key_id, counter)
);

-- ... and every answer, as the meter sent it, per frame (a replayed command gets its own
-- answer, Replay, under the same signer and counter).
CREATE TABLE command_responses (
    meter_id        bytea         NOT NULL CHECK (octet_length(meter_id) = 8),
    epoch           bigint        NOT NULL,
    counter         bigint        NOT NULL,
    idx             smallint      NOT NULL CHECK (idx BETWEEN 0 AND 255),
    body            bytea         NOT NULL CHECK (octet_length(body) <= 256),
    -- the acknowledgement's fields, when the head-end decoded the body as one
    verdict         smallint,
    opcode          smallint,
    signer_key_id   smallint,
    command_counter numeric(20,0),
    detail          bigint,
    received_at     timestamptz   NOT NULL DEFAULT now(),
    PRIMARY KEY (meter_id, epoch, counter, idx)
);
CREATE INDEX command_responses_command ON command_responses (meter_id, signer_key_id, command_counter);

-- Evidence that two devices use one meter's identity, kept for an investigator: what
-- the head-end held and what arrived. Recorded once per (meter, kind, place, offered).
CREATE TABLE clone_evidence (
    id          bigserial   PRIMARY KEY,
    meter_id    bytea       NOT NULL CHECK (octet_length(meter_id) = 8),
    kind        text        NOT NULL CHECK (kind IN ('counter-regression', 'forked-chain', 'checkpoint-mismatch')),
    -- the frame counter, record seq, aggregate last seq or checkpoint seq in question
    at_seq      bigint,
    stored      bytea,
    offered     bytea,
    detail      text        NOT NULL,
    detected_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX clone_evidence_once ON clone_evidence (meter_id, kind, coalesce(at_seq, -1), coalesce(offered, '\x'::bytea));

-- Downlink frame counters: the highest counter reserved (committed) per meter and epoch.
-- The head-end uses a counter only from a block reserved here before, so no restart or
-- crash can make it seal two frames under one (key, nonce).
CREATE TABLE downlink_counters (
    meter_id    bytea       NOT NULL CHECK (octet_length(meter_id) = 8),
    epoch       bigint      NOT NULL CHECK (epoch BETWEEN 0 AND 4294967295),
    reserved_to bigint      NOT NULL CHECK (reserved_to BETWEEN 0 AND 4294967295),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (meter_id, epoch)
);

-- Stored evidence is append-only, and reserved counters never go back: the database
-- refuses, whoever asks. A retention policy that must delete is a migration that says so.
CREATE FUNCTION refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '%: %', TG_TABLE_NAME, TG_ARGV[0] USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER records_append_only BEFORE UPDATE OR DELETE ON records
    FOR EACH ROW EXECUTE FUNCTION refuse_change('append-only');
CREATE TRIGGER records_no_truncate BEFORE TRUNCATE ON records
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change('append-only');
CREATE TRIGGER aggregates_append_only BEFORE UPDATE OR DELETE ON aggregates
    FOR EACH ROW EXECUTE FUNCTION refuse_change('append-only');
CREATE TRIGGER aggregates_no_truncate BEFORE TRUNCATE ON aggregates
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change('append-only');
CREATE TRIGGER clone_evidence_append_only BEFORE UPDATE OR DELETE ON clone_evidence
    FOR EACH ROW EXECUTE FUNCTION refuse_change('append-only');
CREATE TRIGGER clone_evidence_no_truncate BEFORE TRUNCATE ON clone_evidence
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change('append-only');
-- deleting the newest frames would rewind the replay window
CREATE TRIGGER uplink_frames_append_only BEFORE UPDATE OR DELETE ON uplink_frames
    FOR EACH ROW EXECUTE FUNCTION refuse_change('append-only (the replay window)');
CREATE TRIGGER uplink_frames_no_truncate BEFORE TRUNCATE ON uplink_frames
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change('append-only (the replay window)');
-- a lower reservation would hand out counters again: CCM nonce reuse
CREATE TRIGGER downlink_counters_monotonic BEFORE UPDATE ON downlink_counters
    FOR EACH ROW WHEN (NEW.reserved_to < OLD.reserved_to OR NEW.meter_id <> OLD.meter_id OR NEW.epoch <> OLD.epoch)
    EXECUTE FUNCTION refuse_change('reserved counters never go back');
CREATE TRIGGER downlink_counters_no_delete BEFORE DELETE ON downlink_counters
    FOR EACH ROW EXECUTE FUNCTION refuse_change('reserved counters never go back');
CREATE TRIGGER downlink_counters_no_truncate BEFORE TRUNCATE ON downlink_counters
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change('reserved counters never go back');
