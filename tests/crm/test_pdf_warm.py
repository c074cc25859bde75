"""The PDF engine is loaded by each web worker in the background as it starts (issue 58, item 11): the
first suspicious-activity report of a process took 4.8 s, 3.5 of them importing weasyprint; the next 0.4 s."""

from __future__ import annotations

import threading

import crm.lib.pdf
import deploy.gunicorn_conf as conf
import plumbing.heap


def test_a_web_worker_loads_the_pdf_engine_in_the_background_as_it_starts(monkeypatch):
    warmed = threading.Event()
    monkeypatch.setattr(plumbing.heap, "settle_after_startup", lambda: None)
    monkeypatch.setattr(crm.lib.pdf, "pdf_warm", warmed.set)
    conf.post_worker_init(object())
    assert warmed.wait(10)


def test_the_warm_up_lays_out_a_document():
    crm.lib.pdf.pdf_warm()  # loads weasyprint and lays out one line without a template or a request
