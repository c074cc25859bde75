"""The view compliance publishes for other apps' set-based SQL (declared in compliance.selectors,
under "Published views"): every risk score, so that marketing's segments can offer the risk band to
compliance officers (the latest score of a client is its band now)."""

from django.db import migrations

VIEW = """
CREATE VIEW compliance_public_risk_scores AS
SELECT id, client_id, brand_id, band, score, computed_at
FROM compliance_riskscore;
"""

DROP = "DROP VIEW compliance_public_risk_scores;"


class Migration(migrations.Migration):
    dependencies = [("compliance", "0012_aml_provider_risk")]

    operations = [migrations.RunSQL(VIEW, DROP)]
