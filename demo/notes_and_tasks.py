"""What the demo's notes and tasks say."""

from __future__ import annotations

NOTES: dict[str, tuple[str, ...]] = {
    "lead": (
        "Called, no answer. Will try again tomorrow morning their time.",
        "Spoke briefly: interested in gold and oil, asked for a call back after work.",
        "Left a voicemail and sent the introduction email with the platform link.",
        "Wrong time zone on the lead form; the client is actually in {country}. Updated.",
        "Client asked how spreads work on indices. Explained and sent the pricing page.",
        "Busy at work, prefers WhatsApp. Sent a short message with my details.",
    ),
    "registered": (
        "Registered on the portal. Walked through the verification steps on the phone.",
        "Client unsure which ID document to upload; explained proof of address requirements.",
        "Demo account opened; will follow up after a few days of practice.",
        "Asked about leverage limits for retail clients. Explained the regulatory caps.",
    ),
    "verified": (
        "Documents approved. Discussed deposit methods: card and bank transfer.",
        "Client wants to start small, around 500, and build up. Sent the risk disclosure again.",
        "Verified. Explained the difference between the standard and raw spread accounts.",
    ),
    "funded": (
        "First deposit in. Booked a platform walkthrough for next week.",
        "Funded by bank transfer. Client wants a market outlook call on Mondays.",
        "Client asked about withdrawals; explained timing and the original-method rule.",
    ),
    "active": (
        "Trading mostly EUR/USD and gold. Happy with execution so far.",
        "Client attended the webinar on central bank week. Asked for the slides.",
        "Discussed risk per trade; client agreed to use stop losses consistently.",
        "Asked about the loyalty programme; explained the tiers.",
    ),
    "dormant": (
        "No trades for several weeks. Client busy with a new job, may return next quarter.",
        "Reactivation call: client unhappy about slippage during news, escalated to dealing.",
        "Sent the monthly market outlook; no reply yet.",
    ),
    "closed": (
        "Client asked us to stop contacting them. Marked do-not-call.",
        "Duplicate of an existing account; merged details into the older file.",
    ),
}
TASKS: dict[str, tuple[tuple[str, str], ...]] = {
    "lead": (("Call back {first}", "Second attempt; try after 5 pm local time."),
             ("Send platform demo link", ""),
             ("Qualify trading experience", "Ask about previous brokers and instruments.")),
    "registered": (("Chase KYC documents", "Proof of address still missing."),
                   ("Explain verification steps", "")),
    "verified": (("Walk through first deposit", "Card or bank transfer; explain limits."),
                 ("Follow up on deposit intent", "")),
    "funded": (("Platform walkthrough", "Order types, stop loss, take profit."),
               ("Check-in after first trades", "")),
    "active": (("Monthly account review", "Trading activity, margin use, open questions."),
               ("Invite to the market outlook webinar", "")),
    "dormant": (("Reactivation call", "Ask what stopped them trading; offer the education pack."),
                ("Send market update", "")),
}

STAFF_TASKS: dict[str, tuple[tuple[str, str], ...]] = {
    "admin": (("Turn two-factor login back on for privileged roles before go-live", "today"),
              ("Rotate the lead vendor's API key", "overdue"), ("Review the staff access list", "future")),
    "desk_manager": (("Route this morning's unassigned leads", "today"), ("Approve the agents' leave requests",
                     "overdue"), ("Weekly desk KPI review", "future")),
    "compliance": (("Work through the KYC documents queue", "today"), ("Sign off the monthly AML report",
                   "overdue"), ("Quarterly sanctions list review", "future")),
    "finance": (("Reconcile yesterday's PSP settlements", "today"), ("Approve pending withdrawals", "overdue"),
                ("Month-end close checklist", "future")),
    "ib_manager": (("Answer the commission dispute from IB-2031", "overdue"), ("Review new IB applications",
                   "today"), ("Prepare the monthly IB statements", "future")),
    "dealer": (("Check the large XAU/USD exposure", "overdue"), ("Review overnight swap rates", "today"),
               ("Weekly toxic flow review", "future")),
}
