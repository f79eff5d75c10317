-- The index of open escalations by workflow, level and level start served only the navigation's
-- counts (pg_stat_user_indexes after the escalations benchmark's requests), which
-- escalations_waiting_idx (workflow, assignee, level) serves as well; SQLite reads neither for
-- them. Every climb rewrote it (a climb changes indexed columns, so it is never a heap-only
-- update) and every opened escalation added to it.
drop index if exists escalations_open_idx;
