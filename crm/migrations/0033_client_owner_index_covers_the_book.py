"""An agent's book is read from the owner's index alone: the index orders by (owner, newest first,
id) like the list, and carries the brand, which the scope's brand condition checks. The capped count
and the first page of an agent of 10,000 clients no longer fetch each client's table page."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("crm", "0032_public_clients_desk")]

    operations = [
        migrations.RemoveIndex(model_name="client", name="client_owner_recent_idx"),
        migrations.AddIndex(
            model_name="client",
            index=models.Index(fields=["owner", "-created_at", "-id"], include=["brand"],
                               name="client_owner_recent_idx"),
        ),
    ]
