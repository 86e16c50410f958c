--
-- http: declaring HTTP sources, and every way to get it wrong.  The pages
-- themselves are fetched from a local test server in test/t/009_http.pl.
--
CREATE EXTENSION IF NOT EXISTS lakehouse;
SELECT lakehouse.lh_create_pipeline('ht') > 0 AS ok;
-- the secrets the sources name must exist (and be usable by the pipeline's owner)
SELECT lakehouse.lh_set_secret(n, 'v-' || n) FROM unnest(ARRAY['ht_key', 'sf_secret', 'k', 'p']) n;

-- a source with every option
SELECT lakehouse.lh_add_source('ht', 'ht_charges', 'http', $${
  "url": "https://api.example.com/v1/charges", "method": "GET",
  "headers": {"Stripe-Version": "2024-06-20"}, "query": {"expand": "customer"},
  "records_path": "data", "id_field": "id",
  "incremental": {"field": "created", "param": "created_gte"},
  "pagination": {"style": "cursor", "cursor_from": "last_id", "param": "starting_after",
                 "has_more_path": "has_more", "page_size_param": "limit", "page_size": 100,
                 "max_pages": 50},
  "auth": {"type": "bearer", "token_secret": "ht_key"},
  "connect_timeout_ms": 2000, "timeout_ms": 10000, "retries": 5, "retry_backoff_ms": 100,
  "max_retry_wait_ms": 5000, "max_redirects": 2, "max_response_bytes": 1048576,
  "verify_tls": true}$$) > 0 AS ok;
\d bronze.ht_charges
SELECT lakehouse.lh_add_source('ht', 'ht_sf', 'http', $${
  "url": "https://example.my.salesforce.com/services/data/v59.0/query", "query": {"q": "SELECT Id FROM Account"},
  "records_path": "records", "id_field": "Id",
  "pagination": {"style": "next_url", "next_url_path": "nextRecordsUrl"},
  "auth": {"type": "oauth2_client_credentials", "token_url": "https://login.salesforce.com/services/oauth2/token",
           "client_id": "abc", "client_secret_secret": "sf_secret", "scope": "api"}}$$) > 0 AS ok;
SELECT lakehouse.lh_add_source('ht', 'ht_pages', 'http', $${"url": "http://127.0.0.1:1/items",
  "pagination": {"style": "page", "param": "page", "start": 0, "page_size_param": "per_page", "page_size": 50},
  "auth": {"type": "api_key", "in": "query", "name": "api_key", "secret": "k"}}$$) > 0 AS ok;
SELECT lakehouse.lh_add_source('ht', 'ht_offset', 'http', $${"url": "http://127.0.0.1:1/items",
  "records_path": "items", "pagination": {"style": "offset", "param": "offset", "page_size_param": "limit", "page_size": 10},
  "auth": {"type": "basic", "username": "u", "password_secret": "p"}}$$) > 0 AS ok;
SELECT lakehouse.lh_add_source('ht', 'ht_link', 'http', $${"url": "http://127.0.0.1:1/items",
  "pagination": {"style": "link_header"}, "auth": {"type": "api_key", "in": "header", "name": "X-Api-Key", "secret": "k"}}$$) > 0 AS ok;
SELECT lakehouse.lh_add_source('ht', 'ht_post', 'http', $${"url": "http://127.0.0.1:1/search", "method": "POST",
  "body": {"q": "all"}, "pagination": {"style": "cursor", "cursor_path": "next", "param": "cursor"}}$$) > 0 AS ok;
SELECT source, pipeline, enabled, last_http_status, watermark, resume, last_error
  FROM lakehouse.http_status ORDER BY source;

-- bad options
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "ftp://example.com/x"}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "file:///etc/passwd"}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "http://x", "urll": 1}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "http://x", "method": "DELETE"}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "http://x", "body": {"a": 1}}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "http://x", "headers": "x"}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "http://x", "records_path": "a..b"}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "http://x", "incremental": {"field": "updated_at"}}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "http://x", "pagination": {"style": "scroll"}}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "http://x", "pagination": {"style": "page"}}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "http://x", "pagination": {"style": "cursor", "param": "c"}}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "http://x", "pagination": {"style": "cursor", "param": "c", "cursor_from": "last_id"}}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "http://x", "pagination": {"style": "cursor", "param": "c", "cursor_from": "first_id", "cursor_path": "x"}}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "http://x", "pagination": {"style": "next_url"}}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "http://x", "pagination": {"style": "page", "param": "p", "page_size_param": "n"}}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "http://x", "pagination": {"style": "none", "max_pages": 0}}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "http://x", "auth": {"type": "kerberos"}}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "http://x", "auth": {"type": "bearer"}}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "http://x", "auth": {"type": "api_key", "in": "cookie", "name": "k", "secret": "s"}}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "http://x", "auth": {"type": "oauth2_client_credentials", "token_url": "gopher://x", "client_id": "a", "client_secret_secret": "s"}}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "http://x", "timeout_ms": 0}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "http://x", "retries": -1}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "http://x", "max_response_bytes": 0}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "http://x", "verify_tls": "maybe"}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "http://x", "poll_interval": "0s"}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "http://x", "poll_interval": "soon"}');
SELECT count(*) AS sources FROM lakehouse.sources WHERE name = 'ht_bad';

