"""Storage: the database engine, the tables, the migrations and the audit chain."""
