-- The verdict a comparison's decision rests on, beside its pairs: the score (median of the
-- best kept frames' similarities), the consistency across kept frames, and how many frames
-- were sampled and kept. NULL for a comparison that failed before any score.
ALTER TABLE comparisons
    ADD COLUMN score FLOAT NULL,
    ADD COLUMN consistency FLOAT NULL,
    ADD COLUMN frames_sampled INT UNSIGNED NULL,
    ADD COLUMN frames_kept INT UNSIGNED NULL;
