-- Trigram indexes for the admin console's free-text search over tool-call arguments.
-- pg_trgm ships with PostgreSQL (contrib, a trusted extension since 13) and with PGlite (loaded in src/db/database.ts).
CREATE EXTENSION IF NOT EXISTS pg_trgm;
