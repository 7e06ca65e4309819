"""Seats as rows: `workers_shiftseat`, one row per seat of a shift, instead of the shift's
`seats_taken` counter.

Every claim updated that counter, so claims on one shift waited for each other's commit (the shift
row stayed locked until its WAL flush) while claims on different shifts shared group commits. Now a
claim takes a free seat row `FOR UPDATE SKIP LOCKED` and holds the shift row only `FOR SHARE`: claims
and releases of one shift pass each other; ops' changes to the shift (cancel, edit, surge) and
waitlist joins, which take the shift row `FOR UPDATE`, still wait for them and they for those.

The database keeps the invariants: a trigger on `workers_shift` keeps exactly `capacity` seat rows
per shift (shrinking refuses when the seats to remove are held); an active or completed claim holds a
seat (`claim_holds_a_seat`) that names it back (`claim_holds_its_seat`, a composite foreign key), and
a seat names one claim (unique): a shift can never hold more claims than seats.
"""

import importlib

from django.db import migrations, models

SEATS = r"""
-- Exactly `capacity` seat rows per shift. Shrinking removes free seats only: it refuses when fewer
-- are free than the seats to remove (the shift's row is locked by the UPDATE, so no claim is under way).
CREATE OR REPLACE FUNCTION workers_shift_seats_follow_capacity() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_seats integer;
    v_removed integer;
BEGIN
    SELECT count(*) INTO v_seats FROM workers_shiftseat WHERE shift_id = NEW.id;
    IF NEW.capacity > v_seats THEN
        INSERT INTO workers_shiftseat (shift_id) SELECT NEW.id FROM generate_series(1, NEW.capacity - v_seats);
    ELSIF NEW.capacity < v_seats THEN
        WITH removed AS (
            DELETE FROM workers_shiftseat WHERE id IN (
                SELECT id FROM workers_shiftseat WHERE shift_id = NEW.id AND claim_id IS NULL
                ORDER BY id DESC LIMIT v_seats - NEW.capacity FOR UPDATE)
            RETURNING 1)
        SELECT count(*) INTO v_removed FROM removed;
        IF v_removed < v_seats - NEW.capacity THEN
            RAISE EXCEPTION 'shift_within_capacity: shift % has more seats taken than a capacity of %', NEW.id, NEW.capacity
                USING ERRCODE = 'check_violation', CONSTRAINT = 'shift_within_capacity';
        END IF;
    END IF;
    RETURN NULL;
END $$;

CREATE TRIGGER workers_shift_seats AFTER INSERT OR UPDATE OF capacity ON workers_shift
    FOR EACH ROW EXECUTE FUNCTION workers_shift_seats_follow_capacity();

-- Existing shifts: their seats, the first ones held by their active and completed claims.
INSERT INTO workers_shiftseat (shift_id) SELECT s.id FROM workers_shift s, generate_series(1, s.capacity);
WITH holders AS (
    SELECT id, shift_id, row_number() OVER (PARTITION BY shift_id ORDER BY id) AS n
    FROM workers_shiftclaim WHERE status IN ('active', 'completed')
), seats AS (
    SELECT id, shift_id, row_number() OVER (PARTITION BY shift_id ORDER BY id) AS n FROM workers_shiftseat
)
UPDATE workers_shiftclaim c SET seat_id = seats.id
FROM holders JOIN seats ON seats.shift_id = holders.shift_id AND seats.n = holders.n
WHERE c.id = holders.id;
UPDATE workers_shiftseat seat SET claim_id = c.id FROM workers_shiftclaim c WHERE c.seat_id = seat.id;

-- The seat an active or completed claim holds names it back.
ALTER TABLE workers_shiftclaim ADD CONSTRAINT claim_holds_its_seat FOREIGN KEY (seat_id, id)
    REFERENCES workers_shiftseat (id, claim_id) DEFERRABLE INITIALLY DEFERRED;
"""

SEATS_BACK = r"""
ALTER TABLE workers_shiftclaim DROP CONSTRAINT claim_holds_its_seat;
DROP TRIGGER workers_shift_seats ON workers_shift;
DROP FUNCTION workers_shift_seats_follow_capacity();
"""

COUNTER_BACK = r"""
UPDATE workers_shift s SET seats_taken = (SELECT count(*) FROM workers_shiftseat seat
                                          WHERE seat.shift_id = s.id AND seat.claim_id IS NOT NULL);
"""

