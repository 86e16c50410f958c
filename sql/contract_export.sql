--
-- contract_export: lh_export_contract returns the ODCS v3.1 document in
-- force for a table (the attached document plus the classifications
-- recorded later), and attaching that document again changes nothing.
--
-- ODCS references (bitol-io/open-data-contract-standard):
--   schema/odcs-json-schema-v3.1.0.json (vendored unchanged in
--     test/schemas/odcs/): the top-level keys, required apiVersion, kind,
--     id, version, status (all strings); "classification" is a string of
--     SchemaBaseProperty, i.e. a key of each property;
--   docs/schema.md, "Applicable to Properties": classification "Can be
--     anything, like confidential, restricted, and public".
-- The schema validation itself is in test/t/013_contracts_odcs.pl (ajv).
--
CREATE EXTENSION IF NOT EXISTS lakehouse;
SET client_min_messages = warning;
CREATE SCHEMA IF NOT EXISTS gold;
RESET client_min_messages;
SET timezone = 'UTC';

CREATE TABLE gold.cx_customers (customer_id integer PRIMARY KEY);
CREATE TABLE gold.cx_orders (
    order_id    integer PRIMARY KEY,
    customer_id integer NOT NULL,
    email       text,
    amount      numeric(10,2),
    status      text,
    note        text
);

-- the documents of this test, as the ODCS author wrote them
CREATE TEMP TABLE cx_docs (name text PRIMARY KEY, doc jsonb NOT NULL);
INSERT INTO cx_docs VALUES ('orders', '{
  "apiVersion": "v3.1.0",
  "kind": "DataContract",
  "id": "cx-orders",
  "name": "cx_orders",
  "version": "1.0.0",
  "status": "active",
  "domain": "sales",
  "dataProduct": "orders",
  "tenant": "emea",
  "tags": ["finance", "gold"],
  "description": {"purpose": "Orders with their customer.", "usage": "Reporting."},
  "customProperties": [{"property": "steward", "value": "ann"}],
  "schema": [{
    "name": "cx_orders",
    "physicalName": "cx_orders",
    "physicalType": "table",
    "logicalType": "object",
    "businessName": "Orders",
    "description": "One row per order.",
    "properties": [
      {"name": "order_id", "logicalType": "integer", "physicalType": "integer",
       "primaryKey": true, "primaryKeyPosition": 1, "required": true,
       "examples": [1, 2]},
      {"name": "customer_id", "logicalType": "integer", "required": true,
       "relationships": [{"type": "foreignKey", "to": "cx_customers.customer_id"}],
       "tags": ["key"]},
      {"name": "email", "logicalType": "string", "classification": "Confidential",
       "logicalTypeOptions": {"format": "email", "maxLength": 200}},
      {"name": "amount", "logicalType": "number", "physicalType": "numeric(10,2)",
       "logicalTypeOptions": {"minimum": 0, "exclusiveMaximum": 10000.5},
       "description": "In EUR."},
      {"name": "status", "logicalType": "string",
       "quality": [{"metric": "invalidValues", "mustBe": 0,
                    "arguments": {"validValues": ["new", "shipped"]}},
                   {"type": "text", "description": "Set by the shop."}]}
    ],
    "quality": [{"metric": "rowCount", "mustBeGreaterThan": 0}]
  }]
}');

-- ---------------------------------------------------------------------
-- Export after attaching: the document as attached, key by key
-- ---------------------------------------------------------------------
SELECT lakehouse.lh_attach_contract('cx_orders', doc::text) IS NOT NULL AS attached
  FROM cx_docs WHERE name = 'orders';
SELECT on_violation FROM lakehouse.contracts WHERE table_name = 'cx_orders';
SELECT lakehouse.lh_export_contract('cx_orders') = doc AS export_is_document
  FROM cx_docs WHERE name = 'orders';
