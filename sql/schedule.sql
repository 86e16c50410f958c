--
-- schedule: pipeline_status.schedule_state, lh_schedule repairing a
-- missing pg_cron job, lh_schedule_repair, lh_unschedule without pg_cron
--
CREATE EXTENSION IF NOT EXISTS lakehouse;

-- pg_cron is not installed in this database (cron.database_name is
-- 'postgres'): pipeline_status still works, and says so
SELECT lakehouse.lh_create_pipeline('sc_p') > 0 AS ok;
SELECT pipeline, schedule, schedule_state FROM lakehouse.pipeline_status
 WHERE pipeline = 'sc_p';
-- a pipeline restored from a dump without its job (the catalog written
-- as a restore writes it)
UPDATE lakehouse.pipelines SET schedule = '0 0 1 1 *', cron_job_id = 7 WHERE name = 'sc_p';
SELECT pipeline, schedule, schedule_state FROM lakehouse.pipeline_status
 WHERE pipeline = 'sc_p';
SELECT * FROM lakehouse.lh_schedule_repair();
-- a user's own schema "cron" is not pg_cron: its "job" is never read
CREATE SCHEMA cron;
CREATE TABLE cron.job (jobid bigint, schedule text, command text, database text,
                       username text, active boolean, jobname text);
INSERT INTO cron.job VALUES (7, '0 0 1 1 *', 'SELECT lakehouse.lh_run_pipeline(''sc_p'')',
                             current_database(), current_user, true, 'lakehouse: sc_p');
SELECT schedule_state FROM lakehouse.pipeline_status WHERE pipeline = 'sc_p';
DROP SCHEMA cron CASCADE;
-- without pg_cron there is no job to remove: unscheduling clears the record
SELECT lakehouse.lh_unschedule('sc_p');
SELECT pipeline, schedule, schedule_state FROM lakehouse.pipeline_status
 WHERE pipeline = 'sc_p';
SELECT lakehouse.lh_unschedule('sc_p');
-- and a scheduled pipeline restored without pg_cron can be dropped
UPDATE lakehouse.pipelines SET schedule = '0 0 1 1 *', cron_job_id = 7 WHERE name = 'sc_p';
SELECT lakehouse.lh_drop_pipeline('sc_p');
SELECT * FROM lakehouse.lh_schedule_repair();

-- with pg_cron, in the database pg_cron runs in
\c postgres
SET client_min_messages = warning;
CREATE EXTENSION pg_cron;
CREATE EXTENSION lakehouse;
RESET client_min_messages;
CREATE VIEW sc_state AS
SELECT pipeline, schedule, regexp_replace(schedule_state, 'job [0-9]+', 'job N') AS schedule_state
  FROM lakehouse.pipeline_status;
CREATE VIEW sc_jobs AS
SELECT jobname, schedule, command, database, active
  FROM cron.job ORDER BY jobname COLLATE "C", jobid;
-- a job that is not lakehouse's (runs at 00:00 on January 1st, as below)
SELECT cron.schedule('sc_other', '0 0 1 1 *', 'SELECT 1') > 0 AS ok;
SELECT lakehouse.lh_create_pipeline('sc_p') > 0 AS ok;
SELECT lakehouse.lh_create_pipeline('sc_q') > 0 AS ok;
SELECT lakehouse.lh_schedule('sc_p', '0 0 1 1 *') > 0 AS ok;
SELECT lakehouse.lh_schedule('sc_q', '0 0 1 1 *') > 0 AS ok;
SELECT * FROM sc_state ORDER BY 1;
SELECT * FROM sc_jobs;

-- the job removed behind lakehouse's back
SELECT cron.unschedule('lakehouse: sc_p');
SELECT * FROM sc_state ORDER BY 1;
SELECT * FROM lakehouse.lh_schedule_repair();
SELECT * FROM sc_state ORDER BY 1;
SELECT * FROM sc_jobs;
SELECT (SELECT cron_job_id FROM lakehouse.pipelines WHERE name = 'sc_p')
     = (SELECT jobid FROM cron.job WHERE jobname = 'lakehouse: sc_p') AS recorded;
