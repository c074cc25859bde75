"""The view KYC publishes for other apps' set-based SQL (declared in kyc.selectors, under
"Published views"): every moment a client's verification was approved."""

from django.db import migrations

VIEWS = """
CREATE VIEW kyc_public_approvals AS
SELECT p.client_id, ch.at AS approved_at
FROM kyc_kycstatuschange ch
JOIN kyc_kycprofile p ON p.id = ch.profile_id
WHERE ch.to_status = 'approved';
"""


class Migration(migrations.Migration):
    dependencies = [("kyc", "0004_client_verified_backfill")]

    operations = [migrations.RunSQL(VIEWS, "DROP VIEW kyc_public_approvals;")]
