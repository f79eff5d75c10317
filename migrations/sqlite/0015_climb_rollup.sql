-- The escalations' climbs and flags are counted into `escalation_hours` by the sweeper's climb
-- itself, one grouped statement for each set of escalations that climbed alike, instead of a
-- trigger firing once for every row it updates. The climb is the only writer of `level` and
-- `flagged_at`.
drop trigger escalations_hours_climb;
drop trigger escalations_hours_flag;
