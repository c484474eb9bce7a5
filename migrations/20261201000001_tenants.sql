-- The businesses that run verifications: each with one API key, stored as its SHA-256 (the
-- key itself is shown once, when made), a hint of its first characters to tell keys apart, a
-- disabled flag that refuses the key at once, and options (JSON: what the person's page may
-- see, allowed origins).
CREATE TABLE tenants (
    id VARCHAR(64) NOT NULL PRIMARY KEY,
    name VARCHAR(200) NOT NULL,
    key_sha256 CHAR(64) NOT NULL,
    key_hint VARCHAR(32) NOT NULL,
    disabled TINYINT(1) NOT NULL DEFAULT 0,
    options TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    updated_ms BIGINT NOT NULL,
    UNIQUE KEY tenants_by_name (name),
    UNIQUE KEY tenants_by_key (key_sha256)
) ENGINE=InnoDB;
