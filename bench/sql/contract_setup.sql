-- bench/sql/contract_setup.sql: the data and the three target tables of the
-- data contract benchmark (bench/contract.sh).  :rows valid rows.
CREATE EXTENSION lakehouse;
CREATE SCHEMA bench;

CREATE TABLE bench.ct_src (
    id          bigint,
    customer    text,
    amount      numeric(12,2),
    quantity    integer,
    status      text,
    email       text,
    country     text,
    created_at  timestamptz
);
INSERT INTO bench.ct_src
SELECT g,
       'customer ' || (g % 50000),
       ((g::bigint * 7919) % 100000) / 100.0,
       1 + g % 9,
       (ARRAY['placed', 'shipped', 'delivered', 'returned'])[1 + g % 4],
       'user' || g || '@example.com',
       (ARRAY['DE', 'FR', 'NL', 'BE', 'AT'])[1 + g % 5],
       timestamptz '2024-01-01 00:00+00' + g * interval '1 second'
  FROM generate_series(1, :rows) AS g;
VACUUM ANALYZE bench.ct_src;

CREATE TABLE bench.ct_none (LIKE bench.ct_src);
CREATE TABLE bench.ct_ours (LIKE bench.ct_src);
CREATE TABLE bench.ct_plpgsql (LIKE bench.ct_src);

-- ours: a data contract of eight column rules
SELECT lakehouse.lh_attach_contract('bench.ct_ours', $$
apiVersion: v3.1.0
kind: DataContract
id: bench-orders
version: 1.0.0
status: active
schema:
  - name: ct_ours
    properties:
      - {name: id, logicalType: integer, required: true}
      - {name: customer, logicalType: string, logicalTypeOptions: {maxLength: 40}}
      - {name: amount, logicalType: number, logicalTypeOptions: {minimum: 0, maximum: 1000000}}
      - {name: quantity, logicalType: integer, logicalTypeOptions: {minimum: 1}}
      - name: status
        logicalType: string
        quality:
          - metric: invalidValues
            arguments: {validValues: [placed, shipped, delivered, returned]}
            mustBe: 0
      - {name: country, logicalType: string, logicalTypeOptions: {pattern: '^[A-Z]{2}$'}}
      - {name: created_at, logicalType: timestamp, required: true}
$$) IS NOT NULL AS attached;

-- empty: a contract that checks nothing: what any row trigger costs
CREATE TABLE bench.ct_empty (LIKE bench.ct_src);
SELECT lakehouse.lh_attach_contract('bench.ct_empty', '{"apiVersion": "v3.1.0",
  "kind": "DataContract", "id": "bench-empty", "version": "1.0.0", "status": "active",
  "schema": [{"name": "ct_empty", "properties": [{"name": "id"}]}]}') IS NOT NULL AS attached;

-- the same eight checks as a PL/pgSQL trigger, written the usual way
CREATE FUNCTION bench.ct_check() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.id IS NULL THEN
        RAISE EXCEPTION 'id is required' USING ERRCODE = 'check_violation';
    END IF;
    IF length(NEW.customer) > 40 THEN
        RAISE EXCEPTION 'customer too long' USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.amount < 0 OR NEW.amount > 1000000 THEN
        RAISE EXCEPTION 'amount out of range' USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.quantity < 1 THEN
        RAISE EXCEPTION 'quantity below 1' USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.status NOT IN ('placed', 'shipped', 'delivered', 'returned') THEN
        RAISE EXCEPTION 'invalid status' USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.country !~ '^[A-Z]{2}$' THEN
        RAISE EXCEPTION 'invalid country' USING ERRCODE = 'check_violation';
    END IF;
    IF NEW.created_at IS NULL THEN
        RAISE EXCEPTION 'created_at is required' USING ERRCODE = 'check_violation';
    END IF;
    RETURN NEW;
END
$$;
CREATE TRIGGER ct_check BEFORE INSERT OR UPDATE ON bench.ct_plpgsql
    FOR EACH ROW EXECUTE FUNCTION bench.ct_check();

CREATE TABLE bench.ct_timings (side text, rep int, warmup boolean, seconds float8);