FUNCTIONS = r"""
DROP FUNCTION IF EXISTS workers_shift_release(bigint, bigint, timestamptz, interval, numeric, interval);
DROP FUNCTION IF EXISTS workers_seat_free(bigint, bigint, timestamptz, numeric, interval);
DROP FUNCTION IF EXISTS workers_shift_claim(bigint, bigint, timestamptz, numeric, interval);

CREATE FUNCTION workers_shift_claim(
    p_worker bigint, p_shift bigint, p_now timestamptz, p_min_reliability numeric, p_head_start interval,
    OUT refusal text, OUT claim workers_shiftclaim, OUT shift workers_shift, OUT seats_taken integer
) LANGUAGE plpgsql AS $$
DECLARE
    v_seat bigint;
BEGIN
    -- The worker's lock serialises their claims, so the overlap check below cannot race another.
    PERFORM 1 FROM workers_worker WHERE user_id = p_worker FOR UPDATE;
    -- Shared: claims and releases of the shift pass each other; a cancel or an edit waits for them.
    SELECT * INTO shift FROM workers_shift WHERE id = p_shift FOR SHARE;
    refusal := workers_claim_refusal(p_worker, p_shift, p_now, p_min_reliability, p_head_start);
    IF refusal IS NULL THEN
        -- Any free seat will do: one that another claim is taking this instant is passed over.
        SELECT id INTO v_seat FROM workers_shiftseat WHERE shift_id = p_shift AND claim_id IS NULL
        ORDER BY id LIMIT 1 FOR UPDATE SKIP LOCKED;
        IF v_seat IS NULL THEN
            refusal := 'shift_full';
        ELSE
            INSERT INTO workers_shiftclaim (shift_id, worker_id, status, rate_multiplier, starts_at, ends_at,
                                            claimed_at, seat_id)
            VALUES (p_shift, p_worker, 'active', shift.rate_multiplier, shift.starts_at, shift.ends_at, p_now, v_seat)
            RETURNING * INTO claim;
            UPDATE workers_shiftseat SET claim_id = claim.id WHERE id = v_seat;
        END IF;
    END IF;
    SELECT count(*) INTO seats_taken FROM workers_shiftseat WHERE shift_id = p_shift AND claim_id IS NOT NULL;
END $$;

CREATE FUNCTION workers_seat_free(
    p_claim bigint, p_now timestamptz, p_min_reliability numeric, p_head_start interval
) RETURNS bigint LANGUAGE plpgsql AS $$
-- The claim (whose row the caller has locked, with its shift's row) stopped holding its seat. The
-- seat goes to the first waitlisted worker who may still take it (the promoted claim's id is
-- returned), or back on the board (NULL). Entries that can no longer be served expire.
DECLARE
    c record;
    s record;
    e record;
    v_claim bigint;
BEGIN
    SELECT shift_id, worker_id, seat_id INTO c FROM workers_shiftclaim WHERE id = p_claim;
    IF c.seat_id IS NULL THEN RETURN NULL; END IF;
    UPDATE workers_shiftclaim SET seat_id = NULL WHERE id = p_claim;
    SELECT * INTO s FROM workers_shift WHERE id = c.shift_id;
    IF s.status = 'published' AND s.ends_at > p_now THEN
        FOR e IN SELECT id, worker_id FROM workers_shiftwaitlistentry
                 WHERE shift_id = c.shift_id AND status = 'waiting' AND worker_id <> c.worker_id
                 ORDER BY created_at, id LIMIT 25 LOOP
            -- Busy this instant (claiming, leaving the waitlist, promoted by another release...):
            -- the next one gets the seat.
            CONTINUE WHEN NOT EXISTS (
                SELECT 1 FROM workers_worker WHERE user_id = e.worker_id FOR UPDATE SKIP LOCKED);
            CONTINUE WHEN NOT EXISTS (
                SELECT 1 FROM workers_shiftwaitlistentry WHERE id = e.id AND status = 'waiting');
            IF workers_claim_refusal(e.worker_id, c.shift_id, p_now, p_min_reliability, p_head_start) IS NOT NULL THEN
                UPDATE workers_shiftwaitlistentry SET status = 'expired', resolved_at = p_now WHERE id = e.id;
                CONTINUE;
            END IF;
            INSERT INTO workers_shiftclaim (shift_id, worker_id, status, rate_multiplier, starts_at, ends_at,
                                            claimed_at, seat_id)
            VALUES (c.shift_id, e.worker_id, 'active', s.rate_multiplier, s.starts_at, s.ends_at, p_now, c.seat_id)
            RETURNING id INTO v_claim;
            UPDATE workers_shiftseat SET claim_id = v_claim WHERE id = c.seat_id;
            UPDATE workers_shiftwaitlistentry SET status = 'promoted', resolved_at = p_now, claim_id = v_claim
            WHERE id = e.id;
            INSERT INTO workers_workernotice (worker_id, kind, shift_id, message, created_at)
            VALUES (e.worker_id, 'waitlist_promoted', c.shift_id,
                    'A seat freed up: you now hold a seat on the shift of '
                    || to_char(s.starts_at AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI') || ' UTC.', p_now);
            INSERT INTO workers_shiftevent (shift_id, kind, data, created_at)
            VALUES (c.shift_id, 'waitlist_promoted',
                    jsonb_build_object('worker_id', e.worker_id, 'claim_id', v_claim), p_now);
            RETURN v_claim;
        END LOOP;
    END IF;
    UPDATE workers_shiftseat SET claim_id = NULL WHERE id = c.seat_id;
    RETURN NULL;
END $$;

CREATE FUNCTION workers_shift_release(
    p_worker bigint, p_shift bigint, p_now timestamptz, p_cutoff interval, p_min_reliability numeric,
    p_head_start interval, OUT refusal text, OUT claim workers_shiftclaim, OUT shift workers_shift,
    OUT seats_taken integer, OUT promoted_claim bigint
) LANGUAGE plpgsql AS $$
BEGIN
    -- Shared, as for a claim: a waitlist join (FOR UPDATE) waits, so it sees the seat freed here.
    SELECT * INTO shift FROM workers_shift WHERE id = p_shift FOR SHARE;
    IF NOT FOUND THEN refusal := 'not_found'; RETURN; END IF;
    -- Within the cut-off before the start a release is late (it counts against reliability).
    UPDATE workers_shiftclaim
    SET status = CASE WHEN p_now > shift.starts_at - p_cutoff THEN 'late_released' ELSE 'released' END,
        released_at = p_now
    WHERE shift_id = p_shift AND worker_id = p_worker AND status = 'active' AND checked_in_at IS NULL
      AND shift.ends_at > p_now
    RETURNING * INTO claim;
    IF claim.id IS NULL THEN
        IF NOT EXISTS (SELECT 1 FROM workers_shiftclaim WHERE shift_id = p_shift AND worker_id = p_worker
                       AND status = 'active') THEN
            refusal := 'not_claimed';
        ELSIF shift.ends_at <= p_now THEN
            refusal := 'shift_ended';
        ELSE
            refusal := 'checked_in';
        END IF;
    ELSE
        promoted_claim := workers_seat_free(claim.id, p_now, p_min_reliability, p_head_start);
        claim.seat_id := NULL;
    END IF;
    SELECT count(*) INTO seats_taken FROM workers_shiftseat WHERE shift_id = p_shift AND claim_id IS NOT NULL;
END $$;
"""

