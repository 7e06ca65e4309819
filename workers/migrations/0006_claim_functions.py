"""Shift claims, releases and freed seats as PostgreSQL functions (workers/claims.py calls them).

Each runs as one statement: the worker's and the shift's row locks are taken and released inside
PostgreSQL, never held while an answer travels back to a server process. The eligibility rule
(`workers_claim_refusal`) is written once, here, and used by claims, waitlist joins and promotions.

Lock order as everywhere (docs/ARCHITECTURE.md): worker rows, then the shift row, then claim and
waitlist rows. A waitlisted candidate's row is taken SKIP LOCKED, so a promotion never waits.
"""

from django.db import migrations

FUNCTIONS = r"""
CREATE OR REPLACE FUNCTION workers_claim_refusal(
    p_worker bigint, p_shift bigint, p_now timestamptz, p_min_reliability numeric, p_head_start interval
) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    w record;
    s record;
BEGIN
    SELECT status, reliability_score INTO w FROM workers_worker WHERE user_id = p_worker;
    IF NOT FOUND THEN RETURN 'not_a_worker'; END IF;
    IF w.status <> 'approved' THEN RETURN 'worker_not_approved'; END IF;
    SELECT * INTO s FROM workers_shift WHERE id = p_shift;
    IF NOT FOUND THEN RETURN 'not_found'; END IF;
    IF s.status = 'cancelled' THEN RETURN 'shift_cancelled'; END IF;
    IF s.ends_at <= p_now THEN RETURN 'shift_ended'; END IF;
    IF NOT EXISTS (SELECT 1 FROM workers_workerlanguage wl WHERE wl.worker_id = p_worker AND wl.language = s.language)
       OR EXISTS (SELECT 1 FROM workers_shift_skills ss WHERE ss.shift_id = p_shift AND ss.skill_id NOT IN (
                  SELECT ws.skill_id FROM workers_worker_skills ws WHERE ws.worker_id = p_worker)) THEN
        RETURN 'not_eligible';
    END IF;
    IF w.reliability_score < p_min_reliability
       AND LEAST(s.published_at + p_head_start, s.starts_at - p_head_start) > p_now THEN
        RETURN 'priority_window';
    END IF;
    IF EXISTS (SELECT 1 FROM workers_shiftclaim c WHERE c.worker_id = p_worker AND c.shift_id = p_shift
               AND c.status IN ('active', 'completed')) THEN
        RETURN 'already_claimed';
    END IF;
    IF EXISTS (SELECT 1 FROM workers_shiftclaim c WHERE c.worker_id = p_worker AND c.status = 'active'
               AND c.shift_id <> p_shift AND c.starts_at < s.ends_at AND c.ends_at > s.starts_at) THEN
        RETURN 'shift_overlap';
    END IF;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION workers_shift_claim(
    p_worker bigint, p_shift bigint, p_now timestamptz, p_min_reliability numeric, p_head_start interval,
    OUT refusal text, OUT claim workers_shiftclaim, OUT shift workers_shift
) LANGUAGE plpgsql AS $$
BEGIN
    -- The worker's lock serialises their claims, so the overlap check below cannot race another.
    PERFORM 1 FROM workers_worker WHERE user_id = p_worker FOR UPDATE;
    refusal := workers_claim_refusal(p_worker, p_shift, p_now, p_min_reliability, p_head_start);
    IF refusal IS NULL THEN
        -- The database arbitrates between all claimers: the seat count never passes the capacity.
        WITH seat AS (
            UPDATE workers_shift SET seats_taken = seats_taken + 1
            WHERE id = p_shift AND seats_taken < capacity AND status = 'published'
            RETURNING id, rate_multiplier, starts_at, ends_at
        )
        INSERT INTO workers_shiftclaim (shift_id, worker_id, status, rate_multiplier, starts_at, ends_at, claimed_at)
        SELECT id, p_worker, 'active', rate_multiplier, starts_at, ends_at, p_now FROM seat
        RETURNING * INTO claim;
        IF claim.id IS NULL THEN refusal := 'shift_full'; END IF;
    END IF;
    SELECT * INTO shift FROM workers_shift WHERE id = p_shift;
END $$;

CREATE OR REPLACE FUNCTION workers_seat_free(
    p_shift bigint, p_exclude_worker bigint, p_now timestamptz, p_min_reliability numeric, p_head_start interval
) RETURNS bigint LANGUAGE plpgsql AS $$
-- A claim on the shift (whose row the caller has locked) stopped holding its seat. The seat goes to
-- the first waitlisted worker who may still take it (the promoted claim's id is returned), or back on
-- the board (NULL). Entries that can no longer be served expire.
DECLARE
    s record;
    e record;
    v_claim bigint;
BEGIN
    SELECT * INTO s FROM workers_shift WHERE id = p_shift;
    IF s.status = 'published' AND s.ends_at > p_now THEN
        FOR e IN SELECT id, worker_id FROM workers_shiftwaitlistentry
                 WHERE shift_id = p_shift AND status = 'waiting' AND worker_id IS DISTINCT FROM p_exclude_worker
                 ORDER BY created_at, id LIMIT 25 LOOP
            -- Busy this instant (claiming, leaving the waitlist...): the next one gets the seat.
            CONTINUE WHEN NOT EXISTS (
                SELECT 1 FROM workers_worker WHERE user_id = e.worker_id FOR UPDATE SKIP LOCKED);
            CONTINUE WHEN NOT EXISTS (
                SELECT 1 FROM workers_shiftwaitlistentry WHERE id = e.id AND status = 'waiting');
            IF workers_claim_refusal(e.worker_id, p_shift, p_now, p_min_reliability, p_head_start) IS NOT NULL THEN
                UPDATE workers_shiftwaitlistentry SET status = 'expired', resolved_at = p_now WHERE id = e.id;
                CONTINUE;
            END IF;
            INSERT INTO workers_shiftclaim (shift_id, worker_id, status, rate_multiplier, starts_at, ends_at,
                                            claimed_at)
            VALUES (p_shift, e.worker_id, 'active', s.rate_multiplier, s.starts_at, s.ends_at, p_now)
            RETURNING id INTO v_claim;
            UPDATE workers_shiftwaitlistentry SET status = 'promoted', resolved_at = p_now, claim_id = v_claim
            WHERE id = e.id;
            INSERT INTO workers_workernotice (worker_id, kind, shift_id, message, created_at)
            VALUES (e.worker_id, 'waitlist_promoted', p_shift,
                    'A seat freed up: you now hold a seat on the shift of '
                    || to_char(s.starts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC.', p_now);
            INSERT INTO workers_shiftevent (shift_id, kind, data, created_at)
            VALUES (p_shift, 'waitlist_promoted', jsonb_build_object('worker_id', e.worker_id, 'claim_id', v_claim),
                    p_now);
            RETURN v_claim;
        END LOOP;
    END IF;
    UPDATE workers_shift SET seats_taken = seats_taken - 1 WHERE id = p_shift;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION workers_shift_release(
    p_worker bigint, p_shift bigint, p_now timestamptz, p_cutoff interval, p_min_reliability numeric,
    p_head_start interval, OUT refusal text, OUT claim workers_shiftclaim, OUT shift workers_shift,
    OUT promoted_claim bigint
) LANGUAGE plpgsql AS $$
DECLARE
    s record;
BEGIN
    SELECT * INTO s FROM workers_shift WHERE id = p_shift FOR UPDATE;
    IF NOT FOUND THEN refusal := 'not_found'; RETURN; END IF;
    -- Within the cut-off before the start a release is late (it counts against reliability).
    UPDATE workers_shiftclaim
    SET status = CASE WHEN p_now > s.starts_at - p_cutoff THEN 'late_released' ELSE 'released' END,
        released_at = p_now
    WHERE shift_id = p_shift AND worker_id = p_worker AND status = 'active' AND checked_in_at IS NULL
      AND s.ends_at > p_now
    RETURNING * INTO claim;
    IF claim.id IS NULL THEN
        IF NOT EXISTS (SELECT 1 FROM workers_shiftclaim WHERE shift_id = p_shift AND worker_id = p_worker
                       AND status = 'active') THEN
            refusal := 'not_claimed';
        ELSIF s.ends_at <= p_now THEN
            refusal := 'shift_ended';
        ELSE
            refusal := 'checked_in';
        END IF;
    ELSE
        promoted_claim := workers_seat_free(p_shift, p_worker, p_now, p_min_reliability, p_head_start);
    END IF;
    SELECT * INTO shift FROM workers_shift WHERE id = p_shift;
END $$;
"""

DROP = """
DROP FUNCTION IF EXISTS workers_shift_release(bigint, bigint, timestamptz, interval, numeric, interval);
DROP FUNCTION IF EXISTS workers_seat_free(bigint, bigint, timestamptz, numeric, interval);
DROP FUNCTION IF EXISTS workers_shift_claim(bigint, bigint, timestamptz, numeric, interval);
DROP FUNCTION IF EXISTS workers_claim_refusal(bigint, bigint, timestamptz, numeric, interval);
"""


class Migration(migrations.Migration):
    dependencies = [("workers", "0005_shift_templates")]

    operations = [migrations.RunSQL(FUNCTIONS, DROP)]
