-- Built-in functions every role (PUBLIC) may execute by default that would give the
-- application role power over the whole server rather than over its rows:
--   * signalling: cancel or terminate any backend of the same role, i.e. every
--     connection of every server instance;
--   * advisory locks: hold the server's migration lock, so no new instance starts;
--   * large objects: storage that no row-level policy covers;
--   * statistics, sizes and sessions: per-table counters and sizes of every tenant's
--     data together, and the statements other sessions of the role are running.
--
-- Run by the server at set-up, in its own database (pg_proc is per database), as the
-- owner when the owner is a superuser: only a superuser may change the rights on
-- these functions. With any other owner (managed PostgreSQL) set-up skips it and the
-- audit's PWR warnings say what remains; a DBA may run this file as a superuser.
-- Idempotent: only rights PUBLIC still holds are revoked.
--
-- Each right moves to the predefined role made for it, so operators and monitoring
-- lose nothing: signalling to pg_signal_backend; statistics, sizes and locks to
-- pg_read_all_stats (pg_monitor is a member). Advisory locks and large objects are
-- left to superusers (the owner takes the migration lock as one).
DO $$
DECLARE
    power record;
BEGIN
    FOR power IN
        SELECT p.oid::regprocedure AS signature, kind.keeper
        FROM pg_proc p
        JOIN (VALUES
            ('pg_cancel_backend',      'pg_signal_backend'),
            ('pg_terminate_backend',   'pg_signal_backend'),
            ('pg\_%advisory\_%',       NULL),
            ('lo\_%',                  NULL),
            ('loread',                 NULL),
            ('lowrite',                NULL),
            ('pg\_stat\_get\_%',       'pg_read_all_stats'),
            ('pg_lock_status',         'pg_read_all_stats'),
            ('pg_relation_size',       'pg_read_all_stats'),
            ('pg_total_relation_size', 'pg_read_all_stats'),
            ('pg_table_size',          'pg_read_all_stats'),
            ('pg_indexes_size',        'pg_read_all_stats'),
            ('pg_database_size',       'pg_read_all_stats'),
            ('pg_tablespace_size',     'pg_read_all_stats')
        ) AS kind (name_pattern, keeper) ON p.proname LIKE kind.name_pattern
        WHERE p.pronamespace = 'pg_catalog'::regnamespace
          AND has_function_privilege('public', p.oid, 'EXECUTE')
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', power.signature);
        IF power.keeper IS NOT NULL THEN
            EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO %I', power.signature, power.keeper);
        END IF;
    END LOOP;
END
$$;
