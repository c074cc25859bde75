"""An example appropriateness questionnaire (English and Arabic): the demo brands' version 1
(management command kyc_questionnaire_seed), the starting point of a brand's first draft, and the
tests' fixture. Brands adapt it to their regulator's expectations before publishing their own.

Highest score: 37. Bands: 0–14 not appropriate (1:10), 15–24 appropriate with a warning (1:30),
25–37 appropriate (no limit beyond the brand's caps). Saying one cannot afford to lose the money is
a knock-out.
"""

from __future__ import annotations

import copy
from typing import Any


def _t(en: str, ar: str) -> dict[str, str]:
    return {"en": en, "ar": ar}


def _o(code: str, en: str, ar: str, score: int, *, knockout: bool = False) -> dict[str, Any]:
    option: dict[str, Any] = {"code": code, "text": _t(en, ar), "score": score}
    if knockout:
        option["knockout"] = True
    return option


def _q(code: str, en: str, ar: str, options: list[dict[str, Any]], *, kind: str = "single") -> dict[str, Any]:
    return {"code": code, "text": _t(en, ar), "kind": kind, "required": True, "options": options}


_DONT_KNOW = ("I do not know", "لا أعرف")

_CONTENT: dict[str, Any] = {
    "languages": ["en", "ar"],
    "sections": [
        {"code": "experience", "title": _t("Trading experience", "الخبرة في التداول"), "questions": [
            _q("cfd_experience", "How long have you been trading CFDs or forex?",
               "منذ متى تتداول عقود الفروقات أو العملات الأجنبية؟", [
                   _o("none", "I have never traded them", "لم أتداولها من قبل", 0),
                   _o("under_1y", "Less than a year", "أقل من سنة", 2),
                   _o("1_3y", "One to three years", "من سنة إلى ثلاث سنوات", 4),
                   _o("over_3y", "More than three years", "أكثر من ثلاث سنوات", 6),
               ]),
            _q("trade_frequency", "How often did you trade leveraged products in the last 12 months?",
               "كم مرة تداولت منتجات بالرافعة المالية خلال الأشهر الاثني عشر الماضية؟", [
                   _o("never", "Never", "لم أتداول", 0),
                   _o("rarely", "Up to 10 trades in the year", "حتى 10 صفقات في السنة", 1),
                   _o("monthly", "A few trades every month", "بضع صفقات كل شهر", 2),
                   _o("weekly", "Every week", "كل أسبوع", 3),
               ]),
            _q("other_products", "Which of these have you traded before? (choose all that apply)",
               "أيّ مما يلي سبق لك تداوله؟ (اختر كل ما ينطبق)", [
                   _o("shares", "Shares", "الأسهم", 1),
                   _o("options", "Options", "عقود الخيارات", 2),
                   _o("futures", "Futures", "العقود الآجلة", 2),
                   _o("crypto", "Crypto-assets", "الأصول المشفرة", 1),
                   _o("nothing", "None of these", "لا شيء مما سبق", 0),
               ], kind="multiple"),
        ]},
        {"code": "knowledge", "title": _t("Knowledge of leveraged trading", "المعرفة بالتداول بالرافعة المالية"),
         "questions": [
            _q("leverage", "With leverage of 1:100, the price moves 1% against your position. About how much of "
                           "the margin you put up do you lose?",
               "برافعة مالية 1:100، تحرك السعر بنسبة 1% عكس مركزك. ما مقدار ما تخسره تقريبًا من الهامش الذي وضعته؟", [
                   _o("one_percent", "About 1%", "حوالي 1%", 0),
                   _o("ten_percent", "About 10%", "حوالي 10%", 0),
                   _o("all", "About all of it", "تقريبًا كامل الهامش", 4),
                   _o("dont_know", *_DONT_KNOW, 0),
               ]),
            _q("margin_call", "What is a margin call?", "ما هو نداء الهامش؟", [
                _o("warning", "A warning that my equity is close to the margin my positions need, so I should add "
                              "funds or reduce positions",
                   "تنبيه بأن رصيدي الصافي اقترب من الهامش الذي تحتاجه مراكزي، فعليّ إيداع أموال أو تقليص المراكز", 3),
                _o("bonus", "An offer of extra trading credit", "عرض برصيد تداول إضافي", 0),
                _o("fee", "A monthly fee for keeping positions open", "رسوم شهرية لإبقاء المراكز مفتوحة", 0),
                _o("dont_know", *_DONT_KNOW, 0),
            ]),
            _q("stop_out", "What happens when your account reaches the stop-out level?",
               "ماذا يحدث عندما يصل حسابك إلى مستوى الإغلاق الإجباري (Stop-out)؟", [
                   _o("closed_automatically", "My positions are closed automatically, starting with the biggest "
                                              "loss", "تُغلق مراكزي تلقائيًا بدءًا بالمركز الأكبر خسارة", 3),
                   _o("account_closed", "My account is closed for good", "يُغلق حسابي نهائيًا", 0),
                   _o("nothing", "Nothing: my positions stay open until I close them",
                      "لا شيء: تبقى مراكزي مفتوحة حتى أغلقها بنفسي", 0),
                   _o("dont_know", *_DONT_KNOW, 0),
               ]),
            _q("education", "Which best describes your education or work?", "ما الذي يصف تعليمك أو عملك على أفضل وجه؟", [
                _o("finance_work", "I work or have worked in finance", "أعمل أو عملت في القطاع المالي", 3),
                _o("finance_degree", "I have a degree or qualification in finance or economics",
                   "لدي شهادة أو مؤهل في المالية أو الاقتصاد", 2),
                _o("other", "Neither", "لا هذا ولا ذاك", 0),
            ]),
        ]},
        {"code": "financial_situation", "title": _t("Financial situation", "الوضع المالي"), "questions": [
            _q("annual_income", "What is your yearly income before tax (USD)?",
               "ما دخلك السنوي قبل الضرائب (بالدولار الأمريكي)؟", [
                   _o("under_15k", "Under 15,000", "أقل من 15,000", 0),
                   _o("15k_50k", "15,000 to 50,000", "من 15,000 إلى 50,000", 1),
                   _o("50k_100k", "50,000 to 100,000", "من 50,000 إلى 100,000", 2),
                   _o("over_100k", "Over 100,000", "أكثر من 100,000", 3),
               ]),
            _q("savings", "How much do you have in savings and investments (USD)?",
               "كم لديك من المدخرات والاستثمارات (بالدولار الأمريكي)؟", [
                   _o("under_5k", "Under 5,000", "أقل من 5,000", 0),
                   _o("5k_25k", "5,000 to 25,000", "من 5,000 إلى 25,000", 1),
                   _o("25k_100k", "25,000 to 100,000", "من 25,000 إلى 100,000", 2),
                   _o("over_100k", "Over 100,000", "أكثر من 100,000", 3),
               ]),
            _q("loss_affordability", "Could you afford to lose all the money you plan to deposit?",
               "هل يمكنك تحمّل خسارة كامل المبلغ الذي تنوي إيداعه؟", [
                   _o("yes", "Yes, without changing how I live", "نعم، دون أن يتغير نمط حياتي", 2),
                   _o("partly", "Part of it", "جزءًا منه", 1),
                   _o("no", "No, I cannot afford to lose this money", "لا، لا يمكنني تحمّل خسارة هذا المال", 0,
                      knockout=True),
               ]),
            _q("source_of_funds", "Where does the money you will trade with come from?",
               "من أين تأتي الأموال التي ستتداول بها؟", [
                   _o("salary", "Salary or pension", "الراتب أو المعاش التقاعدي", 1),
                   _o("savings", "Savings", "المدخرات", 1),
                   _o("business", "Business income", "دخل من عمل تجاري", 1),
                   _o("inheritance", "Inheritance or gift", "ميراث أو هبة", 1),
                   _o("borrowed", "A loan or borrowed money", "قرض أو أموال مقترضة", 0),
               ]),
        ]},
    ],
    "bands": [
        {"level": "not_appropriate", "min_score": 0, "max_score": 14, "max_leverage": 10,
         "warnings": ["not_appropriate", "high_risk"]},
        {"level": "appropriate_with_warning", "min_score": 15, "max_score": 24, "max_leverage": 30,
         "warnings": ["limited_experience", "high_risk"]},
        {"level": "appropriate", "min_score": 25, "max_score": 37, "max_leverage": None, "warnings": ["high_risk"]},
    ],
    "warnings": {
        "high_risk": _t(
            "Trading with leverage can lose you money quickly: a small price move can wipe out your deposit. "
            "Trade only with money you can afford to lose.",
            "قد يؤدي التداول بالرافعة المالية إلى خسارة أموالك بسرعة: فحركة سعر صغيرة قد تمحو إيداعك. "
            "لا تتداول إلا بأموال يمكنك تحمّل خسارتها."),
        "limited_experience": _t(
            "Your answers show limited experience or knowledge of leveraged products, so your leverage is limited. "
            "Please read our guide to margin and stop-out before you trade.",
            "تُظهر إجاباتك خبرة أو معرفة محدودة بالمنتجات ذات الرافعة المالية، لذا فإن رافعتك المالية محدودة. "
            "يُرجى قراءة دليلنا عن الهامش والإغلاق الإجباري قبل التداول."),
        "not_appropriate": _t(
            "Based on your answers, trading leveraged products does not appear to be appropriate for you. If you "
            "continue, you do so at your own risk and with low leverage only.",
            "بناءً على إجاباتك، لا يبدو أن تداول المنتجات ذات الرافعة المالية مناسب لك. إذا تابعت، فإنك تفعل ذلك "
            "على مسؤوليتك الخاصة وبرافعة مالية منخفضة فقط."),
    },
}

# Answers that reach each level (tests and demos): 27, 19 and 3 points.
ANSWERS_APPROPRIATE = {
    "cfd_experience": "over_3y", "trade_frequency": "weekly", "other_products": ["shares", "options"],
    "leverage": "all", "margin_call": "warning", "stop_out": "closed_automatically", "education": "other",
    "annual_income": "15k_50k", "savings": "5k_25k", "loss_affordability": "partly", "source_of_funds": "salary",
}
ANSWERS_WITH_WARNING = {
    **ANSWERS_APPROPRIATE, "cfd_experience": "under_1y", "trade_frequency": "rarely", "other_products": ["shares"],
    "stop_out": "dont_know",
}
ANSWERS_NOT_APPROPRIATE = {
    "cfd_experience": "none", "trade_frequency": "never", "other_products": ["nothing"], "leverage": "dont_know",
    "margin_call": "bonus", "stop_out": "dont_know", "education": "other", "annual_income": "15k_50k",
    "savings": "5k_25k", "loss_affordability": "partly", "source_of_funds": "salary",
}


def demo_content() -> dict[str, Any]:
    """A fresh copy of the example content."""
    return copy.deepcopy(_CONTENT)