-- every top-level key of the standard the author gave, with its value
SELECT k AS key, e.x -> k = d.doc -> k AS same
  FROM cx_docs d, lakehouse.lh_export_contract('gold.cx_orders') AS e(x),
       jsonb_object_keys(d.doc) AS k
 WHERE d.name = 'orders' ORDER BY 1;
-- and no key the author did not give
SELECT jsonb_object_keys(lakehouse.lh_export_contract('cx_orders'))
EXCEPT SELECT jsonb_object_keys(doc) FROM cx_docs WHERE name = 'orders';
-- each property of the table's schema object, key by key
SELECT p ->> 'name' AS property, k AS key, p -> k = q -> k AS same
  FROM cx_docs d,
       jsonb_array_elements(lakehouse.lh_export_contract('cx_orders') #> '{schema,0,properties}')
         WITH ORDINALITY AS x(p, i)
  JOIN LATERAL (SELECT q FROM jsonb_array_elements(d.doc #> '{schema,0,properties}')
                       WITH ORDINALITY AS y(q, j) WHERE y.j = x.i) y ON true,
       jsonb_object_keys(q) AS k
 WHERE d.name = 'orders' ORDER BY x.i, k;
-- the required keys of ODCS v3.1 (schema "required"), as strings
SELECT k AS key, jsonb_typeof(lakehouse.lh_export_contract('cx_orders') -> k) AS type
  FROM unnest(ARRAY['version', 'apiVersion', 'kind', 'id', 'status']) AS k;

-- a YAML contract is exported as the JSON it stands for: YAML strings stay
-- strings ("1.0", the dates), plain numbers are numbers
CREATE TABLE gold.cx_daily (day date PRIMARY KEY, orders bigint NOT NULL);
SELECT lakehouse.lh_attach_contract('cx_daily', $$
apiVersion: v3.1.0
kind: DataContract
id: cx-daily
version: "1.0"
status: draft
schema:
  - name: cx_daily
    properties:
      - name: day
        logicalType: date
        primaryKey: true
        logicalTypeOptions: {minimum: "2020-01-01"}
      - name: orders
        logicalType: integer
        required: true
        logicalTypeOptions: {minimum: 1}
$$) IS NOT NULL AS attached;
SELECT lakehouse.lh_export_contract('cx_daily') =
       '{"apiVersion": "v3.1.0", "kind": "DataContract", "id": "cx-daily", "version": "1.0",
         "status": "draft",
         "schema": [{"name": "cx_daily", "properties": [
           {"name": "day", "logicalType": "date", "primaryKey": true,
            "logicalTypeOptions": {"minimum": "2020-01-01"}},
           {"name": "orders", "logicalType": "integer", "required": true,
            "logicalTypeOptions": {"minimum": 1}}]}]}'::jsonb AS yaml_export;

-- ---------------------------------------------------------------------
-- Classifications recorded later are part of the contract in force
-- ---------------------------------------------------------------------
SELECT lakehouse.lh_classify('gold.cx_orders', 'customer_id', 'pii');
-- same classification as the document's (case aside): the document's spelling stays
SELECT lakehouse.lh_classify('gold.cx_orders', 'email', 'confidential', 'partial');
-- a column the contract does not describe: not added to the contract
SELECT lakehouse.lh_classify('gold.cx_orders', 'note', 'internal');
SELECT p ->> 'name' AS property, p ->> 'classification' AS classification
  FROM jsonb_array_elements(lakehouse.lh_export_contract('cx_orders') #> '{schema,0,properties}') AS p;
-- nothing else differs from the document
SELECT lakehouse.lh_export_contract('cx_orders') #- '{schema,0,properties,1,classification}' = doc
       AS rest_is_document
  FROM cx_docs WHERE name = 'orders';
-- a later classification wins over the document's, as it does for masking
SELECT lakehouse.lh_classify('gold.cx_orders', 'email', 'restricted');
SELECT lakehouse.lh_export_contract('cx_orders') #>> '{schema,0,properties,2,classification}' AS email;
-- the export says what lakehouse.column_masking applies, column by column
SELECT p ->> 'name' AS property, lower(p ->> 'classification') AS exported, m.classification AS masking_view
  FROM jsonb_array_elements(lakehouse.lh_export_contract('cx_orders') #> '{schema,0,properties}') AS p
  LEFT JOIN lakehouse.column_masking m
         ON m.schema_name = 'gold' AND m.table_name = 'cx_orders' AND m.column_name = p ->> 'name'
 ORDER BY 1;
-- the stored document is what was attached
SELECT c.document = d.doc AS stored_is_attached
  FROM lakehouse.contracts c, cx_docs d WHERE c.table_name = 'cx_orders' AND d.name = 'orders';

-- ---------------------------------------------------------------------
-- Attaching the export again is a no-op: no write, no audit record, no
-- new trigger, the same rules returned
-- ---------------------------------------------------------------------
SELECT coalesce(max(audit_id), 0) AS audit_before FROM lakehouse.audit_log \gset
CREATE TEMP TABLE cx_before AS
SELECT c.xmin::text AS row_version, c.attached_at, c.document, c.compiled, c.on_violation,
       (SELECT array_agg(k.xmin::text ORDER BY k.ordinal) FROM lakehouse.contract_columns k
         WHERE k.schema_name = c.schema_name AND k.table_name = c.table_name) AS column_versions,
       (SELECT array_agg(t.oid ORDER BY t.tgname) FROM pg_trigger t
         WHERE t.tgrelid = 'gold.cx_orders'::regclass) AS triggers
  FROM lakehouse.contracts c WHERE c.table_name = 'cx_orders';
CREATE FUNCTION pg_temp.cx_unchanged() RETURNS TABLE (
    same_row boolean, same_attached_at boolean, same_document boolean,
    same_columns boolean, same_triggers boolean, audit_records bigint)
LANGUAGE sql AS $$
SELECT c.xmin::text = b.row_version, c.attached_at = b.attached_at, c.document = b.document,
       (SELECT array_agg(k.xmin::text ORDER BY k.ordinal) FROM lakehouse.contract_columns k
         WHERE k.schema_name = c.schema_name AND k.table_name = c.table_name) = b.column_versions,
       (SELECT array_agg(t.oid ORDER BY t.tgname) FROM pg_trigger t
         WHERE t.tgrelid = 'gold.cx_orders'::regclass) = b.triggers,
       (SELECT count(*) FROM lakehouse.audit_log a WHERE a.audit_id > current_setting('cx.audit_before')::bigint)
  FROM lakehouse.contracts c, cx_before b WHERE c.table_name = 'cx_orders'
$$;
SELECT set_config('cx.audit_before', :'audit_before', false) IS NOT NULL AS noted;

SELECT lakehouse.lh_attach_contract('cx_orders', lakehouse.lh_export_contract('cx_orders')::text)
       = compiled AS same_rules
  FROM cx_before;
SELECT * FROM pg_temp.cx_unchanged();
-- the same as pretty-printed JSON text, with its mode given, and the
-- document as first attached (its later classifications are in force anyway)
SELECT lakehouse.lh_attach_contract('gold.cx_orders',
         jsonb_pretty(lakehouse.lh_export_contract('cx_orders')), 'fail') IS NOT NULL AS attached;
SELECT lakehouse.lh_attach_contract('cx_orders', doc::text) IS NOT NULL AS attached
  FROM cx_docs WHERE name = 'orders';
SELECT * FROM pg_temp.cx_unchanged();
-- a document that differs only in a classification lh_classify overrides
-- now is a change: it is stored (what the contract says without the override)
BEGIN;
SELECT lakehouse.lh_attach_contract('cx_orders',
         jsonb_set(doc, '{schema,0,properties,2,classification}', '"public"')::text)
       IS NOT NULL AS attached
  FROM cx_docs WHERE name = 'orders';
SELECT same_row, same_document, audit_records FROM pg_temp.cx_unchanged();
SELECT lakehouse.lh_export_contract('cx_orders') #>> '{schema,0,properties,2,classification}' AS email;
ROLLBACK;

-- a classification removed with lh_classify leaves the contract in force
-- with what its document says (and puts it back)
SELECT lakehouse.lh_classify('gold.cx_orders', 'email', NULL);
SELECT lakehouse.lh_export_contract('cx_orders') #>> '{schema,0,properties,2,classification}' AS email;
SELECT lakehouse.lh_classify('gold.cx_orders', 'email', 'restricted');
SELECT coalesce(max(audit_id), 0) AS audit_before FROM lakehouse.audit_log \gset
SELECT set_config('cx.audit_before', :'audit_before', false) IS NOT NULL AS noted;

-- another mode is a change (audited once); the export attached again
-- without a mode keeps the new mode and changes nothing
SELECT lakehouse.lh_attach_contract('cx_orders', lakehouse.lh_export_contract('cx_orders')::text,
                                    on_violation => 'quarantine') IS NOT NULL AS attached;
SELECT on_violation FROM lakehouse.contracts WHERE table_name = 'cx_orders';
-- a change stores the document given: the classifications of the export
-- now belong to the document
SELECT document = lakehouse.lh_export_contract('cx_orders') AS document_is_export
  FROM lakehouse.contracts WHERE table_name = 'cx_orders';
SELECT action, object_kind, object_name FROM lakehouse.audit_log
 WHERE audit_id > :audit_before ORDER BY audit_id;
SELECT coalesce(max(audit_id), 0) AS audit_before FROM lakehouse.audit_log \gset
SELECT set_config('cx.audit_before', :'audit_before', false) IS NOT NULL AS noted;
UPDATE cx_before b SET row_version = c.xmin::text, attached_at = c.attached_at,
       document = c.document, on_violation = c.on_violation,
       column_versions = (SELECT array_agg(k.xmin::text ORDER BY k.ordinal) FROM lakehouse.contract_columns k
                           WHERE k.schema_name = c.schema_name AND k.table_name = c.table_name),
       triggers = (SELECT array_agg(t.oid ORDER BY t.tgname) FROM pg_trigger t
                    WHERE t.tgrelid = 'gold.cx_orders'::regclass)
  FROM lakehouse.contracts c WHERE c.table_name = 'cx_orders';
SELECT lakehouse.lh_attach_contract('cx_orders', lakehouse.lh_export_contract('cx_orders')::text)
       IS NOT NULL AS attached;
SELECT on_violation FROM lakehouse.contracts WHERE table_name = 'cx_orders';
SELECT * FROM pg_temp.cx_unchanged();

-- a contract that lost a trigger by hand is repaired by attaching it again
DROP TRIGGER lh_contract_flush ON gold.cx_orders;
SELECT lakehouse.lh_attach_contract('cx_orders', lakehouse.lh_export_contract('cx_orders')::text)
       IS NOT NULL AS attached;
SELECT tgname FROM pg_trigger WHERE tgrelid = 'gold.cx_orders'::regclass ORDER BY 1;

-- a new version is a change: stored, and exported with the classifications
SELECT lakehouse.lh_attach_contract('cx_orders',
         jsonb_set(lakehouse.lh_export_contract('cx_orders'), '{version}', '"1.1.0"')::text)
       IS NOT NULL AS attached;
SELECT contract_version, on_violation FROM lakehouse.contracts WHERE table_name = 'cx_orders';
SELECT lakehouse.lh_export_contract('cx_orders') ->> 'version' AS version,
       lakehouse.lh_export_contract('cx_orders') #>> '{schema,0,properties,1,classification}' AS customer_id;

-- the export is a whole contract: attached to another table it carries
-- the classifications in its document
CREATE TABLE gold.cx_orders_copy (LIKE gold.cx_orders INCLUDING ALL);
SELECT lakehouse.lh_attach_contract('cx_orders_copy', lakehouse.lh_export_contract('cx_orders')::text)
       IS NOT NULL AS attached;
SELECT column_name, classification FROM lakehouse.contract_columns
 WHERE table_name = 'cx_orders_copy' ORDER BY ordinal;
SELECT lakehouse.lh_export_contract('cx_orders_copy') = lakehouse.lh_export_contract('cx_orders')
       AS same_contract;

-- names that need quoting
CREATE SCHEMA "Cx ""Gold""";
CREATE TABLE "Cx ""Gold"""."My ""Table""" ("Order Id" integer, "e-mail" text);
SELECT lakehouse.lh_attach_contract('"Cx ""Gold"""."My ""Table"""', '{"apiVersion": "v3.1.0",
  "kind": "DataContract", "id": "q", "version": "1", "status": "active",
  "schema": [{"name": "My \"Table\"", "properties": [{"name": "Order Id"}, {"name": "e-mail"}]}]}')
  IS NOT NULL AS attached;
SELECT lakehouse.lh_classify('"Cx ""Gold"""."My ""Table"""', 'e-mail', 'pii');
SELECT lakehouse.lh_export_contract('"Cx ""Gold"""."My ""Table"""') #> '{schema,0,properties}' AS properties;
SELECT lakehouse.lh_attach_contract('"Cx ""Gold"""."My ""Table"""',
         lakehouse.lh_export_contract('"Cx ""Gold"""."My ""Table"""')::text) = compiled AS same_rules
  FROM lakehouse.contracts WHERE schema_name = 'Cx "Gold"';
SELECT action FROM lakehouse.audit_log
 WHERE object_kind = 'contract' AND object_name = format('%I.%I', 'Cx "Gold"', 'My "Table"');
DROP SCHEMA "Cx ""Gold""" CASCADE;

-- ---------------------------------------------------------------------
-- Errors
-- ---------------------------------------------------------------------
CREATE FUNCTION pg_temp.cx_err(sql text) RETURNS text LANGUAGE plpgsql AS $$
BEGIN
    EXECUTE sql;
    RETURN 'no error';
EXCEPTION WHEN OTHERS THEN
    RETURN SQLSTATE || ': ' || SQLERRM;
END
$$;
SELECT lakehouse.lh_export_contract('cx_customers');
SELECT pg_temp.cx_err($$SELECT lakehouse.lh_export_contract('cx_customers')$$);
SELECT pg_temp.cx_err($$SELECT lakehouse.lh_export_contract(NULL)$$);
SELECT pg_temp.cx_err($$SELECT lakehouse.lh_export_contract('gold.cx_nowhere')$$);
SELECT lakehouse.lh_detach_contract('cx_daily');
SELECT pg_temp.cx_err($$SELECT lakehouse.lh_export_contract('cx_daily')$$);
SELECT pg_temp.cx_err($$SELECT lakehouse.lh_attach_contract('cx_orders', '{}', 'ignore')$$);

-- ---------------------------------------------------------------------
-- Privileges: not for PUBLIC; operators and engineers, as lh_contract_diff
-- ---------------------------------------------------------------------
SET client_min_messages = warning;
SELECT lakehouse.lh_create_roles() IS NOT NULL AS roles;
RESET client_min_messages;
SELECT r AS role,
       has_function_privilege(r, 'lakehouse.lh_export_contract(text)', 'EXECUTE') AS export,
       has_function_privilege(r, 'lakehouse.lh_contract_diff(text)', 'EXECUTE') AS diff
  FROM unnest(ARRAY['public', 'lakehouse_analyst', 'lakehouse_operator',
                    'lakehouse_engineer', 'lakehouse_admin']) AS r;

DROP TABLE gold.cx_orders, gold.cx_orders_copy, gold.cx_daily, gold.cx_customers;
SELECT count(*) FROM lakehouse.contracts WHERE table_name LIKE 'cx\_%';
