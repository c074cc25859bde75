"""Review of monitoring alerts (issue 36, items 5-7): the reviewer's decisions on an alert (benign
with a quiet period, coaching, escalation to compliance, restrict now), the desk's alert budget and
its calibration, and the agent performance page. A Django app of its own inside monitoring (label
"monitoring_review"), beside the alerts, scores and context that monitoring itself keeps."""
