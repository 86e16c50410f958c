--
-- gold data contracts (ODCS v3.1): attach, row rules, table rules, modes,
-- invalidation, DDL guard, diff, invalid documents, hostile names, YAML
--
CREATE EXTENSION IF NOT EXISTS lakehouse;
SET client_min_messages = warning;
CREATE SCHEMA IF NOT EXISTS gold;
CREATE SCHEMA IF NOT EXISTS silver;
RESET client_min_messages;
CREATE TABLE gold.ct_orders (
    order_id    integer,
    customer    text,
    amount      numeric(10,2),
    status      text,
    email       text,
    code        varchar(12),
    ordered_at  timestamptz,
    ship_date   date
);

-- a contract in YAML, one rule of each kind; returns the compiled rules
SELECT jsonb_pretty(lakehouse.lh_attach_contract('ct_orders', $$
apiVersion: v3.1.0
kind: DataContract
id: ct-orders
name: ct_orders
version: 1.0.0
status: active
schema:
  - name: ct_orders
    physicalType: table
    properties:
      - name: order_id
        logicalType: integer
        physicalType: integer
        primaryKey: true
        primaryKeyPosition: 1
      - name: customer
        logicalType: string
        required: true
        logicalTypeOptions: {minLength: 2, maxLength: 10}
      - name: amount
        logicalType: number
        logicalTypeOptions: {minimum: 0, exclusiveMaximum: 10000.5}
      - name: status
        logicalType: string
        quality:
          - metric: invalidValues
            arguments: {validValues: [new, shipped, returned]}
            mustBe: 0
      - name: email
        logicalType: string
        classification: confidential
        logicalTypeOptions: {format: email}
      - name: code
        logicalType: string
        logicalTypeOptions: {pattern: '^[A-Z]{2}-[0-9]+$'}
      - name: ordered_at
        logicalType: timestamp
        logicalTypeOptions: {minimum: '2020-01-01T00:00:00Z'}
      - name: ship_date
        logicalType: date
        logicalTypeOptions: {exclusiveMinimum: '2019-12-31', maximum: '2030-12-31'}
$$));
SELECT schema_name, table_name, contract_id, contract_name, contract_version, on_violation
  FROM lakehouse.contracts;
SELECT ordinal, column_name, logical_type, required, primary_key_position, classification
  FROM lakehouse.contract_columns ORDER BY ordinal;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'gold.ct_orders'::regclass ORDER BY tgname;

-- a row that keeps every rule
INSERT INTO gold.ct_orders VALUES
 (1, 'ann', 10.50, 'new', 'ann@example.com', 'AB-1', '2024-01-01 10:00+00', '2024-01-02');
-- each rule broken once: the write fails and names column, value and rule
INSERT INTO gold.ct_orders VALUES (NULL, 'ann', 1, 'new', NULL, NULL, NULL, NULL);
INSERT INTO gold.ct_orders VALUES (2, NULL, 1, 'new', NULL, NULL, NULL, NULL);
INSERT INTO gold.ct_orders VALUES (2, 'a', 1, 'new', NULL, NULL, NULL, NULL);
INSERT INTO gold.ct_orders VALUES (2, 'abcdefghijk', 1, 'new', NULL, NULL, NULL, NULL);
INSERT INTO gold.ct_orders VALUES (2, 'bob', -0.01, 'new', NULL, NULL, NULL, NULL);
INSERT INTO gold.ct_orders VALUES (2, 'bob', 10000.50, 'new', NULL, NULL, NULL, NULL);
INSERT INTO gold.ct_orders VALUES (2, 'bob', 1, 'lost', NULL, NULL, NULL, NULL);
INSERT INTO gold.ct_orders VALUES (2, 'bob', 1, 'new', 'bob.example.com', NULL, NULL, NULL);
INSERT INTO gold.ct_orders VALUES (2, 'bob', 1, 'new', NULL, 'ab-1', NULL, NULL);
INSERT INTO gold.ct_orders VALUES (2, 'bob', 1, 'new', NULL, NULL, '2019-06-01 00:00+00', NULL);
INSERT INTO gold.ct_orders VALUES (2, 'bob', 1, 'new', NULL, NULL, NULL, '2019-12-31');
INSERT INTO gold.ct_orders VALUES (2, 'bob', 1, 'new', NULL, NULL, NULL, '2031-01-01');
-- updates are checked too; long values are cut in the message
UPDATE gold.ct_orders SET status = 'cancelled' WHERE order_id = 1;
UPDATE gold.ct_orders SET email = repeat('x', 150) WHERE order_id = 1;
-- boundaries that pass
INSERT INTO gold.ct_orders VALUES
 (3, 'bo', 0, 'returned', NULL, 'ZZ-0', '2020-01-01 00:00+00', '2030-12-31'),
 (4, 'abcdefghij', 10000.49, NULL, 'a.b@c.d', NULL, NULL, '2020-01-01');