# Back to 0007: the counter's functions (0006) with 0007's refusal.
FUNCTIONS_BACK = """
DROP FUNCTION IF EXISTS workers_shift_release(bigint, bigint, timestamptz, interval, numeric, interval);
DROP FUNCTION IF EXISTS workers_seat_free(bigint, timestamptz, numeric, interval);
DROP FUNCTION IF EXISTS workers_shift_claim(bigint, bigint, timestamptz, numeric, interval);
""" + importlib.import_module("workers.migrations.0006_claim_functions").FUNCTIONS + importlib.import_module(
    "workers.migrations.0007_shift_hidden").FUNCTIONS


class Migration(migrations.Migration):
    dependencies = [("workers", "0007_shift_hidden")]

    operations = [
        migrations.CreateModel(
            name="ShiftSeat",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("shift", models.ForeignKey(db_index=False, on_delete=models.deletion.CASCADE, related_name="seats",
                                            to="workers.shift")),
                ("claim", models.OneToOneField(blank=True, null=True, on_delete=models.deletion.PROTECT,
                                               related_name="+", to="workers.shiftclaim")),
            ],
            options={
                "indexes": [
                    models.Index(condition=models.Q(("claim__isnull", True)), fields=["shift", "id"],
                                 name="seat_free_idx"),
                    models.Index(condition=models.Q(("claim__isnull", False)), fields=["shift"],
                                 name="seat_taken_idx"),
                ],
                "constraints": [models.UniqueConstraint(fields=("id", "claim"), name="seat_id_claim_unique")],
            },
        ),
        migrations.AddField(
            model_name="shiftclaim",
            name="seat",
            field=models.ForeignKey(blank=True, db_constraint=False, null=True,
                                    on_delete=models.deletion.DO_NOTHING, related_name="+", to="workers.shiftseat"),
        ),
        migrations.RunSQL(SEATS, SEATS_BACK),
        migrations.AddConstraint(
            model_name="shiftclaim",
            constraint=models.CheckConstraint(
                condition=models.Q(("seat__isnull", False),
                                   models.Q(("status__in", ["active", "completed"]), _negated=True), _connector="OR"),
                name="claim_holds_a_seat"),
        ),
        migrations.RunSQL(migrations.RunSQL.noop, COUNTER_BACK),
        migrations.RemoveConstraint(model_name="shift", name="shift_within_capacity"),
        migrations.RemoveField(model_name="shift", name="seats_taken"),
        migrations.RunSQL(FUNCTIONS, FUNCTIONS_BACK),
    ]
