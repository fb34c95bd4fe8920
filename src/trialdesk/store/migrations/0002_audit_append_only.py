"""On PostgreSQL, a trigger refuses UPDATE and DELETE on the audit trail.

SQLite has no roles to keep a writer from dropping a trigger, so there the hash chain and
`trialdesk audit verify` are the protection.
"""

from collections.abc import Callable
from typing import Any

from django.db import migrations

CREATE = """
CREATE FUNCTION store_auditevent_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit trail is append-only: % of audit event % refused', TG_OP, OLD.seq;
END;
$$;
CREATE TRIGGER store_auditevent_append_only
    BEFORE UPDATE OR DELETE ON store_auditevent
    FOR EACH ROW EXECUTE FUNCTION store_auditevent_append_only();
"""

DROP = """
DROP TRIGGER store_auditevent_append_only ON store_auditevent;
DROP FUNCTION store_auditevent_append_only();
"""


def _on_postgresql(sql: str) -> Callable[[Any, Any], None]:
    def run(apps: Any, schema_editor: Any) -> None:
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql, params=None)  # no placeholders: % is plpgsql

    return run


class Migration(migrations.Migration):
    dependencies = [("store", "0001_initial")]

    operations = [migrations.RunPython(_on_postgresql(CREATE), _on_postgresql(DROP))]