SELECT order_id, customer, amount, status FROM gold.ct_orders ORDER BY order_id;

-- diff: what the table lacks (no primary key, nullable required columns)
SELECT * FROM lakehouse.lh_contract_diff('ct_orders');
ALTER TABLE gold.ct_orders ADD PRIMARY KEY (order_id);
ALTER TABLE gold.ct_orders ALTER COLUMN customer SET NOT NULL;
-- now they agree
SELECT * FROM lakehouse.lh_contract_diff('gold.ct_orders');

-- invalidation: a stricter contract applies to the next statement of the
-- same session
INSERT INTO gold.ct_orders VALUES (5, 'eve', 500, 'new', NULL, NULL, NULL, NULL);
SELECT (lakehouse.lh_attach_contract('ct_orders', '{"apiVersion": "v3.1.0", "kind": "DataContract",
  "id": "ct-orders", "name": "ct_orders", "version": "1.1.0", "status": "active",
  "schema": [{"name": "ct_orders", "properties": [
     {"name": "order_id", "logicalType": "integer", "primaryKey": true},
     {"name": "amount", "logicalType": "number", "logicalTypeOptions": {"maximum": 100}}]}]}')
  ->'columns') AS columns;
INSERT INTO gold.ct_orders VALUES (6, 'eve', 500, 'new', NULL, NULL, NULL, NULL);
INSERT INTO gold.ct_orders VALUES (6, 'eve', 50, 'anything', NULL, NULL, NULL, NULL);
BEGIN;
SELECT lakehouse.lh_detach_contract('ct_orders');
INSERT INTO gold.ct_orders VALUES (7, 'eve', 500, 'new', NULL, NULL, NULL, NULL);
ROLLBACK;
INSERT INTO gold.ct_orders VALUES (7, 'eve', 500, 'new', NULL, NULL, NULL, NULL);

-- the DDL guard: dropping, renaming or retyping a contract column is refused
ALTER TABLE gold.ct_orders DROP COLUMN amount;
ALTER TABLE gold.ct_orders RENAME COLUMN amount TO total;
ALTER TABLE gold.ct_orders ALTER COLUMN amount TYPE text;
ALTER TABLE gold.ct_orders RENAME TO ct_orders2;
-- compatible changes and changes to other columns pass
ALTER TABLE gold.ct_orders ALTER COLUMN amount TYPE numeric(12,2);
ALTER TABLE gold.ct_orders DROP COLUMN email;
ALTER TABLE gold.ct_orders ADD COLUMN note text;
SELECT * FROM lakehouse.lh_contract_diff('ct_orders') WHERE issue <> 'extra column';

-- quarantine mode: the broken row is diverted with its reason, the rest lands
SELECT lakehouse.lh_attach_contract('ct_orders', '{"apiVersion": "v3.1.0", "kind": "DataContract",
  "id": "ct-orders", "version": "1.2.0", "status": "active",
  "schema": [{"name": "ct_orders", "properties": [
     {"name": "order_id", "logicalType": "integer", "primaryKey": true},
     {"name": "amount", "logicalType": "number", "logicalTypeOptions": {"maximum": 100}}]}]}',
  on_violation => 'quarantine') IS NOT NULL AS attached;
