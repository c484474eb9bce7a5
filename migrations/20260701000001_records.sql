-- Durable records of KYC sessions (MariaDB 10.6+). Personal fields and embeddings arrive
-- already encrypted with the session's data key and are stored as opaque blobs (`*_enc`).
-- Ids are UUIDs as BINARY(16); times are milliseconds since the Unix epoch (BIGINT).
-- `tenant_id` is NULL until tenants exist.

-- One row per delivered record: the idempotency key. A record whose (session_id, seq) is
-- already here was applied before and is skipped, in the same transaction as its rows.
CREATE TABLE record_log (
    session_id BINARY(16) NOT NULL,
    seq BIGINT UNSIGNED NOT NULL,
    kind VARCHAR(32) NOT NULL,
    tenant_id VARCHAR(64) NULL,
    at_ms BIGINT NOT NULL,
    applied_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
    PRIMARY KEY (session_id, seq)
) ENGINE=InnoDB;

CREATE TABLE sessions (
    id BINARY(16) NOT NULL PRIMARY KEY,
    seq BIGINT UNSIGNED NOT NULL,
    tenant_id VARCHAR(64) NULL,
    created_ms BIGINT NOT NULL,
    KEY sessions_by_tenant_time (tenant_id, created_ms),
    KEY sessions_by_time (created_ms)
) ENGINE=InnoDB;

CREATE TABLE consents (
    session_id BINARY(16) NOT NULL,
    seq BIGINT UNSIGNED NOT NULL,
    tenant_id VARCHAR(64) NULL,
    version VARCHAR(64) NOT NULL,
    purposes TEXT NOT NULL,
    given_ms BIGINT NOT NULL,
    PRIMARY KEY (session_id, seq)
) ENGINE=InnoDB;

CREATE TABLE documents (
    id BINARY(16) NOT NULL PRIMARY KEY,
    session_id BINARY(16) NOT NULL,
    seq BIGINT UNSIGNED NOT NULL,
    tenant_id VARCHAR(64) NULL,
    kind VARCHAR(32) NOT NULL,
    fields_enc MEDIUMBLOB NOT NULL,
    read_ms BIGINT NOT NULL,
    UNIQUE KEY documents_by_session (session_id, seq)
) ENGINE=InnoDB;

CREATE TABLE media_objects (
    id BINARY(16) NOT NULL PRIMARY KEY,
    session_id BINARY(16) NOT NULL,
    seq BIGINT UNSIGNED NOT NULL,
    tenant_id VARCHAR(64) NULL,
    kind VARCHAR(16) NOT NULL,
    storage_key VARCHAR(512) NOT NULL,
    content_type VARCHAR(128) NOT NULL,
    size_bytes BIGINT UNSIGNED NOT NULL,
    sha256 BINARY(32) NOT NULL,
    stored_ms BIGINT NOT NULL,
    UNIQUE KEY media_by_session (session_id, seq)
) ENGINE=InnoDB;

CREATE TABLE face_samples (
    id BINARY(16) NOT NULL PRIMARY KEY,
    session_id BINARY(16) NOT NULL,
    seq BIGINT UNSIGNED NOT NULL,
    idx INT UNSIGNED NOT NULL,
    media_id BINARY(16) NULL,
    source VARCHAR(16) NOT NULL,
    frame_index INT UNSIGNED NULL,
    frame_ms BIGINT NULL,
    engine VARCHAR(32) NOT NULL,
    model VARCHAR(64) NOT NULL,
    quality FLOAT NOT NULL,
    embedding_enc BLOB NOT NULL,
    UNIQUE KEY samples_by_session (session_id, seq, idx)
) ENGINE=InnoDB;

CREATE TABLE comparisons (
    id BINARY(16) NOT NULL PRIMARY KEY,
    session_id BINARY(16) NOT NULL,
    seq BIGINT UNSIGNED NOT NULL,
    tenant_id VARCHAR(64) NULL,
    engine VARCHAR(32) NOT NULL,
    model VARCHAR(64) NOT NULL,
    threshold FLOAT NOT NULL,
    best_similarity FLOAT NOT NULL,
    compared_ms BIGINT NOT NULL,
    UNIQUE KEY comparisons_by_session (session_id, seq)
) ENGINE=InnoDB;

-- The many-to-many table: every ID image sample against every video frame sample.
CREATE TABLE comparison_pairs (
    comparison_id BINARY(16) NOT NULL,
    idx INT UNSIGNED NOT NULL,
    id_sample_id BINARY(16) NOT NULL,
    frame_sample_id BINARY(16) NOT NULL,
    frame_index INT UNSIGNED NOT NULL,
    similarity FLOAT NOT NULL,
    PRIMARY KEY (comparison_id, idx),
    UNIQUE KEY pairs_by_samples (comparison_id, id_sample_id, frame_sample_id),
    KEY pairs_by_frame_sample (frame_sample_id),
    CONSTRAINT pairs_comparison FOREIGN KEY (comparison_id) REFERENCES comparisons (id)
        ON DELETE CASCADE
) ENGINE=InnoDB;

CREATE TABLE decisions (
    session_id BINARY(16) NOT NULL,
    seq BIGINT UNSIGNED NOT NULL,
    tenant_id VARCHAR(64) NULL,
    comparison_id BINARY(16) NULL,
    outcome VARCHAR(16) NOT NULL,
    reasons TEXT NOT NULL,
    decided_ms BIGINT NOT NULL,
    PRIMARY KEY (session_id, seq),
    KEY decisions_by_time (decided_ms),
    KEY decisions_by_tenant_time (tenant_id, decided_ms)
) ENGINE=InnoDB;

-- Append-only and hash-chained: `hash` = SHA-256 over `prev_hash` and the entry (computed by
-- the writer; `kyc audit verify` walks the chain).
CREATE TABLE audit_events (
    id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
    session_id BINARY(16) NOT NULL,
    seq BIGINT UNSIGNED NOT NULL,
    tenant_id VARCHAR(64) NULL,
    actor VARCHAR(128) NOT NULL,
    action VARCHAR(64) NOT NULL,
    target VARCHAR(255) NOT NULL,
    at_ms BIGINT NOT NULL,
    prev_hash BINARY(32) NOT NULL,
    hash BINARY(32) NOT NULL,
    UNIQUE KEY audit_by_session (session_id, seq),
    UNIQUE KEY audit_by_hash (hash),
    KEY audit_by_time (at_ms)
) ENGINE=InnoDB;
