-- pgbench script: the raw SQL limit of the drain. The claim is JobStore.claim's statement with
-- literals for its binds (queue 'lab', kinds {lab.job}, worker 'pgbench', lease 5 s) except the
-- limit, which is pgbench's variable :batch (run.sh passes -D batch=N, the batch the engine runs
-- at; with -M extended it is sent as a bound parameter, as JobStore binds it),
-- wrapped to hand the claimed ids and epochs to the next statement; then JobStore.complete's
-- statement. No BEGIN: each statement is its own implicit transaction and round trip, as in
-- the worker. Run with -M extended (the worker's PostgresNIO also uses the extended protocol
-- with unnamed statements). coalesce(): an empty claim would otherwise set '' (not an array).
WITH claimed AS (
    WITH next AS (
        SELECT id FROM jobs
        WHERE state = 'available' AND queue = 'lab' AND run_at <= now() AND kind = ANY('{lab.job}'::text[])
          AND NOT EXISTS (SELECT 1 FROM job_queues WHERE name = 'lab' AND paused_at IS NOT NULL)
        ORDER BY priority, run_at, id
        LIMIT :batch
        FOR UPDATE SKIP LOCKED
    )
    UPDATE jobs AS j
       SET state = 'running', attempt = j.attempt + 1, attempted_at = now(),
           lease_owner = 'pgbench', lease_expires_at = now() + make_interval(secs => 5::float8),
           lease_epoch = j.lease_epoch + 1, updated_at = now()
      FROM next WHERE j.id = next.id
    RETURNING j.id, j.kind, j.queue, j.payload::text, j.attempt, j.max_attempts, j.lease_epoch, j.created_at
)
SELECT coalesce(array_agg(id), '{}') AS ids, coalesce(array_agg(lease_epoch), '{}') AS epochs FROM claimed \gset
WITH done AS (
    SELECT j.id FROM jobs AS j
    JOIN unnest(:ids::bigint[], :epochs::bigint[]) AS lease(id, epoch)
      ON j.id = lease.id AND j.lease_epoch = lease.epoch
    WHERE j.state = 'running'
    ORDER BY j.id
    FOR UPDATE OF j
)
UPDATE jobs AS j
   SET state = 'completed', finalized_at = now(), updated_at = now(),
       lease_owner = NULL, lease_expires_at = NULL
  FROM done
 WHERE j.id = done.id
RETURNING j.id;