INSERT INTO gold.ct_orders (order_id, customer, amount) VALUES (8, 'q', 1), (9, 'q', 101), (10, 'q', NULL), (NULL, 'q', 5);
SELECT order_id FROM gold.ct_orders WHERE order_id >= 8 ORDER BY 1;
SELECT target_table, bronze_table, column_name, value, rule, reason, payload->>'order_id' AS payload_id
  FROM lakehouse.quarantine WHERE target_table = 'gold.ct_orders' ORDER BY quarantine_id;
-- a small buffer is written whenever it fills; nothing is lost or doubled
SET lakehouse.max_quarantine_buffer = 2;
INSERT INTO gold.ct_orders (order_id, customer, amount)
SELECT g, 'b', CASE WHEN g % 2 = 0 THEN 500 ELSE 1 END FROM generate_series(20, 26) AS g;
RESET lakehouse.max_quarantine_buffer;
SELECT (SELECT count(*) FROM gold.ct_orders WHERE order_id BETWEEN 20 AND 26) AS landed,
       (SELECT count(*) FROM lakehouse.quarantine WHERE target_table = 'gold.ct_orders'
           AND (payload->>'order_id')::int BETWEEN 20 AND 26) AS quarantined,
       (SELECT count(DISTINCT payload->>'order_id') FROM lakehouse.quarantine
         WHERE target_table = 'gold.ct_orders') AS distinct_rows;
-- a rolled-back statement leaves no quarantine rows
BEGIN;
INSERT INTO gold.ct_orders (order_id, customer, amount) VALUES (11, 'q', 500);
ROLLBACK;
SELECT count(*) FROM lakehouse.quarantine WHERE target_table = 'gold.ct_orders';
DELETE FROM lakehouse.quarantine WHERE target_table = 'gold.ct_orders';

-- a user who cannot read the lakehouse catalog: the contract applies to
-- their writes (compiled afresh for them), their rows are quarantined, and
-- their DDL on other tables goes through the guard untouched
CREATE ROLE regress_lh_contract_writer;
GRANT USAGE, CREATE ON SCHEMA gold TO regress_lh_contract_writer;
GRANT INSERT ON gold.ct_orders TO regress_lh_contract_writer;
ALTER TABLE gold.ct_orders SET (fillfactor = 100);
SET ROLE regress_lh_contract_writer;
INSERT INTO gold.ct_orders (order_id, customer, amount) VALUES (30, 'w', 1), (31, 'w', 999);
SELECT count(*) FROM lakehouse.quarantine;
CREATE TABLE gold.ct_writer (a int);
ALTER TABLE gold.ct_writer ADD COLUMN b text;
DROP TABLE gold.ct_writer;
RESET ROLE;
SELECT order_id FROM gold.ct_orders WHERE order_id IN (30, 31);
SELECT column_name, value, rule FROM lakehouse.quarantine WHERE target_table = 'gold.ct_orders';
DELETE FROM lakehouse.quarantine WHERE target_table = 'gold.ct_orders';
REVOKE ALL ON gold.ct_orders FROM regress_lh_contract_writer;
REVOKE ALL ON SCHEMA gold FROM regress_lh_contract_writer;
DROP ROLE regress_lh_contract_writer;

-- invalid documents: each error names the path of the problem
SELECT lakehouse.lh_attach_contract('ct_orders', '{"kind": "DataContract", "id": "x", "version": "1", "status": "active"}');
SELECT lakehouse.lh_attach_contract('ct_orders', '{"apiVersion": "v2.2.2", "kind": "DataContract", "id": "x", "version": "1", "status": "active"}');
SELECT lakehouse.lh_attach_contract('ct_orders', '{"apiVersion": "v3.1.0", "kind": "Contract", "id": "x", "version": "1", "status": "active"}');
SELECT lakehouse.lh_attach_contract('ct_orders', '{"apiVersion": "v3.1.0", "kind": "DataContract", "id": "x", "version": "1", "status": "active", "owner": "me"}');
SELECT lakehouse.lh_attach_contract('ct_orders', '{"apiVersion": "v3.1.0", "kind": "DataContract", "id": "x", "version": 1, "status": "active"}');
SELECT lakehouse.lh_attach_contract('ct_orders', '{"apiVersion": "v3.1.0", "kind": "DataContract", "id": "x", "version": "1", "status": "active"}');
SELECT lakehouse.lh_attach_contract('ct_orders', '{"apiVersion": "v3.1.0", "kind": "DataContract", "id": "x", "version": "1", "status": "active",
  "schema": [{"name": "ct_orders", "properties": [{"name": "amount", "logicalType": "decimal"}]}]}');
