-- Erasures and retention purges of a session (scope: personal | media | session), kept with
-- the decision and the audit entries after the person's data is gone; and the audit chain
-- walked in sequence order (`kyc audit verify`): audit sequence numbers are 2^62 + the
-- entry's index in the chain.
CREATE TABLE erasures (
    session_id BINARY(16) NOT NULL,
    seq BIGINT UNSIGNED NOT NULL,
    tenant_id VARCHAR(64) NULL,
    scope VARCHAR(16) NOT NULL,
    erased_ms BIGINT NOT NULL,
    PRIMARY KEY (session_id, seq),
    KEY erasures_by_time (erased_ms)
) ENGINE=InnoDB;

CREATE INDEX audit_by_seq ON audit_events (seq);
