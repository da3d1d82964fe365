"""The private PostgreSQL server the shared-SoR tests run on."""

import psycopg


def test_each_test_gets_its_own_empty_database(postgres, pg_url):
    with psycopg.connect(pg_url) as conn:
        conn.execute("CREATE TABLE probe (n integer PRIMARY KEY)")
        conn.execute("INSERT INTO probe VALUES (1)")
    other = postgres.database()
    try:
        with psycopg.connect(other) as conn:
            assert conn.execute("SELECT count(*) FROM pg_tables WHERE tablename='probe'").fetchone()[0] == 0
            assert conn.execute("SHOW listen_addresses").fetchone()[0] == "127.0.0.1"
    finally:
        postgres.drop(other)
