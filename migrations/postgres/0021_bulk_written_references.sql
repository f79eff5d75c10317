-- Decisions and escalations no longer check their item and workflow references on PostgreSQL.
-- PostgreSQL checks a reference row by row, with a query that also takes a share lock on the
-- referenced row: every decision locked its item and its workflow's one row, and the escalation
-- sweeper, which writes both tables 2,000 rows a statement, spent about a fifth of its passes
-- on those checks (docs/BENCHMARKS.md, "References not checked on the sweeper's tables"). What
-- they guarded cannot happen through Gatehouse: the item is one the same statement or
-- transaction read or updated, the workflow is that item's, and items and workflows are never
-- deleted. SQLite, whose check is an index lookup, keeps them, so the test suite, which runs
-- every HTTP test on both backends, still fails on a dangling reference.
alter table decisions drop constraint if exists decisions_item_id_fkey;
alter table decisions drop constraint if exists decisions_workflow_id_fkey;
alter table escalations drop constraint if exists escalations_item_id_fkey;
alter table escalations drop constraint if exists escalations_workflow_id_fkey;