-- a CA bundle is a server file; header injection; another role's secret
CREATE ROLE ht_user;
GRANT USAGE ON SCHEMA lakehouse TO ht_user;
GRANT USAGE, CREATE ON SCHEMA bronze TO ht_user;
GRANT EXECUTE ON FUNCTION lakehouse.lh_add_source(text, text, text, jsonb, text, boolean),
    lakehouse.lh_ingest(text),
    lakehouse.lh_create_pipeline(text, text, text[], boolean),
    lakehouse.lh_drop_pipeline(text, boolean) TO ht_user;
SET ROLE ht_user;
SELECT lakehouse.lh_create_pipeline('ht_u') > 0 AS ok;
SELECT lakehouse.lh_add_source('ht_u', 'ht_bad', 'http', '{"url": "https://x", "ca_bundle": "/etc/ssl/certs/ca-certificates.crt"}');
SELECT lakehouse.lh_add_source('ht_u', 'ht_bad', 'http', '{"url": "https://x", "auth": {"type": "bearer", "token_secret": "ht_key"}}');
SELECT lakehouse.lh_add_source('ht_u', 'ht_bad', 'http', '{"url": "https://x", "auth": {"type": "basic", "username": "u", "password_secret": "ht_key"}}');
-- a secret that does not exist yet may be named (every use checks it)
SELECT lakehouse.lh_add_source('ht_u', 'ht_later', 'http', '{"url": "https://x", "auth": {"type": "basic", "username": "u", "password_secret": "ht_later_pw"}}') > 0 AS ok;
SELECT r->>'status' AS status, r->>'error' AS error FROM lakehouse.lh_ingest('ht_later') r;
SELECT lakehouse.lh_drop_pipeline('ht_u');
RESET ROLE;
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', E'{"url": "https://x", "headers": {"X-A": "1\\r\\nX-Injected: yes"}}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "https://x", "headers": {"Bad Name": "1"}}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "https://x", "headers": {"Authorization": "Bearer abc"}}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "https://x", "headers": {"Host": "evil"}}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', E'{"url": "https://x/a\\nb"}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "https://x/a b"}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "https://x", "auth": {"type": "basic", "username": "a:b", "password_secret": "p"}}');
SELECT lakehouse.lh_add_source('ht', 'ht_bad', 'http', '{"url": "https://x", "auth": {"type": "api_key", "in": "header", "name": "X Key", "secret": "k"}}');
SELECT count(*) AS sources FROM lakehouse.sources WHERE name = 'ht_bad';
REVOKE ALL ON SCHEMA bronze FROM ht_user;
DROP OWNED BY ht_user;
DROP ROLE ht_user;

-- a secret dropped since the source was declared fails the ingest stage,
-- naming the secret only
SELECT lakehouse.lh_drop_secret('ht_key');
SELECT s->>'status' AS status, s->>'error' AS error
  FROM lakehouse.lh_ingest('ht_charges') AS s;
SELECT error_sqlstate, error_message FROM lakehouse.run_stages
 WHERE target = 'bronze.ht_charges' ORDER BY run_id DESC LIMIT 1;

-- a polled source has a worker; it can be restarted, a plain one cannot
BEGIN;
SELECT lakehouse.lh_add_source('ht', 'ht_polled', 'http',
       '{"url": "http://127.0.0.1:1/items", "retries": 0, "poll_interval": "10 min"}') > 0 AS ok;
SELECT lakehouse.lh_disable_source('ht_polled');
COMMIT;
SELECT source, worker_state FROM lakehouse.source_status WHERE source = 'ht_polled';
SELECT lakehouse.lh_restart_source('ht_pages');

-- YAML
SELECT lakehouse.lh_apply_config($$
pipeline: ht_yaml
sources:
  - name: ht_yaml_items
    kind: http
    options:
      url: http://127.0.0.1:1/items
      records_path: result.items
      pagination: {style: offset, param: offset, page_size_param: limit, page_size: 25}
$$) IS NOT NULL AS applied;
SELECT options FROM lakehouse.sources WHERE name = 'ht_yaml_items';

SELECT lakehouse.lh_drop_pipeline('ht_yaml', drop_tables => true);
SELECT lakehouse.lh_drop_pipeline('ht', drop_tables => true);
SELECT bool_and(lakehouse.lh_drop_secret(n)) AS dropped FROM unnest(ARRAY['sf_secret', 'k', 'p']) n;
