-- bench/sql/scd2_ours.sql: lh_scd2_merge of snapshot 2 into bench.scd2_ours.
SELECT lakehouse.lh_scd2_merge('bench.scd2_ours', 'bench.scd2_snap2', '{id}',
       '{"updated_at": "updated_at", "hard_deletes": "invalidate",
         "as_of": "2024-03-02 00:00:00+00"}') AS counts \gset
