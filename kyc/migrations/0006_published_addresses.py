"""The view KYC publishes of clients' addresses of residence (declared in kyc.selectors, "Published
views"), with the same comparison keys kyc.selectors.clients_sharing_address uses (lower case, no
spaces, commas, dots or hyphens), so that a reader finds clients at one address in one join."""

from django.db import migrations

VIEW = r"""
CREATE VIEW kyc_public_addresses AS
SELECT client_id, country,
       regexp_replace(lower(address_line1), '[ ,.-]', '', 'g') AS line_key,
       regexp_replace(lower(postcode), '[ ,.-]', '', 'g') AS postcode_key,
       postcode
FROM kyc_kycprofile
WHERE address_line1 <> '' AND postcode <> '';
"""


class Migration(migrations.Migration):
    dependencies = [("kyc", "0005_published_views")]

    operations = [migrations.RunSQL(VIEW, "DROP VIEW kyc_public_addresses;")]
