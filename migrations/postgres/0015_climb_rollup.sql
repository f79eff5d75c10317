-- The escalations' climbs and flags are counted into `escalation_hours` by the sweeper's climb
-- itself, one grouped statement for each set of escalations that climbed alike, instead of a
-- trigger joining the statement's old and new rows. The climb is the only writer of `level`
-- and `flagged_at`.
drop trigger escalations_hours_update on escalations;
drop function escalation_hours_after_update();
