from django.db import migrations


class Migration(migrations.Migration):
    """The ticket's flag "touches a compliance matter" is named for what it says (it was
    compliance_sensitive, which read like another app's table)."""

    dependencies = [("support", "0004_ticket_queue_priority_and_sla_indexes")]

    operations = [migrations.RenameField("ticket", "compliance_sensitive", "is_compliance_matter")]
