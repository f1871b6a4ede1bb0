-- A round's writes in one statement (src/store/sql/batch.ts, docs/architecture.md "Ports"):
-- each write checks its own rows, and the statement's last SELECT passes whether each wrote
-- what it must to idem_expect, which raises (SQLSTATE IDM01) when one did not. A statement
-- that raises writes nothing, so a batch lands whole or not at all. PL/pgSQL runs on
-- PostgreSQL and PGlite alike.
CREATE FUNCTION idem_expect(ok boolean) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF ok IS NOT TRUE THEN
    RAISE EXCEPTION 'a batched write found its rows changed; nothing was written' USING ERRCODE = 'IDM01';
  END IF;
  RETURN true;
END
$$;
