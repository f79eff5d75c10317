-- Items are vacuumed after a fixed number of dead row versions, indexes included, on PostgreSQL.
-- Claim-next reads the waiting items' index (items_claim_idx) from its head, and every item
-- claimed since the last vacuum of items is still there: PostgreSQL takes an index entry out
-- only when a vacuum does, not when the row's state changes. With autovacuum's default (vacuum
-- once a fifth of the table is dead), a million items meant some 270,000 dead versions between
-- vacuums, and a claim near the end of that cycle walked past hundreds of index pages of items
-- long claimed (docs/BENCHMARKS.md, "Claim-next and the vacuum of items"). A vacuum every 20,000
-- dead versions keeps that walk to a few dozen pages whatever the table's size.
-- `vacuum_index_cleanup = on` because PostgreSQL would otherwise skip the indexes when the dead
-- versions are on few pages (under 2 % of the table's), which is the case here.
-- SQLite removes an index entry when its row changes, and needs none of this.
alter table items set (
    autovacuum_vacuum_scale_factor = 0,
    autovacuum_vacuum_threshold = 20000,
    vacuum_index_cleanup = on
);
