-- pgbench script: 100 jobs per transaction (one INSERT … SELECT generate_series), same columns.
INSERT INTO jobs (kind, queue, payload, priority, max_attempts, state, run_at, unique_key)
SELECT 'lab.job', 'lab', '{}'::jsonb, 1, 20, 'available', now(), NULL FROM generate_series(1, 100)
RETURNING id, unique_key;
