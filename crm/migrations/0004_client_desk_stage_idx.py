"""An index for the desk manager's filtered client list (desk, stage, country).

Built CONCURRENTLY, so adding it to a large client table does not block writes.
"""

from django.contrib.postgres.operations import AddIndexConcurrently
from django.db import migrations, models


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("crm", "0003_client_assign_perm_name_index"),
    ]

    operations = [
        AddIndexConcurrently(
            model_name="client",
            index=models.Index(fields=["desk", "stage", "country"], name="client_desk_stage_idx"),
        ),
    ]
