"""The database itself refuses to change or remove audit rows.

UPDATE and DELETE raise. TRUNCATE is left alone: Django's test runner empties tables with it
between transactional tests, and only a superuser-level operator can issue it in production.
"""

from django.db import migrations

FORWARD = """
CREATE OR REPLACE FUNCTION crm_auditlog_refuse_change() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'crm_auditlog is append-only: % refused on row %', TG_OP, OLD.id
        USING ERRCODE = 'insufficient_privilege';
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER crm_auditlog_no_update BEFORE UPDATE ON crm_auditlog
    FOR EACH ROW EXECUTE FUNCTION crm_auditlog_refuse_change();
CREATE TRIGGER crm_auditlog_no_delete BEFORE DELETE ON crm_auditlog
    FOR EACH ROW EXECUTE FUNCTION crm_auditlog_refuse_change();
"""

BACKWARD = """
DROP TRIGGER IF EXISTS crm_auditlog_no_update ON crm_auditlog;
DROP TRIGGER IF EXISTS crm_auditlog_no_delete ON crm_auditlog;
DROP FUNCTION IF EXISTS crm_auditlog_refuse_change();
"""


class Migration(migrations.Migration):
    dependencies = [("crm", "0001_initial")]
    operations = [migrations.RunSQL(FORWARD, BACKWARD)]