-- nothing missing: nothing repaired
SELECT * FROM lakehouse.lh_schedule_repair();

-- the job another database's (a dump's cron.job rows restored elsewhere):
-- lh_schedule with the unchanged schedule replaces it
UPDATE cron.job SET database = 'sc_prod' WHERE jobname = 'lakehouse: sc_p';
SELECT * FROM sc_state WHERE pipeline = 'sc_p';
SELECT lakehouse.lh_schedule('sc_p', '0 0 1 1 *') > 0 AS ok;
SELECT * FROM sc_state WHERE pipeline = 'sc_p';
SELECT * FROM sc_jobs;

-- the recorded id names another job (pg_cron of a restored copy reused
-- it): that job is not touched, the pipeline gets its own again
SELECT cron.unschedule('lakehouse: sc_q');
UPDATE lakehouse.pipelines SET cron_job_id = (SELECT jobid FROM cron.job WHERE jobname = 'sc_other')
 WHERE name = 'sc_q';
SELECT * FROM sc_state WHERE pipeline = 'sc_q';
SELECT lakehouse.lh_unschedule('sc_q');
SELECT * FROM sc_jobs;
UPDATE lakehouse.pipelines SET schedule = '0 0 1 1 *',
       cron_job_id = (SELECT jobid FROM cron.job WHERE jobname = 'sc_other')
 WHERE name = 'sc_q';
SELECT * FROM lakehouse.lh_schedule_repair();
SELECT * FROM sc_state ORDER BY 1;
SELECT * FROM sc_jobs;

-- a job made inactive, or moved to another schedule, with pg_cron's own
-- functions: shown, and left alone by the repair
SELECT cron.alter_job(jobid, active := false) FROM cron.job WHERE jobname = 'lakehouse: sc_p';
SELECT cron.alter_job(jobid, schedule := '0 1 1 1 *') FROM cron.job WHERE jobname = 'lakehouse: sc_q';
SELECT * FROM sc_state ORDER BY 1;
SELECT * FROM lakehouse.lh_schedule_repair();
SELECT lakehouse.lh_schedule('sc_q', '0 0 1 1 *') > 0 AS ok;
SELECT cron.alter_job(jobid, active := true) FROM cron.job WHERE jobname = 'lakehouse: sc_p';
SELECT * FROM sc_state ORDER BY 1;

-- a job of the same name and role in another database that is not the
-- recorded one is not lakehouse's to move
UPDATE cron.job SET database = 'sc_prod' WHERE jobname = 'lakehouse: sc_q';
UPDATE lakehouse.pipelines SET cron_job_id = NULL WHERE name = 'sc_q';
SELECT lakehouse.lh_schedule('sc_q', '0 0 1 1 *');
UPDATE cron.job SET database = current_database() WHERE jobname = 'lakehouse: sc_q';
SELECT lakehouse.lh_schedule('sc_q', '0 0 1 1 *') > 0 AS ok;

-- pg_cron shows each role only its own jobs (row security); pipeline_status
-- does not depend on who reads it
CREATE ROLE sc_reader;
GRANT USAGE ON SCHEMA lakehouse, cron TO sc_reader;
GRANT SELECT ON lakehouse.pipeline_status TO sc_reader;
GRANT EXECUTE ON FUNCTION lakehouse.lh_schedule_state(), lakehouse.lh_run_progress() TO sc_reader;
SET ROLE sc_reader;
SELECT count(*) AS jobs_visible FROM cron.job;
SELECT pipeline, schedule_state FROM lakehouse.pipeline_status ORDER BY 1;
RESET ROLE;
REVOKE USAGE ON SCHEMA lakehouse FROM sc_reader;

-- dropping a pipeline removes its job, and only its job
SELECT lakehouse.lh_drop_pipeline('sc_p');
SELECT lakehouse.lh_drop_pipeline('sc_q');
SELECT * FROM sc_jobs;

DROP VIEW sc_state, sc_jobs;
DROP EXTENSION lakehouse;
DROP EXTENSION pg_cron;
DROP SCHEMA lakehouse;
DROP ROLE sc_reader;
