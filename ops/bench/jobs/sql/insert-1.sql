-- pgbench script: one job per transaction, the columns and values JobStore.enqueue writes for
-- `hybridhub-jobs-lab enqueue` (kind lab.job, queue lab, payload {}, priority 1, 20 attempts).
INSERT INTO jobs (kind, queue, payload, priority, max_attempts, state, run_at, unique_key)
VALUES ('lab.job', 'lab', '{}'::jsonb, 1, 20, 'available', now(), NULL)
RETURNING id, unique_key;