SELECT lakehouse.lh_attach_contract('ct_orders', '{"apiVersion": "v3.1.0", "kind": "DataContract", "id": "x", "version": "1", "status": "active",
  "schema": [{"name": "ct_orders", "properties": [{"name": "amount", "required": "yes"}]}]}');
SELECT lakehouse.lh_attach_contract('ct_orders', '{"apiVersion": "v3.1.0", "kind": "DataContract", "id": "x", "version": "1", "status": "active",
  "schema": [{"name": "ct_orders", "properties": [{"name": "amount", "logicalType": "number", "logicalTypeOptions": {"minLength": 1}}]}]}');
SELECT lakehouse.lh_attach_contract('ct_orders', '{"apiVersion": "v3.1.0", "kind": "DataContract", "id": "x", "version": "1", "status": "active",
  "schema": [{"name": "ct_orders", "properties": [{"name": "status", "quality": [{"type": "sql", "query": "SELECT 1", "mustBe": 1}]}]}]}');
SELECT lakehouse.lh_attach_contract('ct_orders', '{"apiVersion": "v3.1.0", "kind": "DataContract", "id": "x", "version": "1", "status": "active",
  "schema": [{"name": "other", "properties": [{"name": "a"}]}, {"name": "more", "properties": [{"name": "a"}]}]}');
