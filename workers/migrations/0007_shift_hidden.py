"""The worker-shift match as one PostgreSQL function, `workers_shifts_hidden`: the claim refusal and
every worker's shift reader (API list and detail, the shift board) call it, so the rule is written once.

It answers, per shift, why the worker may not see (nor claim) it: 'not_eligible' (a language they do
not speak, a skill they lack), 'priority_window' (without priority access, before the shift opens to
all), or NULL.
"""

import importlib

from django.db import migrations

FUNCTIONS = r"""
-- When workers without priority access see a shift: the head start after publishing, but never later
-- than that head start before the shift begins (short-notice shifts are open to all).
CREATE OR REPLACE FUNCTION workers_shift_opens_to_all_at(
    p_published_at timestamptz, p_starts_at timestamptz, p_head_start interval
) RETURNS timestamptz LANGUAGE sql IMMUTABLE AS $$
    SELECT LEAST(p_published_at + p_head_start, p_starts_at - p_head_start)
$$;

-- A time as the API writes it (DRF's DateTimeField in UTC: ISO 8601, microseconds only when nonzero, "Z").
CREATE OR REPLACE FUNCTION workers_api_time(p_at timestamptz) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS')
           || CASE WHEN extract(microseconds FROM p_at)::bigint % 1000000 = 0 THEN ''
                   ELSE to_char(p_at AT TIME ZONE 'UTC', '.US') END || 'Z'
$$;

-- Every shift with the reason the worker may not see it, or NULL. A single SELECT, so PostgreSQL inlines
-- it into the calling query and plans the conditions with the rest (a shift id filter reaches the scan).
CREATE OR REPLACE FUNCTION workers_shifts_hidden(
    p_worker bigint, p_now timestamptz, p_min_reliability numeric, p_head_start interval
) RETURNS TABLE (shift_id bigint, reason text) LANGUAGE sql STABLE AS $$
    SELECT s.id, CASE
        WHEN NOT EXISTS (SELECT 1 FROM workers_workerlanguage wl
                         WHERE wl.worker_id = p_worker AND wl.language = s.language)
          OR EXISTS (SELECT 1 FROM workers_shift_skills ss WHERE ss.shift_id = s.id AND ss.skill_id NOT IN (
                     SELECT ws.skill_id FROM workers_worker_skills ws WHERE ws.worker_id = p_worker))
            THEN 'not_eligible'
        WHEN workers_shift_opens_to_all_at(s.published_at, s.starts_at, p_head_start) > p_now
          AND (SELECT w.reliability_score FROM workers_worker w WHERE w.user_id = p_worker) < p_min_reliability
            THEN 'priority_window'
    END
    FROM workers_shift s
$$;

CREATE OR REPLACE FUNCTION workers_claim_refusal(
    p_worker bigint, p_shift bigint, p_now timestamptz, p_min_reliability numeric, p_head_start interval
) RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    w record;
    s record;
    hidden text;
BEGIN
    SELECT status, reliability_score INTO w FROM workers_worker WHERE user_id = p_worker;
    IF NOT FOUND THEN RETURN 'not_a_worker'; END IF;
    IF w.status <> 'approved' THEN RETURN 'worker_not_approved'; END IF;
    SELECT * INTO s FROM workers_shift WHERE id = p_shift;
    IF NOT FOUND THEN RETURN 'not_found'; END IF;
    IF s.status = 'cancelled' THEN RETURN 'shift_cancelled'; END IF;
    IF s.ends_at <= p_now THEN RETURN 'shift_ended'; END IF;
    SELECT h.reason INTO hidden FROM workers_shifts_hidden(p_worker, p_now, p_min_reliability, p_head_start) h
    WHERE h.shift_id = p_shift;
    IF hidden IS NOT NULL THEN RETURN hidden; END IF;
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
"""

# Back to 0006: its functions (the refusal with the rule inline), without this one.
DROP = importlib.import_module("workers.migrations.0006_claim_functions").FUNCTIONS + """
DROP FUNCTION IF EXISTS workers_shifts_hidden(bigint, timestamptz, numeric, interval);
DROP FUNCTION IF EXISTS workers_api_time(timestamptz);
DROP FUNCTION IF EXISTS workers_shift_opens_to_all_at(timestamptz, timestamptz, interval);
"""


class Migration(migrations.Migration):
    dependencies = [("workers", "0006_claim_functions")]

    operations = [migrations.RunSQL(FUNCTIONS, DROP)]
