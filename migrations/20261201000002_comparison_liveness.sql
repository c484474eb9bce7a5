-- The liveness verdict a comparison's decision took in (JSON: the mode, each check's finding,
-- score and reason, each asked action with its time). NULL when liveness was off.
ALTER TABLE comparisons
    ADD COLUMN liveness LONGTEXT NULL;