SELECT lakehouse.lh_attach_contract('ct_orders', 'apiVersion: v3.1.0
kind: DataContract
  id: [broken');
SELECT lakehouse.lh_attach_contract('ct_orders', '{"apiVersion": "v3.1.0", "kind": ');
SELECT lakehouse.lh_attach_contract('ct_orders', '[1, 2]');
-- valid ODCS that does not fit the table
SELECT lakehouse.lh_attach_contract('ct_orders', '{"apiVersion": "v3.1.0", "kind": "DataContract", "id": "x", "version": "1", "status": "active",
  "schema": [{"name": "ct_orders", "properties": [{"name": "nope", "logicalType": "string"}]}]}');
SELECT lakehouse.lh_attach_contract('ct_orders', '{"apiVersion": "v3.1.0", "kind": "DataContract", "id": "x", "version": "1", "status": "active",
  "schema": [{"name": "ct_orders", "properties": [{"name": "customer", "logicalType": "integer"}]}]}');
SELECT lakehouse.lh_attach_contract('ct_orders', '{"apiVersion": "v3.1.0", "kind": "DataContract", "id": "x", "version": "1", "status": "active",
  "schema": [{"name": "ct_orders", "properties": [{"name": "code", "physicalType": "varchar(20)"}]}]}');
SELECT lakehouse.lh_attach_contract('ct_orders', '{"apiVersion": "v3.1.0", "kind": "DataContract", "id": "x", "version": "1", "status": "active",
  "schema": [{"name": "ct_orders", "properties": [{"name": "code", "logicalType": "string", "logicalTypeOptions": {"pattern": "([a-z"}}]}]}');
SELECT lakehouse.lh_attach_contract('ct_orders', '{"apiVersion": "v3.1.0", "kind": "DataContract", "id": "x", "version": "1", "status": "active",
  "schema": [{"name": "ct_orders", "properties": [{"name": "order_id", "logicalType": "integer", "logicalTypeOptions": {"minimum": 0.5}}]}]}');
SELECT lakehouse.lh_attach_contract('ct_orders', '{"apiVersion": "v3.1.0", "kind": "DataContract", "id": "x", "version": "1", "status": "active",
  "schema": [{"name": "ct_orders", "properties": [{"name": "order_id", "relationships": [{"to": "nowhere.id"}]}]}]}');
SELECT lakehouse.lh_attach_contract('ct_orders', '{}', 'ignore');
SELECT lakehouse.lh_attach_contract('gold.no_such_table', '{}');
SELECT lakehouse.lh_detach_contract('gold.no_such_table');
SELECT lakehouse.lh_detach_contract('gold.no_such_table', missing_ok => true);
-- the contract in force is unchanged by the failed attempts
SELECT contract_version, on_violation FROM lakehouse.contracts WHERE table_name = 'ct_orders';

-- dropping the table forgets its contract
DROP TABLE gold.ct_orders;
SELECT count(*) FROM lakehouse.contracts WHERE table_name = 'ct_orders';

-- hostile identifiers: quotes, spaces, mixed case
CREATE SCHEMA "Ct ""Gold""";
CREATE TABLE "Ct ""Gold"""."My ""Table""" ("Id" int, "the ""value""" text);
SELECT lakehouse.lh_attach_contract('"Ct ""Gold"""."My ""Table"""', $$
apiVersion: v3.1.0
kind: DataContract
id: hostile
version: "1"
status: draft
schema:
  - name: My "Table"
    properties:
      - {name: Id, logicalType: integer, required: true}
      - {name: the "value", logicalType: string, logicalTypeOptions: {maxLength: 3}}
$$) IS NOT NULL AS attached;
INSERT INTO "Ct ""Gold"""."My ""Table""" VALUES (1, 'abc');
INSERT INTO "Ct ""Gold"""."My ""Table""" VALUES (2, 'abcd');
ALTER TABLE "Ct ""Gold"""."My ""Table""" DROP COLUMN "the ""value""";
SELECT * FROM lakehouse.lh_contract_diff('"Ct ""Gold"""."My ""Table"""');
SELECT lakehouse.lh_detach_contract('"Ct ""Gold"""."My ""Table"""');
INSERT INTO "Ct ""Gold"""."My ""Table""" VALUES (2, 'abcd');
DROP SCHEMA "Ct ""Gold""" CASCADE;

-- a pipeline: the contract comes with the gold table in YAML
CREATE SCHEMA ct_src;
CREATE TABLE ct_src.customers (id int PRIMARY KEY, name text);
INSERT INTO ct_src.customers VALUES (1, 'ann'), (2, 'bob');
CREATE TABLE ct_src.sales (id int, customer_id int, amount numeric, channel text, updated_at timestamptz);
INSERT INTO ct_src.sales VALUES
 (1, 1, 10, 'web', '2024-01-01'), (2, 2, -3, 'web', '2024-01-02'),
 (3, 1, 7, 'fax', '2024-01-03'), (4, 2, 5, 'shop', '2024-01-04');
CREATE TEMP TABLE ct_config AS SELECT $$
pipeline: ct_pipe
sources:
  - name: ct_sales
    kind: table
    options: {table: ct_src.sales, watermark: updated_at}
silver:
  - table: silver.ct_sales
    source: ct_sales
    keys: [id]
    order_by: updated_at
    columns:
      - {name: id, type: int}
      - {name: customer_id, type: int}
      - {name: amount, type: numeric}
      - {name: channel, type: text}
      - {name: updated_at, type: timestamptz}
gold:
  - table: gold.ct_sales
    sql: SELECT id, customer_id, amount, channel FROM silver.ct_sales
    on_violation: quarantine
    contract:
      apiVersion: v3.1.0
      kind: DataContract
      id: ct-sales
      version: 1.0.0
      status: active
      schema:
        - name: ct_sales
          properties:
            - name: id
              logicalType: integer
              primaryKey: true
            - name: customer_id
              logicalType: integer
              relationships:
                - to: customers.id
            - name: amount
              logicalType: number
              logicalTypeOptions: {minimum: 0}
            - name: channel
              logicalType: string
              quality:
                - metric: invalidValues
                  arguments: {validValues: [web, shop]}
                  mustBe: 0
          quality:
            - metric: rowCount
              mustBeBetween: [1, 1000]
$$::text AS yaml;
SELECT lakehouse.lh_apply_config(yaml) FROM ct_config;
-- the relationship's target lives in silver (looked up after the table's schema)
CREATE TABLE silver.customers AS SELECT * FROM ct_src.customers;
SELECT jsonb_pretty(lakehouse.lh_apply_config(yaml)) FROM ct_config;
-- applying it again changes nothing
SELECT lakehouse.lh_apply_config(yaml) FROM ct_config;
SELECT on_violation, compiled->'rowCount' AS row_count, compiled->'relationships' AS relationships
  FROM lakehouse.contracts WHERE table_name = 'ct_sales';
-- quarantine: two rows diverted, counts reconcile, violations recorded per rule
SELECT x->>'stage' AS stage, x->>'status' AS status, x->>'rows_read' AS read,
       x->>'rows_written' AS written, x->>'rows_quarantined' AS quarantined,
       x->>'rows_skipped' AS skipped
  FROM lakehouse.lh_run_pipeline('ct_pipe') AS s, jsonb_array_elements(s->'stages') AS x;
SELECT id FROM gold.ct_sales ORDER BY id;
SELECT column_name, value, rule, reason FROM lakehouse.quarantine
 WHERE target_table = 'gold.ct_sales' ORDER BY column_name;
SELECT target_table, contract_name, rule, column_name, violations, sample, action
  FROM lakehouse.contract_violations ORDER BY rule;

-- table rules: a customer that does not exist fails the stage in any mode
INSERT INTO ct_src.sales VALUES (5, 9, 1, 'web', '2024-01-05');
SELECT s->>'status' AS status, s->>'failed_stage' AS failed_stage, s->>'error' AS error
  FROM lakehouse.lh_run_pipeline('ct_pipe') AS s;
SELECT rule, column_name, violations, sample, action FROM lakehouse.contract_violations
 WHERE run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'ct_pipe')
 ORDER BY rule;
