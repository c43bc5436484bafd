//! One conformance suite for every store backend: SQLite always, PostgreSQL
//! when `P06_TEST_DATABASE_URL` is set.
