"""The view KYC publishes of clients' questionnaire answers (declared in kyc.selectors, "Published
views"): the latest response of each client (the one that counts, as questionnaire_latest_response
picks it), one row per chosen option, so that compliance's AML rules compare deposits with what the
client declared (income, savings, source of funds) in one join."""

from django.db import migrations

VIEW = r"""
CREATE VIEW kyc_public_questionnaire_answers AS
SELECT r.client_id, a.question, o.option, r.submitted_at
FROM (SELECT DISTINCT ON (client_id) client_id, answers, submitted_at
      FROM kyc_questionnaireresponse
      ORDER BY client_id, submitted_at DESC, id DESC) r
CROSS JOIN LATERAL jsonb_each(r.answers) a(question, options)
CROSS JOIN LATERAL jsonb_array_elements_text(
    CASE jsonb_typeof(a.options) WHEN 'array' THEN a.options ELSE jsonb_build_array(a.options) END) o(option);
"""


class Migration(migrations.Migration):
    dependencies = [("kyc", "0006_published_addresses")]

    operations = [migrations.RunSQL(VIEW, "DROP VIEW kyc_public_questionnaire_answers;")]