SELECT count(*) FROM gold.ct_sales;
DELETE FROM ct_src.sales WHERE id = 5;
UPDATE ct_src.sales SET updated_at = '2024-02-01' WHERE id = 4;

-- fail mode: the first broken row fails the stage; the run records why
SELECT lakehouse.lh_attach_contract('gold.ct_sales',
  (SELECT document::text FROM lakehouse.contracts WHERE table_name = 'ct_sales'), 'fail') IS NOT NULL AS attached;
SELECT s->>'status' AS status, s->>'failed_stage' AS failed_stage, s->>'error' AS error
  FROM lakehouse.lh_run_pipeline('ct_pipe', full_refresh => true) AS s;
SELECT error_detail FROM lakehouse.run_stages
 WHERE run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'ct_pipe')
   AND status = 'failed';
SELECT stage, status, error_sqlstate FROM lakehouse.run_stage_details
 WHERE run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'ct_pipe')
 ORDER BY stage_no;
SELECT rule, column_name, violations, sample, action FROM lakehouse.contract_violations
 WHERE run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'ct_pipe')
 ORDER BY rule;

-- a primary key broken by the transform fails the stage too
SELECT lakehouse.lh_define_gold('ct_pipe', 'gold.ct_sales',
       'SELECT 1 AS id, customer_id, amount, channel FROM silver.ct_sales WHERE amount >= 0 AND channel <> ''fax''',
       replace => true) > 0 AS ok;
SELECT s->>'status' AS status, s->>'error' AS error
  FROM lakehouse.lh_run_pipeline('ct_pipe', full_refresh => true) AS s;
SELECT error_message, error_detail, error_hint FROM lakehouse.run_stages
 WHERE run_id = (SELECT max(run_id) FROM lakehouse.runs WHERE pipeline_name = 'ct_pipe')
   AND status = 'failed';

-- a relative contract path needs lh_apply_config_file
SELECT lakehouse.lh_apply_config($$
pipeline: ct_pipe2
gold:
  - table: gold.ct_other
    sql: SELECT 1 AS id
    contract: contracts/other.yaml
$$);
SELECT lakehouse.lh_apply_config($$
pipeline: ct_pipe2
gold:
  - table: gold.ct_other
    sql: SELECT 1 AS id
    on_violation: quarantine
$$);

-- clean up
SELECT lakehouse.lh_drop_pipeline('ct_pipe', drop_tables => true);
SELECT count(*) AS contracts_left FROM lakehouse.contracts;
DELETE FROM lakehouse.quarantine WHERE target_table = 'gold.ct_sales';
DELETE FROM lakehouse.contract_violations;
DROP TABLE silver.customers;
DROP SCHEMA ct_src CASCADE;
